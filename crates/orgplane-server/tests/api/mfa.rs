//! TOTP second factor: enrolment, confirmation, sign-in with a code or a recovery code, disabling.

use orgplane_domain::mfa::code_for_base32;
use orgplane_testkit::{PASSWORD, TestApp, both_backends};
use serde_json::{Value, json};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn grant(app: &TestApp, email: &str, mfa: Option<&str>) -> (u16, Value) {
    let mut body = json!({"grant_type": "password", "username": email, "password": PASSWORD});
    if let Some(code) = mfa {
        body["mfa_code"] = json!(code);
    }
    let res = app.call("POST", "/oauth/token", None, Some(body)).await;
    (res.status.as_u16(), res.json)
}

both_backends!(totp_enrolment_sign_in_and_recovery, |app| {
    let t = app.signup("mfa@example.com").await;
    let e = app.call("POST", "/auth/mfa/totp", Some(&t.token), None).await;
    e.assert_ok();
    let secret = e.item()["secret"].as_str().unwrap().to_string();
    assert!(e.item()["otpauthUri"].as_str().unwrap().starts_with("otpauth://totp/"));
    assert!(e.item()["qrSvg"].as_str().unwrap().contains("<svg"));
    // Not active before confirmation: sign-in needs no code yet.
    assert_eq!(grant(&app, "mfa@example.com", None).await.0, 200);

    app.post("/auth/mfa/totp/confirm", &t.token, json!({"code": "000000"})).await.assert_error(
        400,
        "INVALID_MFA_CODE",
        Some("body.code"),
    );
    let code = code_for_base32(&secret, now()).unwrap();
    let confirmed = app.post("/auth/mfa/totp/confirm", &t.token, json!({"code": code})).await;
    confirmed.assert_ok();
    let recovery: Vec<String> = serde_json::from_value(confirmed.item()["recoveryCodes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    app.post("/auth/mfa/totp/confirm", &t.token, json!({"code": code})).await.assert_error(
        400,
        "MFA_ALREADY_ENABLED",
        None,
    );
    let users = app.get("/setup/organization/user", &t.token).await;
    assert_eq!(users.item()["mfa"], true);

    // Sign-in now asks for the second factor.
    let (status, body) = grant(&app, "mfa@example.com", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["response"]["errors"][0]["code"], "MFA_REQUIRED");
    let (status, body) = grant(&app, "mfa@example.com", Some("123456")).await;
    assert_eq!((status, body["response"]["errors"][0]["code"].as_str()), (400, Some("INVALID_MFA_CODE")));
    // The code used to confirm cannot be used again (same time step).
    assert_eq!(grant(&app, "mfa@example.com", Some(&code)).await.0, 400);
    // A recovery code works once.
    assert_eq!(grant(&app, "mfa@example.com", Some(&recovery[0].to_uppercase())).await.0, 200);
    assert_eq!(grant(&app, "mfa@example.com", Some(&recovery[0])).await.0, 400);

    // Disabling needs a valid second factor.
    app.call("DELETE", "/auth/mfa/totp", Some(&t.token), Some(json!({"code": "zzzz-zzzz"}))).await.assert_error(
        400,
        "INVALID_MFA_CODE",
        Some("body.code"),
    );
    app.call("DELETE", "/auth/mfa/totp", Some(&t.token), Some(json!({"code": recovery[1]}))).await.assert_ok();
    assert_eq!(grant(&app, "mfa@example.com", None).await.0, 200);
    assert_eq!(app.get("/setup/organization/user", &t.token).await.item()["mfa"], false);
    app.call("DELETE", "/auth/mfa/totp", Some(&t.token), Some(json!({"code": "123456"}))).await.assert_error(
        400,
        "MFA_NOT_ENABLED",
        None,
    );
});

both_backends!(a_code_from_another_users_secret_is_refused, |app| {
    let a = app.signup("mfa-a@example.com").await;
    let b = app.signup("mfa-b@example.com").await;
    let secret_a =
        app.call("POST", "/auth/mfa/totp", Some(&a.token), None).await.item()["secret"].as_str().unwrap().to_string();
    let secret_b =
        app.call("POST", "/auth/mfa/totp", Some(&b.token), None).await.item()["secret"].as_str().unwrap().to_string();
    // B cannot confirm with A's authenticator.
    app.post("/auth/mfa/totp/confirm", &b.token, json!({"code": code_for_base32(&secret_a, now()).unwrap()}))
        .await
        .assert_error(400, "INVALID_MFA_CODE", Some("body.code"));
    app.post("/auth/mfa/totp/confirm", &b.token, json!({"code": code_for_base32(&secret_b, now()).unwrap()}))
        .await
        .assert_ok();
    assert_ne!(secret_a, secret_b);
});

both_backends!(an_organization_can_require_mfa_and_reset_a_members, |app| {
    let t = app.signup("require-admin@example.com").await;
    let member = app
        .post("/setup/user?generateToken=true", &t.token, json!({"firstName": "M", "lastName": "F", "email": "require-member@example.com", "password": PASSWORD, "role": "viewer"}))
        .await;
    let (member_id, member_token) = (
        member.item()["userId"].as_str().unwrap().to_string(),
        member.item()["personalAccessToken"].as_str().unwrap().to_string(),
    );
    let path = format!("/setup/organization/{}/security", t.org_id);
    app.put(&path, &member_token, json!({"requireMfa": true})).await.assert_error(403, "FORBIDDEN", None);
    app.put(&path, &t.token, json!({"requireMfa": "yes"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.requireMfa"),
    );
    app.put(&path, &t.token, json!({"requireMfa": true})).await.assert_ok();

    // Members without a second factor may only enrol (the admin too).
    app.get("/setup/account", &member_token).await.assert_error(403, "MFA_ENROLMENT_REQUIRED", None);
    app.get("/setup/organization", &t.token).await.assert_error(403, "MFA_ENROLMENT_REQUIRED", None);
    let secret = app.call("POST", "/auth/mfa/totp", Some(&member_token), None).await.item()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/auth/mfa/totp/confirm", &member_token, json!({"code": code_for_base32(&secret, now()).unwrap()}))
        .await
        .assert_ok();
    app.get("/setup/account", &member_token).await.assert_ok();

    // The admin enrols too, then resets the member's second factor: the member must enrol again.
    let admin_secret =
        app.call("POST", "/auth/mfa/totp", Some(&t.token), None).await.item()["secret"].as_str().unwrap().to_string();
    app.post("/auth/mfa/totp/confirm", &t.token, json!({"code": code_for_base32(&admin_secret, now()).unwrap()}))
        .await
        .assert_ok();
    app.delete(&format!("/setup/user/{member_id}/mfa"), &member_token).await.assert_error(403, "FORBIDDEN", None);
    app.delete(&format!("/setup/user/{member_id}/mfa"), &t.token).await.assert_ok();
    app.get("/setup/account", &member_token).await.assert_error(403, "MFA_ENROLMENT_REQUIRED", None);
    app.delete(&format!("/setup/user/{member_id}/mfa"), &t.token).await.assert_error(400, "MFA_NOT_ENABLED", None);

    // Someone who also belongs to another organization is not reset from this one.
    let other = app.signup("two-orgs@example.com").await;
    app.post(
        "/setup/user",
        &t.token,
        json!({"firstName": "T", "lastName": "O", "email": "two-orgs@example.com", "role": "viewer"}),
    )
    .await
    .assert_ok();
    let s = app.call("POST", "/auth/mfa/totp", Some(&other.token), None).await.item()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/auth/mfa/totp/confirm", &other.token, json!({"code": code_for_base32(&s, now()).unwrap()}))
        .await
        .assert_ok();
    app.delete(&format!("/setup/user/{}/mfa", other.user_id), &t.token).await.assert_error(
        400,
        "MFA_RESET_NOT_ALLOWED",
        None,
    );
});
