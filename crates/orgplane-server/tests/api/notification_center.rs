//! Spot's notification-center policies (N1–N6) and event subscriptions (S1–S6).

use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};

fn policy(privacy: &str) -> Value {
    json!({
        "name": "Prod alerts", "description": "rolls", "privacyLevel": privacy, "isActive": true,
        "subscriptions": [{"type": "email", "endpoint": "ops@example.com"}, {"type": "slack", "endpoint": "https://hooks.slack.com/services/T/B/x"}],
        "registeredUsers": [{"userEmail": "ncadmin@example.com", "subscriptionTypes": ["email", "console"]}],
        "computePolicyConfig": {"events": [{"event": "GROUP_ROLL_FAILED", "type": "ERROR"}], "shouldIncludeAllResources": true}
    })
}

async fn member(app: &TestApp, t: &Tenant, email: &str, role: &str) -> String {
    let res = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "M", "lastName": "Ember", "email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    res.assert_ok();
    res.item()["personalAccessToken"].as_str().unwrap().to_string()
}

both_backends!(policies_round_trip_with_spots_shapes, |app| {
    let t = app.signup("ncadmin@example.com").await;
    let created =
        app.post(&format!("/notificationCenter/policy?accountId={}", t.account_id), &t.token, policy("public")).await;
    created.assert_ok();
    assert_eq!(created.json["response"]["kind"], "spotinst:notificationPolicy");
    let id = created.item()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("snp-") && id.len() == 12, "{id}");
    assert_eq!(created.item()["owner"], "ncadmin@example.com");
    assert_eq!(created.item()["type"], "compute");

    let listed = app.get("/notificationCenter/policy", &t.token).await;
    assert_eq!(listed.json["response"]["kind"], "spotinst:notification:userNotificationPolicy");
    let entry = listed.item();
    assert_eq!(entry["policyId"], id.as_str());
    assert_eq!(entry["registeredUsersCount"], 1);
    assert_eq!(entry["isRegistered"], true);
    assert_eq!(entry["notificationMethod"], json!(["email", "console"]));
    assert_eq!(entry["accountId"], t.account_id.as_str());

    // Python wraps updates in "policy"; Go sends them flat.
    let wrapped =
        app.put(&format!("/notificationCenter/policy/{id}"), &t.token, json!({"policy": {"name": "Renamed"}})).await;
    assert_eq!(wrapped.item()["name"], "Renamed");
    assert_eq!(wrapped.item()["description"], "rolls", "a partial update keeps the rest");
    let flat = app.put(&format!("/notificationCenter/policy/{id}"), &t.token, json!({"isActive": false})).await;
    assert_eq!(flat.item()["isActive"], false);
    assert_eq!(app.get(&format!("/notificationCenter/policy/{id}"), &t.token).await.item()["name"], "Renamed");

    let events = app.get("/notificationCenter/compute/event", &t.token).await;
    assert!(events.items().iter().any(|e| e["event"] == "GROUP_ROLL_FAILED" && e["type"] == "ERROR"));
    assert!(app.get("/notificationCenter/compute/resource", &t.token).await.items().is_empty());
    app.delete(&format!("/notificationCenter/policy/{id}"), &t.token).await.assert_ok();
    app.get(&format!("/notificationCenter/policy/{id}"), &t.token).await.assert_error(
        404,
        "NOTIFICATION_POLICY_DOESNT_EXIST",
        Some("path.policyId"),
    );
});

