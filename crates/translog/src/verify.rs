//! Verification for outsiders: check a signed (and cosigned) checkpoint against a trust
//! policy, recompute the root and proofs from fetched tiles alone, check an entry's inclusion,
//! check a newer checkpoint against a saved one, and check an offline receipt.
//!
//! Tiles come from a caller-supplied [`TileSource`] (an HTTP client, a directory, a map of
//! prefetched bytes); this module never does I/O itself. Every tile is authenticated before a
//! hash from it is used: the right-edge tiles together must reproduce the checkpoint root, and
//! each full tile must hash to the value its parent tile holds for it.

use std::collections::{BTreeMap, HashMap};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::{Hash, leaf_hash, node_hash};
use crate::note::{KeyType, Note, NoteError, NoteVerifier, VerifiedSignature};
use crate::proof::{ReceiptError, TlogProof};
use crate::tile::{
    BundleId, FULL_TILE_WIDTH, TILE_HEIGHT, TileError, TileId, decode_bundle, hash_from_tile, hash_of_tile_range,
    tile_for_stored_index, tile_in_tree,
};
use crate::tree::{
    BoxError, HashReader, ProofError, TreeError, TreeHead, check_consistency, check_inclusion, prove_consistency,
    prove_inclusion, split_stored_hash_index, stored_hash_index, tree_hash_indexes,
};

/// Where tiles and entry bundles come from, by C2SP path relative to the log prefix.
pub trait TileSource {
    /// The bytes at `path` (e.g. `tile/0/x001/234.p/7`), or `None` when absent.
    ///
    /// # Errors
    /// Whatever the transport fails with.
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError>;
}

impl TileSource for BTreeMap<String, Vec<u8>> {
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.get(path).cloned())
    }
}

impl TileSource for HashMap<String, Vec<u8>> {
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.get(path).cloned())
    }
}

impl<T: TileSource + ?Sized> TileSource for &T {
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        (**self).fetch(path)
    }
}

