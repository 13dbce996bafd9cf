//! `GET /register/models/{model}`: a model's stage and release history (with how it was cleared
//! from review), its criteria (text, Cedar source, hash, every version, a diff between two with
//! `?diff=1..2`, an older version with `?version=1`), the directives that apply to it, and
//! aggregate statistics of decisions and appeals.

use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};
use portcullis_core::procedure::{Clearance, ReviewVerdict};
use portcullis_core::state::{Directive, Model};
use portcullis_core::statistics::{AppealStatistics, ApplicationStatistics, model_statistics};
use serde::Deserialize;

use crate::app::{ApiPath, ApiQuery, AppState};
use crate::error::ApiError;
use crate::routes::register::criteria::{CriteriaTexts, DiffLine, LineChange, diff, texts};
use crate::routes::register::directives::directive_rows;
use crate::routes::register::view::{Page, actor, badge, code_block, duration, entry_link, prose, stage_badge, time};
use crate::routes::register::{PageError, View};

/// Query of `GET /register/models/{model}`.
#[derive(Deserialize)]
pub struct ModelQuery {
    /// Show this criteria version instead of the current one.
    #[serde(default)]
    version: Option<u32>,
    /// Show the changes between two versions, `1..2`.
    #[serde(default)]
    diff: Option<String>,
    /// The older version to compare (the compare form's first field).
    #[serde(default)]
    from: Option<u32>,
    /// The newer version to compare.
    #[serde(default)]
    to: Option<u32>,
}

/// `GET /register/models/{model}`.
pub async fn get(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    query: Result<ApiQuery<ModelQuery>, ApiError>,
) -> Result<Page, PageError> {
    let ApiPath(name) = path?;
    let ApiQuery(query) = query?;
    let view = View::of(&app);
    let state = view.snapshot.state();
    let model = state
        .model(&name)
        .ok_or_else(|| ApiError::NotFound { message: format!("no model `{name}`"), code: "model_not_found" })?;
    let compare = compared_versions(&query)?;
    let shown = match (query.version, &model.criteria) {
        (Some(version), _) => Some(texts(&app, model, version).await?),
        (None, Some(current)) => Some(texts(&app, model, current.version).await?),
        (None, None) => None,
    };
    let changes = match compare {
        Some((from, to)) => Some((texts(&app, model, from).await?, texts(&app, model, to).await?)),
        None => None,
    };
    let directives: Vec<&Arc<Directive>> = state.directives().filter(|d| d.applies_to(&model.name)).collect();
    let statistics = model_statistics(state, &model.name, view.now);
    let content = html! {
        p.crumbs { a href="/register" { "Register" } " / " (model.name) }
        h1 { (model.name) " " (stage_badge(model.stage)) }
        (prose(&model.description))
        dl.facts {
            dt { "Stage" } dd { (stage_badge(model.stage)) }
            dt { "Registered" } dd { (time(model.registered_at)) }
            dt { "Criteria" } dd {
                @match &model.criteria { Some(c) => { "version " (c.version) }, None => "none published" }
            }
            dt { "Directives in force" } dd { (model.directives.iter().filter(|d| d.in_force(view.now)).count()) }
        }
        (history(model))
        (criteria_section(model, shown.as_ref(), changes.as_ref()))
        section aria-labelledby="directives" {
            h2 #directives { "Directives" }
            @if directives.is_empty() {
                p.muted { "No directive has ever applied to this model." }
            } @else {
                (directive_rows("Directives whose scope includes this model, past and present", &directives, view.now))
            }
        }
        section aria-labelledby="decisions" {
            h2 #decisions { "Decisions on applications" }
            p {
                "Customers apply for access; the authorities named in the model's procedure sign off. Counts only: "
                "who applied is not published."
            }
            (application_table(&statistics.applications))
        }
        section aria-labelledby="appeals" {
            h2 #appeals { "Appeals" }
            (appeal_table("Appeals concerning this model (against denials, revocations and directives), by outcome", &statistics.appeals))
        }
    };
    Ok(view.page(&format!("Model {}", model.name), content))
}

/// `?diff=1..2`, or `?from=1&to=2` from the compare form.
fn compared_versions(query: &ModelQuery) -> Result<Option<(u32, u32)>, ApiError> {
    if let (Some(from), Some(to)) = (query.from, query.to) {
        return Ok(Some((from, to)));
    }
    let Some(text) = &query.diff else { return Ok(None) };
    let parsed = text.split_once("..").and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.map(Some).ok_or_else(|| ApiError::BadRequest {
        message: format!("`diff` must name two versions like `1..2`, not `{text}`"),
        param: Some("diff"),
        code: "invalid_value",
    })
}

