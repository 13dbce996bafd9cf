//! A persistent index from 64-bit hashes to table positions, stored densely.
//!
//! The state keeps customers and API keys in persistent vectors (a record's position is fixed
//! when it is created, since records are never removed) and finds them through this index: a
//! customer by the hash of its id, a key by the first eight bytes of its SHA-256 or by the hash
//! of its public id. A lookup yields every position filed under a hash, and the caller checks
//! each record against the full key, so two keys sharing 64 bits of hash are still told apart.
//!
//! Why not `imbl::HashMap`: its trie nodes are fixed arrays of 16 or 32 slots, partly empty, and
//! a key held inline (a 32-byte hash, a `String`) repeats in every copy of the node. Measured with
//! 10,000,000 entries, a `HashMap<u64, u32>` took 51 bytes per entry and a
//! `HashMap<String, Arc<_>>` about 200, which made up most of a ten-million-customer snapshot.
//! Here an entry is 16 bytes in a sorted leaf: two fixed levels of 256 branches each pick one of
//! 65,536 leaves from the hash's top 16 bits, and the leaf is searched by interpolation on the
//! rest (the hashes are uniform, so the first guess lands within a cache line or two).
//!
//! An entry can carry a second `u32` beside the position, in what would otherwise be padding: the
//! key index files each key's customer position there, so the request path learns where both
//! records are from one leaf and fetches them side by side (their cache misses overlap) instead
//! of reading the key to find the customer.
//!
//! Cloning is one reference count; an insert copies one leaf (about 150 entries at ten million)
//! and, when a snapshot shares them, the root and one middle array (2 KiB each).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

const FAN_OUT: usize = 256;
/// Bits of the hash below the two levels of branches, used to interpolate within a leaf.
const LEAF_BITS: u32 = 48;

/// A leaf is rebuilt whole on insert (about 150 entries at ten million), so the lookup follows
/// one pointer to its entries rather than two through a `Vec`.
type Leaf = Arc<[Entry]>;
type Middle = [Option<Leaf>; FAN_OUT];
type Root = [Option<Arc<Middle>>; FAN_OUT];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    hash: u64,
    position: u32,
    /// A second position filed with the first (the key index: the key's customer), else 0.
    owner: u32,
}

/// A persistent multimap from a 64-bit hash to `u32` positions.
///
/// INVARIANT (sorted-leaves): each leaf holds the entries whose hash's top 16 bits name it,
/// sorted by hash, and entries with equal hashes in the order they were inserted.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashIndex {
    root: Option<Arc<Root>>,
}

impl HashIndex {
    /// Files `position` under `hash`, after any position already filed under it.
    pub(crate) fn insert(&mut self, hash: u64, position: u32) {
        self.insert_with_owner(hash, position, 0);
    }

    /// Files `position` and `owner` under `hash`, after any position already filed under it.
    pub(crate) fn insert_with_owner(&mut self, hash: u64, position: u32, owner: u32) {
        let (high, middle_slot) = slots(hash);
        let root = Arc::make_mut(self.root.get_or_insert_with(|| Arc::new(std::array::from_fn(|_| None))));
        let Some(middle) = root.get_mut(high) else { return };
        let middle = Arc::make_mut(middle.get_or_insert_with(|| Arc::new(std::array::from_fn(|_| None))));
        let Some(leaf) = middle.get_mut(middle_slot) else { return };
        let old = leaf.as_deref().unwrap_or_default();
        // INVARIANT (sorted-leaves): after every entry whose hash is not greater.
        let (before, after) = old.split_at(old.partition_point(|entry| entry.hash <= hash));
        let entry = Entry { hash, position, owner };
        *leaf = Some(before.iter().copied().chain(std::iter::once(entry)).chain(after.iter().copied()).collect());
    }

