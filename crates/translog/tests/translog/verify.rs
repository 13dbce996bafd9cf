//! The outsider's view: checkpoints against a trust policy, tiles, inclusion, consistency and
//! receipts, and tampering of each, detected.

use std::collections::BTreeMap;

use portcullis_translog::cosignature::CosignatureSigner;
use portcullis_translog::note::{Note, NoteError, NoteSigner};
use portcullis_translog::proof::{ReceiptError, TlogProof};
use portcullis_translog::tree::{ProofError, prove_inclusion};
use portcullis_translog::verify::{
    TrustPolicy, VerifyError, fetch_entry, verify_checkpoint, verify_consistency, verify_inclusion, verify_receipt,
    verify_receipt_text, verify_tiles,
};
use portcullis_translog::{Checkpoint, Hash};

use crate::common::{LOG_SEED, MemLog, ORIGIN, entry, tamper_signature};

fn witnesses() -> Vec<CosignatureSigner> {
    (0..3u8).map(|i| CosignatureSigner::from_seed(&format!("witness{i}.example"), &[20 + i; 32]).unwrap()).collect()
}

fn policy(quorum: usize) -> TrustPolicy {
    let log_key = NoteSigner::from_seed(ORIGIN, &LOG_SEED).unwrap().verifier();
    TrustPolicy::new(log_key)
        .unwrap()
        .with_witnesses(witnesses().iter().map(CosignatureSigner::verifier).collect(), quorum)
        .unwrap()
}

/// The log's signed checkpoint with cosignatures from the first `n_witnesses` witnesses.
fn cosigned(log: &MemLog, n_witnesses: usize) -> String {
    let mut note = Note::parse(&log.signed_checkpoint()).unwrap();
    for (i, witness) in witnesses().iter().take(n_witnesses).enumerate() {
        note.add_signature(witness.cosign(note.text(), 1_700_000_000 + i as u64).unwrap());
    }
    note.to_message()
}

