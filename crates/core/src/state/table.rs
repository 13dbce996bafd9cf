//! A persistent, append-only table: records by position, in nodes of 256.
//!
//! Customers and API keys are never removed, so each gets the next position when it is created
//! and keeps it. Why not `imbl::Vector`: its relaxed radix tree is 64 wide, so ten million
//! entries sit four levels deep and a random lookup missed the cache at two or three of them
//! (the decision bench at ten million customers: 408 ns to reach a customer by position through
//! `imbl::Vector`, 85 ns through this table). At 256 wide, ten million entries are three levels
//! deep, the upper two (about 40 KiB at ten million) stay in cache, and a lookup costs the leaf
//! and the record.
//!
//! Each node's slots sit in the same allocation as its reference count, and a slot holds its
//! child's kind beside the pointer, so going down a level is one pointer followed (one cache miss
//! at most): with the slots in a `Box` inside an `Arc`'d node, each level cost two, and at ten
//! million customers the decision bench paid for both on the leaf level of each table.
//!
//! Cloning is one reference count; a change copies the nodes on its path that a snapshot shares
//! (256 slots each: 4 KiB for a branch, 256 records for a leaf), and nothing when nothing shares
//! them (replay at start-up).

use std::sync::Arc;

const BITS: u32 = 8;
const WIDTH: usize = 1 << BITS;

#[derive(Debug)]
enum Node<T> {
    Branch(Arc<[Option<Node<T>>; WIDTH]>),
    Leaf(Arc<[Option<T>; WIDTH]>),
}

// Not derived: a derived `Clone` would ask `T: Clone` for what is only a reference count.
impl<T> Clone for Node<T> {
    fn clone(&self) -> Self {
        match self {
            Node::Branch(children) => Node::Branch(Arc::clone(children)),
            Node::Leaf(items) => Node::Leaf(Arc::clone(items)),
        }
    }
}

impl<T> Node<T> {
    fn empty(height: u32) -> Self {
        if height == 0 {
            Node::Leaf(Arc::new(std::array::from_fn(|_| None)))
        } else {
            Node::Branch(Arc::new(std::array::from_fn(|_| None)))
        }
    }
}

/// Records by position, `0..len`.
///
/// INVARIANT (table-shape): positions below `len` are filled; the root is `height` branch levels
/// above the leaves, and `len <= WIDTH.pow(height + 1)`.
#[derive(Debug)]
pub(crate) struct Table<T> {
    root: Option<Node<T>>,
    height: u32,
    len: usize,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Self { root: self.root.clone(), height: self.height, len: self.len }
    }
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { root: None, height: 0, len: 0 }
    }
}

/// The slot `position` takes at the level `height` above the leaves.
fn slot(position: usize, height: u32) -> usize {
    (position >> (BITS * height)) & (WIDTH - 1)
}

impl<T: Clone> Table<T> {
    /// Number of records.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The record at `position`.
    pub(crate) fn get(&self, position: usize) -> Option<&T> {
        if position >= self.len {
            return None;
        }
        self.leaf(position)?.get(slot(position, 0))?.as_ref()
    }

    /// The leaf whose slots hold `position`, if its path exists.
    fn leaf(&self, position: usize) -> Option<&Arc<[Option<T>; WIDTH]>> {
        let mut node = self.root.as_ref()?;
        let mut height = self.height;
        loop {
            match node {
                Node::Branch(children) => {
                    node = children.get(slot(position, height))?.as_ref()?;
                    height = height.checked_sub(1)?;
                }
                Node::Leaf(items) => return Some(items),
            }
        }
    }

    /// The record at `position`, for changing it (the nodes a snapshot shares are copied).
    pub(crate) fn get_mut(&mut self, position: usize) -> Option<&mut T> {
        if position >= self.len {
            return None;
        }
        self.slot_mut(position)?.as_mut()
    }

    /// Appends a record; its position is the length before.
    pub(crate) fn push(&mut self, record: T) {
        let capacity = WIDTH.checked_pow(self.height + 1).unwrap_or(usize::MAX);
        if self.root.is_some() && self.len == capacity {
            // INVARIANT (table-shape): full, so the old root becomes the first child of a new one.
            let mut children: [Option<Node<T>>; WIDTH] = std::array::from_fn(|_| None);
            if let Some(first) = children.first_mut() {
                *first = self.root.take();
            }
            self.root = Some(Node::Branch(Arc::new(children)));
            self.height += 1;
        }
        let position = self.len;
        if let Some(slot) = self.slot_mut(position) {
            *slot = Some(record);
            self.len += 1;
        }
    }

    /// Records in position order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        (0..self.len).filter_map(|position| self.get(position))
    }

    /// The slot for `position`, creating the nodes on its path.
    fn slot_mut(&mut self, position: usize) -> Option<&mut Option<T>> {
        let mut height = self.height;
        let mut node = self.root.get_or_insert_with(|| Node::empty(height));
        loop {
            match node {
                Node::Branch(children) => {
                    let child = Arc::make_mut(children).get_mut(slot(position, height))?;
                    height = height.checked_sub(1)?;
                    node = child.get_or_insert_with(|| Node::empty(height));
                }
                Node::Leaf(items) => return Arc::make_mut(items).get_mut(slot(position, 0)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_records_by_position_across_levels() {
        let mut table = Table::default();
        // Past one leaf and past one branch of leaves, so the root is replaced twice.
        let n = WIDTH * WIDTH + 3;
        for i in 0..n {
            table.push(i);
        }
        assert_eq!(table.len(), n);
        assert_eq!(table.height, 2);
        for i in [0, 1, WIDTH - 1, WIDTH, WIDTH * WIDTH - 1, WIDTH * WIDTH, n - 1] {
            assert_eq!(table.get(i), Some(&i));
        }
        assert_eq!(table.get(n), None);
        assert!(table.iter().copied().eq(0..n));
    }

    #[test]
    fn a_clone_keeps_its_records_when_the_original_changes() {
        let mut table = Table::default();
        for i in 0..300 {
            table.push(i);
        }
        let before = table.clone();
        *table.get_mut(7).unwrap() = 70;
        table.push(300);
        assert_eq!((before.get(7), before.len(), before.get(300)), (Some(&7), 300, None));
        assert_eq!((table.get(7), table.len(), table.get(300)), (Some(&70), 301, Some(&300)));
        assert_eq!(table.get_mut(301), None);
    }

    /// The leaf holding `position`, to see which nodes two tables share.
    fn leaf_of(table: &Table<usize>, position: usize) -> &Arc<[Option<usize>; WIDTH]> {
        table.leaf(position).unwrap()
    }

    #[test]
    fn a_change_copies_only_the_leaf_it_touches() {
        let mut table = Table::default();
        for i in 0..3 * WIDTH {
            table.push(i);
        }
        let before = table.clone();
        *table.get_mut(WIDTH + 5).unwrap() = 0;
        assert!(!Arc::ptr_eq(leaf_of(&before, WIDTH + 5), leaf_of(&table, WIDTH + 5)));
        assert!(Arc::ptr_eq(leaf_of(&before, 0), leaf_of(&table, 0)));
        assert!(Arc::ptr_eq(leaf_of(&before, 2 * WIDTH), leaf_of(&table, 2 * WIDTH)));
        // Nothing shares the copy any more: a second change to it copies nothing.
        let copied: *const _ = Arc::as_ptr(leaf_of(&table, WIDTH + 5));
        *table.get_mut(WIDTH + 6).unwrap() = 0;
        assert_eq!(Arc::as_ptr(leaf_of(&table, WIDTH + 6)), copied);
    }
}
