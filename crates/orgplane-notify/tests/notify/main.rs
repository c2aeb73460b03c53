//! The outbox against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

use orgplane_domain::audit::{Event, verify_webhook_signature};
use orgplane_domain::ids::OrgId;
use orgplane_domain::outbox::{Channel, Email, MAX_ATTEMPTS, Status};
use orgplane_domain::secretbox::MasterKey;
use orgplane_notify::{Mailer, SmtpConfig, SmtpSecurity, WebhookSender, Worker};
use orgplane_testkit::orgplane_store::audit::{Draft, recording};
use orgplane_testkit::peers::Smtp;
use orgplane_testkit::{Store, both_backends};

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "orgplane <no-reply@orgplane.test>".into(),
    }
}

fn webhooks() -> WebhookSender {
    WebhookSender::new(orgplane_domain::secretbox::MasterKey::generate(), false)
}

fn email(n: usize) -> Email {
    Email { to: format!("user{n}@example.com"), subject: format!("Message {n}"), text: format!("Hello number {n}") }
}

both_backends!(queued_mail_is_delivered_once, |app| {
    let Some(smtp) = Smtp::start() else { return };
    let store: Store = app.store().clone();
    for n in 0..3 {
        store.enqueue_email(&email(n)).await.unwrap();
    }
    let worker = Worker::new(store.clone(), Some(Mailer::new(&config(smtp.port)).unwrap()), webhooks());
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retrying, pass.dead), (3, 0, 0));
    // A second pass finds nothing due: each message is delivered once.
    assert_eq!(worker.run_once().await.unwrap().sent, 0);
    let received = smtp.messages();
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(received.iter().any(|m| m.contains("Subject: Message 1")
        && m.contains("X-RcptTo: user1@example.com")
        && m.contains("Hello number 1")));
    assert!(received.iter().all(|m| m.contains("X-MailFrom: no-reply@orgplane.test")));
    assert_eq!(store.outbox_messages(Status::Sent).await.unwrap().len(), 3);
});

both_backends!(a_down_smtp_server_loses_nothing, |app| {
    let store: Store = app.store().clone();
    let id = store.enqueue_email(&email(7)).await.unwrap();
    // Nothing listens on this port: the attempt fails and is retried later, with back-off.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = Worker::new(store.clone(), Some(Mailer::new(&config(closed)).unwrap()), webhooks());
    let pass = down.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retrying), (0, 1));
    let pending = store.outbox_messages(Status::Pending).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert!(pending[0].last_error.is_some());
    assert_eq!(down.run_once().await.unwrap().retrying, 0, "not due again before its back-off");

    // The server comes up; after the back-off (forced here) the same message goes out once.
    let Some(smtp) = Smtp::start() else { return };
    store.retry_now(id).await.unwrap();
    let up = Worker::new(store.clone(), Some(Mailer::new(&config(smtp.port)).unwrap()), webhooks());
    assert_eq!(up.run_once().await.unwrap().sent, 1);
    assert_eq!(smtp.messages().len(), 1);
});

both_backends!(repeated_failures_end_dead_and_visible, |app| {
    let store: Store = app.store().clone();
    let id = store.enqueue_email(&email(9)).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let worker = Worker::new(store.clone(), Some(Mailer::new(&config(closed)).unwrap()), webhooks());
    for _ in 0..MAX_ATTEMPTS {
        store.retry_now(id).await.unwrap();
        worker.run_once().await.unwrap();
    }
    let dead = store.outbox_messages(Status::Dead).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, MAX_ATTEMPTS);
    assert!(store.outbox_messages(Status::Pending).await.unwrap().is_empty());
});

both_backends!(a_claimed_message_is_not_taken_twice_and_returns_after_its_lease, |app| {
    let store: Store = app.store().clone();
    store.enqueue_email(&email(1)).await.unwrap();
    // Two workers (two replicas) claim at once: one gets the message.
    let (a, b) =
        tokio::join!(store.claim_due(&[Channel::Email], 10, 60_000), store.claim_due(&[Channel::Email], 10, 60_000));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1);
    // A worker that crashed holding a claim: after the lease the message is due again.
    store.enqueue_email(&email(2)).await.unwrap();
    let held = store.claim_due(&[Channel::Email], 10, 1).await.unwrap();
    assert_eq!(held.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.claim_due(&[Channel::Email], 10, 60_000).await.unwrap().len(), 1);
});

