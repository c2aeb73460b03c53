//! The outbox against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

use orgplane_domain::outbox::{Channel, Email, MAX_ATTEMPTS, Status};
use orgplane_notify::{Mailer, SmtpConfig, SmtpSecurity, WebhookSender, Worker};
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
    WebhookSender::new(orgplane_domain::secretbox::MasterKey::generate(), false).unwrap()
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
