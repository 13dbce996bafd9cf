//! The admin (governance) API under `/admin/v1`, described by `openapi.json`.
//!
//! Every write goes through [`submit`]: authenticate the caller into an actor, hand the command
//! to the core (which checks the role), wait until the events are durable, answer.

mod accounts;
mod appeals;
mod applications;
mod attesters;
mod authorities;
mod customers;
mod deployments;
mod directives;
mod events;
pub(crate) mod evidence;
mod grants;
pub(crate) mod impact;
pub(crate) mod limits;
pub(crate) mod models;
pub(crate) mod notices;
mod openapi;
pub(crate) mod review;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use portcullis_core::{Actor, Command, EventRecord, InvalidValueError, Timestamp};
use rand::RngCore;

use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;

/// Largest admin request body (policy text, attributes).
pub const MAX_ADMIN_BODY_BYTES: usize = 1024 * 1024;

/// `/admin/v1/...` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/openapi.json", get(openapi::get))
        .route("/admin/v1/whoami", get(whoami))
        .route("/admin/v1/customers", post(customers::create).get(customers::list))
        .route("/admin/v1/customers/{customer}", get(customers::get_one))
        .route("/admin/v1/customers/{customer}/attributes", put(customers::set_attributes))
        .route("/admin/v1/customers/{customer}/keys", post(customers::issue_key).get(customers::list_keys))
        .route("/admin/v1/keys/{key_id}/revoke", post(customers::revoke_key))
        .route("/admin/v1/customers/{customer}/limits", put(limits::set_customer_limits))
        .route("/admin/v1/keys/{key_id}/limits", put(limits::set_key_limits))
        .route("/admin/v1/authorities", post(authorities::create).get(authorities::list))
        .route("/admin/v1/authorities/{authority}/officials", post(authorities::issue_official_token))
        .route("/admin/v1/models", post(models::register).get(models::list))
        .route("/admin/v1/models/{model}", get(models::get_one))
        .route("/admin/v1/models/{model}/upstream", put(models::set_upstream))
        .route("/admin/v1/models/{model}/stage", post(models::change_stage))
        .route("/admin/v1/models/{model}/criteria", post(models::publish_criteria).get(models::get_criteria))
        .route("/admin/v1/models/{model}/procedure", put(review::set_procedure))
        .route("/admin/v1/models/{model}/review", post(review::record_position))
        .route("/admin/v1/applications", post(applications::submit_application).get(applications::list))
        .route("/admin/v1/applications/{application}", get(applications::get_one))
        .route("/admin/v1/applications/{application}/review", post(applications::start_review))
        .route("/admin/v1/applications/{application}/info-request", post(applications::request_info))
        .route("/admin/v1/applications/{application}/amend", post(applications::amend))
        .route("/admin/v1/applications/{application}/signoffs", post(applications::sign_off))
        .route("/admin/v1/applications/{application}/withdraw", post(applications::withdraw))
        .route("/admin/v1/appeals", post(appeals::file).get(appeals::list))
        .route("/admin/v1/appeals/{appeal}", get(appeals::get_one))
        .route("/admin/v1/appeals/{appeal}/decision", post(appeals::decide))
        .route("/admin/v1/notices", get(notices::list))
        .route("/admin/v1/queue", get(notices::queue))
        .route("/admin/v1/grants", post(grants::grant))
        .route("/admin/v1/grants/revoke", post(grants::revoke))
        .route("/admin/v1/directives", post(directives::issue).get(directives::list))
        .route("/admin/v1/directives/impact", post(impact::post).get(impact::get_directive_named_impact))
        .route("/admin/v1/directives/{directive}", get(directives::get_one))
        .route("/admin/v1/directives/{directive}/lift", post(directives::lift))
        .route("/admin/v1/events", get(events::list))
        .route("/admin/v1/events/{seq}", get(events::get_one))
        .route("/admin/v1/events/{seq}/receipt", get(events::receipt))
        .route("/admin/v1/log", get(events::log_info))
        .route("/admin/v1/attesters", post(attesters::register).get(attesters::list))
        .route("/admin/v1/attesters/{attester}/keys", post(attesters::add_key))
        .route("/admin/v1/attesters/{attester}/keys/{key_id}/revoke", post(attesters::revoke_key))
        .route("/admin/v1/models/{model}/deployments", put(deployments::set_deployments))
        .route("/admin/v1/models/{model}/fallbacks", put(deployments::set_fallbacks))
        .route("/admin/v1/deployments", get(deployments::list))
        .route("/admin/v1/accounts", post(accounts::create).get(accounts::list))
        .route("/admin/v1/accounts/{login}/disable", post(accounts::disable))
        .route("/admin/v1/accounts/{login}/password", post(accounts::change_password))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        // Documents are bigger than commands: their own limit, outside the one above.
        .route("/admin/v1/evidence", post(evidence::upload).layer(DefaultBodyLimit::max(evidence::MAX_EVIDENCE_BYTES)))
        .route("/admin/v1/evidence/{sha256}", get(evidence::get_one))
}