#[test]
fn checkpoint_policy_table() {
    let log = MemLog::with_entries((0..1000).map(entry));
    let stranger = NoteSigner::from_seed("stranger.example", &[5; 32]).unwrap();
    let with_unknown = {
        let mut note = Note::parse(&cosigned(&log, 2)).unwrap();
        note.add_signature(stranger.sign(note.text()).unwrap());
        note.to_message()
    };
    let only_witness = {
        let checkpoint = log.checkpoint().to_text();
        let mut note = Note::new(&checkpoint).unwrap();
        note.add_signature(witnesses()[0].cosign(&checkpoint, 1).unwrap());
        note.to_message()
    };
    let other_origin = NoteSigner::from_seed(ORIGIN, &LOG_SEED)
        .unwrap()
        .sign_note(&Checkpoint::new("other.example/log", 1, Hash::empty_tree()).unwrap().to_text())
        .unwrap();
    let edited_size = cosigned(&log, 2).replacen("\n1000\n", "\n1001\n", 1);
    let edited_root = cosigned(&log, 2).replacen(&log.root().to_base64(), &Hash::empty_tree().to_base64(), 1);
    // (name, message, quorum, expected: Ok(cosignature count) or an error predicate)
    type Expect = Result<usize, fn(&VerifyError) -> bool>;
    let cases: Vec<(&str, String, usize, Expect)> = vec![
        ("log only, no quorum", log.signed_checkpoint(), 0, Ok(0)),
        ("two cosignatures, quorum 2", cosigned(&log, 2), 2, Ok(2)),
        ("three cosignatures, quorum 2", cosigned(&log, 3), 2, Ok(3)),
        ("unknown signature ignored", with_unknown, 2, Ok(2)),
        (
            "quorum not met",
            cosigned(&log, 1),
            2,
            Err(|e| matches!(e, VerifyError::QuorumNotMet { valid: 1, quorum: 2 })),
        ),
        ("witness but no log signature", only_witness, 0, Err(|e| matches!(e, VerifyError::MissingLogSignature(_)))),
        (
            "unknown key only",
            stranger.sign_note(&log.checkpoint().to_text()).unwrap(),
            0,
            Err(|e| matches!(e, VerifyError::MissingLogSignature(_))),
        ),
        (
            "bad log signature",
            tamper_signature(&log.signed_checkpoint()),
            0,
            Err(|e| matches!(e, VerifyError::Signature(NoteError::InvalidSignature { .. }))),
        ),
        (
            "bad witness cosignature",
            tamper_signature(&cosigned(&log, 2)),
            1,
            Err(|e| matches!(e, VerifyError::Signature(NoteError::InvalidSignature { .. }))),
        ),
        (
            "edited size",
            edited_size,
            0,
            Err(|e| matches!(e, VerifyError::Signature(NoteError::InvalidSignature { .. }))),
        ),
        (
            "edited root",
            edited_root,
            0,
            Err(|e| matches!(e, VerifyError::Signature(NoteError::InvalidSignature { .. }))),
        ),
        ("other origin", other_origin, 0, Err(|e| matches!(e, VerifyError::OriginMismatch { .. }))),
        (
            "not a note",
            "hello\n".into(),
            0,
            Err(|e| matches!(e, VerifyError::Signature(NoteError::MissingSignatureBlock))),
        ),
    ];
    for (name, message, quorum, expect) in cases {
        match (verify_checkpoint(&policy(quorum), &message), expect) {
            (Ok(verified), Ok(count)) => {
                assert_eq!(verified.cosignatures.len(), count, "{name}");
                assert_eq!(verified.checkpoint, log.checkpoint(), "{name}");
            }
            (Err(error), Err(predicate)) => assert!(predicate(&error), "{name}: {error:?}"),
            (got, _) => panic!("{name}: unexpected {got:?}"),
        }
    }
    assert!(matches!(TrustPolicy::new(witnesses()[0].verifier()), Err(VerifyError::BadLogKey(_))));
    assert!(matches!(
        policy(0).with_witnesses(vec![], 1),
        Err(VerifyError::QuorumTooLarge { quorum: 1, witnesses: 0 })
    ));
}

#[test]
fn honest_log_verifies_from_tiles() {
    let log = MemLog::with_entries((0..1000).map(entry));
    let tiles = log.tiles();
    let checkpoint = verify_checkpoint(&policy(0), &log.signed_checkpoint()).unwrap().checkpoint;
    verify_tiles(&checkpoint, &tiles).unwrap();
    for leaf_idx in [0, 1, 255, 256, 511, 999] {
        verify_inclusion(&checkpoint, leaf_idx, &entry(leaf_idx), &tiles).unwrap();
        assert_eq!(fetch_entry(&checkpoint, leaf_idx, &tiles).unwrap(), entry(leaf_idx));
    }
    let empty = MemLog::default();
    verify_tiles(&empty.checkpoint(), &BTreeMap::new()).unwrap();
    verify_consistency(&empty.checkpoint(), &checkpoint, &tiles).unwrap();
}

