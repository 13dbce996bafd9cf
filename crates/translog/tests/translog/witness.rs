//! tlog-cosignature round trips, the add-checkpoint formats and the witness state machine.

use portcullis_translog::cosignature::{CosignatureSigner, cosignature_message};
use portcullis_translog::note::{KeyType, Note, NoteError, NoteSigner, NoteVerifier, open};
use portcullis_translog::tree::{ProofError, prove_consistency};
use portcullis_translog::witness::{
    AddCheckpointRequest, Witness, WitnessError, format_conflict_body, format_cosignature_response,
    parse_conflict_body, parse_cosignature_response,
};
use portcullis_translog::{Checkpoint, Hash};

use crate::common::{LOG_SEED, MemLog, ORIGIN, WITNESS_SEED, entry, tamper_signature};

#[test]
fn cosignature_round_trip() {
    let log = MemLog::with_entries((0..10).map(entry));
    let signed = log.signed_checkpoint();
    let cosigner = CosignatureSigner::from_seed("witness.example/w1", &WITNESS_SEED).unwrap();
    let witness_key = cosigner.verifier();
    assert_eq!(witness_key.key_type(), KeyType::CosignatureV1);
    let vkey = witness_key.to_vkey_string();
    assert!(vkey.splitn(3, '+').nth(2).unwrap().starts_with('B'), "type byte 0x04: {vkey}");
    assert_eq!(NoteVerifier::parse(&vkey).unwrap(), witness_key);
    assert_eq!(CosignatureSigner::parse(&cosigner.to_private_key_string()).unwrap().verifier(), witness_key);

    let mut note = Note::parse(&signed).unwrap();
    let cosignature = cosigner.cosign(note.text(), 1_679_315_147).unwrap();
    assert_eq!(cosignature.signature().len(), 8 + 64);
    assert_eq!(&cosignature.signature()[..8], &1_679_315_147u64.to_be_bytes());
    note.add_signature(cosignature.clone());
    let message = note.to_message();

    let log_key = NoteSigner::from_seed(ORIGIN, &LOG_SEED).unwrap().verifier();
    let opened = open(&message, &[log_key.clone(), witness_key.clone()]).unwrap();
    assert_eq!(opened.verified.len(), 2);
    assert_eq!(opened.verified[1].timestamp, Some(1_679_315_147));
    // A verifier that only knows the log key ignores the cosignature.
    assert_eq!(open(&message, std::slice::from_ref(&log_key)).unwrap().verified.len(), 1);

    // Changing the timestamp invalidates the cosignature.
    let mut bytes = cosignature.signature().to_vec();
    bytes[7] ^= 1;
    let forged =
        portcullis_translog::note::NoteSignature::new(cosignature.name(), cosignature.key_id(), bytes).unwrap();
    let mut forged_note = Note::parse(&signed).unwrap();
    forged_note.add_signature(forged);
    assert!(matches!(
        open(&forged_note.to_message(), &[log_key, witness_key]),
        Err(NoteError::InvalidSignature { .. })
    ));
    assert_eq!(cosigner.cosign(note.text(), 1 << 63).err(), Some(NoteError::TimestampTooLarge(1 << 63)));
    assert_eq!(cosignature_message("o\n1\nX\n", 1_679_315_147), "cosignature/v1\ntime 1679315147\no\n1\nX\n");
}

#[test]
fn add_checkpoint_body_round_trip() {
    let log = MemLog::with_entries((0..20).map(entry));
    let proof = prove_consistency(20, 7, &log.hashes).unwrap();
    let request = AddCheckpointRequest::new(7, proof.clone(), &log.signed_checkpoint()).unwrap();
    let body = request.to_body();
    assert!(body.starts_with("old 7\n"));
    assert_eq!(AddCheckpointRequest::parse(&body), Ok(request));

    let checkpoint = log.signed_checkpoint();
    let bad: Vec<String> = vec![
        String::new(),
        "old 7".into(),
        format!("old 07\n\n{checkpoint}"),
        format!("old -1\n\n{checkpoint}"),
        format!("new 7\n\n{checkpoint}"),
        format!("old 7\nnot-base64\n\n{checkpoint}"),
        format!("old 7\n{}\n", proof[0]),
        "old 7\n\n".into(),
        format!(
            "old 7\n{}\n\n{checkpoint}",
            std::iter::repeat_n(proof[0].to_base64(), 64).collect::<Vec<_>>().join("\n")
        ),
    ];
    for body in bad {
        let error = AddCheckpointRequest::parse(&body).unwrap_err();
        assert_eq!(error.http_status(), 400, "{body:?}");
    }
    assert!(AddCheckpointRequest::new(0, vec![Hash::empty_tree(); 64], &checkpoint).is_err());

    assert_eq!(parse_conflict_body(&format_conflict_body(42)), Ok(42));
    assert!(parse_conflict_body("42").is_err());
    let cosigner = CosignatureSigner::from_seed("w", &WITNESS_SEED).unwrap();
    let lines = vec![cosigner.cosign("a\n", 1).unwrap(), cosigner.cosign("a\n", 2).unwrap()];
    assert_eq!(parse_cosignature_response(&format_cosignature_response(&lines)), Ok(lines));
}

/// One step of a witness scenario: the request, and the expected HTTP status.
struct Step {
    name: &'static str,
    old_size: u64,
    proof: Vec<Hash>,
    checkpoint: String,
    status: u16,
    latest_after: u64,
}

