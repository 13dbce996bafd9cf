//! The append-only Merkle tree over a storage abstraction: stored hashes, tree hashes, and
//! RFC 6962 inclusion and consistency proofs with their verification.
//!
//! # Storage scheme
//!
//! The tree is persisted as a flat, append-only sequence of *stored hashes*, the scheme of Go's
//! `golang.org/x/mod/sumdb/tlog`: appending leaf `n` writes its leaf hash followed by the hash of
//! every complete subtree that leaf finishes. [`stored_hash_index`] maps `(level, n)` (the `n`th
//! complete subtree of `2^level` leaves) to its position in that sequence. Nothing is ever
//! rewritten, so a store only needs "append these hashes" and "read hashes at these positions".
//! The tree hash and all proofs are computed from stored hashes alone.
//!
//! Proof generation follows Go's tlog; verification follows RFC 9162 §2.1.3.2 and §2.1.4.2.
//! Two independent formulations keep each other honest, and both are differential-tested
//! against `ct-merkle`.

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::tile::MAX_ENTRY_LEN;

/// Largest tree size this crate handles: `2^62` leaves.
///
/// INVARIANT (size-bound): every size passed to the storage-backed functions is at most this,
/// so stored-hash index arithmetic never overflows `u64`.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A boxed error from a storage back end or tile source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Reads previously stored hashes by stored-hash index.
pub trait HashReader {
    /// Returns the hashes stored at `indexes`, in the same order and of the same length.
    ///
    /// # Errors
    /// Whatever the back end fails with (missing rows, I/O, an unauthenticated tile).
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|position| self.get(position))
                    .copied()
                    .ok_or_else(|| format!("no stored hash at index {index}").into())
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        self.as_slice().read_hashes(indexes)
    }
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        (**self).read_hashes(indexes)
    }
}

/// A tree size with its root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash at that size.
    pub root: Hash,
}

/// What [`append_entries`] and [`append_leaf_hashes`] produce: the hashes to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Stored-hash index of the first element of `stored_hashes`; equals
    /// `stored_hash_count(old size)`.
    pub first_stored_index: u64,
    /// New stored hashes, to be persisted at consecutive indexes from `first_stored_index`.
    pub stored_hashes: Vec<Hash>,
    /// Tree size after the append.
    pub new_size: u64,
}

/// Errors of the storage-backed tree operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The tree size exceeds [`MAX_TREE_SIZE`].
    #[error("tree size {0} exceeds the supported maximum")]
    TooLarge(u64),
    /// A leaf index is not below the tree size.
    #[error("leaf index {leaf_idx} is not in a tree of size {tree_size}")]
    LeafOutOfRange {
        /// The requested leaf.
        leaf_idx: u64,
        /// The tree size.
        tree_size: u64,
    },
    /// An old size is larger than the new size.
    #[error("old size {old_size} is larger than new size {new_size}")]
    OldSizeLarger {
        /// The old size.
        old_size: u64,
        /// The new size.
        new_size: u64,
    },
    /// An entry is longer than an entry bundle can frame.
    #[error("entry {position} of the batch is {len} bytes, more than the 65535 allowed")]
    EntryTooLarge {
        /// Position of the entry in the batch.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// The reader returned a different number of hashes than requested.
    #[error("hash reader returned {got} hashes for {wanted} indexes")]
    ReaderCount {
        /// Number requested.
        wanted: usize,
        /// Number returned.
        got: usize,
    },
    /// The reader failed.
    #[error("failed to read stored hashes")]
    Read(#[source] BoxError),
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {leaf_idx} is not in a tree of size {tree_size}")]
    LeafOutOfRange {
        /// The leaf index.
        leaf_idx: u64,
        /// The tree size.
        tree_size: u64,
    },
    /// The old tree is larger than the new one.
    #[error("old size {old_size} is larger than new size {new_size}")]
    OldSizeLarger {
        /// The old size.
        old_size: u64,
        /// The new size.
        new_size: u64,
    },
    /// The proof has too many or too few hashes for the sizes involved.
    #[error("proof has the wrong number of hashes ({0})")]
    WrongLength(usize),
    /// The proof does not lead to the expected (new) root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The proof does not lead back to the old root.
    #[error("proof does not lead back to the old root")]
    OldRootMismatch,
    /// Two heads of the same size have different roots.
    #[error("trees of equal size {0} have different roots")]
    SameSizeDifferentRoot(u64),
    /// The size-0 root is not `SHA-256("")`.
    #[error("root of the empty tree is not the hash of the empty string")]
    BadEmptyRoot,
}

/// Position of the `n`th hash at `level` in the stored-hash sequence.
///
/// Level 0 holds leaf hashes; level `l` holds roots of complete subtrees of `2^l` leaves.
/// Saturates (rather than overflowing) outside the range allowed by [`MAX_TREE_SIZE`].
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    // Level L's nth hash is written right after level L+1's (2n+1)th hash: walk down to the
    // level-0 ordering, then add back one slot per level.
    let mut n = n;
    for _ in 0..level {
        n = n.saturating_mul(2).saturating_add(1);
    }
    // Level 0's nth hash is written at n + n/2 + n/4 + ...
    let mut index: u64 = 0;
    let mut rest = n;
    while rest > 0 {
        index = index.saturating_add(rest);
        rest >>= 1;
    }
    index.saturating_add(u64::from(level))
}

