//! Two replicas over one PostgreSQL database: two applications, each with its own pool and read
//! cache, as two processes would have, sharing nothing but the database. (SQLite serves one
//! process; these run when the PostgreSQL leg is configured.)

use orgplane_server::ServerConfig;
use orgplane_testkit::{Backend, TestApp};
use serde_json::json;

/// Keeps a burst of requests inside one minute window (the limit weighs in the previous one).
async fn early_in_a_minute() {
    loop {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        if secs % 60 < 50 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_rate_limit_budget() {
    let config = || ServerConfig { rate_limit_per_minute: 4, ..Default::default() };
    let Some(a) = TestApp::spawn_with(Backend::Postgres, config()).await else {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: replica test not run");
        return;
    };
    let b = a.replica(config()).await;
    let t = a.signup("shared-limit@example.com").await;
    early_in_a_minute().await;
    for (left, app) in [(3, &a), (2, &b), (1, &a), (0, &b)] {
        let res = app.get("/setup/account", &t.token).await;
        res.assert_ok();
        assert_eq!(res.headers["x-ratelimit-remaining"], left.to_string().as_str());
    }
    for app in [&a, &b] {
        let res = app.get("/setup/account", &t.token).await;
        assert_eq!(res.status, 429, "{}", res.json);
        assert_eq!(res.error().0, "RATE_LIMIT_EXCEEDED");
        assert!(res.headers.contains_key("retry-after"));
    }
    // Another route has a budget of its own, on both replicas.
    b.get("/setup/organization", &t.token).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_through_one_replica_is_refused_by_the_other_at_once() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: replica test not run");
        return;
    };
    let b = a.replica(ServerConfig::default()).await;
    let t = a.signup("revoked-across@example.com").await;
    for round in 0..20 {
        let res = a.post("/auth/tokens", &t.token, json!({"name": format!("round {round}")})).await;
        res.assert_ok();
        let (id, secret) = (res.item()["tokenId"].as_i64().unwrap(), res.item()["token"].as_str().unwrap().to_string());
        // Both replicas have the token in their caches…
        a.get("/setup/account", &secret).await.assert_ok();
        b.get("/setup/account", &secret).await.assert_ok();
        // …one revokes it, and the next request to the other is refused.
        let (revoker, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        revoker.delete(&format!("/auth/tokens/{id}"), &t.token).await.assert_ok();
        other.get("/setup/account", &secret).await.assert_unauthenticated();
        revoker.get("/setup/account", &secret).await.assert_unauthenticated();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deletes_of_one_thing_succeed_once_and_are_recorded_once() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: replica test not run");
        return;
    };
    let b = a.replica(ServerConfig::default()).await;
    let t = a.signup("double-delete@example.com").await;
    let policy = json!({"statements": [{"effect": "ALLOW", "actions": ["setup:describeAccount"], "resources": ["*"]}]});
    for round in 0..5 {
        let res = a.post("/setup/account", &t.token, json!({"account": {"name": format!("gone {round}")}})).await;
        res.assert_ok();
        let account = format!("/setup/account/{}", res.item()["accountId"].as_str().unwrap());
        let res = a
            .post(
                "/setup/access/policy",
                &t.token,
                json!({"policy": {"name": format!("gone {round}"), "type": "ORGANIZATION", "policyContent": policy}}),
            )
            .await;
        res.assert_ok();
        let policy_path = format!("/setup/access/policy/{}", res.item()["id"].as_str().unwrap());
        for path in [&account, &policy_path] {
            let deletes = (0..6).map(|i| if i % 2 == 0 { a.delete(path, &t.token) } else { b.delete(path, &t.token) });
            let answers = futures_util::future::join_all(deletes).await;
            let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{path}: {statuses:?}");
            assert!(statuses.iter().all(|s| *s == 200 || *s == 404), "{path}: {statuses:?}");
        }
    }
    // One audit event per deletion that happened, none for the refused ones.
    for action in ["setup:deleteAccount", "setup:deletePolicy"] {
        let recorded =
            a.db.raw_texts(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action = '{action}' AND response_status = 200"
            ))
            .await;
        assert_eq!(recorded, vec!["5".to_string()], "{action}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_of_one_person_to_one_organization_answer_already_a_member() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: replica test not run");
        return;
    };
    let b = a.replica(ServerConfig::default()).await;
    let t = a.signup("adds-same-person@example.com").await;
    for round in 0..5 {
        // Someone who already exists (a member of an organization of their own), so the requests
        // race for the membership, not for the identity.
        let email = format!("existing-{round}@example.com");
        a.signup(&email).await;
        let body = json!({"firstName": "Same", "lastName": "Person", "email": email, "role": "viewer"});
        let adds = (0..6).map(|i| {
            if i % 2 == 0 {
                a.post("/setup/user", &t.token, body.clone())
            } else {
                b.post("/setup/user", &t.token, body.clone())
            }
        });
        let answers = futures_util::future::join_all(adds).await;
        assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1, "round {round}");
        for refused in answers.iter().filter(|r| r.status != 200) {
            refused.assert_error(400, "USER_ALREADY_EXISTS", Some("body.email"));
        }
    }
}
