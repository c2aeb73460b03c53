use crate::add_member;
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::secret::{TokenKind, new_token};
use orgplane_testkit::{PASSWORD, both_backends};
use serde_json::json;

both_backends!(password_grant_has_spot_shape, |app| {
    let t = app.signup("grant@example.com").await;
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": "password", "username": "grant@example.com", "password": PASSWORD})),
        )
        .await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:oauth2:token");
    let item = res.item();
    assert_eq!(item["tokenType"], "bearer");
    assert_eq!(item["expiresIn"], 7200);
    let access = item["accessToken"].as_str().unwrap();
    assert!(item["refreshToken"].is_string());
    let orgs = app.get("/setup/organization", access).await;
    assert_eq!(orgs.item()["organizationId"], t.org_id.as_str());
});

both_backends!(password_grant_accepts_form_encoding, |app| {
    app.signup("form@example.com").await;
    let req = axum::http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("grant_type=password&username=form%40example.com&password=Sup3r%24ecret"))
        .unwrap();
    let res = app.send(req).await;
    res.assert_ok();
    assert!(res.item()["accessToken"].as_str().unwrap().starts_with("opt_"));
});

both_backends!(bad_credentials_are_refused_alike, |app| {
    app.signup("creds@example.com").await;
    for (user, pass) in
        [("creds@example.com", "Wr0ng$pass"), ("nobody@example.com", PASSWORD), ("not an email", PASSWORD)]
    {
        let res = app
            .call(
                "POST",
                "/oauth/token",
                None,
                Some(json!({"grant_type": "password", "username": user, "password": pass})),
            )
            .await;
        res.assert_error(400, "INVALID_CREDENTIALS", Some("body.username"));
    }
    let res = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "password", "username": "creds@example.com"})))
        .await;
    res.assert_error(400, "ValidationError", Some("body.password"));
    let res = app.call("POST", "/oauth/token", None, Some(json!({"grant_type": "client_credentials"}))).await;
    res.assert_error(400, "ValidationError", Some("body.grant_type"));
});

both_backends!(token_is_bound_to_the_requested_organization, |app| {
    let a = app.signup("owner-a@example.com").await;
    let b = app.signup("member-b@example.com").await;
    let in_a = add_member(&app, &a, &b).await;
    // The token acts in A: its account list is A's (filtered to nothing: B is attached to none).
    let res = app.get("/setup/account", &in_a).await;
    res.assert_ok();
    assert_eq!(res.items().len(), 0);
    // Organization ids may be sent as numbers in JSON.
    let res = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "password", "username": b.email, "password": PASSWORD, "organizationId": a.org_id.parse::<i64>().unwrap()})))
        .await;
    res.assert_ok();
    // An organization the person is not in is refused.
    let c = app.signup("other-c@example.com").await;
    let res = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "password", "username": b.email, "password": PASSWORD, "organizationId": c.org_id})))
        .await;
    res.assert_error(400, "NOT_A_MEMBER", Some("body.organizationId"));
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": "password", "username": b.email, "password": PASSWORD, "organizationId": "12"})),
        )
        .await;
    res.assert_error(400, "ValidationError", Some("body.organizationId"));
});

both_backends!(refresh_tokens_are_single_use, |app| {
    app.signup("refresh@example.com").await;
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": "password", "username": "refresh@example.com", "password": PASSWORD})),
        )
        .await;
    let refresh = res.item()["refreshToken"].as_str().unwrap().to_string();
    let again = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "refresh_token", "refresh_token": refresh})))
        .await;
    again.assert_ok();
    let access = again.item()["accessToken"].as_str().unwrap();
    app.get("/setup/account", access).await.assert_ok();
    let replay = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "refresh_token", "refresh_token": refresh})))
        .await;
    replay.assert_error(400, "INVALID_GRANT", Some("body.grant_type"));
    // A refresh token is not an access token.
    let next = again.item()["refreshToken"].as_str().unwrap();
    app.get("/setup/account", next).await.assert_unauthenticated();
});

