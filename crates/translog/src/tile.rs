//! C2SP tlog-tiles: tile and entry-bundle identities, their paths, which of them exist for a
//! tree size, building a tile's bytes from stored hashes, reading hashes back out of tiles,
//! and the entry-bundle framing.
//!
//! Paths follow c2sp.org/tlog-tiles (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`), not
//! Go sumdb's `tile/8/<L>/<N>` layout.

use std::fmt;
use std::ops::Range;

use crate::hash::{HASH_SIZE, Hash, node_hash};
use crate::tree::{HashReader, TreeError, split_stored_hash_index, stored_hash_index};

/// Tile height: each tile spans 8 levels of the tree.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile (`2^TILE_HEIGHT`).
pub const FULL_TILE_WIDTH: u16 = 256;
/// Largest entry an entry bundle can frame (16-bit length prefix).
pub const MAX_ENTRY_LEN: usize = 65_535;
/// Highest tile level the path format allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// Errors about tiles, bundles and their paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A tile level above 63.
    #[error("tile level {0} is above 63")]
    LevelTooHigh(u8),
    /// A width of 0 or above 256.
    #[error("tile width {0} is not between 1 and 256")]
    BadWidth(u16),
    /// A path that is not a C2SP tile or entry-bundle path.
    #[error("`{0}` is not a tile path")]
    BadPath(String),
    /// Tile data of the wrong length.
    #[error("tile `{path}` is {len} bytes, expected {expected}")]
    WrongLength {
        /// Tile path.
        path: String,
        /// Actual length.
        len: usize,
        /// Expected length.
        expected: usize,
    },
    /// A stored hash that this tile does not contain.
    #[error("stored hash {index} is not in tile `{path}`")]
    NotInTile {
        /// Stored-hash index.
        index: u64,
        /// Tile path.
        path: String,
    },
    /// An entry longer than 65,535 bytes.
    #[error("entry {position} is {len} bytes, more than the 65535 allowed")]
    EntryTooLarge {
        /// Position in the bundle.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// More than 256 entries for one bundle.
    #[error("bundle has {0} entries, more than 256")]
    TooManyEntries(usize),
    /// A bundle whose framing is cut short.
    #[error("entry bundle is truncated at byte {0}")]
    TruncatedBundle(usize),
}

/// A hash tile: level `L`, index `N` within the level, and width `W` (256 when full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

/// An entry bundle: index `N` and width `W` (256 when full); entry `i` of bundle `N` is leaf
/// `N * 256 + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId {
    index: u64,
    width: u16,
}

/// A parsed tile-space path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes(TileId),
    /// `tile/entries/<N>[.p/<W>]`.
    Entries(BundleId),
}

fn check_width(width: u16) -> Result<(), TileError> {
    if width == 0 || width > FULL_TILE_WIDTH {
        return Err(TileError::BadWidth(width));
    }
    Ok(())
}

impl TileId {
    /// A tile at `level` (0 holds leaf hashes), `index` within the level, `width` hashes.
    ///
    /// # Errors
    /// [`TileError::LevelTooHigh`] or [`TileError::BadWidth`].
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, TileError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileError::LevelTooHigh(level));
        }
        check_width(width)?;
        Ok(Self { level, index, width })
    }

    /// Tile level `L`.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Index `N` within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Width `W` in hashes (256 when full).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// True for a full (256-hash) tile.
    pub fn is_full(&self) -> bool {
        self.width == FULL_TILE_WIDTH
    }

    /// Length in bytes of this tile's data.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_SIZE
    }

    /// The same tile at full width.
    pub fn to_full(&self) -> Self {
        Self { width: FULL_TILE_WIDTH, ..*self }
    }

    /// The C2SP path, `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, format_index_width(self.index, self.width))
    }

    /// Stored-tree level of this tile's own hashes (`8 * L`).
    fn stored_level(&self) -> u8 {
        self.level.saturating_mul(TILE_HEIGHT)
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.path())
    }
}

