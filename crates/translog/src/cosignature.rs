//! c2sp.org/tlog-cosignature v1 for Ed25519 (signature type `0x04`): timestamped witness
//! cosignatures over a checkpoint.
//!
//! The signed message is `cosignature/v1\ntime <T>\n` followed by the whole checkpoint note
//! text; the signature bytes are `u64 big-endian timestamp || 64-byte Ed25519 signature`.
//! Verification lives in [`crate::note::NoteVerifier::verify`] so that a log key and witness
//! keys can open one note together.

use crate::note::{Ed25519Key, KeyType, NoteError, NoteSignature, NoteVerifier};

/// Largest timestamp the spec allows, `2^63 - 1`.
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// The domain-separation header line, without its newline.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1";

/// The message an Ed25519 v1 cosignature signs: header, time line, then the note text.
pub fn cosignature_message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}\ntime {timestamp}\n{checkpoint_text}")
}

/// A witness's Ed25519 cosigning key (type `0x04`).
#[derive(Clone, Debug)]
pub struct CosignatureSigner {
    key: Ed25519Key,
}

impl CosignatureSigner {
    /// A cosigner from a 32-byte Ed25519 seed provided by the caller.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        Ed25519Key::from_seed(name, KeyType::CosignatureV1, seed).map(|key| Self { key })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || seed)>` (the private-key form of
    /// signed-note keys, applied to type `0x04`; not itself specified by C2SP).
    ///
    /// # Errors
    /// [`NoteError`] when malformed, of another type, or when the id does not match.
    pub fn parse(private_key: &str) -> Result<Self, NoteError> {
        Ed25519Key::parse(private_key, KeyType::CosignatureV1).map(|key| Self { key })
    }

    /// The private key string. It contains the secret seed.
    pub fn to_private_key_string(&self) -> String {
        self.key.to_private_string()
    }

    /// Cosigner name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// Key id, `SHA-256(name || 0x0A || 0x04 || public key)[:4]`.
    pub fn key_id(&self) -> u32 {
        self.key.key_id
    }

    /// The matching verifier (its vkey uses type byte `0x04`).
    pub fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    /// Cosigns checkpoint note text at `timestamp` (POSIX seconds, supplied by the caller).
    ///
    /// # Errors
    /// [`NoteError::TimestampTooLarge`], [`NoteError::MalformedText`] or
    /// [`NoteError::ControlCharacter`].
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(NoteError::TimestampTooLarge(timestamp));
        }
        // Reuse the note-text rules so a cosignature is never made over text no note can carry.
        crate::note::Note::new(checkpoint_text)?;
        let message = cosignature_message(checkpoint_text, timestamp);
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.key.sign_bytes(message.as_bytes()));
        NoteSignature::new(&self.key.name, self.key.key_id, bytes)
    }
}
