//! Notifications derived from audit events: resolved to channels and queued in the outbox in
//! the transaction that records the event, so each is delivered once per channel even across
//! restarts.

use crate::outbox::insert;
use crate::{Store, db, now_ms};
use orgplane_domain::audit::Event;
use orgplane_domain::ids::{AccountId, OrgId};
use orgplane_domain::notify::{self, Notice};
use orgplane_domain::outbox::{Channel, Email};
use orgplane_domain::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// An account's notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationSettings {
    /// `None`: the default recipients.
    pub email_recipients: Option<Vec<String>>,
    pub disabled_events: Vec<String>,
}

/// An outbox payload for Slack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlackDelivery {
    pub url: String,
    pub body: String,
}

/// How many messages a notice was queued as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    pub email: usize,
    pub slack: usize,
}

async fn settings_on(
    conn: &mut AnyConnection,
    org: i64,
    account: &str,
) -> std::result::Result<NotificationSettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT email_recipients, disabled_events FROM notification_settings WHERE organization_id = $1 AND account_id = $2",
    )
    .bind(org)
    .bind(account)
    .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(NotificationSettings::default()) };
    let recipients: Option<String> = row.try_get("email_recipients")?;
    let disabled: String = row.try_get("disabled_events")?;
    Ok(NotificationSettings {
        email_recipients: recipients.and_then(|r| serde_json::from_str(&r).ok()),
        disabled_events: serde_json::from_str(&disabled).unwrap_or_default(),
    })
}

/// Queues the notifications `event` gives (none for most events) on `conn`.
pub(crate) async fn enqueue_for(conn: &mut AnyConnection, event: &Event) -> std::result::Result<Queued, sqlx::Error> {
    let Some(notice) = notify::notice_for(event) else { return Ok(Queued::default()) };
    enqueue(conn, notice, event).await
}

async fn enqueue(conn: &mut AnyConnection, notice: Notice, event: &Event) -> std::result::Result<Queued, sqlx::Error> {
    let org = event.organization_id;
    // The account concerned; organization-wide notices use the default account's channels.
    let account_row = match (&event.account_id, notice.is_account_level()) {
        (Some(account), true) => {
            sqlx::query("SELECT id, slack_channels FROM accounts WHERE organization_id = $1 AND id = $2")
                .bind(org)
                .bind(account)
                .fetch_optional(&mut *conn)
                .await?
        }
        _ => {
            sqlx::query("SELECT id, slack_channels FROM accounts WHERE organization_id = $1 AND is_default = 1")
                .bind(org)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let Some(account_row) = account_row else { return Ok(Queued::default()) };
    let account: String = account_row.try_get("id")?;
    let slack: Vec<String> =
        serde_json::from_str(&account_row.try_get::<String, _>("slack_channels")?).unwrap_or_default();
    let settings = settings_on(conn, org, &account).await?;
    if settings.disabled_events.iter().any(|d| d == notice.name()) {
        return Ok(Queued::default());
    }
    let org_name: String = sqlx::query("SELECT name FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("name"))
        .transpose()?
        .unwrap_or_default();
    let recipients = match settings.email_recipients {
        Some(list) => list,
        None => {
            // Admins always; for an account's own events, everyone attached to it too.
            let rows = sqlx::query(
                "SELECT DISTINCT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.organization_id = $1 AND u.email IS NOT NULL AND (m.role = 'admin' OR ($3 = 1 AND EXISTS \
                 (SELECT 1 FROM account_permissions p WHERE p.account_id = $2 AND p.user_id = u.id))) ORDER BY u.email",
            )
            .bind(org)
            .bind(&account)
            .bind(i16::from(notice.is_account_level()))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| r.try_get("email")).collect::<std::result::Result<_, _>>()?
        }
    };
    let message = notify::message(notice, event, &org_name);
    let mut queued = Queued::default();
    for to in recipients {
        let email = Email { to, subject: message.subject.clone(), text: message.text.clone() };
        insert(&mut *conn, Channel::Email, &serde_json::to_string(&email).expect("serialises")).await?;
        queued.email += 1;
    }
    let body = notify::slack_payload(&message).to_string();
    for url in slack {
        let delivery = SlackDelivery { url, body: body.clone() };
        insert(&mut *conn, Channel::Slack, &serde_json::to_string(&delivery).expect("serialises")).await?;
        queued.slack += 1;
    }
    Ok(queued)
}

impl Store {
    pub async fn notification_settings(&self, org: OrgId, account: &AccountId) -> Result<NotificationSettings> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        settings_on(&mut conn, org.as_i64(), account.as_str()).await.map_err(db)
    }

    pub async fn set_notification_settings(
        &self,
        org: OrgId,
        account: &AccountId,
        s: &NotificationSettings,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO notification_settings (account_id, organization_id, email_recipients, disabled_events, updated_at) \
                 SELECT id, organization_id, $3, $4, $5 FROM accounts WHERE organization_id = $1 AND id = $2 \
                 ON CONFLICT (account_id) DO UPDATE SET email_recipients = excluded.email_recipients, \
                 disabled_events = excluded.disabled_events, updated_at = excluded.updated_at",
            )
            .bind(org.as_i64())
            .bind(account.as_str())
            .bind(s.email_recipients.as_ref().map(|r| serde_json::to_string(r).expect("serialises")))
            .bind(serde_json::to_string(&s.disabled_events).expect("serialises"))
            .bind(now_ms()),
        )
        .await
        .and_then(|done| {
            if done.rows_affected() == 0 { Err(crate::accounts::account_not_found()) } else { Ok(()) }
        })?;
        self.changed().await;
        Ok(())
    }

    /// The "send test" action: a test notice to every channel of the account, now.
    pub async fn send_test_notification(&self, org: OrgId, account: &AccountId, by: Option<&str>) -> Result<Queued> {
        let mut tx = self.begin_write().await?;
        let event = Event {
            id: "test".into(),
            organization_id: org.as_i64(),
            seq: 0,
            account_id: Some(account.to_string()),
            user_id: None,
            user_email: by.map(str::to_string),
            token_id: None,
            action: "notifications:test".into(),
            action_type: "Send test notification".into(),
            namespace: "GENERAL".into(),
            resource_type: Some("account".into()),
            resource_id: Some(account.to_string()),
            source: "api".into(),
            ip: None,
            agent: None,
            context: "{}".into(),
            response_status: 200,
            created_at: now_ms(),
        };
        let queued = enqueue(&mut tx, Notice::Test, &event).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        if queued == Queued::default() {
            return Err(Error::rule(
                "NO_NOTIFICATION_CHANNELS",
                "this account has no email recipients or Slack channels",
            ));
        }
        Ok(queued)
    }
}