/// Everything that can go wrong while verifying; each variant names what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The policy's log key is not an Ed25519 note key.
    #[error("log key `{0}` is not an ed25519 note key")]
    BadLogKey(String),
    /// A policy witness key is not a cosignature key.
    #[error("witness key `{0}` is not a cosignature/v1 key")]
    BadWitnessKey(String),
    /// The quorum asks for more witnesses than the policy lists.
    #[error("witness quorum {quorum} exceeds the {witnesses} witness keys")]
    QuorumTooLarge {
        /// Required cosignatures.
        quorum: usize,
        /// Witness keys in the policy.
        witnesses: usize,
    },
    /// The signed note is malformed or a trusted signature fails.
    #[error("checkpoint signature check failed")]
    Signature(#[source] NoteError),
    /// No valid signature by the log key.
    #[error("checkpoint is not signed by log key `{0}`")]
    MissingLogSignature(String),
    /// The note text is not a well-formed checkpoint.
    #[error("checkpoint is malformed")]
    MalformedCheckpoint(#[source] CheckpointError),
    /// The checkpoint origin is not the policy's log.
    #[error("checkpoint origin `{found}` is not `{expected}`")]
    OriginMismatch {
        /// The policy's origin.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// Too few valid witness cosignatures.
    #[error("{valid} valid witness cosignatures, {quorum} required")]
    QuorumNotMet {
        /// Distinct witnesses whose cosignature verified.
        valid: usize,
        /// Required.
        quorum: usize,
    },
    /// A tile or bundle the verification needs is absent.
    #[error("`{0}` is missing")]
    Missing(String),
    /// The tile source failed.
    #[error("failed to fetch `{path}`")]
    Fetch {
        /// Path requested.
        path: String,
        /// Transport error.
        #[source]
        source: BoxError,
    },
    /// A tile has the wrong length.
    #[error("tile `{path}` is {len} bytes, expected {expected}")]
    TileLength {
        /// Tile path.
        path: String,
        /// Actual length.
        len: usize,
        /// Expected length.
        expected: usize,
    },
    /// The right-edge tiles do not reproduce the checkpoint root.
    #[error("tiles do not reproduce the checkpoint root at size {0}")]
    TilesRootMismatch(u64),
    /// A full tile does not hash to the value its parent tile holds.
    #[error("tile `{0}` does not match the hash in its parent tile")]
    TileMismatch(String),
    /// A stored hash outside the tree was requested.
    #[error("stored hash {index} is not in a tree of size {tree_size}")]
    IndexOutOfTree {
        /// Stored-hash index.
        index: u64,
        /// Tree size.
        tree_size: u64,
    },
    /// A tile or bundle could not be decoded.
    #[error("`{path}` is malformed")]
    MalformedTile {
        /// Path.
        path: String,
        /// Why.
        #[source]
        source: TileError,
    },
    /// A bundle has a different number of entries than its width.
    #[error("entry bundle `{path}` has {count} entries, expected {expected}")]
    BundleWidth {
        /// Path.
        path: String,
        /// Entries found.
        count: usize,
        /// Entries expected.
        expected: usize,
    },
    /// An entry in a bundle does not hash to its leaf hash in the tiles.
    #[error("entry {0} does not match its leaf hash")]
    EntryMismatch(u64),
    /// The leaf is not in the tree.
    #[error("leaf index {leaf_idx} is not in a tree of size {tree_size}")]
    LeafOutOfRange {
        /// Leaf.
        leaf_idx: u64,
        /// Tree size.
        tree_size: u64,
    },
    /// The inclusion proof does not verify.
    #[error("inclusion proof does not verify")]
    Inclusion(#[source] ProofError),
    /// The consistency proof does not verify.
    #[error("consistency proof does not verify")]
    Consistency(#[source] ProofError),
    /// The newer checkpoint is smaller than the saved one.
    #[error("new checkpoint size {new_size} is smaller than the saved size {old_size}")]
    Rollback {
        /// Saved size.
        old_size: u64,
        /// New size.
        new_size: u64,
    },
    /// The tree computation failed.
    #[error("tree computation failed")]
    Tree(#[source] TreeError),
    /// The receipt text is malformed.
    #[error("receipt is malformed")]
    MalformedReceipt(#[source] ReceiptError),
    /// A tile-bookkeeping invariant broke (a bug, reported rather than panicking).
    #[error("internal tile bookkeeping error at stored hash {0}")]
    Internal(u64),
}

impl From<TreeError> for VerifyError {
    fn from(error: TreeError) -> Self {
        match error {
            TreeError::Read(inner) => match inner.downcast::<VerifyError>() {
                Ok(verify_error) => *verify_error,
                Err(other) => Self::Tree(TreeError::Read(other)),
            },
            TreeError::LeafOutOfRange { leaf_idx, tree_size } => Self::LeafOutOfRange { leaf_idx, tree_size },
            other => Self::Tree(other),
        }
    }
}

/// Which keys a verifier trusts: the log's Ed25519 key (its name is the origin) and optionally
/// witness cosigning keys with a quorum.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    log: NoteVerifier,
    witnesses: Vec<NoteVerifier>,
    quorum: usize,
}

impl TrustPolicy {
    /// Trusts `log`, whose key name must equal the checkpoint origin; no witnesses.
    ///
    /// # Errors
    /// [`VerifyError::BadLogKey`] when `log` is not an Ed25519 key.
    pub fn new(log: NoteVerifier) -> Result<Self, VerifyError> {
        if log.key_type() != KeyType::Ed25519 {
            return Err(VerifyError::BadLogKey(log.name().to_owned()));
        }
        Ok(Self { log, witnesses: Vec::new(), quorum: 0 })
    }

    /// Requires `quorum` distinct witnesses among `witnesses` to have cosigned.
    ///
    /// # Errors
    /// [`VerifyError::BadWitnessKey`] or [`VerifyError::QuorumTooLarge`].
    pub fn with_witnesses(mut self, witnesses: Vec<NoteVerifier>, quorum: usize) -> Result<Self, VerifyError> {
        if let Some(bad) = witnesses.iter().find(|witness| witness.key_type() != KeyType::CosignatureV1) {
            return Err(VerifyError::BadWitnessKey(bad.name().to_owned()));
        }
        if quorum > witnesses.len() {
            return Err(VerifyError::QuorumTooLarge { quorum, witnesses: witnesses.len() });
        }
        self.witnesses = witnesses;
        self.quorum = quorum;
        Ok(self)
    }

    /// The log origin this policy expects.
    pub fn origin(&self) -> &str {
        self.log.name()
    }

    /// The log key.
    pub fn log(&self) -> &NoteVerifier {
        &self.log
    }
}

/// A checkpoint whose log signature and witness quorum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The witness cosignatures that verified (with their timestamps).
    pub cosignatures: Vec<VerifiedSignature>,
}

/// Verifies a signed checkpoint message: the log signature, the origin, every trusted
/// signature present, and the witness quorum. Unknown signatures are ignored.
///
/// # Errors
/// [`VerifyError`] naming what failed.
pub fn verify_checkpoint(policy: &TrustPolicy, signed_checkpoint: &str) -> Result<VerifiedCheckpoint, VerifyError> {
    let note = Note::parse(signed_checkpoint).map_err(VerifyError::Signature)?;
    let mut verifiers = vec![policy.log.clone()];
    verifiers.extend(policy.witnesses.iter().cloned());
    let verified = note.verify(&verifiers).map_err(|error| match error {
        NoteError::NoTrustedSignature => VerifyError::MissingLogSignature(policy.origin().to_owned()),
        other => VerifyError::Signature(other),
    })?;
    let is_log =
        |signature: &VerifiedSignature| signature.name == policy.log.name() && signature.key_id == policy.log.key_id();
    if !verified.iter().any(is_log) {
        return Err(VerifyError::MissingLogSignature(policy.origin().to_owned()));
    }
    let checkpoint = Checkpoint::parse(note.text()).map_err(VerifyError::MalformedCheckpoint)?;
    if checkpoint.origin() != policy.origin() {
        return Err(VerifyError::OriginMismatch {
            expected: policy.origin().to_owned(),
            found: checkpoint.origin().to_owned(),
        });
    }
    let cosignatures: Vec<VerifiedSignature> = verified.into_iter().filter(|signature| !is_log(signature)).collect();
    if cosignatures.len() < policy.quorum {
        return Err(VerifyError::QuorumNotMet { valid: cosignatures.len(), quorum: policy.quorum });
    }
    Ok(VerifiedCheckpoint { checkpoint, cosignatures })
}

/// A [`HashReader`] over fetched tiles, trusting only what the tree head authenticates.
///
/// Each `read_hashes` call fetches the right-edge tiles, checks that they reproduce the root,
/// then fetches and checks any full tiles it needs against their parents.
#[derive(Debug)]
pub struct TileHashReader<'a, S: TileSource + ?Sized> {
    tree: TreeHead,
    source: &'a S,
}

type TileCache = BTreeMap<(u8, u64), (TileId, Vec<u8>)>;

impl<'a, S: TileSource + ?Sized> TileHashReader<'a, S> {
    /// A reader for the tree `tree` (typically a verified checkpoint's head).
    pub fn new(tree: TreeHead, source: &'a S) -> Self {
        Self { tree, source }
    }

    /// Reads hashes, authenticating every tile used.
    ///
    /// # Errors
    /// [`VerifyError`] naming the missing or mismatching tile.
    pub fn read_verified(&self, indexes: &[u64]) -> Result<Vec<Hash>, VerifyError> {
        let mut cache = TileCache::new();
        self.authenticate_edge(&mut cache)?;
        indexes.iter().map(|&index| self.hash_at(index, &mut cache)).collect()
    }

    fn authenticate_edge(&self, cache: &mut TileCache) -> Result<(), VerifyError> {
        let size = self.tree.size;
        if size == 0 {
            // No tiles to fetch, but the root must still be the empty tree's.
            if self.tree.root != Hash::empty_tree() {
                return Err(VerifyError::TilesRootMismatch(0));
            }
            return Ok(());
        }
        let mut parts = Vec::new();
        for index in tree_hash_indexes(size) {
            let (needed, _) = tile_for_stored_index(index);
            let tile = tile_in_tree(needed.level(), needed.index(), size).ok_or(VerifyError::Internal(index))?;
            let key = (tile.level(), tile.index());
            let (tile, data) = match cache.entry(key) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => entry.insert((tile, self.fetch_tile(&tile)?)),
            };
            parts.push(
                hash_from_tile(tile, data, index)
                    .map_err(|source| VerifyError::MalformedTile { path: tile.path(), source })?,
            );
        }
        let mut parts = parts.into_iter().rev();
        let mut root = parts.next().ok_or(VerifyError::Internal(0))?;
        for left in parts {
            root = node_hash(&left, &root);
        }
        if root != self.tree.root {
            // The edge tiles are not trustworthy, so none of them may stay cached.
            cache.clear();
            return Err(VerifyError::TilesRootMismatch(size));
        }
        Ok(())
    }

    fn hash_at(&self, index: u64, cache: &mut TileCache) -> Result<Hash, VerifyError> {
        let size = self.tree.size;
        let out_of_tree = || VerifyError::IndexOutOfTree { index, tree_size: size };
        let (level, n) = split_stored_hash_index(index);
        let covered = n
            .checked_add(1)
            .and_then(|end| end.checked_mul(1u64.checked_shl(u32::from(level))?))
            .ok_or_else(out_of_tree)?;
        if covered > size {
            return Err(out_of_tree());
        }
        let (needed, _) = tile_for_stored_index(index);
        let tile = tile_in_tree(needed.level(), needed.index(), size).ok_or_else(out_of_tree)?;
        let key = (tile.level(), tile.index());
        if !cache.contains_key(&key) {
            // INVARIANT (edge-first): every partial tile is a right-edge tile, and those were
            // all authenticated against the root already; so an uncached tile is full and has a
            // parent hash one tile level up.
            if !tile.is_full() {
                return Err(VerifyError::Internal(index));
            }
            let data = self.fetch_tile(&tile)?;
            let parent_level = tile
                .level()
                .checked_add(1)
                .and_then(|level| level.checked_mul(TILE_HEIGHT))
                .ok_or(VerifyError::Internal(index))?;
            let expected = self.hash_at(stored_hash_index(parent_level, tile.index()), cache)?;
            if hash_of_tile_range(&data) != expected {
                return Err(VerifyError::TileMismatch(tile.path()));
            }
            cache.insert(key, (tile, data));
        }
        let (tile, data) = cache.get(&key).ok_or(VerifyError::Internal(index))?;
        hash_from_tile(tile, data, index).map_err(|source| VerifyError::MalformedTile { path: tile.path(), source })
    }

    /// Fetches a tile; a missing partial tile falls back to the full tile (logs may delete
    /// partial tiles once the full one exists), truncated to the width this tree needs.
    fn fetch_tile(&self, tile: &TileId) -> Result<Vec<u8>, VerifyError> {
        let path = tile.path();
        let data = match self.fetch(&path)? {
            Some(data) => data,
            None if !tile.is_full() => {
                let full = tile.to_full();
                let mut data = self.fetch(&full.path())?.ok_or_else(|| VerifyError::Missing(path.clone()))?;
                if data.len() != full.byte_len() {
                    return Err(VerifyError::TileLength {
                        path: full.path(),
                        len: data.len(),
                        expected: full.byte_len(),
                    });
                }
                data.truncate(tile.byte_len());
                data
            }
            None => return Err(VerifyError::Missing(path)),
        };
        if data.len() != tile.byte_len() {
            return Err(VerifyError::TileLength { path, len: data.len(), expected: tile.byte_len() });
        }
        Ok(data)
    }

    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, VerifyError> {
        self.source.fetch(path).map_err(|source| VerifyError::Fetch { path: path.to_owned(), source })
    }
}

impl<S: TileSource + ?Sized> HashReader for TileHashReader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        self.read_verified(indexes).map_err(|error| Box::new(error) as BoxError)
    }
}

