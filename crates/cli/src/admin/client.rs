//! The HTTP side of `portcullis admin`: one request, then one JSON answer or one readable error.
//!
//! Every subcommand goes through [`Client`], so URLs, the bearer token, timeouts and the shape of
//! error messages are decided in this one place.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// How long to wait for a TCP connection to the gateway. A gateway that does not accept within
/// this time is down or unreachable, and failing fast beats a terminal that hangs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one admin request may take in total. A write is answered once its event is durable,
/// which takes milliseconds; a minute leaves room for a slow disk without hanging forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one gateway's admin API (`<base URL>/admin/v1/…`).
pub struct Client {
    /// The pooled HTTP client (one connection is reused across the requests of a subcommand).
    http: reqwest::Client,
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080`; may carry a path prefix.
    base_url: Url,
    /// The bearer token; `None` sends no `Authorization` header (public routes need none).
    token: Option<String>,
}

/// An error answer of the gateway (a 4xx or 5xx status).
///
/// Kept as a typed error inside the `anyhow::Error`, so `--err-fmt json` can print the body the
/// gateway sent rather than a paraphrase.
#[derive(Debug)]
pub struct ApiCallError {
    /// One line for people: the API's `error.message`, plus each policy diagnostic.
    message: String,
    /// The error body, when it was JSON.
    body: Option<Value>,
}

impl ApiCallError {
    /// The error body as the gateway sent it, when it was JSON.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }
}

impl fmt::Display for ApiCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiCallError {}

impl Client {
    /// A client of the gateway at `base_url`, sending `token` as the bearer token if given.
    ///
    /// # Errors
    ///
    /// Fails when `base_url` is not an `http://` or `https://` URL.
    pub fn new(base_url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let parsed = Url::parse(base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host() && !url.cannot_be_a_base())
            .ok_or_else(|| anyhow::anyhow!("`{base_url}` is not an http:// or https:// URL (see --url)"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("portcullis-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to set up the HTTP client")?;
        Ok(Self { http, base_url: parsed, token })
    }

    /// `GET /admin/v1/<segments>`.
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn get(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.send(Method::GET, segments, &[], Payload::None).await
    }

    /// `GET /admin/v1/<segments>?<query>`.
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn get_with_query(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(Method::GET, segments, query, Payload::None).await
    }

    /// `POST /admin/v1/<segments>` with a JSON body.
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn post(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Payload::Json(body)).await
    }

    /// `PUT /admin/v1/<segments>` with a JSON body.
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn put(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PUT, segments, &[], Payload::Json(body)).await
    }

    /// `POST /admin/v1/<segments>` with no body (for actions that take no arguments).
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn post_empty(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Payload::None).await
    }

    /// `POST /admin/v1/<segments>` with raw bytes as the body, of the given media type.
    ///
    /// # Errors
    ///
    /// See [`Client::send`].
    pub async fn post_bytes(&self, segments: &[&str], bytes: Vec<u8>, media_type: &str) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Payload::Bytes { bytes, media_type }).await
    }

    /// `GET /admin/v1/<segments>` of a document that is not JSON: its bytes and `Content-Type`.
    ///
    /// # Errors
    ///
    /// See [`Client::send`]; any successful answer is accepted as is.
    pub async fn get_bytes(&self, segments: &[&str]) -> anyhow::Result<(Vec<u8>, Option<String>)> {
        let (_, media_type, bytes) = self.exchange(Method::GET, segments, &[], Payload::None).await?;
        Ok((bytes, media_type))
    }

    /// Sends one request and returns the JSON answer.
    ///
    /// # Errors
    ///
    /// - An [`ApiCallError`] when the gateway answers with an error status.
    /// - One line naming the gateway's URL when it cannot be reached or does not answer in time.
    /// - A message when a successful answer is not JSON.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        payload: Payload<'_>,
    ) -> anyhow::Result<Value> {
        let (status, _, bytes) = self.exchange(method, segments, query, payload).await?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!("the gateway at `{}` answered {status} with a body that is not JSON", self.display_url())
        })
    }

    /// Sends one request and returns a successful answer's status, `Content-Type` and body.
    ///
    /// Each segment is percent-encoded on its own, so an id holding `/` (model names may) stays
    /// one path segment.
    ///
    /// # Errors
    ///
    /// - An [`ApiCallError`] when the gateway answers with an error status.
    /// - One line naming the gateway's URL when it cannot be reached or does not answer in time.
    async fn exchange(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        payload: Payload<'_>,
    ) -> anyhow::Result<(StatusCode, Option<String>, Vec<u8>)> {
        let url = self.url(segments, query)?;
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match payload {
            Payload::None => request,
            Payload::Json(body) => request.json(body),
            Payload::Bytes { bytes, media_type } => {
                request.header(reqwest::header::CONTENT_TYPE, media_type).body(bytes)
            }
        };
        let response = request.send().await.map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|err| self.transport_error(&err))?;
        if !status.is_success() {
            return Err(api_call_error(status, &bytes, self.token.is_none()).into());
        }
        Ok((status, media_type, bytes.to_vec()))
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Url> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("`{}` cannot be a base URL", self.display_url()))?
            .pop_if_empty()
            .extend(["admin", "v1"])
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// The base URL as the user wrote it (without the trailing slash `Url` adds).
    fn display_url(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }

    /// One line for a request that got no answer: the URL and the innermost cause (e.g.
    /// `connection refused`), not reqwest's chain of wrappers.
    fn transport_error(&self, err: &reqwest::Error) -> anyhow::Error {
        if err.is_timeout() {
            return anyhow::anyhow!("the gateway at `{}` did not answer in time", self.display_url());
        }
        let mut root: &dyn std::error::Error = err;
        while let Some(source) = root.source() {
            root = source;
        }
        anyhow::anyhow!(
            "could not reach the gateway at `{}`: {}",
            self.display_url(),
            lowercase_first(&root.to_string())
        )
    }
}

