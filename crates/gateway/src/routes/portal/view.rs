//! The portals' layout and form pieces. Like the register's `view.rs`: everything here formats,
//! nothing decides, and `maud` escapes every value.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use portcullis_core::Actor;

use crate::routes::portal::auth::Signed;

/// Like the register's policy: no script may run, and forms post to this site only.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A rendered portal page.
pub struct PortalPage {
    /// The status: 200, or the 4xx of a refused form shown again with its error.
    pub status: StatusCode,
    /// The document.
    pub markup: Markup,
}

impl IntoResponse for PortalPage {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        // A person's own records (and a key shown once) are never kept by a cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A page for a signed-in person, with their navigation.
pub fn page(signed: &Signed, title: &str, content: Markup) -> PortalPage {
    page_with_status(signed, StatusCode::OK, title, content)
}

/// A page with a status other than 200 (a form shown again with its error).
pub fn page_with_status(signed: &Signed, status: StatusCode, title: &str, content: Markup) -> PortalPage {
    PortalPage { status, markup: layout(title, Some(signed), content) }
}

/// The whole document: header with the person's navigation and sign-out, main, footer.
pub fn layout(title: &str, signed: Option<&Signed>, content: Markup) -> Markup {
    let (section, links): (&str, &[(&str, &str)]) = match signed.map(|s| &s.actor) {
        Some(Actor::Customer { .. }) => (
            "customer portal",
            &[
                ("/portal", "Overview"),
                ("/portal/apply", "Apply"),
                ("/portal/notices", "Notices"),
                ("/portal/keys", "API keys"),
            ],
        ),
        Some(Actor::Authority { .. }) => (
            "authority console",
            &[("/console/authority", "Queue"), ("/console/authority/directives/new", "Issue a directive")],
        ),
        Some(Actor::Provider { .. }) => ("provider console", &[("/console/provider", "Models")]),
        None => ("sign in", &[]),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Portcullis " (section) }
                link rel="stylesheet" href="/register/style.css";
                link rel="stylesheet" href="/portal/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    div.wrap {
                        a.brand href=(signed.map_or("/login", Signed::home)) {
                            span.brand-mark aria-hidden="true" { "▥" }
                            " Portcullis " span.brand-sub { (section) }
                        }
                        nav aria-label="Portal" {
                            ul {
                                @for (href, label) in links {
                                    li { a href=(href) { (label) } }
                                }
                                li { a href="/register" { "Public register" } }
                            }
                        }
                        @if let Some(signed) = signed {
                            form.signout method="post" action="/logout" {
                                span.who {
                                    "Signed in as " strong { (signed.login) } " (" (signed.actor.describe()) ") · "
                                    a href="/account/password" { "password" }
                                }
                                input type="hidden" name="csrf" value=(signed.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main.wrap { (content) }
                footer.site {
                    div.wrap {
                        p {
                            "Every action here is the same governance command the JSON API takes, checked by the same "
                            "core and recorded in the public transparency log."
                        }
                    }
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// An error shown above a form that was refused, announced to screen readers.
pub fn form_error(error: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = error {
            div.form-error role="alert" {
                strong { "Not done: " } (message)
            }
        }
    }
}

/// A success message after a redirect (`?done=…`), from a fixed list so the query cannot put
/// words on the page.
pub fn done_message(done: Option<&str>) -> Markup {
    let message = match done {
        Some("applied") => "Your application was submitted.",
        Some("appealed") => "Your appeal was filed.",
        Some("revoked") => "The key was revoked.",
        Some("signed-off") => "Your sign-off was recorded.",
        Some("taken-up") => "The application is under review.",
        Some("info-requested") => "The applicant was asked for information; the clock is paused.",
        Some("decided") => "The appeal was decided.",
        Some("issued") => "The directive was issued, with its notice.",
        Some("position") => "Your review position was recorded.",
        Some("stage") => "The stage was changed.",
        Some("amended") => "Your application was amended.",
        Some("withdrawn") => "Your application was withdrawn.",
        _ => return html! {},
    };
    html! { div.form-done role="status" { (message) } }
}

/// A labelled single-line input.
pub fn text_input(name: &str, label: &str, value: &str, hint: Option<&str>) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            @if let Some(hint) = hint { span.hint id={ (name) "-hint" } { (hint) } }
            input type="text" id=(name) name=(name) value=(value) aria-describedby=[hint.map(|_| format!("{name}-hint"))];
        }
    }
}

/// A labelled multi-line input.
pub fn textarea(name: &str, label: &str, value: &str, rows: u32, hint: Option<&str>) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            @if let Some(hint) = hint { span.hint id={ (name) "-hint" } { (hint) } }
            textarea id=(name) name=(name) rows=(rows) aria-describedby=[hint.map(|_| format!("{name}-hint"))] { (value) }
        }
    }
}

/// A labelled choice among a few values.
pub fn select(name: &str, label: &str, options: &[(&str, &str)], selected: &str) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
        }
    }
}
