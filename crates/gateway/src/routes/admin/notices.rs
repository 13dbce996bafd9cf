//! Notices of adverse actions, and the authorities' work queue.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use portcullis_core::notice::{Notice, NoticeRegarding};
use portcullis_core::{Actor, Timestamp};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::actor;
use crate::routes::admin::appeals::appeal_json;
use crate::routes::admin::applications::application_json;

/// `GET /admin/v1/notices`: a customer sees those addressed to it and public ones; authorities
/// and the provider see all. Newest first.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    let notices: Vec<serde_json::Value> = snapshot
        .state()
        .notices()
        .rev()
        .filter(|n| match &caller {
            Actor::Customer { customer } => n.addressed_to(customer),
            Actor::Authority { .. } | Actor::Provider { .. } => true,
        })
        .map(|n| notice_json(n))
        .collect();
    Ok(Json(serde_json::json!({ "notices": notices })))
}

/// The JSON form of a notice.
pub fn notice_json(n: &Notice) -> serde_json::Value {
    let regarding = match &n.regarding {
        NoticeRegarding::Application { application } => {
            serde_json::json!({ "kind": "application", "application": application.as_str() })
        }
        NoticeRegarding::GrantRevocation { customer, model } => {
            serde_json::json!({ "kind": "grant_revocation", "customer": customer.as_str(), "model": model.as_str() })
        }
        NoticeRegarding::Directive { directive } => {
            serde_json::json!({ "kind": "directive", "directive": directive.as_str() })
        }
        NoticeRegarding::Stage { model } => serde_json::json!({ "kind": "stage", "model": model.as_str() }),
        NoticeRegarding::Appeal { appeal } => serde_json::json!({ "kind": "appeal", "appeal": appeal.as_str() }),
    };
    serde_json::json!({
        "number": n.number,
        "sent_at": n.sent_at.to_rfc3339(),
        "recipients": n.recipients.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "public": n.public,
        "regarding": regarding,
        "text": n.text,
        "effective_at": n.effective_at.to_rfc3339(),
        "appeal_by": n.appeal_by.map(Timestamp::to_rfc3339),
        "log_index": n.seq.saturating_sub(1),
    })
}

/// `GET /admin/v1/queue` (authority): open applications for models this authority signs off
/// on and pending appeals it decides, each with its deadline, overdue first; and models in
/// review with their clocks.
pub async fn queue(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let Actor::Authority { authority, .. } = &caller else {
        return Err(ApiError::Forbidden(format!("{} has no review queue", caller.describe())));
    };
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let Queue { applications, appeals, reviews } = queue_of(snapshot.state(), authority, now);
    let reviews: Vec<serde_json::Value> = reviews
        .into_iter()
        .filter_map(|m| m.review.as_ref().map(|clock| (m, clock)))
        .map(|(m, clock)| crate::routes::admin::review::review_json(m, clock, now))
        .collect();
    Ok(Json(serde_json::json!({
        "authority": authority.as_str(),
        "applications": applications.into_iter().map(|a| application_json(a, now)).collect::<Vec<_>>(),
        "appeals": appeals.into_iter().map(|a| appeal_json(a, now)).collect::<Vec<_>>(),
        "reviews": reviews,
    })))
}

/// An authority's work: what `GET /admin/v1/queue` and the authority console list.
pub(crate) struct Queue<'a> {
    /// Open applications of models whose sign-off quorum includes the authority, overdue first,
    /// then by due date.
    pub applications: Vec<&'a std::sync::Arc<portcullis_core::application::Application>>,
    /// Pending appeals the authority decides, overdue first, then by due date.
    pub appeals: Vec<&'a std::sync::Arc<portcullis_core::appeal::Appeal>>,
    /// Models in review.
    pub reviews: Vec<&'a std::sync::Arc<portcullis_core::state::Model>>,
}

/// The queue of `authority` at `now`.
pub(crate) fn queue_of<'a>(
    state: &'a portcullis_core::State,
    authority: &portcullis_core::AuthorityId,
    now: Timestamp,
) -> Queue<'a> {
    let mut applications: Vec<_> =
        state.applications().filter(|a| a.status.is_open()).filter(|a| a.quorum.includes(authority)).collect();
    applications.sort_by_key(|a| (!a.overdue(now), a.due_at));
    let mut appeals: Vec<_> = state.appeals().filter(|a| a.decision.is_none() && a.authority == *authority).collect();
    appeals.sort_by_key(|a| (!a.overdue(now), a.due_at));
    let reviews = state.models().filter(|m| m.stage == portcullis_core::Stage::Review && m.review.is_some()).collect();
    Queue { applications, appeals, reviews }
}