both_backends!(personal_tokens_are_shown_once_listed_masked_and_revoked_at_once, |app| {
    let t = app.signup("pat@example.com").await;
    let res = app.post("/auth/tokens", &t.token, json!({"name": "ci", "expiresAt": "2999-01-01T00:00:00Z"})).await;
    res.assert_ok();
    let created = res.item().clone();
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("opp_"));
    assert_eq!(created["tokenLastDigits"], &secret[secret.len() - 4..]);
    assert_eq!(created["expiresAt"], "2999-01-01T00:00:00.000Z");
    let token_id = created["tokenId"].as_i64().expect("tokenId is an integer");

    // The new token works, and is then listed without its secret, with its last use recorded.
    app.get("/setup/account", &secret).await.assert_ok();
    let list = app.get("/auth/tokens", &t.token).await;
    list.assert_ok();
    let listed = list.items().iter().find(|i| i["tokenId"] == token_id).expect("listed").clone();
    assert!(listed.get("token").is_none(), "secret leaked in list: {listed}");
    assert_eq!(listed["name"], "ci");
    assert!(listed["lastUsedAt"].is_string(), "{listed}");
    assert!(!list.json.to_string().contains(&secret));

    app.delete(&format!("/auth/tokens/{token_id}"), &t.token).await.assert_ok();
    app.get("/setup/account", &secret).await.assert_unauthenticated();
    app.delete(&format!("/auth/tokens/{token_id}"), &t.token).await.assert_error(
        404,
        "TOKEN_DOESNT_EXIST",
        Some("path.tokenId"),
    );
    app.delete("/auth/tokens/abc", &t.token).await.assert_error(400, "ValidationError", Some("path.tokenId"));
});

