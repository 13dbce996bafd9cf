//! Start-up at scale: how long the gateway takes to check the transparency log against a SQLite
//! store and rebuild its state from the events (`Engine::start`, what `portcullis serve` does
//! before it listens), and the memory it takes at its peak while doing so.
//!
//! Run with `cargo bench -p portcullis-gateway --bench startup`. `CUSTOMERS=100000,1000000` (the
//! default) sets the worlds; each customer is three events (created, an API key, and for nine in
//! ten a grant), plus the governance around them (a gated model in preview with criteria and
//! three directives). A world's database is built once, through the store's own `append` in
//! batches of 512 with a signed checkpoint at the end, and kept under
//! `target/bench-startup/` for the next run (about 1.2 GB for a million customers).
//!
//! Each world is started two ways: replaying every event, and from a state checkpoint written at
//! its last event (`state-<format>.checkpoint` beside the database, written once by a full start).
//!
//! Each start runs in a fresh child process, so the peak resident set (`VmHWM`) is the start's
//! alone and no page cache of a previous start sits in the heap. The database file itself is in
//! the OS page cache after the first start: the figures are for a warm restart, not a cold disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, reason = "benchmark code")]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_core::policy::CedarSchema;
use portcullis_core::*;
use portcullis_gateway::checkpoint::CheckpointFile;
use portcullis_gateway::engine::{Engine, Replication, SystemClock};
use portcullis_gateway::transparency::load_or_create_signer;
use portcullis_store::{EventStore as _, SqliteStore};

const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000);
const ORIGIN: &str = "bench.portcullis.example/log";
/// Starts per world; the median is reported.
const RUNS: usize = 3;
/// The child process measures one start of the database at this path.
const MEASURE_ENV: &str = "PORTCULLIS_STARTUP_MEASURE";

