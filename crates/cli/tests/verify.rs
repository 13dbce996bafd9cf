//! `portcullis verify` against a live log: the real binary runs `portcullis demo` on a free
//! port, and the real binary verifies it over HTTP, then offline from its mirror, then with
//! tampered copies, a saved checkpoint after the log grew, and a receipt.
//!
//! A second log is built with the translog library and written to a directory, because only a
//! log whose keys the test holds can show what the demo cannot: witness cosignatures, several
//! tile levels and chunks, and a log that forked from a checkpoint it signed earlier.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use portcullis_translog::cosignature::CosignatureSigner;
use portcullis_translog::note::Note;
use portcullis_translog::tile::{BundleId, bundles_for_growth, encode_bundle, read_tile, tile_in_tree, tiles_for_size};
use portcullis_translog::tree::{append_entries, tree_hash};
use portcullis_translog::{Checkpoint, Hash, NoteSigner};

mod common;

// STARTUP_BOUND also bounds the wait for a signed checkpoint (the demo signs every 2 s).
use common::{STARTUP_BOUND, free_port};

/// The demo's log origin (fixed whatever its port; see `demo.rs`).
const ORIGIN: &str = "portcullis-demo.localhost/log";

/// A running `portcullis demo`, killed when dropped (also when the test panics).
struct Demo {
    child: Child,
    /// Holds the data directory (and the mirror and saved files) until the end of the test.
    dir: tempfile::TempDir,
    gateway: String,
    vkey: String,
    provider_token: String,
    client: reqwest::Client,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let log_output = || if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data_dir)
        .stdout(log_output())
        .stderr(log_output())
        .spawn()
        .unwrap();
    let mut demo = Demo {
        child,
        dir,
        gateway: format!("http://127.0.0.1:{port}"),
        vkey: String::new(),
        provider_token: String::new(),
        client: reqwest::Client::new(),
    };
    let json = common::wait_for_demo(&demo.client, &mut demo.child, &demo.gateway, &data_dir).await;
    demo.vkey = json["transparency_log"]["verifier_key"].as_str().unwrap().to_owned();
    demo.provider_token = json["role_tokens"]["provider"].as_str().unwrap().to_owned();
    assert_eq!(json["gateway_url"].as_str().unwrap(), demo.gateway);
    demo.wait_for_checkpoint_above(0).await;
    demo
}

impl Demo {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log_url(&self) -> String {
        format!("{}/log", self.gateway)
    }

