//! Tile paths, the tile layout for a size, bundles, and reading the tree back from tiles.

use std::collections::BTreeMap;

use portcullis_translog::tile::{
    BundleId, TileError, TileId, TilePath, decode_bundle, encode_bundle, format_tile_index, tiles_for_growth,
    tiles_for_size,
};
use portcullis_translog::tree::{
    TreeError, TreeHead, append_entries, prove_consistency, prove_inclusion, stored_hash_count, tree_hash,
};
use portcullis_translog::verify::TileHashReader;

use crate::common::{MemLog, entry};

#[track_caller]
fn check_path(path: &TilePath, expect: &str) {
    assert_eq!(path.path(), expect);
    assert_eq!(TilePath::parse(expect).as_ref(), Ok(path), "parse {expect}");
}

#[test]
fn tile_path_vectors() {
    let hashes = |level, index, width| TilePath::Hashes(TileId::new(level, index, width).unwrap());
    let entries = |index, width| TilePath::Entries(BundleId::new(index, width).unwrap());
    let cases = [
        (hashes(0, 0, 256), "tile/0/000"),
        (hashes(0, 1_234_067, 256), "tile/0/x001/x234/067"),
        (hashes(0, 273, 112), "tile/0/273.p/112"),
        (hashes(1, 1, 17), "tile/1/001.p/17"),
        (hashes(2, 0, 1), "tile/2/000.p/1"),
        (hashes(0, 1000, 256), "tile/0/x001/000"),
        (hashes(3, 999, 255), "tile/3/999.p/255"),
        (hashes(63, 5, 256), "tile/63/005"),
        (hashes(0, u64::MAX, 256), "tile/0/x018/x446/x744/x073/x709/x551/615"),
        (entries(1_234_067, 256), "tile/entries/x001/x234/067"),
        (entries(7, 5), "tile/entries/007.p/5"),
        (entries(0, 256), "tile/entries/000"),
    ];
    for (path, expect) in &cases {
        check_path(path, expect);
    }
    assert_eq!(format_tile_index(1_234_067), "x001/x234/067");
    assert_eq!(format_tile_index(67), "067");
}

#[test]
fn bad_tile_paths_are_rejected() {
    let bad = [
        "",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/x000/001",
        "tile/0/001/002",
        "tile/0/x01/002",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "tile/8/0/000",
        "tile/entries/1",
        "tile/entries/000.p/300",
        "tile/data/000",
        "/tile/0/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
    ];
    for path in bad {
        assert_eq!(TilePath::parse(path), Err(TileError::BadPath(path.to_owned())), "{path:?}");
    }
    assert_eq!(TileId::new(64, 0, 256), Err(TileError::LevelTooHigh(64)));
    assert_eq!(TileId::new(0, 0, 0), Err(TileError::BadWidth(0)));
    assert_eq!(TileId::new(0, 0, 257), Err(TileError::BadWidth(257)));
}

#[test]
fn spec_layout_for_70000() {
    let tiles = tiles_for_size(70_000);
    let paths: Vec<String> = tiles.iter().map(TileId::path).collect();
    assert_eq!(paths.len(), 277);
    assert_eq!(paths.iter().filter(|p| p.starts_with("tile/0/")).count(), 274);
    for expect in ["tile/0/000", "tile/0/272", "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"] {
        assert!(paths.iter().any(|p| p == expect), "missing {expect}");
    }
    assert!(!paths.iter().any(|p| p == "tile/0/273"));
    // Table of (old, new, expected new tiles).
    let growth: &[(u64, u64, &[&str])] = &[
        (0, 0, &[]),
        (0, 1, &["tile/0/000.p/1"]),
        (0, 256, &["tile/0/000", "tile/1/000.p/1"]),
        (300, 310, &["tile/0/001.p/54"]),
        (255, 257, &["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]),
        (256, 256, &[]),
        (65535, 65536, &["tile/0/255", "tile/1/000", "tile/2/000.p/1"]),
    ];
    for (old, new, expect) in growth {
        let paths: Vec<String> = tiles_for_growth(*old, *new).iter().map(TileId::path).collect();
        assert_eq!(&paths, expect, "{old} -> {new}");
    }
}

#[test]
fn bundles_round_trip_and_limits() {
    let entries = vec![b"".to_vec(), b"a".to_vec(), vec![0xff; 65_535]];
    let bundle = encode_bundle(&entries).unwrap();
    assert_eq!(&bundle[..5], &[0, 0, 0, 1, b'a']);
    let decoded = decode_bundle(&bundle).unwrap();
    assert_eq!(decoded, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());

    assert_eq!(encode_bundle(&[vec![0; 65_536]]), Err(TileError::EntryTooLarge { position: 0, len: 65_536 }));
    assert_eq!(decode_bundle(&[0]), Err(TileError::TruncatedBundle(0)));
    assert_eq!(decode_bundle(&[0, 2, 1]), Err(TileError::TruncatedBundle(0)));
    assert_eq!(decode_bundle(&[0, 0, 0, 3, 1]), Err(TileError::TruncatedBundle(2)));
    assert_eq!(encode_bundle(&vec![b"x"; 257]), Err(TileError::TooManyEntries(257)));

    let empty: Vec<portcullis_translog::Hash> = Vec::new();
    let too_big = [vec![1u8; 10], vec![2u8; 65_536]];
    assert!(matches!(append_entries(0, &too_big, &empty), Err(TreeError::EntryTooLarge { position: 1, len: 65_536 })));
}

#[test]
fn tree_is_recomputed_from_tiles_alone() {
    let sizes = [1u64, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 70_000];
    let log = MemLog::with_entries((0..70_000).map(entry));
    for size in sizes {
        let prefix = MemLog {
            hashes: log.hashes[..stored_hash_count(size) as usize].to_vec(),
            entries: log.entries[..size as usize].to_vec(),
        };
        let tiles = prefix.tiles();
        let head = TreeHead { size, root: prefix.root() };
        let reader = TileHashReader::new(head, &tiles);
        assert_eq!(tree_hash(size, &reader).unwrap(), head.root, "root at {size}");
        for leaf_idx in [0, size / 3, size - 1] {
            assert_eq!(
                prove_inclusion(size, leaf_idx, &reader).unwrap(),
                prove_inclusion(size, leaf_idx, &prefix.hashes).unwrap(),
                "inclusion {leaf_idx} at {size}"
            );
        }
        for old in [1, size / 2, size - 1, size] {
            assert_eq!(
                prove_consistency(size, old, &reader).unwrap(),
                prove_consistency(size, old, &prefix.hashes).unwrap(),
                "consistency {old} -> {size}"
            );
        }
    }
}

#[test]
fn missing_partial_tile_falls_back_to_full_tile() {
    let log = MemLog::with_entries((0..300).map(entry));
    let old_head = TreeHead { size: 300, root: log.root() };
    let mut grown = log.clone();
    grown.append(&(300..600).map(entry).collect::<Vec<_>>());
    let mut tiles: BTreeMap<String, Vec<u8>> = grown.tiles();
    // Only full tiles and the newest partials remain; the size-300 partial is gone.
    assert!(!tiles.contains_key("tile/0/001.p/44"));
    tiles.insert("tile/1/000.p/1".into(), grown.tiles()["tile/1/000.p/2"][..32].to_vec());
    let reader = TileHashReader::new(old_head, &tiles);
    assert_eq!(tree_hash(300, &reader).unwrap(), old_head.root);
    assert_eq!(prove_inclusion(300, 299, &reader).unwrap(), prove_inclusion(300, 299, &log.hashes).unwrap());
}
