use orgplane_server::ServerConfig;
use orgplane_testkit::{Backend, PASSWORD, TestApp, both_backends};
use serde_json::{Value, json};

fn body(email: &str, password: &str) -> Value {
    json!({
        "user": {"firstName": "Ada", "lastName": "Lovelace", "email": email, "password": password},
        "organization": {"name": "Analytical Engines", "division": "USA"}
    })
}

both_backends!(signup_creates_org_default_account_and_admin, |app| {
    let res = app.call("POST", "/auth/register", None, Some(body("ada@example.com", PASSWORD))).await;
    res.assert_ok();
    let item = res.item();
    let org = item["organizationId"].as_str().expect("organizationId is a string");
    assert_eq!(org.len(), 12);
    assert!(org.bytes().all(|b| b.is_ascii_digit()));
    let account = item["accountId"].as_str().unwrap();
    assert!(account.starts_with("act-") && account.len() == 12, "{account}");
    let user = item["userId"].as_str().unwrap();
    assert!(user.starts_with("u-") && user.len() == 10, "{user}");

    let token = app.password_token("ada@example.com", None).await;
    let orgs = app.get("/setup/organization", &token).await;
    orgs.assert_ok();
    let o = orgs.item();
    assert_eq!(o["organizationId"], org);
    assert_eq!(o["plan"], "trial");
    assert_eq!(o["role"], "admin");
    assert_eq!(o["displayName"], "Analytical Engines-USA");
    let accounts = app.get("/setup/account", &token).await;
    assert_eq!(accounts.items().len(), 1);
    assert_eq!(accounts.item()["accountId"], account);
    assert_eq!(accounts.item()["isDefault"], true);
});

both_backends!(duplicate_email_is_refused_case_insensitively_and_writes_nothing, |app| {
    app.call("POST", "/auth/register", None, Some(body("dup@example.com", PASSWORD))).await.assert_ok();
    let res = app.call("POST", "/auth/register", None, Some(body("DUP@Example.com", PASSWORD))).await;
    res.assert_error(400, "EMAIL_ALREADY_EXISTS", Some("body.user.email"));
    // The failed sign-up left no organization behind: the person still has exactly one.
    let token = app.password_token("dup@example.com", None).await;
    assert_eq!(app.get("/setup/organization", &token).await.items().len(), 1);
});

both_backends!(weak_passwords_are_refused_with_the_field, |app| {
    for weak in ["short1!", "nouppercase1!", "NOLOWERCASE1!", "NoDigitsHere!", "NoSpecial123"] {
        let res = app.call("POST", "/auth/register", None, Some(body("weak@example.com", weak))).await;
        res.assert_error(400, "WEAK_PASSWORD", Some("body.user.password"));
    }
});

both_backends!(missing_or_bad_fields_are_named, |app| {
    let mut b = body("x@example.com", PASSWORD);
    b["organization"].as_object_mut().unwrap().remove("name");
    let res = app.call("POST", "/auth/register", None, Some(b)).await;
    res.assert_error(400, "ValidationError", Some("body.organization.name"));

    let mut b = body("x@example.com", PASSWORD);
    b["user"]["firstName"] = json!("   ");
    let res = app.call("POST", "/auth/register", None, Some(b)).await;
    res.assert_error(400, "ValidationError", Some("body.user.firstName"));

    let mut b = body("x@example.com", PASSWORD);
    b["user"]["lastName"] = json!("a+b");
    let res = app.call("POST", "/auth/register", None, Some(b)).await;
    res.assert_error(400, "ValidationError", Some("body.user.lastName"));

    let res = app.call("POST", "/auth/register", None, Some(body("not-an-email", PASSWORD))).await;
    res.assert_error(400, "ValidationError", Some("body.user.email"));

    let mut b = body("x@example.com", PASSWORD);
    b["organization"]["name"] = json!("1234");
    let res = app.call("POST", "/auth/register", None, Some(b)).await;
    res.assert_error(400, "ValidationError", Some("body.organization.name"));

    let res = app.call("POST", "/auth/register", None, Some(json!({"user": {}}))).await;
    res.assert_error(400, "ValidationError", Some("body.user.firstName"));
});

both_backends!(unknown_body_fields_are_tolerated, |app| {
    let mut b = body("extra@example.com", PASSWORD);
    b["user"]["country"] = json!("IL");
    b["somethingElse"] = json!({"nested": [1, 2]});
    app.call("POST", "/auth/register", None, Some(b)).await.assert_ok();
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_can_be_closed() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, ServerConfig { signup_open: false, ..Default::default() }).await
        else {
            continue;
        };
        let res = app.call("POST", "/auth/register", None, Some(body("closed@example.com", PASSWORD))).await;
        assert_eq!(res.status, 403, "{}", res.json);
        assert_eq!(res.error().0, "SIGNUP_CLOSED");
    }
}
