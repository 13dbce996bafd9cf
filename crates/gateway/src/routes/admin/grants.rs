//! Grants: a customer's access to a model (needed in `preview`). Authority only.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::{Command, CustomerId, DirectiveId, ModelName};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{last_seq, parse_id, parse_time, submit};

/// Body of `POST /admin/v1/grants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    customer: String,
    model: String,
    reason: String,
    /// RFC 3339; absent means no expiry.
    #[serde(default)]
    expires_at: Option<String>,
}

/// `POST /admin/v1/grants`.
pub async fn grant(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let command = Command::Grant {
        customer: parse_id("customer", CustomerId::parse, &body.customer)?,
        model: parse_id("model", ModelName::parse, &body.model)?,
        expires_at: parse_time("expires_at", body.expires_at.as_deref())?,
        reason: body.reason,
    };
    let records = submit(&app, &headers, command).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "customer": body.customer, "model": body.model, "event_seq": last_seq(&records) })),
    ))
}

/// Body of `POST /admin/v1/grants/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    customer: String,
    model: String,
    reason: String,
    /// RFC 3339; absent means at the end of the model's notice period.
    #[serde(default)]
    effective_at: Option<String>,
    /// A directive in force that requires a shorter notice.
    #[serde(default)]
    directive: Option<String>,
}

/// `POST /admin/v1/grants/revoke`.
pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let command = Command::RevokeGrant {
        customer: parse_id("customer", CustomerId::parse, &body.customer)?,
        model: parse_id("model", ModelName::parse, &body.model)?,
        effective_at: parse_time("effective_at", body.effective_at.as_deref())?,
        reason: body.reason,
        directive: body.directive.as_deref().map(|d| parse_id("directive", DirectiveId::parse, d)).transpose()?,
    };
    let records = submit(&app, &headers, command).await?;
    Ok(Json(serde_json::json!({ "customer": body.customer, "model": body.model, "event_seq": last_seq(&records) })))
}
