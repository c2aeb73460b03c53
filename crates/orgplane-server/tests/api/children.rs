//! Linked organizations: children, invitations, inherited admins, one membership per family,
//! cycles and depth, unlinking, and no way across families.

use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};

async fn create_child(app: &TestApp, parent: &str, token: &str, name: &str, billing: &str) -> String {
    let created = app
        .post(
            &format!("/setup/organization/{parent}/children"),
            token,
            json!({"organization": {"name": name}, "billing": billing}),
        )
        .await;
    created.assert_ok();
    assert_eq!(created.item()["parentOrganizationId"], parent);
    created.item()["organizationId"].as_i64().expect("an integer id, as Spot's create").to_string()
}

async fn invite(app: &TestApp, parent: &Tenant, child: &str) -> Value {
    let sent = app
        .post(
            &format!("/setup/organization/{}/invitations", parent.org_id),
            &parent.token,
            json!({"childOrganizationId": child, "billing": "separate"}),
        )
        .await;
    sent.assert_ok();
    sent.item().clone()
}

both_backends!(a_parent_admin_runs_its_children_without_being_copied_into_them, |app| {
    let p = app.signup("parent-admin@example.com").await;
    let child = create_child(&app, &p.org_id, &p.token, "Child One", "shared").await;
    let grandchild = create_child(&app, &child, &p.token, "Grandchild", "separate").await;

    // The parent's admin can switch into both (a token for the child) and acts as an admin there.
    let in_child = app.password_token(&p.email, Some(&child)).await;
    let orgs = app.get("/setup/organization", &p.token).await;
    let ids: Vec<&str> = orgs.items().iter().map(|o| o["organizationId"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![p.org_id.as_str(), child.as_str(), grandchild.as_str()]);
    assert_eq!(orgs.items()[1]["role"], "admin");
    let account = app.post("/setup/account", &in_child, json!({"account": {"name": "child-prod"}})).await;
    account.assert_ok();
    app.post(
        "/setup/user",
        &in_child,
        json!({"firstName": "C", "lastName": "M", "email": "child-member@example.com", "password": PASSWORD, "role": "viewer"}),
    )
    .await
    .assert_ok();
    // Not copied: the child's users are its own members only.
    let users = app.get("/setup/organization/user", &in_child).await;
    let emails: Vec<&str> = users.items().iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails, vec!["child-member@example.com"]);

    let children = app.get(&format!("/setup/organization/{}/children", p.org_id), &p.token).await;
    children.assert_ok();
    let c = &children.items()[0];
    assert_eq!((c["organizationId"].as_str(), c["billing"].as_str()), (Some(child.as_str()), Some("shared")));
    assert_eq!(
        (c["accountCount"].as_i64(), c["userCount"].as_i64(), c["childCount"].as_i64()),
        (Some(2), Some(1), Some(1))
    );

    // Losing the admin role in the parent ends the powers below it at once.
    let second = app.signup("second-admin@example.com").await;
    let store = app.store();
    use orgplane_domain::access::OrgRole;
    use orgplane_domain::ids::{OrgId, UserId};
    store
        .add_member(OrgId::parse(&p.org_id).unwrap(), &UserId::parse(&second.user_id).unwrap(), OrgRole::Admin)
        .await
        .unwrap();
    store
        .add_member(OrgId::parse(&p.org_id).unwrap(), &UserId::parse(&p.user_id).unwrap(), OrgRole::Member)
        .await
        .unwrap();
    app.get("/setup/account", &in_child).await.assert_unauthenticated();
    app.get(&format!("/setup/organization/{}/children", p.org_id), &p.token).await.assert_error(403, "FORBIDDEN", None);
});

