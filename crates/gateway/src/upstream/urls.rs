//! Parsed upstream URLs, cached.
//!
//! Building `format!("{base}{path}")` and parsing it (IDNA included) on every request cost ~5%
//! of the gateway's CPU at saturation; a base URL changes only by a governance event, so each
//! (base, endpoint) pair is parsed once, into the `Uri` the client sends to.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::{HeaderValue, Uri};
use base64::Engine as _;

use crate::error::ApiError;

/// The OpenAI endpoints the gateway forwards, relative to an upstream's base URL.
const ENDPOINTS: [&str; 5] = ["/chat/completions", "/completions", "/embeddings", "/responses", "/messages"];

/// Bound on cached base URLs; past it the cache is cleared (base URLs come from governance
/// events, so this only matters for a deployment that keeps re-pointing models).
const MAX_CACHED_BASES: usize = 4096;

/// Where a forwarded request goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// The endpoint's URL, without user-info.
    pub uri: Uri,
    /// `Authorization: Basic …` from user-info in the base URL (`https://user:pass@host/v1`),
    /// marked sensitive; an API key from `api_key_env` replaces it.
    pub basic_auth: Option<HeaderValue>,
}

/// A cache of parsed upstream URLs by base URL.
#[derive(Default)]
pub struct UpstreamUrls {
    parsed: RwLock<HashMap<String, Vec<Target>>>,
}

impl UpstreamUrls {
    /// Where `endpoint` (one of the forwarded paths) under `base_url` is.
    ///
    /// # Errors
    ///
    /// 502 when the base URL does not parse (it was checked when registered, so this means an
    /// operator edited the store by hand).
    pub fn get(&self, base_url: &str, endpoint: &str) -> Result<Target, ApiError> {
        let index = ENDPOINTS
            .iter()
            .position(|e| *e == endpoint)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("`{endpoint}` is not a forwarded endpoint")))?;
        if let Some(target) =
            self.parsed.read().ok().and_then(|map| map.get(base_url).and_then(|targets| targets.get(index).cloned()))
        {
            return Ok(target);
        }
        let targets = ENDPOINTS.iter().map(|e| parse(base_url, e)).collect::<Result<Vec<_>, _>>().map_err(|why| {
            ApiError::UpstreamUnreachable(format!("the upstream URL of this model is invalid: {why}"))
        })?;
        let target =
            targets.get(index).cloned().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("endpoint index")))?;
        if let Ok(mut map) = self.parsed.write() {
            if map.len() >= MAX_CACHED_BASES {
                map.clear();
            }
            map.insert(base_url.to_owned(), targets);
        }
        Ok(target)
    }
}

/// Parses `base_url` + `endpoint` as a browser would (WHATWG: IDNA, percent-encoding), then
/// moves user-info out of the URL into a Basic credential. The error never repeats the URL.
fn parse(base_url: &str, endpoint: &str) -> Result<Target, String> {
    let base = base_url.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}{endpoint}")).map_err(|err| err.to_string())?;
    let basic_auth = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode).unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut value = HeaderValue::try_from(format!("Basic {encoded}")).map_err(|err| err.to_string())?;
        value.set_sensitive(true);
        url.set_username("").map_err(|()| "the URL cannot carry a user name".to_owned())?;
        url.set_password(None).map_err(|()| "the URL cannot carry a password".to_owned())?;
        Some(value)
    };
    let uri = url.as_str().parse::<Uri>().map_err(|err| err.to_string())?;
    Ok(Target { uri, basic_auth })
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn user_info_becomes_a_basic_credential_and_leaves_the_url() {
        let target = parse("https://ali%40ce:s3cr%2Ft@api.example.com/v1/", "/chat/completions").unwrap();
        assert_eq!(target.uri.to_string(), "https://api.example.com/v1/chat/completions");
        // base64("ali@ce:s3cr/t")
        assert_eq!(target.basic_auth.unwrap().to_str().unwrap(), "Basic YWxpQGNlOnMzY3IvdA==");
    }

    #[test]
    fn plain_and_international_hosts() {
        let target = parse("http://127.0.0.1:8080/v1", "/embeddings").unwrap();
        assert_eq!(target.uri.to_string(), "http://127.0.0.1:8080/v1/embeddings");
        assert!(target.basic_auth.is_none());
        let target = parse("https://bücher.example/v1", "/responses").unwrap();
        assert_eq!(target.uri.host(), Some("xn--bcher-kva.example"));
    }

    #[test]
    fn a_bad_url_is_an_error_that_does_not_repeat_it() {
        let err = parse("http://sec:ret@[::1/v1", "/chat/completions").unwrap_err();
        assert!(!err.contains("ret"), "{err}");
    }
}
