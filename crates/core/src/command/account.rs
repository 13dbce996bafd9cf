//! Login accounts for the web portals: created for an existing actor, disabled for good.
//!
//! Who may create which account is decided in `authorize` (`command/mod.rs`): the provider for
//! anyone, and a customer or an official for itself only, with the credential it already holds
//! (an API key, a role token), so a login never carries more power than an existing credential.

use crate::account::{LoginName, PasswordHash};
use crate::command::{CommandError, check_text, need_customer};
use crate::event::{Actor, Event};
use crate::state::State;

/// `CreateAccount`: the login is new (logins are never reused, so one name in the log is one
/// person) and the holder exists.
pub(crate) fn create(
    state: &State,
    login: LoginName,
    holder: Actor,
    password_hash: PasswordHash,
) -> Result<Event, CommandError> {
    if state.accounts().get(login.as_str()).is_some() {
        return Err(CommandError::AlreadyExists { what: "account", id: login.to_string() });
    }
    match &holder {
        Actor::Customer { customer } => {
            need_customer(state, customer)?;
        }
        Actor::Authority { authority, .. } => {
            if state.authority(authority.as_str()).is_none() {
                return Err(CommandError::NotFound { what: "authority", id: authority.to_string() });
            }
        }
        Actor::Provider { name } => check_text("provider name", name)?,
    }
    Ok(Event::AccountCreated { login, holder, password_hash })
}

/// `ChangePassword`: the account exists and is active (a disabled account stays disabled; a new
/// password would not bring it back).
pub(crate) fn change_password(
    state: &State,
    login: LoginName,
    password_hash: PasswordHash,
) -> Result<Event, CommandError> {
    let account = state
        .accounts()
        .get(login.as_str())
        .ok_or_else(|| CommandError::NotFound { what: "account", id: login.to_string() })?;
    if !account.is_active() {
        return Err(CommandError::Invalid(format!("account `{login}` is disabled")));
    }
    Ok(Event::AccountPasswordChanged { login, password_hash })
}

/// `DisableAccount`: the account exists and is active; a reason is given.
pub(crate) fn disable(state: &State, login: LoginName, reason: String) -> Result<Event, CommandError> {
    let account = state
        .accounts()
        .get(login.as_str())
        .ok_or_else(|| CommandError::NotFound { what: "account", id: login.to_string() })?;
    if !account.is_active() {
        return Err(CommandError::Invalid(format!("account `{login}` is already disabled")));
    }
    check_text("reason", &reason)?;
    Ok(Event::AccountDisabled { login, reason })
}
