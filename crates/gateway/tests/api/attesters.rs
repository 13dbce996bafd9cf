//! Trusted attesters managed through the admin API (issue #4): a key registered here is trusted
//! on the request path, a revoked key's tokens are `untrusted` from the next request on, and only
//! the provider may change any of it.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{AttestationClaims, sign};
use portcullis_core::{AttesterId, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ATTESTER, TestApp, attestation, spawn_app};

/// A key of an attester registered through the API, not the one the test settings configure.
fn api_key() -> SigningKey {
    SigningKey::from_bytes(&[77; 32])
}

fn public_key(key: &SigningKey) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())
}

/// A token from `issuer` about an end user with these nationalities, valid for a day.
fn token(issuer: &str, key: &SigningKey, nationalities: &[&str]) -> String {
    let now = Timestamp::from_millis(
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap(),
    );
    sign(
        &AttestationClaims {
            issuer: AttesterId::parse(issuer).unwrap(),
            subject: "end-user-2".to_owned(),
            audience: None,
            issued_at: now,
            expires_at: now.plus_millis(86_400_000),
            end_user: json!({ "nationalities": nationalities }).as_object().unwrap().clone(),
        },
        key,
    )
}

async fn snapshot_seq(app: &TestApp) -> u64 {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    ready["snapshot_seq"].as_u64().unwrap()
}