both_backends!(a_person_belongs_to_one_organization_of_a_family, |app| {
    let p = app.signup("family-parent@example.com").await;
    let child = create_child(&app, &p.org_id, &p.token, "Kid", "shared").await;
    let in_child = app.password_token(&p.email, Some(&child)).await;
    // The parent's admin cannot be added to the child, nor can a member of the parent.
    app.post(
        "/setup/user",
        &p.token,
        json!({"firstName": "M", "lastName": "P", "email": "in-parent@example.com", "password": PASSWORD, "role": "viewer"}),
    )
    .await
    .assert_ok();
    for email in ["family-parent@example.com", "in-parent@example.com"] {
        app.post(
            "/setup/user",
            &in_child,
            json!({"firstName": "M", "lastName": "P", "email": email, "password": PASSWORD, "role": "viewer"}),
        )
        .await
        .assert_error(400, "USER_IN_ORGANIZATION_FAMILY", Some("body.email"));
    }

    // Linking an organization that shares a person with the family is refused, naming them.
    let other = app.signup("other-root@example.com").await;
    app.post(
        "/setup/user",
        &other.token,
        json!({"firstName": "M", "lastName": "P", "email": "in-parent@example.com", "password": PASSWORD, "role": "viewer"}),
    )
    .await
    .assert_ok();
    let refused = app
        .post(
            &format!("/setup/organization/{}/invitations", p.org_id),
            &p.token,
            json!({"childOrganizationId": other.org_id}),
        )
        .await;
    refused.assert_error(400, "USER_IN_ORGANIZATION_FAMILY", Some("body.childOrganizationId"));
    assert!(refused.error().1.contains("in-parent@example.com"));
});

both_backends!(invitations_are_accepted_by_the_child_and_either_side_can_unlink, |app| {
    let p = app.signup("inviter@example.com").await;
    let c = app.signup("invitee@example.com").await;
    let sent = invite(&app, &p, &c.org_id).await;
    assert_eq!(sent["direction"], "sent");
    let id = sent["invitationId"].as_str().unwrap().to_string();
    let received = app.get(&format!("/setup/organization/{}/invitations", c.org_id), &c.token).await;
    assert_eq!(received.items()[0]["direction"], "received");
    assert_eq!(received.items()[0]["parentOrganizationName"], sent["parentOrganizationName"]);

    // The parent cannot accept on the child's behalf; a viewer of the child cannot either.
    app.post(&format!("/setup/organization/{}/invitations/{id}/accept", c.org_id), &p.token, json!({}))
        .await
        .assert_error(404, "ORGANIZATION_DOESNT_EXIST", Some("path.organizationId"));
    app.post(&format!("/setup/organization/{}/invitations/{id}/accept", c.org_id), &c.token, json!({}))
        .await
        .assert_ok();
    app.post(&format!("/setup/organization/{}/invitations/{id}/accept", c.org_id), &c.token, json!({}))
        .await
        .assert_error(404, "INVITATION_DOESNT_EXIST", Some("path.invitationId"));
    let children = app.get(&format!("/setup/organization/{}/children", p.org_id), &p.token).await;
    assert_eq!(children.items()[0]["organizationId"], c.org_id.as_str());
    assert_eq!(children.items()[0]["billing"], "separate");
    // The parent's admin now runs the child.
    let in_child = app.password_token(&p.email, Some(&c.org_id)).await;
    app.get("/setup/account", &in_child).await.assert_ok();
    // The child's admin does not run the parent.
    app.get(&format!("/setup/organization/{}/children", p.org_id), &c.token).await.assert_error(
        404,
        "ORGANIZATION_DOESNT_EXIST",
        Some("path.organizationId"),
    );

    // Billing can change; the child itself leaves.
    app.put(&format!("/setup/organization/{}/children/{}", p.org_id, c.org_id), &p.token, json!({"billing": "shared"}))
        .await
        .assert_ok();
    app.put(&format!("/setup/organization/{}/children/{}", p.org_id, c.org_id), &p.token, json!({"billing": "both"}))
        .await
        .assert_error(400, "ValidationError", Some("body.billing"));
    app.delete(&format!("/setup/organization/{}/children/{}", p.org_id, c.org_id), &c.token).await.assert_ok();
    app.get("/setup/account", &in_child).await.assert_unauthenticated();
    assert!(app.get(&format!("/setup/organization/{}/children", p.org_id), &p.token).await.items().is_empty());

    // Withdrawn and declined invitations.
    let again = invite(&app, &p, &c.org_id).await;
    let id = again["invitationId"].as_str().unwrap();
    app.delete(&format!("/setup/organization/{}/invitations/{id}", c.org_id), &c.token).await.assert_ok();
    app.delete(&format!("/setup/organization/{}/invitations/{id}", p.org_id), &p.token).await.assert_error(
        404,
        "INVITATION_DOESNT_EXIST",
        Some("path.invitationId"),
    );
});

