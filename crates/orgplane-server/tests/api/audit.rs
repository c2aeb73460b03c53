//! The audit trail: what is recorded and how, the Spot-shaped query, the export, the webhook
//! settings, the hash chain's tamper evidence, and who may read it.

use orgplane_domain::outbox::{Channel, Status};
use orgplane_testkit::orgplane_store::now_ms;
use orgplane_testkit::{PASSWORD, TestApp, TestResponse, both_backends};
use serde_json::{Value, json};

fn window() -> String {
    format!("fromDate={}&toDate={}", now_ms() - 3_600_000, now_ms() + 3_600_000)
}

async fn events(app: &TestApp, token: &str, extra: &str) -> Vec<Value> {
    let res = app.get(&format!("/audit/events?{}&limit=1000{extra}", window()), token).await;
    res.assert_ok();
    assert_eq!(res.json["response"]["kind"], "spotinst:audit");
    res.items().clone()
}

fn find<'a>(events: &'a [Value], action_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["actionType"] == action_type).collect()
}

both_backends!(changes_and_sign_ins_are_recorded_in_spots_shape, |app| {
    let t = app.signup("audited@example.com").await;
    let account = app.post("/setup/account", &t.token, json!({"account": {"name": "Prod"}})).await;
    let account_id = account.item()["id"].as_str().unwrap().to_string();
    app.put(&format!("/setup/account/{account_id}"), &t.token, json!({"account": {"name": "Production"}}))
        .await
        .assert_ok();
    app.get("/setup/account", &t.token).await.assert_ok();
    let all = events(&app, &t.token, "").await;

    let created = find(&all, "Create account");
    assert_eq!(created.len(), 1, "{all:?}");
    let e = created[0];
    assert_eq!(e["action"], "setup:createAccount");
    assert_eq!(e["namespace"], "GENERAL");
    assert_eq!(e["resourceType"], "account");
    assert_eq!(e["resourceId"], account_id.as_str());
    assert_eq!(e["user"], "audited@example.com");
    assert_eq!(e["userId"], t.user_id.as_str());
    assert_eq!(e["organizationId"], t.org_id.as_str());
    assert_eq!(e["responseStatus"], 200);
    assert_eq!(e["source"], "API");
    assert!(e["createdAt"].as_str().unwrap().ends_with('Z'));
    // `context` is a JSON string of the request, as Spot sends it.
    let context: Value = serde_json::from_str(e["context"].as_str().unwrap()).unwrap();
    assert_eq!(context["url"], "/setup/account");
    assert_eq!(context["body"]["account"]["name"], "Prod");

    let updated = find(&all, "Update account");
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["accountId"], account_id.as_str());
    // Sign-up and the sign-in that followed are there; reads are not.
    assert_eq!(find(&all, "Sign up").len(), 1);
    let sign_in = find(&all, "Sign in");
    assert_eq!(sign_in.len(), 1);
    assert_eq!(sign_in[0]["user"], "audited@example.com");
    let context: Value = serde_json::from_str(sign_in[0]["context"].as_str().unwrap()).unwrap();
    assert_eq!(context["body"]["password"], "[REDACTED]", "passwords never reach the trail");
    assert!(!sign_in[0].to_string().contains(PASSWORD));
    assert!(all.iter().all(|e| !e["action"].as_str().unwrap().contains("list")));
    // Newest first, positions in the chain strictly decreasing.
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
});

both_backends!(refused_requests_and_failed_sign_ins_show_only_with_response_status_all, |app| {
    let t = app.signup("strict@example.com").await;
    let wrong = json!({"grant_type": "password", "username": "strict@example.com", "password": "not-it-at-all"});
    app.call("POST", "/oauth/token", None, Some(wrong)).await.assert_error(
        400,
        "INVALID_CREDENTIALS",
        Some("body.username"),
    );
    app.post("/setup/account", &t.token, json!({"account": {"name": ""}})).await.assert_error(
        400,
        "ValidationError",
        Some("body.account.name"),
    );

    let success = events(&app, &t.token, "").await;
    assert!(success.iter().all(|e| e["responseStatus"] == 200), "{success:?}");
    let all = events(&app, &t.token, "&responseStatus=all").await;
    let failed_sign_in =
        find(&all, "Sign in").into_iter().find(|e| e["responseStatus"] == 400).expect("failed sign-in");
    assert_eq!(failed_sign_in["user"], "strict@example.com");
    assert_eq!(failed_sign_in["userId"], t.user_id.as_str());
    let refused = find(&all, "Create account");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["responseStatus"], 400);
    // A refused change leaves no success record behind.
    assert!(find(&success, "Create account").is_empty());
});

