//! Sign-in throttling: per email and per client address, recoverable by a password reset.

use orgplane_domain::outbox::{Email, Status};
use orgplane_testkit::{PASSWORD, TestApp, TestResponse, both_backends};
use serde_json::json;

async fn attempt(app: &TestApp, email: &str, password: &str, ip: Option<&str>) -> TestResponse {
    let body = json!({"grant_type": "password", "username": email, "password": password}).to_string();
    let mut req = axum::http::Request::post("/oauth/token")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    if let Some(ip) = ip {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(format!("{ip}:4000").parse::<std::net::SocketAddr>().unwrap()));
    }
    app.send(req).await
}

both_backends!(guessing_one_accounts_password_locks_it_until_a_reset, |app| {
    app.signup("locked@example.com").await;
    app.signup("bystander@example.com").await;
    for _ in 0..5 {
        attempt(&app, "locked@example.com", "Wr0ng$guess", None).await.assert_error(
            400,
            "INVALID_CREDENTIALS",
            Some("body.username"),
        );
    }
    // Now even the right password waits, with Retry-After.
    let res = attempt(&app, "LOCKED@example.com", PASSWORD, None).await;
    assert_eq!(res.status, 429, "{}", res.json);
    assert_eq!(res.error().0, "TOO_MANY_ATTEMPTS");
    assert!(res.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // Other accounts are not affected.
    attempt(&app, "bystander@example.com", PASSWORD, None).await.assert_ok();

    // A reset link unlocks the account at once.
    app.call("POST", "/auth/password/reset", None, Some(json!({"email": "locked@example.com"}))).await.assert_ok();
    let mail = app.store().outbox_messages(Status::Pending).await.unwrap();
    let mail: Email =
        serde_json::from_str(&mail.iter().rev().find(|m| m.payload.contains("locked@example.com")).unwrap().payload)
            .unwrap();
    let token = mail.text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    app.call(
        "POST",
        "/auth/password/reset/confirm",
        None,
        Some(json!({"token": token, "newPassword": "Unl0cked$pass"})),
    )
    .await
    .assert_ok();
    attempt(&app, "locked@example.com", "Unl0cked$pass", None).await.assert_ok();
});

both_backends!(spraying_from_one_address_locks_that_address, |app| {
    app.signup("victim@example.com").await;
    for n in 0..5 {
        let res = attempt(&app, &format!("guess{n}@example.com"), "Wr0ng$guess", Some("203.0.113.7")).await;
        res.assert_error(400, "INVALID_CREDENTIALS", Some("body.username"));
    }
    let res = attempt(&app, "victim@example.com", PASSWORD, Some("203.0.113.7")).await;
    assert_eq!(res.status, 429, "{}", res.json);
    attempt(&app, "victim@example.com", PASSWORD, Some("198.51.100.1")).await.assert_ok();
});

both_backends!(second_factor_guesses_are_throttled_too, |app| {
    let t = app.signup("mfa-guess@example.com").await;
    for _ in 0..5 {
        app.post("/auth/password", &t.token, json!({"currentPassword": "Wr0ng$pass", "newPassword": "N3w$ecret!"}))
            .await
            .assert_error(400, "INVALID_CREDENTIALS", Some("body.currentPassword"));
    }
    let res =
        app.post("/auth/password", &t.token, json!({"currentPassword": PASSWORD, "newPassword": "N3w$ecret!"})).await;
    assert_eq!(res.status, 429, "{}", res.json);
    assert_eq!(res.error().0, "TOO_MANY_ATTEMPTS");
});