    /// An index of `entries` (hash, position, owner), as if each were inserted in position order:
    /// one allocation per leaf, where inserting one at a time copies a leaf per entry (reading a
    /// state checkpoint files ten million of each). The entries are first dealt to their leaves
    /// by the hash's top 16 bits (a counting sort: two passes, no comparisons), then each leaf of
    /// about 150 is sorted in cache, rather than all ten million at once.
    pub(crate) fn from_entries(entries: Vec<(u64, u32, u32)>) -> Self {
        const LEAVES: usize = FAN_OUT * FAN_OUT;
        let leaf_of = |hash: u64| (hash >> LEAF_BITS) as usize;
        let mut starts = vec![0_usize; LEAVES + 1];
        for &(hash, _, _) in &entries {
            if let Some(count) = starts.get_mut(leaf_of(hash) + 1) {
                *count += 1;
            }
        }
        for leaf in 1..starts.len() {
            let before = starts.get(leaf - 1).copied().unwrap_or(0);
            if let Some(start) = starts.get_mut(leaf) {
                *start += before;
            }
        }
        let mut next = starts.clone();
        let mut dealt = vec![Entry { hash: 0, position: 0, owner: 0 }; entries.len()];
        for (hash, position, owner) in entries {
            let Some(at) = next.get_mut(leaf_of(hash)) else { continue };
            if let Some(slot) = dealt.get_mut(*at) {
                *slot = Entry { hash, position, owner };
            }
            *at += 1;
        }
        let mut index = Self::default();
        for leaf in 0..LEAVES {
            let (Some(&start), Some(&end)) = (starts.get(leaf), starts.get(leaf + 1)) else { continue };
            let Some(entries) = dealt.get_mut(start..end).filter(|entries| !entries.is_empty()) else { continue };
            // INVARIANT (sorted-leaves): by hash, equal hashes in position (insertion) order.
            entries.sort_unstable_by_key(|entry| (entry.hash, entry.position));
            let (high, middle_slot) = (leaf >> 8, leaf & (FAN_OUT - 1));
            let root = Arc::make_mut(index.root.get_or_insert_with(|| Arc::new(std::array::from_fn(|_| None))));
            let Some(middle) = root.get_mut(high) else { continue };
            let middle = Arc::make_mut(middle.get_or_insert_with(|| Arc::new(std::array::from_fn(|_| None))));
            if let Some(slot) = middle.get_mut(middle_slot) {
                *slot = Some(Arc::from(&*entries));
            }
        }
        index
    }

    /// The positions filed under `hash`, in the order they were inserted.
    pub(crate) fn get(&self, hash: u64) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.get_with_owners(hash).map(|(position, _)| position)
    }

    /// The positions filed under `hash` with their owners, in the order they were inserted.
    pub(crate) fn get_with_owners(&self, hash: u64) -> impl DoubleEndedIterator<Item = (u32, u32)> + '_ {
        let (high, middle_slot) = slots(hash);
        let leaf = self
            .root
            .as_deref()
            .and_then(|root| root.get(high)?.as_deref())
            .and_then(|middle| middle.get(middle_slot)?.as_ref())
            .map_or(&[][..], |leaf| &**leaf);
        let start = first_at_or_above(leaf, hash);
        let rest = leaf.get(start..).unwrap_or_default();
        let equal = rest.iter().take_while(|entry| entry.hash == hash).count();
        rest.get(..equal).unwrap_or_default().iter().map(|entry| (entry.position, entry.owner))
    }
}

/// The two branch slots a hash goes through.
fn slots(hash: u64) -> (usize, usize) {
    let top = (hash >> LEAF_BITS) as usize;
    (top >> 8, top & (FAN_OUT - 1))
}

/// The index of the first entry whose hash is at least `hash`: guessed from where `hash` falls
/// in the leaf's range, then walked to, so a uniform leaf costs one or two cache lines rather than
/// a binary search's eight probes. A skewed leaf only makes the walk longer, never wrong.
fn first_at_or_above(leaf: &[Entry], hash: u64) -> usize {
    let below_leaf_bits = u128::from(hash & ((1_u64 << LEAF_BITS) - 1));
    let guess = usize::try_from((below_leaf_bits * leaf.len() as u128) >> LEAF_BITS).unwrap_or(leaf.len());
    let mut at = guess.min(leaf.len());
    while at > 0 && leaf.get(at - 1).is_some_and(|entry| entry.hash >= hash) {
        at -= 1;
    }
    while leaf.get(at).is_some_and(|entry| entry.hash < hash) {
        at += 1;
    }
    at
}

