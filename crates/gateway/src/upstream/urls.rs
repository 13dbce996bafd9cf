//! Parsed upstream URLs, cached.
//!
//! Building `format!("{base}{path}")` and letting the client parse it (IDNA included) on every
//! request cost ~5% of the gateway's CPU at saturation; a base URL changes only by a governance
//! event, so each (base, endpoint) pair is parsed once.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::error::ApiError;

/// The OpenAI endpoints the gateway forwards, relative to an upstream's base URL.
const ENDPOINTS: [&str; 5] = ["/chat/completions", "/completions", "/embeddings", "/responses", "/messages"];

/// Bound on cached base URLs; past it the cache is cleared (base URLs come from governance
/// events, so this only matters for a deployment that keeps re-pointing models).
const MAX_CACHED_BASES: usize = 4096;

/// A cache of parsed upstream URLs by base URL.
#[derive(Default)]
pub struct UpstreamUrls {
    parsed: RwLock<HashMap<String, Vec<reqwest::Url>>>,
}

impl UpstreamUrls {
    /// The URL of `endpoint` (one of the forwarded paths) under `base_url`.
    ///
    /// # Errors
    ///
    /// 502 when the base URL does not parse (it was checked when registered, so this means an
    /// operator edited the store by hand).
    pub fn get(&self, base_url: &str, endpoint: &str) -> Result<reqwest::Url, ApiError> {
        let index = ENDPOINTS
            .iter()
            .position(|e| *e == endpoint)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("`{endpoint}` is not a forwarded endpoint")))?;
        if let Some(url) =
            self.parsed.read().ok().and_then(|map| map.get(base_url).and_then(|urls| urls.get(index).cloned()))
        {
            return Ok(url);
        }
        let base = base_url.trim_end_matches('/');
        let urls = ENDPOINTS
            .iter()
            .map(|e| reqwest::Url::parse(&format!("{base}{e}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ApiError::UpstreamUnreachable(format!("the upstream URL `{base_url}` is invalid: {err}")))?;
        let url = urls.get(index).cloned().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("endpoint index")))?;
        if let Ok(mut map) = self.parsed.write() {
            if map.len() >= MAX_CACHED_BASES {
                map.clear();
            }
            map.insert(base_url.to_owned(), urls);
        }
        Ok(url)
    }
}
