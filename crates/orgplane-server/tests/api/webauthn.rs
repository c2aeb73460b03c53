//! Security keys as a second factor, driven by a software authenticator (webauthn-authenticator-rs)
//! playing the browser and the key.

use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

type Key = WebauthnAuthenticator<SoftPasskey>;

fn origin() -> url::Url {
    url::Url::parse("http://localhost:8080").unwrap()
}

fn new_key() -> Key {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// Registers `key` for the token's owner; returns the confirm response's item.
async fn register(app: &TestApp, token: &str, key: &mut Key, name: &str) -> Value {
    let start = app.post("/auth/mfa/webauthn/register", token, json!({})).await;
    start.assert_ok();
    let options = serde_json::from_value(start.item()["options"].clone()).unwrap();
    let credential = key.do_registration(origin(), options).unwrap();
    let res = app
        .post(
            "/auth/mfa/webauthn/register/confirm",
            token,
            json!({"challengeId": start.item()["challengeId"], "name": name, "credential": credential}),
        )
        .await;
    res.assert_ok();
    res.item().clone()
}

/// The first sign-in step: a challenge for the person's keys.
async fn challenge(app: &TestApp, email: &str) -> (String, Value) {
    let res = app
        .call("POST", "/auth/mfa/webauthn/challenge", None, Some(json!({"username": email, "password": PASSWORD})))
        .await;
    res.assert_ok();
    (res.item()["challengeId"].as_str().unwrap().to_string(), res.item()["options"].clone())
}

fn signed(key: &mut Key, options: &Value) -> Value {
    serde_json::to_value(key.do_authentication(origin(), serde_json::from_value(options.clone()).unwrap()).unwrap())
        .unwrap()
}

async fn sign_in(app: &TestApp, email: &str, challenge_id: &str, response: &Value) -> orgplane_testkit::TestResponse {
    let body = json!({"grant_type": "password", "username": email, "password": PASSWORD,
        "webauthn_challenge_id": challenge_id, "webauthn_response": response});
    app.call("POST", "/oauth/token", None, Some(body)).await
}

both_backends!(a_security_key_is_the_second_factor_of_the_password_grant, |app| {
    let t = app.signup("keyholder@example.com").await;
    let mut key = new_key();
    let registered = register(&app, &t.token, &mut key, "YubiKey").await;
    assert_eq!(registered["name"], "YubiKey");
    let codes = registered["recoveryCodes"].as_array().expect("recovery codes with the first factor");
    assert_eq!(codes.len(), 10);
    let listed = app.get("/auth/mfa/webauthn", &t.token).await;
    assert_eq!(listed.items().len(), 1);
    assert!(listed.item()["recoveryCodes"].is_null());
    let users = app.get("/setup/organization/user", &t.token).await;
    assert_eq!(users.items().iter().find(|u| u["userId"] == t.user_id.as_str()).unwrap()["mfa"], true);

    // The password alone no longer signs in.
    let plain = json!({"grant_type": "password", "username": t.email, "password": PASSWORD});
    app.call("POST", "/oauth/token", None, Some(plain)).await.assert_error(400, "MFA_REQUIRED", Some("body.mfa_code"));
    let (id, options) = challenge(&app, &t.email).await;
    let response = signed(&mut key, &options);
    let ok = sign_in(&app, &t.email, &id, &response).await;
    ok.assert_ok();
    let token = ok.item()["accessToken"].as_str().unwrap();
    app.get("/setup/account", token).await.assert_ok();
    assert!(app.get("/auth/mfa/webauthn", &t.token).await.item()["lastUsedAt"].is_string());

    // A challenge answers once.
    sign_in(&app, &t.email, &id, &response).await.assert_error(
        400,
        "INVALID_WEBAUTHN_CHALLENGE",
        Some("body.challengeId"),
    );
    // A recovery code also works for a person with only a key.
    let with_code = json!({"grant_type": "password", "username": t.email, "password": PASSWORD, "mfa_code": codes[0]});
    app.call("POST", "/oauth/token", None, Some(with_code.clone())).await.assert_ok();
    app.call("POST", "/oauth/token", None, Some(with_code)).await.assert_error(
        400,
        "INVALID_MFA_CODE",
        Some("body.mfa_code"),
    );
});

both_backends!(another_persons_key_or_challenge_does_not_pass, |app| {
    let a = app.signup("key-a@example.com").await;
    let b = app.signup("key-b@example.com").await;
    let (mut key_a, mut key_b) = (new_key(), new_key());
    register(&app, &a.token, &mut key_a, "A's key").await;
    register(&app, &b.token, &mut key_b, "B's key").await;

    // B's signature over B's own challenge, offered as A's second factor.
    let (b_id, b_options) = challenge(&app, &b.email).await;
    let b_response = signed(&mut key_b, &b_options);
    sign_in(&app, &a.email, &b_id, &b_response).await.assert_error(
        400,
        "INVALID_WEBAUTHN_CHALLENGE",
        Some("body.challengeId"),
    );
    // A's challenge signed by B's key: B's authenticator holds no key for it, and a response
    // it made for another challenge is refused.
    let (a_id, a_options) = challenge(&app, &a.email).await;
    assert!(key_b.do_authentication(origin(), serde_json::from_value(a_options).unwrap()).is_err());
    let (b_id2, b_options2) = challenge(&app, &b.email).await;
    let stray = signed(&mut key_b, &b_options2);
    sign_in(&app, &a.email, &a_id, &stray).await.assert_error(
        400,
        "INVALID_WEBAUTHN_RESPONSE",
        Some("body.webauthn_response"),
    );
    // B's challenge was not consumed by A's attempt.
    sign_in(&app, &b.email, &b_id2, &stray).await.assert_ok();
    // Neither list shows the other's key.
    assert_eq!(app.get("/auth/mfa/webauthn", &a.token).await.item()["name"], "A's key");
});

both_backends!(bad_webauthn_input_gets_precise_errors, |app| {
    let t = app.signup("keybad@example.com").await;
    // No key yet.
    let body = json!({"username": t.email, "password": PASSWORD});
    app.call("POST", "/auth/mfa/webauthn/challenge", None, Some(body)).await.assert_error(
        400,
        "WEBAUTHN_NOT_ENABLED",
        None,
    );
    let wrong = json!({"username": t.email, "password": "wrong-password-1"});
    app.call("POST", "/auth/mfa/webauthn/challenge", None, Some(wrong)).await.assert_error(
        400,
        "INVALID_CREDENTIALS",
        Some("body.username"),
    );

    let start = app.post("/auth/mfa/webauthn/register", &t.token, json!({})).await;
    let id = start.item()["challengeId"].clone();
    let garbage = json!({"challengeId": id, "name": "Key", "credential": {"id": "nope"}});
    app.post("/auth/mfa/webauthn/register/confirm", &t.token, garbage).await.assert_error(
        400,
        "INVALID_WEBAUTHN_RESPONSE",
        Some("body.credential"),
    );
    // The failed attempt used the challenge up.
    let mut key = new_key();
    let options = serde_json::from_value(start.item()["options"].clone()).unwrap();
    let credential = key.do_registration(origin(), options).unwrap();
    let again = json!({"challengeId": id, "name": "Key", "credential": credential});
    app.post("/auth/mfa/webauthn/register/confirm", &t.token, again).await.assert_error(
        400,
        "INVALID_WEBAUTHN_CHALLENGE",
        Some("body.challengeId"),
    );
    let unnamed = json!({"challengeId": "wch-0", "name": "", "credential": {}});
    app.post("/auth/mfa/webauthn/register/confirm", &t.token, unnamed).await.assert_error(
        400,
        "ValidationError",
        Some("body.name"),
    );

    let key_id = register(&app, &t.token, &mut key, "Kept").await["id"].as_str().unwrap().to_string();
    let path = format!("/auth/mfa/webauthn/{key_id}");
    app.call("DELETE", &path, Some(&t.token), Some(json!({"password": "not-my-password"}))).await.assert_error(
        400,
        "INVALID_CREDENTIALS",
        Some("body.password"),
    );
    app.call("DELETE", "/auth/mfa/webauthn/unknown", Some(&t.token), Some(json!({"password": PASSWORD})))
        .await
        .assert_error(404, "WEBAUTHN_KEY_DOESNT_EXIST", Some("path.keyId"));
    app.call("DELETE", &path, Some(&t.token), Some(json!({"password": PASSWORD}))).await.assert_ok();
    // With the last factor gone, the password signs in alone again.
    app.password_token(&t.email, None).await;
});

both_backends!(admins_reset_keys_and_required_mfa_accepts_a_key, |app| {
    let admin = app.signup("key-admin@example.com").await;
    let member = app.signup("key-member@example.com").await;
    let member_token = crate::add_member(&app, &admin, &member).await;
    // Leave the member in the admin's organization only, so an admin may reset them.
    let store = app.store();
    let own = orgplane_domain::ids::OrgId::parse(&member.org_id).unwrap();
    store.delete_org(own).await.unwrap();
    // The admin has a key already, as the requirement applies to them too.
    register(&app, &admin.token, &mut new_key(), "Admin key").await;
    app.put(&format!("/setup/organization/{}/security", admin.org_id), &admin.token, json!({"requireMfa": true}))
        .await
        .assert_ok();
    app.get("/setup/account", &member_token).await.assert_error(403, "MFA_ENROLMENT_REQUIRED", None);
    let mut key = new_key();
    register(&app, &member_token, &mut key, "Member key").await;
    app.get("/setup/account", &member_token).await.assert_ok();

    app.delete(&format!("/setup/user/{}/mfa", member.user_id), &admin.token).await.assert_ok();
    assert!(app.get("/auth/mfa/webauthn", &member_token).await.items().is_empty());
    app.get("/setup/account", &member_token).await.assert_error(403, "MFA_ENROLMENT_REQUIRED", None);
    let events = app
        .get(
            &format!(
                "/audit/events?fromDate=0&toDate=99999999999999&action=setup:updateUser&resourceId={}",
                member.user_id
            ),
            &admin.token,
        )
        .await;
    assert_eq!(events.item()["actionType"], "Reset user MFA");
});

both_backends!(an_ip_public_url_turns_security_keys_off_clearly, |app| {
    let config = orgplane_server::ServerConfig { public_url: "http://127.0.0.1:8080".into(), ..Default::default() };
    let Some(app) = TestApp::spawn_with(app.backend, config).await else { return };
    let t: Tenant = app.signup("noip@example.com").await;
    app.post("/auth/mfa/webauthn/register", &t.token, json!({})).await.assert_error(400, "WEBAUTHN_UNAVAILABLE", None);
});
