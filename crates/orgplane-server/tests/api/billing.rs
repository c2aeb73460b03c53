//! Plans: the trial, activation, and the read-only organization after an expired trial.

use orgplane_domain::outbox::{Channel, Status};
use orgplane_testkit::{PASSWORD, Tenant, TestApp, both_backends};
use serde_json::{Value, json};

fn activation() -> Value {
    json!({"billingContact": {"name": "Ada Lovelace", "email": "billing@example.com"},
        "paymentMethod": {"type": "card", "brand": "visa", "last4": "4242", "expMonth": 12, "expYear": 2040}})
}

/// Moves the organization's sign-up `days` into the past, and signs in again (a token made
/// before would keep its cached view of the plan until the next change).
async fn age(app: &TestApp, t: &Tenant, days: i64) -> String {
    let ms = days * 24 * 60 * 60 * 1000;
    app.db.raw_sql(&format!("UPDATE organizations SET created_at = created_at - {ms} WHERE id = {}", t.org_id)).await;
    app.password_token(&t.email, None).await
}

async fn emails_about(app: &TestApp, subject: &str) -> usize {
    let pending = app.store().outbox_messages(Status::Pending).await.unwrap();
    pending.iter().filter(|m| m.channel == Channel::Email && m.payload.contains(subject)).count()
}

both_backends!(a_new_organization_is_on_a_thirty_day_trial, |app| {
    let t = app.signup("trial@example.com").await;
    let plan = app.get("/billing/plan", &t.token).await;
    assert_eq!(plan.item()["plan"], "trial");
    assert_eq!(plan.item()["status"], "trial");
    assert_eq!(plan.item()["trialDaysLeft"], 30);
    assert!(plan.item()["paymentMethod"].is_null());
});

both_backends!(activation_takes_a_card_reference_never_a_number, |app| {
    let t = app.signup("activate@example.com").await;
    let with = |path: &[&str], v: Value| {
        let mut b = activation();
        let mut target = &mut b;
        for p in &path[..path.len() - 1] {
            target = &mut target[*p];
        }
        target[path[path.len() - 1]] = v;
        b
    };
    let cases = [
        (
            with(&["paymentMethod", "number"], json!("4242 4242 4242 4242")),
            "CARD_NUMBER_REFUSED",
            "body.paymentMethod.number",
        ),
        (
            with(&["paymentMethod", "last4"], json!("4242424242424242")),
            "CARD_NUMBER_REFUSED",
            "body.paymentMethod.last4",
        ),
        (with(&["paymentMethod", "last4"], json!("42a2")), "ValidationError", "body.paymentMethod.last4"),
        (with(&["paymentMethod", "brand"], json!("monopoly")), "ValidationError", "body.paymentMethod.brand"),
        (with(&["paymentMethod", "expYear"], json!(2020)), "CARD_EXPIRED", "body.paymentMethod.expYear"),
        (with(&["paymentMethod", "type"], json!("cash")), "ValidationError", "body.paymentMethod"),
        (with(&["billingContact", "email"], json!("nope")), "ValidationError", "body.billingContact.email"),
        (json!({"paymentMethod": {"type": "invoice"}}), "ValidationError", "body.billingContact"),
    ];
    for (body, code, field) in cases {
        app.post("/billing/plan/activate", &t.token, body).await.assert_error(400, code, Some(field));
    }
    assert_eq!(app.get("/billing/plan", &t.token).await.item()["plan"], "trial", "nothing half-written");
    let viewer = app
        .post("/setup/user?generateToken=true", &t.token, json!({"firstName": "V", "lastName": "W", "email": "v@example.com", "password": PASSWORD, "role": "viewer"}))
        .await
        .item()["personalAccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/billing/plan/activate", &viewer, activation()).await.assert_error(403, "FORBIDDEN", None);

    let done = app.post("/billing/plan/activate", &t.token, activation()).await;
    done.assert_ok();
    assert_eq!(done.item()["plan"], "payg");
    assert_eq!(done.item()["status"], "active");
    assert_eq!(
        done.item()["paymentMethod"],
        json!({"type": "card", "brand": "visa", "last4": "4242", "expMonth": 12, "expYear": 2040})
    );
    assert!(done.item()["trialDaysLeft"].is_null());
    assert_eq!(emails_about(&app, "Organization activated").await, 1, "the admin is told");
    let dump =
        app.db.raw_texts("SELECT payment_method FROM organizations WHERE payment_method IS NOT NULL").await.join("");
    assert!(!dump.contains("42424242"));
});

