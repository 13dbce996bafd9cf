//! Shared fixtures: an in-memory log over `Vec<Hash>` and a deterministic PRNG.

use std::collections::BTreeMap;

use portcullis_translog::tile::{bundles_for_growth, encode_bundle, read_tile, tiles_for_growth};
use portcullis_translog::tree::{append_entries, tree_hash};
use portcullis_translog::{Checkpoint, Hash, NoteSigner};

pub const ORIGIN: &str = "transparency.example.org/portcullis";
pub const LOG_SEED: [u8; 32] = [7; 32];
pub const WITNESS_SEED: [u8; 32] = [9; 32];

/// Deterministic entry `seq`.
pub fn entry(seq: u64) -> Vec<u8> {
    format!("{{\"v\":1,\"seq\":{seq},\"kind\":\"decision\"}}").into_bytes()
}

/// xorshift64*: deterministic, dependency-free randomness for "random" sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// An in-memory log: stored hashes in a `Vec`, entries alongside.
#[derive(Default, Clone)]
pub struct MemLog {
    pub hashes: Vec<Hash>,
    pub entries: Vec<Vec<u8>>,
}

impl MemLog {
    pub fn with_entries(entries: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let mut log = Self::default();
        let entries: Vec<Vec<u8>> = entries.into_iter().collect();
        for batch in entries.chunks(97) {
            log.append(batch);
        }
        log
    }

    pub fn append(&mut self, batch: &[Vec<u8>]) {
        let appended = append_entries(self.size(), batch, &self.hashes).unwrap();
        assert_eq!(appended.first_stored_index, self.hashes.len() as u64);
        self.hashes.extend(appended.stored_hashes);
        self.entries.extend(batch.iter().cloned());
        assert_eq!(appended.new_size, self.size());
    }

    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn root(&self) -> Hash {
        tree_hash(self.size(), &self.hashes).unwrap()
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(ORIGIN, self.size(), self.root()).unwrap()
    }

    pub fn signed_checkpoint(&self) -> String {
        let signer = NoteSigner::from_seed(ORIGIN, &LOG_SEED).unwrap();
        signer.sign_note(&self.checkpoint().to_text()).unwrap()
    }

    /// Writes the tiles and bundles that appear when the tree grew from `old_size` to now.
    pub fn publish(&self, old_size: u64, out: &mut BTreeMap<String, Vec<u8>>) {
        for tile in tiles_for_growth(old_size, self.size()) {
            out.insert(tile.path(), read_tile(&tile, &self.hashes).unwrap());
        }
        for bundle in bundles_for_growth(old_size, self.size()) {
            let first = bundle.first_leaf() as usize;
            let entries = &self.entries[first..first + usize::from(bundle.width())];
            out.insert(bundle.path(), encode_bundle(entries).unwrap());
        }
    }

    pub fn tiles(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        self.publish(0, &mut out);
        out
    }
}

/// Flips one character inside the Ed25519 part of the last signature line (not its key id).
pub fn tamper_signature(message: &str) -> String {
    let mut chars: Vec<char> = message.chars().collect();
    let position = chars.len() - 6;
    chars[position] = if chars[position] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
