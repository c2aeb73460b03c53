use crate::add_member;
use orgplane_testkit::both_backends;
use serde_json::json;

both_backends!(create_list_get_rename_delete, |app| {
    let t = app.signup("orgs@example.com").await;
    let res = app.post("/setup/organization", &t.token, json!({"organization": {"name": "Second Org"}})).await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:setup:organization");
    let new_id = res.item()["organizationId"].as_i64().expect("organizationId is an integer on create");
    assert_eq!(res.item()["organizationName"], "Second Org");
    assert_eq!(new_id.to_string().len(), 12);

    let list = app.get("/setup/organization", &t.token).await;
    let ids: Vec<_> = list.items().iter().map(|o| o["organizationId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec![t.org_id.clone(), new_id.to_string()]);

    // The new organization got its own default account.
    let in_new = app.password_token(&t.email, Some(&new_id.to_string())).await;
    let accounts = app.get("/setup/account", &in_new).await;
    assert_eq!(accounts.items().len(), 1);
    assert_eq!(accounts.item()["organizationId"], new_id.to_string());
    assert_eq!(accounts.item()["isDefault"], true);

    let path = format!("/setup/organization/{new_id}");
    app.put(&path, &t.token, json!({"organization": {"name": "Renamed"}})).await.assert_ok();
    let got = app.get(&path, &t.token).await;
    got.assert_ok();
    assert_eq!(got.item()["name"], "Renamed");

    app.delete(&path, &t.token).await.assert_ok();
    app.get(&path, &t.token).await.assert_error(404, "ORGANIZATION_DOESNT_EXIST", Some("path.organizationId"));
    assert_eq!(app.get("/setup/organization", &t.token).await.items().len(), 1);
    // Tokens bound to the deleted organization died with it.
    app.get("/setup/account", &in_new).await.assert_unauthenticated();
});

both_backends!(members_may_read_but_not_change_the_organization, |app| {
    let a = app.signup("orgadmin@example.com").await;
    let b = app.signup("orgmember@example.com").await;
    let member = add_member(&app, &a, &b).await;
    let path = format!("/setup/organization/{}", a.org_id);
    let got = app.get(&path, &member).await;
    got.assert_ok();
    assert_eq!(got.item()["role"], "member");
    app.put(&path, &member, json!({"organization": {"name": "Mine now"}})).await.assert_error(403, "FORBIDDEN", None);
    app.delete(&path, &member).await.assert_error(403, "FORBIDDEN", None);
    assert_eq!(app.get(&path, &a.token).await.item()["name"], "Org of orgadmin@example.com");
});

both_backends!(organization_input_is_checked, |app| {
    let t = app.signup("orgbad@example.com").await;
    app.post("/setup/organization", &t.token, json!({"organization": {"name": "  "}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.organization.name"),
    );
    app.post("/setup/organization", &t.token, json!({"organization": {"name": 42}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.organization.name"),
    );
    app.post("/setup/organization", &t.token, json!({"name": "flat"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.organization"),
    );
    app.get("/setup/organization/abc", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("path.organizationId"),
    );
    app.get("/setup/organization/606000000000", &t.token).await.assert_error(
        404,
        "ORGANIZATION_DOESNT_EXIST",
        Some("path.organizationId"),
    );
    let path = format!("/setup/organization/{}", t.org_id);
    app.put(&path, &t.token, json!({"organization": {}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.organization.name"),
    );
    assert_eq!(app.get(&path, &t.token).await.item()["name"], "Org of orgbad@example.com");
});
