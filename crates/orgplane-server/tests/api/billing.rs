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
    assert!(text.starts_with("month,organizationId,accountId,product,vcpuHours"));
    assert!(text.contains(&format!("2026-10,{},{},ocean,15.500,15000,6000,9000,1800\r\n", t.org_id, t.account_id)));
    assert!(text.ends_with("2026-10,,TOTAL,,,,,9000,1950\r\n"));

    for (q, field) in [
        ("month=2999-01", "query.month"),
        ("month=2026-13", "query.month"),
        ("month=oct", "query.month"),
        ("format=xls", "query.format"),
        ("format=PDF", "query.format"),
    ] {
        app.get(&format!("/billing/bills?{q}"), &t.token).await.assert_error(400, "ValidationError", Some(field));
    }
    let empty = app.get("/billing/bills", &t.token).await;
    assert_eq!(empty.item()["final"], false, "this month is still open");
});

/// Sends a GET and returns the status, headers and raw body (a PDF is not text).
async fn raw(app: &TestApp, path: &str, token: &str) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

both_backends!(a_bill_downloads_as_pdf_csv_and_charts_for_its_own_organization_only, |app| {
    let t = app.signup("bill-files@example.com").await;
    let other = app.signup("bill-other@example.com").await;
    let org: i64 = t.org_id.parse().unwrap();
    let batch = json!({"batchKey": "files", "records": [record(&t.account_id, "2026-10-03")]});
    app.post("/billing/usage", &t.token, batch).await.assert_ok();

    // JSON: the lines name their organization; one section, the caller's organization.
    let bill = app.get("/billing/bills?month=2026-10", &t.token).await;
    let b = bill.item();
    assert_eq!(b["lines"][0]["organizationId"], org);
    assert_eq!(
        b["sections"],
        json!([{"organizationId": org, "organizationName": "Org of bill-files@example.com",
            "totalSavingsCents": 700, "totalFeeCents": 140}])
    );

    // PDF: a file download, rendered off the async threads.
    let (status, headers, pdf) = raw(&app, "/billing/bills?month=2026-10&format=pdf", &t.token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"bill-2026-10.pdf\"");
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000, "{} bytes", pdf.len());

    // CSV: with the organization column and the total.
    let (status, headers, csv) = raw(&app, "/billing/bills?month=2026-10&format=csv", &t.token).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-disposition"], "attachment; filename=\"bill-2026-10.csv\"");
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        format!(
            "month,organizationId,accountId,product,vcpuHours,onDemandCostCents,actualCostCents,savingsCents,feeCents\r\n\
             2026-10,{org},{},ocean,10.500,1000,300,700,140\r\n2026-10,,TOTAL,,,,,700,140\r\n",
            t.account_id
        )
    );

    // Charts for the console.
    let (status, headers, trend) = raw(&app, "/billing/bills/charts/trend.svg?month=2026-10", &t.token).await;
    let trend = String::from_utf8(trend).unwrap();
    assert_eq!((status, &headers["content-type"]), (200, &axum::http::HeaderValue::from_static("image/svg+xml")));
    assert_eq!(headers["content-security-policy"], "default-src 'none'");
    assert!(trend.starts_with("<svg") && trend.trim_end().ends_with("</svg>"));
    assert!(["2026-05", "2026-10", "1.40"].iter().all(|s| trend.contains(s)), "{trend}");
    let (status, _, products) = raw(&app, "/billing/bills/charts/products.svg?month=2026-10", &t.token).await;
    let products = String::from_utf8(products).unwrap();
    assert_eq!(status, 200);
    assert!(products.contains("ocean") && products.contains("1.40"), "{products}");
    for path in ["/billing/bills/charts/trend.svg?month=2999-01", "/billing/bills/charts/products.svg?month=10"] {
        app.get(path, &t.token).await.assert_error(400, "ValidationError", Some("query.month"));
    }
    app.get("/billing/bills/charts/trend.svg?format=pdf", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.format"),
    );

    // Another organization's token gets that organization's (empty) bill, never this one.
    let theirs = app.get("/billing/bills?month=2026-10", &other.token).await;
    assert_eq!(theirs.item()["lines"], json!([]));
    assert_eq!(theirs.item()["sections"][0]["organizationId"], other.org_id.parse::<i64>().unwrap());
    assert_eq!(theirs.item()["totalFeeCents"], 0);
    let (_, _, csv) = raw(&app, "/billing/bills?month=2026-10&format=csv", &other.token).await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(!csv.contains(&t.account_id) && !csv.contains(&t.org_id) && csv.ends_with("2026-10,,TOTAL,,,,,0,0\r\n"));
    let (status, _, pdf) = raw(&app, "/billing/bills?month=2026-10&format=pdf", &other.token).await;
    assert!(status == 200 && pdf.starts_with(b"%PDF-"));
    let (_, _, products) = raw(&app, "/billing/bills/charts/products.svg?month=2026-10", &other.token).await;
    let products = String::from_utf8(products).unwrap();
    assert!(!products.contains("ocean") && products.contains("no usage this month"));
    for path in ["/billing/bills?format=pdf", "/billing/bills/charts/trend.svg"] {
        app.call("GET", path, None, None).await.assert_unauthenticated();
    }
});
