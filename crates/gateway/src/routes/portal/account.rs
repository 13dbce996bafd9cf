//! `/account/password`: any signed-in person changes their own password. The current password
//! is asked again (a session left open on a shared screen is not enough), the new one must meet
//! the same rule as at creation, and the change is the `ChangePassword` command the admin API
//! takes, recorded in the log without the hash. It signs the account out everywhere else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use portcullis_core::Command;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::portal::auth::{Posted, Signed};
use crate::routes::portal::view::{PortalPage, csrf, form_error, page_with_status};
use crate::routes::portal::{PortalError, password, submit};

/// `GET /account/password`.
pub async fn get(signed: Signed) -> PortalPage {
    render(&signed, StatusCode::OK, html! {})
}

/// `POST /account/password`.
pub async fn post(State(app): State<AppState>, posted: Posted) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    let current = fields.get("current").unwrap_or_default().to_owned();
    let new = fields.get("new").unwrap_or_default().to_owned();
    let repeated = fields.get("repeat").unwrap_or_default();
    let result = async {
        if new != repeated {
            return Err(ApiError::bad_request("the new password and its repetition differ"));
        }
        password::check_rule(&new)?;
        let account = signed.snapshot.state().accounts().get(signed.login.as_str()).cloned();
        if !password::verify(current, account.map(|a| a.password_hash.clone())).await? {
            tracing::info!(login = %signed.login, "portal password change refused: wrong current password");
            return Err(ApiError::bad_request("the current password is wrong"));
        }
        let password_hash = password::hash(new).await?;
        submit(
            &app,
            &signed.actor,
            Command::ChangePassword { login: signed.login.clone(), password_hash: password_hash.clone() },
        )
        .await?;
        // Every other session of the account ends at its next request (its stamp no longer
        // matches); this one carries on.
        app.sessions.restamp(&signed.session, &password_hash).await
    }
    .await;
    let (status, top) = match result {
        Ok(_) => (StatusCode::OK, html! { div.form-done role="status" { "Your password was changed." } }),
        Err(err) => (err.status(), form_error(Some(&err.to_string()))),
    };
    Ok(render(&signed, status, top).into_response())
}

fn render(signed: &Signed, status: StatusCode, top: Markup) -> PortalPage {
    let content = html! {
        h1 { "Change your password" }
        (top)
        form.panel method="post" action="/account/password" {
            (csrf(signed))
            div.field {
                label for="current" { "Current password" }
                input #current type="password" name="current" autocomplete="current-password" required;
            }
            div.field {
                label for="new" { "New password" }
                span.hint #new-hint { "At least " (password::MIN_PASSWORD_CHARS) " characters." }
                input #new type="password" name="new" autocomplete="new-password" required aria-describedby="new-hint";
            }
            div.field {
                label for="repeat" { "New password, again" }
                input #repeat type="password" name="repeat" autocomplete="new-password" required;
            }
            button type="submit" { "Change password" }
        }
    };
    page_with_status(signed, status, "Change your password", content)
}