both_backends!(filters_and_paging_cover_every_event_once, |app| {
    let t = app.signup("pager@example.com").await;
    let mut accounts = Vec::new();
    for n in 0..5 {
        let res = app.post("/setup/account", &t.token, json!({"account": {"name": format!("Acc {n}")}})).await;
        accounts.push(res.item()["id"].as_str().unwrap().to_string());
    }
    let by_action = events(&app, &t.token, "&action=setup:createAccount").await;
    assert_eq!(by_action.len(), 5);
    let by_resource = events(&app, &t.token, &format!("&resourceType=account&resourceId={}", accounts[2])).await;
    assert_eq!(by_resource.len(), 1);
    let by_account = events(&app, &t.token, &format!("&accountId={}", accounts[4])).await;
    assert_eq!(by_account.len(), 1);
    assert_eq!(events(&app, &t.token, "&user=PAGER@example.com").await.len(), events(&app, &t.token, "").await.len());
    assert!(events(&app, &t.token, "&user=nobody@example.com").await.is_empty());
    let old = app.get("/audit/events?fromDate=0&toDate=1000", &t.token).await;
    assert!(old.items().is_empty());

    // Pages of 2 with the cursor: every event exactly once, in order.
    let all = events(&app, &t.token, "").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = app.get(&format!("/audit/events?{}&limit=2{cursor}", window()), &t.token).await;
        res.assert_ok();
        assert!(res.items().len() <= 2);
        seen.extend(res.items().iter().map(|e| e["id"].clone()));
        match res.json["response"]["paginationInfo"]["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());
});

both_backends!(bad_queries_name_the_parameter, |app| {
    let t = app.signup("badq@example.com").await;
    let cases = [
        ("/audit/events?toDate=1", "query.fromDate"),
        ("/audit/events?fromDate=1", "query.toDate"),
        ("/audit/events?fromDate=yesterday&toDate=1", "query.fromDate"),
        ("/audit/events?fromDate=-5&toDate=1", "query.fromDate"),
        ("/audit/events?fromDate=10&toDate=5", "query.fromDate"),
        ("/audit/events?fromDate=0&toDate=5&responseStatus=failed", "query.responseStatus"),
        ("/audit/events?fromDate=0&toDate=5&limit=0", "query.limit"),
        ("/audit/events?fromDate=0&toDate=5&limit=5000", "query.limit"),
        ("/audit/events?fromDate=0&toDate=5&cursor=abc", "query.cursor"),
        ("/audit/events?fromDate=0&toDate=5&color=red", "query.color"),
        ("/audit/events/export?format=xml", "query.format"),
    ];
    for (path, field) in cases {
        app.get(path, &t.token).await.assert_error(400, "ValidationError", Some(field));
    }
});

both_backends!(reading_the_trail_needs_admin_or_describe_all_audit_events, |app| {
    let t = app.signup("boss@example.com").await;
    let res = app
        .post(
            "/setup/user?generateToken=true",
            &t.token,
            json!({"firstName": "V", "lastName": "Iewer", "email": "viewer@example.com", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    let (user, token) = (
        res.item()["userId"].as_str().unwrap().to_string(),
        res.item()["personalAccessToken"].as_str().unwrap().to_string(),
    );
    let q = format!("/audit/events?{}", window());
    app.get(&q, &token).await.assert_error(403, "FORBIDDEN", None);
    app.get("/audit/events/export", &token).await.assert_error(403, "FORBIDDEN", None);
    // A custom policy granting exactly the action opens it.
    let policy = app
        .post(
            "/setup/access/policy",
            &t.token,
            json!({"policy": {"name": "Auditor", "type": "ORGANIZATION", "policyContent": {"statements": [
                {"effect": "ALLOW", "actions": ["setup:describeAllAuditEvents"], "resources": ["*"]}]}}}),
        )
        .await;
    let policy_id = policy.item()["id"].as_str().unwrap().to_string();
    app.put(&format!("/setup/user/{user}/policyMapping"), &t.token, json!({"policies": [{"policyId": policy_id}]}))
        .await
        .assert_ok();
    app.get(&q, &token).await.assert_ok();
    // Reading is not configuring: the webhook stays admin-only.
    app.put("/audit/webhook", &token, json!({"url": "https://hooks.example.com/x"})).await.assert_error(
        403,
        "FORBIDDEN",
        None,
    );
});

fn csv_rows(res: &TestResponse) -> Vec<String> {
    res.json.as_str().unwrap().split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
}

both_backends!(the_export_streams_everything_as_csv_or_json_lines, |app| {
    let t = app.signup("export@example.com").await;
    for n in 0..3 {
        app.post("/setup/account", &t.token, json!({"account": {"name": format!("=HYPERLINK(\"x\",{n})")}})).await;
    }
    let listed = events(&app, &t.token, "").await;

    let csv = app.get("/audit/events/export", &t.token).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains("audit.csv"));
    let rows = csv_rows(&csv);
    assert!(rows[0].starts_with("id,seq,createdAt,organizationId"));
    assert_eq!(rows.len(), listed.len() + 1);

    let jsonl = app.get("/audit/events/export?format=jsonl&action=setup:createAccount", &t.token).await;
    assert_eq!(jsonl.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = jsonl
        .json
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 3);
    // Oldest first in the export.
    assert!(lines.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
});

both_backends!(the_export_has_no_window_limit, |app| {
    let t = app.signup("bulk@example.com").await;
    // More events than one export batch (500).
    let path = format!("/setup/organization/{}", t.org_id);
    for n in 0..520 {
        app.put(&path, &t.token, json!({"organization": {"name": format!("Bulk {n}")}})).await.assert_ok();
    }
    let csv = app.get("/audit/events/export?action=setup:updateOrganization", &t.token).await;
    assert_eq!(csv_rows(&csv).len(), 521, "a header and 520 events");
});

both_backends!(webhook_settings_keep_the_secret_to_themselves, |app| {
    let t = app.signup("hooks@example.com").await;
    app.get("/audit/webhook", &t.token).await.assert_error(404, "AUDIT_WEBHOOK_DOESNT_EXIST", Some("path"));
    app.put("/audit/webhook", &t.token, json!({"url": "ftp://example.com"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.url"),
    );
    app.put("/audit/webhook", &t.token, json!({"url": "https://hooks.example.com/a", "secret": "short"}))
        .await
        .assert_error(400, "ValidationError", Some("body.secret"));
    let set = app.put("/audit/webhook", &t.token, json!({"url": "https://hooks.example.com/a"})).await;
    set.assert_ok();
    let secret = set.item()["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 16);
    let got = app.get("/audit/webhook", &t.token).await;
    assert_eq!(got.item()["url"], "https://hooks.example.com/a");
    assert!(got.item()["secret"].is_null());
    assert!(!got.json.to_string().contains(&secret));

    // Each later event is queued for delivery, with the secret sealed.
    app.post("/setup/account", &t.token, json!({"account": {"name": "Hooked"}})).await.assert_ok();
    let queued = app.store().outbox_messages(Status::Pending).await.unwrap();
    let hooks: Vec<_> = queued.iter().filter(|m| m.channel == Channel::Webhook).collect();
    assert_eq!(hooks.len(), 2, "setting the webhook and the account since");
    assert!(hooks[0].payload.contains("Set audit webhook"));
    assert!(hooks[1].payload.contains("Create account"));
    assert!(hooks.iter().all(|h| !h.payload.contains(&secret)), "the secret is stored encrypted");

    app.delete("/audit/webhook", &t.token).await.assert_ok();
    app.delete("/audit/webhook", &t.token).await.assert_error(404, "AUDIT_WEBHOOK_DOESNT_EXIST", Some("path"));
    app.post("/setup/account", &t.token, json!({"account": {"name": "Unhooked"}})).await.assert_ok();
    let queued = app.store().outbox_messages(Status::Pending).await.unwrap();
    assert_eq!(queued.iter().filter(|m| m.channel == Channel::Webhook).count(), 2, "nothing is sent after removal");
});

both_backends!(tampering_with_a_stored_event_is_detected, |app| {
    let t = app.signup("tamper@example.com").await;
    for n in 0..3 {
        app.post("/setup/account", &t.token, json!({"account": {"name": format!("T{n}")}})).await.assert_ok();
    }
    let org: i64 = t.org_id.parse().unwrap();
    let report = app.store().verify_audit().await.unwrap();
    assert!(report.iter().all(|r| r.result.is_ok()), "{report:?}");
    let chain = report.iter().find(|r| r.organization_id == org).unwrap();
    let total = *chain.result.as_ref().unwrap();
    assert!(total >= 5, "sign-up, sign-in and three accounts");

    // Someone with database access rewrites who did it.
    app.db
        .raw_sql(&format!(
            "UPDATE audit_events SET user_email = 'intern@example.com' WHERE organization_id = {org} AND seq = 3"
        ))
        .await;
    let report = app.store().verify_audit().await.unwrap();
    let broken = report.iter().find(|r| r.organization_id == org).unwrap().result.clone().unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("altered"), "{broken}");

    // Deleting the last event instead is caught by the chain's recorded end.
    let other = app.signup("tamper-two@example.com").await;
    let org2: i64 = other.org_id.parse().unwrap();
    app.db.raw_sql(&format!("DELETE FROM audit_events WHERE organization_id = {org2} AND seq = (SELECT MAX(seq) FROM audit_events WHERE organization_id = {org2})")).await;
    let report = app.store().verify_audit().await.unwrap();
    assert!(report.iter().find(|r| r.organization_id == org2).unwrap().result.is_err());
});

both_backends!(a_change_and_its_record_commit_together, |app| {
    let t = app.signup("atomic@example.com").await;
    let before = app.get("/setup/account", &t.token).await.items().len();
    // With the trail unwritable, the change it would record does not happen either.
    app.db.raw_sql("DROP TABLE audit_heads").await;
    let res = app.post("/setup/account", &t.token, json!({"account": {"name": "Unrecorded"}})).await;
    assert_eq!(res.status, 500, "{}", res.json);
    assert_eq!(app.get("/setup/account", &t.token).await.items().len(), before);
});
