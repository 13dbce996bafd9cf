//! A client of one C2SP tlog-witness: send `add-checkpoint`, get a cosignature.

use std::sync::Mutex;
use std::time::Duration;

use portcullis_translog::NoteVerifier;
use portcullis_translog::note::NoteSignature;
use portcullis_translog::witness::{AddCheckpointRequest, parse_conflict_body, parse_cosignature_response};

use crate::config::WitnessSettings;

/// One configured witness.
pub struct WitnessClient {
    url: String,
    verifier: NoteVerifier,
    http: reqwest::Client,
    timeout: Duration,
    /// The last size this witness acknowledged (0 until it has cosigned once).
    known_size: Mutex<u64>,
}

/// What a witness said.
pub enum WitnessAnswer {
    /// It cosigned.
    Cosigned(Vec<NoteSignature>),
    /// It knows a different size; retry with a proof from that size.
    Conflict(u64),
}

impl WitnessClient {
    pub(crate) fn new(settings: &WitnessSettings, http: reqwest::Client, timeout_ms: u64) -> anyhow::Result<Self> {
        let verifier = NoteVerifier::parse(&settings.verifier_key)
            .map_err(|err| anyhow::anyhow!("witness `{}` has an invalid verifier key: {err}", settings.url))?;
        Ok(Self {
            url: format!("{}/add-checkpoint", settings.url.trim_end_matches('/')),
            verifier,
            http,
            timeout: Duration::from_millis(timeout_ms),
            known_size: Mutex::new(0),
        })
    }

    /// The witness's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The size this witness last acknowledged.
    pub fn known_size(&self) -> u64 {
        self.known_size.lock().map_or(0, |size| *size)
    }

    /// Records a size the witness acknowledged or reported.
    pub fn set_known_size(&self, size: u64) {
        if let Ok(mut known) = self.known_size.lock() {
            *known = size;
        }
    }

    /// Sends one `add-checkpoint` request.
    ///
    /// # Errors
    ///
    /// A one-line description of the transport or protocol failure.
    pub async fn add_checkpoint(&self, request: &AddCheckpointRequest) -> Result<WitnessAnswer, String> {
        let response = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .body(request.to_body())
            .send()
            .await
            .map_err(|err| format!("request failed: {err}"))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|err| format!("reading the answer failed: {err}"))?;
        match status {
            200 => {
                let lines = parse_cosignature_response(&body).map_err(|err| format!("malformed cosignature: {err}"))?;
                // Keep only cosignatures by the configured key: a witness must not add other names.
                let own: Vec<NoteSignature> = lines
                    .into_iter()
                    .filter(|line| line.name() == self.verifier.name() && line.key_id() == self.verifier.key_id())
                    .collect();
                if own.is_empty() {
                    return Err("the answer holds no cosignature by the configured key".to_owned());
                }
                Ok(WitnessAnswer::Cosigned(own))
            }
            409 => parse_conflict_body(&body)
                .map(WitnessAnswer::Conflict)
                .map_err(|err| format!("malformed conflict: {err}")),
            other => Err(format!("answered {other}: {}", body.trim())),
        }
    }

    /// The witness's verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }
}
