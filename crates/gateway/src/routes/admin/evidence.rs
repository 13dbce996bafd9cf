//! Evidence: documents uploaded by digest, cited by decisions with a disclosure level, and read
//! back only by those the level admits.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::evidence::{Viewer, is_sha256_hex};
use portcullis_core::{Actor, CustomerId, Disclosure, Evidence, State as GovState};
use portcullis_store::EvidenceDocument;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::actor;

/// Largest evidence document.
pub const MAX_EVIDENCE_BYTES: usize = 10 * 1024 * 1024;

/// An evidence citation as sent by clients.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    description: String,
    /// SHA-256 of an uploaded document (`POST /admin/v1/evidence`); optional when withheld.
    #[serde(default)]
    sha256: Option<String>,
    /// `public`, `subject`, `authorities` or `withheld`.
    disclosure: String,
    /// Why it is withheld (required then).
    #[serde(default)]
    reason: Option<String>,
}

/// One citation or a list of them (a directive used to take exactly one).
pub enum EvidenceList {
    /// Several.
    Many(Vec<EvidenceBody>),
    /// One.
    One(EvidenceBody),
}

// By hand rather than `#[serde(untagged)]`, whose only message is "did not match any variant":
// a client deserves to hear which field of which item is wrong.
impl<'de> Deserialize<'de> for EvidenceList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(deserializer)?;
        let item = |value: serde_json::Value| serde_json::from_value::<EvidenceBody>(value);
        match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(v).map_err(|err| D::Error::custom(format!("evidence[{i}]: {err}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(EvidenceList::Many),
            object @ serde_json::Value::Object(_) => {
                item(object).map(EvidenceList::One).map_err(|err| D::Error::custom(format!("evidence: {err}")))
            }
            _ => Err(D::Error::custom("evidence must be an object or a list of objects")),
        }
    }
}

impl EvidenceList {
    /// Converts to core values, naming the first unknown disclosure level.
    pub fn into_evidence(self) -> Result<Vec<Evidence>, ApiError> {
        let items = match self {
            EvidenceList::Many(items) => items,
            EvidenceList::One(item) => vec![item],
        };
        items.into_iter().map(EvidenceBody::into_evidence).collect()
    }
}

impl EvidenceBody {
    fn into_evidence(self) -> Result<Evidence, ApiError> {
        let disclosure = match (self.disclosure.as_str(), self.reason) {
            ("public" | "disclosed", None) => Disclosure::Public,
            ("subject", None) => Disclosure::Subject,
            ("authorities", None) => Disclosure::Authorities,
            ("withheld", Some(reason)) => Disclosure::Withheld { reason },
            ("withheld", None) => return Err(bad("withheld evidence needs a `reason`")),
            ("public" | "disclosed" | "subject" | "authorities", Some(_)) => {
                return Err(bad("`reason` only goes with withheld evidence"));
            }
            (other, _) => {
                return Err(bad(&format!(
                    "unknown disclosure `{other}`; use public, subject, authorities or withheld"
                )));
            }
        };
        Ok(Evidence { description: self.description, sha256: self.sha256, disclosure })
    }
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("evidence store: {err}"))
}

fn bad(message: &str) -> ApiError {
    ApiError::BadRequest { message: message.to_owned(), param: Some("evidence"), code: "invalid_value" }
}

/// The citations of a request body (none when absent), each checked to be uploaded.
pub async fn cited(app: &AppState, body: Option<EvidenceList>) -> Result<Vec<Evidence>, ApiError> {
    let evidence = body.map(EvidenceList::into_evidence).transpose()?.unwrap_or_default();
    check_uploaded(app, &evidence).await?;
    Ok(evidence)
}