    async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path}", self.gateway)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Polls the checkpoint until it covers more than `size` entries; returns its size.
    async fn wait_for_checkpoint_above(&self, size: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + STARTUP_BOUND;
        loop {
            let (status, text) = self.get_text("/log/checkpoint").await;
            if status == 200 {
                let current: u64 = text.lines().nth(1).unwrap().parse().unwrap();
                if current > size {
                    return current;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no checkpoint above size {size} was signed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The outcome of one `portcullis verify` run.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    #[track_caller]
    fn assert_ok(&self) -> &Self {
        assert!(self.success, "verify failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts a failure whose one error line contains every one of `needles`.
    #[track_caller]
    fn assert_fails_with(&self, needles: &[&str]) {
        assert!(!self.success, "verify passed but should have failed\nstdout:\n{}", self.stdout);
        let error = self.stderr.trim_end();
        assert!(error.starts_with("error: ") && !error.contains('\n'), "not one error line: {error}");
        for needle in needles {
            assert!(error.contains(needle), "`{needle}` is not in the error: {error}");
        }
    }

    /// The size on the final `verified:` line.
    #[track_caller]
    fn verified_size(&self) -> u64 {
        let last = self.lines().last().copied().unwrap_or_default();
        let rest = last.strip_prefix(&format!("verified: origin {ORIGIN}, size ")).unwrap_or_else(|| panic!("{last}"));
        rest.split(',').next().unwrap().parse().unwrap()
    }
}

fn verify<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis")).arg("verify").args(args).output().unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// A copy of `mirror` with one byte of the file at log path `path` flipped.
fn tampered_copy(mirror: &Path, copy: &Path, path: &str, byte: usize) {
    copy_dir(mirror, copy);
    let file = copy.join(path);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[byte] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
}

#[tokio::test]
async fn verify_a_live_log_online_offline_tampered_grown_and_by_receipt() {
    let demo = start_demo().await;
    let mirror = demo.path("mirror");
    let saved = demo.path("saved.checkpoint");
    let key = demo.vkey.as_str();

    // Online, with an entry, a mirror and a saved checkpoint.
    let online = verify(&[
        "--url".as_ref(),
        demo.log_url().as_ref(),
        "--key".as_ref(),
        key.as_ref(),
        "--entry".as_ref(),
        "1".as_ref(),
        "--mirror".as_ref(),
        mirror.as_os_str(),
        "--save-checkpoint".as_ref(),
        saved.as_os_str(),
    ]);
    online.assert_ok();
    let size = online.verified_size();
    let lines = online.lines();
    assert!(lines[0].starts_with(&format!("ok   checkpoint signature: `{ORIGIN}`")), "{lines:?}");
    assert!(lines[0].ends_with(&format!("signed size {size}")), "{lines:?}");
    assert!(lines[1].starts_with("ok   tiles: 1 tile verified against the root"), "{lines:?}");
    assert_eq!(lines[2], format!("ok   entries: {size} entries in 1 bundle match their leaf hashes"));
    assert_eq!(lines[3], "ok   entry 1 (leaf index 0) is in its bundle and in the tree:");
    let printed_entry: serde_json::Value = serde_json::from_str(lines[4].trim_start()).unwrap();
    assert_eq!(printed_entry["seq"], 1);
    assert_eq!(lines[5], format!("ok   saved the checkpoint to `{}`", saved.display()));
    assert_eq!(lines.len(), 7, "{lines:?}");
    let saved_note = std::fs::read_to_string(&saved).unwrap();
    assert!(saved_note.starts_with(&format!("{ORIGIN}\n{size}\n")), "{saved_note}");
    assert_eq!(std::fs::read_to_string(mirror.join("checkpoint")).unwrap(), saved_note);

    // Offline from the mirror: the same checkpoint, every tile and bundle present.
    let offline = verify(&[
        "--dir".as_ref(),
        mirror.as_os_str(),
        "--key".as_ref(),
        key.as_ref(),
        "--entry".as_ref(),
        "1".as_ref(),
    ]);
    offline.assert_ok();
    assert_eq!(offline.lines().last(), online.lines().last());
    assert_eq!(offline.lines()[..5], online.lines()[..5]);

    // A key with the log's name but another key pair: the checkpoint is not signed by it.
    let wrong_key = NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap().verifier().to_vkey_string();
    verify(&["--dir".as_ref(), mirror.as_os_str(), "--key".as_ref(), wrong_key.as_ref()])
        .assert_fails_with(&["checkpoint signature", ORIGIN]);
    // Not a key at all.
    verify(&["--dir".as_ref(), mirror.as_os_str(), "--key".as_ref(), "nonsense".as_ref()])
        .assert_fails_with(&["--key `nonsense`"]);

    // A flipped bit in the level-0 tile.
    let tile = tile_in_tree(0, 0, size).unwrap().path();
    let tampered = demo.path("tampered-tile");
    tampered_copy(&mirror, &tampered, &tile, 5);
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&[&format!("tile `{tile}`")]);

    // A flipped bit in an entry of the bundle (past entry 1's 2-byte length prefix).
    let bundle = BundleId::for_leaf(0, size).unwrap().path();
    let tampered = demo.path("tampered-bundle");
    tampered_copy(&mirror, &tampered, &bundle, 10);
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&["entry 1 (leaf index 0)", &bundle]);

    // The checkpoint text edited: a smaller size under the log's signature.
    let tampered = demo.path("tampered-checkpoint");
    copy_dir(&mirror, &tampered);
    let edited = saved_note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1);
    assert_ne!(edited, saved_note);
    std::fs::write(tampered.join("checkpoint"), edited).unwrap();
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&["checkpoint signature", "does not verify"]);

    // A missing tile is named too.
    let tampered = demo.path("missing-tile");
    copy_dir(&mirror, &tampered);
    std::fs::remove_file(tampered.join(&tile)).unwrap();
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&[&format!("`{tile}` is missing")]);

    // The log grows (issuing a key is an event); the saved checkpoint must be a prefix of the new one.
    let response = demo
        .client
        .post(format!("{}/admin/v1/customers/acme/keys", demo.gateway))
        .bearer_auth(&demo.provider_token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "issuing a key failed: {}", response.text().await.unwrap());
    let grown = demo.wait_for_checkpoint_above(size).await;
    let consistent = verify(&[
        "--url".as_ref(),
        demo.log_url().as_ref(),
        "--key".as_ref(),
        key.as_ref(),
        "--old-checkpoint".as_ref(),
        saved.as_os_str(),
    ]);
    consistent.assert_ok();
    assert!(consistent.verified_size() >= grown);
    assert!(
        consistent.lines().contains(&format!("ok   consistent with the saved checkpoint at size {size}").as_str()),
        "{}",
        consistent.stdout
    );
    // A saved checkpoint whose signature no longer verifies is refused, naming the file.
    let forged = demo.path("forged.checkpoint");
    std::fs::write(&forged, saved_note.replacen(&format!("\n{size}\n"), "\n1\n", 1)).unwrap();
    verify(&[
        "--url".as_ref(),
        demo.log_url().as_ref(),
        "--key".as_ref(),
        key.as_ref(),
        "--old-checkpoint".as_ref(),
        forged.as_os_str(),
    ])
    .assert_fails_with(&["saved checkpoint", "checkpoint signature"]);

    // A receipt for event 1 and its entry, verified offline with nothing but the key.
    let (status, receipt_text) = demo.get_text("/admin/v1/events/1/receipt").await;
    assert_eq!(status, 200, "{receipt_text}");
    let (status, answer_text) = demo.get_text("/admin/v1/events/1").await;
    assert_eq!(status, 200, "{answer_text}");
    let answer: serde_json::Value = serde_json::from_str(&answer_text).unwrap();
    assert_eq!(answer["log_index"], 0);
    let entry = answer["entry"].as_str().unwrap();
    let receipt = demo.path("event-1.tlog-proof");
    let entry_file = demo.path("event-1.entry");
    let answer_file = demo.path("event-1.json");
    std::fs::write(&receipt, &receipt_text).unwrap();
    std::fs::write(&entry_file, entry).unwrap();
    std::fs::write(&answer_file, &answer_text).unwrap();
    let offline_receipt = verify(&[
        "--key".as_ref(),
        key.as_ref(),
        "--receipt".as_ref(),
        receipt.as_os_str(),
        "--entry-file".as_ref(),
        entry_file.as_os_str(),
    ]);
    offline_receipt.assert_ok();
    let lines = offline_receipt.lines();
    assert!(lines[0].starts_with(&format!("ok   receipt `{}`", receipt.display())), "{lines:?}");
    assert!(lines[0].contains("is entry 1 (leaf index 0)"), "{lines:?}");
    assert!(offline_receipt.verified_size() >= 1);
    // The API answer itself works as the entry file.
    verify(&[
        "--key".as_ref(),
        key.as_ref(),
        "--receipt".as_ref(),
        receipt.as_os_str(),
        "--entry-file".as_ref(),
        answer_file.as_os_str(),
    ])
    .assert_ok();
    // With the log too: the receipt's checkpoint is consistent with the log's.
    let with_log = verify(&[
        "--url".as_ref(),
        demo.log_url().as_ref(),
        "--key".as_ref(),
        key.as_ref(),
        "--receipt".as_ref(),
        receipt.as_os_str(),
        "--entry-file".as_ref(),
        entry_file.as_os_str(),
    ]);
    with_log.assert_ok();
    assert!(
        with_log.lines().iter().any(|line| line.starts_with("ok   receipt checkpoint at size ")
            || line.starts_with("note receipt checkpoint at size ")),
        "{}",
        with_log.stdout
    );
    // A modified entry is not the one the receipt vouches for.
    let modified = demo.path("event-1-modified.entry");
    std::fs::write(&modified, entry.replacen("\"seq\":1", "\"seq\":2", 1)).unwrap();
    verify(&[
        "--key".as_ref(),
        key.as_ref(),
        "--receipt".as_ref(),
        receipt.as_os_str(),
        "--entry-file".as_ref(),
        modified.as_os_str(),
    ])
    .assert_fails_with(&["receipt", "is not leaf index 0"]);
    // A receipt checked against the wrong key fails on the signature.
    verify(&[
        "--key".as_ref(),
        wrong_key.as_ref(),
        "--receipt".as_ref(),
        receipt.as_os_str(),
        "--entry-file".as_ref(),
        entry_file.as_os_str(),
    ])
    .assert_fails_with(&["receipt", "checkpoint signature"]);
}