both_backends!(an_expired_trial_is_read_only_until_activated, |app| {
    let t = app.signup("expired@example.com").await;
    let token = age(&app, &t, 31).await;
    let plan = app.get("/billing/plan", &token).await;
    assert_eq!((plan.item()["status"].as_str(), plan.item()["trialDaysLeft"].as_i64()), (Some("expired"), Some(0)));
    app.get("/setup/account", &token).await.assert_ok();
    app.post("/setup/account", &token, json!({"account": {"name": "Blocked"}})).await.assert_error(
        403,
        "ORGANIZATION_NOT_ACTIVE",
        None,
    );
    app.post("/auth/tokens", &token, json!({"name": "ci"})).await.assert_error(403, "ORGANIZATION_NOT_ACTIVE", None);
    app.post("/billing/plan/activate", &token, json!({"billingContact": {"name": "Ada Lovelace", "email": "b@example.com"}, "paymentMethod": {"type": "invoice"}}))
        .await
        .assert_ok();
    app.post("/setup/account", &token, json!({"account": {"name": "Allowed"}})).await.assert_ok();
});

both_backends!(a_trial_ending_within_a_week_is_announced_once, |app| {
    let t = app.signup("ending@example.com").await;
    assert_eq!(app.store().send_trial_reminders().await.unwrap(), 0, "30 days left");
    age(&app, &t, 25).await;
    assert_eq!(app.store().send_trial_reminders().await.unwrap(), 1);
    assert_eq!(app.store().send_trial_reminders().await.unwrap(), 0, "once");
    assert_eq!(emails_about(&app, "Trial ending").await, 1);
    let inbox = app.get("/notifications", &t.token).await;
    assert!(inbox.items().iter().any(|i| i["event"] == "trial.expiring"));
});

fn record(account: &str, date: &str) -> Value {
    json!({"accountId": account, "date": date, "product": "ocean", "vcpuHours": 10.5, "onDemandCostCents": 1000, "actualCostCents": 300})
}

both_backends!(usage_batches_are_ingested_whole_and_once, |app| {
    let t = app.signup("usage@example.com").await;
    let org = orgplane_domain::ids::OrgId::parse(&t.org_id).unwrap();
    let batch = json!({"batchKey": "2026-11-day-30", "records": [record(&t.account_id, "2026-11-30"), record(&t.account_id, "2026-11-29")]});
    let first = app.post("/billing/usage", &t.token, batch.clone()).await;
    first.assert_ok();
    assert_eq!((first.item()["records"].as_i64(), first.item()["duplicate"].as_bool()), (Some(2), Some(false)));
    let again = app.post("/billing/usage", &t.token, batch).await;
    assert_eq!(again.item()["duplicate"], true, "a repeat changes nothing");
    assert_eq!(app.store().usage_month_totals(org, "2026-11").await.unwrap(), (2, 21_000, 2000, 600));
    // The same key with other records is a mistake, not a repeat.
    let reused = json!({"batchKey": "2026-11-day-30", "records": [record(&t.account_id, "2026-11-28")]});
    app.post("/billing/usage", &t.token, reused).await.assert_error(400, "BATCH_KEY_REUSED", Some("body.batchKey"));
});

both_backends!(a_bad_record_refuses_the_whole_batch_naming_its_index, |app| {
    let t = app.signup("usage-bad@example.com").await;
    let org = orgplane_domain::ids::OrgId::parse(&t.org_id).unwrap();
    let good = record(&t.account_id, "2026-11-30");
    let with = |k: &str, v: Value| {
        let mut r = good.clone();
        r[k] = v;
        json!({"batchKey": format!("bad-{k}"), "records": [good.clone(), r]})
    };
    let cases = [
        (with("accountId", json!("act-00000000")), "Account_DOESNT_EXIST", "body.records[1].accountId"),
        (with("date", json!("2999-01-01")), "ValidationError", "body.records[1].date"),
        (with("date", json!("2026-13-01")), "ValidationError", "body.records[1].date"),
        (with("vcpuHours", json!(-1)), "ValidationError", "body.records[1].vcpuHours"),
        (with("actualCostCents", json!(-5)), "ValidationError", "body.records[1].actualCostCents"),
        (with("product", json!("Ocean!")), "ValidationError", "body.records[1].product"),
        (with("onDemandCostCents", json!(1.5)), "ValidationError", "body.records[1].onDemandCostCents"),
        (json!({"batchKey": "empty", "records": []}), "ValidationError", "body.records"),
        (json!({"batchKey": "", "records": [good.clone()]}), "ValidationError", "body.batchKey"),
    ];
    for (body, code, field) in cases {
        app.post("/billing/usage", &t.token, body).await.assert_error(400, code, Some(field));
    }
    assert_eq!(app.store().usage_month_totals(org, "2026-11").await.unwrap().0, 0, "nothing half-ingested");
});

