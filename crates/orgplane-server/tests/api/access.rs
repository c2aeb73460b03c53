//! Access policies, the action catalog, groups, and explain (AP1–AP6, G1–G7).

use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};

fn policy(name: &str, kind: &str, statements: Value) -> Value {
    json!({"policy": {"name": name, "description": "d", "type": kind, "policyContent": {"statements": statements}}})
}

async fn member(app: &TestApp, t: &Tenant, email: &str) -> (String, String) {
    let res = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "M", "lastName": "Ember", "email": email, "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    res.assert_ok();
    (res.item()["userId"].as_str().unwrap().into(), res.item()["personalAccessToken"].as_str().unwrap().into())
}

both_backends!(builtin_policies_are_listed_with_terraforms_id_3, |app| {
    let t = app.signup("builtin@example.com").await;
    let res = app.get("/setup/organization/policy", &t.token).await;
    res.assert_ok();
    let viewer = res.items().iter().find(|p| p["id"] == "3").expect("built-in policy 3");
    assert_eq!(viewer["name"], "Account Viewer");
    assert_eq!(viewer["type"], "SPOT_MANAGED_ACCOUNT");
    let account_only = app.get(&format!("/setup/access/policy?accountId={}", t.account_id), &t.token).await;
    assert!(account_only.items().iter().all(|p| p["type"].as_str().unwrap().ends_with("ACCOUNT")));
    app.put("/setup/access/policy/3", &t.token, policy("x", "ACCOUNT", json!([]))).await.assert_error(
        400,
        "BUILTIN_POLICY_IMMUTABLE",
        Some("path.policyId"),
    );
    app.delete("/setup/access/policy/3", &t.token).await.assert_error(
        400,
        "BUILTIN_POLICY_IMMUTABLE",
        Some("path.policyId"),
    );
});

