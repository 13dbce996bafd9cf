//! `portcullis admin account …`: login accounts for the web portals.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::admin::client::Client;

/// The environment variable a password is read from, unless `--password-stdin` is given: a
/// password on the command line would be visible to other local users.
const PASSWORD_ENV: &str = "PORTCULLIS_PASSWORD";

/// Login accounts for the web portals (`/login`): a password bound to a customer, an official or
/// the provider's staff.
#[derive(clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account. Without a holder, the account is the caller's own (a customer or an
    /// official with its own key or token); the provider may create any. The password comes from
    /// `$PORTCULLIS_PASSWORD`, or from the first line of stdin with `--password-stdin`.
    Create {
        /// The login name: 3 to 64 lowercase letters, digits and `-_.@`.
        #[arg(long)]
        login: String,
        /// The account is this customer's.
        #[arg(long, conflicts_with_all = ["authority", "provider_staff"])]
        customer: Option<String>,
        /// The account is an official's of this authority (with `--official`).
        #[arg(long, requires = "official", conflicts_with = "provider_staff")]
        authority: Option<String>,
        /// The official (with `--authority`).
        #[arg(long, requires = "authority")]
        official: Option<String>,
        /// The account is the provider's, for this member of staff.
        #[arg(long)]
        provider_staff: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts: every one for the provider, one's own for anyone else.
    List,
    /// Give an account a new password (provider, or the account's holder). The password comes
    /// from `$PORTCULLIS_PASSWORD`, or from the first line of stdin with `--password-stdin`.
    Password {
        /// The login name.
        login: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account for good (provider, or the account's holder); its sessions end.
    Disable {
        /// The login name.
        login: String,
        /// Why (recorded in the event).
        #[arg(long)]
        reason: String,
    },
}

/// Runs an account subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when no password is given, the gateway cannot be reached, or it answers with an error.
pub async fn run(client: &Client, command: AccountCommand) -> anyhow::Result<Value> {
    match command {
        AccountCommand::Create { login, customer, authority, official, provider_staff, password_stdin } => {
            let password = read_password(password_stdin)?;
            let holder = match (customer, authority, official, provider_staff) {
                (Some(customer), _, _, _) => Some(json!({ "role": "customer", "customer": customer })),
                (None, Some(authority), Some(official), _) => {
                    Some(json!({ "role": "authority", "authority": authority, "official": official }))
                }
                (None, None, None, Some(name)) => Some(json!({ "role": "provider", "name": name })),
                _ => None,
            };
            let mut body = json!({ "login": login, "password": password });
            if let (Some(holder), Some(map)) = (holder, body.as_object_mut()) {
                map.insert("holder".to_owned(), holder);
            }
            client.post(&["accounts"], &body).await
        }
        AccountCommand::List => client.get(&["accounts"]).await,
        AccountCommand::Password { login, password_stdin } => {
            let password = read_password(password_stdin)?;
            client.post(&["accounts", &login, "password"], &json!({ "password": password })).await
        }
        AccountCommand::Disable { login, reason } => {
            client.post(&["accounts", &login, "disable"], &json!({ "reason": reason })).await
        }
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("failed to read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    std::env::var(PASSWORD_ENV)
        .with_context(|| format!("give the password in ${PASSWORD_ENV} or on stdin with --password-stdin"))
}