/// Each tamper is applied to an honest log's published data and must be detected.
#[test]
fn tampering_is_detected() {
    let log = MemLog::with_entries((0..1000).map(entry));
    let checkpoint = log.checkpoint();
    let honest = log.tiles();
    let flip = |tiles: &BTreeMap<String, Vec<u8>>, path: &str, at: usize| {
        let mut tiles = tiles.clone();
        tiles.get_mut(path).unwrap()[at] ^= 0x01;
        tiles
    };
    let without = |path: &str| {
        let mut tiles = honest.clone();
        tiles.remove(path);
        tiles
    };
    let reordered = MemLog::with_entries((0..1000).map(|i| match i {
        1 => entry(2),
        2 => entry(1),
        other => entry(other),
    }));

    // Inclusion of entry 1 (with its honest bytes unless stated) under each tampered tile set.
    type Check = fn(&VerifyError) -> bool;
    let cases: Vec<(&str, BTreeMap<String, Vec<u8>>, Vec<u8>, Check)> = vec![
        ("altered entry", honest.clone(), b"forged".to_vec(), |e| {
            matches!(e, VerifyError::Inclusion(ProofError::RootMismatch))
        }),
        (
            "altered full tile byte",
            flip(&honest, "tile/0/000", 100),
            entry(1),
            |e| matches!(e, VerifyError::TileMismatch(p) if p == "tile/0/000"),
        ),
        ("altered edge tile byte", flip(&honest, "tile/1/000.p/3", 5), entry(1), |e| {
            matches!(e, VerifyError::TilesRootMismatch(1000))
        }),
        ("altered partial level-0 tile", flip(&honest, "tile/0/003.p/232", 0), entry(1), |e| {
            matches!(e, VerifyError::TilesRootMismatch(1000))
        }),
        ("reordered entries", reordered.tiles(), entry(1), |e| matches!(e, VerifyError::TilesRootMismatch(1000))),
        (
            "missing tile",
            without("tile/0/000"),
            entry(1),
            |e| matches!(e, VerifyError::Missing(p) if p == "tile/0/000"),
        ),
        (
            "truncated tile",
            {
                let mut t = honest.clone();
                t.get_mut("tile/0/000").unwrap().pop();
                t
            },
            entry(1),
            |e| matches!(e, VerifyError::TileLength { .. }),
        ),
    ];
    for (name, tiles, entry_bytes, check) in cases {
        let error = verify_inclusion(&checkpoint, 1, &entry_bytes, &tiles).unwrap_err();
        assert!(check(&error), "{name}: {error:?}");
    }

    // Altered checkpoint size or root (as if the signature had been bypassed): tiles disagree.
    let bigger = Checkpoint::new(ORIGIN, 1001, log.root()).unwrap();
    assert!(verify_tiles(&bigger, &honest).is_err());
    let other_root = Checkpoint::new(ORIGIN, 1000, Hash::empty_tree()).unwrap();
    assert!(matches!(verify_tiles(&other_root, &honest), Err(VerifyError::TilesRootMismatch(1000))));

    // Altered entry bundle byte.
    let bundle = flip(&honest, "tile/entries/000", 10);
    assert!(matches!(fetch_entry(&checkpoint, 0, &bundle), Err(VerifyError::EntryMismatch(0))));
    assert_eq!(fetch_entry(&checkpoint, 2, &bundle).unwrap(), entry(2), "other entries still verify");
    let bundle = {
        let mut t = honest.clone();
        t.insert("tile/entries/000".into(), vec![0, 5, 1]);
        t
    };
    assert!(matches!(fetch_entry(&checkpoint, 0, &bundle), Err(VerifyError::MalformedTile { .. })));
    assert!(matches!(fetch_entry(&checkpoint, 1000, &honest), Err(VerifyError::LeafOutOfRange { .. })));
}

#[test]
fn consistency_with_saved_checkpoint() {
    let old_log = MemLog::with_entries((0..700).map(entry));
    let mut new_log = old_log.clone();
    new_log.append(&(700..1300).map(entry).collect::<Vec<_>>());
    let mut tiles = BTreeMap::new();
    old_log.publish(0, &mut tiles);
    new_log.publish(700, &mut tiles);
    let old = old_log.checkpoint();
    let new = new_log.checkpoint();
    verify_consistency(&old, &new, &tiles).unwrap();
    verify_consistency(&old, &old, &tiles).unwrap();
    verify_consistency(&new, &new, &tiles).unwrap();
    // The old tree can still be read from the same tile directory.
    verify_inclusion(&old, 699, &entry(699), &tiles).unwrap();

    assert!(matches!(
        verify_consistency(&new, &old, &tiles),
        Err(VerifyError::Rollback { old_size: 1300, new_size: 700 })
    ));
    // A fork that rewrote entry 5 after the old checkpoint was saved.
    let fork = MemLog::with_entries((0..1300).map(|i| if i == 5 { b"rewritten".to_vec() } else { entry(i) }));
    let error = verify_consistency(&old, &fork.checkpoint(), &fork.tiles()).unwrap_err();
    assert!(matches!(error, VerifyError::Consistency(ProofError::OldRootMismatch)), "{error:?}");
    let same_size_fork = MemLog::with_entries((0..700).map(|i| if i == 5 { b"x".to_vec() } else { entry(i) }));
    assert!(matches!(
        verify_consistency(&old, &same_size_fork.checkpoint(), &same_size_fork.tiles()),
        Err(VerifyError::Consistency(ProofError::SameSizeDifferentRoot(700)))
    ));
    let renamed = Checkpoint::new("other.example", 1300, new.root()).unwrap();
    assert!(matches!(verify_consistency(&old, &renamed, &tiles), Err(VerifyError::OriginMismatch { .. })));
}

