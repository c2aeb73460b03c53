//! Password change, reset by emailed single-use link, invitations (mail is checked in the outbox;
//! its SMTP delivery is tested in orgplane-notify).

use orgplane_domain::ids::UserId;
use orgplane_domain::outbox::{Email, Status};
use orgplane_testkit::{PASSWORD, TestApp, both_backends};
use serde_json::json;

async fn mail_to(app: &TestApp, to: &str) -> Vec<Email> {
    let queued = app.store().outbox_messages(Status::Pending).await.unwrap();
    queued.iter().map(|m| serde_json::from_str::<Email>(&m.payload).unwrap()).filter(|e| e.to == to).collect()
}

fn link_token(email: &Email) -> String {
    let start = email.text.find("token=").expect("a link") + "token=".len();
    email.text[start..].split_whitespace().next().unwrap().to_string()
}

async fn grant(app: &TestApp, email: &str, password: &str) -> u16 {
    app.call(
        "POST",
        "/oauth/token",
        None,
        Some(json!({"grant_type": "password", "username": email, "password": password})),
    )
    .await
    .status
    .as_u16()
}

both_backends!(changing_the_password_ends_other_sessions, |app| {
    let t = app.signup("change@example.com").await;
    let other_session = app.password_token("change@example.com", None).await;
    let personal =
        app.post("/auth/tokens", &t.token, json!({"name": "ci"})).await.item()["token"].as_str().unwrap().to_string();
    app.post("/auth/password", &t.token, json!({"currentPassword": "Wr0ng$pass", "newPassword": "N3w$ecret!"}))
        .await
        .assert_error(400, "INVALID_CREDENTIALS", Some("body.currentPassword"));
    app.post("/auth/password", &t.token, json!({"currentPassword": PASSWORD, "newPassword": "weak"}))
        .await
        .assert_error(400, "WEAK_PASSWORD", Some("body.newPassword"));
    app.post("/auth/password", &t.token, json!({"currentPassword": PASSWORD, "newPassword": "N3w$ecret!"}))
        .await
        .assert_ok();
    app.get("/setup/account", &other_session).await.assert_unauthenticated();
    app.get("/setup/account", &t.token).await.assert_ok();
    app.get("/setup/account", &personal).await.assert_ok();
    assert_eq!(grant(&app, "change@example.com", PASSWORD).await, 400);
    assert_eq!(grant(&app, "change@example.com", "N3w$ecret!").await, 200);
    // (The admin was also told of the new API token: that notice is the other mail.)
    let mail = mail_to(&app, "change@example.com").await;
    assert_eq!(mail.iter().filter(|m| m.subject == "Your orgplane password was changed").count(), 1, "{mail:?}");
});

both_backends!(reset_links_work_once_for_an_hour, |app| {
    app.signup("reset@example.com").await;
    // Unknown addresses get the same answer and no mail.
    app.call("POST", "/auth/password/reset", None, Some(json!({"email": "nobody@example.com"}))).await.assert_ok();
    assert!(mail_to(&app, "nobody@example.com").await.is_empty());
    app.call("POST", "/auth/password/reset", None, Some(json!({"email": "not an email"}))).await.assert_error(
        400,
        "ValidationError",
        Some("body.email"),
    );

    app.call("POST", "/auth/password/reset", None, Some(json!({"email": "RESET@example.com"}))).await.assert_ok();
    let mail = mail_to(&app, "RESET@example.com").await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].text.contains("http://localhost:8080/reset-password?token=opl_"));
    let token = link_token(&mail[0]);
    let confirm = |password: &str| json!({"token": token, "newPassword": password});
    app.call("POST", "/auth/password/reset/confirm", None, Some(confirm("weak"))).await.assert_error(
        400,
        "WEAK_PASSWORD",
        Some("body.newPassword"),
    );
    app.call("POST", "/auth/password/reset/confirm", None, Some(confirm("R3set$ecret"))).await.assert_ok();
    app.call("POST", "/auth/password/reset/confirm", None, Some(confirm("Ag4in$ecret"))).await.assert_error(
        400,
        "INVALID_RESET_TOKEN",
        Some("body.token"),
    );
    assert_eq!(grant(&app, "reset@example.com", PASSWORD).await, 400);
    assert_eq!(grant(&app, "reset@example.com", "R3set$ecret").await, 200);

    // An expired link is refused.
    let creds = app.store().find_credentials("reset@example.com").await.unwrap().unwrap();
    let old = orgplane_domain::secret::new_password_link();
    app.store().create_password_link(&creds.user_id, &old.hash, 1).await.unwrap();
    app.call(
        "POST",
        "/auth/password/reset/confirm",
        None,
        Some(json!({"token": old.secret, "newPassword": "Exp1red$pass"})),
    )
    .await
    .assert_error(400, "INVALID_RESET_TOKEN", Some("body.token"));
});

both_backends!(new_people_are_invited_and_existing_ones_told, |app| {
    let t = app.signup("inviter@example.com").await;
    let other = app.signup("elsewhere@example.com").await;
    let res = app
        .post(
            "/setup/user",
            &t.token,
            json!({"firstName": "New", "lastName": "Person", "email": "invitee@example.com", "role": "viewer"}),
        )
        .await;
    res.assert_ok();
    let invite = &mail_to(&app, "invitee@example.com").await[0];
    assert!(invite.subject.contains("Org of inviter@example.com"), "{invite:?}");
    app.call(
        "POST",
        "/auth/password/reset/confirm",
        None,
        Some(json!({"token": link_token(invite), "newPassword": "Inv1ted$pass"})),
    )
    .await
    .assert_ok();
    assert_eq!(grant(&app, "invitee@example.com", "Inv1ted$pass").await, 200);

    app.post(
        "/setup/user",
        &t.token,
        json!({"firstName": "E", "lastName": "W", "email": "elsewhere@example.com", "role": "viewer"}),
    )
    .await
    .assert_ok();
    let notice = mail_to(&app, "elsewhere@example.com").await;
    assert_eq!(notice.len(), 1);
    assert!(notice[0].subject.starts_with("You were added to"), "{notice:?}");
    assert!(!notice[0].text.contains("token="), "no password link for someone who has a password");
    let _ = UserId::parse(&other.user_id).unwrap();
});