impl BundleId {
    /// Bundle `index` with `width` entries.
    ///
    /// # Errors
    /// [`TileError::BadWidth`].
    pub fn new(index: u64, width: u16) -> Result<Self, TileError> {
        check_width(width)?;
        Ok(Self { index, width })
    }

    /// The bundle holding `leaf_idx` in a tree of `tree_size` leaves, if the leaf exists.
    pub fn for_leaf(leaf_idx: u64, tree_size: u64) -> Option<Self> {
        if leaf_idx >= tree_size {
            return None;
        }
        let index = leaf_idx / u64::from(FULL_TILE_WIDTH);
        let available = tree_size - index * u64::from(FULL_TILE_WIDTH);
        let width = u16::try_from(available.min(u64::from(FULL_TILE_WIDTH))).ok()?;
        Some(Self { index, width })
    }

    /// Index `N`.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Width `W` in entries (256 when full).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// True for a full (256-entry) bundle.
    pub fn is_full(&self) -> bool {
        self.width == FULL_TILE_WIDTH
    }

    /// The same bundle at full width.
    pub fn to_full(&self) -> Self {
        Self { width: FULL_TILE_WIDTH, ..*self }
    }

    /// Leaf index of this bundle's first entry.
    pub fn first_leaf(&self) -> u64 {
        self.index.saturating_mul(u64::from(FULL_TILE_WIDTH))
    }

    /// The C2SP path, `tile/entries/<N>` or `tile/entries/<N>.p/<W>`.
    pub fn path(&self) -> String {
        format!("tile/entries/{}", format_index_width(self.index, self.width))
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.path())
    }
}

impl TilePath {
    /// Parses a C2SP tile or entry-bundle path (relative to the log prefix) strictly: only the
    /// canonical spelling is accepted.
    ///
    /// # Errors
    /// [`TileError::BadPath`].
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (index_text, width) = match rest.split_once(".p/") {
            Some((index_text, width_text)) => {
                let width = crate::encoding::parse_decimal(width_text)
                    .and_then(|width| u16::try_from(width).ok())
                    .filter(|width| (1..FULL_TILE_WIDTH).contains(width))
                    .ok_or_else(bad)?;
                (index_text, width)
            }
            None => (rest, FULL_TILE_WIDTH),
        };
        let index = parse_tile_index(index_text).ok_or_else(bad)?;
        if kind == "entries" {
            return Ok(Self::Entries(BundleId { index, width }));
        }
        let level = crate::encoding::parse_decimal(kind)
            .and_then(|level| u8::try_from(level).ok())
            .filter(|&level| level <= MAX_TILE_LEVEL)
            .ok_or_else(bad)?;
        Ok(Self::Hashes(TileId { level, index, width }))
    }

    /// The canonical path.
    pub fn path(&self) -> String {
        match self {
            Self::Hashes(tile) => tile.path(),
            Self::Entries(bundle) => bundle.path(),
        }
    }
}

