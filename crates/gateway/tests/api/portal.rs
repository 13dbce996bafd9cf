//! The portals (#7): accounts, sign-in, sessions, CSRF, lockout and roles over real HTTP with
//! cookies, then the whole story in headless Chromium (`tests/browser/story.mjs`): a customer
//! applies, two officials sign off, the customer's key works, an official issues a directive
//! after viewing its impact, the customer sees the notice and appeals, a different official
//! reverses it, and the register shows all of it.

use std::collections::BTreeMap;
use std::process::Command;

use reqwest::Method;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{CRITERIA, TestApp, spawn_app, spawn_app_with};
use crate::register::{browser_dir, preflight, wait_for_checkpoint};

pub const PASSWORD: &str = "correct horse battery staple";

const DIRECTIVE: &str = r#"@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

/// The world of the portal tests, built through the admin API.
pub struct World {
    pub acme_key: String,
    /// `bis/j.doe`, `aisi/a.roe`, `bis/m.lee`.
    pub tokens: BTreeMap<&'static str, String>,
}

async fn ok(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.admin(method, path, token, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

/// `frontier` in preview after review by two authorities, whose sign-off quorum is both of them
/// (`bis`, `aisi`); customers `acme` (KYC verified) and `globex`; accounts for everyone.
pub async fn world(app: &TestApp) -> World {
    let provider = app.provider_token.clone();
    let mut tokens = BTreeMap::new();
    for (authority, name) in [("bis", "Bureau of Industry and Security"), ("aisi", "AI Safety Institute")] {
        app.provider_post("/admin/v1/authorities", json!({ "id": authority, "name": name })).await;
    }
    for (authority, official) in [("bis", "j.doe"), ("aisi", "a.roe"), ("bis", "m.lee")] {
        let answer = app
            .provider_post(&format!("/admin/v1/authorities/{authority}/officials"), json!({ "official": official }))
            .await;
        let key: &'static str = Box::leak(format!("{authority}/{official}").into_boxed_str());
        tokens.insert(key, answer["token"].as_str().unwrap().to_owned());
    }
    for (id, name, kyc) in [("acme", "Acme Research", "verified"), ("globex", "Globex", "pending")] {
        app.provider_post(
            "/admin/v1/customers",
            json!({ "id": id, "name": name, "attributes": { "country": "US", "kyc": kyc } }),
        )
        .await;
    }
    let acme_key = app.provider_post("/admin/v1/customers/acme/keys", json!({ "label": "api" })).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.provider_post(
        "/admin/v1/models",
        json!({ "name": "frontier", "description": "The frontier model", "upstream": { "base_url": app.upstream.base_url } }),
    )
    .await;
    app.provider_post(
        "/admin/v1/models/frontier/criteria",
        json!({ "text": "KYC verified customers.", "policies": CRITERIA }),
    )
    .await;
    ok(
        app,
        Method::PUT,
        "/admin/v1/models/frontier/procedure",
        &provider,
        json!({ "signoff_authorities": ["bis", "aisi"], "required": 2 }),
    )
    .await;
    app.provider_post("/admin/v1/models/frontier/stage", json!({ "to": "review", "reason": "pre-release review" }))
        .await;
    for official in ["bis/j.doe", "aisi/a.roe"] {
        ok(
            app,
            Method::POST,
            "/admin/v1/models/frontier/review",
            &tokens[official],
            json!({ "verdict": "clear", "reasons": "evaluations reviewed" }),
        )
        .await;
    }
    app.provider_post("/admin/v1/models/frontier/stage", json!({ "to": "preview", "reason": "cleared" })).await;
    // Accounts: the provider creates the officials' and its own staff's; the customer its own.
    for (login, holder) in [
        ("j.doe@bis", json!({ "role": "authority", "authority": "bis", "official": "j.doe" })),
        ("a.roe@aisi", json!({ "role": "authority", "authority": "aisi", "official": "a.roe" })),
        ("m.lee@bis", json!({ "role": "authority", "authority": "bis", "official": "m.lee" })),
        ("ops-staff", json!({ "role": "provider", "name": "ops-staff" })),
        ("globex-ops", json!({ "role": "customer", "customer": "globex" })),
    ] {
        app.provider_post("/admin/v1/accounts", json!({ "login": login, "password": PASSWORD, "holder": holder }))
            .await;
    }
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            &acme_key,
            Some(json!({ "login": "acme-ops", "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    World { acme_key, tokens }
}

/// A person with a browser's cookie jar, without following redirects.
pub struct Person<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// A page or a redirect.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).map_or("", |v| v.to_str().unwrap())
    }

    /// The `value` of the first `name="csrf"` field on the page.
    fn csrf(&self) -> String {
        let at = self.body.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no csrf field: {}", self.body));
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl<'a> Person<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { app, client, cookies: BTreeMap::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = if cookie.is_empty() { request } else { request.header("cookie", cookie) };
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(self.app.url(path));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self.client.post(self.app.url(path)).form(fields);
        self.send(request).await
    }

    /// Posts a form with the CSRF token of the page at `from`.
    pub async fn submit(&mut self, from: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(from).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    pub async fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post("/login", &[("csrf", &csrf), ("login", login), ("password", password)]).await
    }
}

#[tokio::test]
async fn accounts_are_created_through_the_api_and_never_show_their_password() {
    let app = spawn_app().await;
    let world = world(&app).await;
    let provider = app.provider_token.clone();

    // A customer creates a login for itself only; an official too.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            &world.acme_key,
            Some(json!({ "login": "acme-2", "password": PASSWORD, "holder": { "role": "customer", "customer": "globex" } })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["message"], "customer acme may not create an account for someone else");
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            &world.tokens["bis/j.doe"],
            Some(json!({ "login": "jdoe-2", "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["holder"], json!({ "role": "authority", "authority": "bis", "official": "j.doe" }));

    // Bad input is a 400 or 409 naming the problem.
    let rows = [
        (
            json!({ "login": "Acme", "password": PASSWORD }),
            400,
            "login `Acme` contains `A`; use lowercase letters, digits and `-_.@`",
        ),
        (json!({ "login": "short-pw", "password": "hunter2" }), 400, "the password must be at least 12 characters"),
        (json!({ "login": "acme-ops", "password": PASSWORD }), 409, "account `acme-ops` already exists"),
        (
            json!({ "login": "ghost", "password": PASSWORD, "holder": { "role": "customer", "customer": "nobody" } }),
            404,
            "no customer `nobody`",
        ),
    ];
    for (body, status, message) in rows {
        let (got, answer) = app.admin(Method::POST, "/admin/v1/accounts", &provider, Some(body.clone())).await;
        assert_eq!((got, answer["error"]["message"].as_str().unwrap()), (status, message), "{body}");
    }

    // Neither the password nor its hash appears in any answer or in the public log.
    let (_, list) = app.admin(Method::GET, "/admin/v1/accounts", &provider, None).await;
    assert_eq!(list["accounts"].as_array().unwrap().len(), 7, "{list}");
    let (_, own) = app.admin(Method::GET, "/admin/v1/accounts", &world.acme_key, None).await;
    assert_eq!(own["accounts"].as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own["accounts"][0]["login"], "acme-ops");
    let (_, events) = app.admin(Method::GET, "/admin/v1/events?limit=1000", &provider, None).await;
    let mut all_text = format!("{list}{own}{events}");
    for seq in 1..=events["events"].as_array().unwrap().len() {
        let entry =
            app.client.get(app.url(&format!("/admin/v1/events/{seq}"))).send().await.unwrap().text().await.unwrap();
        all_text.push_str(&entry);
    }
    assert!(all_text.contains("account_created"), "the accounts are not in the log");
    assert!(!all_text.contains("argon2"), "a password hash leaked");
    assert!(!all_text.contains(PASSWORD), "a password leaked");

    // Disabling: the holder or the provider; anyone else cannot tell whether the login exists.
    let (status, body) = app
        .admin(Method::POST, "/admin/v1/accounts/globex-ops/disable", &world.acme_key, Some(json!({ "reason": "x" })))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (403, "customer acme may not disable someone else's account")
    );
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/accounts/no-such/disable", &world.acme_key, Some(json!({ "reason": "x" })))
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/accounts/acme-ops/disable",
            &world.acme_key,
            Some(json!({ "reason": "rotated" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_session_and_sign_out_ends_it() {
    let app = spawn_app().await;
    world(&app).await;
    let mut acme = Person::new(&app);

    // Not signed in: to the sign-in page, then back.
    let answer = acme.get("/portal/keys").await;
    assert_eq!((answer.status, answer.location()), (303, "/login?next=/portal/keys"));

    let form = acme.get("/login").await;
    assert!(form.body.contains(r#"<label for="login">Login</label>"#), "{}", form.body);
    assert!(form.body.contains(r#"autocomplete="current-password""#));
    let login_cookie = form.headers.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(login_cookie.starts_with("portcullis_login="), "{login_cookie}");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"), "{login_cookie}");

    // The sign-in form's token must match its cookie.
    let answer = acme.post("/login", &[("csrf", "forged"), ("login", "acme-ops"), ("password", PASSWORD)]).await;
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("this form did not come from this site"), "{}", answer.body);

    let answer = acme.sign_in("acme-ops", PASSWORD).await;
    assert_eq!((answer.status, answer.location()), (303, "/portal"), "{}", answer.body);
    let session = answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("portcullis_session="))
        .unwrap();
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=28800"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Secure"), "http gateway, yet Secure: {session}");
    let token = &acme.cookies["portcullis_session"];
    assert!(token.len() >= 43, "a session token of 256 bits: {token}");

    let home = acme.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("<h1>Acme Research</h1>"), "{}", home.body);
    assert!(home.body.contains("Signed in as <strong>acme-ops</strong>"), "{}", home.body);
    assert_eq!(home.headers["cache-control"], "no-store");
    assert!(home.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    // The portal's own access answer: frontier is in preview and acme holds no grant.
    assert!(home.body.contains("grant_required"), "{}", home.body);

    // Sign-out needs the CSRF token too; then the session is gone, even replayed by hand.
    let stolen = acme.cookies["portcullis_session"].clone();
    assert_eq!(acme.post("/logout", &[]).await.status, 403);
    let answer = acme.submit("/portal", "/logout", &[]).await;
    assert_eq!((answer.status, answer.location()), (303, "/login?signed_out=1"));
    assert!(!acme.cookies.contains_key("portcullis_session"));
    let mut replay = Person::new(&app);
    replay.cookies.insert("portcullis_session".to_owned(), stolen);
    assert_eq!(replay.get("/portal").await.status, 303);
}

#[tokio::test]
async fn five_failed_sign_ins_lock_a_login_and_unknown_logins_look_the_same() {
    let app = spawn_app().await;
    world(&app).await;
    let mut person = Person::new(&app);

    let wrong = person.sign_in("acme-ops", "not the password").await;
    let unknown = person.sign_in("nobody-here", "not the password").await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert!(wrong.body.contains("wrong login or password"), "{}", wrong.body);
    assert!(unknown.body.contains("wrong login or password"), "{}", unknown.body);
    assert!(wrong.body.contains(r#"value="acme-ops""#), "the login is kept in the form");
    assert!(!wrong.body.contains("not the password"), "the password is echoed");
    let long = "a".repeat(10_000);
    let answer = person.sign_in(&long, "not the password").await;
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("wrong login or password"), "{}", answer.body);

    for _ in 0..3 {
        assert_eq!(person.sign_in("acme-ops", "not the password").await.status, 401);
    }
    let fifth = person.sign_in("acme-ops", "not the password").await;
    assert_eq!(fifth.status, 429);
    assert!(
        fifth.body.contains("too many failed sign-ins for this login: it is locked for 15 minutes"),
        "{}",
        fifth.body
    );
    // Locked: even the right password is refused, without being checked.
    let locked = person.sign_in("acme-ops", PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert!(!person.cookies.contains_key("portcullis_session"));
    // Another login is not affected.
    assert_eq!(Person::new(&app).sign_in("globex-ops", PASSWORD).await.status, 303);
    // An unknown login locks the same way, so a lock does not tell whether it exists.
    for _ in 0..4 {
        person.sign_in("nobody-here", "x").await;
    }
    assert_eq!(person.sign_in("nobody-here", "x").await.status, 429);

    app.clock.advance_secs(15 * 60);
    let answer = person.sign_in("acme-ops", PASSWORD).await;
    assert_eq!((answer.status, answer.location()), (303, "/portal"), "{}", answer.body);
}

#[tokio::test]
async fn every_post_checks_the_session_token_and_the_origin() {
    let app = spawn_app().await;
    world(&app).await;
    let mut acme = Person::new(&app);
    acme.sign_in("acme-ops", PASSWORD).await;
    let csrf = acme.get("/portal/keys").await.csrf();

    let no_token = acme.post("/portal/keys", &[("label", "x")]).await;
    let wrong_token = acme.post("/portal/keys", &[("csrf", "0000"), ("label", "x")]).await;
    assert_eq!((no_token.status, wrong_token.status), (403, 403));
    let cross_site = acme
        .send(
            acme.client
                .post(app.url("/portal/keys"))
                .header("origin", "https://evil.example")
                .form(&[("csrf", csrf.as_str()), ("label", "x")]),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    let fetch_site = acme
        .send(
            acme.client
                .post(app.url("/portal/keys"))
                .header("sec-fetch-site", "cross-site")
                .form(&[("csrf", csrf.as_str()), ("label", "x")]),
        )
        .await;
    assert_eq!(fetch_site.status, 403);
    // Another person's token is no good either.
    let mut globex = Person::new(&app);
    globex.sign_in("globex-ops", PASSWORD).await;
    let globex_csrf = globex.get("/portal").await.csrf();
    assert_ne!(globex_csrf, csrf);
    assert_eq!(acme.post("/portal/keys", &[("csrf", &globex_csrf), ("label", "x")]).await.status, 403);
    let (_, keys) = app.admin(Method::GET, "/admin/v1/customers/acme/keys", &app.provider_token, None).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "a refused post created a key: {keys}");

    // The same page's own origin and token: the key is shown once, and works.
    let origin = app.address.clone();
    let created = acme
        .send(
            acme.client
                .post(app.url("/portal/keys"))
                .header("origin", origin)
                .form(&[("csrf", csrf.as_str()), ("label", "ci")]),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let start = created.body.find("pcl_").unwrap();
    let key: String =
        created.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    assert!(key.len() > 40, "{key}");
    assert_eq!(created.headers["cache-control"], "no-store");
    let (status, _) = app.admin(Method::GET, "/admin/v1/whoami", &key, None).await;
    assert_eq!(status, 200);
    assert!(!acme.get("/portal/keys").await.body.contains(&key), "the key is shown again");
}

#[tokio::test]
async fn each_role_reaches_its_own_pages_only() {
    let app = spawn_app().await;
    world(&app).await;
    let mut acme = Person::new(&app);
    let mut official = Person::new(&app);
    let mut staff = Person::new(&app);
    assert_eq!(acme.sign_in("acme-ops", PASSWORD).await.location(), "/portal");
    assert_eq!(official.sign_in("j.doe@bis", PASSWORD).await.location(), "/console/authority");
    assert_eq!(staff.sign_in("ops-staff", PASSWORD).await.location(), "/console/provider");

    // Who (0 acme, 1 the official, 2 the provider's staff), where, status, what the page says.
    let rows = [
        (
            0,
            "/console/authority",
            403,
            "the authority console is for officials of an authority; you are signed in as customer acme",
        ),
        (
            0,
            "/console/provider",
            403,
            "the provider console is for the provider's staff; you are signed in as customer acme",
        ),
        (0, "/console/authority/directives/new", 403, "the authority console is for officials"),
        (1, "/portal", 403, "the customer portal is for customers; you are signed in as authority bis (j.doe)"),
        (1, "/console/provider", 403, "the provider console is for the provider"),
        (2, "/console/authority", 403, "the authority console is for officials"),
        (1, "/console/authority", 200, "Queue of bis"),
        (2, "/console/provider", 200, "frontier"),
        (0, "/portal/no-such-page", 404, "no page at"),
    ];
    let mut people = [acme, official, staff];
    for (who, path, status, text) in rows {
        let answer = people[who].get(path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(text), "{path}: {}", answer.body);
    }
    let [mut acme, _, _] = people;
    // A post to another role's form is refused the same way, and changes nothing.
    let csrf = acme.get("/portal").await.csrf();
    let answer = acme
        .post("/console/authority/models/frontier/review", &[("csrf", &csrf), ("verdict", "object"), ("reasons", "x")])
        .await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn a_disabled_account_is_signed_out_at_once() {
    let app = spawn_app().await;
    let world = world(&app).await;
    let mut acme = Person::new(&app);
    acme.sign_in("acme-ops", PASSWORD).await;
    assert_eq!(acme.get("/portal").await.status, 200);
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/accounts/acme-ops/disable", &world.acme_key, Some(json!({ "reason": "left" })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(acme.get("/portal").await.status, 303);
    assert_eq!(Person::new(&app).sign_in("acme-ops", PASSWORD).await.status, 401);
}

#[tokio::test]
async fn a_person_changes_their_own_password_and_only_theirs() {
    const NEW: &str = "a much longer new passphrase";
    let app = spawn_app().await;
    let world = world(&app).await;
    let mut official = Person::new(&app);
    assert_eq!(official.sign_in("j.doe@bis", PASSWORD).await.status, 303);
    let form = official.get("/account/password").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"autocomplete="new-password""#), "{}", form.body);
    assert!(form.body.contains(r#"<a href="/account/password">password</a>"#), "{}", form.body);

    // (current, new, repeated, status, message on the page): each refusal names its problem and
    // changes nothing.
    let rows = [
        ("wrong current password", NEW, NEW, 400, "the current password is wrong"),
        (PASSWORD, NEW, "something else entirely", 400, "the new password and its repetition differ"),
        (PASSWORD, "short", "short", 400, "the password must be at least 12 characters"),
        (PASSWORD, NEW, NEW, 200, "Your password was changed."),
    ];
    for (current, new, repeated, status, message) in rows {
        let answer = official
            .submit(
                "/account/password",
                "/account/password",
                &[("current", current), ("new", new), ("repeat", repeated)],
            )
            .await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert!(answer.body.contains(message), "{message}: {}", answer.body);
    }
    // Without the session's CSRF token, nothing happens.
    let forged = official.post("/account/password", &[("current", NEW), ("new", PASSWORD), ("repeat", PASSWORD)]).await;
    assert_eq!(forged.status, 403);
    // The old password no longer signs in; the new one does. The log has the change, not the hash.
    assert_eq!(Person::new(&app).sign_in("j.doe@bis", PASSWORD).await.status, 401);
    assert_eq!(Person::new(&app).sign_in("j.doe@bis", NEW).await.status, 303);
    let (_, events) = app.admin(Method::GET, "/admin/v1/events?limit=1000", &app.provider_token, None).await;
    let changed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "account_password_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{events}");
    assert!(!events.to_string().contains("argon2"), "a password hash was published");

    // Through the API: a customer for its own account, never another's; the provider for anyone.
    let app = &app;
    let change = |login: &str, token: &str| {
        let path = format!("/admin/v1/accounts/{login}/password");
        let token = token.to_owned();
        async move { app.admin(Method::POST, &path, &token, Some(json!({ "password": NEW }))).await }
    };
    assert_eq!(change("acme-ops", &world.acme_key).await.0, 200);
    let (status, body) = change("globex-ops", &world.acme_key).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("may not change someone else's password"), "{body}");
    assert_eq!(change("globex-ops", &app.provider_token).await.0, 200);
    let (status, body) = app
        .admin(Method::POST, "/admin/v1/accounts/acme-ops/password", &world.acme_key, Some(json!({ "password": "x" })))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(Person::new(app).sign_in("acme-ops", NEW).await.status, 303);
}

/// A password change ends every session started with the old password, on whichever route it
/// is made, except the portal session that made it.
#[tokio::test]
async fn a_password_change_signs_the_account_out_everywhere_else() {
    const NEW: &str = "a much longer new passphrase";
    const NEWER: &str = "and an even longer passphrase";
    let app = spawn_app().await;
    let world = world(&app).await;
    let (mut laptop, mut phone) = (Person::new(&app), Person::new(&app));
    assert_eq!(laptop.sign_in("acme-ops", PASSWORD).await.status, 303);
    assert_eq!(phone.sign_in("acme-ops", PASSWORD).await.status, 303);
    assert_eq!(phone.get("/portal").await.status, 200);

    let answer = laptop
        .submit("/account/password", "/account/password", &[("current", PASSWORD), ("new", NEW), ("repeat", NEW)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(laptop.get("/portal").await.status, 200, "the session that changed the password ended");
    assert_eq!(phone.get("/portal").await.status, 303, "a session with the old password carried on");
    assert_eq!(phone.sign_in("acme-ops", NEW).await.status, 303);
    assert_eq!(phone.get("/portal").await.status, 200);

    // Through the API (here the customer's own key): every portal session ends.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/accounts/acme-ops/password",
            &world.acme_key,
            Some(json!({ "password": NEWER })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(laptop.get("/portal").await.status, 303);
    assert_eq!(phone.get("/portal").await.status, 303);
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure_and_host_only() {
    let app = spawn_app_with(|settings| settings.public_base_url = Some("https://gate.example".to_owned())).await;
    world(&app).await;
    let mut acme = Person::new(&app);
    let answer = acme.sign_in("acme-ops", PASSWORD).await;
    let session = answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(session.contains("__Host-portcullis_session="), "{session}");
    assert!(session.contains("; Secure"), "{session}");
    // The origin check accepts the public origin.
    let csrf = acme.get("/portal/keys").await.csrf();
    let answer = acme
        .send(
            acme.client
                .post(app.url("/portal/keys"))
                .header("origin", "https://gate.example")
                .form(&[("csrf", csrf.as_str()), ("label", "x")]),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// The process through the pages alone, over HTTP: what each form does, and a refused form shown
/// again with the core's message beside it.
#[tokio::test]
async fn the_process_runs_through_the_pages() {
    let app = spawn_app().await;
    let world = world(&app).await;
    let mut acme = Person::new(&app);
    acme.sign_in("acme-ops", PASSWORD).await;

    // The criteria check, before applying: acme's own attributes against each clause.
    let apply = acme.get("/portal/apply?model=frontier").await;
    assert!(apply.body.contains("Your attributes meet these criteria"), "{}", apply.body);
    assert!(apply.body.contains("<code>kyc-verified</code>"), "{}", apply.body);
    let mut globex = Person::new(&app);
    globex.sign_in("globex-ops", PASSWORD).await;
    assert!(
        globex.get("/portal/apply?model=frontier").await.body.contains("Your attributes do not meet these criteria")
    );

    let empty = acme.submit("/portal/apply", "/portal/apply", &[("model", "frontier"), ("purpose", " ")]).await;
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("purpose is required"), "{}", empty.body);
    let applied =
        acme.submit("/portal/apply", "/portal/apply", &[("model", "frontier"), ("purpose", "Drug discovery")]).await;
    assert_eq!(applied.status, 303, "{}", applied.body);
    let application_page = applied.location().split('?').next().unwrap().to_owned();
    let id = application_page.rsplit('/').next().unwrap().to_owned();
    assert!(acme.get(&application_page).await.body.contains("submitted"));
    // Another customer cannot see it.
    assert_eq!(globex.get(&application_page).await.status, 404);

    let mut jdoe = Person::new(&app);
    jdoe.sign_in("j.doe@bis", PASSWORD).await;
    let queue = jdoe.get("/console/authority").await;
    assert!(queue.body.contains(&id), "{}", queue.body);
    let page = format!("/console/authority/applications/{id}");
    assert_eq!(jdoe.submit(&page, &format!("{page}/review"), &[]).await.status, 303);
    // A sign-off without a clause is refused by the core; the form comes back with the message
    // and what was typed.
    let refused = jdoe
        .submit(&page, &format!("{page}/signoff"), &[("verdict", "approve"), ("reasons", "Meets the criteria")])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    assert!(refused.body.contains("clause"), "{}", refused.body);
    assert!(refused.body.contains(">Meets the criteria</textarea>"), "{}", refused.body);
    let signed = jdoe
        .submit(
            &page,
            &format!("{page}/signoff"),
            &[
                ("verdict", "approve"),
                ("reasons", "Meets the criteria"),
                ("clauses", "kyc-verified"),
                ("evidence_description", "KYC report"),
                ("evidence_disclosure", "subject"),
                ("evidence_document", "Acme passed KYC on 2026-10-01."),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let mut aroe = Person::new(&app);
    aroe.sign_in("a.roe@aisi", PASSWORD).await;
    let signed = aroe
        .submit(
            &page,
            &format!("{page}/signoff"),
            &[("verdict", "approve"), ("reasons", "Agreed"), ("clauses", "kyc-verified")],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);

    // The customer sees the decision with its reasons and the evidence disclosed to it.
    let decided = acme.get(&application_page).await.body;
    assert!(decided.contains("Decision: approved"), "{decided}");
    assert!(decided.contains("Meets the criteria"), "{decided}");
    let evidence_link = decided.find("/portal/evidence/").expect("no evidence link");
    let evidence_path: String = decided[evidence_link..].chars().take_while(|c| *c != '"').collect();
    let document = acme.get(&evidence_path).await;
    assert_eq!((document.status, document.body.as_str()), (200, "Acme passed KYC on 2026-10-01."));
    assert_eq!(globex.get(&evidence_path).await.status, 404, "another customer reads subject evidence");
    assert!(acme.get("/portal").await.body.contains("allowed"));
    assert_eq!(app.chat(&world.acme_key, "frontier", None, "hello").await.0, 200);

    // The provider console moves a stage; an impossible move is shown with the core's message.
    let mut staff = Person::new(&app);
    staff.sign_in("ops-staff", PASSWORD).await;
    let model_page = "/console/provider/models/frontier";
    let refused =
        staff.submit(model_page, &format!("{model_page}/stage"), &[("to", "review"), ("reason", "again")]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("cannot move to"), "{}", refused.body);
    let moved =
        staff.submit(model_page, &format!("{model_page}/stage"), &[("to", "general"), ("reason", "launch")]).await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert!(staff.get(model_page).await.body.contains("preview → general"));

    // A directive is issued only with the impact of exactly its scope and condition shown.
    let new = "/console/authority/directives/new";
    let draft = [
        ("id", "EC-9"),
        ("legal_basis", "15 CFR 744"),
        ("description", "US nationals only"),
        ("models", "frontier"),
        ("policies", DIRECTIVE),
        ("emergency_justification", "same-day order"),
        ("evidence_description", "assessment"),
        ("evidence_disclosure", "withheld"),
        ("evidence_reason", "classified"),
    ];
    let mut issue_blind = draft.to_vec();
    issue_blind.push(("action", "issue"));
    let blind = jdoe.submit(new, new, &issue_blind).await;
    assert_eq!(blind.status, 409, "{}", blind.body);
    assert!(blind.body.contains("review the impact below, then issue"), "{}", blind.body);
    assert_eq!(app.client.get(app.url("/admin/v1/directives/EC-9")).send().await.unwrap().status().as_u16(), 404);
    let mut show = draft.to_vec();
    show.push(("action", "impact"));
    let shown = jdoe.submit(new, new, &show).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains(r#"<strong id="impact-customers">1</strong>"#), "{}", shown.body);
    let at = shown.body.find(r#"name="impact_of" value=""#).unwrap() + r#"name="impact_of" value=""#.len();
    let fingerprint = shown.body[at..at + 64].to_owned();
    // The condition changed after the impact was shown: the new impact is shown, nothing issued.
    let mut changed = draft.to_vec();
    changed.retain(|(k, _)| *k != "policies");
    changed.extend([
        ("policies", "forbid (principal, action, resource) when { principal has kyc };"),
        ("action", "issue"),
        ("impact_of", &fingerprint),
    ]);
    assert_eq!(jdoe.submit(new, new, &changed).await.status, 409);
    let mut issue = draft.to_vec();
    issue.extend([("action", "issue"), ("impact_of", &fingerprint)]);
    let issued = jdoe.submit(new, new, &issue).await;
    assert_eq!(
        (issued.status, issued.location()),
        (303, "/console/authority?done=issued#directives"),
        "{}",
        issued.body
    );
    assert_eq!(app.client.get(app.url("/admin/v1/directives/EC-9")).send().await.unwrap().status().as_u16(), 200);
}

/// The story of issue #7 in a real browser: see `tests/browser/story.mjs`.
#[tokio::test]
async fn portal_story_in_headless_chromium() {
    let browser = browser_dir();
    preflight(&browser);
    let app = spawn_app().await;
    world(&app).await;
    wait_for_checkpoint(&app).await;
    let output = tokio::task::spawn_blocking({
        let base = app.address.clone();
        let script = browser.join("story.mjs");
        move || Command::new("node").arg(script).arg(base).arg(PASSWORD).output()
    })
    .await
    .unwrap()
    .expect("could not run `node`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser story failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("story: all checks passed"), "{stdout}");
}
