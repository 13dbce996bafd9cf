// Command go-verify checks a fixture written by `cargo run --example write_fixture` with the
// reference Go implementation of the formats, golang.org/x/mod/sumdb/{note,tlog}: the signed
// checkpoints (Ed25519 log key and a cosignature/v1 witness key), the tlog-proof receipt, the
// add-checkpoint consistency proof, and every C2SP tile and entry bundle, recomputing the tree
// from the tiles alone. It exits non-zero on any failure.
//
// Usage: go-verify <fixture directory>
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var passed, failed int

func check(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	passed++
	fmt.Printf("ok   %s\n", name)
}

// mustFail records a negative check: err must be non-nil.
func mustFail(name string, err error) {
	if err == nil {
		check(name, errors.New("tampered input was accepted"))
		return
	}
	check(name, nil)
}

var dir string

func read(path string) []byte {
	data, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		fmt.Printf("FAIL read %s: %v\n", path, err)
		os.Exit(1)
	}
	return data
}

// cosigV1 is a note.Verifier for c2sp.org/tlog-cosignature v1 (type 0x04) keys, which x/mod
// does not implement: key hash SHA-256(name || "\n" || 0x04 || key)[:4], signature
// timestamp(8, big-endian) || Ed25519 over "cosignature/v1\ntime <T>\n" || note text.
type cosigV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigV1) Name() string    { return v.name }
func (v *cosigV1) KeyHash() uint32 { return v.hash }
func (v *cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > 1<<63-1 {
		return false
	}
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", ts)), msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func keyHash(name string, typ byte, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{typ})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

func newCosigVerifier(vkey string) (*cosigV1, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed witness vkey")
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, errors.New("malformed witness key hash")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, errors.New("witness key is not a 0x04 Ed25519 key")
	}
	if keyHash(parts[0], 0x04, raw[1:]) != uint32(hash) {
		return nil, errors.New("witness key hash does not match")
	}
	return &cosigV1{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(raw[1:])}, nil
}

// parseCheckpoint reads the C2SP checkpoint body (tlog.ParseTree only knows sumdb's header).
func parseCheckpoint(text, origin string) (tlog.Tree, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 {
		return tlog.Tree{}, errors.New("malformed checkpoint")
	}
	if lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("origin %q, want %q", lines[0], origin)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return tlog.Tree{}, fmt.Errorf("bad size %q", lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, err
	}
	return tlog.Tree{N: n, Hash: h}, nil
}

// c2spPath is the tlog-tiles path of a hash tile, written independently of the Rust code.
func c2spPath(t tlog.Tile) string {
	n := t.N
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	p := fmt.Sprintf("tile/%d/%s", t.L, s)
	if t.W != 1<<uint(t.H) {
		p += fmt.Sprintf(".p/%d", t.W)
	}
	return p
}

func bundlePath(n int64, w int) string {
	p := strings.Replace(c2spPath(tlog.Tile{H: 8, L: 0, N: n, W: w}), "tile/0/", "tile/entries/", 1)
	return p
}

// tileReader serves C2SP tiles from the fixture; a missing partial tile falls back to the
// full tile, truncated. corrupt, if set, flips one byte of that path.
type tileReader struct{ corrupt string }

func (r tileReader) Height() int                     { return 8 }
func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := c2spPath(t)
		data, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil && t.W != 256 {
			full := t
			full.W = 256
			path = c2spPath(full)
			data, err = os.ReadFile(filepath.Join(dir, path))
			if err == nil && len(data) == 256*tlog.HashSize {
				data = data[:t.W*tlog.HashSize]
			}
		}
		if err != nil {
			return nil, err
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(data), t.W*tlog.HashSize)
		}
		if path == r.corrupt {
			data = append([]byte(nil), data...)
			data[0] ^= 1
		}
		out[i] = data
	}
	return out, nil
}

// c2spTiles lists the tiles tlog-tiles publishes for a tree of size n: every full tile and,
// per level, the one right-edge partial tile. (x/mod's NewTiles lists every partial width,
// which sumdb serves but C2SP logs do not.)
func c2spTiles(n int64) []tlog.Tile {
	var tiles []tlog.Tile
	for level := 0; n>>(8*uint(level)) > 0; level++ {
		count := n >> (8 * uint(level))
		for i := int64(0); i < count>>8; i++ {
			tiles = append(tiles, tlog.Tile{H: 8, L: level, N: i, W: 256})
		}
		if w := int(count & 255); w > 0 {
			tiles = append(tiles, tlog.Tile{H: 8, L: level, N: count >> 8, W: w})
		}
	}
	return tiles
}