/// A real HTTP receiver on loopback: records each POST and answers with `status`.
async fn receiver(status: u16) -> (u16, tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, String)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let hook = move |headers: axum::http::HeaderMap, body: String| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((headers, body));
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(hook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (port, rx)
}

/// An organization with an audit webhook at `url`; returns it and the change recorder.
async fn hooked_org(store: &Store, key: &MasterKey, url: &str) -> OrgId {
    use orgplane_testkit::orgplane_store::{NewPerson, NewRegistration};
    let email = orgplane_domain::validate::email("email", "hook-owner@example.com").unwrap();
    let (org, _, _) = store
        .register(&NewRegistration {
            org_name: "Hooked".into(),
            division: None,
            person: NewPerson {
                first_name: "H".into(),
                last_name: "O".into(),
                email: email.display,
                email_key: email.key,
                password_hash: None,
            },
        })
        .await
        .unwrap();
    store.set_audit_webhook(org, url, &key.encrypt(HOOK_SECRET.as_bytes())).await.unwrap();
    org
}

const HOOK_SECRET: &str = "whsec-test-0123456789";

/// Renames the organization as a recorded request would.
async fn recorded_rename(store: &Store, org: OrgId, name: &str) {
    let draft = Draft {
        kind: orgplane_domain::audit::kind_for("PUT", "/setup/organization/{organizationId}"),
        org: Some(org),
        ..Default::default()
    };
    recording(draft, store.rename_org(org, name)).await.0.unwrap();
}

both_backends!(audit_events_reach_the_webhook_signed, |app| {
    let store: Store = app.store().clone();
    let key = MasterKey::generate();
    let (port, mut received) = receiver(204).await;
    let org = hooked_org(&store, &key, &format!("http://127.0.0.1:{port}/hook")).await;
    recorded_rename(&store, org, "Renamed").await;
    let worker = Worker::new(store.clone(), None, WebhookSender::new(key.clone(), true));
    assert_eq!(worker.run_once().await.unwrap().sent, 1);
    let (headers, body) = received.recv().await.unwrap();
    let signature = headers["x-orgplane-signature"].to_str().unwrap();
    assert!(verify_webhook_signature(HOOK_SECRET, signature, body.as_bytes()), "{signature}");
    assert!(!verify_webhook_signature("another-secret-000", signature, body.as_bytes()));
    assert_eq!(headers["content-type"], "application/json");
    let event: Event = serde_json::from_str(&body).unwrap();
    assert_eq!(event.action, "setup:updateOrganization");
    assert_eq!(event.organization_id, org.as_i64());
    // Delivered once: the next pass has nothing to send.
    assert_eq!(worker.run_once().await.unwrap(), Default::default());
});

both_backends!(a_failing_webhook_is_retried_and_internal_targets_are_refused, |app| {
    let store: Store = app.store().clone();
    let key = MasterKey::generate();
    let (port, mut received) = receiver(500).await;
    let org = hooked_org(&store, &key, &format!("http://127.0.0.1:{port}/hook")).await;
    recorded_rename(&store, org, "Again").await;
    let worker = Worker::new(store.clone(), None, WebhookSender::new(key.clone(), true));
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retrying), (0, 1));
    assert!(received.recv().await.is_some(), "the receiver was called");
    let pending = store.outbox_messages(Status::Pending).await.unwrap();
    assert!(pending[0].last_error.as_deref().unwrap().contains("HTTP 500"), "{pending:?}");

    // The default sender never calls loopback, whatever the URL says.
    let guarded = Worker::new(store.clone(), None, WebhookSender::new(key.clone(), false));
    store.retry_now(pending[0].id).await.unwrap();
    assert_eq!(guarded.run_once().await.unwrap().retrying, 1);
    let pending = store.outbox_messages(Status::Pending).await.unwrap();
    assert!(pending[0].last_error.as_deref().unwrap().contains("internal address"), "{pending:?}");
    assert!(received.try_recv().is_err(), "nothing reached the receiver");
    // Nor through a name that resolves to loopback.
    let by_name = format!("http://localhost:{port}/hook");
    store.set_audit_webhook(org, &by_name, &key.encrypt(HOOK_SECRET.as_bytes())).await.unwrap();
    recorded_rename(&store, org, "Named").await;
    let pass = guarded.run_once().await.unwrap();
    assert_eq!(pass.sent, 0);
    assert!(received.try_recv().is_err(), "nothing reached the receiver");
});

