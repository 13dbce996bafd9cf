//! The admin API: role checks, validation, and "nothing changes" on every refusal.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CRITERIA, spawn_app};

async fn event_count(app: &crate::helpers::TestApp) -> u64 {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    ready["snapshot_seq"].as_u64().unwrap()
}

#[tokio::test]
async fn refusals_are_clear_and_change_nothing() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let before = event_count(&app).await;
    let provider = app.provider_token.clone();
    let official = story.official_token.clone();
    let customer = story.acme_key.clone();
    let directive = json!({
        "id": "EC-2", "legal_basis": "x", "description": "x", "models": ["frontier"],
        "policies": "forbid (principal, action, resource);",
        "evidence": { "description": "assessment", "disclosure": "withheld", "reason": "x" },
    });
    let cases: Vec<(Method, &str, &str, Option<Value>, u16, &str, &str)> = vec![
        (
            Method::POST,
            "/admin/v1/customers",
            "",
            Some(json!({ "id": "x", "name": "x" })),
            401,
            "invalid_api_key",
            "must be `Bearer <key>`",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            "wrong",
            Some(json!({ "id": "x", "name": "x" })),
            401,
            "invalid_api_key",
            "invalid or revoked credential",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &customer,
            Some(json!({ "id": "x", "name": "x" })),
            403,
            "role_not_permitted",
            "customer acme may not create customers",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &official,
            Some(json!({ "id": "x", "name": "x" })),
            403,
            "role_not_permitted",
            "authority bis (j.doe) may not create customers",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "id": "acme", "name": "x" })),
            409,
            "conflict",
            "customer `acme` already exists",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "id": "bad id", "name": "x" })),
            400,
            "invalid_value",
            "customer id `bad id` contains ` `",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "id": "y", "name": "y", "attributes": { "kyc": true } })),
            400,
            "invalid_request",
            "invalid attributes: in attribute `kyc`",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "id": "y", "name": "y", "attributes": { "planet": "mars" } })),
            400,
            "invalid_request",
            "planet",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "name": "y" })),
            400,
            "invalid_request",
            "missing field `id`",
        ),
        (
            Method::POST,
            "/admin/v1/customers",
            &provider,
            Some(json!({ "id": "y", "name": "y", "colour": "red" })),
            400,
            "invalid_request",
            "unknown field `colour`",
        ),
        (
            Method::POST,
            "/admin/v1/directives",
            &provider,
            Some(directive.clone()),
            403,
            "role_not_permitted",
            "provider (ops) may not issue directives",
        ),
        (
            Method::POST,
            "/admin/v1/directives",
            &official,
            Some(directive.clone()),
            400,
            "invalid_request",
            "needs an emergency_justification",
        ),
        (
            Method::POST,
            "/admin/v1/grants",
            &provider,
            Some(json!({ "customer": "globex", "model": "frontier", "reason": "x" })),
            403,
            "role_not_permitted",
            "provider (ops) may not grant access",
        ),
        (
            Method::POST,
            "/admin/v1/grants",
            &official,
            Some(json!({ "customer": "nobody", "model": "frontier", "reason": "x" })),
            404,
            "not_found",
            "no customer `nobody`",
        ),
        (
            Method::POST,
            "/admin/v1/grants",
            &official,
            Some(json!({ "customer": "globex", "model": "frontier", "reason": " " })),
            400,
            "invalid_request",
            "reason is required",
        ),
        (
            Method::POST,
            "/admin/v1/grants",
            &official,
            Some(json!({ "customer": "globex", "model": "frontier", "reason": "x", "expires_at": "next week" })),
            400,
            "invalid_value",
            "expires_at: `next week` is not an RFC 3339 date-time",
        ),
        (
            Method::POST,
            "/admin/v1/models/frontier/stage",
            &provider,
            Some(json!({ "to": "review", "reason": "x" })),
            409,
            "conflict",
            "a model in `preview` cannot move to `review`",
        ),
        (
            Method::POST,
            "/admin/v1/models/frontier/stage",
            &provider,
            Some(json!({ "to": "launched", "reason": "x" })),
            400,
            "invalid_value",
            "`launched` is not a stage target",
        ),
        (
            Method::POST,
            "/admin/v1/models/ghost/stage",
            &provider,
            Some(json!({ "to": "review", "reason": "x" })),
            404,
            "not_found",
            "no model `ghost`",
        ),
        (
            Method::POST,
            "/admin/v1/models",
            &provider,
            Some(json!({ "name": "m2", "upstream": { "base_url": "ftp://x" } })),
            400,
            "invalid_request",
            "must be an http:// or https:// URL",
        ),
        (
            Method::POST,
            "/admin/v1/directives/EC-1/lift",
            &customer,
            Some(json!({ "reason": "x" })),
            403,
            "role_not_permitted",
            "customer acme may not lift directives",
        ),
        (
            Method::GET,
            "/admin/v1/customers/globex",
            &customer,
            None,
            403,
            "role_not_permitted",
            "may only see its own account",
        ),
        (Method::GET, "/admin/v1/events", &customer, None, 403, "role_not_permitted", "may not read the event feed"),
    ];
    for (method, path, token, body, status, code, message) in cases {
        let (got_status, got) = app.admin(method.clone(), path, token, body).await;
        assert_eq!(got_status, status, "{method} {path}: {got}");
        assert_eq!(got["error"]["code"], code, "{method} {path}: {got}");
        let text = got["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{method} {path}: `{message}` not in `{text}`");
    }
    assert_eq!(event_count(&app).await, before, "a refused command must not change anything");
}

