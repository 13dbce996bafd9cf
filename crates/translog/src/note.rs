//! c2sp.org/signed-note: notes, signature lines, Ed25519 signer and verifier keys, and opening
//! (verifying) a note against a set of trusted keys.
//!
//! Keys are made from caller-provided 32-byte seeds; nothing here draws randomness.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::cosignature;
use crate::encoding;

/// Most signatures [`Note::parse`] accepts; the spec asks for at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// Prefix of a signature line: em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Prefix of the private key string form (Go x/mod convention, not part of the spec).
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The signature algorithms this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// Plain Ed25519 note signatures, type `0x01`.
    Ed25519,
    /// Timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature), type `0x04`.
    CosignatureV1,
}

impl KeyType {
    /// The signed-note signature type byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::CosignatureV1 => 0x04,
        }
    }

    /// The key type for a signature type byte, if supported.
    pub fn from_type_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::CosignatureV1),
            _ => None,
        }
    }
}

/// Errors parsing keys and notes, and verifying notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name that is empty or has a space, a plus or a control character.
    #[error("key name `{0}` is empty or contains a space, `+` or a control character")]
    InvalidKeyName(String),
    /// A key string that does not have the `name+id+key` shape.
    #[error("key string is not of the form `name+hex id+base64 key`")]
    MalformedKey,
    /// A key whose stated id does not match its name and key material.
    #[error("key id `{stated}` does not match the key for `{name}`")]
    KeyIdMismatch {
        /// Key name.
        name: String,
        /// The id written in the key string.
        stated: String,
    },
    /// A key of an unsupported signature type.
    #[error("signature type 0x{0:02x} is not supported")]
    UnsupportedKeyType(u8),
    /// Key bytes that are not a valid Ed25519 key.
    #[error("key material is not a valid ed25519 key")]
    InvalidKeyMaterial,
    /// Note text that is empty or does not end in a newline.
    #[error("note text is empty or does not end with a newline")]
    MalformedText,
    /// A control character other than newline.
    #[error("note contains a control character")]
    ControlCharacter,
    /// No blank line separating text and signatures.
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    /// No signature lines.
    #[error("note has no signatures")]
    NoSignatures,
    /// A line in the signature block that is not a signature line.
    #[error("malformed signature line `{0}`")]
    MalformedSignatureLine(String),
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {0} signatures")]
    TooManySignatures(usize),
    /// A signature by a trusted key (name and id) that does not verify.
    #[error("signature by trusted key `{name}` ({key_id:08x}) does not verify")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature by any trusted key.
    #[error("note has no signature by a trusted key")]
    NoTrustedSignature,
    /// A cosignature timestamp above `2^63 - 1`.
    #[error("cosignature timestamp {0} is above 2^63 - 1")]
    TimestampTooLarge(u64),
}