/// Checks that the tiles reproduce the checkpoint's root.
///
/// # Errors
/// [`VerifyError::TilesRootMismatch`], or a missing or malformed tile.
pub fn verify_tiles(checkpoint: &Checkpoint, tiles: &(impl TileSource + ?Sized)) -> Result<(), VerifyError> {
    TileHashReader::new(checkpoint.tree_head(), tiles).read_verified(&[])?;
    Ok(())
}

/// Fetches entry `leaf_idx` from its entry bundle and checks it against the authenticated
/// level-0 tile.
///
/// # Errors
/// [`VerifyError`] naming the missing bundle, bad framing or mismatching entry.
pub fn fetch_entry(
    checkpoint: &Checkpoint,
    leaf_idx: u64,
    tiles: &(impl TileSource + ?Sized),
) -> Result<Vec<u8>, VerifyError> {
    let size = checkpoint.size();
    let bundle = BundleId::for_leaf(leaf_idx, size).ok_or(VerifyError::LeafOutOfRange { leaf_idx, tree_size: size })?;
    let mut path = bundle.path();
    let mut data = tiles.fetch(&path).map_err(|source| VerifyError::Fetch { path: path.clone(), source })?;
    if data.is_none() && !bundle.is_full() {
        path = bundle.to_full().path();
        data = tiles.fetch(&path).map_err(|source| VerifyError::Fetch { path: path.clone(), source })?;
    }
    let data = data.ok_or_else(|| VerifyError::Missing(bundle.path()))?;
    let entries = decode_bundle(&data).map_err(|source| VerifyError::MalformedTile { path: path.clone(), source })?;
    let expected = if path == bundle.path() { usize::from(bundle.width()) } else { usize::from(FULL_TILE_WIDTH) };
    if entries.len() != expected {
        return Err(VerifyError::BundleWidth { path, count: entries.len(), expected });
    }
    let position = usize::try_from(leaf_idx - bundle.first_leaf()).map_err(|_| VerifyError::Internal(leaf_idx))?;
    let entry = entries.get(position).ok_or(VerifyError::Internal(leaf_idx))?;
    let reader = TileHashReader::new(checkpoint.tree_head(), tiles);
    let stored = reader.read_verified(&[stored_hash_index(0, leaf_idx)])?;
    if stored.first() != Some(&leaf_hash(entry)) {
        return Err(VerifyError::EntryMismatch(leaf_idx));
    }
    Ok(entry.to_vec())
}

