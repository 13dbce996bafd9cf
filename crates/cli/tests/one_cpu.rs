//! The server on a single CPU: `portcullis demo` started under `taskset -c 0` picks the
//! current-thread runtime (its log says so) and still gates, streams and shuts down gracefully,
//! all on the one thread. The other tests run it multi-threaded on the machine's CPUs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::STARTUP_BOUND;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_cpu_the_gateway_runs_current_thread_and_still_gates_streams_and_stops() {
    let taskset = Command::new("taskset").arg("--version").output();
    assert!(taskset.is_ok_and(|o| o.status.success()), "this test needs `taskset` (Debian: util-linux)");
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log_path = dir.path().join("demo.log");
    let port = common::free_port();
    let mut demo = Killed(
        Command::new("taskset")
            .args(["-c", "0", env!("CARGO_BIN_EXE_portcullis"), "demo", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("RUST_LOG", "info")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let gateway = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let demo_json = common::wait_for_demo(&client, &mut demo.0, &gateway, &data_dir).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("async runtime") && log.contains("current-thread"),
        "runtime not logged as current-thread:\n{log}"
    );

    let key = demo_json["customers"].as_array().unwrap().iter().find(|c| c["id"] == "acme").unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let attested = |who: &str| demo_json["attestation"][who].as_str().unwrap().to_owned();
    let ask = |attestation: String, stream: bool| {
        client
            .post(format!("{gateway}/v1/chat/completions"))
            .bearer_auth(&key)
            .header("Portcullis-Attestation", attestation)
            .json(&serde_json::json!({
                "model": "frontier",
                "stream": stream,
                "messages": [{"role": "user", "content": "hello"}],
            }))
            .send()
    };

    // Gated: the export-control directive admits the US national and cuts the other.
    let allowed = ask(attested("us_national"), false).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.json::<serde_json::Value>().await.unwrap()["object"], "chat.completion");
    let cut = ask(attested("non_us_national"), false).await.unwrap();
    assert_eq!(cut.status(), 403);
    let body: serde_json::Value = cut.json().await.unwrap();
    assert_eq!(body["error"]["code"], "directive_in_force", "{body}");

    // Streamed chunk by chunk, through the same single thread as the upstream it calls.
    let mut stream = ask(attested("us_national"), true).await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut chunks = 0;
    let mut text = String::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        chunks += 1;
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(chunks > 1, "the answer came in one piece: {text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // SIGTERM: a graceful stop, exit status 0.
    let pid = demo.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + STARTUP_BOUND;
    let status = loop {
        if let Some(status) = demo.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the demo did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
