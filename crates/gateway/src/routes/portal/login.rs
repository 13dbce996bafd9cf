//! `/login` and `/logout`.
//!
//! The sign-in form has no session yet, so its CSRF token is a double-submit cookie: a random
//! value set with the form and expected back in a hidden field (a site that cannot read this
//! site's cookies cannot post a matching pair). Unknown logins and wrong passwords get the same
//! message and take the same time (a dummy hash is verified); failures lock a login for a while
//! whether it exists or not.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::account::LoginName;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::new_secret;
use crate::routes::portal::auth::{Signed, check_origin, home_of, read_fields};
use crate::routes::portal::password;
use crate::routes::portal::session::{
    CookiePolicy, LOCKOUT_MILLIS, SESSION_LIFETIME_MILLIS, SessionKey, cookie, same_secret,
};
use crate::routes::portal::view::{PortalPage, form_error, layout};
use crate::routes::portal::{PortalError, see_other};

/// The message for every failed sign-in, whatever failed.
const WRONG: &str = "wrong login or password";

/// Query of `GET /login`.
#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /login`: the form (or home, when already signed in).
pub async fn get(
    State(app): State<AppState>,
    signed: Result<Signed, PortalError>,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Ok(signed) = signed {
        return see_other(signed.home());
    }
    let next = query.ok().and_then(|Query(q)| q.next).filter(|n| safe_next(n));
    form(&app, StatusCode::OK, "", next.as_deref(), None)
}

/// `POST /logout`: ends the session (CSRF-checked like every post), clears the cookie.
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    posted: crate::routes::portal::auth::Posted,
) -> Response {
    let policy = CookiePolicy::for_base_url(&app.public_base_url);
    // `Posted` proved the cookie names a live session; end exactly that one.
    if let Some(token) = cookie(&headers, policy.session_name())
        && let Err(err) = app.sessions.end(&SessionKey::of(token)).await
    {
        return PortalError::Page(err).into_response();
    }
    tracing::info!(login = %posted.signed.login, "portal sign-out");
    let mut response = see_other("/login?signed_out=1");
    if let Ok(value) = HeaderValue::from_str(&policy.clear(policy.session_name())) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /login`.
pub async fn post(State(app): State<AppState>, request: Request) -> Result<Response, PortalError> {
    let headers: HeaderMap = request.headers().clone();
    check_origin(&headers, &app)?;
    let fields = read_fields(request, &app).await?;
    let policy = CookiePolicy::for_base_url(&app.public_base_url);
    let presented = fields.get("csrf").unwrap_or_default();
    let expected = cookie(&headers, policy.login_name()).unwrap_or_default();
    if expected.is_empty() || !same_secret(presented, expected) {
        return Err(PortalError::Csrf);
    }
    let login_text = fields.text("login").to_ascii_lowercase();
    let next = fields.optional("next").filter(|n| safe_next(n)).map(str::to_owned);
    let refuse = |status: StatusCode, message: String| form(&app, status, &login_text, next.as_deref(), Some(&message));
    let now = app.engine.now();
    // Longer than any login: no account matches, and it is not tracked (a flood of long names
    // would otherwise fill the failure counters with megabytes of text).
    if login_text.len() > 64 {
        return Ok(refuse(StatusCode::UNAUTHORIZED, WRONG.to_owned()));
    }
    if let Some(locked) = app.sessions.locked(&login_text, now).await? {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, locked_message(locked.until)));
    }
    let password = fields.get("password").unwrap_or_default().to_owned();
    let snapshot = app.engine.snapshot();
    let account = LoginName::parse(&login_text)
        .ok()
        .and_then(|login| snapshot.state().accounts().get(login.as_str()).cloned())
        .filter(|account| account.is_active());
    let ok = password::verify(password, account.as_ref().map(|a| a.password_hash.clone())).await?;
    let Some(account) = account.filter(|_| ok) else {
        tracing::info!(login = %login_text, "portal sign-in refused");
        return Ok(match app.sessions.failed(&login_text, now).await? {
            Some(locked) => refuse(StatusCode::TOO_MANY_REQUESTS, locked_message(locked.until)),
            None => refuse(StatusCode::UNAUTHORIZED, WRONG.to_owned()),
        });
    };
    app.sessions.succeeded(&login_text).await?;
    let (token, _) = app.sessions.start(account.login.clone(), &account.password_hash, now).await?;
    tracing::info!(login = %account.login, actor = %account.holder.describe(), "portal sign-in");
    let mut response = see_other(next.as_deref().unwrap_or(home_of(&account.holder)));
    let cookies =
        [policy.set(policy.session_name(), &token, SESSION_LIFETIME_MILLIS / 1000), policy.clear(policy.login_name())];
    for value in cookies {
        let value = HeaderValue::from_str(&value).map_err(|err| ApiError::Internal(err.into()))?;
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

fn locked_message(until: portcullis_core::Timestamp) -> String {
    format!(
        "too many failed sign-ins for this login: it is locked for {} minutes, until {}",
        LOCKOUT_MILLIS / 60_000,
        until.to_rfc3339()
    )
}

/// Only a path on this site: `/…`, not `//host` or `/\host` (an open redirect).
fn safe_next(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && !next.contains(['\r', '\n'])
}

/// The sign-in form, with a fresh double-submit token.
fn form(app: &AppState, status: StatusCode, login: &str, next: Option<&str>, error: Option<&str>) -> Response {
    let policy = CookiePolicy::for_base_url(&app.public_base_url);
    let token = new_secret("");
    let content = html! {
        h1 { "Sign in" }
        p.lede { "Customers, officials of an authority and the provider's staff sign in here. The public register needs no login." }
        (form_error(error))
        form.panel method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            @if let Some(next) = next { input type="hidden" name="next" value=(next); }
            div.field {
                label for="login" { "Login" }
                input #login type="text" name="login" value=(login) autocomplete="username" required autocapitalize="none";
            }
            div.field {
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
            }
            button type="submit" { "Sign in" }
        }
        p.muted {
            "After " (crate::routes::portal::session::MAX_FAILURES) " failed attempts a login is locked for "
            (LOCKOUT_MILLIS / 60_000) " minutes. Accounts are created by the provider, or by a customer or an "
            "official for itself with its API key or role token (" code { "portcullis admin account create" } ")."
        }
    };
    let mut response = PortalPage { status, markup: layout("Sign in", None, content) }.into_response();
    if let Ok(value) = HeaderValue::from_str(&policy.set(policy.login_name(), &token, 3600)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