both_backends!(a_monthly_bill_prices_each_line_and_shows_the_trend, |app| {
    use orgplane_domain::billing::Price;
    use orgplane_domain::plan::Plan;
    let t = app.signup("bill@example.com").await;
    let org = orgplane_domain::ids::OrgId::parse(&t.org_id).unwrap();
    let second = app.post("/setup/account", &t.token, json!({"account": {"name": "Second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = |account: &str, date: &str, product: &str, vcpu: f64, od: i64, actual: i64| json!({"accountId": account, "date": date, "product": product, "vcpuHours": vcpu, "onDemandCostCents": od, "actualCostCents": actual});
    let batch = json!({"batchKey": "b1", "records": [
        r(&t.account_id, "2026-10-03", "ocean", 10.0, 10_000, 4_000),
        r(&t.account_id, "2026-10-04", "ocean", 5.5, 5_000, 2_000),
        r(&second, "2026-10-04", "elastigroup", 100.0, 1_000, 1_500),
        r(&t.account_id, "2026-09-20", "ocean", 1.0, 1_000, 0),
    ]});
    app.post("/billing/usage", &t.token, batch).await.assert_ok();
    app.store().set_plan(org, Plan::Payg).await.unwrap();
    app.store().set_price(Plan::Payg, "elastigroup", Price::PerVcpuHour { millicents: 1500 }).await.unwrap();

    let bill = app.get("/billing/bills?month=2026-10", &t.token).await;
    bill.assert_ok();
    let b = bill.item();
    assert_eq!(b["currency"], "USD");
    assert_eq!(b["final"], true);
    let lines = b["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let ocean = lines.iter().find(|l| l["product"] == "ocean").unwrap();
    // 20 % (the pay-as-you-go default) of 15,000 − 6,000 saved.
    assert_eq!(
        (ocean["savingsCents"].as_i64(), ocean["feeCents"].as_i64(), ocean["vcpuHours"].as_f64()),
        (Some(9_000), Some(1_800), Some(15.5))
    );
    let eg = lines.iter().find(|l| l["product"] == "elastigroup").unwrap();
    // No savings (it cost more than on-demand); 100 vCPU-hours at 1.5 cents.
    assert_eq!((eg["savingsCents"].as_i64(), eg["feeCents"].as_i64()), (Some(0), Some(150)));
    assert_eq!((b["totalSavingsCents"].as_i64(), b["totalFeeCents"].as_i64()), (Some(9_000), Some(1_950)));
    let trend = b["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 6);
    assert_eq!(trend[4], json!({"month": "2026-09", "totalFeeCents": 200}));
    assert_eq!(trend[5], json!({"month": "2026-10", "totalFeeCents": 1_950}));

    let csv = app.get("/billing/bills?month=2026-10&format=csv", &t.token).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = csv.json.as_str().unwrap();
    assert!(text.starts_with("month,accountId,product,vcpuHours"));
    assert!(text.contains(&format!("2026-10,{},ocean,15.500,15000,6000,9000,1800", t.account_id)));
    assert!(text.trim_end().ends_with("2026-10,TOTAL,,,,,9000,1950"));

    for (q, field) in [
        ("month=2999-01", "query.month"),
        ("month=2026-13", "query.month"),
        ("month=oct", "query.month"),
        ("format=xls", "query.format"),
    ] {
        app.get(&format!("/billing/bills?{q}"), &t.token).await.assert_error(400, "ValidationError", Some(field));
    }
    let empty = app.get("/billing/bills", &t.token).await;
    assert_eq!(empty.item()["final"], false, "this month is still open");
});
