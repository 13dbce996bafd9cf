//! Rate limits and token budgets, per customer and per key: a 429 with `Retry-After` and an
//! OpenAI-style body at the configured count; token usage read from the upstream's answers,
//! streamed ones included; changes apply from the next request.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn limit(app: &TestApp, path: &str, body: Value) {
    let (status, answer) = app.admin(Method::PUT, path, &app.provider_token, Some(body)).await;
    assert_eq!(status, 200, "{path}: {answer}");
}

/// Status, `Retry-After`, error type and code of one chat request on `workhorse`.
async fn chat(app: &TestApp, key: &str, body: Value) -> (u16, Option<u64>, Value) {
    let response = app.client.post(app.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let text = response.text().await.unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry_after, json)
}

fn hello() -> Value {
    json!({ "model": "workhorse", "messages": [{ "role": "user", "content": "hi" }] })
}

#[tokio::test]
async fn requests_per_minute_per_customer_and_per_key() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    limit(&app, "/admin/v1/customers/acme/limits", json!({ "requests_per_minute": 2 })).await;
    assert_eq!(chat(&app, &story.acme_key, hello()).await.0, 200);
    assert_eq!(chat(&app, &story.acme_key, hello()).await.0, 200);
    let (status, retry_after, body) = chat(&app, &story.acme_key, hello()).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some_and(|s| (1..=30).contains(&s)), "{retry_after:?}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "requests");
    assert!(body["error"]["message"].as_str().unwrap().contains("customer `acme` is limited to 2 requests per minute"));
    assert_eq!(app.upstream.received().len(), 2, "a limited request never reaches the upstream");
    // Another customer is not affected.
    assert_eq!(chat(&app, &story.globex_key, hello()).await.0, 200);
    // A changed limit applies from the next request.
    limit(&app, "/admin/v1/customers/acme/limits", json!({ "requests_per_minute": 100 })).await;
    assert_eq!(chat(&app, &story.acme_key, hello()).await.0, 200);

    // A key's own limit applies besides its customer's; the customer's other key is unaffected.
    let second = app.provider_post("/admin/v1/customers/globex/keys", json!({ "label": "batch" })).await;
    let (second_key, second_id) = (second["key"].as_str().unwrap(), second["key_id"].as_str().unwrap());
    limit(&app, &format!("/admin/v1/keys/{second_id}/limits"), json!({ "requests_per_minute": 1 })).await;
    assert_eq!(chat(&app, second_key, hello()).await.0, 200);
    let (status, _, body) = chat(&app, second_key, hello()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&format!("key `{second_id}`")));
    assert_eq!(chat(&app, &story.globex_key, hello()).await.0, 200);
    let keys = app.admin(Method::GET, "/admin/v1/customers/globex/keys", &app.provider_token, None).await.1;
    let listed = keys["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == second_id).unwrap();
    assert_eq!(listed["limits"]["requests_per_minute"], 1);
}

#[tokio::test]
async fn token_budgets_count_reported_usage_streamed_or_not() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    // The mock reports 4 tokens per answer, and 5 in the usage chunk of a stream.
    limit(&app, "/admin/v1/customers/acme/limits", json!({ "tokens_per_day": 6 })).await;
    assert_eq!(chat(&app, &story.acme_key, hello()).await.0, 200);
    assert_eq!(chat(&app, &story.acme_key, hello()).await.0, 200, "4 of 6 used: still under budget");
    let (status, retry_after, body) = chat(&app, &story.acme_key, hello()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["type"], "tokens");
    assert!(body["error"]["message"].as_str().unwrap().contains("has used 8 of its 6 tokens"), "{body}");
    assert!(retry_after.is_some_and(|s| (1..=86_400).contains(&s)));

    limit(&app, "/admin/v1/customers/globex/limits", json!({ "tokens_per_day": 5 })).await;
    let streamed = json!({
        "model": "workhorse", "stream": true, "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "hi" }],
    });
    let (status, _, body) = chat(&app, &story.globex_key, streamed).await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().contains("\"total_tokens\":5"), "the usage chunk passes through: {body}");
    let (status, _, body) = chat(&app, &story.globex_key, hello()).await;
    assert_eq!((status, body["error"]["type"].as_str()), (429, Some("tokens")), "{body}");
}

#[tokio::test]
async fn limits_are_the_providers_and_must_be_sensible() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let cases = [
        (story.acme_key.as_str(), json!({ "requests_per_minute": 1000 }), 403, "may not set rate limits"),
        (story.official_token.as_str(), json!({ "requests_per_minute": 1000 }), 403, "may not set rate limits"),
        (app.provider_token.as_str(), json!({ "requests_per_minute": 0 }), 400, "at least 1"),
        (app.provider_token.as_str(), json!({ "requests_per_hour": 5 }), 400, "unknown field `requests_per_hour`"),
    ];
    for (token, body, status, fragment) in cases {
        let (got, answer) = app.admin(Method::PUT, "/admin/v1/customers/acme/limits", token, Some(body)).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(fragment), "{answer}");
    }
    let (status, answer) =
        app.admin(Method::PUT, "/admin/v1/keys/key_nope/limits", &app.provider_token, Some(json!({}))).await;
    assert_eq!((status, answer["error"]["message"].as_str()), (404, Some("no key `key_nope`")));
    let (status, _) = app.admin(Method::PUT, "/admin/v1/keys/key_nope/limits", &story.acme_key, Some(json!({}))).await;
    assert_eq!(status, 403, "a customer does not learn whether a key id exists");
}
