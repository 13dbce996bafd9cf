//! Authorities and their officials' role tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::{AuthorityId, Command, OfficialName, SecretHash, TokenId};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{last_seq, new_id, new_secret, parse_id, submit};

/// Body of `POST /admin/v1/authorities`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthority {
    id: String,
    name: String,
}

/// `POST /admin/v1/authorities` (provider).
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateAuthority>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let authority = parse_id("id", AuthorityId::parse, &body.id)?;
    let records =
        submit(&app, &headers, Command::RegisterAuthority { authority: authority.clone(), name: body.name.clone() })
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": authority.as_str(), "name": body.name, "event_seq": last_seq(&records) })),
    ))
}

/// `GET /admin/v1/authorities` (public).
pub async fn list(State(app): State<AppState>) -> Json<serde_json::Value> {
    let snapshot = app.engine.snapshot();
    let authorities: Vec<serde_json::Value> =
        snapshot.state().authorities().map(|a| serde_json::json!({ "id": a.id.as_str(), "name": a.name })).collect();
    Json(serde_json::json!({ "authorities": authorities }))
}

/// Body of `POST /admin/v1/authorities/{authority}/officials`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueOfficialToken {
    official: String,
}

/// `POST /admin/v1/authorities/{authority}/officials` (provider): a role token for a named
/// official, shown once.
pub async fn issue_official_token(
    State(app): State<AppState>,
    Path(authority): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IssueOfficialToken>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let authority = parse_id("authority", AuthorityId::parse, &authority)?;
    let official = parse_id("official", OfficialName::parse, &body.official)?;
    let token = new_secret("pct_");
    let token_id = parse_id("token_id", TokenId::parse, &new_id("tok_"))?;
    let records = submit(
        &app,
        &headers,
        Command::IssueOfficialToken {
            token_id: token_id.clone(),
            authority: authority.clone(),
            official: official.clone(),
            token_hash: SecretHash::of_secret(&token),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "token_id": token_id.as_str(),
            "authority": authority.as_str(),
            "official": official.as_str(),
            "token": token,
            "note": "store this token now: only its hash is kept",
            "event_seq": last_seq(&records),
        })),
    ))
}
