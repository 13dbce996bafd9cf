//! Trusted attesters of end-user attributes and their Ed25519 keys (issue #4).
//!
//! Writes are the provider's; the core refuses other roles. Attesters from the settings file are
//! listed beside those registered here, marked `"source": "config"`, and cannot be changed here.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::attester::{Attester, AttesterPublicKey, NewAttesterKey};
use portcullis_core::{AttesterId, AttesterKeyId, Command, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{actor, last_seq, parse_id, parse_time, submit};

/// A key as sent by clients.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    key_id: String,
    /// 32 bytes, base64 (standard or URL-safe, padded or not).
    public_key: String,
    /// RFC 3339; tokens are refused from then on.
    #[serde(default)]
    not_after: Option<String>,
}

/// Body of `POST /admin/v1/attesters`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterAttester {
    id: String,
    name: String,
    /// Its first key, if given now.
    #[serde(default)]
    key: Option<KeyBody>,
}

/// `POST /admin/v1/attesters` (provider): trust a new attester, optionally with its first key.
pub async fn register(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterAttester>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let attester = parse_id("id", AttesterId::parse, &body.id)?;
    let key = body.key.as_ref().map(parse_key).transpose()?;
    let records =
        submit(&app, &headers, Command::RegisterAttester { attester: attester.clone(), name: body.name, key }).await?;
    Ok((StatusCode::CREATED, Json(answer(&app, &attester, last_seq(&records)))))
}

/// `GET /admin/v1/attesters` (any authenticated role): every attester with its keys.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let attesters: Vec<serde_json::Value> =
        snapshot.state().attester_registry().attesters().map(|a| attester_json(a, now)).collect();
    Ok(Json(serde_json::json!({ "attesters": attesters })))
}

/// `POST /admin/v1/attesters/{attester}/keys` (provider).
pub async fn add_key(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let attester = parse_id("attester", AttesterId::parse, &id)?;
    let key = parse_key(&body)?;
    let records = submit(&app, &headers, Command::AddAttesterKey { attester: attester.clone(), key }).await?;
    Ok((StatusCode::CREATED, Json(answer(&app, &attester, last_seq(&records)))))
}

/// Body of `POST /admin/v1/attesters/{attester}/keys/{key_id}/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    reason: String,
}

/// `POST /admin/v1/attesters/{attester}/keys/{key_id}/revoke` (provider): tokens the key signed
/// are `untrusted` from the next request on.
pub async fn revoke_key(
    State(app): State<AppState>,
    ApiPath((id, key_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RevokeKey>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let attester = parse_id("attester", AttesterId::parse, &id)?;
    let key_id = parse_id("key_id", AttesterKeyId::parse, &key_id)?;
    let records =
        submit(&app, &headers, Command::RevokeAttesterKey { attester: attester.clone(), key_id, reason: body.reason })
            .await?;
    Ok(Json(answer(&app, &attester, last_seq(&records))))
}

fn parse_key(body: &KeyBody) -> Result<NewAttesterKey, ApiError> {
    Ok(NewAttesterKey {
        key_id: parse_id("key_id", AttesterKeyId::parse, &body.key_id)?,
        public_key: parse_id("public_key", AttesterPublicKey::parse, &body.public_key)?,
        not_after: parse_time("not_after", body.not_after.as_deref())?,
    })
}

/// A write's answer: the attester as it now stands, and the event's sequence number.
fn answer(app: &AppState, attester: &AttesterId, event_seq: u64) -> serde_json::Value {
    let snapshot = app.engine.snapshot();
    let registered =
        snapshot.state().attester_registry().registered(attester.as_str()).map(|a| attester_json(a, app.engine.now()));
    serde_json::json!({ "attester": registered, "event_seq": event_seq })
}

fn attester_json(attester: &Attester, now: Timestamp) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = attester
        .keys
        .iter()
        .map(|key| {
            serde_json::json!({
                "key_id": key.key_id.as_str(),
                "public_key": key.public_key.to_base64url(),
                "not_after": key.not_after.map(Timestamp::to_rfc3339),
                "added_at": key.added_at.map(Timestamp::to_rfc3339),
                "revoked": key.revoked.is_some(),
                "revoked_at": key.revoked.as_ref().map(|r| r.at.to_rfc3339()),
                "revocation_reason": key.revoked.as_ref().map(|r| r.reason.as_str()),
                "usable": key.usable_at(now),
            })
        })
        .collect();
    serde_json::json!({
        "id": attester.id.as_str(),
        "name": attester.name,
        "source": attester.source.as_str(),
        "registered_at": attester.registered_at.map(Timestamp::to_rfc3339),
        "keys": keys,
    })
}
