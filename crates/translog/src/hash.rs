//! RFC 6962 hashing: the [`Hash`](struct@crate::hash::Hash) newtype, leaf hashes and interior node hashes.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::encoding;

/// Size in bytes of a SHA-256 hash.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash([u8; HASH_SIZE]);

/// Why a text or byte string is not a [`Hash`](struct@crate::hash::Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// The text is not canonical standard base64.
    #[error("hash `{0}` is not valid base64")]
    InvalidBase64(String),
    /// The decoded value is not 32 bytes long.
    #[error("hash is {0} bytes long, expected 32")]
    WrongLength(usize),
}

impl Hash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }

    /// Copies a hash out of a slice that must be exactly 32 bytes long.
    ///
    /// # Errors
    /// [`HashParseError::WrongLength`] when the slice is not 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; HASH_SIZE]>::try_from(bytes).map(Self).map_err(|_| HashParseError::WrongLength(bytes.len()))
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Standard padded base64, the form used in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        encoding::base64_encode(&self.0)
    }

    /// Parses standard padded base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// [`HashParseError`] when the text is not canonical base64 or not 32 bytes long.
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = encoding::base64_decode(text).ok_or_else(|| HashParseError::InvalidBase64(text.to_owned()))?;
        Self::from_slice(&bytes)
    }

    /// The root of the empty tree, `SHA-256("")` (RFC 6962 §2.1).
    pub fn empty_tree() -> Self {
        Self(Sha256::digest([]).into())
    }

    /// Lowercase hex, handy in logs and test output.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    /// Displays as base64, the way the text formats spell a hash.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_base64())
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }
}

/// The RFC 6962 leaf hash of an entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    Hash(hasher.finalize().into())
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 6962 / Certificate Transparency known answers: the empty tree and the leaf hash of
        // the empty entry.
        let cases: &[(&str, Hash)] = &[
            ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hash::empty_tree()),
            ("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", leaf_hash(b"")),
        ];
        for (hex, hash) in cases {
            assert_eq!(hash.to_hex(), *hex);
        }
    }

    #[test]
    fn base64_round_trip_and_errors() {
        let hash = leaf_hash(b"portcullis");
        assert_eq!(Hash::from_base64(&hash.to_base64()), Ok(hash));
        assert_eq!(Hash::from_base64("AAAA"), Err(HashParseError::WrongLength(3)));
        assert!(matches!(Hash::from_base64("not base64!"), Err(HashParseError::InvalidBase64(_))));
    }
}