/// A Slack-like receiver answering `status` with Slack's body for it.
async fn slack_receiver(status: u16, body: &'static str) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let hook = move |payload: String| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(payload);
            (axum::http::StatusCode::from_u16(status).unwrap(), body)
        }
    };
    let router = axum::Router::new().route("/services/T1/B1/x", axum::routing::post(hook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (port, rx)
}

/// An organization whose default account posts to `slack`; returns it and that account.
async fn org_with_slack(store: &Store, slack: &str) -> (OrgId, orgplane_domain::ids::AccountId) {
    let org = hooked_org(store, &MasterKey::generate(), "https://hooks.example.com/unused").await;
    let account = store.default_account(org).await.unwrap().id;
    store.update_account(org, &account, None, Some(&[slack.to_string()])).await.unwrap();
    (org, account)
}

both_backends!(notifications_reach_slack_and_email, |app| {
    let Some(smtp) = Smtp::start() else { return };
    let store: Store = app.store().clone();
    let (port, mut slack) = slack_receiver(200, "ok").await;
    let (org, account) = org_with_slack(&store, &format!("http://127.0.0.1:{port}/services/T1/B1/x")).await;
    store.send_test_notification(org, &account, Some("ops@example.com")).await.unwrap();
    let worker = Worker::new(
        store.clone(),
        Some(Mailer::new(&config(smtp.port)).unwrap()),
        WebhookSender::new(MasterKey::generate(), true),
    );
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retrying, pass.dead), (2, 0, 0), "one email (the admin) and one Slack message");
    let posted: serde_json::Value = serde_json::from_str(&slack.recv().await.unwrap()).unwrap();
    assert_eq!(posted["blocks"][0]["text"]["text"], "[orgplane] Hooked: Test notification");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("Test notification") && mail[0].contains("hook-owner@example.com"));
});

both_backends!(a_removed_slack_channel_is_given_up_at_once_and_a_flaky_one_retried, |app| {
    let store: Store = app.store().clone();
    let (gone, _) = slack_receiver(404, "no_service").await;
    let (org, account) = org_with_slack(&store, &format!("http://127.0.0.1:{gone}/services/T1/B1/x")).await;
    store.send_test_notification(org, &account, None).await.unwrap();
    let worker = Worker::new(store.clone(), None, WebhookSender::new(MasterKey::generate(), true));
    assert_eq!(worker.run_once().await.unwrap().dead, 1);
    let dead = store.outbox_messages(Status::Dead).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1, "not retried for hours");
    assert!(dead[0].last_error.as_deref().unwrap().contains("no_service"));
    // The account's settings show the channel as failing.
    let failing = store.failed_slack_channels(org, &account).await.unwrap();
    assert_eq!(failing.len(), 1);
    assert!(failing[0].error.contains("no_service"));
    let (elsewhere, other_account) = {
        use orgplane_testkit::orgplane_store::{NewPerson, NewRegistration};
        let email = orgplane_domain::validate::email("email", "elsewhere@example.com").unwrap();
        let person = NewPerson {
            first_name: "E".into(),
            last_name: "W".into(),
            email: email.display,
            email_key: email.key,
            password_hash: None,
        };
        let (org, account, _) =
            store.register(&NewRegistration { org_name: "Elsewhere".into(), division: None, person }).await.unwrap();
        (org, account)
    };
    assert!(
        store.failed_slack_channels(elsewhere, &other_account).await.unwrap().is_empty(),
        "another tenant sees nothing"
    );

    let (flaky, _) = slack_receiver(500, "internal_error").await;
    store
        .update_account(org, &account, None, Some(&[format!("http://127.0.0.1:{flaky}/services/T1/B1/x")]))
        .await
        .unwrap();
    store.send_test_notification(org, &account, None).await.unwrap();
    assert_eq!(worker.run_once().await.unwrap().retrying, 1);
});

