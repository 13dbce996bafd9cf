//! The brief's story, end to end.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{attestation, spawn_app};

#[tokio::test]
async fn the_story() {
    let mut app = spawn_app().await;
    let story = app.seed_story().await;
    let us = attestation(&["US"], None);
    let fr = attestation(&["FR"], None);

    // The granted customer with a US-attested end user gets through, to the model's upstream.
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "mock reply to hello");
    let received = app.upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "frontier");
    assert_eq!(received[0].authorization, None, "the customer's key must not reach the upstream");

    // The other customer is denied for want of a grant.
    let (status, body) = app.chat(&story.globex_key, "frontier", Some(&us), "hello").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "grant_required");
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("holds no grant"), "{body}");

    // A non-US or unattested end user is cut, naming the directive and where to appeal.
    for token in [Some(fr.as_str()), None, Some("not-a-token")] {
        let (status, body) = app.chat(&story.acme_key, "frontier", token, "hello").await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "directive_in_force");
        let details = &body["error"]["portcullis"];
        assert_eq!(details["decided_by"]["directive_id"], "EC-1");
        assert_eq!(details["decided_by"]["issuer"], "bis");
        assert_eq!(details["decided_by"]["clauses"], json!(["us-nationals-only"]));
        assert_eq!(details["criteria"]["version"], 1);
        assert!(details["appeal"]["url"].as_str().unwrap().ends_with("/admin/v1/directives/EC-1"));
        assert!(body["error"]["message"].as_str().unwrap().contains("EC-1"));
    }
    assert_eq!(app.upstream.received().len(), 1, "denied requests never reach the upstream");

    // The directive names only frontier: workhorse serves everyone, attested or not.
    let (status, _) = app.chat(&story.globex_key, "workhorse", Some(&fr), "hello").await;
    assert_eq!(status, 200);

    // /v1/models differs per customer (and per end user).
    assert_eq!(app.listed_models(&story.acme_key, Some(&us)).await, ["frontier", "workhorse"]);
    assert_eq!(app.listed_models(&story.acme_key, Some(&fr)).await, ["workhorse"]);
    assert_eq!(app.listed_models(&story.globex_key, Some(&us)).await, ["workhorse"]);

    // Lifting the directive restores access on the very next request.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/directives/EC-1/lift",
            &story.official_token,
            Some(json!({ "reason": "rescinded" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "lifted");
    let (status, _) = app.chat(&story.acme_key, "frontier", Some(&fr), "hello").await;
    assert_eq!(status, 200);

    // A restart keeps everything: keys, grants, the lifted directive.
    app.restart().await;
    let (status, _) = app.chat(&story.acme_key, "frontier", None, "hello").await;
    assert_eq!(status, 200);
    let (status, body) = app.chat(&story.globex_key, "frontier", None, "hello").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("grant_required")));
    let (_, directive) = app.admin(Method::GET, "/admin/v1/directives/EC-1", &story.official_token, None).await;
    assert_eq!(directive["status"], "lifted");
}

/// Revoking a key, revoking a grant, suspending a model: each takes effect on the next request.
#[tokio::test]
async fn changes_take_effect_on_the_next_request() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let us = attestation(&["US"], None);
    assert_eq!(app.chat(&story.acme_key, "frontier", Some(&us), "hi").await.0, 200);

    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/grants/revoke",
            &story.official_token,
            // Immediate effect needs a directive that requires it; otherwise the notice period applies.
            Some(json!({ "customer": "acme", "model": "frontier", "reason": "breach of terms", "directive": "EC-1" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hi").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("grant_revoked")));

    app.provider_post("/admin/v1/models/workhorse/stage", json!({ "to": "suspended", "reason": "incident" })).await;
    let (status, body) = app.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("model_not_available_in_stage")));
    assert_eq!(body["error"]["portcullis"]["stage"], "suspended");
    app.provider_post("/admin/v1/models/workhorse/stage", json!({ "to": "resume", "reason": "fixed" })).await;
    assert_eq!(app.chat(&story.acme_key, "workhorse", None, "hi").await.0, 200);

    let keys = app.admin(Method::GET, "/admin/v1/customers/acme/keys", &app.provider_token, None).await.1;
    let key_id = keys["keys"][0]["key_id"].as_str().unwrap().to_owned();
    app.provider_post(&format!("/admin/v1/keys/{key_id}/revoke"), json!({ "reason": "rotated" })).await;
    let (status, body) = app.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
}

/// A token bound to one customer (`aud`) is worth nothing to another.
#[tokio::test]
async fn attestation_audience_is_enforced() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/grants",
            &story.official_token,
            Some(json!({ "customer": "globex", "model": "frontier", "reason": "approved" })),
        )
        .await;
    assert_eq!(status, 201);
    let for_acme = attestation(&["US"], Some("acme"));
    assert_eq!(app.chat(&story.acme_key, "frontier", Some(&for_acme), "hi").await.0, 200);
    let (status, body) = app.chat(&story.globex_key, "frontier", Some(&for_acme), "hi").await;
    assert_eq!(status, 403);
    assert!(body["error"]["message"].as_str().unwrap().contains("wrong_audience"), "{body}");
}
