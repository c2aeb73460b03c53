//! The web console over its HTTP surface: sessions (cookie flags, sign-out, idle expiry, not
//! usable as an API token), CSRF, the same authorisation as the API, tenancy, and the audit
//! source. The browser test (tests/e2e) drives the same pages in Chromium.

use axum::body::Body;
use axum::http::Request;
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::secret::{self, TokenKind};
use orgplane_testkit::{PASSWORD, TestApp, TestResponse, both_backends};
use serde_json::json;

const ORIGIN: &str = "http://console.test";

/// A browser: the session cookie it holds, and how it sends forms.
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    fn new() -> Browser {
        Browser { cookie: None }
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut req = Request::builder().method(method).uri(path).header("host", "console.test");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("orgplane_session={c}"));
        }
        req
    }

    async fn get(&self, app: &TestApp, path: &str) -> TestResponse {
        app.send(self.request("GET", path).body(Body::empty()).unwrap()).await
    }

    /// A same-origin form post; `csrf` adds the session's token as the form field.
    async fn post(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)], csrf: bool) -> TestResponse {
        let mut fields: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if csrf {
            fields.push(("_csrf".into(), self.csrf()));
        }
        let body = serde_urlencoded::to_string(&fields).unwrap();
        let req = self
            .request("POST", path)
            .header("origin", ORIGIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let res = app.send(req).await;
        self.keep_cookie(&res);
        res
    }

    fn keep_cookie(&mut self, res: &TestResponse) {
        for v in res.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("orgplane_session=") {
                let value = rest.split(';').next().unwrap();
                self.cookie = (!value.is_empty()).then(|| value.to_string());
            }
        }
    }

    /// The CSRF token the pages embed for this session.
    fn csrf(&self) -> String {
        orgplane_server::console::session::csrf_token(self.cookie.as_deref().unwrap_or_default())
    }

    async fn sign_in(&mut self, app: &TestApp, email: &str) {
        let res = self.post(app, "/console/signin", &[("email", email), ("password", PASSWORD)], false).await;
        assert_eq!(res.status, 303, "{}", res.json);
        assert!(self.cookie.is_some(), "signed in");
    }
}

fn html(res: &TestResponse) -> &str {
    res.json.as_str().unwrap_or_default()
}

both_backends!(sign_in_sets_a_session_cookie_only_the_console_accepts, |app| {
    let t = app.signup("console@example.com").await;
    let mut b = Browser::new();
    // Wrong password: the form comes back with the error beside the email field.
    let res = b.post(&app, "/console/signin", &[("email", "console@example.com"), ("password", "nope")], false).await;
    assert_eq!(res.status, 422);
    assert!(html(&res).contains("wrong email or password"), "{}", html(&res));
    assert!(b.cookie.is_none());

    let res = b.post(&app, "/console/signin", &[("email", "console@example.com"), ("password", PASSWORD)], false).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.headers["location"], "/console/");
    let set_cookie = res.headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"));
    assert!(!set_cookie.contains("Secure"), "plain http: no Secure flag");
    let secret = b.cookie.clone().unwrap();
    assert!(secret.starts_with(secret::SESSION_PREFIX));

    let home = b.get(&app, "/console/").await;
    assert_eq!(home.status, 200);
    assert!(html(&home).contains("Org of console@example.com") && html(&home).contains(&t.org_id));
    assert_eq!(home.headers["cache-control"], "no-store");
    // Only the hash is stored; the secret is not an API token.
    let stored = app.db.raw_texts("SELECT hash FROM tokens WHERE kind = 'session'").await;
    assert_eq!(stored, vec![secret::token_hash(&secret)]);
    app.get("/setup/account", &secret).await.assert_unauthenticated();
    // Without a session, pages send the browser to sign in.
    let res = Browser::new().get(&app, "/console/users").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.headers["location"], "/console/signin");
});

both_backends!(unsafe_requests_need_this_origin_and_the_csrf_token, |app| {
    app.signup("csrf@example.com").await;
    let mut b = Browser::new();
    b.sign_in(&app, "csrf@example.com").await;
    // No token: refused, nothing created.
    let res = b.post(&app, "/console/tokens", &[("name", "forged")], false).await;
    assert_eq!(res.status, 403);
    // Another site's page, even with a token.
    let req = b
        .request("POST", "/console/tokens")
        .header("origin", "http://evil.test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("name=forged&_csrf={}", b.csrf())))
        .unwrap();
    assert_eq!(app.send(req).await.status, 403);
    let req = b
        .request("POST", "/console/tokens")
        .header("sec-fetch-site", "cross-site")
        .header("x-csrf-token", b.csrf())
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, 403);
    // No Origin and no Sec-Fetch-Site: not a browser form.
    let req = b.request("POST", "/console/signout").body(Body::from(format!("_csrf={}", b.csrf()))).unwrap();
    assert_eq!(app.send(req).await.status, 403);
    assert!(app.db.raw_texts("SELECT name FROM tokens WHERE name IS NOT NULL").await.is_empty());
    // With the token (form field), and with the htmx header.
    let res = b.post(&app, "/console/tokens", &[("name", "real")], true).await;
    assert_eq!(res.status, 200, "{}", html(&res));
    assert!(html(&res).contains("opp_"), "the secret is shown once");
    let req = b
        .request("POST", "/console/tokens")
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", b.csrf())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("name=htmx"))
        .unwrap();
    assert_eq!(app.send(req).await.status, 200);
    let mut names = app.db.raw_texts("SELECT name FROM tokens WHERE name IS NOT NULL").await;
    names.sort();
    assert_eq!(names, vec!["htmx", "real"]);
    // Written through the API, recorded with the console as source.
    let sources = app.db.raw_texts("SELECT source FROM audit_events WHERE action = 'setup:createUserToken'").await;
    assert_eq!(sources, vec!["console", "console"]);
});