/// The release history: every stage change, and how the model left review.
fn history(model: &Model) -> Markup {
    html! {
        section aria-labelledby="history" {
            h2 #history { "Release history" }
            @if model.stage_history.is_empty() {
                p.muted { "Registered, still in draft: no stage change yet." }
            } @else {
                div.table-scroll {
                    table.data {
                        caption { "Every stage change, oldest first, with who made it and how the model was cleared from review" }
                        thead { tr {
                            th scope="col" { "When" } th scope="col" { "Change" } th scope="col" { "Reason" }
                            th scope="col" { "By" } th scope="col" { "Review clearance" } th scope="col" { "Log" }
                        } }
                        tbody {
                            @for change in &model.stage_history {
                                tr {
                                    td { (time(change.at)) }
                                    th scope="row" { (change.from.name()) " → " (change.to.name()) }
                                    td { (change.reason) }
                                    td { (actor(&change.actor)) }
                                    td {
                                        @match &change.clearance {
                                            Some(Clearance::Cleared { authorities }) => {
                                                (badge("cleared", "cleared")) " by "
                                                (authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))
                                            }
                                            Some(Clearance::DeemedCleared { clock_ended_at }) => {
                                                (badge("deemed-cleared", "deemed cleared")) " the review clock ran out at "
                                                (time(*clock_ended_at)) " with no objection standing"
                                            }
                                            None => { span.muted { "—" } }
                                        }
                                    }
                                    td { (entry_link(change.seq)) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(clock) = &model.review {
                h3 { "Pre-release review" }
                p {
                    "Review started " (time(clock.started_at)) "; the clock runs until " (time(clock.ends_at)) ". "
                    "Sign-off authorities: "
                    @if model.procedure.signoff.authorities.is_empty() { "none named" }
                    @else {
                        (model.procedure.signoff.authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))
                        " (" (model.procedure.signoff.required) " of " (model.procedure.signoff.authorities.len()) " required)"
                    }
                    "."
                }
                @if !clock.positions.is_empty() {
                    div.table-scroll {
                        table.data {
                            caption { "Positions recorded by authorities during review; an authority's latest counts" }
                            thead { tr {
                                th scope="col" { "When" } th scope="col" { "Authority" } th scope="col" { "Position" }
                                th scope="col" { "Reasons" } th scope="col" { "Log" }
                            } }
                            tbody {
                                @for position in &clock.positions {
                                    tr {
                                        td { (time(position.at)) }
                                        th scope="row" { (position.authority) " (" (position.official) ")" }
                                        td { @match position.verdict {
                                            ReviewVerdict::Clear => (badge("cleared", "clear")),
                                            ReviewVerdict::Object => (badge("objection", "objection")),
                                        } }
                                        td { (position.reasons) }
                                        td { (entry_link(position.seq)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The criteria: the version shown, every version, the compare form and the diff asked for.
fn criteria_section(
    model: &Model,
    shown: Option<&CriteriaTexts>,
    changes: Option<&(CriteriaTexts, CriteriaTexts)>,
) -> Markup {
    let current_version = model.criteria.as_ref().map(|c| c.version);
    let href = |q: &str| format!("?{q}#criteria");
    html! {
        section aria-labelledby="criteria" {
            h2 #criteria { "Access criteria" }
            @match shown {
                None => { p.muted { "No criteria have been published for this model." } }
                Some(shown) => {
                    @if Some(shown.version) != current_version {
                        p.callout role="note" {
                            "You are reading version " (shown.version) ", which is not in force. "
                            a href="?#criteria" { "Read the current version" }
                        }
                    }
                    dl.facts {
                        dt { "Version" } dd { (shown.version) @if Some(shown.version) == current_version { " " (badge("status-in_force", "current")) } }
                        dt { "Content hash (SHA-256)" } dd { code.hash { (shown.content_hash) } }
                        dt { "Published" } dd { (time(shown.published_at)) " · " (entry_link(shown.published_seq)) }
                    }
                    h3 { "In plain words" }
                    (prose(&shown.text))
                    h3 { "As enforced (Cedar)" }
                    p.muted { "The policy the gate evaluates; a customer can check it against its own attributes with " code { "portcullis criteria check" } "." }
                    (code_block("The criteria's Cedar policies", &shown.policies))
                    @if let Some(Ok(compiled)) = model.criteria.as_ref().filter(|c| c.version == shown.version).map(|c| &c.compiled) {
                        @if compiled.clauses().next().is_some() {
                            h3 { "Clauses" }
                            p.muted { "Decisions cite these ids." }
                            ul.clauses {
                                @for clause in compiled.clauses() {
                                    li { code { (clause.clause_id) } @if let Some(d) = &clause.description { ": " (d) } }
                                }
                            }
                        }
                    }
                }
            }
            @if !model.criteria_history.is_empty() {
                h3 #versions { "Versions" }
                div.table-scroll {
                    table.data {
                        caption { "Every published version of the criteria, oldest first" }
                        thead { tr {
                            th scope="col" { "Version" } th scope="col" { "Content hash (SHA-256)" }
                            th scope="col" { "Published" } th scope="col" { "Log" } th scope="col" { "Read" }
                        } }
                        tbody {
                            @for (i, v) in model.criteria_history.iter().enumerate() {
                                tr {
                                    th scope="row" { (v.version) }
                                    td { code.hash { (v.content_hash) } }
                                    td { (time(v.published_at)) }
                                    td { (entry_link(v.published_seq)) }
                                    td {
                                        a href=(href(&format!("version={}", v.version))) { "text" }
                                        @if let Some(previous) = i.checked_sub(1).and_then(|p| model.criteria_history.get(p)) {
                                            " · " a href=(href(&format!("diff={}..{}", previous.version, v.version))) { "changes from " (previous.version) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if model.criteria_history.len() > 1 {
                    form.compare method="get" action="#changes" {
                        label for="from" { "Compare version" }
                        select #from name="from" { @for v in &model.criteria_history { option value=(v.version) { (v.version) } } }
                        label for="to" { "with version" }
                        select #to name="to" {
                            @for v in &model.criteria_history {
                                option value=(v.version) selected[Some(v.version) == current_version] { (v.version) }
                            }
                        }
                        button type="submit" { "Compare" }
                    }
                }
            }
            @if let Some((from, to)) = changes { (changes_section(from, to)) }
        }
    }
}

fn changes_section(from: &CriteriaTexts, to: &CriteriaTexts) -> Markup {
    let same_hash = from.content_hash == to.content_hash;
    html! {
        section #changes aria-labelledby="changes-title" {
            h3 #changes-title { "Changes from version " (from.version) " to version " (to.version) }
            p {
                "Version " (from.version) ": " code.hash { (from.content_hash) } br;
                "Version " (to.version) ": " code.hash { (to.content_hash) }
                @if same_hash { br; "The Cedar policies are identical (same hash)." }
            }
            (diff_table(&format!("Changes to the Cedar policies from version {} to version {}", from.version, to.version), &diff(&from.policies, &to.policies)))
            (diff_table(&format!("Changes to the plain-words text from version {} to version {}", from.version, to.version), &diff(&from.text, &to.text)))
        }
    }
}

fn diff_table(caption: &str, hunks: &[Vec<DiffLine>]) -> Markup {
    html! {
        div.table-scroll {
            table.diff {
                caption { (caption) }
                thead { tr {
                    th scope="col" { "Old line" } th scope="col" { "New line" } th scope="col" { "Change" } th scope="col" { "Text" }
                } }
                tbody {
                    @if hunks.is_empty() {
                        tr { td colspan="4" { span.muted { "No change." } } }
                    }
                    @for (i, hunk) in hunks.iter().enumerate() {
                        @if i > 0 { tr.gap { td colspan="4" { "…" } } }
                        @for line in hunk {
                            @let (class, mark, word) = match line.change {
                                LineChange::Same => ("same", " ", ""),
                                LineChange::Removed => ("removed", "−", "removed"),
                                LineChange::Added => ("added", "+", "added"),
                            };
                            tr class=(class) {
                                td.num { (line.old_line.map(|n| n.to_string()).unwrap_or_default()) }
                                td.num { (line.new_line.map(|n| n.to_string()).unwrap_or_default()) }
                                td.mark { span aria-hidden="true" { (mark) } span.visually-hidden { (word) } }
                                td { code { (line.text) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn application_table(stats: &ApplicationStatistics) -> Markup {
    html! {
        table.data.counts {
            caption { "Applications for access to this model, by outcome" }
            tbody {
                tr { th scope="row" { "Approved" } td.num { (stats.approved) } td { @if stats.approved_on_appeal > 0 { (stats.approved_on_appeal) " of them on appeal" } } }
                tr { th scope="row" { "Denied" } td.num { (stats.denied) } td {} }
                tr { th scope="row" { "Pending" } td.num { (stats.pending) } td {} }
                tr {
                    th scope="row" { "Overdue" }
                    td.num { (stats.overdue) }
                    td { @if stats.overdue > 0 { (badge("overdue", "past the decision deadline")) } }
                }
                tr { th scope="row" { "Withdrawn" } td.num { (stats.withdrawn) } td {} }
                tr {
                    th scope="row" { "Median time to decision" }
                    td.num { (stats.median_decision_millis.map_or_else(|| "—".to_owned(), duration)) }
                    td { @if stats.median_decision_millis.is_none() { span.muted { "no decision yet" } } }
                }
            }
        }
    }
}

/// Appeals by outcome.
pub fn appeal_table(caption: &str, stats: &AppealStatistics) -> Markup {
    html! {
        table.data.counts {
            caption { (caption) }
            tbody {
                tr { th scope="row" { "Pending" } td.num { (stats.pending) } td { @if stats.overdue > 0 { (badge("overdue", &format!("{} overdue", stats.overdue))) } } }
                tr { th scope="row" { "Upheld (the action stands)" } td.num { (stats.upheld) } td {} }
                tr { th scope="row" { "Reversed" } td.num { (stats.reversed) } td {} }
                tr { th scope="row" { "Modified (relief for a time)" } td.num { (stats.modified) } td {} }
                tr { th scope="row" { "Withdrawn" } td.num { (stats.withdrawn) } td {} }
                tr.total { th scope="row" { "Total" } td.num { (stats.total()) } td {} }
            }
        }
    }
}
