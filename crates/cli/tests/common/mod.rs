//! What the CLI's test files share: a free port, and waiting for a `portcullis demo` to serve.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure with a message")]
#![allow(dead_code, reason = "each test file uses its own part of what is shared")]

use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// Only a bound on polling: nothing asserts how long anything took.
pub const STARTUP_BOUND: Duration = Duration::from_secs(60);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the demo `child` answers `/readyz` at `gateway` and has written its
/// `demo.json` into `data_dir`; returns that file. Fails if the demo exits first or takes
/// longer than [`STARTUP_BOUND`].
pub async fn wait_for_demo(
    client: &reqwest::Client,
    child: &mut Child,
    gateway: &str,
    data_dir: &Path,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + STARTUP_BOUND;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the demo did not start with a demo.json");
        assert!(child.try_wait().unwrap().is_none(), "the demo exited early");
        let ready =
            client.get(format!("{gateway}/readyz")).send().await.is_ok_and(|response| response.status().is_success());
        // demo.json is written in place, so a read may see half of it: retry until it parses.
        let json = std::fs::read(data_dir.join("demo.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        if let (true, Some(json)) = (ready, json) {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