#[tokio::test]
async fn invalid_cedar_is_rejected_with_line_and_column() {
    let app = spawn_app().await;
    app.seed_story().await;
    let before = event_count(&app).await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/models/workhorse/criteria",
            &app.provider_token,
            Some(
                json!({ "text": "t", "policies": "permit (principal, action, resource)\nwhen { principal.kyc == };" }),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_policy");
    assert_eq!(body["error"]["diagnostics"][0]["line"], 2);
    assert!(body["error"]["diagnostics"][0]["column"].as_u64().unwrap() > 1);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("invalid policy: line 2, column"));

    // An unguarded optional attribute validates nowhere: the author must write `has`.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/models/workhorse/criteria",
            &app.provider_token,
            Some(json!({ "text": "t", "policies": "permit (principal, action, resource)\nwhen { principal.kyc == \"verified\" };" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["diagnostics"][0]["line"], 2, "{body}");
    assert_eq!(event_count(&app).await, before);

    // A valid version gets the next number and its content hash.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/models/workhorse/criteria",
            &app.provider_token,
            Some(json!({ "text": "v2", "policies": CRITERIA })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(body["clauses"][0]["id"], "kyc-verified");
    assert_eq!(body["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn keys_are_shown_once_and_events_carry_no_secrets() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    // A customer may issue its own key, not someone else's.
    let (status, issued) =
        app.admin(Method::POST, "/admin/v1/customers/acme/keys", &story.acme_key, Some(json!({ "label": "ci" }))).await;
    assert_eq!(status, 201, "{issued}");
    let new_key = issued["key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("pcl_"));
    let (status, _) = app.admin(Method::POST, "/admin/v1/customers/globex/keys", &story.acme_key, None).await;
    assert_eq!(status, 403);
    assert_eq!(app.chat(&new_key, "workhorse", None, "hi").await.0, 200);
    // Listing shows ids and labels, never keys.
    let (_, keys) = app.admin(Method::GET, "/admin/v1/customers/acme/keys", &story.acme_key, None).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(!keys.to_string().contains("pcl_"));
    // The event feed holds no key, token, or hash of one.
    let (status, events) = app.admin(Method::GET, "/admin/v1/events?limit=1000", &app.provider_token, None).await;
    assert_eq!(status, 200);
    let text = events.to_string();
    assert!(text.contains("key_issued"));
    assert!(
        !text.contains("pcl_") && !text.contains("pct_") && !text.contains("key_hash") && !text.contains("token_hash")
    );
    // In the database, keys are stored only as hashes.
    let stored = app.stored_bytes();
    assert!(!stored.is_empty(), "nothing was read from the database");
    assert!(!stored.windows(new_key.len()).any(|w| w == new_key.as_bytes()), "a plain key is stored");
}

/// `curl -d '{…}'` sends `Content-Type: application/x-www-form-urlencoded`; the admin API reads
/// the body as JSON anyway, as the README's examples rely on.
#[tokio::test]
async fn admin_bodies_are_json_whatever_the_content_type() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/admin/v1/authorities"))
        .bearer_auth(&app.provider_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"id":"bis","name":"Bureau"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, body) = app.admin(Method::GET, "/admin/v1/authorities", "", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["authorities"][0]["id"], "bis");
}
