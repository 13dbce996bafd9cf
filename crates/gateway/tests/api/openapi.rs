//! The hand-written OpenAPI document against the real router: everything it documents is served,
//! and everything the router serves is documented.
//!
//! The document is read as the gateway serves it (`GET /admin/v1/openapi.json`), and every
//! operation in it is probed on a real server: a documented route the router lacks answers with
//! the fallback's 404 (`unknown_route`) or a 405, which is what these tests look for.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// Every route the gateway serves, as `(method, path)` in OpenAPI's path-template syntax.
///
/// Copied by hand from `routes/admin/mod.rs`, `routes/v1/mod.rs`, `routes/ops.rs` and
/// `routes/log.rs`: a route
/// added to a router must be added here and to `openapi.json`, or
/// `every_served_route_is_documented` fails. The demo upstream (`/demo-upstream/v1/…`, served
/// only by `portcullis demo`) stands in for a model and is not part of the API. Nor are the
/// public register's HTML pages (`routes/register/`, `/register/…`): they are for people, render
/// the same data as the documented JSON reads, and are tested in `register.rs`. Nor are the
/// portals' sign-in and pages (`routes/portal/`: `/login`, `/logout`, `/portal/…`, `/console/…`),
/// which submit the same commands as the documented writes and are tested in `portal.rs`.
const ROUTES: &[(&str, &str)] = &[
    // routes/admin/mod.rs
    ("get", "/admin/v1/openapi.json"),
    ("get", "/admin/v1/whoami"),
    ("post", "/admin/v1/customers"),
    ("get", "/admin/v1/customers"),
    ("get", "/admin/v1/customers/{customer}"),
    ("put", "/admin/v1/customers/{customer}/attributes"),
    ("post", "/admin/v1/customers/{customer}/keys"),
    ("get", "/admin/v1/customers/{customer}/keys"),
    ("post", "/admin/v1/keys/{key_id}/revoke"),
    ("put", "/admin/v1/customers/{customer}/limits"),
    ("put", "/admin/v1/keys/{key_id}/limits"),
    ("post", "/admin/v1/authorities"),
    ("get", "/admin/v1/authorities"),
    ("post", "/admin/v1/authorities/{authority}/officials"),
    ("post", "/admin/v1/models"),
    ("get", "/admin/v1/models"),
    ("get", "/admin/v1/models/{model}"),
    ("put", "/admin/v1/models/{model}/upstream"),
    ("post", "/admin/v1/models/{model}/stage"),
    ("post", "/admin/v1/models/{model}/criteria"),
    ("get", "/admin/v1/models/{model}/criteria"),
    ("put", "/admin/v1/models/{model}/procedure"),
    ("post", "/admin/v1/models/{model}/review"),
    ("post", "/admin/v1/applications"),
    ("get", "/admin/v1/applications"),
    ("get", "/admin/v1/applications/{application}"),
    ("post", "/admin/v1/applications/{application}/review"),
    ("post", "/admin/v1/applications/{application}/info-request"),
    ("post", "/admin/v1/applications/{application}/amend"),
    ("post", "/admin/v1/applications/{application}/signoffs"),
    ("post", "/admin/v1/applications/{application}/withdraw"),
    ("post", "/admin/v1/appeals"),
    ("get", "/admin/v1/appeals"),
    ("get", "/admin/v1/appeals/{appeal}"),
    ("post", "/admin/v1/appeals/{appeal}/decision"),
    ("get", "/admin/v1/notices"),
    ("get", "/admin/v1/queue"),
    ("post", "/admin/v1/grants"),
    ("post", "/admin/v1/grants/revoke"),
    ("post", "/admin/v1/directives"),
    ("get", "/admin/v1/directives"),
    ("post", "/admin/v1/directives/impact"),
    ("get", "/admin/v1/directives/impact"),
    ("get", "/admin/v1/directives/{directive}"),
    ("post", "/admin/v1/directives/{directive}/lift"),
    ("get", "/admin/v1/events"),
    ("get", "/admin/v1/events/{seq}"),
    ("get", "/admin/v1/events/{seq}/receipt"),
    ("get", "/admin/v1/log"),
    ("post", "/admin/v1/attesters"),
    ("get", "/admin/v1/attesters"),
    ("post", "/admin/v1/attesters/{attester}/keys"),
    ("post", "/admin/v1/attesters/{attester}/keys/{key_id}/revoke"),
    ("post", "/admin/v1/evidence"),
    ("get", "/admin/v1/evidence/{sha256}"),
    ("put", "/admin/v1/models/{model}/deployments"),
    ("put", "/admin/v1/models/{model}/fallbacks"),
    ("get", "/admin/v1/deployments"),
    ("post", "/admin/v1/accounts"),
    ("get", "/admin/v1/accounts"),
    ("post", "/admin/v1/accounts/{login}/disable"),
    ("post", "/admin/v1/accounts/{login}/password"),
    // routes/v1/mod.rs
    ("post", "/v1/chat/completions"),
    ("post", "/v1/completions"),
    ("post", "/v1/embeddings"),
    ("post", "/v1/responses"),
    ("post", "/v1/messages"),
    ("get", "/v1/models"),
    ("get", "/v1/models/{model}"),
    // routes/ops.rs
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    // routes/log.rs; the router's wildcard `{*path}` is a plain parameter in OpenAPI.
    ("get", "/log/checkpoint"),
    ("get", "/log/tile/{path}"),
];