both_backends!(links_refuse_self_cycles_second_parents_and_a_sixth_level, |app| {
    let root = app.signup("root-of-five@example.com").await;
    let field = Some("body.childOrganizationId");
    let at = |path: String| path;
    app.post(
        &at(format!("/setup/organization/{}/invitations", root.org_id)),
        &root.token,
        json!({"childOrganizationId": root.org_id}),
    )
    .await
    .assert_error(400, "LINK_TO_SELF", field);

    let mut chain = vec![root.org_id.clone()];
    for level in 2..=5 {
        let parent = chain.last().unwrap().clone();
        chain.push(create_child(&app, &parent, &root.token, &format!("Level {level}"), "separate").await);
    }
    let deepest = chain.last().unwrap().clone();
    app.post(
        &format!("/setup/organization/{deepest}/children"),
        &root.token,
        json!({"organization": {"name": "Level 6"}}),
    )
    .await
    .assert_error(400, "FAMILY_TOO_DEEP", None);

    // The root under its own descendant: a cycle. An admin of both tries it from below.
    let in_deepest = app.password_token(&root.email, Some(&deepest)).await;
    app.post(
        &format!("/setup/organization/{deepest}/invitations"),
        &in_deepest,
        json!({"childOrganizationId": root.org_id}),
    )
    .await
    .assert_error(400, "LINK_CYCLE", field);
    // A child of someone else.
    let other = app.signup("second-parent@example.com").await;
    app.post(
        &format!("/setup/organization/{}/invitations", other.org_id),
        &other.token,
        json!({"childOrganizationId": chain[1]}),
    )
    .await
    .assert_error(400, "ALREADY_A_CHILD", field);
    // Malformed and unknown ids, bad billing.
    app.post(
        &format!("/setup/organization/{}/invitations", other.org_id),
        &other.token,
        json!({"childOrganizationId": "12"}),
    )
    .await
    .assert_error(400, "ValidationError", field);
    app.post(
        &format!("/setup/organization/{}/invitations", other.org_id),
        &other.token,
        json!({"childOrganizationId": 999_999_999_999i64}),
    )
    .await
    .assert_error(404, "ORGANIZATION_DOESNT_EXIST", field);
    app.post(
        &format!("/setup/organization/{}/children", other.org_id),
        &other.token,
        json!({"organization": {"name": "x"}, "billing": "half"}),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.billing"));
    app.post(
        &format!("/setup/organization/{}/children", other.org_id),
        &other.token,
        json!({"organization": {"name": "  "}}),
    )
    .await
    .assert_error(400, "ValidationError", Some("body.organization.name"));
    // Only direct children: a grandchild, a stranger and a malformed id are not children here.
    for (child, status, code, field) in [
        (chain[2].as_str(), 404, "CHILD_ORGANIZATION_DOESNT_EXIST", "path.childOrganizationId"),
        (other.org_id.as_str(), 404, "CHILD_ORGANIZATION_DOESNT_EXIST", "path.childOrganizationId"),
        ("12x", 400, "ValidationError", "path.childOrganizationId"),
    ] {
        app.put(
            &format!("/setup/organization/{}/children/{child}", root.org_id),
            &root.token,
            json!({"billing": "shared"}),
        )
        .await
        .assert_error(status, code, Some(field));
    }
    // An invitation that has expired cannot be accepted.
    let late = app.signup("late-invitee@example.com").await;
    let sent = app
        .post(
            &format!("/setup/organization/{}/invitations", other.org_id),
            &other.token,
            json!({"childOrganizationId": late.org_id}),
        )
        .await;
    let id = sent.item()["invitationId"].as_str().unwrap().to_string();
    app.db.raw_sql(&format!("UPDATE organization_invitations SET expires_at = 1 WHERE id = '{id}'")).await;
    app.post(&format!("/setup/organization/{}/invitations/{id}/accept", late.org_id), &late.token, json!({}))
        .await
        .assert_error(404, "INVITATION_DOESNT_EXIST", Some("path.invitationId"));
    assert!(app.get(&format!("/setup/organization/{}/children", other.org_id), &other.token).await.items().is_empty());

    // A parent with children cannot be deleted; a child with no admin of its own cannot leave.
    app.delete(&format!("/setup/organization/{}", root.org_id), &root.token).await.assert_error(
        400,
        "ORGANIZATION_HAS_CHILDREN",
        None,
    );
    app.delete(&format!("/setup/organization/{}/children/{}", root.org_id, chain[1]), &root.token).await.assert_error(
        400,
        "CHILD_HAS_NO_ADMIN",
        None,
    );
});

both_backends!(only_admins_link_and_no_one_crosses_families, |app| {
    let p = app.signup("family-a@example.com").await;
    let q = app.signup("family-b@example.com").await;
    let child = create_child(&app, &p.org_id, &p.token, "A child", "shared").await;
    let viewer = app
        .post(
            "/setup/user?generateToken=true",
            &p.token,
            json!({"firstName": "V", "lastName": "W", "email": "viewer-a@example.com", "password": PASSWORD, "role": "viewer"}),
        )
        .await
        .item()["personalAccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path, body) in [
        ("GET", format!("/setup/organization/{}/children", p.org_id), None),
        ("POST", format!("/setup/organization/{}/children", p.org_id), Some(json!({"organization": {"name": "v"}}))),
        (
            "POST",
            format!("/setup/organization/{}/invitations", p.org_id),
            Some(json!({"childOrganizationId": q.org_id})),
        ),
        ("PUT", format!("/setup/organization/{}/children/{child}", p.org_id), Some(json!({"billing": "separate"}))),
        ("DELETE", format!("/setup/organization/{}/children/{child}", p.org_id), None),
    ] {
        app.call(method, &path, Some(&viewer), body).await.assert_error(403, "FORBIDDEN", None);
    }
    // A viewer of the parent is nobody in the child.
    let viewer_email_token = app.password_token("viewer-a@example.com", Some(&p.org_id)).await;
    assert_eq!(app.get("/setup/organization", &viewer_email_token).await.items().len(), 1);

    // Another family sees nothing of this one, and cannot touch it.
    for (method, path, body) in [
        ("GET", format!("/setup/organization/{}/children", p.org_id), None),
        ("GET", format!("/setup/organization/{child}/children"), None),
        ("GET", format!("/setup/organization/{child}"), None),
        ("POST", format!("/setup/organization/{child}/children"), Some(json!({"organization": {"name": "x"}}))),
        ("DELETE", format!("/setup/organization/{}/children/{child}", p.org_id), None),
        ("GET", format!("/setup/organization/{child}/invitations"), None),
    ] {
        app.call(method, &path, Some(&q.token), body).await.assert_error(
            404,
            "ORGANIZATION_DOESNT_EXIST",
            Some("path.organizationId"),
        );
    }
    let login = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": "password", "username": q.email, "password": PASSWORD, "organizationId": child})),
        )
        .await;
    login.assert_error(400, "NOT_A_MEMBER", Some("body.organizationId"));
});