/// Inverse of [`stored_hash_index`]: the `(level, n)` stored at `index`.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // stored_hash_index(0, n) < 2n, so the record that wrote `index` is in
    // [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        // Each record n adds 1 + trailing_zeros(n + 1) hashes.
        let next = index_n.saturating_add(1).saturating_add(u64::from(n.saturating_add(1).trailing_zeros()));
        if next > index || next == u64::MAX {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = index.saturating_sub(index_n);
    let level = u8::try_from(level.min(63)).unwrap_or(63);
    (level, n.checked_shr(u32::from(level)).unwrap_or(0))
}

/// Number of stored hashes for a tree of `tree_size` leaves.
pub fn stored_hash_count(tree_size: u64) -> u64 {
    if tree_size == 0 {
        return 0;
    }
    let last = tree_size - 1;
    // The hashes up to the last leaf hash, plus one per subtree that leaf completes.
    stored_hash_index(0, last).saturating_add(1).saturating_add(u64::from(last.trailing_ones()))
}

/// Appends entries to a tree of `tree_size` leaves and returns the stored hashes to persist.
///
/// Entries longer than 65,535 bytes are rejected: a C2SP entry bundle cannot frame them.
///
/// # Errors
/// [`TreeError::EntryTooLarge`], [`TreeError::TooLarge`], or a reader failure.
pub fn append_entries<E: AsRef<[u8]>>(
    tree_size: u64,
    entries: &[E],
    reader: &(impl HashReader + ?Sized),
) -> Result<Appended, TreeError> {
    let mut leaf_hashes = Vec::with_capacity(entries.len());
    for (position, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        if entry.len() > MAX_ENTRY_LEN {
            return Err(TreeError::EntryTooLarge { position, len: entry.len() });
        }
        leaf_hashes.push(leaf_hash(entry));
    }
    append_leaf_hashes(tree_size, &leaf_hashes, reader)
}

/// Appends already-computed leaf hashes to a tree of `tree_size` leaves and returns the stored
/// hashes to persist (at `first_stored_index..`).
///
/// # Errors
/// [`TreeError::TooLarge`] when the new size would exceed [`MAX_TREE_SIZE`], or a reader failure.
pub fn append_leaf_hashes(
    tree_size: u64,
    leaf_hashes: &[Hash],
    reader: &(impl HashReader + ?Sized),
) -> Result<Appended, TreeError> {
    let added = u64::try_from(leaf_hashes.len()).unwrap_or(u64::MAX);
    let new_size = tree_size.saturating_add(added);
    if new_size > MAX_TREE_SIZE {
        return Err(TreeError::TooLarge(new_size));
    }
    let first_stored_index = stored_hash_count(tree_size);
    let mut stored_hashes: Vec<Hash> = Vec::with_capacity(leaf_hashes.len() * 2);
    for (leaf_idx, leaf) in (tree_size..).zip(leaf_hashes) {
        // A leaf that completes subtrees combines with their left siblings, which were stored
        // either before this batch or earlier in it.
        let completed = leaf_idx.trailing_ones();
        let mut indexes = Vec::with_capacity(completed as usize);
        for level in (0..completed).rev() {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            let sibling = (leaf_idx >> level) - 1;
            indexes.push(stored_hash_index(level, sibling));
        }
        let siblings = read_overlay(reader, first_stored_index, &stored_hashes, &indexes)?;
        stored_hashes.push(*leaf);
        let mut hash = *leaf;
        for sibling in siblings.iter().rev() {
            hash = node_hash(sibling, &hash);
            stored_hashes.push(hash);
        }
    }
    Ok(Appended { first_stored_index, stored_hashes, new_size })
}