both_backends!(sessions_end_on_sign_out_on_password_change_and_when_idle, |app| {
    let t = app.signup("idle@example.com").await;
    let mut b = Browser::new();
    b.sign_in(&app, "idle@example.com").await;
    let old = b.cookie.clone().unwrap();
    let res = b.post(&app, "/console/signout", &[], true).await;
    assert_eq!(res.status, 303);
    assert!(b.cookie.is_none(), "the cookie is cleared");
    let again = Browser { cookie: Some(old) };
    assert_eq!(again.get(&app, "/console/").await.status, 303, "the session ended on the server");

    // Each use slides the expiry to 12 hours from now.
    b.sign_in(&app, "idle@example.com").await;
    b.get(&app, "/console/").await;
    let expires: i64 = app.db.raw_texts("SELECT CAST(expires_at AS TEXT) FROM tokens WHERE kind = 'session'").await[0]
        .parse()
        .unwrap();
    let left = expires - orgplane_testkit::orgplane_store::now_ms();
    assert!(left > TokenKind::SESSION_IDLE_MS - 120_000 && left <= TokenKind::SESSION_IDLE_MS, "{left}");
    // A session idle past its expiry is refused.
    let stale = secret::new_token(TokenKind::Session);
    let user = UserId::parse(&t.user_id).unwrap();
    let org = OrgId::parse(&t.org_id).unwrap();
    app.store()
        .insert_token(
            TokenKind::Session,
            &user,
            org,
            None,
            &stale,
            Some(orgplane_testkit::orgplane_store::now_ms() - 1),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(Browser { cookie: Some(stale.secret) }.get(&app, "/console/").await.status, 303);
    // A password change ends the other sessions.
    let res = app
        .post("/auth/password", &t.token, json!({"currentPassword": PASSWORD, "newPassword": "An0ther$ecret"}))
        .await;
    res.assert_ok();
    assert_eq!(b.get(&app, "/console/").await.status, 303);
});

both_backends!(a_member_sees_no_admin_buttons_and_the_api_refuses_them_anyway, |app| {
    let admin = app.signup("boss@example.com").await;
    let member = app.signup("member@example.com").await;
    crate::add_member(&app, &admin, &member).await;
    let mut b = Browser::new();
    let res = b.post(&app, "/console/signin", &[("email", "member@example.com"), ("password", PASSWORD)], false).await;
    assert_eq!(res.status, 303);
    // The member's first organization is their own; switch to the admin's.
    let res = b.post(&app, "/console/switch/organization", &[("organizationId", &admin.org_id)], true).await;
    assert_eq!(res.status, 303, "{}", html(&res));
    let home = b.get(&app, "/console/").await;
    assert_eq!(home.status, 200, "{}", html(&home));
    assert!(html(&home).contains(&admin.org_id));
    assert!(!html(&home).contains("Add Account"), "no button the member cannot use");
    let admin_home = {
        let mut a = Browser::new();
        a.sign_in(&app, "boss@example.com").await;
        a.get(&app, "/console/").await
    };
    assert!(html(&admin_home).contains("Add Account"), "the admin has it");
    let res = b.post(&app, "/console/accounts/new", &[("name", "Sneaky")], true).await;
    assert_eq!(res.status, 422);
    assert!(html(&res).contains("class=\"alert\""), "{}", html(&res));
    assert!(app.db.raw_texts("SELECT name FROM accounts WHERE name = 'Sneaky'").await.is_empty());
});

both_backends!(the_console_never_crosses_tenants, |app| {
    let a = app.signup("tenant-a@example.com").await;
    let b_tenant = app.signup("tenant-b@example.com").await;
    let mut b = Browser::new();
    b.sign_in(&app, "tenant-a@example.com").await;
    // Switching into an organization one does not belong to is refused.
    let res = b.post(&app, "/console/switch/organization", &[("organizationId", &b_tenant.org_id)], true).await;
    assert_eq!(res.status, 400, "{}", html(&res));
    assert!(html(&res).contains("NOT_A_MEMBER"));
    // Another organization's user, group or policy pages show nothing of it.
    let res = b.get(&app, &format!("/console/users/{}", b_tenant.user_id)).await;
    assert!(res.status.is_client_error(), "{}", res.status);
    assert!(!html(&res).contains("tenant-b@example.com"));
    let users = b.get(&app, "/console/users").await;
    assert!(html(&users).contains("tenant-a@example.com") && !html(&users).contains("tenant-b@example.com"));
    // Acting on B's account through a forged form is refused by the API.
    let res = b
        .post(
            &app,
            &format!("/console/users/{}/accounts", a.user_id),
            &[("accountId", &b_tenant.account_id), ("role", "viewer")],
            true,
        )
        .await;
    assert_eq!(res.status, 422, "{}", html(&res));
    let mapped = app
        .db
        .raw_texts(&format!("SELECT user_id FROM account_permissions WHERE account_id = '{}'", b_tenant.account_id))
        .await;
    assert!(!mapped.contains(&a.user_id), "{mapped:?}");
});
