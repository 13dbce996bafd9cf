//! `GET /register`: every model with its stage, criteria version, directives in force and
//! decision statistics; the directives in force; the latest signed checkpoint and the command
//! that verifies the log.

use axum::extract::State;
use maud::{Markup, html};
use portcullis_core::state::DirectiveStatus;
use portcullis_core::statistics::statistics_by_model;
use portcullis_store::StoredCheckpoint;
use portcullis_translog::Checkpoint;
use portcullis_translog::note::Note;

use crate::app::AppState;
use crate::routes::register::View;
use crate::routes::register::directives::directive_rows;
use crate::routes::register::view::{Page, badge, duration, entry_link, segment, stage_badge};
use crate::transparency::Transparency;

/// `GET /register`.
pub async fn get(State(app): State<AppState>) -> Page {
    let view = View::of(&app);
    let state = view.snapshot.state();
    let statistics = statistics_by_model(state, view.now);
    let in_force: Vec<_> = state.directives().filter(|d| d.status(view.now) == DirectiveStatus::InForce).collect();
    let content = html! {
        h1 { "Public register" }
        p.lede {
            "Which AI models this gateway serves, on what published criteria, under which directives of which "
            "authorities, and how those authorities have decided. Everything here is derived from a public, "
            "tamper-evident log: each item links to its entry, and anyone can "
            a href="#log" { "verify the log" } " with the command below."
        }
        section aria-labelledby="models" {
            h2 #models { "Models" }
            @if state.models().next().is_none() {
                p.muted { "No model is registered yet." }
            } @else {
                div.table-scroll {
                    table.data {
                        caption { "Every model: release stage, current criteria, directives in force, and decisions on applications for access" }
                        thead {
                            tr {
                                th scope="col" { "Model" }
                                th scope="col" { "Stage" }
                                th scope="col" { "Criteria" }
                                th.num scope="col" { "Directives in force" }
                                th.num scope="col" { "Approved" }
                                th.num scope="col" { "Denied" }
                                th.num scope="col" { "Pending" }
                                th.num scope="col" { "Overdue" }
                                th scope="col" { "Median time to decision" }
                            }
                        }
                        tbody {
                            @for model in state.models() {
                                @let stats = statistics.get(&model.name).cloned().unwrap_or_default().applications;
                                tr {
                                    th scope="row" { a href={ "/register/models/" (segment(model.name.as_str())) } { (model.name) } }
                                    td { (stage_badge(model.stage)) }
                                    td {
                                        @match &model.criteria {
                                            Some(criteria) => {
                                                "version " (criteria.version) br;
                                                code.hash title=(criteria.content_hash) { (short_hash(&criteria.content_hash)) }
                                            }
                                            None => { span.muted { "none published" } }
                                        }
                                    }
                                    td.num { (model.directives.iter().filter(|d| d.in_force(view.now)).count()) }
                                    td.num { (stats.approved) }
                                    td.num { (stats.denied) }
                                    td.num { (stats.pending) }
                                    td.num { @if stats.overdue > 0 { (badge("overdue", &format!("{} overdue", stats.overdue))) } @else { "0" } }
                                    td { (stats.median_decision_millis.map_or_else(|| "no decision yet".to_owned(), duration)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="directives" {
            h2 #directives { "Directives in force" }
            @if in_force.is_empty() {
                p.muted { "No directive is in force." }
            } @else {
                (directive_rows("Directives in force now, with their issuer, legal basis, scope and notice", &in_force, view.now))
            }
            p { a href="/register/directives" { "Every directive, past, present and scheduled" } }
        }
        (log_section(&app.transparency, &app.public_base_url))
    };
    view.page("Public register", content)
}

/// The latest signed checkpoint and how to verify it.
fn log_section(transparency: &Transparency, public_base_url: &str) -> Markup {
    let served = transparency.served.load_full();
    let summary = served.as_deref().and_then(summary);
    html! {
        section aria-labelledby="log" {
            h2 #log { "Transparency log" }
            p {
                "Every change to models, criteria, decisions, directives and appeals is appended to a public log "
                "that follows the C2SP specifications (tlog-tiles, tlog-checkpoint, signed-note). The log signs a "
                "checkpoint over all its entries; a checkpoint that contradicts an earlier one proves tampering."
            }
            @match (&served, &summary) {
                (Some(served), Some(summary)) => {
                    dl.facts {
                        dt { "Origin" } dd { code { (summary.checkpoint.origin()) } }
                        dt { "Entries" } dd { (summary.checkpoint.size()) }
                        dt { "Root hash" } dd { code.hash { (summary.checkpoint.root().to_base64()) } }
                        dt { "Witness cosignatures" }
                        dd {
                            @if summary.witnesses.is_empty() { "none configured" }
                            @else { (summary.witnesses.join(", ")) }
                        }
                    }
                    h3 { "The latest signed checkpoint" }
                    pre.code aria-label="The signed checkpoint" tabindex="0" { code { (served.note) } }
                    p { a href="/log/checkpoint" { "Fetch it as text" } " · the newest entry: " (entry_link(summary.checkpoint.size())) }
                }
                _ => { p.muted { "No checkpoint has been signed yet; one is signed within seconds of the first change." } }
            }
            h3 { "Verify it yourself" }
            p {
                "With the " code { "portcullis" } " command-line tool, check the signature, every tile of the log "
                "and that it only ever grew. Add " code { "--entry N" } " to check one entry, and "
                code { "--save-checkpoint FILE" } " to keep the checkpoint for next time."
            }
            pre.code.command aria-label="The verification command" tabindex="0" { code { (transparency.verify_command(public_base_url)) } }
            p.muted { "The verifier key: " code.hash { (transparency.verifier_key()) } }
        }
    }
}

struct CheckpointSummary {
    checkpoint: Checkpoint,
    /// Names of the keys that cosigned, other than the log's own.
    witnesses: Vec<String>,
}

/// Reads the checkpoint's fields and cosigners out of the served note, which the sequencer
/// signed (and so parses); a note that does not parse shows as "no checkpoint" rather than fail
/// the page.
fn summary(served: &StoredCheckpoint) -> Option<CheckpointSummary> {
    let note = Note::parse(&served.note).ok()?;
    let checkpoint = Checkpoint::parse(note.text()).ok()?;
    let witnesses =
        note.signatures().iter().map(|s| s.name().to_owned()).filter(|name| name != checkpoint.origin()).collect();
    Some(CheckpointSummary { checkpoint, witnesses })
}

/// The first 12 hex digits of a hash, for tables; the full hash is in the title and on the
/// model's page.
fn short_hash(hash: &str) -> String {
    format!("{}…", hash.get(..12).unwrap_or(hash))
}
