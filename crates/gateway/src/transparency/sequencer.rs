//! The checkpoint sequencer: every interval, sign a checkpoint if the log grew, publish it,
//! then gather witness cosignatures and publish the cosigned note.

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::StoredCheckpoint;
use portcullis_translog::note::Note;
use portcullis_translog::witness::AddCheckpointRequest;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::transparency::Transparency;
use crate::transparency::witness::{WitnessAnswer, WitnessClient};

/// Runs until `stop` turns true.
pub async fn run_sequencer(engine: Engine, transparency: Arc<Transparency>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_millis(transparency.checkpoint_interval_ms.max(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // An unreachable database fails every tick: say so once, then again when it recovers.
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let result = engine.sign_checkpoint().await;
        if failing && result.is_ok() {
            tracing::info!("checkpoints are being signed again");
            failing = false;
        }
        let signed = match result {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => {
                if engine.freshness().is_shared() {
                    // Another replica may hold the signer's lock: serve what it signed.
                    serve_latest(&transparency).await;
                }
                continue;
            }
            Err(err) => {
                if !failing {
                    tracing::error!(error = %err, "failed to sign a checkpoint");
                }
                failing = true;
                continue;
            }
        };
        tracing::debug!(size = signed.size, "checkpoint signed");
        transparency.served.store(Some(Arc::new(signed.clone())));
        if transparency.witnesses.is_empty() {
            continue;
        }
        let cosigned = cosign(&transparency, &signed).await;
        if cosigned.note != signed.note {
            match engine.store_cosigned(cosigned.clone()).await {
                Ok(()) => transparency.served.store(Some(Arc::new(cosigned))),
                Err(err) => tracing::error!(error = %err, "failed to store a cosigned checkpoint"),
            }
        }
    }
}

/// Serves the newest stored checkpoint if it is newer than the one served (signed by the replica
/// that holds the sequencer's lock).
async fn serve_latest(transparency: &Arc<Transparency>) {
    let reader = transparency.clone();
    match tokio::task::spawn_blocking(move || reader.reader.latest_checkpoint()).await {
        Ok(Ok(Some(latest))) if latest.size > transparency.served_size() => {
            tracing::debug!(size = latest.size, "serving a checkpoint signed by another replica");
            transparency.served.store(Some(Arc::new(latest)));
        }
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "failed to read the latest checkpoint"),
        Err(err) => tracing::warn!(error = %err, "failed to read the latest checkpoint"),
    }
}

/// Sends the checkpoint to every witness and adds the cosignatures received.
async fn cosign(transparency: &Arc<Transparency>, checkpoint: &StoredCheckpoint) -> StoredCheckpoint {
    let Ok(mut note) = Note::parse(&checkpoint.note) else {
        return checkpoint.clone();
    };
    for witness in &transparency.witnesses {
        match ask_witness(transparency, witness, checkpoint).await {
            Ok(lines) => {
                for line in lines {
                    note.add_signature(line);
                }
                witness.set_known_size(checkpoint.size);
            }
            Err(problem) => tracing::warn!(witness = witness.url(), problem, "witness did not cosign"),
        }
    }
    StoredCheckpoint { size: checkpoint.size, note: note.to_message() }
}

async fn ask_witness(
    transparency: &Arc<Transparency>,
    witness: &WitnessClient,
    checkpoint: &StoredCheckpoint,
) -> Result<Vec<portcullis_translog::note::NoteSignature>, String> {
    let mut old_size = witness.known_size();
    // One retry: a 409 tells us the size the witness knows, and we prove from there.
    for _ in 0..2 {
        if old_size > checkpoint.size {
            return Err(format!("the witness knows size {old_size}, beyond this checkpoint ({})", checkpoint.size));
        }
        let proof = consistency_proof(transparency, old_size, checkpoint.size).await?;
        let request = AddCheckpointRequest::new(old_size, proof, &checkpoint.note).map_err(|err| err.to_string())?;
        match witness.add_checkpoint(&request).await? {
            WitnessAnswer::Cosigned(lines) => return Ok(lines),
            WitnessAnswer::Conflict(size) => {
                witness.set_known_size(size);
                old_size = size;
            }
        }
    }
    Err("the witness kept reporting a size conflict".to_owned())
}

async fn consistency_proof(
    transparency: &Arc<Transparency>,
    old: u64,
    new: u64,
) -> Result<Vec<portcullis_translog::Hash>, String> {
    let transparency = transparency.clone();
    tokio::task::spawn_blocking(move || transparency.reader.consistency_proof(old, new))
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| err.to_string())
}
