//! The public register (#7): server-rendered pages read without a login, checked first with plain
//! HTTP (content, escaping, status codes, headers) and then in a real browser: headless Chromium
//! driven by `tests/browser/register.mjs` (playwright-core), which compares what the pages show
//! with what the JSON API says.
//!
//! The browser test needs Node.js, Debian's `chromium` and `npm ci` in `tests/browser`; when one
//! is missing it fails and says how to install it (it never skips silently).

use std::path::PathBuf;
use std::process::Command;

use portcullis_gateway::engine::Clock as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CRITERIA, TestApp, spawn_app};

/// Version 2 of the criteria: the same clause, narrowed to customers established in the US.
const CRITERIA_V2: &str = r#"@id("kyc-verified")
permit (principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" && principal has country && principal.country == "US" };"#;

const DIRECTIVE: &str = r#"@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

/// A model description that would run a script if the page did not escape it.
const HOSTILE_DESCRIPTION: &str = "Frontier <script>alert('owned')</script> & <b>bold</b> claims";

const JUSTIFICATION: &str = "Same-day order received at 17:21; no notice possible";

struct World {
    /// SHA-256 of the document cited as public by the emergency directive.
    public_evidence: String,
    /// SHA-256 of the document cited to the subject only by an application's sign-off.
    subject_evidence: String,
}

async fn ok(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.admin(method, path, token, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn upload(app: &TestApp, token: &str, text: &str) -> String {
    let response = app
        .client
        .post(app.url("/admin/v1/evidence"))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    response.json::<Value>().await.unwrap()["sha256"].as_str().unwrap().to_owned()
}

/// `frontier` cleared from review into preview, criteria in two versions, three applications
/// (approved, denied then appealed and upheld, pending), an emergency directive with public and
/// withheld evidence appealed and reversed for one customer, and a directive with a week's notice.
async fn world(app: &TestApp) -> World {
    let provider = app.provider_token.clone();
    app.provider_post("/admin/v1/authorities", json!({ "id": "bis", "name": "Bureau" })).await;
    let mut officials = Vec::new();
    for official in ["j.doe", "a.smith"] {
        let issued = app.provider_post("/admin/v1/authorities/bis/officials", json!({ "official": official })).await;
        officials.push(issued["token"].as_str().unwrap().to_owned());
    }
    let (doe, smith) = (officials[0].clone(), officials[1].clone());
    let mut keys = Vec::new();
    for id in ["acme", "globex", "initech"] {
        app.provider_post(
            "/admin/v1/customers",
            json!({ "id": id, "name": id, "attributes": { "country": "US", "kyc": "verified" } }),
        )
        .await;
        let key = app.provider_post(&format!("/admin/v1/customers/{id}/keys"), json!({ "label": "t" })).await;
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    let (acme, globex, initech) = (keys[0].clone(), keys[1].clone(), keys[2].clone());
    app.provider_post(
        "/admin/v1/models",
        json!({ "name": "frontier", "description": HOSTILE_DESCRIPTION, "upstream": { "base_url": app.upstream.base_url } }),
    )
    .await;
    app.provider_post("/admin/v1/models/frontier/criteria", json!({ "text": "KYC verified.", "policies": CRITERIA }))
        .await;
    ok(app, Method::PUT, "/admin/v1/models/frontier/procedure", &provider, json!({ "signoff_authorities": ["bis"] }))
        .await;
    ok(app, Method::POST, "/admin/v1/models/frontier/stage", &provider, json!({ "to": "review", "reason": "eval" }))
        .await;
    let clear = json!({ "verdict": "clear", "reasons": "evaluation reviewed" });
    ok(app, Method::POST, "/admin/v1/models/frontier/review", &doe, clear).await;
    ok(
        app,
        Method::POST,
        "/admin/v1/models/frontier/stage",
        &provider,
        json!({ "to": "preview", "reason": "release" }),
    )
    .await;
    app.provider_post(
        "/admin/v1/models/frontier/criteria",
        json!({ "text": "KYC verified.\nEstablished in the United States.", "policies": CRITERIA_V2 }),
    )
    .await;

    // Three applications: approved, denied (then appealed, upheld), pending.
    let subject_evidence = upload(app, &doe, "acme KYC file").await;
    let mut ids = Vec::new();
    for (key, purpose) in [(&acme, "code review"), (&globex, "unclear"), (&initech, "research")] {
        let body = json!({ "model": "frontier", "purpose": purpose });
        let application = ok(app, Method::POST, "/admin/v1/applications", key, body).await;
        ids.push(application["id"].as_str().unwrap().to_owned());
    }
    let (approved, denied) = (ids[0].clone(), ids[1].clone());
    for (id, verdict) in [(&approved, "approve"), (&denied, "deny")] {
        ok(app, Method::POST, &format!("/admin/v1/applications/{id}/review"), &doe, Value::Null).await;
        let signoff = json!({
            "verdict": verdict, "reasons": "as assessed", "clauses": ["kyc-verified"],
            "evidence": [{ "description": "KYC file", "sha256": subject_evidence, "disclosure": "subject" }],
        });
        ok(app, Method::POST, &format!("/admin/v1/applications/{id}/signoffs"), &doe, signoff).await;
    }
    let appeal = ok(
        app,
        Method::POST,
        "/admin/v1/appeals",
        &globex,
        json!({ "subject": { "kind": "application_denial", "application": denied }, "grounds": "we qualify" }),
    )
    .await;
    let upheld = json!({ "outcome": "upheld", "reasons": "purpose still unclear" });
    ok(app, Method::POST, &format!("/admin/v1/appeals/{}/decision", appeal["id"].as_str().unwrap()), &smith, upheld)
        .await;

    // An emergency directive, with a public and a withheld citation, reversed on appeal for acme.
    let public_evidence = upload(app, &doe, "Order EC-1, as served on the provider").await;
    ok(
        app,
        Method::POST,
        "/admin/v1/directives",
        &doe,
        json!({
            "id": "EC-1", "legal_basis": "15 CFR 744", "description": "US nationals only", "models": ["frontier"],
            "policies": DIRECTIVE, "emergency_justification": JUSTIFICATION,
            "evidence": [
                { "description": "the order", "sha256": public_evidence, "disclosure": "public" },
                { "description": "threat assessment", "disclosure": "withheld", "reason": "classified" },
            ],
        }),
    )
    .await;
    let appeal = ok(
        app,
        Method::POST,
        "/admin/v1/appeals",
        &acme,
        json!({ "subject": { "kind": "directive", "directive": "EC-1" }, "grounds": "our users are vetted" }),
    )
    .await;
    let reversed = json!({ "outcome": "reversed", "reasons": "vetting verified" });
    ok(app, Method::POST, &format!("/admin/v1/appeals/{}/decision", appeal["id"].as_str().unwrap()), &smith, reversed)
        .await;

    // A directive with a week's notice (and a minute, as RFC 3339 here drops the milliseconds):
    // scheduled, not an emergency.
    let in_a_week = app.clock.now().plus_millis(7 * 86_400_000 + 60_000).to_rfc3339();
    ok(
        app,
        Method::POST,
        "/admin/v1/directives",
        &doe,
        json!({
            "id": "EC-2", "legal_basis": "15 CFR 744", "description": "residency check", "models": ["frontier"],
            "policies": DIRECTIVE, "effective_at": in_a_week,
            "evidence": { "description": "notice", "disclosure": "withheld", "reason": "pending publication" },
        }),
    )
    .await;
    World { public_evidence, subject_evidence }
}

/// `GET` a register page: status, `Content-Type`, `Content-Security-Policy` and body.
async fn page(app: &TestApp, path: &str) -> (u16, String, String, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    (status, content_type, csp, response.text().await.unwrap())
}

#[tokio::test]
async fn register_pages_show_the_governance_state_without_a_login() {
    let app = spawn_app().await;
    let world = world(&app).await;
    let model =
        app.client.get(app.url("/admin/v1/models/frontier")).send().await.unwrap().json::<Value>().await.unwrap();
    let criteria = app
        .client
        .get(app.url("/admin/v1/models/frontier/criteria"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let hash = criteria["content_hash"].as_str().unwrap();

    // The JSON API's statistics: counts only.
    assert_eq!(
        model["statistics"]["applications"],
        json!({
            "approved": 1, "approved_on_appeal": 0, "denied": 1, "pending": 1, "overdue": 0, "withdrawn": 0,
            "median_decision_seconds": 0,
        }),
        "{model}"
    );
    assert_eq!(
        model["statistics"]["appeals"],
        json!({ "pending": 0, "overdue": 0, "upheld": 1, "reversed": 1, "modified": 0, "withdrawn": 0 })
    );

    // The index: the model, its stage and criteria, no login needed, no script allowed.
    let (status, content_type, csp, index) = page(&app, "/register").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    assert!(index.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{index}");
    for fragment in
        ["href=\"/register/models/frontier\"", "stage-preview", "version 2", &hash[..12], "portcullis verify --url"]
    {
        assert!(index.contains(fragment), "the index lacks `{fragment}`");
    }

    // The model page: escaped description, stage history with clearance, criteria, statistics.
    let (status, _, _, frontier) = page(&app, "/register/models/frontier").await;
    assert_eq!(status, 200);
    assert!(
        frontier.contains("Frontier &lt;script&gt;alert('owned')&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; claims"),
        "the description is not escaped text"
    );
    assert!(!frontier.contains("<script") && !frontier.contains("<b>"), "markup from a description reached the page");
    for fragment in [
        hash,
        "review → preview",
        "cleared</span> by bis",
        "Established in the United States.",
        "principal has country",
        "kyc-verified",
        "Emergency: no notice period",
        "EC-2",
        "scheduled",
    ] {
        assert!(frontier.contains(fragment), "the model page lacks `{fragment}`");
    }
    // No applicant is named; counts are.
    for customer in ["acme", "globex", "initech"] {
        assert!(!frontier.contains(customer), "the model page names customer `{customer}`");
    }
    assert!(frontier.contains("<th scope=\"row\">Approved</th><td class=\"num\">1</td>"), "approved count");
    assert!(frontier.contains("<th scope=\"row\">Upheld (the action stands)</th><td class=\"num\">1</td>"));

    // An old version and a diff between versions (the old text is read from its event).
    let (status, _, _, v1) = page(&app, "/register/models/frontier?version=1").await;
    assert_eq!(status, 200);
    assert!(v1.contains("You are reading version 1, which is not in force"), "{v1}");
    assert!(v1.contains(r#"when { principal has kyc &amp;&amp; principal.kyc == &quot;verified&quot; };"#), "{v1}");
    let (status, _, _, diff) = page(&app, "/register/models/frontier?diff=1..2").await;
    assert_eq!(status, 200);
    assert!(diff.contains("Changes from version 1 to version 2"), "{diff}");
    assert!(diff.contains("<tr class=\"added\">") && diff.contains("<tr class=\"removed\">"), "{diff}");
    assert!(diff.contains("principal.country == &quot;US&quot; };</code>"), "{diff}");
    let (status, _, _, same) = page(&app, "/register/models/frontier?from=1&to=2").await;
    assert_eq!((status, same.contains("Changes from version 1 to version 2")), (200, true));
    let (status, _, _, bad) = page(&app, "/register/models/frontier?diff=one..two").await;
    assert_eq!(status, 400);
    assert!(bad.contains("`diff` must name two versions like `1..2`"), "{bad}");
    assert_eq!(page(&app, "/register/models/frontier?version=9").await.0, 404);
    let (status, content_type, _, missing) = page(&app, "/register/models/nope").await;
    assert_eq!((status, content_type.as_str()), (404, "text/html; charset=utf-8"));
    assert!(missing.contains("no model `nope`"), "{missing}");

    // Directives: emergency flagged with its justification; evidence by disclosure level.
    let (_, _, _, directives) = page(&app, "/register/directives").await;
    assert!(directives.contains("Emergency: no notice period") && directives.contains("7 days"), "{directives}");
    let (status, _, _, ec1) = page(&app, "/register/directives/EC-1").await;
    assert_eq!(status, 200);
    for fragment in [
        JUSTIFICATION,
        "15 CFR 744",
        "in force",
        &format!("href=\"/register/evidence/{}\"", world.public_evidence),
        "Withheld: classified",
        "<dt>Exemptions on appeal</dt><dd>1</dd>",
        "<th scope=\"row\">Reversed</th><td class=\"num\">1</td>",
    ] {
        assert!(ec1.contains(fragment), "the directive page lacks `{fragment}`");
    }
    let evidence =
        app.client.get(app.url(&format!("/register/evidence/{}", world.public_evidence))).send().await.unwrap();
    assert_eq!(evidence.status().as_u16(), 200);
    assert_eq!(evidence.headers()["content-security-policy"], "sandbox");
    assert_eq!(evidence.text().await.unwrap(), "Order EC-1, as served on the provider");
    // Disclosed to the subject only: not on the public register, and not said to exist.
    let (status, _, _, hidden) = page(&app, &format!("/register/evidence/{}", world.subject_evidence)).await;
    assert_eq!(status, 404);
    assert!(hidden.contains("no public evidence"), "{hidden}");

    // Log entries: the page shows the entry exactly as the log holds it.
    let index_of_ec1 = directives_log_index(&app, "EC-1").await;
    let (status, _, _, entry) = page(&app, &format!("/register/entries/{index_of_ec1}")).await;
    assert_eq!(status, 200);
    let logged = app
        .client
        .get(app.url(&format!("/admin/v1/events/{}", index_of_ec1 + 1)))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let exact = html_escape(logged["entry"].as_str().unwrap());
    assert!(entry.contains(&exact), "the entry page does not show the logged bytes: {entry}");
    assert!(entry.contains("directive_issued"), "{entry}");
    assert_eq!(page(&app, "/register/entries/100000").await.0, 404);
    assert_eq!(page(&app, "/register/no/such/page").await.0, 404);
    let css = app.client.get(app.url("/register/style.css")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn register_in_headless_chromium() {
    let browser = browser_dir();
    preflight(&browser);
    let app = spawn_app().await;
    world(&app).await;
    // The browser checks the log section too: wait for the first checkpoint.
    wait_for_checkpoint(&app).await;

    let output = tokio::task::spawn_blocking({
        let base = app.address.clone();
        let script = browser.join("register.mjs");
        move || Command::new("node").arg(script).arg(base).output()
    })
    .await
    .unwrap()
    .expect("could not run `node`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser test failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("register: all checks passed"), "{stdout}");
}

async fn directives_log_index(app: &TestApp, id: &str) -> u64 {
    let directive = app
        .client
        .get(app.url(&format!("/admin/v1/directives/{id}")))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    directive["log_index"].as_u64().unwrap()
}

pub(crate) async fn wait_for_checkpoint(app: &TestApp) {
    for _ in 0..100 {
        let log = app.client.get(app.url("/admin/v1/log")).send().await.unwrap().json::<Value>().await.unwrap();
        let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
        if log["size"].as_u64() == ready["snapshot_seq"].as_u64() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covered the seeded events within 10 s");
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Fails, saying how to install what is missing, when the browser test cannot run.
pub(crate) fn preflight(browser: &std::path::Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the browser test needs Node.js 20 or newer (with npm) on the PATH"
    );
    let chromium =
        std::env::var_os("PORTCULLIS_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "the browser test needs Chromium at `{}`: `apt-get install -y chromium` (or set PORTCULLIS_CHROMIUM)",
        chromium.display()
    );
    assert!(
        browser.join("node_modules/playwright-core/package.json").exists(),
        "the browser test needs playwright-core: `cd tests/browser && npm ci`"
    );
}