/// True when `name` is a valid key name: non-empty, no Unicode space, no `+`, no control
/// character.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|character| character.is_whitespace() || character == '+' || character.is_control())
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// The recommended key id: `SHA-256(name || 0x0A || type byte || public key)[:4]`, big-endian.
pub fn key_id(name: &str, key_type: KeyType, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', key_type.type_byte()]);
    hasher.update(public_key);
    let digest: [u8; 32] = hasher.finalize().into();
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

/// One signature line: key name, key id and the signature bytes after the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature by key `name`/`key_id`; `signature` excludes the 4-byte id.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`] or [`NoteError::MalformedSignatureLine`] for an empty
    /// signature.
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if signature.is_empty() {
            return Err(NoteError::MalformedSignatureLine(name.to_owned()));
        }
        Ok(Self { name: name.to_owned(), key_id, signature })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signature line, `— <name> <base64(id || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut bytes = self.key_id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, encoding::base64_encode(&bytes))
    }

    /// Parses one signature line, with or without its final newline.
    ///
    /// # Errors
    /// [`NoteError::MalformedSignatureLine`] or [`NoteError::InvalidKeyName`].
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let malformed = || NoteError::MalformedSignatureLine(line.to_owned());
        let body = line.strip_suffix('\n').unwrap_or(line);
        let rest = body.strip_prefix(SIGNATURE_PREFIX).ok_or_else(malformed)?;
        let (name, encoded) = rest.split_once(' ').ok_or_else(malformed)?;
        check_key_name(name)?;
        let bytes = encoding::base64_decode(encoded).ok_or_else(malformed)?;
        let Some((id, signature)) = bytes.split_first_chunk::<4>() else {
            return Err(malformed());
        };
        if signature.is_empty() {
            return Err(malformed());
        }
        Ok(Self { name: name.to_owned(), key_id: u32::from_be_bytes(*id), signature: signature.to_vec() })
    }
}

/// A note: text plus signature lines (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// A signature that verified against a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// Algorithm.
    pub key_type: KeyType,
    /// Cosignature timestamp (POSIX seconds), for [`KeyType::CosignatureV1`].
    pub timestamp: Option<u64>,
}

/// A note whose signatures were checked: at least one trusted key verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The note.
    pub note: Note,
    /// The signatures by trusted keys, all of which verified, in note order.
    pub verified: Vec<VerifiedSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::MalformedText);
    }
    if encoding::has_forbidden_control(text) {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

impl Note {
    /// An unsigned note with `text`, which must end in a newline.
    ///
    /// # Errors
    /// [`NoteError::MalformedText`] or [`NoteError::ControlCharacter`].
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Self { text: text.to_owned(), signatures: Vec::new() })
    }

    /// Parses a signed note without verifying anything.
    ///
    /// The text ends at the last blank line; every line after it must be a signature line.
    ///
    /// # Errors
    /// [`NoteError`] naming the structural problem.
    pub fn parse(message: &str) -> Result<Self, NoteError> {
        if encoding::has_forbidden_control(message) {
            return Err(NoteError::ControlCharacter);
        }
        let split = message.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, rest) = message.split_at(split + 1);
        let block = rest.strip_prefix('\n').unwrap_or(rest);
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let block = block.strip_suffix('\n').ok_or_else(|| NoteError::MalformedSignatureLine(block.to_owned()))?;
        let mut signatures = Vec::new();
        for line in block.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures(MAX_SIGNATURES));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        check_text(text)?;
        Ok(Self { text: text.to_owned(), signatures })
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature, replacing any earlier one with the same key name and id.
    pub fn add_signature(&mut self, signature: NoteSignature) {
        self.signatures.retain(|old| old.name != signature.name || old.key_id != signature.key_id);
        self.signatures.push(signature);
    }

    /// The signed-note message: text, blank line, signature lines.
    pub fn to_message(&self) -> String {
        let mut message = self.text.clone();
        message.push('\n');
        for signature in &self.signatures {
            message.push_str(&signature.to_line());
        }
        message
    }

    /// Checks the signatures against trusted keys.
    ///
    /// Signatures by unknown keys (no verifier with both the name and id) are ignored; a
    /// signature by a trusted key that fails rejects the note; at least one must verify.
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] or [`NoteError::NoTrustedSignature`].
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for signature in &self.signatures {
            let Some(verifier) = verifiers.iter().find(|v| v.name == signature.name && v.key_id == signature.key_id)
            else {
                continue;
            };
            let timestamp = verifier.verify(&self.text, &signature.signature)?;
            let duplicate = verified.iter().any(|v| v.name == signature.name && v.key_id == signature.key_id);
            if !duplicate {
                verified.push(VerifiedSignature {
                    name: signature.name.clone(),
                    key_id: signature.key_id,
                    key_type: verifier.key_type,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_message())
    }
}

/// Parses a signed note and verifies it against trusted keys (see [`Note::verify`]).
///
/// # Errors
/// [`NoteError`] from parsing or verification.
pub fn open(message: &str, verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let note = Note::parse(message)?;
    let verified = note.verify(verifiers)?;
    Ok(VerifiedNote { note, verified })
}

/// Splits `name+hex id+base64(type || key)` and checks the id.
fn parse_key_string(text: &str) -> Result<(String, u32, KeyType, [u8; 32]), NoteError> {
    // Base64 may contain `+`, so only the first two are separators (names cannot contain one).
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_text), Some(key_text)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::MalformedKey);
    };
    check_key_name(name)?;
    if id_text.len() != 8 || !id_text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(NoteError::MalformedKey);
    }
    let stated_id = u32::from_str_radix(id_text, 16).map_err(|_| NoteError::MalformedKey)?;
    let bytes = encoding::base64_decode(key_text).ok_or(NoteError::MalformedKey)?;
    let Some((&type_byte, key)) = bytes.split_first() else {
        return Err(NoteError::MalformedKey);
    };
    let key_type = KeyType::from_type_byte(type_byte).ok_or(NoteError::UnsupportedKeyType(type_byte))?;
    let key: [u8; 32] = key.try_into().map_err(|_| NoteError::InvalidKeyMaterial)?;
    Ok((name.to_owned(), stated_id, key_type, key))
}

fn format_key_string(name: &str, key_id: u32, key_type: KeyType, key: &[u8; 32]) -> String {
    let mut bytes = vec![key_type.type_byte()];
    bytes.extend_from_slice(key);
    format!("{name}+{key_id:08x}+{}", encoding::base64_encode(&bytes))
}

/// An Ed25519 signing key of either [`KeyType`], with its name and key id.
///
/// `Debug` never prints the seed.
#[derive(Clone)]
pub(crate) struct Ed25519Key {
    pub(crate) name: String,
    pub(crate) key_id: u32,
    pub(crate) key_type: KeyType,
    pub(crate) signing_key: SigningKey,
}

impl Ed25519Key {
    pub(crate) fn from_seed(name: &str, key_type: KeyType, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let signing_key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key_type, signing_key.verifying_key().as_bytes());
        Ok(Self { name: name.to_owned(), key_id, key_type, signing_key })
    }

    pub(crate) fn parse(text: &str, expected: KeyType) -> Result<Self, NoteError> {
        let rest = text.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(NoteError::MalformedKey)?;
        let (name, stated_id, key_type, seed) = parse_key_string(rest)?;
        if key_type != expected {
            return Err(NoteError::UnsupportedKeyType(key_type.type_byte()));
        }
        let key = Self::from_seed(&name, key_type, &seed)?;
        if key.key_id != stated_id {
            return Err(NoteError::KeyIdMismatch { name, stated: format!("{stated_id:08x}") });
        }
        Ok(key)
    }

    pub(crate) fn to_private_string(&self) -> String {
        format!(
            "{PRIVATE_KEY_PREFIX}{}",
            format_key_string(&self.name, self.key_id, self.key_type, self.signing_key.as_bytes())
        )
    }

    pub(crate) fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key_type: self.key_type,
            public_key: self.signing_key.verifying_key(),
        }
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Ed25519Key")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A log's Ed25519 note signer (type `0x01`). The key name should equal the log's origin.
#[derive(Clone, Debug)]
pub struct NoteSigner {
    key: Ed25519Key,
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (the caller draws it from a CSPRNG or a secret
    /// store).
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        Ed25519Key::from_seed(name, KeyType::Ed25519, seed).map(|key| Self { key })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    ///
    /// # Errors
    /// [`NoteError`] when malformed, of another type, or when the id does not match.
    pub fn parse(private_key: &str) -> Result<Self, NoteError> {
        Ed25519Key::parse(private_key, KeyType::Ed25519).map(|key| Self { key })
    }

    /// The private key string. It contains the secret seed: store it like a password.
    pub fn to_private_key_string(&self) -> String {
        self.key.to_private_string()
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    /// Signs note text (which must end in a newline).
    ///
    /// # Errors
    /// [`NoteError::MalformedText`] or [`NoteError::ControlCharacter`].
    pub fn sign(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.key.name.clone(),
            key_id: self.key.key_id,
            signature: self.key.sign_bytes(text.as_bytes()).to_vec(),
        })
    }

    /// Signs `text` and returns the whole signed-note message.
    ///
    /// # Errors
    /// As [`NoteSigner::sign`].
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        let mut note = Note::new(text)?;
        note.add_signature(self.sign(text)?);
        Ok(note.to_message())
    }
}

/// A trusted public key: name, id, algorithm and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key_type: KeyType,
    public_key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier from raw key material, with the recommended key id.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`] or [`NoteError::InvalidKeyMaterial`].
    pub fn from_public_key(name: &str, key_type: KeyType, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let public_key = VerifyingKey::from_bytes(public_key).map_err(|_| NoteError::InvalidKeyMaterial)?;
        Ok(Self { name: name.to_owned(), key_id: key_id(name, key_type, public_key.as_bytes()), key_type, public_key })
    }

    /// Parses a vkey, `<name>+<hex id>+<base64(type || key)>`, for type `0x01` or `0x04`.
    ///
    /// # Errors
    /// [`NoteError`] when malformed, unsupported, or when the id does not match.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, stated_id, key_type, key) = parse_key_string(vkey)?;
        let verifier = Self::from_public_key(&name, key_type, &key)?;
        if verifier.key_id != stated_id {
            return Err(NoteError::KeyIdMismatch { name, stated: format!("{stated_id:08x}") });
        }
        Ok(verifier)
    }

    /// The vkey string.
    pub fn to_vkey_string(&self) -> String {
        format_key_string(&self.name, self.key_id, self.key_type, self.public_key.as_bytes())
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.public_key.as_bytes()
    }

    /// Verifies `signature` (without the key id) over note `text`; for a cosignature returns
    /// its timestamp.
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] when it does not verify,
    /// [`NoteError::TimestampTooLarge`] for a cosignature timestamp above `2^63 - 1`.
    pub fn verify(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, NoteError> {
        let invalid = || NoteError::InvalidSignature { name: self.name.clone(), key_id: self.key_id };
        match self.key_type {
            KeyType::Ed25519 => {
                let signature = Signature::from_slice(signature).map_err(|_| invalid())?;
                self.public_key.verify_strict(text.as_bytes(), &signature).map_err(|_| invalid())?;
                Ok(None)
            }
            KeyType::CosignatureV1 => {
                let (timestamp, signature) = signature.split_first_chunk::<8>().ok_or_else(invalid)?;
                let timestamp = u64::from_be_bytes(*timestamp);
                if timestamp > cosignature::MAX_TIMESTAMP {
                    return Err(NoteError::TimestampTooLarge(timestamp));
                }
                let signature = Signature::from_slice(signature).map_err(|_| invalid())?;
                let message = cosignature::cosignature_message(text, timestamp);
                self.public_key.verify_strict(message.as_bytes(), &signature).map_err(|_| invalid())?;
                Ok(Some(timestamp))
            }
        }
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("NoteVerifier").field(&self.to_vkey_string()).finish()
    }
}
