//! Several deployments per model and fallback chains, against mock upstreams on real sockets.
//!
//! Issue #8: <https://github.com/portcullis/portcullis/issues/8> (first part).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Story, TestApp, attestation, spawn_app_with};
use crate::mock_upstream::{MockUpstream, Mode};

/// A chat completion; returns status, the `x-portcullis-*` headers that say what served, and
/// the body.
async fn chat(app: &TestApp, key: &str, model: &str, us: bool) -> (u16, Served, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] }));
    if us {
        request = request.header("Portcullis-Attestation", attestation(&["US"], None));
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let served = Served {
        model: header("x-portcullis-model"),
        deployment: header("x-portcullis-deployment"),
        reason: header("x-portcullis-fallback-reason"),
        requested: header("x-portcullis-requested-model"),
    };
    let status = response.status().as_u16();
    (status, served, response.json().await.unwrap_or(Value::Null))
}

#[derive(Debug, PartialEq, Eq)]
struct Served {
    model: Option<String>,
    deployment: Option<String>,
    reason: Option<String>,
    requested: Option<String>,
}

fn served(model: &str, deployment: &str, reason: Option<&str>, requested: Option<&str>) -> Served {
    Served {
        model: Some(model.to_owned()),
        deployment: Some(deployment.to_owned()),
        reason: reason.map(str::to_owned),
        requested: requested.map(str::to_owned),
    }
}

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.admin(Method::PUT, path, &app.provider_token, Some(body)).await
}

pub(crate) async fn set_deployments(app: &TestApp, model: &str, deployments: &[(&str, &MockUpstream)]) {
    let deployments: Vec<Value> =
        deployments.iter().map(|(name, mock)| json!({ "name": name, "base_url": mock.base_url })).collect();
    let (status, body) =
        put(app, &format!("/admin/v1/models/{model}/deployments"), json!({ "deployments": deployments })).await;
    assert_eq!(status, 200, "{body}");
}

async fn set_fallbacks(app: &TestApp, model: &str, fallbacks: &[&str]) {
    let (status, body) =
        put(app, &format!("/admin/v1/models/{model}/fallbacks"), json!({ "fallbacks": fallbacks })).await;
    assert_eq!(status, 200, "{body}");
}

async fn deployment_state(app: &TestApp, model: &str, deployment: &str) -> Value {
    let (status, body) = app.admin(Method::GET, "/admin/v1/deployments", &app.provider_token, None).await;
    assert_eq!(status, 200, "{body}");
    let model = body["models"].as_array().unwrap().iter().find(|m| m["model"] == model).unwrap().clone();
    model["deployments"].as_array().unwrap().iter().find(|d| d["name"] == deployment).unwrap().clone()
}