/// Reads `indexes` from `pending` (stored from `first_pending` on) or else from `reader`.
fn read_overlay(
    reader: &(impl HashReader + ?Sized),
    first_pending: u64,
    pending: &[Hash],
    indexes: &[u64],
) -> Result<Vec<Hash>, TreeError> {
    let old_indexes: Vec<u64> = indexes.iter().copied().filter(|&index| index < first_pending).collect();
    let mut old = read_checked(reader, &old_indexes)?.into_iter();
    let mut out = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let hash = if index < first_pending {
            old.next()
        } else {
            usize::try_from(index - first_pending).ok().and_then(|position| pending.get(position)).copied()
        };
        out.push(hash.ok_or(TreeError::ReaderCount { wanted: indexes.len(), got: out.len() })?);
    }
    Ok(out)
}

/// Calls the reader and checks it returned one hash per index.
fn read_checked(reader: &(impl HashReader + ?Sized), indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes).map_err(TreeError::Read)?;
    if hashes.len() != indexes.len() {
        return Err(TreeError::ReaderCount { wanted: indexes.len(), got: hashes.len() });
    }
    Ok(hashes)
}

fn check_size(tree_size: u64) -> Result<(), TreeError> {
    if tree_size > MAX_TREE_SIZE {
        return Err(TreeError::TooLarge(tree_size));
    }
    Ok(())
}

/// The RFC 6962 root hash of the first `tree_size` leaves (`SHA-256("")` for size 0).
///
/// # Errors
/// [`TreeError::TooLarge`] or a reader failure.
pub fn tree_hash(tree_size: u64, reader: &(impl HashReader + ?Sized)) -> Result<Hash, TreeError> {
    check_size(tree_size)?;
    if tree_size == 0 {
        return Ok(Hash::empty_tree());
    }
    let mut indexes = Vec::new();
    sub_tree_index(0, tree_size, &mut indexes);
    let hashes = read_checked(reader, &indexes)?;
    let mut cursor = Cursor::new(&hashes);
    sub_tree_hash(0, tree_size, &mut cursor)
}

/// Stored-hash indexes whose values [`tree_hash`] reads for `tree_size` (the maximal complete
/// subtrees, left to right).
pub fn tree_hash_indexes(tree_size: u64) -> Vec<u64> {
    let mut indexes = Vec::new();
    sub_tree_index(0, tree_size.min(MAX_TREE_SIZE), &mut indexes);
    indexes
}

