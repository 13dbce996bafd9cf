//! Accounts: a login name and a password credential bound to an existing actor (a customer, an
//! official of an authority, or the provider's staff), for the web portals.
//!
//! An account is another credential of an actor, like an API key or an official's role token:
//! whoever acts through it acts as that actor, under the same role check (`command::authorize`).
//! The core never sees a password: the gateway hashes it with a memory-hard function (argon2id)
//! and hands over the PHC string, which is stored in the event and never published
//! ([`crate::EventRecord::public_json`] drops `password_hash`).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValueError;
use crate::event::Actor;
use crate::ids::Timestamp;

/// The name a person signs in with, e.g. `acme-ops` or `j.doe@bis`.
///
/// Lowercase ASCII letters, digits and `-_.@`, 3 to 64 characters, starting with a letter or
/// digit: case-insensitive logins would otherwise let `Acme` and `acme` be two accounts.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginName(String);

impl LoginName {
    /// Parses a login name.
    ///
    /// # Errors
    ///
    /// Returns an error naming the problem.
    pub fn parse(text: &str) -> Result<Self, InvalidValueError> {
        check_login(text).map(|()| Self(text.to_owned()))
    }

    /// The login as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_login(text: &str) -> Result<(), InvalidValueError> {
    if text.len() < 3 || text.len() > 64 {
        return Err(InvalidValueError::new("login must be 3 to 64 characters".to_owned()));
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.@".contains(*c))) {
        return Err(InvalidValueError::new(format!(
            "login `{text}` contains `{bad}`; use lowercase letters, digits and `-_.@`"
        )));
    }
    if !text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(InvalidValueError::new(format!("login `{text}` must start with a letter or digit")));
    }
    Ok(())
}

impl TryFrom<String> for LoginName {
    type Error = InvalidValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_login(&text).map(|()| Self(text))
    }
}

impl From<LoginName> for String {
    fn from(login: LoginName) -> String {
        login.0
    }
}

impl std::borrow::Borrow<str> for LoginName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LoginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginName({:?})", self.0)
    }
}

/// An argon2id password hash in the PHC string format
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), made by the gateway.
///
/// The core checks only the form: it never sees the password and does not verify it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

/// The longest PHC string accepted; argon2id's default output is about 100 characters.
const MAX_PHC_LEN: usize = 256;

impl PasswordHash {
    /// Parses a PHC string of argon2id.
    ///
    /// # Errors
    ///
    /// Returns an error when the text is not an argon2id PHC string.
    pub fn parse(text: &str) -> Result<Self, InvalidValueError> {
        check_phc(text).map(|()| Self(text.to_owned()))
    }

    /// The PHC string, for verification by the gateway.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_phc(text: &str) -> Result<(), InvalidValueError> {
    let well_formed = text.starts_with("$argon2id$v=19$")
        && text.len() <= MAX_PHC_LEN
        && text.split('$').count() == 6
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"$=,+/.-".contains(&b));
    if well_formed {
        return Ok(());
    }
    Err(InvalidValueError::new("password_hash is not an argon2id PHC string".to_owned()))
}

impl TryFrom<String> for PasswordHash {
    type Error = InvalidValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_phc(&text).map(|()| Self(text))
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> String {
        hash.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like `SecretHash`: even the hash stays out of debug output and logs.
        f.write_str("PasswordHash(..)")
    }
}

/// An account's record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// The login name.
    pub login: LoginName,
    /// Who signs in through it.
    pub holder: Actor,
    /// The password's argon2id hash.
    pub password_hash: PasswordHash,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it.
    pub created_by: Actor,
    /// When and why it was disabled, if it was.
    pub disabled: Option<(Timestamp, String)>,
}

impl Account {
    /// Whether it may sign in.
    pub fn is_active(&self) -> bool {
        self.disabled.is_none()
    }
}

/// Every account, by login name.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_login: imbl::OrdMap<LoginName, Arc<Account>>,
}

impl Accounts {
    /// Accounts from their records (a state checkpoint's), keyed by login name.
    pub(crate) fn from_records(records: impl IntoIterator<Item = Account>) -> Self {
        Self { by_login: records.into_iter().map(|account| (account.login.clone(), Arc::new(account))).collect() }
    }

    /// An account by login name.
    pub fn get(&self, login: &str) -> Option<&Arc<Account>> {
        self.by_login.get(login)
    }

    /// Accounts, by login name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_login.values()
    }

    /// Applies `account_created`.
    pub(crate) fn apply_created(
        &mut self,
        login: &LoginName,
        holder: &Actor,
        password_hash: &PasswordHash,
        at: Timestamp,
        by: &Actor,
    ) -> Result<(), String> {
        if self.by_login.contains_key(login) {
            return Err(format!("account `{login}` already exists"));
        }
        self.by_login.insert(
            login.clone(),
            Arc::new(Account {
                login: login.clone(),
                holder: holder.clone(),
                password_hash: password_hash.clone(),
                created_at: at,
                created_by: by.clone(),
                disabled: None,
            }),
        );
        Ok(())
    }

    /// Applies `account_disabled`.
    pub(crate) fn apply_disabled(&mut self, login: &LoginName, reason: &str, at: Timestamp) -> Result<(), String> {
        let account = self.by_login.get_mut(login).ok_or_else(|| format!("no account `{login}`"))?;
        Arc::make_mut(account).disabled = Some((at, reason.to_owned()));
        Ok(())
    }

    /// Applies `account_password_changed`.
    pub(crate) fn apply_password_changed(
        &mut self,
        login: &LoginName,
        password_hash: &PasswordHash,
    ) -> Result<(), String> {
        let account = self.by_login.get_mut(login).ok_or_else(|| format!("no account `{login}`"))?;
        Arc::make_mut(account).password_hash = password_hash.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_login_name(input: &str, expect: Result<(), &str>) {
        let got = LoginName::parse(input).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_owned));
    }

    #[test]
    fn login_names() {
        check_login_name("acme-ops", Ok(()));
        check_login_name("j.doe@bis", Ok(()));
        check_login_name("ab", Err("login must be 3 to 64 characters"));
        check_login_name("Acme", Err("login `Acme` contains `A`; use lowercase letters, digits and `-_.@`"));
        check_login_name("-acme", Err("login `-acme` must start with a letter or digit"));
        check_login_name("a b c", Err("login `a b c` contains ` `; use lowercase letters, digits and `-_.@`"));
    }

    #[test]
    fn password_hashes() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(PasswordHash::parse(phc).is_ok());
        assert_eq!(format!("{:?}", PasswordHash::parse(phc).unwrap()), "PasswordHash(..)");
        for bad in ["", "hunter2", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=1 t=1$x$y"] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }
}
