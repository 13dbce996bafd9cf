//! `GET /register/entries/{index}`: one entry of the transparency log, exactly as logged (the
//! canonical public JSON of the event, `EventRecord::public_json`), with its leaf hash, whether
//! a signed checkpoint covers it yet, its receipt and the command that checks it.
//!
//! The entry is public already (the log's entry bundles carry it); this page makes it readable
//! and linkable. It reads one row through the log's read-only connection.

use axum::extract::State;
use maud::html;
use portcullis_translog::leaf_hash;

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::register::view::{Page, code_block, time};
use crate::routes::register::{PageError, View};

/// `GET /register/entries/{index}` (log index = event sequence number − 1).
pub async fn get(State(app): State<AppState>, path: Result<ApiPath<u64>, ApiError>) -> Result<Page, PageError> {
    let ApiPath(index) = path?;
    let view = View::of(&app);
    let seq = index.saturating_add(1);
    let no_entry = || ApiError::NotFound { message: format!("the log has no entry {index}"), code: "not_found" };
    if seq > view.snapshot.state().last_seq {
        return Err(no_entry().into());
    }
    let transparency = app.transparency.clone();
    let entry = tokio::task::spawn_blocking(move || transparency.reader.entry(seq))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|err| ApiError::Internal(err.into()))?
        .ok_or_else(no_entry)?;
    let parsed: serde_json::Value = serde_json::from_str(&entry).unwrap_or_default();
    let kind = parsed.pointer("/event/type").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
    let at = parsed.get("at").and_then(serde_json::Value::as_i64).map(portcullis_core::Timestamp::from_millis);
    let covered = seq <= app.transparency.served_size();
    let pretty = serde_json::to_string_pretty(&parsed).unwrap_or_default();
    let check = format!("{} --entry {seq}", app.transparency.verify_command(&app.public_base_url));
    let content = html! {
        p.crumbs { a href="/register#log" { "Transparency log" } " / entry " (index) }
        h1 { "Log entry " (index) }
        dl.facts {
            dt { "Event" } dd { code { (kind) } " (sequence number " (seq) ")" }
            @if let Some(at) = at { dt { "Recorded" } dd { (time(at)) } }
            dt { "Leaf hash (RFC 6962)" } dd { code.hash { (leaf_hash(entry.as_bytes()).to_hex()) } }
            dt { "In a signed checkpoint" }
            dd {
                @if covered {
                    "yes · " a href={ "/admin/v1/events/" (seq) "/receipt" } { "inclusion receipt (C2SP tlog-proof)" }
                } @else {
                    "not yet: checkpoints are signed every " (app.transparency.checkpoint_interval_ms / 1000) " s or so"
                }
            }
        }
        nav.pager aria-label="Neighbouring entries" {
            @if index > 0 { a rel="prev" href={ "/register/entries/" (index - 1) } { "← entry " (index - 1) } }
            @if seq < view.snapshot.state().last_seq { a rel="next" href={ "/register/entries/" (index + 1) } { "entry " (index + 1) " →" } }
        }
        h2 { "The entry, exactly as logged" }
        p.muted { "Canonical JSON: keys sorted, no whitespace. These bytes are the leaf; secret hashes are never in it." }
        (code_block("The log entry", &entry))
        h2 { "The same, indented for reading" }
        (code_block("The log entry, indented", &pretty))
        h2 { "Check it yourself" }
        p { "Verify the log and that this entry is in it:" }
        pre.code.command aria-label="The command that checks this entry" tabindex="0" { code { (check) } }
    };
    Ok(view.page(&format!("Log entry {index}"), content))
}