#[test]
fn witness_state_machine() {
    let log_signer = NoteSigner::from_seed(ORIGIN, &LOG_SEED).unwrap();
    let cosigner = CosignatureSigner::from_seed("witness.example/w1", &WITNESS_SEED).unwrap();
    let mut witness = Witness::new(cosigner.clone());
    witness.add_log(ORIGIN, vec![log_signer.verifier()]);
    assert_eq!(witness.latest(ORIGIN).unwrap().size, 0);

    let log = MemLog::with_entries((0..30).map(entry));
    let prefix = |size: u64| MemLog::with_entries((0..size).map(entry));
    let signed = |log: &MemLog| log.signed_checkpoint();
    // A fork: entry 5 differs, so nothing from size 6 on is consistent with the real log.
    let fork = MemLog::with_entries((0..30).map(|i| if i == 5 { b"evil".to_vec() } else { entry(i) }));
    let other_key = NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap();
    let stranger = Checkpoint::new("unknown.example/log", 10, prefix(10).root()).unwrap();
    let stranger = log_signer.sign_note(&stranger.to_text()).unwrap_or_default();
    let same_size_other_root =
        log_signer.sign_note(&Checkpoint::new(ORIGIN, 20, fork.root()).unwrap().to_text()).unwrap();
    let bad_signature = tamper_signature(&signed(&prefix(25)));

    let steps = vec![
        Step {
            name: "first checkpoint from size 0",
            old_size: 0,
            proof: vec![],
            checkpoint: signed(&prefix(10)),
            status: 200,
            latest_after: 10,
        },
        Step {
            name: "stale old size",
            old_size: 0,
            proof: vec![],
            checkpoint: signed(&prefix(20)),
            status: 409,
            latest_after: 10,
        },
        Step {
            name: "consistent growth",
            old_size: 10,
            proof: prove_consistency(20, 10, &log.hashes).unwrap(),
            checkpoint: signed(&prefix(20)),
            status: 200,
            latest_after: 20,
        },
        Step {
            name: "replayed request",
            old_size: 10,
            proof: prove_consistency(20, 10, &log.hashes).unwrap(),
            checkpoint: signed(&prefix(20)),
            status: 409,
            latest_after: 20,
        },
        Step {
            name: "same checkpoint again",
            old_size: 20,
            proof: vec![],
            checkpoint: signed(&prefix(20)),
            status: 200,
            latest_after: 20,
        },
        Step {
            name: "same size different root",
            old_size: 20,
            proof: vec![],
            checkpoint: same_size_other_root,
            status: 409,
            latest_after: 20,
        },
        Step {
            name: "inconsistent fork",
            old_size: 20,
            proof: prove_consistency(30, 20, &fork.hashes).unwrap(),
            checkpoint: signed(&fork),
            status: 422,
            latest_after: 20,
        },
        Step {
            name: "wrong proof",
            old_size: 20,
            proof: prove_consistency(30, 10, &log.hashes).unwrap(),
            checkpoint: signed(&log),
            status: 422,
            latest_after: 20,
        },
        Step {
            name: "old above size",
            old_size: 30,
            proof: vec![],
            checkpoint: signed(&prefix(25)),
            status: 400,
            latest_after: 20,
        },
        Step {
            name: "unknown origin",
            old_size: 0,
            proof: vec![],
            checkpoint: stranger,
            status: 404,
            latest_after: 20,
        },
        Step {
            name: "unknown key",
            old_size: 20,
            proof: vec![],
            checkpoint: other_key.sign_note(&prefix(25).checkpoint().to_text()).unwrap(),
            status: 403,
            latest_after: 20,
        },
        Step {
            name: "bad log signature",
            old_size: 20,
            proof: prove_consistency(25, 20, &log.hashes).unwrap(),
            checkpoint: bad_signature,
            status: 403,
            latest_after: 20,
        },
        Step {
            name: "not a checkpoint",
            old_size: 20,
            proof: vec![],
            checkpoint: log_signer.sign_note("hello\n").unwrap(),
            status: 400,
            latest_after: 20,
        },
        Step {
            name: "consistent growth again",
            old_size: 20,
            proof: prove_consistency(30, 20, &log.hashes).unwrap(),
            checkpoint: signed(&log),
            status: 200,
            latest_after: 30,
        },
    ];
    for (now, step) in (1_700_000_000u64..).zip(steps) {
        let request = AddCheckpointRequest::new(step.old_size, step.proof, &step.checkpoint).unwrap();
        let request = AddCheckpointRequest::parse(&request.to_body()).unwrap();
        let result = witness.handle_add_checkpoint(&request, now);
        let status = result.as_ref().map(|_| 200).unwrap_or_else(WitnessError::http_status);
        assert_eq!(status, step.status, "{}: {result:?}", step.name);
        assert_eq!(witness.latest(ORIGIN).unwrap().size, step.latest_after, "{}", step.name);
        match result {
            Ok(cosignature) => {
                // The returned line verifies as a cosignature on the submitted checkpoint.
                let mut note = Note::parse(&step.checkpoint).unwrap();
                note.add_signature(cosignature);
                let opened = open(&note.to_message(), &[witness.verifier()]).unwrap();
                assert_eq!(opened.verified[0].timestamp, Some(now), "{}", step.name);
            }
            Err(WitnessError::SizeConflict { latest_size, .. }) => {
                assert_eq!(parse_conflict_body(&format_conflict_body(latest_size)), Ok(step.latest_after));
            }
            Err(WitnessError::InvalidProof(error)) => {
                assert!(
                    matches!(
                        error,
                        ProofError::OldRootMismatch | ProofError::RootMismatch | ProofError::WrongLength(_)
                    ),
                    "{}: {error:?}",
                    step.name
                );
            }
            Err(_) => {}
        }
    }
}