#[test]
fn an_unreachable_log_is_named_in_the_error() {
    let url = format!("http://127.0.0.1:{}/log", free_port());
    let key = NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap().verifier().to_vkey_string();
    verify(&["--url", &url, "--key", &key]).assert_fails_with(&[&format!("`{url}/checkpoint`")]);
}

/// The origin of the logs built in memory.
const BUILT_ORIGIN: &str = "log.example.test/built";

/// A log built with the translog library: the entries' stored hashes.
struct BuiltLog {
    entries: Vec<String>,
    stored: Vec<Hash>,
}

impl BuiltLog {
    fn new(n_leaves: u64, tag: &str) -> Self {
        let entries: Vec<String> = (0..n_leaves).map(|leaf_idx| format!("{{\"{tag}\":{leaf_idx}}}")).collect();
        let stored = append_entries(0, &entries, &Vec::new()).unwrap().stored_hashes;
        Self { entries, stored }
    }

    /// The checkpoint note at `size`, signed by `log` and cosigned by `witnesses`.
    fn checkpoint(&self, size: u64, log: &NoteSigner, witnesses: &[&CosignatureSigner]) -> String {
        let text = Checkpoint::new(BUILT_ORIGIN, size, tree_hash(size, &self.stored).unwrap()).unwrap().to_text();
        let mut note = Note::parse(&log.sign_note(&text).unwrap()).unwrap();
        for witness in witnesses {
            note.add_signature(witness.cosign(&text, 1_800_000_000).unwrap());
        }
        note.to_message()
    }

