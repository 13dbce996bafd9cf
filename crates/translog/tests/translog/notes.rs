//! signed-note: spec and Go x/mod vectors, key strings, opening rules, checkpoints.

use portcullis_translog::checkpoint::{Checkpoint, CheckpointError};
use portcullis_translog::note::{KeyType, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, key_id, open};
use portcullis_translog::{Hash, leaf_hash};

/// c2sp.org/signed-note's example key and note.
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

/// golang.org/x/mod/sumdb/note test vectors.
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str =
    "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn spec_vector_verifies() {
    let verifier = NoteVerifier::parse(SPEC_VKEY).unwrap();
    assert_eq!(verifier.name(), "example.com/foo");
    assert_eq!(verifier.key_id(), 0x530d_903a);
    assert_eq!(verifier.key_type(), KeyType::Ed25519);
    assert_eq!(key_id("example.com/foo", KeyType::Ed25519, verifier.public_key()), 0x530d_903a);
    assert_eq!(verifier.to_vkey_string(), SPEC_VKEY);
    let opened = open(SPEC_NOTE, &[verifier]).unwrap();
    assert_eq!(opened.note.text(), "This is an example message.\n");
    assert_eq!(opened.verified.len(), 1);
    assert_eq!(opened.note.to_message(), SPEC_NOTE);
}

#[test]
fn go_vectors_sign_and_verify() {
    let signer = NoteSigner::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.to_private_key_string(), PETER_SKEY);
    assert_eq!(signer.verifier().to_vkey_string(), PETER_VKEY);
    // Ed25519 is deterministic, so the signature is byte-for-byte Go's.
    assert_eq!(signer.sign_note(GO_TEXT).unwrap(), format!("{GO_TEXT}\n{PETER_SIG}"));

    let peter = NoteVerifier::parse(PETER_VKEY).unwrap();
    let enoch = NoteVerifier::parse(ENOCH_VKEY).unwrap();
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    // (message, trusted keys, verified names or error)
    let cases: Vec<(String, Vec<NoteVerifier>, Result<Vec<&str>, NoteError>)> = vec![
        (both.clone(), vec![peter.clone()], Ok(vec!["PeterNeumann"])),
        (both.clone(), vec![enoch.clone()], Ok(vec!["EnochRoot"])),
        (both.clone(), vec![peter.clone(), enoch.clone()], Ok(vec!["PeterNeumann", "EnochRoot"])),
        (format!("{GO_TEXT}\n{PETER_SIG}{PETER_SIG}"), vec![peter.clone()], Ok(vec!["PeterNeumann"])),
        (format!("{GO_TEXT}\n{ENOCH_SIG}"), vec![peter.clone()], Err(NoteError::NoTrustedSignature)),
        (
            format!("{GO_TEXT}\n{}", PETER_SIG.replace("KE6Ry", "KE7Ry")),
            vec![peter.clone()],
            Err(NoteError::InvalidSignature { name: "PeterNeumann".into(), key_id: 0xc74f_20a3 }),
        ),
        (
            format!("{}\n{PETER_SIG}", GO_TEXT.replace("answer", "Answer")),
            vec![peter.clone(), enoch.clone()],
            Err(NoteError::InvalidSignature { name: "PeterNeumann".into(), key_id: 0xc74f_20a3 }),
        ),
    ];
    for (message, verifiers, expect) in cases {
        let got =
            open(&message, &verifiers).map(|opened| opened.verified.iter().map(|v| v.name.clone()).collect::<Vec<_>>());
        let expect = expect.map(|names| names.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, expect, "{message}");
    }
}

#[test]
fn bad_keys_are_rejected() {
    let bad_vkeys: &[(&str, NoteError)] = &[
        // Go's own: wrong key length with adjusted id, unknown algorithm with adjusted id.
        // (Go rejects this one for its length; its non-zero trailing base64 bits already fail here.)
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", NoteError::MalformedKey),
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAAAA", NoteError::InvalidKeyMaterial),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", NoteError::UnsupportedKeyType(0x65)),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            NoteError::KeyIdMismatch { name: "PeterNeumann".into(), stated: "c74f20a4".into() },
        ),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", NoteError::MalformedKey),
        ("PeterNeumann+c74f20a3", NoteError::MalformedKey),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x", NoteError::MalformedKey),
        ("PeterNeumann+c74f20a3+", NoteError::MalformedKey),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            NoteError::InvalidKeyName("Peter Neumann".into()),
        ),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", NoteError::InvalidKeyName(String::new())),
    ];
    for (vkey, expect) in bad_vkeys {
        assert_eq!(NoteVerifier::parse(vkey).as_ref().err(), Some(expect), "{vkey}");
    }
    // Every truncation of a good key fails (as in Go's test).
    for end in 0..PETER_VKEY.len() {
        if PETER_VKEY.is_char_boundary(end) {
            assert!(NoteVerifier::parse(&PETER_VKEY[..end]).is_err(), "{end}");
        }
    }
    assert!(NoteSigner::parse(PETER_VKEY).is_err(), "a vkey is not a skey");
    assert!(NoteSigner::parse(&PETER_SKEY.replace("c74f20a3", "c74f20a4")).is_err());
    assert_eq!(NoteSigner::from_seed("a+b", &[1; 32]).err(), Some(NoteError::InvalidKeyName("a+b".into())));
}