/// The hash an id is filed under. SipHash with fixed keys: the same in every process, which keeps
/// the index's shape reproducible, and the index holds only what the provider and the gateway
/// created, so there is nothing for an outsider to flood.
pub(crate) fn text_hash(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of well-spread 64-bit values (xorshift64).
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    fn positions(index: &HashIndex, hash: u64) -> Vec<u32> {
        index.get(hash).collect()
    }

    #[test]
    fn finds_every_position_filed_under_a_hash_in_insertion_order() {
        let mut index = HashIndex::default();
        // Equal top bits (one leaf), equal hashes, and hashes at both ends of the range.
        let hashes = [5_u64, 5, u64::MAX, 0, 1 << 48, (1 << 48) + 7, 5, u64::MAX - 1];
        for (position, hash) in (0_u32..).zip(hashes) {
            index.insert(hash, position);
        }
        assert_eq!(positions(&index, 5), [0, 1, 6]);
        assert_eq!(positions(&index, u64::MAX), [2]);
        assert_eq!(positions(&index, 0), [3]);
        assert_eq!(positions(&index, (1 << 48) + 7), [5]);
        assert_eq!(positions(&index, 4), Vec::<u32>::new());
        assert_eq!(positions(&index, u64::MAX - 2), Vec::<u32>::new());
    }

    #[test]
    fn an_owner_is_filed_with_its_position_at_no_cost_in_size() {
        let mut index = HashIndex::default();
        index.insert_with_owner(9, 4, 70);
        index.insert(9, 5);
        index.insert_with_owner(10, 6, 71);
        assert_eq!(index.get_with_owners(9).collect::<Vec<_>>(), [(4, 70), (5, 0)]);
        assert_eq!(index.get_with_owners(10).collect::<Vec<_>>(), [(6, 71)]);
        // The owner sits in what was the entry's padding.
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn built_at_once_it_answers_as_if_built_one_insert_at_a_time() {
        let mut one_by_one = HashIndex::default();
        let mut entries = Vec::new();
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for position in 0..5_000_u32 {
            let x = next();
            // Some repeats, some crowding, the rest spread.
            let hash = match position % 4 {
                0 => u64::from(position / 8),
                1 => x & 0xFFFF_0000_0000_000F,
                _ => x,
            };
            one_by_one.insert_with_owner(hash, position, position / 3);
            entries.push((hash, position, position / 3));
        }
        entries.reverse();
        let at_once = HashIndex::from_entries(entries.clone());
        for &(hash, _, _) in &entries {
            assert_eq!(
                at_once.get_with_owners(hash).collect::<Vec<_>>(),
                one_by_one.get_with_owners(hash).collect::<Vec<_>>()
            );
        }
        assert_eq!(HashIndex::from_entries(Vec::new()).get(7).count(), 0);
    }

    #[test]
    fn a_clone_does_not_see_later_inserts() {
        let mut index = HashIndex::default();
        index.insert(text_hash("acme"), 0);
        let before = index.clone();
        index.insert(text_hash("globex"), 1);
        index.insert(text_hash("acme"), 2);
        assert_eq!(positions(&before, text_hash("acme")), [0]);
        assert_eq!(positions(&before, text_hash("globex")), Vec::<u32>::new());
        assert_eq!(positions(&index, text_hash("acme")), [0, 2]);
        assert_eq!(positions(&index, text_hash("globex")), [1]);
    }

    #[test]
    fn agrees_with_a_sorted_list_on_many_hashes() {
        // A deterministic spread of hashes, some repeated, some crowding one leaf.
        let mut index = HashIndex::default();
        let mut expected: std::collections::BTreeMap<u64, Vec<u32>> = std::collections::BTreeMap::new();
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for position in 0..20_000_u32 {
            let x = next();
            let hash = match position % 5 {
                0 => x & 0xFFFF_0000_0000_00FF, // many entries in few leaves
                1 => u64::from(position / 3),   // repeats
                _ => x,
            };
            index.insert(hash, position);
            expected.entry(hash).or_default().push(position);
        }
        for (hash, want) in &expected {
            assert_eq!(&positions(&index, *hash), want);
            assert_eq!(
                positions(&index, hash.wrapping_add(1)).is_empty(),
                !expected.contains_key(&hash.wrapping_add(1))
            );
        }
    }
}
