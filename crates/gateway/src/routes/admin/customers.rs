//! Customers and their API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::state::Customer;
use portcullis_core::{Actor, Command, CustomerId, KeyId, SecretHash, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{actor, last_seq, new_id, new_secret, parse_id, submit};

/// Body of `POST /admin/v1/customers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    id: String,
    name: String,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// `POST /admin/v1/customers` (provider).
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateCustomer>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let customer = parse_id("id", CustomerId::parse, &body.id)?;
    let records = submit(
        &app,
        &headers,
        Command::CreateCustomer { customer: customer.clone(), name: body.name, attributes: body.attributes },
    )
    .await?;
    let snapshot = app.engine.snapshot();
    let state = snapshot.state();
    let created = state.customer(customer.as_str()).map(|c| customer_json(state, c, app.engine.now()));
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "customer": created, "event_seq": last_seq(&records) }))))
}

/// `GET /admin/v1/customers` (provider, authority).
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    if matches!(actor, Actor::Customer { .. }) {
        return Err(ApiError::Forbidden(format!("{} may not list customers", actor.describe())));
    }
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let state = snapshot.state();
    let mut customers: Vec<serde_json::Value> = state.customers().map(|c| customer_json(state, c, now)).collect();
    customers.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(serde_json::json!({ "customers": customers })))
}

/// `GET /admin/v1/customers/{customer}` (provider, authority, or the customer itself).
pub async fn get_one(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    check_may_see(&actor, &id)?;
    let snapshot = app.engine.snapshot();
    let state = snapshot.state();
    let customer = state
        .customer(&id)
        .ok_or_else(|| ApiError::NotFound { message: format!("no customer `{id}`"), code: "not_found" })?;
    Ok(Json(customer_json(state, customer, app.engine.now())))
}

/// Body of `PUT /admin/v1/customers/{customer}/attributes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAttributes {
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// `PUT /admin/v1/customers/{customer}/attributes` (provider).
pub async fn set_attributes(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SetAttributes>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let customer = parse_id("customer", CustomerId::parse, &id)?;
    let records =
        submit(&app, &headers, Command::SetCustomerAttributes { customer, attributes: body.attributes }).await?;
    Ok(Json(serde_json::json!({ "event_seq": last_seq(&records) })))
}

/// Body of `POST /admin/v1/customers/{customer}/keys`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    #[serde(default)]
    label: String,
}

/// `POST /admin/v1/customers/{customer}/keys` (provider, or the customer itself): the key is in
/// this response and nowhere else, ever.
pub async fn issue_key(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = body.map_err(|_| ApiError::TooLarge { limit: crate::routes::admin::MAX_ADMIN_BODY_BYTES })?;
    let customer = parse_id("customer", CustomerId::parse, &id)?;
    // The body is optional: no body means no label.
    let label = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<IssueKey>(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))?
            .label
    };
    let key = new_secret("pcl_");
    let key_id = parse_id("key_id", KeyId::parse, &new_id("key_"))?;
    let records = submit(
        &app,
        &headers,
        Command::IssueKey {
            customer,
            key_id: key_id.clone(),
            label: label.clone(),
            key_hash: SecretHash::of_secret(&key),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "key_id": key_id.as_str(),
            "key": key,
            "label": label,
            "note": "store this key now: only its hash is kept",
            "event_seq": last_seq(&records),
        })),
    ))
}

/// `GET /admin/v1/customers/{customer}/keys` (provider, authority, or the customer itself).
pub async fn list_keys(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    check_may_see(&actor, &id)?;
    let snapshot = app.engine.snapshot();
    let mut keys: Vec<serde_json::Value> = snapshot
        .state()
        .keys_of(&id)
        .map(|k| {
            serde_json::json!({
                "key_id": k.key_id.as_str(),
                "label": &*k.label,
                "revoked": k.revoked,
                "limits": crate::routes::admin::limits::limits_json(k.limits.as_deref().copied().unwrap_or_default()),
            })
        })
        .collect();
    keys.sort_by(|a, b| a["key_id"].as_str().cmp(&b["key_id"].as_str()));
    Ok(Json(serde_json::json!({ "keys": keys })))
}

/// Body of `POST /admin/v1/keys/{key_id}/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    reason: String,
}

/// `POST /admin/v1/keys/{key_id}/revoke` (provider, or the owning customer).
pub async fn revoke_key(
    State(app): State<AppState>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RevokeKey>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key_id = parse_id("key_id", KeyId::parse, &key_id)?;
    let records = submit(&app, &headers, Command::RevokeKey { key_id, reason: body.reason }).await?;
    Ok(Json(serde_json::json!({ "revoked": true, "event_seq": last_seq(&records) })))
}

fn check_may_see(actor: &Actor, customer: &str) -> Result<(), ApiError> {
    match actor {
        Actor::Customer { customer: own } if own.as_str() != customer => {
            Err(ApiError::Forbidden(format!("{} may only see its own account", actor.describe())))
        }
        _ => Ok(()),
    }
}

fn customer_json(state: &portcullis_core::State, customer: &Customer, now: Timestamp) -> serde_json::Value {
    let mut grants: Vec<serde_json::Value> = customer
        .grants
        .iter()
        .map(|(model, grant)| {
            let active = grant.revoked_at.is_none_or(|at| now < at) && grant.expires_at.is_none_or(|at| now < at);
            serde_json::json!({
                "model": model.as_str(),
                "granted_at": grant.granted_at.to_rfc3339(),
                "granted_by": grant.origin.granted_by.describe(),
                "expires_at": grant.expires_at.map(Timestamp::to_rfc3339),
                "revoked_at": grant.revoked_at.map(Timestamp::to_rfc3339),
                "reason": grant.origin.reason,
                "active": active,
            })
        })
        .collect();
    grants.sort_by(|a, b| a["model"].as_str().cmp(&b["model"].as_str()));
    serde_json::json!({
        "id": customer.id.as_str(),
        "name": &*customer.name,
        "attributes": state.customer_attributes(customer),
        "created_at": customer.created_at.to_rfc3339(),
        "grants": grants,
        "limits": crate::routes::admin::limits::limits_json(customer.limits.as_deref().copied().unwrap_or_default()),
    })
}