both_backends!(policy_crud_and_type_is_immutable, |app| {
    let t = app.signup("pol@example.com").await;
    let res = app
        .post(
            "/setup/access/policy",
            &t.token,
            policy(
                "Updaters",
                "ACCOUNT",
                json!([{"effect": "ALLOW", "actions": ["setup:updateAccount"], "resources": ["*"]}]),
            ),
        )
        .await;
    res.assert_ok();
    let p = res.item().clone();
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pol-"));
    assert_eq!(p["type"], "ACCOUNT");
    assert!(p["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["policyContent"]["statements"][0]["effect"], "ALLOW");
    let listed = app.get("/setup/organization/policy", &t.token).await;
    assert!(listed.items().iter().any(|x| x["id"] == id.as_str()), "Terraform reads created policies through AP5");

    let path = format!("/setup/access/policy/{id}");
    app.put(&path, &t.token, json!({"policy": {"name": "Renamed"}})).await.assert_ok();
    app.put(&path, &t.token, json!({"policy": {"type": "ORGANIZATION"}})).await.assert_error(
        400,
        "POLICY_TYPE_IMMUTABLE",
        Some("body.policy.type"),
    );
    let listed = app.get("/setup/organization/policy", &t.token).await;
    let now = listed.items().iter().find(|x| x["id"] == id.as_str()).unwrap().clone();
    assert_eq!(now["name"], "Renamed");
    assert_eq!(now["type"], "ACCOUNT");
    app.delete(&path, &t.token).await.assert_ok();
    app.delete(&path, &t.token).await.assert_error(404, "POLICY_DOESNT_EXIST", Some("path.policyId"));
});

both_backends!(malformed_policy_documents_name_the_field, |app| {
    let t = app.signup("polbad@example.com").await;
    let cases = [
        (
            json!([{"effect": "MAYBE", "actions": ["setup:*"], "resources": ["*"]}]),
            "body.policy.policyContent.statements[0].effect",
        ),
        (
            json!([{"effect": "ALLOW", "actions": [], "resources": ["*"]}]),
            "body.policy.policyContent.statements[0].actions",
        ),
        (
            json!([{"effect": "ALLOW", "actions": "setup:*", "resources": ["*"]}]),
            "body.policy.policyContent.statements[0].actions",
        ),
        (
            json!([{"effect": "ALLOW", "actions": ["setup:*"], "resources": ["*"], "conditions": {"NumberGreater": {"k": ["1"]}}}]),
            "body.policy.policyContent.statements[0].conditions.NumberGreater",
        ),
        (json!([]), "body.policy.policyContent.statements"),
    ];
    for (statements, field) in cases {
        let res = app.post("/setup/access/policy", &t.token, policy("Bad", "ACCOUNT", statements)).await;
        assert_eq!(res.status, 400, "{}", res.json);
        assert_eq!(res.error().2, Some(field), "{}", res.json);
    }
    app.post("/setup/access/policy", &t.token, json!({"policy": {"name": "x"}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.policy.policyContent"),
    );
    app.post(
        "/setup/access/policy",
        &t.token,
        policy("a=b", "ACCOUNT", json!([{"effect": "ALLOW", "actions": ["*"], "resources": ["*"]}])),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.policy.name"));
    app.post(
        "/setup/access/policy",
        &t.token,
        policy("x", "GLOBAL", json!([{"effect": "ALLOW", "actions": ["*"], "resources": ["*"]}])),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.policy.type"));
    let listed = app.get("/setup/organization/policy", &t.token).await;
    assert!(
        listed.items().iter().all(|p| p["type"].as_str().unwrap().starts_with("SPOT_MANAGED")),
        "nothing was created"
    );
});

both_backends!(policies_grant_and_deny_through_the_engine, |app| {
    let t = app.signup("engine@example.com").await;
    let (user, token) = member(&app, &t, "engine-member@example.com").await;
    let second = app.post("/setup/account", &t.token, json!({"account": {"name": "Second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A viewer cannot rename the default account…
    let default_path = format!("/setup/account/{}", t.account_id);
    app.put(&default_path, &token, json!({"account": {"name": "Mine"}})).await.assert_error(403, "FORBIDDEN", None);
    // …until a policy allows setup:updateAccount on every account.
    let allow = app
        .post(
            "/setup/access/policy",
            &t.token,
            policy(
                "Rename",
                "ACCOUNT",
                json!([{"effect": "ALLOW", "actions": ["setup:update*"], "resources": ["act-*"]}]),
            ),
        )
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.put(
        &format!("/setup/user/{user}/policyMapping"),
        &t.token,
        json!({"policies": [{"policyId": allow, "accountIds": ["*"]}]}),
    )
    .await
    .assert_ok();
    app.put(&default_path, &token, json!({"account": {"name": "Renamed by member"}})).await.assert_ok();
    // "*" also covers accounts created later, and the second account is now visible and renamable.
    app.put(&format!("/setup/account/{second}"), &token, json!({"account": {"name": "Also"}})).await.assert_ok();
    // An explicit DENY through a group wins over the ALLOW.
    let deny = app
        .post(
            "/setup/access/policy",
            &t.token,
            policy("No second", "ACCOUNT", json!([{"effect": "DENY", "actions": ["setup:*"], "resources": [second]}])),
        )
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = app
        .post(
            "/setup/access/userGroup",
            &t.token,
            json!({"name": "Restricted", "userIds": [user], "policies": [{"policyId": deny, "accountIds": [second]}]}),
        )
        .await;
    group.assert_ok();
    app.put(&format!("/setup/account/{second}"), &token, json!({"account": {"name": "Blocked"}})).await.assert_error(
        403,
        "FORBIDDEN",
        None,
    );
    app.put(&default_path, &token, json!({"account": {"name": "Still fine"}})).await.assert_ok();

    // Explain says which statement of which policy decided.
    let why = app
        .post(
            "/setup/access/explain",
            &t.token,
            json!({"userId": user, "action": "setup:updateAccount", "accountId": second}),
        )
        .await;
    why.assert_ok();
    let e = why.item();
    assert_eq!(e["allowed"], false);
    assert_eq!(e["decision"], "DENY");
    assert_eq!(e["policyId"], deny.as_str());
    assert_eq!(e["statementIndex"], 0);
    assert_eq!(e["via"], format!("group:{}", group.item()["id"].as_str().unwrap()));
    let why = app
        .post(
            "/setup/access/explain",
            &t.token,
            json!({"userId": user, "action": "setup:updateAccount", "accountId": t.account_id}),
        )
        .await;
    assert_eq!(why.item()["decision"], "ALLOW");
    assert_eq!(why.item()["policyId"], allow.as_str());
    assert_eq!(why.item()["via"], "direct");
    let why = app
        .post("/setup/access/explain", &t.token, json!({"userId": user, "action": "setup:deleteOrganization"}))
        .await;
    assert_eq!(why.item()["decision"], "IMPLICIT_DENY");
    // Members may not explain.
    app.post("/setup/access/explain", &token, json!({"userId": user, "action": "setup:deleteAccount"}))
        .await
        .assert_error(403, "FORBIDDEN", None);
    // A policy in use cannot be deleted.
    app.delete(&format!("/setup/access/policy/{deny}"), &t.token).await.assert_error(400, "POLICY_IN_USE", None);
});

both_backends!(policy_mappings_are_checked_whole, |app| {
    let t = app.signup("mapbad@example.com").await;
    let (user, _) = member(&app, &t, "mapbad-member@example.com").await;
    let path = format!("/setup/user/{user}/policyMapping");
    for (body, code, field) in [
        (
            json!({"policies": [{"policyId": "pol-00000000", "accountIds": ["*"]}]}),
            "POLICY_DOESNT_EXIST",
            "body.policies[0].policyId",
        ),
        (
            json!({"policies": [{"policyId": "3", "accountIds": ["act-00000000"]}]}),
            "Account_DOESNT_EXIST",
            "body.policies[0].accountIds[0]",
        ),
        (json!({"policies": [{"policyId": "3", "accountIds": []}]}), "ValidationError", "body.policies[0].accountIds"),
        (
            json!({"policies": [{"policyId": "3", "accountIds": ["*"]}, {"policyId": "3", "accountIds": ["*"]}]}),
            "ValidationError",
            "body.policies[1].policyId",
        ),
        (json!({"policies": "3"}), "ValidationError", "body.policies"),
    ] {
        app.put(&path, &t.token, body).await.assert_error(
            if code == "ValidationError" { 400 } else { 404 },
            code,
            Some(field),
        );
    }
    // Terraform's shape: policy "3" over every account it used.
    app.put(&path, &t.token, json!({"policies": [{"policyId": "3", "accountIds": [t.account_id]}]})).await.assert_ok();
    let d = app.get(&format!("/setup/user/{user}"), &t.token).await;
    assert_eq!(d.item()["policies"][0]["policyId"], "3");
    assert_eq!(d.item()["policies"][0]["policyName"], "Account Viewer");
    assert_eq!(d.item()["policies"][0]["accountIds"], json!([t.account_id]));
});

both_backends!(groups_crud_and_mappings, |app| {
    let t = app.signup("groups@example.com").await;
    let (user, _) = member(&app, &t, "group-member@example.com").await;
    let res = app
        .post("/setup/access/userGroup", &t.token, json!({"name": "Viewers", "description": "all viewers", "userIds": [user], "policies": [{"policyId": "3", "accounts": ["*"]}]}))
        .await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:setup:access:userGroup");
    let g = res.item().clone();
    let id = g["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ugr-"));
    assert_eq!(g["userIds"], json!([user]));
    assert_eq!(g["policies"][0]["accountIds"], json!(["*"]));

    let list = app.get("/setup/access/userGroup", &t.token).await;
    assert_eq!(list.item()["usersCount"], 1);
    assert_eq!(list.item()["policyNames"], json!(["Account Viewer"]));
    let path = format!("/setup/access/userGroup/{id}");
    let got = app.get(&path, &t.token).await;
    assert_eq!(got.item()["users"][0]["userName"], "M Ember");
    assert_eq!(got.item()["users"][0]["username"], "M Ember");
    assert_eq!(got.item()["users"][0]["type"], "personal");

    app.put(&path, &t.token, json!({"name": "Renamed", "userIds": null, "policies": null})).await.assert_ok();
    app.put(&format!("{path}/userMapping"), &t.token, json!({"userIds": []})).await.assert_ok();
    app.put(&format!("{path}/PolicyMapping"), &t.token, json!({"policies": []})).await.assert_ok();
    let got = app.get(&path, &t.token).await;
    assert_eq!(got.item()["name"], "Renamed");
    assert_eq!(got.item()["userIds"], json!([]));
    assert_eq!(got.item()["policies"], json!([]));
    // The user's group mapping (U6) works from the user side too.
    app.put(&format!("/setup/user/{user}/userGroupMapping"), &t.token, json!({"userGroupIds": [id]})).await.assert_ok();
    assert_eq!(app.get(&format!("/setup/user/{user}"), &t.token).await.item()["userGroupIds"], json!([id]));
    app.put(&format!("/setup/user/{user}/userGroupMapping"), &t.token, json!({"userGroupIds": ["ugr-00000000"]}))
        .await
        .assert_error(404, "GROUP_DOESNT_EXIST", Some("body.userGroupIds[0]"));
    app.put(&format!("{path}/userMapping"), &t.token, json!({"userIds": ["u-00000000"]})).await.assert_error(
        404,
        "USER_DOESNT_EXIST",
        Some("body.userIds[0]"),
    );
    app.post("/setup/access/userGroup", &t.token, json!({"name": "a+b"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.name"),
    );
    app.delete(&path, &t.token).await.assert_ok();
    app.get(&path, &t.token).await.assert_error(404, "GROUP_DOESNT_EXIST", Some("path.userGroupId"));
    assert_eq!(app.get(&format!("/setup/user/{user}"), &t.token).await.item()["userGroupIds"], json!([]));
});

both_backends!(action_catalog_filters, |app| {
    let t = app.signup("catalog@example.com").await;
    let all = app.get("/setup/access/policyAction", &t.token).await;
    all.assert_ok();
    assert!(all.items().len() > 20);
    let one = app.get("/setup/access/policyAction?name=setup:createAccount", &t.token).await;
    assert_eq!(one.items().len(), 1);
    assert_eq!(one.item()["scope"], "ORGANIZATION");
    let updates = app.get("/setup/access/policyAction?service=setup&category=update&scope=account", &t.token).await;
    assert!(!updates.items().is_empty());
    assert!(
        updates.items().iter().all(|a| a["category"] == "UPDATE" && a["scope"] == "ACCOUNT" && a["service"] == "setup")
    );
    app.get("/setup/access/policyAction?verb=x", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.verb"),
    );
});

both_backends!(token_scopes_read_only_and_ip_allow_list, |app| {
    let t = app.signup("scopes@example.com").await;
    let ro = app.post("/auth/tokens", &t.token, json!({"name": "ro", "readOnly": true})).await;
    ro.assert_ok();
    assert_eq!(ro.item()["readOnly"], true);
    let ro = ro.item()["token"].as_str().unwrap().to_string();
    app.get("/setup/account", &ro).await.assert_ok();
    app.post("/setup/account", &ro, json!({"account": {"name": "no"}})).await.assert_error(
        403,
        "TOKEN_READ_ONLY",
        None,
    );

    let ip = app.post("/auth/tokens", &t.token, json!({"name": "ip", "allowedIps": ["10.0.0.0/8"]})).await;
    ip.assert_ok();
    assert_eq!(ip.item()["allowedIps"], json!(["10.0.0.0/8"]));
    let ip = ip.item()["token"].as_str().unwrap().to_string();
    let from = |addr: &str| {
        let mut req = axum::http::Request::get("/setup/account")
            .header("authorization", format!("Bearer {ip}"))
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(addr.parse::<std::net::SocketAddr>().unwrap()));
        req
    };
    app.send(from("10.1.2.3:5000")).await.assert_ok();
    let refused = app.send(from("192.0.2.1:5000")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.error().0, "TOKEN_IP_NOT_ALLOWED");
    app.post("/auth/tokens", &t.token, json!({"name": "bad", "allowedIps": ["10.0.0.0/99"]})).await.assert_error(
        400,
        "ValidationError",
        Some("body.allowedIps[0]"),
    );

    // Admins see every token of the organization, with last use and address, and revoke any.
    let all = app.get("/setup/organization/token", &t.token).await;
    all.assert_ok();
    let listed = all.items().iter().find(|x| x["name"] == "ip").unwrap().clone();
    assert_eq!(listed["lastUsedIp"], "10.1.2.3");
    // A use from another address is recorded at once, though the last use is seconds old;
    // a use from the same address again changes nothing.
    for addr in ["10.9.9.9:5000", "10.9.9.9:6000"] {
        app.send(from(addr)).await.assert_ok();
        let all = app.get("/setup/organization/token", &t.token).await;
        let listed = all.items().iter().find(|x| x["name"] == "ip").unwrap().clone();
        assert_eq!(listed["lastUsedIp"], "10.9.9.9");
    }
    let id = listed["tokenId"].as_i64().unwrap();
    app.delete(&format!("/setup/organization/token/{id}"), &t.token).await.assert_ok();
    app.send(from("10.1.2.3:5000")).await.assert_unauthenticated();
});

both_backends!(members_cannot_use_admin_routes, |app| {
    let t = app.signup("viewer-admin@example.com").await;
    let (user, token) = member(&app, &t, "plain-viewer@example.com").await;
    for (method, path, body) in [
        ("POST", "/setup/user".to_string(), Some(json!({"firstName": "X", "lastName": "Y", "email": "x@example.com"}))),
        ("DELETE", format!("/setup/user/{}", t.user_id), None),
        ("PUT", format!("/setup/user/{user}/policyMapping"), Some(json!({"policies": [{"policyId": "1"}]}))),
        (
            "POST",
            "/setup/access/policy".to_string(),
            Some(policy("x", "ACCOUNT", json!([{"effect": "ALLOW", "actions": ["*"], "resources": ["*"]}]))),
        ),
        ("POST", "/setup/access/userGroup".to_string(), Some(json!({"name": "x"}))),
        ("GET", "/setup/organization/token".to_string(), None),
        ("GET", "/setup/organization/user".to_string(), None),
        ("POST", format!("/setup/account/{}/user", t.account_id), Some(json!({"userId": user, "role": "editor"}))),
    ] {
        let res = app.call(method, &path, Some(&token), body).await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.json);
    }
    // The viewer did not promote themself.
    let roles = app.get("/setup/accountUserMapping?userEmail=plain-viewer@example.com", &t.token).await;
    assert_eq!(roles.item()["role"], "viewer");
});
