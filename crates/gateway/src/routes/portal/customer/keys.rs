//! `/portal/keys`: the customer's API keys; a created key is shown once, in the answer to the
//! post that created it, and only its hash is kept (`IssueKey`, as the admin API).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use portcullis_core::{Command, KeyId, SecretHash};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{new_id, new_secret, parse_id};
use crate::routes::portal::auth::{Posted, Signed};
use crate::routes::portal::view::{PortalPage, csrf, done_message, form_error, page_with_status, text_input};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::{badge, segment};

/// `GET /portal/keys`.
pub async fn get(
    signed: Signed,
    query: Result<axum::extract::Query<super::home::Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    signed.customer()?;
    let done = query.ok().and_then(|axum::extract::Query(q)| q.done);
    Ok(render(&signed, StatusCode::OK, html! { (done_message(done.as_deref())) }))
}

/// `POST /portal/keys`: issues a key and shows it once.
pub async fn post(State(app): State<AppState>, posted: Posted) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    let customer = signed.customer()?.clone();
    let label = fields.text("label").to_owned();
    let key = new_secret("pcl_");
    let result = async {
        let key_id = parse_id("key_id", KeyId::parse, &new_id("key_"))?;
        let command = Command::IssueKey {
            customer,
            key_id: key_id.clone(),
            label: label.clone(),
            key_hash: SecretHash::of_secret(&key),
        };
        submit(&app, &signed.actor, command).await?;
        Ok::<_, ApiError>(key_id)
    }
    .await;
    let status = result.as_ref().map_or_else(ApiError::status, |_| StatusCode::OK);
    let top = match result {
        Ok(key_id) => html! {
            section.card #new-key role="status" {
                h2 { "Your new key " code { (key_id) } }
                p { strong { "Copy it now: it is shown this once, and only its hash is kept." } }
                p.secret #secret { (key) }
            }
        },
        Err(err) => html! { (form_error(Some(&err.to_string()))) },
    };
    let signed_after = Signed { snapshot: app.engine.snapshot(), ..signed };
    Ok(render(&signed_after, status, top).into_response())
}

/// `POST /portal/keys/{key_id}/revoke`.
pub async fn revoke(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    signed.customer()?;
    let ApiPath(id) = path?;
    let result = async {
        let key_id = parse_id("key_id", KeyId::parse, &id)?;
        let reason = fields.text("reason").to_owned();
        submit(&app, &signed.actor, Command::RevokeKey { key_id, reason }).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/portal/keys?done=revoked")),
        Err(err) => {
            let status = err.status();
            Ok(render(&signed, status, html! { (form_error(Some(&err.to_string()))) }).into_response())
        }
    }
}

fn render(signed: &Signed, status: StatusCode, top: Markup) -> PortalPage {
    let customer = signed.customer().map(|c| c.as_str().to_owned()).unwrap_or_default();
    let mut keys: Vec<_> = signed.snapshot.state().keys_of(&customer).collect();
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    let content = html! {
        h1 { "API keys" }
        (top)
        p.lede { "Keys call the OpenAI-compatible API (" code { "Authorization: Bearer pcl_…" } "). A key is shown once, when it is created." }
        div.table-scroll { table {
            caption { "Your keys" }
            thead { tr { th scope="col" { "Key id" } th scope="col" { "Label" } th scope="col" { "Status" } th scope="col" { "Revoke" } } }
            tbody {
                @for k in &keys {
                    tr {
                        th scope="row" { code { (k.key_id) } }
                        td { (&*k.label) }
                        td { @if k.revoked { (badge("status-lifted", "revoked")) } @else { (badge("cleared", "active")) } }
                        td {
                            @if !k.revoked {
                                form.inline method="post" action={ "/portal/keys/" (segment(k.key_id.as_str())) "/revoke" } {
                                    (csrf(signed))
                                    label.visually-hidden for={ "reason-" (k.key_id) } { "Reason for revoking " (k.key_id) }
                                    input type="text" id={ "reason-" (k.key_id) } name="reason" placeholder="reason" required;
                                    " "
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        } }
        form.panel method="post" action="/portal/keys" {
            h2 { "Create a key" }
            (csrf(signed))
            (text_input("label", "Label", "", Some("What the key is for, e.g. `production`.")))
            button type="submit" { "Create key" }
        }
    };
    page_with_status(signed, status, "API keys", content)
}