async fn metrics(app: &TestApp) -> String {
    app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

pub(crate) async fn setup(adjust: impl FnOnce(&mut portcullis_gateway::config::Settings)) -> (TestApp, Story) {
    let app = spawn_app_with(adjust).await;
    let story = app.seed_story().await;
    (app, story)
}

/// Many concurrent non-streaming requests; one of two deployments is killed mid-run, and none
/// of them fails.
#[tokio::test]
async fn two_deployments_one_killed_mid_run_no_request_fails() {
    let (app, story) = setup(|_| {}).await;
    let (a, b) = (MockUpstream::start_killable().await, MockUpstream::start().await);
    set_deployments(&app, "workhorse", &[("a", &a), ("b", &b)]).await;
    let (status, headers, _) = chat(&app, &story.acme_key, "workhorse", false).await;
    assert_eq!((status, headers), (200, served("workhorse", "a", None, None)));

    let app = std::sync::Arc::new(app);
    let mut requests = Vec::new();
    for i in 0..60 {
        let (app, key) = (app.clone(), story.acme_key.clone());
        requests.push(tokio::spawn(async move {
            // Spread over the kill.
            tokio::time::sleep(Duration::from_millis(i % 20)).await;
            chat(&app, &key, "workhorse", false).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(8)).await;
    a.kill();
    for request in requests {
        let (status, _, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // From now on b serves, and says why.
    let (status, headers, _) = chat(&app, &story.acme_key, "workhorse", false).await;
    assert_eq!(status, 200);
    assert_eq!(headers.deployment.as_deref(), Some("b"));
    assert!(matches!(headers.reason.as_deref(), Some("upstream_unreachable" | "ejected")), "{headers:?}");
    assert!(b.count() > 0);
    let a_state = deployment_state(&app, "workhorse", "a").await;
    assert_eq!(a_state["state"], "ejected", "{a_state}");
    assert!(
        metrics(&app)
            .await
            .contains(r#"portcullis_failovers_total{model="workhorse",from="workhorse/a",to="workhorse/b""#)
    );
}

/// Three mocks: both hosted deployments of `frontier` die, and its fallback serves.
#[tokio::test]
async fn three_mocks_fall_back_to_the_self_hosted_model() {
    let (app, story) = setup(|_| {}).await;
    let (a, b, own) =
        (MockUpstream::start_killable().await, MockUpstream::start_killable().await, MockUpstream::start().await);
    set_deployments(&app, "frontier", &[("hosted-a", &a), ("hosted-b", &b)]).await;
    set_deployments(&app, "workhorse", &[("self-hosted", &own)]).await;
    set_fallbacks(&app, "frontier", &["workhorse"]).await;

    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!((status, headers), (200, served("frontier", "hosted-a", None, None)));
    a.kill();
    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!(
        (status, headers),
        (200, served("frontier", "hosted-b", Some("upstream_unreachable"), Some("frontier")))
    );
    b.kill();
    for _ in 0..5 {
        let (status, headers, body) = chat(&app, &story.acme_key, "frontier", true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers.model.as_deref(), Some("workhorse"));
        assert_eq!(headers.deployment.as_deref(), Some("self-hosted"));
        assert_eq!(headers.requested.as_deref(), Some("frontier"));
        // The self-hosted upstream is asked for its own model, not the hosted one's name.
        assert_eq!(body["model"], "workhorse");
    }
    assert!(own.received().iter().all(|r| r.body["model"] == "workhorse"));
    // The public register names deployments and the chain, never where they point.
    let (_, model) = app.admin(Method::GET, "/admin/v1/models/frontier", "", None).await;
    assert_eq!(model["deployments"], json!(["hosted-a", "hosted-b"]));
    assert_eq!(model["fallbacks"], json!(["workhorse"]));
    assert!(!model.to_string().contains(&a.base_url));
}

/// A hosted model that starts answering 403 "access revoked" is cut off: the following requests
/// go straight to the self-hosted fallback without retrying the refusal, and after the cut-off
/// period the hosted model is tried again and recovers.
#[tokio::test]
async fn a_revoked_hosted_model_is_cut_off_and_recovers() {
    let (app, story) = setup(|s| s.failover.cut_off_secs = 120).await;
    let (hosted, own) = (MockUpstream::start().await, MockUpstream::start().await);
    set_deployments(&app, "frontier", &[("hosted", &hosted)]).await;
    set_deployments(&app, "workhorse", &[("self-hosted", &own)]).await;
    set_fallbacks(&app, "frontier", &["workhorse"]).await;
    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!((status, headers), (200, served("frontier", "hosted", None, None)));

    hosted.set_mode(Mode::Revoked);
    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!((status, headers), (200, served("workhorse", "self-hosted", Some("access_revoked"), Some("frontier"))));
    let refused = hosted.count();
    for _ in 0..5 {
        let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
        assert_eq!((status, headers), (200, served("workhorse", "self-hosted", Some("cut_off"), Some("frontier"))));
    }
    assert_eq!(hosted.count(), refused, "a cut-off deployment is not asked again during its period");
    let state = deployment_state(&app, "frontier", "hosted").await;
    assert_eq!(state["state"], "cut_off", "{state}");
    assert_eq!(state["last_status"], 403);
    assert_eq!(state["last_error"], "access_revoked");
    let text = metrics(&app).await;
    assert!(text.contains("portcullis_cut_off_deployments 1"), "{text}");
    assert!(text.contains(
        r#"portcullis_failovers_total{model="frontier",from="frontier/hosted",to="workhorse/self-hosted",reason="access_revoked"} 1"#
    ));
    assert!(text.contains(
        r#"portcullis_failovers_total{model="frontier",from="frontier/hosted",to="workhorse/self-hosted",reason="cut_off"} 5"#
    ));

    // Access comes back; the gateway notices only after the period, with one trial request.
    hosted.set_mode(Mode::Normal);
    let (_, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!(headers.reason.as_deref(), Some("cut_off"));
    app.clock.advance_secs(121);
    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!((status, headers), (200, served("frontier", "hosted", None, None)));
    assert_eq!(hosted.count(), refused + 1);
    let state = deployment_state(&app, "frontier", "hosted").await;
    assert_eq!(state["state"], "healthy", "{state}");
    assert!(metrics(&app).await.contains("portcullis_cut_off_deployments 0"));

    // Still refusing after the period: one trial, then cut off again.
    hosted.set_mode(Mode::Revoked);
    chat(&app, &story.acme_key, "frontier", true).await;
    app.clock.advance_secs(121);
    let before = hosted.count();
    let (status, headers, _) = chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!((status, headers.reason.as_deref()), (200, Some("access_revoked")));
    chat(&app, &story.acme_key, "frontier", true).await;
    assert_eq!(hosted.count(), before + 1);
}

/// Once a stream has started, a broken upstream ends it with an SSE error event; no switch to
/// the next deployment mid-answer.
#[tokio::test]
async fn a_stream_broken_mid_way_ends_with_an_error_event() {
    let (app, story) = setup(|_| {}).await;
    let (a, b) = (MockUpstream::start().await, MockUpstream::start().await);
    set_deployments(&app, "workhorse", &[("a", &a), ("b", &b)]).await;
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&story.acme_key)
        .json(&json!({ "model": "workhorse", "stream": true, "messages": [{ "role": "user", "content": "break" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-portcullis-deployment"], "a");
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("one "));
    a.release_chunk();
    let mut rest = String::new();
    while let Some(chunk) = stream.next().await {
        rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(rest.contains("upstream_stream_interrupted"), "{rest}");
    assert!(b.received().is_empty(), "no silent switch mid-answer");
}

/// A failover never widens access: a customer without a grant for the fallback model is
/// refused, not served by it.
#[tokio::test]
async fn a_customer_without_a_grant_for_the_fallback_is_refused() {
    let (app, story) = setup(|_| {}).await;
    let (hosted, own) = (MockUpstream::start().await, MockUpstream::start().await);
    // `workhorse` (general) falls back to `frontier` (preview: acme holds a grant, globex not).
    set_deployments(&app, "workhorse", &[("hosted", &hosted)]).await;
    set_deployments(&app, "frontier", &[("own", &own)]).await;
    set_fallbacks(&app, "workhorse", &["frontier"]).await;
    hosted.set_mode(Mode::Failing);

    let (status, headers, body) = chat(&app, &story.globex_key, "workhorse", true).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "grant_required");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("model `workhorse` could not serve this request (upstream_5xx)"), "{message}");
    assert!(message.contains("`frontier`"), "{message}");
    assert_eq!(body["error"]["portcullis"]["fallback_of"], json!({ "model": "workhorse", "reason": "upstream_5xx" }));
    assert_eq!(headers.model, None);
    assert!(own.received().is_empty(), "the fallback never saw globex's request");

    // acme holds the grant (and the directive on frontier admits a US end user): served.
    let (status, headers, _) = chat(&app, &story.acme_key, "workhorse", true).await;
    assert_eq!((status, headers), (200, served("frontier", "own", Some("upstream_5xx"), Some("workhorse"))));
    // ... but not a non-US end user: directive EC-1 applies to the fallback too.
    let (status, _, body) = chat(&app, &story.acme_key, "workhorse", false).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(own.count(), 1);
}

/// A single deployment with nowhere to fail over to keeps being tried (health only steers when
/// there is an alternative), and its error reaches the client unchanged.
#[tokio::test]
async fn a_lone_deployment_is_never_skipped() {
    let (app, story) = setup(|_| {}).await;
    app.upstream.set_mode(Mode::Failing);
    for _ in 0..5 {
        let (status, headers, body) = chat(&app, &story.acme_key, "workhorse", false).await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "mock failure");
        assert_eq!(headers, served("workhorse", "default", None, None));
    }
    assert_eq!(app.upstream.count(), 5);
    app.upstream.set_mode(Mode::Normal);
    let (status, _, _) = chat(&app, &story.acme_key, "workhorse", false).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deployments_and_fallbacks_are_validated() {
    let (app, story) = setup(|_| {}).await;
    let deployment = |name: &str, url: &str| json!({ "name": name, "base_url": url });
    let path = "/admin/v1/models/workhorse/deployments";
    for (body, expect) in [
        (json!({ "deployments": [] }), "at least one deployment"),
        (json!({ "deployments": [deployment("a", "ftp://x.example/v1")] }), "http:// or https://"),
        (
            json!({ "deployments": [deployment("a", "http://x.example/v1"), deployment("a", "http://y.example/v1")] }),
            "`a` is used twice",
        ),
        (json!({ "deployments": [deployment("a b", "http://x.example/v1")] }), "deployment name `a b`"),
    ] {
        let (status, response) = put(&app, path, body).await;
        assert_eq!(status, 400, "{response}");
        assert!(response["error"]["message"].as_str().unwrap().contains(expect), "{response}");
    }
    let (status, _) = put(&app, "/admin/v1/models/workhorse/fallbacks", json!({ "fallbacks": ["workhorse"] })).await;
    assert_eq!(status, 400);
    let (status, _) = put(&app, "/admin/v1/models/workhorse/fallbacks", json!({ "fallbacks": ["nope"] })).await;
    assert_eq!(status, 404);
    set_fallbacks(&app, "workhorse", &["frontier"]).await;
    let (status, response) =
        put(&app, "/admin/v1/models/frontier/fallbacks", json!({ "fallbacks": ["workhorse"] })).await;
    assert_eq!(status, 400);
    assert!(response["error"]["message"].as_str().unwrap().contains("cycle"), "{response}");
    // Only the provider sets them; customers do not see them.
    let (status, _) = app
        .admin(
            Method::PUT,
            "/admin/v1/models/workhorse/fallbacks",
            &story.official_token,
            Some(json!({ "fallbacks": [] })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.admin(Method::GET, "/admin/v1/deployments", &story.acme_key, None).await;
    assert_eq!(status, 403);
    let (status, _) = app.admin(Method::GET, "/admin/v1/deployments", &story.official_token, None).await;
    assert_eq!(status, 200);
    // A single upstream is still one deployment, and replaces a list.
    let (status, _) =
        put(&app, "/admin/v1/models/workhorse/upstream", json!({ "base_url": app.upstream.base_url })).await;
    assert_eq!(status, 200);
    let (_, model) = app.admin(Method::GET, "/admin/v1/models/workhorse", "", None).await;
    assert_eq!(model["deployments"], json!(["default"]));
}
