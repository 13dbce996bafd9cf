//! Rate limits and token budgets of customers and keys (provider). They apply from the next
//! request; the counting is per replica (`crate::limits`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use portcullis_core::limits::Limits;
use portcullis_core::{Command, CustomerId, KeyId};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{last_seq, parse_id, submit};

/// Body of the limits routes; an absent or `null` field means unlimited.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    #[serde(default)]
    requests_per_minute: Option<u32>,
    #[serde(default)]
    tokens_per_day: Option<u64>,
}

impl LimitsBody {
    fn limits(&self) -> Limits {
        Limits { requests_per_minute: self.requests_per_minute, tokens_per_day: self.tokens_per_day }
    }
}

/// `PUT /admin/v1/customers/{customer}/limits` (provider).
pub async fn set_customer_limits(
    State(app): State<AppState>,
    Path(customer): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LimitsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let customer = parse_id("customer", CustomerId::parse, &customer)?;
    let limits = body.limits();
    let records =
        submit(&app, &headers, Command::SetLimits { customer: customer.clone(), key_id: None, limits }).await?;
    Ok(Json(serde_json::json!({
        "customer": customer.as_str(),
        "limits": limits_json(limits),
        "event_seq": last_seq(&records),
    })))
}

/// `PUT /admin/v1/keys/{key_id}/limits` (provider): limits of one key, besides its customer's.
pub async fn set_key_limits(
    State(app): State<AppState>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LimitsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key_id = parse_id("key_id", KeyId::parse, &key_id)?;
    // The role first, so only the provider learns whether a key id exists.
    let caller = crate::routes::admin::actor(&app, &headers)?;
    if !matches!(caller, portcullis_core::Actor::Provider { .. }) {
        return Err(ApiError::Forbidden(format!("{} may not set rate limits", caller.describe())));
    }
    let customer = {
        let snapshot = app.engine.snapshot();
        let state = snapshot.state();
        state.key_by_id(key_id.as_str()).and_then(|key| state.key_owner(key)).cloned()
    }
    .ok_or_else(|| ApiError::NotFound { message: format!("no key `{key_id}`"), code: "not_found" })?;
    let limits = body.limits();
    let command = Command::SetLimits { customer, key_id: Some(key_id.clone()), limits };
    let records = submit(&app, &headers, command).await?;
    Ok(Json(serde_json::json!({
        "key_id": key_id.as_str(),
        "limits": limits_json(limits),
        "event_seq": last_seq(&records),
    })))
}

/// The JSON form of limits (`null` for unlimited).
pub fn limits_json(limits: Limits) -> serde_json::Value {
    serde_json::json!({
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_day": limits.tokens_per_day,
    })
}
