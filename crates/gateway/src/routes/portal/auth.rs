//! Who is signed in, and the checks every form post passes: the session, the origin and the
//! session's CSRF token.
//!
//! Handlers never read cookies or compare tokens themselves: a page takes [`Signed`], a form
//! post takes [`Posted`], and neither can be built without the checks.

use std::sync::Arc;

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use portcullis_core::account::LoginName;
use portcullis_core::{Actor, AuthorityId, CustomerId, OfficialName, Snapshot, Timestamp};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::portal::PortalError;
use crate::routes::portal::session::{CookiePolicy, SessionKey, cookie, password_stamp, same_secret};

/// A signed-in person: the account, the actor it acts as, and the state the request reads.
pub struct Signed {
    /// The account's login.
    pub login: LoginName,
    /// Who it acts as (from the account's record in the snapshot, so a disabled account or one
    /// whose holder changed is noticed on the next request).
    pub actor: Actor,
    /// The session's CSRF token, for the forms the page renders.
    pub csrf: String,
    /// The session's key in the store (not its token), for a handler that renews the session
    /// (a password change).
    pub session: SessionKey,
    /// The governance state the request reads.
    pub snapshot: Arc<Snapshot>,
    /// The gateway's clock at the start of the request.
    pub now: Timestamp,
}

impl Signed {
    /// The customer, or a 403 page for anyone else.
    pub fn customer(&self) -> Result<&CustomerId, PortalError> {
        match &self.actor {
            Actor::Customer { customer } => Ok(customer),
            other => Err(wrong_role(other, "the customer portal is for customers")),
        }
    }

    /// The authority and official, or a 403 page for anyone else.
    pub fn official(&self) -> Result<(&AuthorityId, &OfficialName), PortalError> {
        match &self.actor {
            Actor::Authority { authority, official } => Ok((authority, official)),
            other => Err(wrong_role(other, "the authority console is for officials of an authority")),
        }
    }

    /// The provider's staff name, or a 403 page for anyone else.
    pub fn provider(&self) -> Result<&str, PortalError> {
        match &self.actor {
            Actor::Provider { name } => Ok(name),
            other => Err(wrong_role(other, "the provider console is for the provider's staff")),
        }
    }

    /// Where this person's pages start.
    pub fn home(&self) -> &'static str {
        home_of(&self.actor)
    }
}

/// Where an actor's pages start.
pub fn home_of(actor: &Actor) -> &'static str {
    match actor {
        Actor::Customer { .. } => "/portal",
        Actor::Authority { .. } => "/console/authority",
        Actor::Provider { .. } => "/console/provider",
    }
}

fn wrong_role(actor: &Actor, what: &str) -> PortalError {
    PortalError::Page(ApiError::Forbidden(format!("{what}; you are signed in as {}", actor.describe())))
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let login_again = || PortalError::SignIn { next: next_of(parts) };
        let policy = CookiePolicy::for_base_url(&app.public_base_url);
        let token = cookie(&parts.headers, policy.session_name()).ok_or_else(login_again)?;
        let now = app.engine.now();
        let key = SessionKey::of(token);
        let session = app.sessions.get(&key, now).await.map_err(PortalError::Page)?.ok_or_else(login_again)?;
        let snapshot = app.engine.snapshot();
        let actor = match snapshot.state().accounts().get(session.login.as_str()) {
            Some(account)
                if account.is_active()
                    && same_secret(&password_stamp(&account.password_hash), &session.password_stamp) =>
            {
                account.holder.clone()
            }
            // Disabled, or its password changed, since sign-in: the session ends here.
            _ => {
                app.sessions.end(&key).await.map_err(PortalError::Page)?;
                return Err(login_again());
            }
        };
        Ok(Self { login: session.login, actor, csrf: session.csrf, session: key, snapshot, now })
    }
}

/// Where to return after signing in: the page asked for, for a GET; home otherwise.
fn next_of(parts: &Parts) -> Option<String> {
    (parts.method == axum::http::Method::GET).then(|| parts.uri.path_and_query().map(ToString::to_string)).flatten()
}

/// A form's fields, in order; a name may repeat (checkboxes).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The first value of a field, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }

    /// A field's trimmed value, or `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.text(name)).filter(|value| !value.is_empty())
    }

    /// Every value of a field.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
    }
}

/// A form post from a signed-in person, past the origin and CSRF checks.
pub struct Posted {
    /// Who posted it.
    pub signed: Signed,
    /// The form's fields.
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = PortalError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        check_origin(&parts.headers, app)?;
        let signed = Signed::from_request_parts(&mut parts, app).await?;
        let fields = read_fields(Request::from_parts(parts, body), app).await?;
        let presented = fields.get("csrf").unwrap_or_default();
        if !same_secret(presented, &signed.csrf) {
            return Err(PortalError::Csrf);
        }
        Ok(Self { signed, fields })
    }
}

/// The fields of a form post, without a session (the sign-in form).
pub(crate) async fn read_fields(request: Request, app: &AppState) -> Result<Fields, PortalError> {
    Form::<Vec<(String, String)>>::from_request(request, app).await.map(|Form(pairs)| Fields(pairs)).map_err(|err| {
        PortalError::Page(if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit: crate::routes::portal::MAX_FORM_BYTES }
        } else {
            ApiError::bad_request(format!("could not read the form: {}", err.body_text()))
        })
    })
}

/// Refuses a post whose browser says it came from another site: `Sec-Fetch-Site` other than
/// `same-origin` (or `none`, typed by the person), or an `Origin` that is neither the public
/// base URL's nor this request's own host. Clients that send neither header (scripts, `curl`)
/// still need the CSRF token, which only a page of this site can show them.
pub(crate) fn check_origin(headers: &HeaderMap, app: &AppState) -> Result<(), PortalError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(PortalError::Csrf);
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let public = app.public_base_url.trim_end_matches('/');
    let own_host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let same_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(own_host);
    if origin == public || public.strip_prefix(origin).is_some_and(|rest| rest.starts_with('/')) || same_host {
        return Ok(());
    }
    Err(PortalError::Csrf)
}