const CRITERIA: &str = r#"@id("kyc-and-screening")
permit(principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };"#;
const DIRECTIVES: [(&str, &str); 3] = [
    (
        "EC-US-NATIONALS",
        r#"@id("us-nationals-only")
forbid(principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#,
    ),
    (
        "EC-EMBARGO",
        r#"@id("embargoed-residency")
forbid(principal, action, resource)
when { context has end_user && context.end_user has residency && ["CU", "IR", "KP", "SY"].contains(context.end_user.residency) };"#,
    ),
    (
        "EC-IDENTITY",
        r#"@id("identity-verified")
forbid(principal, action, resource)
unless { context has end_user && context.end_user has identity_verified && context.end_user.identity_verified };"#,
    ),
];

/// The child measures a start that reads this state checkpoint (else it replays every event).
const CHECKPOINT_ENV: &str = "PORTCULLIS_STARTUP_CHECKPOINT";

fn main() {
    if let Ok(dir) = std::env::var(MEASURE_ENV) {
        measure(Path::new(&dir), std::env::var_os(CHECKPOINT_ENV).map(PathBuf::from));
        return;
    }
    let worlds: Vec<u64> = std::env::var("CUSTOMERS")
        .unwrap_or_else(|_| "100000,1000000".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("CUSTOMERS is a comma-separated list of numbers"))
        .collect();
    let root = target_dir().join("bench-startup");
    println!("## Start-up: check the log and rebuild the state (`Engine::start`, SQLite)\n");
    println!(
        "{RUNS} starts per world and way, each in a fresh process; median wall time, and the highest peak resident \
         set of the {RUNS}. A full replay reads, checks and applies every event; from a state checkpoint (written \
         at the log's last event) a start reads the file, checks the stored log reproduces its tree head, and \
         replays what follows it (nothing here).\n"
    );
    println!(
        "| customers | events | database | full replay | per event | peak RSS | checkpoint file | from the checkpoint | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in worlds {
        let dir = root.join(n.to_string());
        let events = ensure_world(&dir, n);
        let checkpoint = ensure_checkpoint(&dir);
        let db_size = std::fs::metadata(dir.join("events.db")).map(|m| m.len()).unwrap_or(0);
        let checkpoint_size = std::fs::metadata(&checkpoint).map(|m| m.len()).unwrap_or(0);
        let (replay, replay_peak) = starts(&dir, None);
        let (resumed, resumed_peak) = starts(&dir, Some(&checkpoint));
        println!(
            "| {} | {} | {} | {:.2} s | {:.2} µs | {} | {} | {:.2} s | {} |",
            fmt_int(n),
            fmt_int(events),
            fmt_bytes(db_size),
            replay.as_secs_f64(),
            replay.as_secs_f64() * 1e6 / events as f64,
            fmt_bytes(replay_peak),
            fmt_bytes(checkpoint_size),
            resumed.as_secs_f64(),
            fmt_bytes(resumed_peak),
        );
    }
}

/// {RUNS} starts, each in a child: the median wall time and the highest peak resident set.
fn starts(dir: &Path, checkpoint: Option<&Path>) -> (Duration, u64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..RUNS {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.env(MEASURE_ENV, dir);
        if let Some(path) = checkpoint {
            child.env(CHECKPOINT_ENV, path);
        }
        let output = child.output().expect("the measuring child runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        let fields: Vec<u64> = text.split_whitespace().map(|f| f.parse().unwrap()).collect();
        times.push(Duration::from_nanos(fields[0]));
        peak = peak.max(fields[1]);
    }
    times.sort();
    (times[RUNS / 2], peak)
}

/// One start, in the child: prints wall nanoseconds, peak and current resident bytes.
fn measure(dir: &Path, checkpoint: Option<PathBuf>) {
    let reads_checkpoint = checkpoint.is_some();
    // Never due again: the start reads the checkpoint and writes none.
    let (engine, elapsed) = start(dir, checkpoint.map(|path| CheckpointFile::new(path, u64::MAX)));
    assert!(engine.snapshot().state().n_customers() > 0);
    let replayed = engine.checkpoint_metrics().start_replayed_events.get();
    assert_eq!(replayed == 0, reads_checkpoint, "{replayed} events replayed");
    println!("{} {} {}", elapsed.as_nanos(), status_bytes("VmHWM:"), status_bytes("VmRSS:"));
}

/// Starts the engine on the world in `dir`; the time is opening the store and `Engine::start`.
fn start(dir: &Path, checkpoint: Option<CheckpointFile>) -> (Engine, Duration) {
    let signer = Arc::new(load_or_create_signer(&dir.join("log-signing-key"), ORIGIN).unwrap());
    let initial = State::new(Arc::new(CedarSchema::default_schema().unwrap()), Vec::new());
    let replication = Replication { heartbeat: Duration::from_secs(1), staleness_bound: Duration::from_secs(10) };
    let started = Instant::now();
    let store = SqliteStore::open(&dir.join("events.db")).unwrap();
    let engine =
        Engine::start(Box::new(store), initial, Arc::new(SystemClock), signer, replication, checkpoint).unwrap();
    (engine, started.elapsed())
}

/// Writes the world's state checkpoint at its last event unless there is one: a full start whose
/// writer writes it (due at once), waited for.
fn ensure_checkpoint(dir: &Path) -> PathBuf {
    // Named by its format, so a layout change makes a new one rather than reuse one that no
    // longer reads.
    let path = dir.join(format!("state-{}.checkpoint", portcullis_core::state::checkpoint::FORMAT));
    if path.exists() {
        return path;
    }
    eprintln!("writing the state checkpoint of {} (once)", dir.display());
    let (engine, _) = start(dir, Some(CheckpointFile::new(path.clone(), 1)));
    let last = i64::try_from(engine.snapshot().state().last_seq).unwrap();
    while engine.checkpoint_metrics().sequence.get() < last {
        assert_eq!(engine.checkpoint_metrics().write_failures.get(), 0, "the checkpoint could not be written");
        std::thread::sleep(Duration::from_millis(50));
    }
    path
}

/// Builds the world's database unless a complete one is there; returns its number of events.
fn ensure_world(dir: &Path, n: u64) -> u64 {
    let db = dir.join("events.db");
    let done = dir.join("complete");
    if let Ok(text) = std::fs::read_to_string(&done) {
        return text.trim().parse().unwrap();
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    eprintln!("building a world of {n} customers in {} (once)", dir.display());
    let signer = load_or_create_signer(&dir.join("log-signing-key"), ORIGIN).unwrap();
    let mut store = SqliteStore::open(&db).unwrap();
    let mut state = State::new(Arc::new(CedarSchema::default_schema().unwrap()), Vec::new());
    let mut pending = governance(&state);
    let provider = Actor::Provider { name: "ops".to_owned() };
    let official = Actor::Authority {
        authority: AuthorityId::parse("bis").unwrap(),
        official: OfficialName::parse("j.doe").unwrap(),
    };
    let classes = classes();
    let model = ModelName::parse("frontier").unwrap();
    let mut seq = 0;
    let mut flush = |state: &mut State, pending: &mut Vec<(Actor, Event)>, seq: &mut u64| {
        let records: Vec<EventRecord> = pending
            .drain(..)
            .map(|(actor, event)| {
                *seq += 1;
                EventRecord { seq: *seq, at: T0, actor, event }
            })
            .collect();
        for record in &records {
            state.apply(record).unwrap();
        }
        store.append(&records).unwrap();
    };
    for i in 0..n {
        if pending.len() >= 509 {
            flush(&mut state, &mut pending, &mut seq);
        }
        let customer = CustomerId::parse(&format!("cust-{i:08}")).unwrap();
        let attributes = classes[(i % classes.len() as u64) as usize].clone();
        pending.push((
            provider.clone(),
            Event::CustomerCreated { customer: customer.clone(), name: format!("Customer {i}"), attributes },
        ));
        pending.push((
            provider.clone(),
            Event::KeyIssued {
                key_id: KeyId::parse(&format!("key_{i:010}")).unwrap(),
                customer: customer.clone(),
                label: "production".to_owned(),
                key_hash: SecretHash::of_secret(&format!("pk_live_{i:032x}")),
            },
        ));
        if i % 10 != 9 {
            pending.push((
                official.clone(),
                Event::GrantIssued {
                    customer,
                    model: model.clone(),
                    expires_at: None,
                    reason: "approved".to_owned(),
                    application: None,
                    appeal: None,
                },
            ));
        }
    }
    flush(&mut state, &mut pending, &mut seq);
    store.sign_checkpoint(&signer, T0).unwrap();
    std::fs::write(&done, seq.to_string()).unwrap();
    seq
}

/// The governance around the customers, through `handle` as the gateway would make it.
fn governance(empty: &State) -> Vec<(Actor, Event)> {
    let mut state = empty.clone();
    let mut events = Vec::new();
    let provider = Actor::Provider { name: "ops".to_owned() };
    let official = Actor::Authority {
        authority: AuthorityId::parse("bis").unwrap(),
        official: OfficialName::parse("j.doe").unwrap(),
    };
    let model = ModelName::parse("frontier").unwrap();
    let upstream = Upstream { base_url: "http://127.0.0.1:9/v1".to_owned(), upstream_model: None, api_key_env: None };
    let mut commands = vec![
        (
            provider.clone(),
            Command::RegisterAuthority { authority: AuthorityId::parse("bis").unwrap(), name: "Bureau".to_owned() },
        ),
        (provider.clone(), Command::RegisterModel { model: model.clone(), description: "m".to_owned(), upstream }),
        (
            provider.clone(),
            Command::PublishCriteria { model: model.clone(), text: "KYC".to_owned(), policies: CRITERIA.to_owned() },
        ),
        (
            provider.clone(),
            Command::SetProcedure {
                model: model.clone(),
                procedure: portcullis_core::procedure::Procedure {
                    review_days: 0,
                    ..portcullis_core::procedure::Procedure::default()
                },
            },
        ),
    ];
    for stage in ["review", "preview"] {
        commands.push((
            provider.clone(),
            Command::ChangeStage {
                model: model.clone(),
                target: StageTarget::parse(stage).unwrap(),
                reason: "release plan".to_owned(),
            },
        ));
    }
    for (id, policies) in DIRECTIVES {
        commands.push((
            official.clone(),
            Command::IssueDirective {
                directive: DirectiveId::parse(id).unwrap(),
                legal_basis: "15 CFR 744".to_owned(),
                description: "export control".to_owned(),
                scope: DirectiveScope::Models { models: vec![model.clone()] },
                policies: policies.to_owned(),
                effective_at: None,
                expires_at: None,
                emergency_justification: Some("bench".to_owned()),
                evidence: vec![Evidence::withheld("assessment", "classified".to_owned())],
            },
        ));
    }
    for (actor, command) in commands {
        for event in handle(&state, &actor, command, T0).unwrap() {
            let record = EventRecord { seq: state.last_seq + 1, at: T0, actor: actor.clone(), event };
            state.apply(&record).unwrap();
            events.push((actor.clone(), record.event));
        }
    }
    events
}

/// 300 attribute classes: country × tier × sector.
fn classes() -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut classes = Vec::new();
    for country in ["US", "CA", "GB", "FR", "DE", "NL", "SE", "NO", "DK", "FI", "IE", "ES", "IT", "PT", "JP"] {
        for tier in ["free", "team", "business", "enterprise", "research"] {
            for sector in ["software", "finance", "health", "energy"] {
                let json = serde_json::json!({ "country": country, "tier": tier, "sector": sector, "kyc": "verified" });
                classes.push(json.as_object().unwrap().clone());
            }
        }
    }
    classes
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from)
}

/// A size line of `/proc/self/status` (in KiB there), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_bytes(bytes: u64) -> String {
    let gib = bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    if gib >= 1.0 { format!("{gib:.2} GiB") } else { format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0)) }
}