#[test]
fn receipts_verify_offline() {
    let log = MemLog::with_entries((0..1000).map(entry));
    let proof = prove_inclusion(1000, 123, &log.hashes).unwrap();
    let receipt = TlogProof::new(123, proof.clone(), &cosigned(&log, 2)).unwrap().with_extra(b"ctx".to_vec());
    let text = receipt.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 123\n"));
    assert_eq!(TlogProof::parse(&text), Ok(receipt.clone()));
    let verified = verify_receipt_text(&policy(2), &text, &entry(123)).unwrap();
    assert_eq!(verified.cosignatures.len(), 2);

    assert!(matches!(
        verify_receipt(&policy(2), &receipt, &entry(124)),
        Err(VerifyError::Inclusion(ProofError::RootMismatch))
    ));
    let mut bad_proof = proof.clone();
    bad_proof[0] = Hash::empty_tree();
    let tampered = TlogProof::new(123, bad_proof, &cosigned(&log, 2)).unwrap();
    assert!(matches!(verify_receipt(&policy(2), &tampered, &entry(123)), Err(VerifyError::Inclusion(_))));
    let wrong_index = TlogProof::new(124, proof.clone(), &cosigned(&log, 2)).unwrap();
    assert!(verify_receipt(&policy(2), &wrong_index, &entry(123)).is_err());
    let under_quorum = TlogProof::new(123, proof.clone(), &cosigned(&log, 1)).unwrap();
    assert!(matches!(verify_receipt(&policy(2), &under_quorum, &entry(123)), Err(VerifyError::QuorumNotMet { .. })));

    let malformed: &[(&str, ReceiptError)] = &[
        ("", ReceiptError::MissingHeader),
        ("c2sp.org/tlog-proof@v2\nindex 1\n\nx\n", ReceiptError::MissingHeader),
        ("c2sp.org/tlog-proof@v1\nindex 01\n\nx\n", ReceiptError::BadIndex),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nx\n", ReceiptError::BadExtra),
        ("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx\n", ReceiptError::BadProofLine("AAAA".into())),
        ("c2sp.org/tlog-proof@v1\nindex 1\n", ReceiptError::MissingCheckpoint),
        ("c2sp.org/tlog-proof@v1\nindex 1\n\n", ReceiptError::MissingCheckpoint),
    ];
    for (text, expect) in malformed {
        assert_eq!(TlogProof::parse(text).as_ref().err(), Some(expect), "{text:?}");
    }
}

/// A size-0 checkpoint has no tiles, but its root must still be the empty tree's.
#[test]
fn empty_tree_root_is_checked() {
    let empty = std::collections::BTreeMap::<String, Vec<u8>>::new();
    let good =
        portcullis_translog::Checkpoint::new("example.org/log", 0, portcullis_translog::Hash::empty_tree()).unwrap();
    portcullis_translog::verify::verify_tiles(&good, &empty).unwrap();
    let bad = portcullis_translog::Checkpoint::new("example.org/log", 0, portcullis_translog::leaf_hash(b"x")).unwrap();
    assert!(portcullis_translog::verify::verify_tiles(&bad, &empty).is_err());
}
