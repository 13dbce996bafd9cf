//! Login accounts for the web portals: a password credential bound to an existing actor.
//!
//! The password is hashed here (argon2id, off the async workers) and the core receives only the
//! hash; neither appears in any answer, log line or public log entry.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::account::{Account, LoginName, PasswordHash};
use portcullis_core::{Actor, AuthorityId, Command, CustomerId, OfficialName};
use serde::Deserialize;

use crate::app::{ApiJson, ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{actor, last_seq, parse_id, submit};
use crate::routes::portal::password;

/// Who signs in through an account, as clients send it (the same shape as an event's `actor`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "role", rename_all = "snake_case")]
pub enum HolderBody {
    /// A customer.
    Customer {
        /// Its id.
        customer: String,
    },
    /// An official of an authority.
    Authority {
        /// The authority.
        authority: String,
        /// The official.
        official: String,
    },
    /// The provider's staff.
    Provider {
        /// A name for the person.
        name: String,
    },
}

/// Body of `POST /admin/v1/accounts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    login: String,
    password: String,
    /// Defaults to the caller.
    #[serde(default)]
    holder: Option<HolderBody>,
}

/// `POST /admin/v1/accounts`: the provider for anyone; a customer or an official for itself.
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateAccount>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let login = parse_id("login", LoginName::parse, &body.login)?;
    let holder = match body.holder {
        None => actor(&app, &headers)?,
        Some(HolderBody::Customer { customer }) => {
            Actor::Customer { customer: parse_id("holder.customer", CustomerId::parse, &customer)? }
        }
        Some(HolderBody::Authority { authority, official }) => Actor::Authority {
            authority: parse_id("holder.authority", AuthorityId::parse, &authority)?,
            official: parse_id("holder.official", OfficialName::parse, &official)?,
        },
        Some(HolderBody::Provider { name }) => Actor::Provider { name },
    };
    let password_hash = hashed(&app, &headers, body.password).await?;
    let records =
        submit(&app, &headers, Command::CreateAccount { login: login.clone(), holder: holder.clone(), password_hash })
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "login": login.as_str(),
            "holder": holder_json(&holder),
            "sign_in": "/login",
            "event_seq": last_seq(&records),
        })),
    ))
}

/// `GET /admin/v1/accounts`: the provider sees every account; anyone else its own.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    let accounts: Vec<serde_json::Value> = snapshot
        .state()
        .accounts()
        .iter()
        .filter(|a| matches!(caller, Actor::Provider { .. }) || a.holder == caller)
        .map(|a| account_json(a))
        .collect();
    Ok(Json(serde_json::json!({ "accounts": accounts })))
}

/// Body of `POST /admin/v1/accounts/{login}/disable`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableAccount {
    reason: String,
}

/// `POST /admin/v1/accounts/{login}/disable`: the provider, or the account's holder. Its
/// sessions end on their next request.
pub async fn disable(
    State(app): State<AppState>,
    ApiPath(login): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DisableAccount>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let login = parse_id("login", LoginName::parse, &login)?;
    let records = submit(&app, &headers, Command::DisableAccount { login: login.clone(), reason: body.reason }).await?;
    Ok(Json(serde_json::json!({ "login": login.as_str(), "active": false, "event_seq": last_seq(&records) })))
}

/// Body of `POST /admin/v1/accounts/{login}/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    password: String,
}

/// `POST /admin/v1/accounts/{login}/password`: a new password, by the provider or the account's
/// holder. Sessions already signed in stay signed in until they end.
pub async fn change_password(
    State(app): State<AppState>,
    ApiPath(login): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let login = parse_id("login", LoginName::parse, &login)?;
    let password_hash = hashed(&app, &headers, body.password).await?;
    let records = submit(&app, &headers, Command::ChangePassword { login: login.clone(), password_hash }).await?;
    Ok(Json(serde_json::json!({ "login": login.as_str(), "event_seq": last_seq(&records) })))
}

/// A new password's hash, once the password meets the rule and the caller is authenticated:
/// authenticated before the (deliberately slow) hash, so an anonymous caller costs nothing. The
/// role check is the command's.
async fn hashed(app: &AppState, headers: &HeaderMap, password: String) -> Result<PasswordHash, ApiError> {
    password::check_rule(&password)?;
    actor(app, headers)?;
    password::hash(password).await
}

fn holder_json(holder: &Actor) -> serde_json::Value {
    match holder {
        Actor::Customer { customer } => serde_json::json!({ "role": "customer", "customer": customer.as_str() }),
        Actor::Authority { authority, official } => {
            serde_json::json!({ "role": "authority", "authority": authority.as_str(), "official": official.as_str() })
        }
        Actor::Provider { name } => serde_json::json!({ "role": "provider", "name": name }),
    }
}

/// An account without its password hash.
fn account_json(account: &Account) -> serde_json::Value {
    serde_json::json!({
        "login": account.login.as_str(),
        "holder": holder_json(&account.holder),
        "created_at": account.created_at.to_rfc3339(),
        "created_by": account.created_by.describe(),
        "active": account.is_active(),
        "disabled_at": account.disabled.as_ref().map(|(at, _)| at.to_rfc3339()),
        "disabled_reason": account.disabled.as_ref().map(|(_, reason)| reason.clone()),
    })
}
