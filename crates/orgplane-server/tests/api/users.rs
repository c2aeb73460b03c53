//! Users, programmatic users and account permissions (U1–U12, P1).

use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};

async fn create_user(app: &TestApp, t: &Tenant, email: &str, role: &str) -> Value {
    let res = app
        .post(
            "/setup/user",
            &t.token,
            json!({"firstName": "Grace", "lastName": "Hopper", "email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    res.assert_ok();
    res.item().clone()
}

both_backends!(create_user_has_spot_shape_and_viewer_gets_the_default_account, |app| {
    let t = app.signup("users-admin@example.com").await;
    let res = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:setup:user");
    let u = res.item();
    assert!(u["id"].is_i64(), "legacy id is an integer: {u}");
    assert!(u["organizationId"].is_i64(), "organizationId is an integer here: {u}");
    assert_eq!(u["organizationId"].as_i64().unwrap().to_string(), t.org_id);
    assert_eq!(u["displayName"], "Grace Hopper");
    let user_id = u["userId"].as_str().unwrap().to_string();
    let token = u["personalAccessToken"].as_str().expect("token with generateToken=true").to_string();

    // The new viewer sees the default account and nothing else, and cannot change it.
    let accounts = app.get("/setup/account", &token).await;
    accounts.assert_ok();
    assert_eq!(accounts.items().len(), 1);
    assert_eq!(accounts.item()["accountId"], t.account_id.as_str());
    app.put(&format!("/setup/account/{}", t.account_id), &token, json!({"account": {"name": "x"}})).await.assert_error(
        403,
        "FORBIDDEN",
        None,
    );
    app.post("/setup/account", &token, json!({"account": {"name": "x"}})).await.assert_error(403, "FORBIDDEN", None);

    let mapping = app.get("/setup/accountUserMapping?userEmail=GRACE@example.com", &t.token).await;
    mapping.assert_ok();
    assert_eq!(mapping.json["response"]["kind"], "spotinst:setup:accountUserMapping");
    assert_eq!(mapping.item()["accountId"], t.account_id.as_str());
    assert_eq!(mapping.item()["role"], "viewer");

    let details = app.get(&format!("/setup/user/{user_id}"), &t.token).await;
    details.assert_ok();
    let d = details.item();
    assert_eq!(d["type"], "personal");
    assert_eq!(d["mfa"], false);
    assert_eq!(d["tokens"].as_array().unwrap().len(), 1);
    assert!(d["tokens"][0]["tokenId"].is_i64());
    assert_eq!(d["tokens"][0]["tokenLastDigits"], &token[token.len() - 4..]);
});

both_backends!(an_existing_person_joins_a_second_organization_as_a_membership, |app| {
    let a = app.signup("org-a@example.com").await;
    let b = app.signup("org-b@example.com").await;
    // B's admin is added to A: the same identity, now a member of both.
    let res = app
        .post(
            "/setup/user",
            &a.token,
            json!({"firstName": "B", "lastName": "Admin", "email": "ORG-B@example.com", "role": "editor"}),
        )
        .await;
    res.assert_ok();
    assert_eq!(res.item()["userId"], b.user_id.as_str());
    let orgs = app.get("/setup/organization", &b.token).await;
    assert_eq!(orgs.items().len(), 2);
    // Their password still works and was not replaced; the same email again is refused.
    app.password_token("org-b@example.com", Some(&a.org_id)).await;
    let again = app
        .post("/setup/user", &a.token, json!({"firstName": "B", "lastName": "Admin", "email": "org-b@example.com"}))
        .await;
    again.assert_error(400, "USER_ALREADY_EXISTS", Some("body.email"));
});

both_backends!(user_input_is_checked, |app| {
    let t = app.signup("userbad@example.com").await;
    let base =
        json!({"firstName": "A", "lastName": "B", "email": "ab@example.com", "password": PASSWORD, "role": "viewer"});
    for (field, value, code, at) in [
        ("firstName", json!("a+b"), "ValidationError", "body.firstName"),
        ("lastName", json!("x=y"), "ValidationError", "body.lastName"),
        ("email", json!("nope"), "ValidationError", "body.email"),
        ("password", json!("weak"), "WEAK_PASSWORD", "body.password"),
        ("role", json!("superuser"), "ValidationError", "body.role"),
        ("firstName", json!(12), "ValidationError", "body.firstName"),
    ] {
        let mut body = base.clone();
        body[field] = value;
        app.post("/setup/user", &t.token, body).await.assert_error(400, code, Some(at));
    }
    app.post("/setup/user?generateToken=maybe", &t.token, base.clone()).await.assert_error(
        400,
        "ValidationError",
        Some("query.generateToken"),
    );
    app.get("/setup/user/u-1234", &t.token).await.assert_error(400, "ValidationError", Some("path.userId"));
    app.get("/setup/user/u-00000000", &t.token).await.assert_error(404, "USER_DOESNT_EXIST", Some("path.userId"));
    assert_eq!(app.get("/setup/organization/user", &t.token).await.items().len(), 1, "nothing was created");
});

both_backends!(org_users_list_and_csv_export, |app| {
    let t = app.signup("csv-admin@example.com").await;
    create_user(&app, &t, "=cmd@example.com", "viewer").await;
    let list = app.get("/setup/organization/user", &t.token).await;
    list.assert_ok();
    assert_eq!(list.json["response"]["kind"], "spotinst:setup:organization:user");
    assert_eq!(list.items().len(), 2);
    for u in list.items() {
        assert_eq!(u["mfa"], false);
        assert_eq!(u["type"], "personal");
        assert!(u["groupNames"].is_array());
    }
    let csv = app.get("/setup/organization/user?format=csv", &t.token).await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.json.as_str().unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "userId,username,type,email,mfa,organizationRole,groupNames");
    assert_eq!(lines.len(), 3);
    assert!(text.contains("'=cmd@example.com"), "formula injection neutralised: {text}");
    app.get("/setup/organization/user?format=xml", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.format"),
    );
});

both_backends!(account_permissions_change_and_detach, |app| {
    let t = app.signup("perm-admin@example.com").await;
    let u = create_user(&app, &t, "perm-user@example.com", "viewer").await;
    let user_id = u["userId"].as_str().unwrap();
    let second = app.post("/setup/account", &t.token, json!({"account": {"name": "Second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/setup/account/{second}/user");
    app.post(&path, &t.token, json!({"userEmail": "perm-user@example.com", "role": "editor"})).await.assert_ok();
    // One row per user and account: changing the role replaces it.
    app.put(&path, &t.token, json!({"userId": user_id, "role": "viewer"})).await.assert_ok();
    let roles = app.get("/setup/accountUserMapping?userEmail=perm-user@example.com", &t.token).await;
    assert_eq!(roles.items().len(), 2);
    assert_eq!(roles.items()[1]["accountId"], second.as_str());
    assert_eq!(roles.items()[1]["role"], "viewer");
    // Policy-based, with a built-in account policy.
    app.put(&path, &t.token, json!({"userId": user_id, "permissionStrategy": "POLICY_BASED", "policyIds": ["2"]}))
        .await
        .assert_ok();
    let roles = app.get("/setup/accountUserMapping?userEmail=perm-user@example.com", &t.token).await;
    assert_eq!(roles.items()[1]["permissionStrategy"], "POLICY_BASED");
    assert_eq!(roles.items()[1]["policyIds"], json!(["2"]));
    // An organization policy cannot be attached to an account.
    app.put(&path, &t.token, json!({"userId": user_id, "permissionStrategy": "POLICY_BASED", "policyIds": ["1"]}))
        .await
        .assert_error(400, "WRONG_POLICY_TYPE", Some("body.policyIds[0]"));
    // Detach with a JSON body on DELETE.
    let res = app.call("DELETE", &path, Some(&t.token), Some(json!({"userEmail": "perm-user@example.com"}))).await;
    res.assert_ok();
    assert_eq!(app.get("/setup/accountUserMapping?userEmail=perm-user@example.com", &t.token).await.items().len(), 1);
    app.call("DELETE", &path, Some(&t.token), Some(json!({"userEmail": "perm-user@example.com"}))).await.assert_error(
        404,
        "USER_NOT_ATTACHED",
        Some("body.userEmail"),
    );
    app.post(&path, &t.token, json!({"userEmail": "stranger@example.com", "role": "viewer"})).await.assert_error(
        404,
        "USER_DOESNT_EXIST",
        Some("body.userEmail"),
    );
    app.post(&path, &t.token, json!({"userEmail": "perm-user@example.com"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.role"),
    );
});

both_backends!(bulk_mapping_applies_all_or_nothing, |app| {
    let t = app.signup("bulk-admin@example.com").await;
    create_user(&app, &t, "bulk1@example.com", "viewer").await;
    create_user(&app, &t, "bulk2@example.com", "viewer").await;
    let second = app.post("/setup/account", &t.token, json!({"account": {"name": "Second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = json!({"mappings": [
        {"userEmail": "bulk1@example.com", "accountId": second, "role": "editor"},
        {"userEmail": "bulk2@example.com", "accountId": "act-00000000", "role": "editor"}
    ]});
    app.post("/setup/accountUserMapping", &t.token, bad).await.assert_error(
        404,
        "Account_DOESNT_EXIST",
        Some("body.mappings[1].accountId"),
    );
    assert_eq!(
        app.get("/setup/accountUserMapping?userEmail=bulk1@example.com", &t.token).await.items().len(),
        1,
        "nothing applied"
    );
    let good = json!({"mappings": [
        {"userEmail": "bulk1@example.com", "accountId": second, "role": "editor"},
        {"userEmail": "bulk2@example.com", "accountId": second, "role": "viewer"}
    ]});
    app.post(&format!("/setup/accountUserMapping?accountId={second}"), &t.token, good).await.assert_ok();
    assert_eq!(app.get("/setup/accountUserMapping?userEmail=bulk2@example.com", &t.token).await.items().len(), 2);
    let users = app.get(&format!("/setup/user?accountId={second}"), &t.token).await;
    users.assert_ok();
    assert_eq!(users.items().len(), 2);
});

both_backends!(deleting_users_removes_their_tokens_and_keeps_the_last_admin, |app| {
    let t = app.signup("del-admin@example.com").await;
    let u = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "D", "lastName": "U", "email": "del-user@example.com", "role": "admin"}),
        )
        .await;
    let (user_id, token) = (
        u.item()["userId"].as_str().unwrap().to_string(),
        u.item()["personalAccessToken"].as_str().unwrap().to_string(),
    );
    app.get("/setup/account", &token).await.assert_ok();
    app.delete(&format!("/setup/user/{user_id}"), &t.token).await.assert_ok();
    app.get("/setup/account", &token).await.assert_unauthenticated();
    // The last admin cannot remove themself.
    app.delete(&format!("/setup/user/{}", t.user_id), &t.token).await.assert_error(400, "LAST_ADMIN", None);
    app.get("/setup/account", &t.token).await.assert_ok();
});

both_backends!(programmatic_users, |app| {
    let t = app.signup("pu-admin@example.com").await;
    let res = app
        .post(
            "/setup/user/programmatic",
            &t.token,
            json!({"name": "ci-bot", "description": "CI", "accounts": [{"id": t.account_id, "role": "viewer"}]}),
        )
        .await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:setup:programmaticUser");
    let id = res.item()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pu-"));
    let token = res.item()["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/setup/account", &token).await.items().len(), 1);
    app.post("/setup/account", &token, json!({"account": {"name": "no"}})).await.assert_error(403, "FORBIDDEN", None);
    // Read through U4 with the fields Terraform reads.
    let d = app.get(&format!("/setup/user/{id}"), &t.token).await;
    d.assert_ok();
    let d = d.item();
    assert_eq!(d["type"], "programmatic");
    assert_eq!(d["name"], "ci-bot");
    assert_eq!(d["accounts"], json!([{"id": t.account_id, "role": "viewer"}]));
    assert!(!d.to_string().contains(&token), "the token is shown only at creation");
    // At least one of accounts/policies; no + = @; admins only.
    app.post("/setup/user/programmatic", &t.token, json!({"name": "empty"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.accounts"),
    );
    app.post(
        "/setup/user/programmatic",
        &t.token,
        json!({"name": "a@b", "policies": [{"policyId": "3", "accountIds": ["*"]}]}),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.name"));
    app.post("/setup/user/programmatic", &token, json!({"name": "escalate", "policies": [{"policyId": "1"}]}))
        .await
        .assert_error(403, "FORBIDDEN", None);
    // Deleting it (U5) kills its token.
    app.delete(&format!("/setup/user/{id}"), &t.token).await.assert_ok();
    app.get("/setup/account", &token).await.assert_unauthenticated();
});
