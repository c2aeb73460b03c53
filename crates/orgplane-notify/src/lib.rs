//! Delivers the durable outbox. A worker claims due messages (a lease, so replicas share the
//! queue and a crash loses nothing), sends each, and records success or a failure with
//! exponential back-off until the message is delivered or dead. A worker only claims the
//! channels it can deliver: without SMTP settings, mail waits in the outbox.

pub mod webhook;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orgplane_domain::outbox::{Channel, Email, OutboxMessage, Status};
use orgplane_domain::{Error, Result};
use orgplane_store::Store;
use std::time::Duration;
pub use webhook::WebhookSender;

/// How a message is protected on its way to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `orgplane <no-reply@example.com>`.
    pub from: String,
}

/// Sends emails over SMTP.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Self> {
        let builder = match config.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(Error::internal)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(Error::internal)?,
        };
        let mut builder = builder.port(config.port).timeout(Some(Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = config.from.parse().map_err(|e| Error::internal(format!("smtp_from {:?}: {e}", config.from)))?;
        Ok(Mailer { transport: builder.build(), from })
    }

    pub async fn send(&self, email: &Email) -> std::result::Result<(), String> {
        let to: Mailbox = email.to.parse().map_err(|e| format!("recipient {:?}: {e}", email.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .body(email.text.clone())
            .map_err(|e| format!("building the message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Why a delivery failed: worth retrying, or refused for good (a removed Slack channel), which
/// ends the message at once — it is listed with the dead ones, not retried for hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Retry(String),
    Permanent(String),
}

/// The outbox worker.
pub struct Worker {
    store: Store,
    mailer: Option<Mailer>,
    webhooks: WebhookSender,
    /// How long a claimed message is reserved for this worker.
    pub lease: Duration,
    pub batch: i64,
}

/// What one pass delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

impl Worker {
    pub fn new(store: Store, mailer: Option<Mailer>, webhooks: WebhookSender) -> Self {
        Worker { store, mailer, webhooks, lease: Duration::from_secs(120), batch: 50 }
    }

    fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::Webhook, Channel::Slack];
        if self.mailer.is_some() {
            channels.push(Channel::Email);
        }
        channels
    }

    /// Delivers every message due now, once each.
    pub async fn run_once(&self) -> Result<Pass> {
        let mut pass = Pass::default();
        // Reminders are queued like any notice, then delivered below.
        let reminders = self.store.send_expiry_reminders().await? + self.store.send_trial_reminders().await?;
        if reminders > 0 {
            tracing::info!(reminders, "queued credential expiry reminders");
        }
        let claimed = self.store.claim_due(&self.channels(), self.batch, self.lease.as_millis() as i64).await?;
        for message in claimed {
            match self.deliver(&message).await {
                Ok(()) => {
                    self.store.mark_sent(message.id).await?;
                    pass.sent += 1;
                }
                Err(failure) => {
                    let (error, permanent) = match failure {
                        Failure::Retry(e) => (e, false),
                        Failure::Permanent(e) => (e, true),
                    };
                    tracing::warn!(id = message.id, attempts = message.attempts + 1, %error, permanent, "delivery failed");
                    match self.store.mark_failed(&message, &error, permanent).await? {
                        Status::Dead => pass.dead += 1,
                        _ => pass.retrying += 1,
                    }
                }
            }
        }
        Ok(pass)
    }

    async fn deliver(&self, message: &OutboxMessage) -> std::result::Result<(), Failure> {
        match message.channel {
            Channel::Email => {
                let mailer = self.mailer.as_ref().ok_or(Failure::Retry("no SMTP server is configured".into()))?;
                let email: Email = serde_json::from_str(&message.payload)
                    .map_err(|e| Failure::Permanent(format!("stored email: {e}")))?;
                mailer.send(&email).await.map_err(Failure::Retry)
            }
            Channel::Webhook => self.webhooks.send(&message.payload).await.map_err(Failure::Retry),
            Channel::Slack => self.webhooks.send_slack(&message.payload).await,
        }
    }

    /// Runs passes every `every` until `Running::stop`.
    pub fn spawn(self, every: Duration) -> Running {
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = self.run_once().await {
                    tracing::error!(error = %e, "outbox pass failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = stopped.notified() => return,
                }
            }
        });
        Running { stop, task }
    }
}

/// A spawned worker.
pub struct Running {
    stop: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Lets the pass in progress finish (a message half sent is not left to be sent twice),
    /// then ends the worker: called before the store's pool closes.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}