async fn attesters(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.admin(Method::GET, "/admin/v1/attesters", token, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_registered_key_is_trusted_until_it_is_revoked() {
    let mut app = spawn_app().await;
    let story = app.seed_story().await;

    let registered = app
        .provider_post(
            "/admin/v1/attesters",
            json!({
                "id": "idv-api",
                "name": "Verifier registered through the API",
                "key": { "key_id": "k1", "public_key": public_key(&api_key()) },
            }),
        )
        .await;
    assert_eq!(registered["attester"]["source"], "api");
    assert_eq!(registered["attester"]["keys"][0]["key_id"], "k1");
    assert_eq!(registered["attester"]["keys"][0]["usable"], true);

    // The directive on `frontier` admits attested US nationals only.
    let us = token("idv-api", &api_key(), &["US"]);
    let fr = token("idv-api", &api_key(), &["FR"]);
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hello").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&fr), "hello").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("directive_in_force")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().ends_with("the attested end user falls under it"), "{body}");

    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/attesters/idv-api/keys/k1/revoke",
            &app.provider_token,
            Some(json!({ "reason": "private key exposed" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attester"]["keys"][0]["revoked"], true);
    assert_eq!(body["attester"]["keys"][0]["revocation_reason"], "private key exposed");

    // The same token, verified and cached a moment ago, now makes the end user unknown, and the
    // directive cuts unknown end users.
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hello").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("directive_in_force")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("the end-user attestation is untrusted"), "{body}");
    // Where no directive reads the end user, an untrusted token changes nothing.
    let (status, body) = app.chat(&story.acme_key, "workhorse", Some(&us), "hello").await;
    assert_eq!(status, 200, "{body}");
    // The configured attester is untouched.
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&attestation(&["US"], None)), "hello").await;
    assert_eq!(status, 200, "{body}");

    // Any role may read the list; both sources are there, with the revocation.
    let listed = attesters(&app, &story.acme_key).await;
    assert_eq!(listed["attesters"][0]["id"], ATTESTER);
    assert_eq!(listed["attesters"][0]["source"], "config");
    assert_eq!(listed["attesters"][0]["name"], Value::Null);
    assert_eq!(listed["attesters"][0]["keys"][0]["key_id"], "config-1");
    let api = &listed["attesters"][1];
    assert_eq!((api["id"].as_str(), api["source"].as_str()), (Some("idv-api"), Some("api")));
    assert_eq!(api["keys"][0]["public_key"], public_key(&api_key()));
    assert_eq!((api["keys"][0]["revoked"].as_bool(), api["keys"][0]["usable"].as_bool()), (Some(true), Some(false)));

    // A rotation: a new key is trusted at once, and the revocation survives a restart.
    let next = SigningKey::from_bytes(&[78; 32]);
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/attesters/idv-api/keys",
            &app.provider_token,
            Some(json!({ "key_id": "k2", "public_key": public_key(&next), "not_after": "2100-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["attester"]["keys"][1]["not_after"], "2100-01-01T00:00:00Z");
    app.restart().await;
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&token("idv-api", &next, &["US"])), "hi").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hi").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("directive_in_force")), "{body}");
}

#[tokio::test]
async fn refusals_name_the_problem_and_change_nothing() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    app.provider_post("/admin/v1/attesters", json!({ "id": "idv-api", "name": "API verifier" })).await;
    let before = snapshot_seq(&app).await;
    let provider = app.provider_token.clone();
    let key = public_key(&api_key());
    let register = |id: &str, key: Value| json!({ "id": id, "name": "x", "key": key });
    let cases: Vec<(&str, &str, Value, u16, &str, &str)> = vec![
        // Provider only.
        (
            "/admin/v1/attesters",
            &story.acme_key,
            register("idv-2", json!({ "key_id": "k1", "public_key": key })),
            403,
            "role_not_permitted",
            "customer acme may not register attesters",
        ),
        (
            "/admin/v1/attesters",
            &story.official_token,
            register("idv-2", json!({ "key_id": "k1", "public_key": key })),
            403,
            "role_not_permitted",
            "authority bis (j.doe) may not register attesters",
        ),
        (
            "/admin/v1/attesters/idv-api/keys",
            &story.official_token,
            json!({ "key_id": "k1", "public_key": key }),
            403,
            "role_not_permitted",
            "authority bis (j.doe) may not add attester keys",
        ),
        (
            "/admin/v1/attesters/idv-api/keys/k1/revoke",
            &story.acme_key,
            json!({ "reason": "x" }),
            403,
            "role_not_permitted",
            "customer acme may not revoke attester keys",
        ),
        // A key already past its expiry is refused when it is registered.
        (
            "/admin/v1/attesters",
            &provider,
            register("idv-2", json!({ "key_id": "k1", "public_key": key, "not_after": "2020-01-01T00:00:00Z" })),
            400,
            "invalid_request",
            "not_after `2020-01-01T00:00:00Z` is in the past",
        ),
        (
            "/admin/v1/attesters/idv-api/keys",
            &provider,
            json!({ "key_id": "k1", "public_key": key, "not_after": "2020-01-01T00:00:00Z" }),
            400,
            "invalid_request",
            "not_after `2020-01-01T00:00:00Z` is in the past",
        ),
        (
            "/admin/v1/attesters/idv-api/keys",
            &provider,
            json!({ "key_id": "k1", "public_key": "AAAA" }),
            400,
            "invalid_value",
            "public key is 3 bytes; an Ed25519 public key is 32 bytes",
        ),
        (
            "/admin/v1/attesters/idv-api/keys",
            &provider,
            json!({ "key_id": "k1", "public_key": "not base64!" }),
            400,
            "invalid_value",
            "public key `not base64!` is not base64 (standard or URL-safe)",
        ),
        // The settings file wins an id clash, and its attesters are changed there.
        (
            "/admin/v1/attesters",
            &provider,
            register(ATTESTER, json!({ "key_id": "k1", "public_key": key })),
            409,
            "conflict",
            "attester `idv-test` already exists",
        ),
        (
            "/admin/v1/attesters/idv-test/keys/config-1/revoke",
            &provider,
            json!({ "reason": "x" }),
            400,
            "invalid_request",
            "attester `idv-test` comes from the settings file; its keys are changed there, not through the API",
        ),
        (
            "/admin/v1/attesters",
            &provider,
            json!({ "id": "idv-api", "name": "again" }),
            409,
            "conflict",
            "attester `idv-api` already exists",
        ),
        (
            "/admin/v1/attesters/nope/keys",
            &provider,
            json!({ "key_id": "k1", "public_key": key }),
            404,
            "not_found",
            "no attester `nope`",
        ),
        (
            "/admin/v1/attesters/idv-api/keys/k9/revoke",
            &provider,
            json!({ "reason": "x" }),
            404,
            "not_found",
            "no attester key `idv-api/k9`",
        ),
    ];
    for (path, token, body, status, code, message) in cases {
        let (got_status, got) = app.admin(Method::POST, path, token, Some(body)).await;
        assert_eq!((got_status, got["error"]["code"].as_str()), (status, Some(code)), "POST {path}: {got}");
        assert_eq!(got["error"]["message"], message, "POST {path}");
    }
    assert_eq!(snapshot_seq(&app).await, before, "a refusal changed the state");
    let listed = attesters(&app, &story.official_token).await;
    assert_eq!(listed["attesters"][1]["keys"], json!([]));

    // Reading needs a credential.
    let (status, body) = app.admin(Method::GET, "/admin/v1/attesters", "", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
}