/// Authenticates the caller of an admin route.
pub(crate) fn actor(app: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    auth::actor(&app.engine.snapshot(), &app.providers, headers)
}

/// Authenticates, submits, waits for durability.
pub(crate) async fn submit(
    app: &AppState,
    headers: &HeaderMap,
    command: Command,
) -> Result<Vec<EventRecord>, ApiError> {
    let actor = actor(app, headers)?;
    let records = app.engine.submit(actor.clone(), command).await?;
    for record in &records {
        tracing::info!(seq = record.seq, kind = record.event.kind(), actor = %actor.describe(), "governance event");
    }
    Ok(records)
}

/// Parses an identifier field, naming the field on error.
pub(crate) fn parse_id<T>(
    field: &'static str,
    parse: fn(&str) -> Result<T, InvalidValueError>,
    text: &str,
) -> Result<T, ApiError> {
    parse(text).map_err(|err| ApiError::BadRequest {
        message: err.to_string(),
        param: Some(field),
        code: "invalid_value",
    })
}

/// Parses a field that takes one of a few words, naming them all on error.
pub(crate) fn parse_choice<T: Copy>(field: &'static str, text: &str, choices: &[(&str, T)]) -> Result<T, ApiError> {
    if let Some((_, value)) = choices.iter().find(|(word, _)| *word == text) {
        return Ok(*value);
    }
    let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
    Err(ApiError::BadRequest {
        message: format!("unknown {field} `{text}`; use {}", words.join(", ")),
        param: Some(field),
        code: "invalid_value",
    })
}

/// Parses an optional RFC 3339 field.
pub(crate) fn parse_time(field: &'static str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t).map_err(|err| ApiError::BadRequest {
            message: format!("{field}: {err}"),
            param: Some(field),
            code: "invalid_value",
        })
    })
    .transpose()
}

/// A fresh secret with a recognisable prefix: 256 random bits, URL-safe base64.
pub fn new_secret(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh public id with a prefix, e.g. `key_1f3a…`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0_u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", portcullis_core::ids::hex(&bytes))
}

/// Whether `caller` may read a record concerning `customer` (an application, an appeal): a
/// customer reads its own only; authorities and the provider read all.
pub(crate) fn may_read_record_of(caller: &Actor, customer: &portcullis_core::CustomerId) -> bool {
    match caller {
        Actor::Customer { customer: own } => own == customer,
        Actor::Authority { .. } | Actor::Provider { .. } => true,
    }
}

/// A record's JSON with the sequence number of the write that changed it (none for a read).
pub(crate) fn with_event_seq(mut json: serde_json::Value, event_seq: u64) -> serde_json::Value {
    if event_seq > 0
        && let Some(map) = json.as_object_mut()
    {
        map.insert("event_seq".to_owned(), event_seq.into());
    }
    json
}

/// The sequence number of the last event a write produced.
pub(crate) fn last_seq(records: &[EventRecord]) -> u64 {
    records.last().map_or(0, |r| r.seq)
}

/// `GET /admin/v1/whoami`: the role behind the credential.
async fn whoami(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    let body = match &actor {
        Actor::Provider { name } => serde_json::json!({ "role": "provider", "name": name }),
        Actor::Authority { authority, official } => {
            serde_json::json!({ "role": "authority", "authority": authority.as_str(), "official": official.as_str() })
        }
        Actor::Customer { customer } => serde_json::json!({ "role": "customer", "customer": customer.as_str() }),
    };
    Ok(axum::Json(body))
}