/// The RFC 6962 inclusion proof (audit path) for `leaf_idx` in a tree of `tree_size` leaves,
/// leaf's sibling first.
///
/// # Errors
/// [`TreeError::LeafOutOfRange`], [`TreeError::TooLarge`] or a reader failure.
pub fn prove_inclusion(
    tree_size: u64,
    leaf_idx: u64,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, TreeError> {
    check_size(tree_size)?;
    if leaf_idx >= tree_size {
        return Err(TreeError::LeafOutOfRange { leaf_idx, tree_size });
    }
    let mut indexes = Vec::new();
    leaf_proof_index(0, tree_size, leaf_idx, &mut indexes);
    let hashes = read_checked(reader, &indexes)?;
    let mut cursor = Cursor::new(&hashes);
    let mut proof = Vec::new();
    leaf_proof(0, tree_size, leaf_idx, &mut cursor, &mut proof)?;
    Ok(proof)
}

/// The RFC 6962 consistency proof from `old_size` to `new_size` (empty when `old_size` is 0
/// or equals `new_size`).
///
/// # Errors
/// [`TreeError::OldSizeLarger`], [`TreeError::TooLarge`] or a reader failure.
pub fn prove_consistency(
    new_size: u64,
    old_size: u64,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, TreeError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(TreeError::OldSizeLarger { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut indexes = Vec::new();
    tree_proof_index(0, new_size, old_size, &mut indexes);
    let hashes = read_checked(reader, &indexes)?;
    let mut cursor = Cursor::new(&hashes);
    let mut proof = Vec::new();
    tree_proof(0, new_size, old_size, &mut cursor, &mut proof)?;
    Ok(proof)
}

/// Computes the root implied by an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError::LeafOutOfRange`] or [`ProofError::WrongLength`].
pub fn root_from_inclusion_proof(
    proof: &[Hash],
    tree_size: u64,
    leaf_idx: u64,
    leaf: &Hash,
) -> Result<Hash, ProofError> {
    if leaf_idx >= tree_size {
        return Err(ProofError::LeafOutOfRange { leaf_idx, tree_size });
    }
    let mut f_n = leaf_idx;
    let mut s_n = tree_size - 1;
    let mut root = *leaf;
    for sibling in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            root = node_hash(sibling, &root);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            root = node_hash(&root, sibling);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength(proof.len()));
    }
    Ok(root)
}

/// Checks that `leaf` is at `leaf_idx` in the tree of `tree_size` leaves with root `root`.
///
/// # Errors
/// [`ProofError`] naming why the proof fails.
pub fn check_inclusion(
    proof: &[Hash],
    tree_size: u64,
    root: &Hash,
    leaf_idx: u64,
    leaf: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(proof, tree_size, leaf_idx, leaf)?;
    if computed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree `old` is a prefix of the tree `new` (RFC 9162 §2.1.4.2).
///
/// Size 0 is consistent with everything (the proof must be empty and the old root must be
/// `SHA-256("")`); equal sizes need an empty proof and equal roots.
///
/// # Errors
/// [`ProofError`] naming why the proof fails.
pub fn check_consistency(proof: &[Hash], old: &TreeHead, new: &TreeHead) -> Result<(), ProofError> {
    if old.size > new.size {
        return Err(ProofError::OldSizeLarger { old_size: old.size, new_size: new.size });
    }
    if old.size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if old.root != Hash::empty_tree() {
            return Err(ProofError::BadEmptyRoot);
        }
        return Ok(());
    }
    if old.size == new.size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if old.root != new.root {
            return Err(ProofError::SameSizeDifferentRoot(old.size));
        }
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.size.is_power_of_two() {
        path.push(old.root);
    }
    path.extend_from_slice(proof);
    let mut hashes = path.iter();
    let Some(first) = hashes.next() else {
        return Err(ProofError::WrongLength(proof.len()));
    };
    let mut f_n = old.size - 1;
    let mut s_n = new.size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut old_root = *first;
    let mut new_root = *first;
    for hash in hashes {
        if s_n == 0 {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            old_root = node_hash(hash, &old_root);
            new_root = node_hash(hash, &new_root);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            new_root = node_hash(&new_root, hash);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength(proof.len()));
    }
    if old_root != old.root {
        return Err(ProofError::OldRootMismatch);
    }
    if new_root != new.root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Consumes hashes in the order the `*_index` functions listed them.
struct Cursor<'a> {
    hashes: std::slice::Iter<'a, Hash>,
}

impl<'a> Cursor<'a> {
    fn new(hashes: &'a [Hash]) -> Self {
        Self { hashes: hashes.iter() }
    }

    fn next(&mut self) -> Result<Hash, TreeError> {
        // INVARIANT (index-order): the index functions and the hash functions walk the tree in
        // the same order, and `read_checked` returned one hash per index, so this never runs dry.
        self.hashes.next().copied().ok_or(TreeError::ReaderCount { wanted: 0, got: 0 })
    }
}

/// Largest power of two `<= n` and its log2, for `n >= 1`.
fn largest_pow2_at_most(n: u64) -> (u64, u8) {
    let log = 63u32.saturating_sub(n.leading_zeros());
    (1u64 << log, u8::try_from(log).unwrap_or(63))
}

/// Largest power of two strictly less than `n`, for `n >= 2` (RFC 6962's split point).
fn split_point(n: u64) -> u64 {
    largest_pow2_at_most(n.saturating_sub(1).max(1)).0
}

/// Appends the stored-hash indexes of the maximal complete subtrees covering `[lo, hi)`.
fn sub_tree_index(lo: u64, hi: u64, need: &mut Vec<u64>) {
    let mut lo = lo;
    while lo < hi {
        let (k, level) = largest_pow2_at_most(hi - lo);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Hash of `[lo, hi)` from the hashes [`sub_tree_index`] listed.
fn sub_tree_hash(lo: u64, hi: u64, cursor: &mut Cursor<'_>) -> Result<Hash, TreeError> {
    let mut parts = Vec::new();
    let mut lo = lo;
    while lo < hi {
        let (k, _) = largest_pow2_at_most(hi - lo);
        parts.push(cursor.next()?);
        lo += k;
    }
    let mut parts = parts.into_iter().rev();
    let Some(mut hash) = parts.next() else {
        return Ok(Hash::empty_tree());
    };
    for left in parts {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

fn leaf_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 >= hi {
        return;
    }
    let k = split_point(hi - lo);
    if n < lo + k {
        leaf_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

fn leaf_proof(lo: u64, hi: u64, n: u64, cursor: &mut Cursor<'_>, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
    if lo + 1 >= hi {
        return Ok(());
    }
    let k = split_point(hi - lo);
    if n < lo + k {
        leaf_proof(lo, lo + k, n, cursor, proof)?;
        proof.push(sub_tree_hash(lo + k, hi, cursor)?);
    } else {
        let sibling = sub_tree_hash(lo, lo + k, cursor)?;
        leaf_proof(lo + k, hi, n, cursor, proof)?;
        proof.push(sibling);
    }
    Ok(())
}

fn tree_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if n >= hi {
        if lo != 0 {
            sub_tree_index(lo, hi, need);
        }
        return;
    }
    let k = split_point(hi - lo);
    if n <= lo + k {
        tree_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

fn tree_proof(lo: u64, hi: u64, n: u64, cursor: &mut Cursor<'_>, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
    if n >= hi {
        // Common ground: the old tree ends here. The verifier knows the whole old tree's hash,
        // so it is only sent for a right-hand piece.
        if lo != 0 {
            proof.push(sub_tree_hash(lo, hi, cursor)?);
        }
        return Ok(());
    }
    let k = split_point(hi - lo);
    if n <= lo + k {
        tree_proof(lo, lo + k, n, cursor, proof)?;
        proof.push(sub_tree_hash(lo + k, hi, cursor)?);
    } else {
        let left = sub_tree_hash(lo, lo + k, cursor)?;
        tree_proof(lo + k, hi, n, cursor, proof)?;
        proof.push(left);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_index_table() {
        // (level, n, index) from the layout: leaf 0 at 0, leaf 1 at 1, node(0,1) at 2, ...
        let cases: &[(u8, u64, u64)] =
            &[(0, 0, 0), (0, 1, 1), (1, 0, 2), (0, 2, 3), (0, 3, 4), (1, 1, 5), (2, 0, 6), (0, 4, 7)];
        for &(level, n, index) in cases {
            assert_eq!(stored_hash_index(level, n), index, "({level}, {n})");
            assert_eq!(split_stored_hash_index(index), (level, n), "index {index}");
        }
        for index in 0..10_000 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
    }

    #[test]
    fn stored_hash_count_table() {
        let cases: &[(u64, u64)] = &[(0, 0), (1, 1), (2, 3), (3, 4), (4, 7), (5, 8), (8, 15)];
        for &(size, count) in cases {
            assert_eq!(stored_hash_count(size), count, "size {size}");
        }
    }
}