/// Encodes a tile index as C2SP three-digit groups: `1234067` becomes `x001/x234/067`.
pub fn format_tile_index(index: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = index;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::new();
    for (position, group) in groups.iter().rev().enumerate() {
        if position + 1 < groups.len() {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    out
}

fn format_index_width(index: u64, width: u16) -> String {
    let index = format_tile_index(index);
    if width >= FULL_TILE_WIDTH { index } else { format!("{index}.p/{width}") }
}

/// Parses the canonical three-digit-group form of a tile index.
fn parse_tile_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    let (last, leading) = groups.split_last()?;
    let mut value: u64 = 0;
    for (position, group) in leading.iter().enumerate() {
        let digits = group.strip_prefix('x')?;
        let group_value = parse_group(digits)?;
        if position == 0 && group_value == 0 {
            // `x000/...` would be a second spelling of a smaller index.
            return None;
        }
        value = value.checked_mul(1000)?.checked_add(group_value)?;
    }
    value.checked_mul(1000)?.checked_add(parse_group(last)?)
}

fn parse_group(digits: &str) -> Option<u64> {
    if digits.len() != 3 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The tiles that appear or change when a tree grows from `old_size` to `new_size`: every new
/// full tile plus, per level, the partial tile at the right edge (if any).
///
/// With `old_size == 0` this lists every tile of a `new_size` tree. Unlike Go's
/// `tlog.NewTiles`, which lists every intermediate partial width (sumdb serves them all), this
/// lists only the partial tile for `new_size`: C2SP logs serve partial tiles for the sizes they
/// checkpointed, so call this once per checkpoint.
pub fn tiles_for_growth(old_size: u64, new_size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    let height = u32::from(TILE_HEIGHT);
    for level in 0..=MAX_TILE_LEVEL {
        let shift = height * u32::from(level);
        let new_n = new_size.checked_shr(shift).unwrap_or(0);
        if new_n == 0 {
            break;
        }
        let old_n = old_size.checked_shr(shift).unwrap_or(0);
        if old_n == new_n {
            continue;
        }
        for index in (old_n >> height)..(new_n >> height) {
            tiles.push(TileId { level, index, width: FULL_TILE_WIDTH });
        }
        let index = new_n >> height;
        let width = new_n - (index << height);
        if let Ok(width @ 1..) = u16::try_from(width) {
            tiles.push(TileId { level, index, width });
        }
    }
    tiles
}

/// Every tile of a tree of `tree_size` leaves (full tiles and the right-edge partial tiles).
pub fn tiles_for_size(tree_size: u64) -> Vec<TileId> {
    tiles_for_growth(0, tree_size)
}

/// The entry bundles that appear or change when a tree grows from `old_size` to `new_size`.
pub fn bundles_for_growth(old_size: u64, new_size: u64) -> Vec<BundleId> {
    tiles_for_growth(old_size, new_size)
        .into_iter()
        .filter(|tile| tile.level == 0)
        .map(|tile| BundleId { index: tile.index, width: tile.width })
        .collect()
}

/// The right-edge-truncated tile of a `tree_size` tree at `level`, `index`, if it exists.
pub fn tile_in_tree(level: u8, index: u64, tree_size: u64) -> Option<TileId> {
    let hashes_at_level = tree_size.checked_shr(u32::from(TILE_HEIGHT) * u32::from(level))?;
    let available = hashes_at_level.checked_sub(index.checked_mul(u64::from(FULL_TILE_WIDTH))?)?;
    let width = u16::try_from(available.min(u64::from(FULL_TILE_WIDTH))).ok()?;
    TileId::new(level, index, width).ok()
}

/// Locates a stored hash in tile space: the smallest tile holding it, and the byte range of
/// the tile data that hashes to it.
///
/// Hashes at stored levels `8L..8L+7` all come from tile level `L`: level `8L` is stored in the
/// tile directly, the levels above are recomputed from runs of `2^k` adjacent tile hashes.
pub fn tile_for_stored_index(index: u64) -> (TileId, Range<usize>) {
    let (level, n) = split_stored_hash_index(index);
    let tile_level = level / TILE_HEIGHT;
    let sub_level = u32::from(level - tile_level * TILE_HEIGHT);
    let height = u32::from(TILE_HEIGHT);
    let tile_index = (n << sub_level) >> height;
    let n_in_tile = n.wrapping_sub((tile_index << height) >> sub_level);
    let start = n_in_tile << sub_level;
    let end = n_in_tile.wrapping_add(1) << sub_level;
    let width = u16::try_from(end).unwrap_or(FULL_TILE_WIDTH);
    let tile = TileId { level: tile_level, index: tile_index, width };
    let to_bytes = |hashes: u64| usize::try_from(hashes).unwrap_or(usize::MAX) * HASH_SIZE;
    (tile, to_bytes(start)..to_bytes(end))
}

/// Reads the stored hash `index` out of the data of `tile`.
///
/// # Errors
/// [`TileError::WrongLength`] when `data` is not `tile.width() * 32` bytes, or
/// [`TileError::NotInTile`].
pub fn hash_from_tile(tile: &TileId, data: &[u8], index: u64) -> Result<Hash, TileError> {
    if data.len() != tile.byte_len() {
        return Err(TileError::WrongLength { path: tile.path(), len: data.len(), expected: tile.byte_len() });
    }
    let (needed, range) = tile_for_stored_index(index);
    if needed.level != tile.level || needed.index != tile.index || needed.width > tile.width {
        return Err(TileError::NotInTile { index, path: tile.path() });
    }
    let bytes = data.get(range).ok_or_else(|| TileError::NotInTile { index, path: tile.path() })?;
    Ok(hash_of_tile_range(bytes))
}

/// The Merkle hash of a run of `2^k` tile hashes (the whole data of a full tile gives the hash
/// stored one tile level up).
pub fn hash_of_tile_range(data: &[u8]) -> Hash {
    let mut level: Vec<Hash> = data.chunks_exact(HASH_SIZE).filter_map(|chunk| Hash::from_slice(chunk).ok()).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => Hash::empty_tree(),
            })
            .collect();
    }
    level.first().copied().unwrap_or_else(Hash::empty_tree)
}