both_backends!(shared_children_are_consolidated_on_the_parents_bill, |app| {
    let p = app.signup("payer@example.com").await;
    let shared = create_child(&app, &p.org_id, &p.token, "Shared kid", "shared").await;
    let separate = create_child(&app, &p.org_id, &p.token, "Separate kid", "separate").await;
    let usage = |account: &str, od: i64, actual: i64| {
        json!({"batchKey": format!("b-{account}"), "records": [{"accountId": account, "date": "2026-10-03",
            "product": "ocean", "vcpuHours": 1.0, "onDemandCostCents": od, "actualCostCents": actual}]})
    };
    app.post("/billing/usage", &p.token, usage(&p.account_id, 10_000, 5_000)).await.assert_ok();
    let mut child_tokens = Vec::new();
    for (child, od) in [(&shared, 20_000), (&separate, 40_000)] {
        let token = app.password_token(&p.email, Some(child)).await;
        let account = app.get("/setup/account", &token).await.items()[0]["id"].as_str().unwrap().to_string();
        app.post("/billing/usage", &token, usage(&account, od, 0)).await.assert_ok();
        child_tokens.push(token);
    }

    // The parent's bill: its own section, then the shared child's; not the separate one.
    let bill = app.get("/billing/bills?month=2026-10", &p.token).await;
    let b = bill.item();
    let sections: Vec<(&str, i64)> = b["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["organizationName"].as_str().unwrap(), s["totalSavingsCents"].as_i64().unwrap()))
        .collect();
    assert_eq!(sections[1], ("Shared kid", 20_000));
    assert_eq!(sections.len(), 2);
    assert_eq!(b["totalSavingsCents"], 25_000);
    assert_eq!(b["totalFeeCents"], 5_000, "20 % of the family's savings");
    assert_eq!(b["lines"].as_array().unwrap()[1]["organizationId"].to_string(), shared);
    assert!(b["billedToOrganizationId"].is_null());
    let trend = b["trend"].as_array().unwrap();
    assert_eq!(trend.last().unwrap()["totalFeeCents"], 5_000);
    let csv = app.get("/billing/bills?month=2026-10&format=csv", &p.token).await;
    let text = csv.json.as_str().expect("a CSV file");
    assert!(text.contains(&shared) && !text.contains(&separate), "{text}");

    // The shared child sees its own usage, billed to the parent; the separate one pays itself.
    let shared_bill = app.get("/billing/bills?month=2026-10", &child_tokens[0]).await;
    assert_eq!(shared_bill.item()["billedToOrganizationId"].to_string(), p.org_id);
    assert_eq!(shared_bill.item()["sections"].as_array().unwrap().len(), 1);
    let separate_bill = app.get("/billing/bills?month=2026-10", &child_tokens[1]).await;
    assert!(separate_bill.item()["billedToOrganizationId"].is_null());
    assert_eq!(separate_bill.item()["totalFeeCents"], 8_000);

    // The family report: everything below the parent, each at its own prices (admins only).
    let family = app.get("/billing/bills?month=2026-10&scope=family", &p.token).await;
    assert_eq!(family.item()["sections"].as_array().unwrap().len(), 3);
    assert_eq!(family.item()["totalFeeCents"], 13_000);
    app.get("/billing/bills?month=2026-10&scope=everyone", &p.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.scope"),
    );
    let viewer = app
        .post(
            "/setup/user?generateToken=true",
            &p.token,
            json!({"firstName": "V", "lastName": "W", "email": "bill-viewer@example.com", "password": PASSWORD, "role": "viewer"}),
        )
        .await
        .item()["personalAccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.get("/billing/bills?month=2026-10&scope=family", &viewer).await.assert_error(403, "FORBIDDEN", None);

    // Switching the shared child to separate takes it off the parent's bill.
    app.put(&format!("/setup/organization/{}/children/{shared}", p.org_id), &p.token, json!({"billing": "separate"}))
        .await
        .assert_ok();
    let after = app.get("/billing/bills?month=2026-10", &p.token).await;
    assert_eq!(after.item()["sections"].as_array().unwrap().len(), 1);
    assert_eq!(after.item()["totalFeeCents"], 1_000);
});

both_backends!(a_shared_child_follows_its_payers_plan, |app| {
    let p = app.signup("plan-payer@example.com").await;
    let shared = create_child(&app, &p.org_id, &p.token, "On parent's plan", "shared").await;
    let separate = create_child(&app, &p.org_id, &p.token, "Own plan", "separate").await;
    app.post(
        "/billing/plan/activate",
        &p.token,
        json!({"billingContact": {"name": "Ada", "email": "billing@example.com"}, "paymentMethod": {"type": "invoice"}}),
    )
    .await
    .assert_ok();
    let plan_of = |org: String| {
        let app = &app;
        let email = p.email.clone();
        async move {
            let token = app.password_token(&email, Some(&org)).await;
            app.get("/billing/plan", &token).await.item()["plan"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(plan_of(shared).await, "payg");
    assert_eq!(plan_of(separate).await, "trial");
});