both_backends!(personal_token_input_is_checked, |app| {
    let t = app.signup("patbad@example.com").await;
    app.post("/auth/tokens", &t.token, json!({"name": ""})).await.assert_error(
        400,
        "ValidationError",
        Some("body.name"),
    );
    app.post("/auth/tokens", &t.token, json!({"name": "x", "expiresAt": "tomorrow"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.expiresAt"),
    );
    app.post("/auth/tokens", &t.token, json!({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.expiresAt"),
    );
    app.post("/auth/tokens", &t.token, json!({})).await.assert_error(400, "ValidationError", Some("body.name"));
});

both_backends!(missing_unknown_and_expired_tokens_get_a_bare_401, |app| {
    let t = app.signup("401@example.com").await;
    app.call("GET", "/setup/account", None, None).await.assert_unauthenticated();
    app.get("/setup/account", "opp_0000").await.assert_unauthenticated();
    // Expired: minted directly in the store with an expiry in the past.
    let expired = new_token(TokenKind::Personal);
    app.store()
        .insert_token(
            TokenKind::Personal,
            &UserId::parse(&t.user_id).unwrap(),
            OrgId::parse(&t.org_id).unwrap(),
            Some("old"),
            &expired,
            Some(1),
            &Default::default(),
        )
        .await
        .unwrap();
    app.get("/setup/account", &expired.secret).await.assert_unauthenticated();
    // Scheme word in any case; anything else is not a bearer token.
    for header in [format!("bearer {}", t.token), format!("BEARER {}", t.token)] {
        let req = axum::http::Request::get("/setup/account")
            .header("authorization", header)
            .body(axum::body::Body::empty())
            .unwrap();
        app.send(req).await.assert_ok();
    }
    for header in [format!("Basic {}", t.token), t.token.clone(), "Bearer ".to_string()] {
        let req = axum::http::Request::get("/setup/account")
            .header("authorization", header)
            .body(axum::body::Body::empty())
            .unwrap();
        app.send(req).await.assert_unauthenticated();
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_answers_429_with_headers() {
    use orgplane_server::ServerConfig;
    use orgplane_testkit::{Backend, TestApp};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) =
            TestApp::spawn_with(backend, ServerConfig { rate_limit_per_minute: 3, ..Default::default() }).await
        else {
            continue;
        };
        let t = app.signup("limited@example.com").await;
        let other = app.signup("unlimited@example.com").await;
        for left in [2, 1, 0] {
            let res = app.get("/setup/account", &t.token).await;
            res.assert_ok();
            assert_eq!(res.headers["x-ratelimit-limit"], "3");
            assert_eq!(res.headers["x-ratelimit-remaining"], left.to_string().as_str());
            assert!(res.headers.contains_key("x-ratelimit-reset"));
        }
        let res = app.get("/setup/account", &t.token).await;
        assert_eq!(res.status, 429, "{}", res.json);
        assert_eq!(res.error().0, "RATE_LIMIT_EXCEEDED");
        assert!(res.headers.contains_key("retry-after"));
        assert_eq!(res.headers["x-ratelimit-remaining"], "0");
        // Per route and method, and per organization.
        app.get("/setup/organization", &t.token).await.assert_ok();
        app.get("/setup/account", &other.token).await.assert_ok();
    }
}

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

both_backends!(a_programmatic_token_is_exchanged_for_a_temporary_token_with_its_scope, |app| {
    let t = app.signup("exchange@example.com").await;
    let res = app
        .post(
            "/setup/user/programmatic",
            &t.token,
            json!({"name": "ci-bot", "accounts": [{"id": t.account_id, "role": "editor"}]}),
        )
        .await;
    res.assert_ok();
    let bot = UserId::parse(res.item()["id"].as_str().unwrap()).unwrap();
    let permanent = res.item()["token"].as_str().unwrap().to_string();
    // Form-encoded, as OAuth clients send it; no refresh token: the bot exchanges again.
    let req = axum::http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!(
            "grant_type={}&subject_token={permanent}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
            EXCHANGE.replace(':', "%3A")
        )))
        .unwrap();
    let res = app.send(req).await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:oauth2:token");
    assert_eq!(res.item()["expiresIn"], 7200);
    assert!(res.item().get("refreshToken").is_none(), "{}", res.json);
    let temporary = res.item()["accessToken"].as_str().unwrap().to_string();
    assert!(temporary.starts_with("opt_"));
    let accounts = app.get("/setup/account", &temporary).await;
    assert_eq!(accounts.items().len(), 1);
    // It is the bot's: listed nowhere as a permanent token, and it dies with the bot's membership.
    let org = OrgId::parse(&t.org_id).unwrap();
    let permanent_ids: Vec<i64> = app.store().list_tokens_of(&bot, org).await.unwrap().iter().map(|i| i.id).collect();
    assert_eq!(permanent_ids.len(), 1, "only the bot's own permanent token is listed");
    // A read-only programmatic token yields a read-only temporary token.
    let read_only = new_token(TokenKind::Programmatic);
    let scope = orgplane_domain::model::TokenScope { read_only: true, allowed_ips: vec![] };
    app.store().insert_token(TokenKind::Programmatic, &bot, org, Some("ro"), &read_only, None, &scope).await.unwrap();
    let res = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": EXCHANGE, "subjectToken": read_only.secret})))
        .await;
    res.assert_ok();
    let ro_temporary = res.item()["accessToken"].as_str().unwrap().to_string();
    app.get("/setup/account", &ro_temporary).await.assert_ok();
    let write =
        app.put(&format!("/setup/account/{}", t.account_id), &ro_temporary, json!({"account": {"name": "No"}})).await;
    assert_eq!(write.status, 403, "{}", write.json);
    app.put(&format!("/setup/account/{}", t.account_id), &temporary, json!({"account": {"name": "Yes"}}))
        .await
        .assert_ok();
    // Removing the bot ends the temporary tokens it obtained.
    app.delete(&format!("/setup/user/{bot}"), &t.token).await.assert_ok();
    app.get("/setup/account", &temporary).await.assert_unauthenticated();
    let res =
        app.call("POST", "/oauth/token", None, Some(json!({"grant_type": EXCHANGE, "subject_token": permanent}))).await;
    res.assert_error(400, "INVALID_GRANT", Some("body.subject_token"));
});

both_backends!(a_token_exchange_takes_only_a_valid_programmatic_token, |app| {
    let t = app.signup("exchange-bad@example.com").await;
    let temporary = app.password_token("exchange-bad@example.com", None).await;
    let forged = format!("opu_{}", "0".repeat(64));
    // People's tokens (personal, temporary), unknown tokens and junk are refused alike.
    for subject in [t.token.as_str(), temporary.as_str(), forged.as_str(), "junk"] {
        let res = app
            .call("POST", "/oauth/token", None, Some(json!({"grant_type": EXCHANGE, "subject_token": subject})))
            .await;
        res.assert_error(400, "INVALID_GRANT", Some("body.subject_token"));
    }
    let res = app.call("POST", "/oauth/token", None, Some(json!({"grant_type": EXCHANGE}))).await;
    res.assert_error(400, "ValidationError", Some("body.subject_token"));
    let res =
        app.call("POST", "/oauth/token", None, Some(json!({"grant_type": EXCHANGE, "subject_token": "  "}))).await;
    res.assert_error(400, "ValidationError", Some("body.subject_token"));
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": EXCHANGE, "subject_token": t.token, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"})),
        )
        .await;
    res.assert_error(400, "ValidationError", Some("body.subject_token_type"));
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": EXCHANGE, "subject_token": ["not", "a", "string"]})),
        )
        .await;
    res.assert_error(400, "ValidationError", Some("body.subject_token"));
});
