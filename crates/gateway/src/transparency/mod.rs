//! The transparency log as the gateway runs it: the signing key, the periodic checkpoint
//! sequencer, witnesses, and the checkpoint currently served.
//!
//! The log's data (stored hashes, checkpoints) lives in the store, written by the engine; this
//! module decides *when* to sign and talks to witnesses.

mod keys;
mod sequencer;
mod witness;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use portcullis_store::{LogReader, StoredCheckpoint};
use portcullis_translog::{NoteSigner, NoteVerifier};

pub use keys::load_or_create_signer;
pub use sequencer::run_sequencer;

/// Everything the log routes and the sequencer share.
pub struct Transparency {
    /// The log's signer (key name = origin).
    pub signer: Arc<NoteSigner>,
    /// Read side: tiles, bundles, proofs.
    pub reader: LogReader,
    /// The latest checkpoint, as served (with any cosignatures).
    pub served: ArcSwapOption<StoredCheckpoint>,
    /// Witnesses and their verifier keys.
    pub witnesses: Vec<witness::WitnessClient>,
    /// How often to try signing, in milliseconds.
    pub checkpoint_interval_ms: u64,
}

impl Transparency {
    /// The log's verifier key in the `name+hex+base64` form published in the register and `demo.json`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_vkey_string()
    }

    /// The verifier.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The origin.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The CLI command that verifies this log, as `GET /admin/v1/log` and the register print it.
    pub fn verify_command(&self, public_base_url: &str) -> String {
        format!("portcullis verify --url {public_base_url}/log --key '{}'", self.verifier_key())
    }

    /// Size of the served checkpoint (0 before the first).
    pub fn served_size(&self) -> u64 {
        self.served.load().as_ref().map_or(0, |c| c.size)
    }
}

/// Builds the witness clients from settings.
///
/// # Errors
///
/// A witness key that does not parse, named.
pub fn witness_clients(
    settings: &[crate::config::WitnessSettings],
    http: &reqwest::Client,
    timeout_ms: u64,
) -> anyhow::Result<Vec<witness::WitnessClient>> {
    settings.iter().map(|w| witness::WitnessClient::new(w, http.clone(), timeout_ms)).collect()
}
