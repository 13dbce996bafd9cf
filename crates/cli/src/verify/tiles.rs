//! Every tile and every entry bundle of a checkpointed tree, checked against the root.
//!
//! The translog library authenticates tiles lazily: a [`TileHashReader`] checks the right-edge
//! tiles against the root, then each full tile it needs against the hash its parent holds.
//! Asking it for every leaf hash therefore touches, and authenticates, every tile of the tree
//! (each full tile is some leaf's ancestor, each partial tile is on the right edge), and hands
//! back the leaf hashes each entry bundle must reproduce.
//!
//! One `read_verified` call per leaf, or `fetch_entry` per leaf, would re-read the edge and the
//! tile chain for every entry; one call for the whole tree would hold every leaf hash and tile
//! in memory at once. Chunks of [`CHUNK_LEAVES`] leaves sit between the two.

use anyhow::Context as _;
use portcullis_translog::Checkpoint;
use portcullis_translog::hash::{Hash, leaf_hash};
use portcullis_translog::tile::tiles_for_size;
use portcullis_translog::tile::{BundleId, FULL_TILE_WIDTH, decode_bundle, tile_for_stored_index, tile_in_tree};
use portcullis_translog::tree::{stored_hash_index, tree_hash_indexes};
use portcullis_translog::verify::{TileHashReader, TileSource, VerifyError};

/// Leaves checked per pass: 256 full bundles. Each pass re-authenticates the right edge (a few
/// tiles) and holds at most 2 MiB of leaf hashes plus the pass's tiles, whatever the log size.
const CHUNK_LEAVES: u64 = 256 * 256;

/// What [`verify_tree`] checked.
pub struct TreeCounts {
    /// Tiles of the tree, all authenticated.
    pub tiles: u64,
    /// Entries, each matching its leaf hash.
    pub entries: u64,
    /// Entry bundles read.
    pub bundles: u64,
}

/// Authenticates every tile of `checkpoint`'s tree and checks every entry bundle against the
/// level-0 tiles.
///
/// # Errors
///
/// Names the tile, bundle or entry that failed.
pub fn verify_tree(checkpoint: &Checkpoint, source: &(impl TileSource + ?Sized)) -> anyhow::Result<TreeCounts> {
    let size = checkpoint.size();
    if size == 0 && checkpoint.root() != Hash::empty_tree() {
        anyhow::bail!("tiles: the checkpoint has size 0 but not the empty tree's root");
    }
    let reader = TileHashReader::new(checkpoint.tree_head(), source);
    let mut bundles = 0_u64;
    let mut start = 0_u64;
    while start < size {
        let end = start.saturating_add(CHUNK_LEAVES).min(size);
        let indexes: Vec<u64> = (start..end).map(|leaf_idx| stored_hash_index(0, leaf_idx)).collect();
        let leaf_hashes = reader.read_verified(&indexes).map_err(|error| tile_error(error, size))?;
        let mut first_leaf = start;
        while first_leaf < end {
            let bundle = BundleId::for_leaf(first_leaf, size)
                .with_context(|| format!("entry {}: not in a tree of size {size}", first_leaf.saturating_add(1)))?;
            let offset = usize::try_from(first_leaf - start).context("chunk offset overflows")?;
            let expected = leaf_hashes.get(offset..).unwrap_or_default();
            check_bundle(source, bundle, expected)?;
            bundles = bundles.saturating_add(1);
            first_leaf = first_leaf.saturating_add(u64::from(bundle.width()));
        }
        start = end;
    }
    let tiles = u64::try_from(tiles_for_size(size).len()).unwrap_or(u64::MAX);
    Ok(TreeCounts { tiles, entries: size, bundles })
}

/// Turns a tile-reading failure into a message that names the tile. Only a root mismatch
/// comes without a path (the library cannot tell which edge tile lied), so it lists the
/// right-edge tiles of the tree.
pub fn tile_error(error: VerifyError, size: u64) -> anyhow::Error {
    match error {
        VerifyError::TilesRootMismatch(size) => {
            let edge = edge_tiles(size);
            let noun = if edge.len() == 1 { "tile" } else { "tiles" };
            anyhow::anyhow!(
                "{noun} {}: the right edge does not reproduce the checkpoint root at size {size}",
                edge.join(", ")
            )
        }
        other => anyhow::Error::new(other).context(format!("tiles at size {size}")),
    }
}

/// Checks that the entries of `bundle` hash to `leaf_hashes` (which may run past the bundle).
fn check_bundle(source: &(impl TileSource + ?Sized), bundle: BundleId, leaf_hashes: &[Hash]) -> anyhow::Result<()> {
    let mut path = bundle.path();
    let mut data = fetch(source, &path)?;
    if data.is_none() && !bundle.is_full() {
        // Logs may delete a partial bundle once the full one exists; its first entries are the same.
        path = bundle.to_full().path();
        data = fetch(source, &path)?;
    }
    let data = data.ok_or_else(|| anyhow::anyhow!("entry bundle `{}` is missing", bundle.path()))?;
    let entries = decode_bundle(&data).with_context(|| format!("entry bundle `{path}` is malformed"))?;
    let expected = if path == bundle.path() { bundle.width() } else { FULL_TILE_WIDTH };
    if entries.len() != usize::from(expected) {
        anyhow::bail!("entry bundle `{path}` has {} entries, expected {expected}", entries.len());
    }
    let width = usize::from(bundle.width());
    if leaf_hashes.len() < width {
        anyhow::bail!("entry bundle `{path}`: fewer leaf hashes than entries (internal error)");
    }
    for (position, (entry, expected_hash)) in entries.iter().take(width).zip(leaf_hashes).enumerate() {
        if leaf_hash(entry) != *expected_hash {
            let leaf_idx = bundle.first_leaf().saturating_add(u64::try_from(position).unwrap_or(u64::MAX));
            anyhow::bail!(
                "entry {} (leaf index {leaf_idx}): its text in `{path}` does not match its leaf hash in the tiles",
                leaf_idx.saturating_add(1)
            );
        }
    }
    Ok(())
}

fn fetch(source: &(impl TileSource + ?Sized), path: &str) -> anyhow::Result<Option<Vec<u8>>> {
    source.fetch(path).map_err(|error| anyhow::anyhow!(error)).with_context(|| format!("failed to fetch `{path}`"))
}

/// The right-edge tiles of a `size` tree, whose hashes make up its root, as quoted paths.
fn edge_tiles(size: u64) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for index in tree_hash_indexes(size) {
        let (needed, _) = tile_for_stored_index(index);
        if let Some(tile) = tile_in_tree(needed.level(), needed.index(), size) {
            let path = format!("`{}`", tile.path());
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}
