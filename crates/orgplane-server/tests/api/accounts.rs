use crate::add_member;
use orgplane_domain::access::AccountRole;
use orgplane_domain::iam::AccountPermission;
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_testkit::both_backends;
use serde_json::json;

both_backends!(account_lifecycle_with_spot_types, |app| {
    let t = app.signup("acct@example.com").await;
    let res = app.post("/setup/account", &t.token, json!({"account": {"name": "Production"}})).await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:setup:account");
    let item = res.item().clone();
    let id = item["id"].as_str().unwrap().to_string();
    assert!(AccountId::parse(&id).is_ok(), "{id}");
    assert_eq!(item["accountId"], id.as_str());
    assert_eq!(item["organizationId"], t.org_id.as_str(), "organizationId is a string on accounts");
    assert_eq!(item["name"], "Production");
    assert!(item["createdAt"].as_str().unwrap().ends_with('Z'));

    let list = app.get("/setup/account", &t.token).await;
    assert_eq!(list.json["response"]["count"], 2);
    let ids: Vec<_> = list.items().iter().map(|a| a["accountId"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![t.account_id.as_str(), id.as_str()], "oldest (default) first");
    for a in list.items() {
        assert_eq!(a["id"], a["accountId"]);
        assert!(a["organizationId"].is_string());
    }

    let path = format!("/setup/account/{id}");
    let channels = json!(["https://hooks.slack.com/services/T0/B0/abc"]);
    app.put(&path, &t.token, json!({"account": {"name": "Prod", "slackNotificationChannels": channels}}))
        .await
        .assert_ok();
    // Python sends null for channels it was not given: unchanged.
    app.put(&path, &t.token, json!({"account": {"name": "Prod EU", "slackNotificationChannels": null}}))
        .await
        .assert_ok();
    let got = app.get(&path, &t.token).await;
    got.assert_ok();
    assert_eq!(got.item()["name"], "Prod EU");
    assert_eq!(got.item()["slackNotificationChannels"], channels);

    app.delete(&path, &t.token).await.assert_ok();
    app.get(&path, &t.token).await.assert_error(404, "Account_DOESNT_EXIST", Some("path.accountId"));
    app.delete(&path, &t.token).await.assert_error(404, "Account_DOESNT_EXIST", Some("path.accountId"));
    app.put(&path, &t.token, json!({"account": {"name": "Ghost"}})).await.assert_error(
        404,
        "Account_DOESNT_EXIST",
        Some("path.accountId"),
    );
});

both_backends!(default_account_cannot_be_deleted, |app| {
    let t = app.signup("default@example.com").await;
    let path = format!("/setup/account/{}", t.account_id);
    app.delete(&path, &t.token).await.assert_error(400, "CANT_DELETE_DEFAULT_ACCOUNT", None);
    app.get(&path, &t.token).await.assert_ok();
});

both_backends!(account_input_is_checked, |app| {
    let t = app.signup("acctbad@example.com").await;
    app.post("/setup/account", &t.token, json!({"account": {"name": ""}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.name"),
    );
    app.post("/setup/account", &t.token, json!({"account": {"name": "123"}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.name"),
    );
    app.post("/setup/account", &t.token, json!({"account": {"name": ["x"]}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.name"),
    );
    app.post("/setup/account", &t.token, json!({})).await.assert_error(400, "ValidationError", Some("body.account"));
    let path = format!("/setup/account/{}", t.account_id);
    app.put(&path, &t.token, json!({"account": {"slackNotificationChannels": ["not a url"]}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.slackNotificationChannels[0]"),
    );
    app.put(&path, &t.token, json!({"account": {"name": ""}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.name"),
    );
    app.get("/setup/account/act-XYZ", &t.token).await.assert_error(400, "ValidationError", Some("path.accountId"));
    app.get("/setup/account/act-00000000", &t.token).await.assert_error(
        404,
        "Account_DOESNT_EXIST",
        Some("path.accountId"),
    );
    // Nothing above changed the account.
    assert_eq!(app.get(&path, &t.token).await.item()["name"], "Default");
    assert_eq!(app.get("/setup/account", &t.token).await.items().len(), 1);
});

both_backends!(cloud_account_filter, |app| {
    let t = app.signup("filter@example.com").await;
    let res = app.get("/setup/account?cloudAccountId=123456789012", &t.token).await;
    res.assert_ok();
    assert_eq!(res.items().len(), 0);
    assert_eq!(res.json["response"]["count"], 0);
});

both_backends!(members_see_and_read_only_attached_accounts, |app| {
    let a = app.signup("acctadmin@example.com").await;
    let b = app.signup("acctmember@example.com").await;
    let member = add_member(&app, &a, &b).await;
    let second = app.post("/setup/account", &a.token, json!({"account": {"name": "Shared"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();

    assert_eq!(app.get("/setup/account", &member).await.items().len(), 0);
    app.get(&format!("/setup/account/{second}"), &member).await.assert_error(403, "FORBIDDEN", None);

    app.store()
        .set_account_permission(
            OrgId::parse(&a.org_id).unwrap(),
            &AccountId::parse(&second).unwrap(),
            &UserId::parse(&b.user_id).unwrap(),
            &AccountPermission::Role(AccountRole::Editor),
            "userId",
        )
        .await
        .unwrap();
    let list = app.get("/setup/account", &member).await;
    assert_eq!(list.items().len(), 1);
    assert_eq!(list.item()["accountId"], second.as_str());
    app.get(&format!("/setup/account/{second}"), &member).await.assert_ok();

    // An account editor may rename the account (Spot: updateAccount is an Account Editor
    // action) but never create or delete accounts.
    app.post("/setup/account", &member, json!({"account": {"name": "Mine"}})).await.assert_error(
        403,
        "FORBIDDEN",
        None,
    );
    app.put(&format!("/setup/account/{second}"), &member, json!({"account": {"name": "Renamed"}})).await.assert_ok();
    app.delete(&format!("/setup/account/{second}"), &member).await.assert_error(403, "FORBIDDEN", None);
    assert_eq!(app.get("/setup/account", &a.token).await.items().len(), 2);
});