func merkle(data []byte) tlog.Hash {
	if len(data) == tlog.HashSize {
		var h tlog.Hash
		copy(h[:], data)
		return h
	}
	return tlog.NodeHash(merkle(data[:len(data)/2]), merkle(data[len(data)/2:]))
}

// authenticateTiles checks every published tile of tree against the tree root explicitly:
// each full tile must hash to its entry one level up, each partial tile must equal the hashes
// the root-authenticated reader returns. This does not rely on x/mod 0.7.0's TileHashReader to
// authenticate full tiles: when a tree's subtree count is at least the number of tiles it
// fetches, its parent check loop (starting at len(stx)) is skipped, so a corrupted full tile
// would be accepted.
func authenticateTiles(tree tlog.Tree, r tileReader) error {
	thr := tlog.TileHashReader(tree, r)
	for _, tile := range c2spTiles(tree.N) {
		data, err := r.ReadTiles([]tlog.Tile{tile})
		if err != nil {
			return err
		}
		if tile.W == 256 {
			parent, err := thr.ReadHashes([]int64{tlog.StoredHashIndex(8*(tile.L+1), tile.N)})
			if err != nil {
				return err
			}
			if merkle(data[0]) != parent[0] {
				return fmt.Errorf("%s does not match its parent tile", c2spPath(tile))
			}
			continue
		}
		indexes := make([]int64, tile.W)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(8*tile.L, tile.N*256+int64(i))
		}
		hashes, err := thr.ReadHashes(indexes)
		if err != nil {
			return err
		}
		for i, h := range hashes {
			if !bytes.Equal(h[:], data[0][i*tlog.HashSize:(i+1)*tlog.HashSize]) {
				return fmt.Errorf("%s differs from the authenticated tree", c2spPath(tile))
			}
		}
	}
	return nil
}

func equalHashes(a, b []tlog.Hash) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d hashes, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Errorf("hash %d differs", i)
		}
	}
	return nil
}

