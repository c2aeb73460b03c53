//! Account notifications: settings, which events queue which messages, and the test action.

use orgplane_domain::outbox::{Channel, OutboxMessage, Status};
use orgplane_testkit::{PASSWORD, TestApp, both_backends};
use serde_json::{Value, json};

async fn queued(app: &TestApp, channel: Channel) -> Vec<OutboxMessage> {
    let all = app.store().outbox_messages(Status::Pending).await.unwrap();
    all.into_iter().filter(|m| m.channel == channel).collect()
}

fn payload(m: &OutboxMessage) -> Value {
    serde_json::from_str(&m.payload).unwrap()
}

both_backends!(settings_are_validated_and_replaced, |app| {
    let t = app.signup("notify@example.com").await;
    let path = format!("/setup/account/{}/notifications", t.account_id);
    let got = app.get(&path, &t.token).await;
    assert!(got.item()["emailRecipients"].is_null(), "defaults");
    assert!(got.item()["events"].as_array().unwrap().iter().any(|e| e == "user.added"));
    let cases = [
        (json!({"emailRecipients": ["ok@example.com", "nope"]}), "body.emailRecipients[1]"),
        (json!({"disabledEvents": ["user.added", "user.exploded"]}), "body.disabledEvents[1]"),
        (json!({"disabledEvents": ["test"]}), "body.disabledEvents[0]"),
        (
            json!({"emailRecipients": (0..101).map(|i| format!("u{i}@example.com")).collect::<Vec<_>>()}),
            "body.emailRecipients",
        ),
    ];
    for (body, field) in cases {
        app.put(&path, &t.token, body).await.assert_error(400, "ValidationError", Some(field));
    }
    let set = app
        .put(&path, &t.token, json!({"emailRecipients": ["Ops@Example.com"], "disabledEvents": ["token.created"]}))
        .await;
    set.assert_ok();
    assert_eq!(set.item()["emailRecipients"], json!(["Ops@Example.com"]));
    assert_eq!(set.item()["disabledEvents"], json!(["token.created"]));
    // Slack channels must be https.
    app.put(
        &format!("/setup/account/{}", t.account_id),
        &t.token,
        json!({"account": {"slackNotificationChannels": ["http://hooks.slack.com/services/T/B/x"]}}),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.account.slackNotificationChannels[0]"));
});

both_backends!(changes_queue_email_and_slack_once_per_channel, |app| {
    let t = app.signup("owner@example.com").await;
    let slack = "https://hooks.slack.com/services/T000/B000/XXXX";
    app.put(
        &format!("/setup/account/{}", t.account_id),
        &t.token,
        json!({"account": {"slackNotificationChannels": [slack]}}),
    )
    .await
    .assert_ok();
    app.post(
        "/setup/user",
        &t.token,
        json!({"firstName": "New", "lastName": "Person", "email": "new@example.com", "password": PASSWORD, "role": "viewer"}),
    )
    .await
    .assert_ok();
    let emails: Vec<Value> = queued(&app, Channel::Email).await.iter().map(payload).collect();
    let notices: Vec<&Value> =
        emails.iter().filter(|e| e["subject"].as_str().unwrap().contains("User added")).collect();
    assert_eq!(notices.len(), 1, "the admin, once: {emails:?}");
    assert_eq!(notices[0]["to"], "owner@example.com");
    assert!(notices[0]["text"].as_str().unwrap().contains("By: owner@example.com"));
    let slack_msgs = queued(&app, Channel::Slack).await;
    assert_eq!(slack_msgs.len(), 1);
    let delivery = payload(&slack_msgs[0]);
    assert_eq!(delivery["url"], slack);
    let body: Value = serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(body["text"].as_str().unwrap().contains("User added"));

    // Turned off, the event queues nothing.
    app.put(
        &format!("/setup/account/{}/notifications", t.account_id),
        &t.token,
        json!({"disabledEvents": ["user.added"]}),
    )
    .await
    .assert_ok();
    app.post(
        "/setup/user",
        &t.token,
        json!({"firstName": "Quiet", "lastName": "One", "email": "quiet@example.com", "role": "viewer"}),
    )
    .await
    .assert_ok();
    assert_eq!(queued(&app, Channel::Slack).await.len(), 1);
});

both_backends!(a_failed_cloud_connection_notifies_the_account, |app| {
    // An identity provider that refuses connections: the attempt fails, and says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = orgplane_server::ServerConfig {
        azure: orgplane_cloud::AzureConfig {
            authority: format!("http://{closed}"),
            management_endpoint: format!("http://{closed}"),
        },
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(app.backend, config).await else { return };
    let t = app.signup("cloudfail@example.com").await;
    let slack = "https://hooks.slack.com/services/T000/B000/FAIL";
    let second = app.post("/setup/account", &t.token, json!({"account": {"name": "Azure one"}})).await;
    let account = second.item()["id"].as_str().unwrap().to_string();
    app.put(&format!("/setup/account/{account}"), &t.token, json!({"account": {"slackNotificationChannels": [slack]}}))
        .await
        .assert_ok();
    let body = json!({"clientId": "0f3c1b2a-1111-4222-8333-444455556666", "clientSecret": "s",
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "subscriptionId": "a1b2c3d4-0000-4000-8000-00000000abcd"});
    let res = app.post(&format!("/azure/setup/credentials?accountId={account}"), &t.token, body).await;
    res.assert_error(400, "CLOUD_PROVIDER_UNREACHABLE", None);
    let msgs = queued(&app, Channel::Slack).await;
    assert_eq!(msgs.len(), 1, "the failure reaches the account's channel");
    assert!(payload(&msgs[0])["body"].as_str().unwrap().contains("Cloud connection failed"));
});

both_backends!(the_test_action_reaches_every_channel, |app| {
    let t = app.signup("tester@example.com").await;
    let path = format!("/setup/account/{}/notifications", t.account_id);
    let sent = app.post(&format!("{path}/test"), &t.token, json!({})).await;
    sent.assert_ok();
    assert_eq!(sent.item()["email"], 1);
    assert_eq!(sent.item()["slack"], 0);
    app.put(&path, &t.token, json!({"emailRecipients": []})).await.assert_ok();
    app.post(&format!("{path}/test"), &t.token, json!({})).await.assert_error(400, "NO_NOTIFICATION_CHANNELS", None);
});

both_backends!(the_inbox_counts_lists_and_marks_read, |app| {
    let t = app.signup("inbox@example.com").await;
    let res = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "Mem", "lastName": "Ber", "email": "member@example.com", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    let member_token = res.item()["personalAccessToken"].as_str().unwrap().to_string();
    app.post("/auth/tokens", &t.token, json!({"name": "ci"})).await.assert_ok();
    let count = app.get("/notifications/count", &t.token).await;
    assert_eq!((count.item()["unread"].as_i64(), count.item()["total"].as_i64()), (Some(2), Some(2)));
    let inbox = app.get("/notifications", &t.token).await;
    let events: Vec<&str> = inbox.items().iter().map(|i| i["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["token.created", "user.added"], "newest first");
    assert_eq!(inbox.item()["read"], false);
    // Organization-wide notices go to admins by default, not to every member.
    assert_eq!(app.get("/notifications/count", &member_token).await.item()["total"], 0);
    let first = inbox.items()[1]["id"].as_i64().unwrap();
    app.post(&format!("/notifications/{first}/read"), &member_token, json!({})).await.assert_error(
        404,
        "NOTIFICATION_DOESNT_EXIST",
        Some("path.notificationId"),
    );
    app.post(&format!("/notifications/{first}/read"), &t.token, json!({})).await.assert_ok();
    assert_eq!(app.get("/notifications?unread=true", &t.token).await.items().len(), 1);
    let page = app.get("/notifications?limit=1", &t.token).await;
    let next = page.json["response"]["paginationInfo"]["nextCursor"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/notifications?limit=1&cursor={next}"), &t.token).await.item()["id"], first);
    app.post("/notifications/read", &t.token, json!({})).await.assert_ok();
    assert_eq!(app.get("/notifications/count", &t.token).await.item()["unread"], 0);
    for (q, field) in [("unread=maybe", "query.unread"), ("limit=0", "query.limit"), ("cursor=x", "query.cursor")] {
        app.get(&format!("/notifications?{q}"), &t.token).await.assert_error(400, "ValidationError", Some(field));
    }
    app.post("/notifications/abc/read", &t.token, json!({})).await.assert_error(
        404,
        "NOTIFICATION_DOESNT_EXIST",
        Some("path.notificationId"),
    );
});