/// The keys of a path item that are operations (the others are `parameters`, `summary`, …).
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

#[tokio::test]
async fn the_served_document_is_openapi_3_1() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/admin/v1/openapi.json")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let document: Value = response.json().await.expect("the document is not valid JSON");
    let version = document["openapi"].as_str().expect("no `openapi` version");
    assert!(version.starts_with("3.1."), "openapi `{version}` is not 3.1");
    assert!(document["info"]["title"].is_string(), "no info.title");
    assert!(document["info"]["version"].is_string(), "no info.version");
    assert!(!document["paths"].as_object().expect("no `paths` object").is_empty(), "no paths");
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let url = app.url(&with_placeholders(&path));
        let mut request =
            app.client.request(method.to_uppercase().parse().unwrap(), &url).bearer_auth(&app.provider_token);
        if matches!(method.as_str(), "post" | "put" | "patch") {
            request = request.json(&serde_json::json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            media_type(response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or(""));
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);

        if status == 405 || (status == 404 && body["error"]["code"] == "unknown_route") {
            problems.push(format!("{method} {path}: documented but not served ({status} {body})"));
            continue;
        }
        let Some(documented) = documented_response(&document, &operation, status) else {
            problems.push(format!("{method} {path}: answered {status}, which the document does not list ({body})"));
            continue;
        };
        let media_types: Vec<String> =
            documented["content"].as_object().map(|c| c.keys().map(|k| media_type(k)).collect()).unwrap_or_default();
        if !media_types.is_empty() && !media_types.contains(&content_type) {
            problems
                .push(format!("{method} {path}: answered {status} as `{content_type}`; documented: {media_types:?}"));
        }
        let error_shape_ok = if path == "/v1/messages" { is_anthropic_error_body(&body) } else { is_error_body(&body) };
        if status >= 400 && content_type == "application/json" && !error_shape_ok {
            problems.push(format!("{method} {path}: the {status} body is not an `Error`: {body}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn every_served_route_is_documented() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let documented: BTreeSet<(String, String)> =
        operations(&document).map(|(method, path, _)| (method, path)).collect();
    let served: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();

    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not in openapi.json: {missing:?}");
    // The other direction is what `every_documented_operation_is_served` proves against the
    // server; this keeps `ROUTES` itself complete, so the check above stays meaningful.
    let unlisted: Vec<_> = documented.difference(&served).collect();
    assert!(unlisted.is_empty(), "in openapi.json but not in this test's ROUTES: {unlisted:?}");
}

#[tokio::test]
async fn every_operation_is_complete_and_every_reference_resolves() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let mut problems = Vec::new();
    let mut operation_ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        match operation["operationId"].as_str() {
            Some(id) if operation_ids.insert(id.to_owned()) => {}
            Some(id) => problems.push(format!("{method} {path}: operationId `{id}` is used twice")),
            None => problems.push(format!("{method} {path}: no operationId")),
        }
        // The roles that may call an operation are part of its contract: state them every time,
        // `[]` for public routes, rather than inherit the document-wide default.
        if !operation["security"].is_array() {
            problems.push(format!("{method} {path}: no explicit `security`"));
        }
        if operation["responses"].as_object().is_none_or(serde_json::Map::is_empty) {
            problems.push(format!("{method} {path}: no responses"));
        }
    }
    check_references(&document, &document, "#", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn served_document(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/admin/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// Every `(method, path, operation)` of the document.
fn operations(document: &Value) -> impl Iterator<Item = (String, String, Value)> + '_ {
    document["paths"].as_object().expect("no `paths` object").iter().flat_map(|(path, item)| {
        METHODS.iter().filter_map(move |method| {
            item.get(*method).map(|operation| ((*method).to_owned(), path.clone(), operation.clone()))
        })
    })
}

/// `/admin/v1/models/{model}/stage` → `/admin/v1/models/x/stage`.
fn with_placeholders(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "x" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The response the operation documents for this status (exactly, as a range like `4XX`, or as
/// `default`), with a `$ref` to `#/components/responses/…` followed.
fn documented_response<'a>(document: &'a Value, operation: &'a Value, status: u16) -> Option<&'a Value> {
    let responses = operation["responses"].as_object()?;
    let response = [status.to_string(), format!("{}XX", status / 100), "default".to_owned()]
        .iter()
        .find_map(|key| responses.get(key))?;
    match response.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.strip_prefix('#')?),
        None => Some(response),
    }
}

/// `text/plain; charset=utf-8` → `text/plain`.
fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The shared `Error` shape: `{"error": {"message", "type", "code", "param"}}`.
/// Anthropic's error shape, which `/v1/messages` answers with.
fn is_anthropic_error_body(body: &Value) -> bool {
    body["type"] == "error" && body["error"]["type"].is_string() && body["error"]["message"].is_string()
}

fn is_error_body(body: &Value) -> bool {
    let error = &body["error"];
    error["message"].is_string()
        && error["type"].is_string()
        && error["code"].is_string()
        && error.as_object().is_some_and(|e| e.contains_key("param"))
}

/// Every local `$ref` (`#/components/…`) points at something in the document.
fn check_references(document: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let target = reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer));
                if target.is_none() {
                    problems.push(format!("{at}: `$ref` `{reference}` resolves to nothing"));
                }
            }
            for (key, item) in map {
                check_references(document, item, &format!("{at}/{key}"), problems);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_references(document, item, &format!("{at}/{index}"), problems);
            }
        }
        _ => {}
    }
}
