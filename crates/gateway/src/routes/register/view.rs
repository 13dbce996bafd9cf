//! The pieces every register page shares: the layout, times and durations, badges, links to log
//! entries, evidence citations.
//!
//! Everything here formats; nothing decides. What a badge says (a directive's status, whether it
//! is an emergency, whether a document is public) comes from the core as a value, and `maud`
//! escapes every value it renders, so a description holding `<script>` is shown as text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use portcullis_core::evidence::Viewer;
use portcullis_core::{Actor, Disclosure, Evidence, Stage, StageTarget, Timestamp};

/// The register's content security policy: no scripts at all, styles and images from the
/// register only. The pages need no JavaScript, so none may run, injected or not.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A rendered page and its status.
pub struct Page {
    /// The status (200 except for error pages).
    pub status: StatusCode,
    /// The whole document.
    pub markup: Markup,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // The state changes with every event; a reader who reloads sees the latest.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

/// What the footer says about the state a page was rendered from.
pub struct Footer {
    /// The last event the snapshot applied.
    pub last_seq: u64,
    /// When the page was rendered.
    pub now: Timestamp,
}

/// The whole document around a page's content: header, navigation, main, footer.
pub fn layout(title: &str, footer: Option<&Footer>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Portcullis public register" }
                link rel="stylesheet" href="/register/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    div.wrap {
                        a.brand href="/register" {
                            span.brand-mark aria-hidden="true" { "▥" }
                            " Portcullis " span.brand-sub { "public register" }
                        }
                        nav aria-label="Register" {
                            ul {
                                li { a href="/register" { "Models" } }
                                li { a href="/register/directives" { "Directives" } }
                                li { a href="/register#log" { "Transparency log" } }
                            }
                        }
                    }
                }
                main #main.wrap { (content) }
                footer.site {
                    div.wrap {
                        @if let Some(footer) = footer {
                            p {
                                "Rendered at " (time(footer.now)) " from the governance state after event "
                                (footer.last_seq) ". Every change is an entry in the public transparency log; "
                                "each item links to its entry."
                            }
                        }
                        p {
                            "No login, cookies or JavaScript. Machine-readable: "
                            a href="/admin/v1/openapi.json" { "the JSON API" } " (public reads)."
                        }
                    }
                }
            }
        }
    }
}

/// A time as a `<time>` element: human form, then RFC 3339 UTC.
pub fn time(at: Timestamp) -> Markup {
    let rfc3339 = at.to_rfc3339();
    html! {
        time datetime=(rfc3339) {
            (human_date(&rfc3339)) " " span.rfc3339 { "(" (rfc3339) ")" }
        }
    }
}

/// `2026-11-27T17:21:00Z` → `27 Nov 2026, 17:21 UTC`; anything else is returned as it is.
fn human_date(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (Some(year), Some(month), Some(day), Some(hour_minute)) =
        (rfc3339.get(0..4), rfc3339.get(5..7), rfc3339.get(8..10), rfc3339.get(11..16))
    else {
        return rfc3339.to_owned();
    };
    let month_name = month.parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    match (month_name, day.parse::<u32>()) {
        (Some(month_name), Ok(day)) => format!("{day} {month_name} {year}, {hour_minute} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// A duration in words, to the two largest units: `3 days 4 h`, `5 min`, `under a second`.
pub fn duration(millis: i64) -> String {
    if millis < 1000 {
        return "under a second".to_owned();
    }
    let seconds = millis / 1000;
    let (days, hours, minutes) = (seconds / 86_400, (seconds % 86_400) / 3600, (seconds % 3600) / 60);
    let plural = |n: i64, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => plural(d, "day"),
        (d, h, _) => format!("{} {h} h", plural(d, "day")),
    }
}

/// A stage as a badge; a suspended model says where it returns to.
pub fn stage_badge(stage: Stage) -> Markup {
    let label = match stage {
        Stage::Suspended { .. } => match stage.transition(StageTarget::Resume) {
            Ok(back) => format!("suspended (returns to {})", back.name()),
            Err(_) => "suspended".to_owned(),
        },
        other => other.name().to_owned(),
    };
    html! { span class={ "badge stage-" (stage.name()) } { (label) } }
}

/// A status badge: the class picks the colour, the text says the same thing in words.
pub fn badge(class: &str, text: &str) -> Markup {
    html! { span class={ "badge " (class) } { (text) } }
}

/// The flag of a directive issued without notice.
pub fn emergency_flag() -> Markup {
    html! { span.badge.emergency { span aria-hidden="true" { "⚠ " } "Emergency: no notice period" } }
}

/// A link to the register's page of the log entry of event `seq` (log index `seq - 1`).
pub fn entry_link(seq: u64) -> Markup {
    let index = seq.saturating_sub(1);
    html! { a.entry href={ "/register/entries/" (index) } { "log entry " (index) } }
}

/// Who acted, for the public: officials and the provider by role, a customer only as "a
/// customer" (an applicant's identity is not the register's to publish).
pub fn actor(actor: &Actor) -> String {
    match actor {
        Actor::Customer { .. } => "a customer".to_owned(),
        other => other.describe(),
    }
}

/// A path segment for a link: ids may contain `/`, which the router would read as a separator.
pub fn segment(id: &str) -> String {
    id.replace('%', "%25").replace('/', "%2F")
}

/// Evidence citations: what each is, its digest and disclosure level, and either a link to the
/// document (public ones) or why it is not shown.
pub fn evidence_list(evidence: &[Evidence]) -> Markup {
    html! {
        @if evidence.is_empty() {
            p.muted { "No evidence cited." }
        } @else {
            ul.evidence {
                @for item in evidence {
                    li {
                        strong { (item.description) }
                        " " (badge(&format!("disclosure-{}", item.disclosure.name()), item.disclosure.name()))
                        @if let Some(sha256) = &item.sha256 {
                            br;
                            span.hash { "sha256 " code { (sha256) } }
                        }
                        br;
                        @if item.disclosure.visible_to(Viewer::Public) {
                            @if let Some(sha256) = &item.sha256 {
                                a href={ "/register/evidence/" (sha256) } { "Read the document" }
                            }
                        } @else {
                            span.withheld {
                                @match &item.disclosure {
                                    Disclosure::Withheld { reason } => { "Withheld: " (reason) }
                                    Disclosure::Subject => { "Not public: disclosed to the customer concerned and the authorities." }
                                    _ => { "Not public: disclosed to the authorities only." }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Text that may span lines, with its line breaks kept.
pub fn prose(text: &str) -> Markup {
    html! { div.prose { (text) } }
}

/// A code block.
pub fn code_block(label: &str, text: &str) -> Markup {
    html! { pre.code aria-label=(label) tabindex="0" { code { (text) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words() {
        let cases = [
            (0, "under a second"),
            (-5, "under a second"),
            (400, "under a second"),
            (1_500, "1 s"),
            (300_000, "5 min"),
            (3_600_000, "1 h"),
            (5_400_000, "1 h 30 min"),
            (86_400_000, "1 day"),
            (3 * 86_400_000 + 4 * 3_600_000 + 60_000, "3 days 4 h"),
        ];
        for (millis, expected) in cases {
            assert_eq!(duration(millis), expected, "{millis}");
        }
    }

    #[test]
    fn dates_in_human_form() {
        assert_eq!(human_date("2026-11-27T17:21:00Z"), "27 Nov 2026, 17:21 UTC");
        assert_eq!(human_date("2026-01-05T00:00:09Z"), "5 Jan 2026, 00:00 UTC");
        assert_eq!(human_date("nonsense"), "nonsense");
    }
}