#[test]
fn seed_keys_round_trip() {
    let signer = NoteSigner::from_seed("log.example/a", &[3; 32]).unwrap();
    let again = NoteSigner::parse(&signer.to_private_key_string()).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    let vkey = signer.verifier().to_vkey_string();
    assert!(vkey.starts_with("log.example/a+"));
    assert_eq!(NoteVerifier::parse(&vkey).unwrap(), signer.verifier());
    assert!(!format!("{signer:?}").contains(&signer.to_private_key_string()));
}

#[test]
fn malformed_notes_are_rejected() {
    let cases: &[(&str, NoteError)] = &[
        ("no signatures\n", NoteError::MissingSignatureBlock),
        ("text\n\n", NoteError::NoSignatures),
        ("text\n\nnot a signature\n", NoteError::MalformedSignatureLine("not a signature".into())),
        ("text\n\n\u{2014} name\n", NoteError::MalformedSignatureLine("\u{2014} name".into())),
        ("text\n\n\u{2014} name AAAA\n", NoteError::MalformedSignatureLine("\u{2014} name AAAA".into())),
        ("text\n\n\u{2014} name AAAAAAA=", NoteError::MalformedSignatureLine("\u{2014} name AAAAAAA=".into())),
        ("te\txt\n\n\u{2014} name AAAAAAA=\n", NoteError::ControlCharacter),
        ("text\r\n\n\u{2014} name AAAAAAA=\n", NoteError::ControlCharacter),
        ("text\n\n\u{2014} a+b AAAAAAA=\n", NoteError::InvalidKeyName("a+b".into())),
    ];
    for (message, expect) in cases {
        assert_eq!(Note::parse(message).as_ref().err(), Some(expect), "{message:?}");
    }
    let many: String = std::iter::repeat_n("\u{2014} name AAAAAAA=\n", 101).collect();
    assert_eq!(Note::parse(&format!("text\n\n{many}")).err(), Some(NoteError::TooManySignatures(100)));
    let sixteen: String = std::iter::repeat_n("\u{2014} name AAAAAAA=\n", 16).collect();
    assert_eq!(Note::parse(&format!("text\n\n{sixteen}")).unwrap().signatures().len(), 16);
    // The text may contain blank lines; the last one separates the signatures.
    let note = Note::parse("a\n\nb\n\n\u{2014} name AAAAAAA=\n").unwrap();
    assert_eq!(note.text(), "a\n\nb\n");
    assert_eq!(NoteSignature::parse_line("\u{2014} name AAAAAAA=").unwrap().signature(), &[0]);
}

#[test]
fn checkpoint_format_and_strict_parse() {
    let root = leaf_hash(b"root");
    let checkpoint = Checkpoint::new("example.com/log", 1234, root).unwrap();
    let text = format!("example.com/log\n1234\n{}\n", root.to_base64());
    assert_eq!(checkpoint.to_text(), text);
    assert_eq!(Checkpoint::parse(&text), Ok(checkpoint.clone()));
    let with_ext = checkpoint.clone().with_extensions(vec!["ext one".into()]).unwrap();
    assert_eq!(Checkpoint::parse(&with_ext.to_text()).unwrap().extensions(), ["ext one"]);

    let b64 = root.to_base64();
    let cases: Vec<(String, CheckpointError)> = vec![
        (format!("o\n1\n{b64}"), CheckpointError::MissingFinalNewline),
        ("o\n1\n".into(), CheckpointError::TooFewLines(2)),
        (format!("o\n01\n{b64}\n"), CheckpointError::InvalidSize("01".into())),
        (format!("o\n-1\n{b64}\n"), CheckpointError::InvalidSize("-1".into())),
        (format!("o\n 1\n{b64}\n"), CheckpointError::InvalidSize(" 1".into())),
        (format!("o\n18446744073709551616\n{b64}\n"), CheckpointError::InvalidSize("18446744073709551616".into())),
        ("o\n1\nAAAA\n".into(), CheckpointError::InvalidRoot("AAAA".into())),
        (
            format!("o\n1\n{}\n", b64.trim_end_matches('=')),
            CheckpointError::InvalidRoot(b64.trim_end_matches('=').into()),
        ),
        (format!("\n1\n{b64}\n"), CheckpointError::EmptyLine(1)),
        (format!("o\n1\n{b64}\n\n"), CheckpointError::EmptyLine(4)),
        (format!("o\n1\n{b64}\next\n\n"), CheckpointError::EmptyLine(5)),
        (format!("o\x01\n1\n{b64}\n"), CheckpointError::ControlCharacter),
    ];
    for (text, expect) in cases {
        assert_eq!(Checkpoint::parse(&text), Err(expect), "{text:?}");
    }
    assert_eq!(Checkpoint::new("", 0, Hash::empty_tree()), Err(CheckpointError::EmptyLine(1)));
    assert!(Checkpoint::new("a\nb", 0, Hash::empty_tree()).is_err());
    assert_eq!(Checkpoint::parse(&format!("o\n0\n{}\n", Hash::empty_tree().to_base64())).unwrap().size(), 0);
}
