//! `portcullis admin customer …`: customers and their attributes.

use serde_json::{Map, Value, json};

use crate::admin::client::Client;

/// Customers: organisations holding API keys; criteria and directives read their attributes.
#[derive(clap::Subcommand)]
pub enum CustomerCommand {
    /// Register a customer (provider).
    Create {
        /// The customer id, e.g. `acme`: letters, digits and `-_.:/`.
        #[arg(long)]
        id: String,
        /// The display name.
        #[arg(long)]
        name: String,
        /// An attribute as `key=value`, repeatable. The value is read as JSON if it parses
        /// (`true`, `["US"]`), else as a string: `--attr kyc=verified`, `--attr us_person=true`.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attribute)]
        attributes: Vec<(String, Value)>,
    },
    /// Show a customer with its grants (provider, authority, or the customer itself).
    Show {
        /// The customer id.
        id: String,
    },
    /// List every customer (provider, authority).
    List,
    /// Replace a customer's attributes (provider); attributes left out are removed.
    SetAttributes {
        /// The customer id.
        id: String,
        /// An attribute as `key=value`, repeatable; the value is read as JSON if it parses,
        /// else as a string. With none, every attribute is removed.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attribute)]
        attributes: Vec<(String, Value)>,
    },
}

/// Runs a customer subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: CustomerCommand) -> anyhow::Result<Value> {
    match command {
        CustomerCommand::Create { id, name, attributes } => {
            let body = json!({ "id": id, "name": name, "attributes": attribute_map(attributes) });
            client.post(&["customers"], &body).await
        }
        CustomerCommand::Show { id } => client.get(&["customers", &id]).await,
        CustomerCommand::List => client.get(&["customers"]).await,
        CustomerCommand::SetAttributes { id, attributes } => {
            let body = json!({ "attributes": attribute_map(attributes) });
            client.put(&["customers", &id, "attributes"], &body).await
        }
    }
}

/// Parses `key=value`; the value is JSON if it parses as JSON, else the text itself.
fn parse_attribute(text: &str) -> Result<(String, Value), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("`{text}` is not `key=value`"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`{text}` has no key before `=`"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

/// Collects attributes into a JSON object; a key given twice keeps its last value.
fn attribute_map(attributes: Vec<(String, Value)>) -> Map<String, Value> {
    attributes.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Result<(&str, Value), &str>) {
        let actual = parse_attribute(input);
        let expect = expect.map(|(k, v)| (k.to_owned(), v)).map_err(str::to_owned);
        assert_eq!(actual, expect);
    }

    #[test]
    fn attributes() {
        check("kyc=verified", Ok(("kyc", json!("verified"))));
        check("us_person=true", Ok(("us_person", json!(true))));
        check("nationalities=[\"US\",\"CA\"]", Ok(("nationalities", json!(["US", "CA"]))));
        check("tier=\"1\"", Ok(("tier", json!("1"))));
        check("tier=1", Ok(("tier", json!(1))));
        check("note=a=b", Ok(("note", json!("a=b"))));
        check("empty=", Ok(("empty", json!(""))));
        check("kyc", Err("`kyc` is not `key=value`"));
        check("=x", Err("`=x` has no key before `=`"));
    }
}