/// The body of a request.
enum Payload<'a> {
    /// None.
    None,
    /// JSON (`application/json`).
    Json(&'a Value),
    /// Raw bytes of a document, sent as they are.
    Bytes {
        /// The document.
        bytes: Vec<u8>,
        /// Its media type, sent as `Content-Type`.
        media_type: &'a str,
    },
}

/// Builds the error of a non-success answer.
///
/// The message is the API's `error.message`; each policy diagnostic (`line L, column C:
/// message`) is appended unless the message already holds it, which the gateway's own messages
/// do. A body that is not the API's error shape (a 405, a proxy's page) is summarised by status.
fn api_call_error(status: StatusCode, bytes: &[u8], no_token: bool) -> ApiCallError {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    let error = body.as_ref().and_then(|b| b.get("error"));
    let mut message = match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(text) => text.to_owned(),
        None => {
            let text = String::from_utf8_lossy(bytes);
            match text.lines().map(str::trim).find(|line| !line.is_empty()) {
                Some(line) => format!("the gateway answered {status}: {line}"),
                None => format!("the gateway answered {status}"),
            }
        }
    };
    let diagnostics = error.and_then(|e| e.get("diagnostics")).and_then(Value::as_array);
    for diagnostic in diagnostics.into_iter().flatten() {
        let rendered = render_diagnostic(diagnostic);
        if !rendered.is_empty() && !message.contains(&rendered) {
            message.push_str("; ");
            message.push_str(&rendered);
        }
    }
    if status == StatusCode::UNAUTHORIZED && no_token {
        message.push_str("; pass --token or set PORTCULLIS_TOKEN");
    }
    // INVARIANT (one-line errors): `main` prints the message on one line.
    let message = message.replace(['\r', '\n'], " ");
    ApiCallError { message, body }
}

/// `line L, column C: message`, or just the message when the diagnostic has no location.
fn render_diagnostic(diagnostic: &Value) -> String {
    let text = diagnostic.get("message").and_then(Value::as_str).unwrap_or_default();
    let line = diagnostic.get("line").and_then(Value::as_u64);
    let column = diagnostic.get("column").and_then(Value::as_u64);
    match (line, column) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: {text}"),
        _ => text.to_owned(),
    }
}

/// Error messages are lowercase; operating-system messages (`Connection refused`) are not.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(status: StatusCode, body: &str, no_token: bool, expect: &str) {
        let error = api_call_error(status, body.as_bytes(), no_token);
        assert_eq!(error.to_string(), expect);
    }

    #[test]
    fn error_messages() {
        check(
            StatusCode::NOT_FOUND,
            r#"{"error":{"message":"no customer `acme`","type":"invalid_request_error","code":"not_found","param":null}}"#,
            false,
            "no customer `acme`",
        );
        // The gateway's message already lists the diagnostics: nothing is repeated.
        check(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"invalid policy: line 2, column 1: unexpected token","code":"invalid_policy","diagnostics":[{"line":2,"column":1,"message":"unexpected token"}]}}"#,
            false,
            "invalid policy: line 2, column 1: unexpected token",
        );
        // A message without them gets them appended, with or without a location.
        check(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"invalid policy","diagnostics":[{"line":3,"column":7,"message":"only permit"},{"line":null,"column":null,"message":"no location"}]}}"#,
            false,
            "invalid policy; line 3, column 7: only permit; no location",
        );
        check(
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"message":"missing `Authorization: Bearer <key>` header"}}"#,
            true,
            "missing `Authorization: Bearer <key>` header; pass --token or set PORTCULLIS_TOKEN",
        );
        check(StatusCode::METHOD_NOT_ALLOWED, "", false, "the gateway answered 405 Method Not Allowed");
        check(
            StatusCode::BAD_GATEWAY,
            "<html>\n<body>bad gateway</body>\n</html>",
            false,
            "the gateway answered 502 Bad Gateway: <html>",
        );
    }

    #[test]
    fn segments_are_encoded_one_by_one() {
        let client = Client::new("http://127.0.0.1:8080/prefix/", None).unwrap();
        let url = client.url(&["models", "org/model:v1", "stage"], &[("after", "3".to_owned())]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/prefix/admin/v1/models/org%2Fmodel:v1/stage?after=3");
    }

    #[test]
    fn base_url_must_be_http() {
        let err = Client::new("127.0.0.1:8080", None).err().unwrap();
        assert_eq!(err.to_string(), "`127.0.0.1:8080` is not an http:// or https:// URL (see --url)");
    }
}