    /// Writes every tile and bundle of the whole log, and `checkpoint`, in the C2SP layout.
    fn write(&self, dir: &Path, checkpoint: &str) {
        let size = u64::try_from(self.entries.len()).unwrap();
        let write = |path: String, bytes: &[u8]| {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, bytes).unwrap();
        };
        for tile in tiles_for_size(size) {
            write(tile.path(), &read_tile(&tile, &self.stored).unwrap());
        }
        for bundle in bundles_for_growth(0, size) {
            let first = usize::try_from(bundle.first_leaf()).unwrap();
            let entries = &self.entries[first..first + usize::from(bundle.width())];
            write(bundle.path(), &encode_bundle(entries).unwrap());
        }
        write("checkpoint".to_owned(), checkpoint.as_bytes());
    }
}

#[test]
fn a_witnessed_log_across_tile_levels_and_a_fork_from_a_saved_checkpoint() {
    // 70,000 leaves: 273 full level-0 tiles and a partial one, tiles at levels 1 and 2, and
    // more leaves than one verification chunk.
    let size: u64 = 70_000;
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let log = NoteSigner::from_seed(BUILT_ORIGIN, &[3; 32]).unwrap();
    let witness_one = CosignatureSigner::from_seed("witness-one.example.test", &[4; 32]).unwrap();
    let witness_two = CosignatureSigner::from_seed("witness-two.example.test", &[5; 32]).unwrap();
    let absent_witness = CosignatureSigner::from_seed("witness-three.example.test", &[6; 32]).unwrap();
    let built = BuiltLog::new(size, "n");
    built.write(&log_dir, &built.checkpoint(size, &log, &[&witness_one, &witness_two]));
    let key = log.verifier().to_vkey_string();
    let one = witness_one.verifier().to_vkey_string();
    let two = witness_two.verifier().to_vkey_string();
    let three = absent_witness.verifier().to_vkey_string();
    let base = ["--dir".as_ref(), log_dir.as_os_str(), "--key".as_ref(), key.as_ref()];

    let run = verify(&[&base[..], &["--witness".as_ref(), one.as_ref(), "--witness".as_ref(), two.as_ref()]].concat());
    run.assert_ok();
    let lines = run.lines();
    assert!(
        lines[1].starts_with("ok   witness cosignatures: 2 of 2 required (`witness-one.example.test` at 1800000000")
    );
    let n_tiles = tiles_for_size(size).len();
    assert_eq!(lines[2], format!("ok   tiles: {n_tiles} tiles verified against the root at size {size}"));
    assert_eq!(lines[3], format!("ok   entries: {size} entries in 274 bundles match their leaf hashes"));
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "verified: origin {BUILT_ORIGIN}, size {size}, root {}",
            tree_hash(size, &built.stored).unwrap().to_base64()
        )
    );

    // Entries on either side of the chunk boundary and the last one.
    for seq in ["65536", "65537", "70000"] {
        let run = verify(&[&base[..], &["--entry".as_ref(), seq.as_ref()]].concat());
        run.assert_ok();
        let leaf_idx: u64 = seq.parse::<u64>().unwrap() - 1;
        assert_eq!(run.lines()[4].trim_start(), format!("{{\"n\":{leaf_idx}}}"));
    }

    // A witness that did not cosign: the default quorum (all) fails, a quorum of 2 passes.
    let three_witnesses =
        ["--witness".as_ref(), one.as_ref(), "--witness".as_ref(), two.as_ref(), "--witness".as_ref(), three.as_ref()];
    verify(&[&base[..], &three_witnesses].concat()).assert_fails_with(&[
        "witness cosignatures",
        "2 valid",
        "3 required",
    ]);
    verify(&[&base[..], &three_witnesses, &["--quorum".as_ref(), "2".as_ref()]].concat()).assert_ok();
    // The log key given as a witness key is refused, naming the argument.
    verify(&[&base[..], &["--witness".as_ref(), key.as_ref()]].concat()).assert_fails_with(&["--witness"]);

    // A full level-1 tile whose hash disagrees with its parent is named.
    let tampered = dir.path().join("tampered-level-1");
    tampered_copy(&log_dir, &tampered, "tile/1/000", 100);
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&["tile `tile/1/000`"]);
    // So is a full level-0 tile in the second chunk.
    let tampered = dir.path().join("tampered-level-0");
    tampered_copy(&log_dir, &tampered, "tile/0/260", 100);
    verify(&["--dir".as_ref(), tampered.as_os_str(), "--key".as_ref(), key.as_ref()])
        .assert_fails_with(&["tile `tile/0/260`"]);

    // A checkpoint the log signed earlier is consistent with the current one...
    let saved = dir.path().join("saved.checkpoint");
    std::fs::write(&saved, built.checkpoint(1_000, &log, &[])).unwrap();
    let run = verify(&[&base[..], &["--old-checkpoint".as_ref(), saved.as_os_str()]].concat());
    run.assert_ok();
    assert!(run.lines().contains(&"ok   consistent with the saved checkpoint at size 1000"), "{}", run.stdout);
    // ...but one from a fork (other entries under the same key) is not.
    let fork = BuiltLog::new(1_000, "fork");
    std::fs::write(&saved, fork.checkpoint(1_000, &log, &[])).unwrap();
    verify(&[&base[..], &["--old-checkpoint".as_ref(), saved.as_os_str()]].concat())
        .assert_fails_with(&["consistency with the saved checkpoint at size 1000"]);
    // A saved checkpoint bigger than the current one is a rollback.
    std::fs::write(&saved, BuiltLog::new(size + 1, "n").checkpoint(size + 1, &log, &[])).unwrap();
    verify(&[&base[..], &["--old-checkpoint".as_ref(), saved.as_os_str()]].concat())
        .assert_fails_with(&["consistency with the saved checkpoint", "smaller than the saved size"]);
}