/// Checks that `entry` is leaf `leaf_idx` of the checkpointed tree, with a proof computed from
/// authenticated tiles.
///
/// # Errors
/// [`VerifyError::Inclusion`] when the entry is not there, or a tile problem.
pub fn verify_inclusion(
    checkpoint: &Checkpoint,
    leaf_idx: u64,
    entry: &[u8],
    tiles: &(impl TileSource + ?Sized),
) -> Result<(), VerifyError> {
    let reader = TileHashReader::new(checkpoint.tree_head(), tiles);
    let proof = prove_inclusion(checkpoint.size(), leaf_idx, &reader)?;
    check_inclusion(&proof, checkpoint.size(), &checkpoint.root(), leaf_idx, &leaf_hash(entry))
        .map_err(VerifyError::Inclusion)
}

/// Checks that `new` extends the saved checkpoint `old` (same origin, no rollback, consistency
/// proof computed from the new tree's authenticated tiles).
///
/// # Errors
/// [`VerifyError::OriginMismatch`], [`VerifyError::Rollback`], [`VerifyError::Consistency`],
/// or a tile problem.
pub fn verify_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    tiles: &(impl TileSource + ?Sized),
) -> Result<(), VerifyError> {
    if old.origin() != new.origin() {
        return Err(VerifyError::OriginMismatch { expected: old.origin().to_owned(), found: new.origin().to_owned() });
    }
    if new.size() < old.size() {
        return Err(VerifyError::Rollback { old_size: old.size(), new_size: new.size() });
    }
    let reader = TileHashReader::new(new.tree_head(), tiles);
    // Authenticate the new tree's edge even when no proof hashes are needed.
    reader.read_verified(&[])?;
    let proof = prove_consistency(new.size(), old.size(), &reader)?;
    check_consistency(&proof, &old.tree_head(), &new.tree_head()).map_err(VerifyError::Consistency)
}

