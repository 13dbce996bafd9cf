//! The governance process end to end, through the real API: a review clock cleared by a quorum,
//! an application approved by two of three authorities with reasons and evidence, a directive
//! with notice, an appeal by the affected customer decided by a different official, and access
//! restored on the next request. Time moves by advancing the gateway's clock, never by sleeping.

use portcullis_gateway::engine::Clock as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CRITERIA, TestApp, attestation_at, spawn_app};

const DIRECTIVE: &str = r#"@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

struct World {
    acme: String,
    globex: String,
    /// `(authority, official) -> token`.
    officials: Vec<(&'static str, &'static str, String)>,
}

impl World {
    fn token(&self, authority: &str, official: &str) -> &str {
        &self.officials.iter().find(|(a, o, _)| *a == authority && *o == official).unwrap().2
    }
}

async fn seq(app: &TestApp) -> u64 {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    ready["snapshot_seq"].as_u64().unwrap()
}

/// Sends a request that must be refused, and checks the status, the code, a fragment of the
/// message, and that no event was written.
async fn refused(app: &TestApp, method: Method, path: &str, token: &str, body: Value, status: u16, fragment: &str) {
    let before = seq(app).await;
    let (got, answer) = app.admin(method, path, token, Some(body)).await;
    assert_eq!(got, status, "{path}: {answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(fragment), "{path}: `{message}` lacks `{fragment}`");
    assert_eq!(seq(app).await, before, "{path}: a refusal changed the state");
}

async fn ok(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.admin(method, path, token, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn world(app: &TestApp) -> World {
    let mut officials = Vec::new();
    for (authority, people) in [("bis", &["j.doe", "a.smith"][..]), ("aisi", &["k.lee"][..]), ("ncsc", &["m.ng"][..])] {
        app.provider_post("/admin/v1/authorities", json!({ "id": authority, "name": authority })).await;
        for official in people {
            let issued = app
                .provider_post(&format!("/admin/v1/authorities/{authority}/officials"), json!({ "official": official }))
                .await;
            officials.push((authority, *official, issued["token"].as_str().unwrap().to_owned()));
        }
    }
    let mut keys = Vec::new();
    for id in ["acme", "globex"] {
        app.provider_post(
            "/admin/v1/customers",
            json!({ "id": id, "name": id, "attributes": { "country": "US", "kyc": "verified" } }),
        )
        .await;
        let key = app.provider_post(&format!("/admin/v1/customers/{id}/keys"), json!({ "label": "t" })).await;
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    app.provider_post(
        "/admin/v1/models",
        json!({ "name": "frontier", "upstream": { "base_url": app.upstream.base_url } }),
    )
    .await;
    app.provider_post("/admin/v1/models/frontier/criteria", json!({ "text": "KYC verified", "policies": CRITERIA }))
        .await;
    let provider = app.provider_token.clone();
    ok(
        app,
        Method::PUT,
        "/admin/v1/models/frontier/procedure",
        &provider,
        json!({ "signoff_authorities": ["bis", "aisi", "ncsc"], "required": 2, "review_days": 30 }),
    )
    .await;
    let globex = keys.pop().unwrap();
    let acme = keys.pop().unwrap();
    World { acme, globex, officials }
}

#[tokio::test]
async fn review_application_directive_appeal_end_to_end() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let provider = app.provider_token.clone();
    let (bis, bis2, aisi, ncsc) =
        (w.token("bis", "j.doe"), w.token("bis", "a.smith"), w.token("aisi", "k.lee"), w.token("ncsc", "m.ng"));

    // 1. Review clock: the model may not leave review until cleared or the clock runs out.
    ok(&app, Method::POST, "/admin/v1/models/frontier/stage", &provider, json!({ "to": "review", "reason": "eval" }))
        .await;
    let to_preview = json!({ "to": "preview", "reason": "release" });
    let stage = "/admin/v1/models/frontier/stage";
    refused(&app, Method::POST, stage, &provider, to_preview.clone(), 400, "0 of the 2 required authorities").await;
    let object = json!({ "verdict": "object", "reasons": "red-team report pending" });
    ok(&app, Method::POST, "/admin/v1/models/frontier/review", aisi, object).await;
    let clear = json!({ "verdict": "clear", "reasons": "evaluation reviewed" });
    ok(&app, Method::POST, "/admin/v1/models/frontier/review", bis, clear.clone()).await;
    ok(&app, Method::POST, "/admin/v1/models/frontier/review", ncsc, clear.clone()).await;
    refused(&app, Method::POST, stage, &provider, to_preview.clone(), 400, "objections stand: `aisi`").await;
    refused(&app, Method::POST, "/admin/v1/models/frontier/review", &provider, clear.clone(), 403, "may not").await;
    let queue = ok(&app, Method::GET, "/admin/v1/queue", aisi, Value::Null).await;
    assert_eq!(queue["reviews"][0]["may_proceed"]["now"], "not_yet", "{queue}");
    ok(&app, Method::POST, "/admin/v1/models/frontier/review", aisi, clear).await;
    ok(&app, Method::POST, stage, &provider, to_preview).await;
    let model = ok(&app, Method::GET, "/admin/v1/models/frontier", &provider, Value::Null).await;
    let cleared = &model["stage_history"][1]["clearance"];
    assert_eq!(cleared["kind"], "cleared", "{model}");
    assert_eq!(cleared["authorities"].as_array().unwrap().len(), 3, "{model}");

    // 2. An application, approved by two of three authorities with reasons and evidence.
    let us = attestation_at(&["US"], None, app.clock.now());
    assert_eq!(app.chat(&w.acme, "frontier", Some(&us), "hi").await.1["error"]["code"], "grant_required");
    refused(
        &app,
        Method::POST,
        "/admin/v1/applications",
        &provider,
        json!({ "model": "frontier", "purpose": "x" }),
        403,
        "may not apply",
    )
    .await;
    let application = ok(
        &app,
        Method::POST,
        "/admin/v1/applications",
        &w.acme,
        json!({ "model": "frontier", "purpose": "code review tooling" }),
    )
    .await;
    assert_eq!(application["status"], "submitted");
    let id = application["id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/admin/v1/applications/{id}{tail}");
    // Another customer cannot see it, not even that it exists.
    let (status, _) = app.admin(Method::GET, &path(""), &w.globex, None).await;
    assert_eq!(status, 404);

    let (status, uploaded) = app
        .client
        .post(app.url("/admin/v1/evidence"))
        .bearer_auth(bis)
        .header("content-type", "text/plain")
        .body("acme KYC file, reviewed 2026-11-20")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 201);
    let sha256 = uploaded.json::<Value>().await.unwrap()["sha256"].as_str().unwrap().to_owned();
    let approve = |clause: &str| {
        json!({
            "verdict": "approve",
            "reasons": "KYC verified; purpose within the preview programme",
            "clauses": [clause],
            "evidence": [{ "description": "KYC file", "sha256": sha256, "disclosure": "subject" }],
        })
    };
    refused(
        &app,
        Method::POST,
        &path("/signoffs"),
        bis,
        approve("kyc-verified"),
        409,
        "`submitted` cannot be signed off",
    )
    .await;
    ok(&app, Method::POST, &path("/review"), bis, Value::Null).await;
    ok(&app, Method::POST, &path("/signoffs"), bis, approve("kyc-verified")).await;
    refused(&app, Method::POST, &path("/signoffs"), bis2, approve("kyc-verified"), 400, "already signed off").await;
    refused(&app, Method::POST, &path("/signoffs"), ncsc, approve("no-such-clause"), 400, "clause `no-such-clause`")
        .await;
    refused(&app, Method::POST, &path("/signoffs"), &w.acme, approve("kyc-verified"), 403, "may not").await;
    let mut undescribed = approve("kyc-verified");
    undescribed["evidence"] = json!([{ "sha256": sha256, "disclosure": "subject" }]);
    refused(&app, Method::POST, &path("/signoffs"), ncsc, undescribed, 400, "evidence[0]: missing field `description`")
        .await;
    let mut unknown = approve("kyc-verified");
    unknown["evidence"] = json!({ "description": "d", "sha256": "0".repeat(64), "disclosure": "public" });
    refused(&app, Method::POST, &path("/signoffs"), ncsc, unknown, 400, "has not been uploaded").await;
    let decided = ok(&app, Method::POST, &path("/signoffs"), aisi, approve("kyc-verified")).await;
    assert_eq!(decided["status"], "approved", "{decided}");
    assert_eq!(decided["decision"]["criteria_version"], 1);
    assert_eq!(decided["decision"]["clauses"], json!(["kyc-verified"]));
    assert_eq!(decided["signoffs"].as_array().unwrap().len(), 2);
    assert_eq!(app.chat(&w.acme, "frontier", Some(&us), "hi").await.0, 200);
    // The evidence is disclosed to the subject, not to another customer.
    let read = |token: &str| {
        let request = app.client.get(app.url(&format!("/admin/v1/evidence/{sha256}"))).bearer_auth(token.to_owned());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(read(&w.acme).await, 200);
    assert_eq!(read(&w.globex).await, 403);
    // Whatever its media type, a document opened in a browser runs no script and is not sniffed.
    let served =
        app.client.get(app.url(&format!("/admin/v1/evidence/{sha256}"))).bearer_auth(&w.acme).send().await.unwrap();
    assert_eq!(served.headers()["content-security-policy"], "sandbox");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.headers()["cache-control"], "private, no-store");

    // 3. A directive with a day's notice: announced now, in force tomorrow.
    let tomorrow = portcullis_core::Timestamp::from_millis(app.clock.now().as_millis() + 86_400_000).to_rfc3339();
    let directive = json!({
        "id": "EC-7", "legal_basis": "15 CFR 744", "description": "US nationals only", "models": ["frontier"],
        "policies": DIRECTIVE, "effective_at": tomorrow,
        "evidence": { "description": "interagency assessment", "disclosure": "withheld", "reason": "classified" },
    });
    let blanket = json!({
        "id": "EC-8", "legal_basis": "x", "description": "x", "models": ["frontier"],
        "policies": "forbid (principal, action, resource);", "effective_at": tomorrow,
        "evidence": { "description": "x", "disclosure": "withheld", "reason": "x" },
    });
    refused(&app, Method::POST, "/admin/v1/directives", bis, blanket, 400, "suspend it instead").await;
    let issued = ok(&app, Method::POST, "/admin/v1/directives", bis, directive).await;
    // A day's notice (RFC 3339 here carries whole seconds, so up to a second less).
    let notice = issued["notice_seconds"].as_i64().unwrap();
    assert!((86_399..=86_400).contains(&notice), "{issued}");
    assert_eq!(issued["emergency"], false);
    let notices = ok(&app, Method::GET, "/admin/v1/notices", &w.acme, Value::Null).await;
    let notice = &notices["notices"][0];
    assert_eq!(notice["regarding"], json!({ "kind": "directive", "directive": "EC-7" }), "{notices}");
    assert_eq!(notice["recipients"], json!(["acme"]));
    let french = attestation_at(&["FR"], None, app.clock.now());
    assert_eq!(app.chat(&w.acme, "frontier", Some(&french), "hi").await.0, 200, "notice period: not yet in force");
    app.clock.advance_days(2);
    let french = attestation_at(&["FR"], None, app.clock.now());
    let us = attestation_at(&["US"], None, app.clock.now());
    assert_eq!(app.chat(&w.acme, "frontier", Some(&french), "hi").await.1["error"]["code"], "directive_in_force");
    assert_eq!(app.chat(&w.acme, "frontier", Some(&us), "hi").await.0, 200);

    // 4. The customer appeals, as the denial itself says how; only a different official of the
    // issuing authority may decide.
    let denied = app.chat(&w.acme, "frontier", Some(&french), "hi").await.1;
    let how = &denied["error"]["portcullis"]["appeal"];
    assert_eq!(how["to"], "bis", "{denied}");
    let file_path = how["file_url"].as_str().unwrap().trim_start_matches(&app.address).to_owned();
    let mut body = how["file_body"].clone();
    body["grounds"] = json!("our users are vetted");
    let appeal = ok(&app, Method::POST, &file_path, &w.acme, body).await;
    assert_eq!((appeal["status"].as_str(), appeal["original_in_force"].as_bool()), (Some("pending"), Some(true)));
    let decision = format!("/admin/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let reverse = json!({ "outcome": "reversed", "reasons": "vetting programme verified" });
    refused(&app, Method::POST, &decision, bis, reverse.clone(), 403, "they took the action appealed against").await;
    refused(&app, Method::POST, &decision, aisi, reverse.clone(), 403, "it is for authority `bis`").await;
    refused(&app, Method::POST, &decision, &w.acme, reverse.clone(), 403, "may not").await;
    let decided = ok(&app, Method::POST, &decision, bis2, reverse).await;
    assert_eq!(
        (decided["status"].as_str(), decided["decision"]["official"].as_str()),
        (Some("reversed"), Some("a.smith"))
    );
    // Access is restored on the next request.
    assert_eq!(app.chat(&w.acme, "frontier", Some(&french), "hi").await.0, 200);

    // 5. Deadlines: thirty days on, the directive can no longer be appealed.
    app.clock.advance_days(30);
    refused(
        &app,
        Method::POST,
        "/admin/v1/appeals",
        &w.acme,
        json!({ "subject": { "kind": "directive", "directive": "EC-7" }, "grounds": "again" }),
        400,
        "the deadline to appeal directive `EC-7` passed",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/admin/v1/appeals",
        &w.acme,
        json!({ "subject": { "kind": "directive", "directive": "NOPE" }, "grounds": "x" }),
        404,
        "no directive `NOPE`",
    )
    .await;
}