/// Builds a tile's bytes from stored hashes: `width` hashes of stored level `8L`, concatenated.
///
/// # Errors
/// A reader failure.
pub fn read_tile(tile: &TileId, reader: &(impl HashReader + ?Sized)) -> Result<Vec<u8>, TreeError> {
    let first = tile.index << TILE_HEIGHT;
    let indexes: Vec<u64> =
        (0..u64::from(tile.width)).map(|offset| stored_hash_index(tile.stored_level(), first + offset)).collect();
    let hashes = reader.read_hashes(&indexes).map_err(TreeError::Read)?;
    if hashes.len() != indexes.len() {
        return Err(TreeError::ReaderCount { wanted: indexes.len(), got: hashes.len() });
    }
    Ok(hashes.iter().flat_map(|hash| *hash.as_bytes()).collect())
}

/// Splits tile data into its hashes.
///
/// # Errors
/// [`TileError::WrongLength`] when the length is not a multiple of 32 between 32 and 8,192.
pub fn tile_hashes(data: &[u8]) -> Result<Vec<Hash>, TileError> {
    if data.is_empty() || !data.len().is_multiple_of(HASH_SIZE) || data.len() > usize::from(FULL_TILE_WIDTH) * HASH_SIZE
    {
        return Err(TileError::WrongLength {
            path: String::new(),
            len: data.len(),
            expected: usize::from(FULL_TILE_WIDTH) * HASH_SIZE,
        });
    }
    data.chunks_exact(HASH_SIZE)
        .map(|chunk| {
            Hash::from_slice(chunk).map_err(|_| TileError::WrongLength {
                path: String::new(),
                len: data.len(),
                expected: usize::from(FULL_TILE_WIDTH) * HASH_SIZE,
            })
        })
        .collect()
}

/// Frames entries as an entry bundle: each a big-endian `u16` length then its bytes.
///
/// # Errors
/// [`TileError::EntryTooLarge`] or [`TileError::TooManyEntries`].
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.len() > usize::from(FULL_TILE_WIDTH) {
        return Err(TileError::TooManyEntries(entries.len()));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for (position, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge { position, len: entry.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
///
/// # Errors
/// [`TileError::TruncatedBundle`] or [`TileError::TooManyEntries`].
pub fn decode_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let (len_bytes, tail) = rest.split_first_chunk::<2>().ok_or(TileError::TruncatedBundle(offset))?;
        let len = usize::from(u16::from_be_bytes(*len_bytes));
        let (entry, tail) = tail.split_at_checked(len).ok_or(TileError::TruncatedBundle(offset))?;
        entries.push(entry);
        if entries.len() > usize::from(FULL_TILE_WIDTH) {
            return Err(TileError::TooManyEntries(entries.len()));
        }
        rest = tail;
    }
    Ok(entries)
}