both_backends!(private_policies_are_their_owners_and_viewers_cannot_write, |app| {
    let t = app.signup("ncadmin@example.com").await;
    let other_admin = member(&app, &t, "second-admin@example.com", "admin").await;
    let viewer = member(&app, &t, "viewer@example.com", "viewer").await;
    let private = app.post("/notificationCenter/policy", &t.token, policy("private")).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let public = app.post("/notificationCenter/policy", &t.token, policy("public")).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seen: Vec<String> = app
        .get("/notificationCenter/policy", &other_admin)
        .await
        .items()
        .iter()
        .map(|p| p["policyId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, vec![public.clone()]);
    app.get(&format!("/notificationCenter/policy/{private}"), &other_admin).await.assert_error(
        404,
        "NOTIFICATION_POLICY_DOESNT_EXIST",
        Some("path.policyId"),
    );
    app.post("/notificationCenter/policy", &viewer, policy("public")).await.assert_error(403, "FORBIDDEN", None);
    app.delete(&format!("/notificationCenter/policy/{public}"), &viewer).await.assert_error(403, "FORBIDDEN", None);
});

both_backends!(bad_policies_and_subscriptions_name_the_field, |app| {
    let t = app.signup("ncadmin@example.com").await;
    let with = |path: &str, value: Value| {
        let mut p = policy("public");
        let (head, last) = path.rsplit_once('.').unwrap_or(("", path));
        let mut target = &mut p;
        for part in head.split('.').filter(|s| !s.is_empty()) {
            target = match part.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[part],
            };
        }
        match last.parse::<usize>() {
            Ok(i) => target[i] = value,
            Err(_) => target[last] = value,
        }
        p
    };
    let cases = [
        (with("privacyLevel", json!("secret")), "ValidationError", "body.privacyLevel"),
        (with("name", json!("")), "ValidationError", "body.name"),
        (with("subscriptions.0.type", json!("pigeon")), "ValidationError", "body.subscriptions[0].type"),
        (
            with("subscriptions.1.endpoint", json!("http://hooks.slack.com/x")),
            "ValidationError",
            "body.subscriptions[1].endpoint",
        ),
        (
            with("registeredUsers.0.userEmail", json!("stranger@example.com")),
            "USER_DOESNT_EXIST",
            "body.registeredUsers[0].userEmail",
        ),
        (
            with("registeredUsers.0.subscriptionTypes", json!(["sms"])),
            "ValidationError",
            "body.registeredUsers[0].subscriptionTypes[0]",
        ),
        (with("computePolicyConfig.resourceIds", json!(["sig-1"])), "ValidationError", "body.computePolicyConfig"),
        (with("computePolicyConfig.events", json!([])), "ValidationError", "body.computePolicyConfig.events"),
        (with("computePolicyConfig", Value::Null), "ValidationError", "body.computePolicyConfig"),
    ];
    for (body, code, field) in cases {
        app.post("/notificationCenter/policy", &t.token, body).await.assert_error(400, code, Some(field));
    }
    assert!(app.get("/notificationCenter/policy", &t.token).await.items().is_empty(), "nothing half-written");

    let sub = json!({"resourceId": "sig-12345678", "protocol": "email", "endpoint": "ops@example.com", "eventType": "GROUP_UPDATED"});
    for (key, value, field) in [
        ("resourceId", json!("i-0abc"), "body.subscription.resourceId"),
        ("protocol", json!("fax"), "body.subscription.protocol"),
        ("endpoint", json!("nope"), "body.subscription.endpoint"),
        ("eventType", json!("SOMETHING"), "body.subscription.eventType"),
        ("eventFormat", json!("text"), "body.subscription.eventFormat"),
    ] {
        let mut bad = sub.clone();
        bad[key] = value;
        app.post("/events/subscription", &t.token, json!({"subscription": bad})).await.assert_error(
            400,
            "ValidationError",
            Some(field),
        );
    }
    app.post("/events/subscription", &t.token, sub).await.assert_error(
        400,
        "ValidationError",
        Some("body.subscription"),
    );
});

both_backends!(subscriptions_and_account_policies_round_trip, |app| {
    let t = app.signup("subs@example.com").await;
    let body = json!({"subscription": {"resourceId": "sig-12345678", "protocol": "web", "endpoint": "https://hooks.example.com/spot",
        "eventType": "AWS_EC2_INSTANCE_LAUNCH", "eventFormat": {"event": "%event%", "id": "%instance-id%"}}});
    let created = app.post(&format!("/events/subscription?accountId={}", t.account_id), &t.token, body).await;
    assert_eq!(created.json["response"]["kind"], "spotinst:subscription");
    let id = created.item()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sis-"));
    assert_eq!(created.item()["eventFormat"]["id"], "%instance-id%");
    let updated = app
        .put(
            &format!("/events/subscription/{id}"),
            &t.token,
            json!({"subscription": {"protocol": "email", "endpoint": "ops@example.com"}}),
        )
        .await;
    updated.assert_ok();
    assert_eq!(updated.json["response"]["affectedRows"], 1);
    let got = app.get(&format!("/events/subscription/{id}"), &t.token).await;
    assert_eq!(got.item()["endpoint"], "ops@example.com");
    assert_eq!(got.item()["eventType"], "AWS_EC2_INSTANCE_LAUNCH");
    assert_eq!(app.get("/events/subscription", &t.token).await.items().len(), 1);
    app.delete(&format!("/events/subscription/{id}"), &t.token).await.assert_ok();
    app.get(&format!("/events/subscription/{id}"), &t.token).await.assert_error(
        404,
        "SUBSCRIPTION_DOESNT_EXIST",
        Some("path.subscriptionId"),
    );

    let path = format!("/events/notification/accountPolicy?accountId={}", t.account_id);
    let empty = app.get(&path, &t.token).await;
    assert_eq!(empty.item()["accountPolicy"]["emailPolicy"]["statements"], json!([]));
    let policy = json!({"accountPolicy": {"emailPolicy": {"statements": [{"category": "Elastigroup", "subCategory": "Scaling",
        "isEnabled": false, "applyOnFutureResources": true, "allowedResources": [], "deniedResources": [{"id": "sig-12345678"}]}]}}});
    app.put(&path, &t.token, policy).await.assert_ok();
    let stored = app.get(&path, &t.token).await;
    assert_eq!(
        stored.item()["accountPolicy"]["emailPolicy"]["statements"][0]["deniedResources"][0]["id"],
        "sig-12345678"
    );
    assert_eq!(stored.item()["accountPolicy"]["slackPolicy"]["statements"], json!([]));
    app.put(&path, &t.token, json!({"accountPolicy": {"slackPolicy": {"statements": [{"isEnabled": true}]}}}))
        .await
        .assert_error(400, "ValidationError", Some("body.accountPolicy.slackPolicy.statements[0].category"));
});
