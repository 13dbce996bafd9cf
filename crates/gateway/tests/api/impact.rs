//! `POST /admin/v1/directives/impact`: real requests go through the gate, then an authority
//! asks what a directive would cut (issue #4).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{DIRECTIVE, TestApp, attestation, spawn_app};

const PATH: &str = "/admin/v1/directives/impact";

async fn snapshot_seq(app: &TestApp) -> u64 {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    ready["snapshot_seq"].as_u64().unwrap()
}

/// Asks for an impact as `token`; asserts that no event was written.
async fn ask(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let before = snapshot_seq(app).await;
    let answer = app.admin(Method::POST, PATH, token, Some(body)).await;
    assert_eq!(snapshot_seq(app).await, before, "asking for an impact wrote an event");
    answer
}

/// `(customers, grants, seen, would_deny)` of an answer.
fn counts(body: &Value) -> (u64, u64, u64, u64) {
    (
        body["customers_affected"].as_u64().unwrap(),
        body["grants_affected"].as_u64().unwrap(),
        body["requests"]["seen"].as_u64().unwrap(),
        body["requests"]["would_deny"].as_u64().unwrap(),
    )
}

fn model<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["by_model"].as_array().unwrap().iter().find(|m| m["model"] == name).unwrap()
}

#[tokio::test]
async fn impact_counts_customers_grants_and_recent_requests() {
    let mut app = spawn_app().await;
    let story = app.seed_story().await;
    let us = attestation(&["US"], None);
    let fr = attestation(&["FR"], None);
    // (key, model, attestation, times, expected status); EC-1 cuts non-US end users on frontier.
    let traffic = [
        (&story.acme_key, "frontier", Some(&us), 2, 200),
        (&story.acme_key, "frontier", Some(&fr), 1, 403),
        (&story.acme_key, "frontier", None, 1, 403),
        (&story.globex_key, "frontier", Some(&us), 1, 403),
        (&story.acme_key, "workhorse", Some(&fr), 1, 200),
        (&story.acme_key, "workhorse", Some(&us), 1, 200),
        (&story.globex_key, "workhorse", Some(&fr), 2, 200),
        (&story.globex_key, "workhorse", None, 3, 200),
    ];
    for (key, model, token, times, status) in traffic {
        for _ in 0..times {
            let (got, body) = app.chat(key, model, token.map(String::as_str), "hi").await;
            assert_eq!(got, status, "{model}: {body}");
        }
    }
    let official = story.official_token.clone();

    // Non-US end users cut on workhorse: both customers send unattested or French traffic there.
    let (status, body) = ask(&app, &official, json!({ "models": ["workhorse"], "policies": DIRECTIVE })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), (2, 0, 7, 6), "{body}");
    assert_eq!(body["examples"], json!(["acme", "globex"]));
    assert_eq!(body["models"], json!(["workhorse"]));
    assert_eq!(body["requests"]["window_seconds"], 86_400);
    assert_eq!(body["requests"]["not_evaluated"], 0);

    // The same order on frontier repeats EC-1, which already cuts those requests: nothing more.
    let (status, body) = ask(&app, &official, json!({ "models": ["frontier"], "policies": DIRECTIVE })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), (0, 0, 5, 0), "{body}");

    // Once EC-1 is lifted, it would cut acme on frontier again (its granted model), plus workhorse.
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/directives/EC-1/lift", &official, Some(json!({ "reason": "rescinded" })))
        .await;
    assert_eq!(status, 200);
    let (status, body) = ask(&app, &app.provider_token, json!({ "policies": DIRECTIVE })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), (2, 1, 12, 8), "{body}");
    assert_eq!(body["models"], json!(["*"]));
    let frontier = model(&body, "frontier");
    assert_eq!((frontier["customers_affected"].as_u64(), frontier["grants_affected"].as_u64()), (Some(1), Some(1)));
    assert_eq!(frontier["requests"], json!({ "seen": 5, "would_deny": 2, "not_evaluated": 0 }));
    assert_eq!(model(&body, "workhorse")["requests"], json!({ "seen": 7, "would_deny": 6, "not_evaluated": 0 }));

    // Counters are in memory: a restarted replica has seen nothing, yet the customers and grants
    // an unattested request would lose are still counted.
    app.restart().await;
    let (status, body) = ask(&app, &official, json!({ "models": ["*"], "policies": DIRECTIVE })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), (2, 1, 0, 0), "{body}");
}

#[tokio::test]
async fn impact_refuses_customers_bad_policies_and_unknown_models() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let official = story.official_token.clone();
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            &story.acme_key,
            json!({ "policies": DIRECTIVE }),
            403,
            "role_not_permitted",
            "customer acme may not ask for a directive's impact",
        ),
        ("wrong", json!({ "policies": DIRECTIVE }), 401, "invalid_api_key", "invalid or revoked credential"),
        (
            &official,
            json!({ "models": ["frontier"], "policies": "forbid (principal, action, resource)\nwhen { principal.kyc == };" }),
            400,
            "invalid_policy",
            "line 2",
        ),
        (
            &official,
            json!({ "policies": "permit (principal, action, resource);" }),
            400,
            "invalid_policy",
            "a directive may only contain `forbid` policies",
        ),
        (&official, json!({ "models": ["nope"], "policies": DIRECTIVE }), 404, "not_found", "no model `nope`"),
        (&official, json!({ "models": [], "policies": DIRECTIVE }), 400, "invalid_value", "scope names no models"),
        (&official, json!({ "models": ["frontier"] }), 400, "invalid_request", "missing field `policies`"),
    ];
    for (token, body, status, code, message) in cases {
        let (got, answer) = ask(&app, token, body.clone()).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{body} → {answer}");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "expected `{message}` in `{text}`");
    }
    let (_, answer) =
        ask(&app, &official, json!({ "policies": "forbid (principal, action, resource)\nwhen { principal.kyc == };" }))
            .await;
    let diagnostic = &answer["error"]["diagnostics"][0];
    assert_eq!(diagnostic["line"], 2, "{answer}");
    assert!(diagnostic["column"].as_u64().is_some_and(|c| c > 1), "{answer}");
}

/// The impact route's path is also a directive's: a directive whose id is `impact` stays readable.
#[tokio::test]
async fn a_directive_named_impact_can_still_be_read() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let (status, _) = app.admin(Method::GET, PATH, "", None).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/directives",
            &story.official_token,
            Some(json!({
                "id": "impact",
                "legal_basis": "x",
                "description": "x",
                "models": ["workhorse"],
                "policies": DIRECTIVE,
                "emergency_justification": "x",
                "evidence": { "description": "x", "disclosure": "withheld", "reason": "x" },
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.admin(Method::GET, PATH, "", None).await;
    assert_eq!((status, body["id"].as_str()), (200, Some("impact")), "{body}");
}