/// Verifies a tlog-proof receipt for `entry` offline: the checkpoint against the policy
/// (signature, origin, witness quorum), then the inclusion proof.
///
/// # Errors
/// [`VerifyError`] naming what failed.
pub fn verify_receipt(
    policy: &TrustPolicy,
    receipt: &TlogProof,
    entry: &[u8],
) -> Result<VerifiedCheckpoint, VerifyError> {
    let verified = verify_checkpoint(policy, receipt.checkpoint())?;
    check_inclusion(
        receipt.inclusion_proof(),
        verified.checkpoint.size(),
        &verified.checkpoint.root(),
        receipt.leaf_idx(),
        &leaf_hash(entry),
    )
    .map_err(VerifyError::Inclusion)?;
    Ok(verified)
}

/// Parses a tlog-proof text and verifies it (see [`verify_receipt`]).
///
/// # Errors
/// [`VerifyError::MalformedReceipt`] or anything [`verify_receipt`] reports.
pub fn verify_receipt_text(
    policy: &TrustPolicy,
    receipt: &str,
    entry: &[u8],
) -> Result<VerifiedCheckpoint, VerifyError> {
    let receipt = TlogProof::parse(receipt).map_err(VerifyError::MalformedReceipt)?;
    verify_receipt(policy, &receipt, entry)
}