func parseHashLines(lines []string) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for _, line := range lines {
		h, err := tlog.ParseHash(line)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Println("usage: go-verify <fixture directory>")
		os.Exit(2)
	}
	dir = os.Args[1]

	logV, err := note.NewVerifier(strings.TrimSpace(string(read("log.vkey"))))
	check("log vkey parses with x/mod note.NewVerifier", err)
	witV, err := newCosigVerifier(strings.TrimSpace(string(read("witness.vkey"))))
	check("witness vkey (type 0x04) parses", err)
	if err != nil || logV == nil {
		os.Exit(1)
	}
	both := note.VerifierList(logV, witV)
	origin := logV.Name()

	open := func(name, file string, msg []byte) (tlog.Tree, string) {
		n, err := note.Open(msg, both)
		if err == nil && len(n.Sigs) != 2 {
			err = fmt.Errorf("%d verified signatures, want log + witness", len(n.Sigs))
		}
		check(name+": log signature and witness cosignature verify", err)
		if err != nil {
			return tlog.Tree{}, ""
		}
		tree, err := parseCheckpoint(n.Text, origin)
		check(name+": checkpoint body parses", err)
		return tree, n.Text
	}
	tree, _ := open("checkpoint", "checkpoint", read("checkpoint"))
	oldTree, _ := open("checkpoint.old", "checkpoint.old", read("checkpoint.old"))

	_, err = note.Open(read("checkpoint"), note.VerifierList(logV))
	check("log key alone verifies (witness line ignored)", err)
	edited := bytes.Replace(read("checkpoint"), []byte(fmt.Sprintf("\n%d\n", tree.N)), []byte(fmt.Sprintf("\n%d\n", tree.N+1)), 1)
	_, err = note.Open(edited, both)
	mustFail("checkpoint with edited size is rejected", err)

	// tlog-proof receipt.
	receipt := string(read("inclusion.tlog-proof"))
	entry := read("inclusion.entry")
	func() {
		head, cp, ok := strings.Cut(receipt, "\n\n")
		lines := strings.Split(head, "\n")
		if !ok || len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "index ") {
			check("receipt parses", errors.New("malformed tlog-proof"))
			return
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "index "), 10, 64)
		if err != nil {
			check("receipt index", err)
			return
		}
		proof, err := parseHashLines(lines[2:])
		check("receipt proof lines parse", err)
		if string(cp) != string(read("checkpoint")) {
			check("receipt carries the checkpoint", errors.New("checkpoint differs"))
		}
		rtree, _ := open("receipt checkpoint", "receipt", []byte(cp))
		check("receipt inclusion proof (tlog.CheckRecord)", tlog.CheckRecord(proof, rtree.N, rtree.Hash, index, tlog.RecordHash(entry)))
		mustFail("receipt with forged entry is rejected", tlog.CheckRecord(proof, rtree.N, rtree.Hash, index, tlog.RecordHash(append(entry, 'x'))))

		// The same proof recomputed from the tiles alone.
		thr := tlog.TileHashReader(tree, tileReader{})
		p2, err := tlog.ProveRecord(tree.N, index, thr)
		if err == nil {
			err = equalHashes(p2, proof)
		}
		check("inclusion proof recomputed from tiles matches", err)
		err = authenticateTiles(tree, tileReader{corrupt: "tile/0/000"})
		mustFail("corrupted tile/0/000 is detected", err)
		_, err = tlog.TreeHash(tree.N, tlog.TileHashReader(tree, tileReader{corrupt: "tile/1/000.p/11"}))
		mustFail("corrupted edge tile/1/000.p/11 is detected", err)
	}()

	// add-checkpoint consistency proof.
	func() {
		body := string(read("consistency.add-checkpoint"))
		head, cp, ok := strings.Cut(body, "\n\n")
		lines := strings.Split(head, "\n")
		if !ok || !strings.HasPrefix(lines[0], "old ") {
			check("add-checkpoint body parses", errors.New("malformed body"))
			return
		}
		oldN, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
		if err == nil && oldN != oldTree.N {
			err = fmt.Errorf("old size %d, want %d", oldN, oldTree.N)
		}
		check("add-checkpoint old size matches checkpoint.old", err)
		proof, err := parseHashLines(lines[1:])
		check("add-checkpoint proof lines parse", err)
		n, err := note.Open([]byte(cp), note.VerifierList(logV))
		check("add-checkpoint checkpoint verifies", err)
		if err != nil {
			return
		}
		newTree, err := parseCheckpoint(n.Text, origin)
		check("add-checkpoint checkpoint parses", err)
		check("consistency proof (tlog.CheckTree)", tlog.CheckTree(proof, newTree.N, newTree.Hash, oldTree.N, oldTree.Hash))
		mustFail("consistency with a forged old root is rejected", tlog.CheckTree(proof, newTree.N, newTree.Hash, oldTree.N, tlog.RecordHash([]byte("forged"))))
		p2, err := tlog.ProveTree(tree.N, oldTree.N, tlog.TileHashReader(tree, tileReader{}))
		if err == nil {
			err = equalHashes(p2, proof)
		}
		check("consistency proof recomputed from tiles matches", err)
	}()

	// Tiles: tree hashes from tiles alone, every tile's bytes, every bundle's entries.
	for _, t := range []tlog.Tree{tree, oldTree} {
		thr := tlog.TileHashReader(t, tileReader{})
		h, err := tlog.TreeHash(t.N, thr)
		if err == nil && h != t.Hash {
			err = errors.New("root differs")
		}
		check(fmt.Sprintf("tree hash at %d recomputed from tiles", t.N), err)
		err = authenticateTiles(t, tileReader{})
		check(fmt.Sprintf("all %d tiles at size %d are authentic", len(c2spTiles(t.N)), t.N), err)
	}
	mustFail("corrupted old partial tile/0/004.p/210 is detected", authenticateTiles(oldTree, tileReader{corrupt: "tile/0/004.p/210"}))

	func() {
		thr := tlog.TileHashReader(tree, tileReader{})
		indexes := make([]int64, tree.N)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, int64(i))
		}
		leaves, err := thr.ReadHashes(indexes)
		if err != nil {
			check("leaf hashes from tiles", err)
			return
		}
		count := int64(0)
		for n := int64(0); n*256 < tree.N; n++ {
			w := int(tree.N - n*256)
			if w > 256 {
				w = 256
			}
			data := read(bundlePath(n, w))
			for i := 0; i < w; i++ {
				if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
					check("entry bundles", fmt.Errorf("%s truncated", bundlePath(n, w)))
					return
				}
				l := int(binary.BigEndian.Uint16(data))
				if tlog.RecordHash(data[2:2+l]) != leaves[n*256+int64(i)] {
					check("entry bundles", fmt.Errorf("entry %d does not match its leaf hash", n*256+int64(i)))
					return
				}
				data = data[2+l:]
				count++
			}
			if len(data) != 0 {
				check("entry bundles", fmt.Errorf("%s has trailing bytes", bundlePath(n, w)))
				return
			}
		}
		var err2 error
		if count != tree.N {
			err2 = fmt.Errorf("%d entries, want %d", count, tree.N)
		}
		check(fmt.Sprintf("all %d entries in bundles match the tree's leaf hashes", count), err2)
	}()

	fmt.Printf("go-verify: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
