//! Writes a deterministic log fixture for the cross-implementation check (`go-verify/run.sh`).
//!
//! Usage: `cargo run --example write_fixture -- <directory>`
//!
//! The directory gets the C2SP tiles and entry bundles of a 3,000-entry log (including the
//! partial tiles of the earlier 1,234-entry checkpoint), the log's and a witness's vkeys, both
//! checkpoints (signed by the log and cosigned by the witness through the in-memory witness),
//! a tlog-proof receipt for one entry with the entry's bytes, and the add-checkpoint body that
//! proves the new checkpoint consistent with the old one.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use portcullis_translog::cosignature::CosignatureSigner;
use portcullis_translog::note::{Note, NoteSigner};
use portcullis_translog::proof::TlogProof;
use portcullis_translog::tile::{bundles_for_growth, encode_bundle, read_tile, tiles_for_growth};
use portcullis_translog::tree::{append_entries, prove_consistency, prove_inclusion, tree_hash};
use portcullis_translog::witness::{AddCheckpointRequest, Witness};
use portcullis_translog::{Checkpoint, Hash};

const ORIGIN: &str = "transparency.example.org/portcullis";
const WITNESS: &str = "witness.example.org/w1";
const OLD_SIZE: u64 = 1234;
const NEW_SIZE: u64 = 3000;
const RECEIPT_INDEX: u64 = 2024;
/// Fixed cosignature times, so the fixture is byte-for-byte reproducible.
const OLD_TIME: u64 = 1_767_225_600;
const NEW_TIME: u64 = 1_767_225_660;

/// Entry `seq`: canonical-looking JSON of varying length, as the gateway will log.
fn entry(seq: u64) -> Vec<u8> {
    let padding = "x".repeat(usize::try_from(seq % 97).unwrap_or(0));
    format!("{{\"v\":1,\"seq\":{seq},\"kind\":\"decision\",\"note\":\"{padding}\"}}").into_bytes()
}

struct Log {
    hashes: Vec<Hash>,
    entries: Vec<Vec<u8>>,
}

impl Log {
    fn grow(&mut self, to: u64, files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), Box<dyn Error>> {
        let old = self.entries.len() as u64;
        let batch: Vec<Vec<u8>> = (old..to).map(entry).collect();
        let appended = append_entries(old, &batch, &self.hashes)?;
        self.hashes.extend(appended.stored_hashes);
        self.entries.extend(batch);
        for tile in tiles_for_growth(old, to) {
            files.insert(tile.path(), read_tile(&tile, &self.hashes)?);
        }
        for bundle in bundles_for_growth(old, to) {
            let first = usize::try_from(bundle.first_leaf())?;
            let last = first + usize::from(bundle.width());
            let entries = self.entries.get(first..last).ok_or("bundle out of range")?;
            files.insert(bundle.path(), encode_bundle(entries)?);
        }
        Ok(())
    }

    fn checkpoint(&self, size: u64) -> Result<Checkpoint, Box<dyn Error>> {
        Ok(Checkpoint::new(ORIGIN, size, tree_hash(size, &self.hashes)?)?)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: write_fixture <directory>")?;
    let dir = Path::new(&dir);
    let log_signer = NoteSigner::from_seed(ORIGIN, &[7; 32])?;
    let cosigner = CosignatureSigner::from_seed(WITNESS, &[9; 32])?;
    let mut witness = Witness::new(cosigner.clone());
    witness.add_log(ORIGIN, vec![log_signer.verifier()]);

    let mut files = BTreeMap::new();
    let mut log = Log { hashes: Vec::new(), entries: Vec::new() };

    // Checkpoint 1 at OLD_SIZE, cosigned from the witness's empty state.
    log.grow(OLD_SIZE, &mut files)?;
    let old_text = log.checkpoint(OLD_SIZE)?.to_text();
    let mut old_note = Note::parse(&log_signer.sign_note(&old_text)?)?;
    let request = AddCheckpointRequest::new(0, Vec::new(), &old_note.to_message())?;
    old_note.add_signature(witness.handle_add_checkpoint(&request, OLD_TIME)?);

    // Checkpoint 2 at NEW_SIZE, cosigned after a consistency proof from OLD_SIZE.
    log.grow(NEW_SIZE, &mut files)?;
    let new_text = log.checkpoint(NEW_SIZE)?.to_text();
    let mut new_note = Note::parse(&log_signer.sign_note(&new_text)?)?;
    let proof = prove_consistency(NEW_SIZE, OLD_SIZE, &log.hashes)?;
    let request = AddCheckpointRequest::new(OLD_SIZE, proof, &new_note.to_message())?;
    new_note.add_signature(witness.handle_add_checkpoint(&request, NEW_TIME)?);

    let inclusion = prove_inclusion(NEW_SIZE, RECEIPT_INDEX, &log.hashes)?;
    let receipt = TlogProof::new(RECEIPT_INDEX, inclusion, &new_note.to_message())?;

    files.insert("log.vkey".into(), format!("{}\n", log_signer.verifier().to_vkey_string()).into_bytes());
    files.insert("witness.vkey".into(), format!("{}\n", cosigner.verifier().to_vkey_string()).into_bytes());
    files.insert("checkpoint".into(), new_note.to_message().into_bytes());
    files.insert("checkpoint.old".into(), old_note.to_message().into_bytes());
    files.insert("consistency.add-checkpoint".into(), request.to_body().into_bytes());
    files.insert("inclusion.tlog-proof".into(), receipt.to_text().into_bytes());
    files.insert("inclusion.entry".into(), entry(RECEIPT_INDEX));

    for (path, bytes) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
    }
    println!("wrote {} files for a {NEW_SIZE}-entry log to {}", files.len(), dir.display());
    Ok(())
}