/// Refuses a citation of a document that was never uploaded: what is cited must be producible.
pub async fn check_uploaded(app: &AppState, evidence: &[Evidence]) -> Result<(), ApiError> {
    for item in evidence {
        let Some(digest) = item.sha256.clone() else { continue };
        if !is_sha256_hex(&digest) {
            continue; // the core names this problem
        }
        let store = app.evidence.clone();
        let known =
            tokio::task::spawn_blocking(move || store.contains(&digest)).await.map_err(internal)?.map_err(internal)?;
        if !known {
            return Err(bad(&format!(
                "evidence `{}` cites sha256 `{}`, which has not been uploaded (POST /admin/v1/evidence)",
                item.description,
                item.sha256.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// The JSON form of a citation. Digest and description are always shown; the document itself is
/// served by `GET /admin/v1/evidence/{sha256}` to those its level admits.
pub fn evidence_json(item: &Evidence) -> serde_json::Value {
    let mut json = serde_json::json!({
        "description": item.description,
        "sha256": item.sha256,
        "disclosure": item.disclosure.name(),
    });
    if let (Disclosure::Withheld { reason }, Some(map)) = (&item.disclosure, json.as_object_mut()) {
        map.insert("reason".to_owned(), reason.clone().into());
    }
    json
}

/// `POST /admin/v1/evidence` (authority): the raw document as the body, its media type as
/// `Content-Type`. Answers its digest.
pub async fn upload(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // Taken as a `Result` so an oversized document gets the API's JSON 413, not axum's text one.
    let body = body.map_err(|_| ApiError::TooLarge { limit: MAX_EVIDENCE_BYTES })?;
    let actor = actor(&app, &headers)?;
    let Actor::Authority { .. } = &actor else {
        return Err(ApiError::Forbidden(format!("{} may not upload evidence", actor.describe())));
    };
    if body.is_empty() {
        return Err(bad("the evidence document is empty"));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let store = app.evidence.clone();
    let now = app.engine.now();
    let by = actor.describe();
    let bytes = body.len();
    let (sha256, created) = tokio::task::spawn_blocking(move || store.put(&media_type, &body, now, &by))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(serde_json::json!({ "sha256": sha256, "bytes": bytes }))))
}

/// `GET /admin/v1/evidence/{sha256}`: the document, if a citation of it admits the caller.
///
/// Authorities read everything; the subject of an action reads what is disclosed to the subject
/// or the public; anyone else (including the provider) reads public items only. A document
/// nobody has cited yet is for authorities only.
pub async fn get_one(
    State(app): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_sha256_hex(&sha256) {
        return Err(ApiError::BadRequest {
            message: format!("`{sha256}` is not a sha256 digest (64 lowercase hex digits)"),
            param: Some("sha256"),
            code: "invalid_value",
        });
    }
    let actor = actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    if !may_read(snapshot.state(), &actor, &sha256) {
        return Err(ApiError::Forbidden(format!(
            "{} may not read evidence `{sha256}` (its disclosure level does not admit them)",
            actor.describe()
        )));
    }
    let document = fetch(&app, &sha256)
        .await?
        .ok_or_else(|| ApiError::NotFound { message: format!("no evidence `{sha256}`"), code: "not_found" })?;
    // The uploader chose the media type: whoever opens the link in a browser gets it sandboxed,
    // as on the portal, and nothing keeps a copy of a document that may not be public.
    Ok(sandboxed(document, "private, no-store"))
}

/// A stored document by digest, read off the async workers. Whoever calls it has checked that
/// the reader may see it.
pub(crate) async fn fetch(app: &AppState, sha256: &str) -> Result<Option<EvidenceDocument>, ApiError> {
    let store = app.evidence.clone();
    let lookup = sha256.to_owned();
    tokio::task::spawn_blocking(move || store.get(&lookup)).await.map_err(internal)?.map_err(internal)
}

/// A document served to a browser from the gateway's own origin: whatever it is (an HTML page,
/// an SVG), it runs no script here and is not sniffed into something else.
pub(crate) fn sandboxed(document: EvidenceDocument, cache_control: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, document.media_type),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, cache_control.to_owned()),
        ],
        document.bytes,
    )
        .into_response()
}

/// Whether any citation of the document admits the actor.
pub(crate) fn may_read(state: &GovState, actor: &Actor, sha256: &str) -> bool {
    if let Actor::Authority { .. } = actor {
        return true;
    }
    let me: Option<&CustomerId> = match actor {
        Actor::Customer { customer } => Some(customer),
        _ => None,
    };
    citations(state).any(|(item, subjects)| {
        item.sha256.as_deref() == Some(sha256) && {
            let viewer = if me.is_some_and(|c| subjects.contains(&c)) { Viewer::Subject } else { Viewer::Public };
            item.disclosure.visible_to(viewer)
        }
    })
}

/// Every citation in the state, with the customers it concerns.
pub fn citations(state: &GovState) -> impl Iterator<Item = (&Evidence, Vec<&CustomerId>)> {
    let applications = state
        .applications()
        .flat_map(|a| a.signoffs.iter().flat_map(move |s| s.evidence.iter().map(move |e| (e, vec![&a.customer]))));
    let appeals = state
        .appeals()
        .flat_map(|a| a.decision.iter().flat_map(move |d| d.evidence.iter().map(move |e| (e, vec![&a.customer]))));
    let directives = state.directives().flat_map(move |d| {
        d.evidence.iter().map(move |e| {
            let concerned: Vec<&CustomerId> = state
                .notices()
                .filter(|n| {
                    matches!(&n.regarding, portcullis_core::notice::NoticeRegarding::Directive { directive } if *directive == d.id)
                })
                .flat_map(|n| n.recipients.iter())
                .collect();
            (e, concerned)
        })
    });
    applications.chain(appeals).chain(directives)
}