both_backends!(an_expiring_azure_secret_is_reminded_once, |app| {
    use orgplane_testkit::orgplane_store::AzureConnection;
    let store: Store = app.store().clone();
    // No Slack channel here: the reminder goes by email to the admin (no mailer: it waits).
    let org = hooked_org(&store, &MasterKey::generate(), "https://hooks.example.com/unused").await;
    let account = store.default_account(org).await.unwrap().id;
    let day = 24 * 60 * 60 * 1000;
    let connection = |expires_in: i64| AzureConnection {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        client_id: "0f3c1b2a-1111-4222-8333-444455556666".into(),
        subscription_id: Some("a1b2c3d4-0000-4000-8000-00000000abcd".into()),
        secret_enc: "sealed".into(),
        secret_hint: "abc****".into(),
        expires_at: Some(orgplane_testkit::orgplane_store::now_ms() + expires_in),
    };
    store.save_azure_connection(org, &account, false, &connection(60 * day)).await.unwrap();
    let worker = Worker::new(store.clone(), None, WebhookSender::new(MasterKey::generate(), false));
    let reminders = |all: Vec<orgplane_domain::outbox::OutboxMessage>| {
        all.into_iter().filter(|m| m.payload.contains("Cloud credential expiring")).count()
    };
    worker.run_once().await.unwrap();
    assert_eq!(reminders(store.outbox_messages(Status::Pending).await.unwrap()), 0, "not due yet");
    store.save_azure_connection(org, &account, false, &connection(3 * day)).await.unwrap();
    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    let all: Vec<_> =
        [Status::Pending, Status::Dead, Status::Sent].into_iter().map(|s| store.outbox_messages(s)).collect();
    let mut count = 0;
    for f in all {
        count += reminders(f.await.unwrap());
    }
    assert_eq!(count, 1, "once, however many passes");
    // A new secret (saved again) is reminded again when it nears its end.
    store.save_azure_connection(org, &account, false, &connection(2 * day)).await.unwrap();
    assert_eq!(store.send_expiry_reminders().await.unwrap(), 1);
});

both_backends!(a_receiver_that_does_not_answer_in_time_is_retried_and_nothing_is_lost, |app| {
    let store: Store = app.store().clone();
    let key = MasterKey::generate();
    let slow = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });
    let org = hooked_org(&store, &key, &format!("http://127.0.0.1:{port}/hook")).await;
    recorded_rename(&store, org, "Slowly").await;
    let sender = WebhookSender::with_timeout(key.clone(), true, std::time::Duration::from_millis(300));
    let worker = Worker::new(store.clone(), None, sender);
    assert_eq!(worker.run_once().await.unwrap().retrying, 1);
    let pending = store.outbox_messages(Status::Pending).await.unwrap();
    let hook = pending.iter().find(|m| m.channel == Channel::Webhook).expect("still queued");
    assert_eq!(hook.attempts, 1);
    assert!(hook.last_error.as_deref().unwrap().contains("webhook request"), "{hook:?}");
});

// A spawned worker delivers what is queued, and `stop` ends it between passes rather than
// waiting out its interval; nothing queued afterwards is touched.
both_backends!(a_stopped_worker_ends_between_passes, |app| {
    let Some(smtp) = Smtp::start() else { return };
    let store: Store = app.store().clone();
    store.enqueue_email(&email(1)).await.unwrap();
    let running = Worker::new(store.clone(), Some(Mailer::new(&config(smtp.port)).unwrap()), webhooks())
        .spawn(std::time::Duration::from_secs(3600));
    for _ in 0..200 {
        if smtp.messages().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(smtp.messages().len(), 1, "the first pass delivers the queued message");
    tokio::time::timeout(std::time::Duration::from_secs(5), running.stop())
        .await
        .expect("stop does not wait out the hour-long interval");
    store.enqueue_email(&email(2)).await.unwrap();
    assert_eq!(store.outbox_messages(Status::Pending).await.unwrap().len(), 1, "a stopped worker sends nothing more");
    // The store is still usable after the worker stopped (the server closes the pool only then).
    store.ping().await.unwrap();
});
