//! `portcullis criteria check`, offline: the real binary against policy files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::process::Command;

const CRITERIA: &str = r#"@id("kyc-verified")
@description("KYC completed")
permit (principal, action, resource) when { principal has kyc && principal.kyc == "verified" };
@id("us-research")
permit (principal, action, resource) when { principal has country && principal.country == "US" && principal has sector && principal.sector == "research" };
"#;

#[track_caller]
fn check(policies: &str, attributes: &str, expect_code: i32, expect_out: &[&str], expect_err: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("criteria.cedar");
    std::fs::write(&file, policies).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["criteria", "check", "--policies-file"])
        .arg(&file)
        .args(["--attributes", attributes])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(expect_code), "stdout: {stdout}\nstderr: {stderr}");
    for line in expect_out {
        assert!(stdout.contains(line), "`{line}` not in {stdout}");
    }
    assert!(stderr.contains(expect_err), "`{expect_err}` not in {stderr}");
}

#[test]
fn clause_by_clause_with_exit_codes() {
    check(
        CRITERIA,
        r#"{"kyc":"verified"}"#,
        0,
        &["holds  kyc-verified: KYC completed", "fails  us-research", "admitted"],
        "",
    );
    check(CRITERIA, r#"{"country":"US","sector":"research"}"#, 0, &["fails  kyc-verified", "holds  us-research"], "");
    check(CRITERIA, r#"{"kyc":"pending"}"#, 2, &["not admitted: no clause holds"], "");
    // Bad input: one readable line and exit 1.
    check(CRITERIA, r#"{"kyc":"#, 1, &[], "error: --attributes is not JSON");
    check(CRITERIA, r#"{"planet":"mars"}"#, 1, &[], "error: customer attributes:");
    check("permit (principal, action, resource)\nwhen { principal.kyc == };", "{}", 1, &[], "error: line 2, column");
}
