//! Notifications derived from audit events: resolved to channels and queued in the outbox in
//! the transaction that records the event, so each is delivered once per channel even across
//! restarts.

use crate::outbox::insert;
use crate::{Store, db, now_ms};
use orgplane_domain::audit::Event;
use orgplane_domain::ids::{AccountId, OrgId, UserId};
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
    /// Whose channel it is, so that a channel that failed for good can be shown to them.
    #[serde(default)]
    pub organization_id: i64,
    #[serde(default)]
    pub account_id: String,
}

/// A Slack channel that refused a message for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedChannel {
    pub url: String,
    pub error: String,
    pub at: i64,
}

/// How many messages a notice was queued as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    pub email: usize,
    pub slack: usize,
    pub inbox: usize,
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

pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    notice: Notice,
    event: &Event,
) -> std::result::Result<Queued, sqlx::Error> {
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
    // The members, and who the defaults pick: admins always; for an account's own events,
    // everyone attached to the account too.
    let members = sqlx::query(
        "SELECT u.id, u.email, CASE WHEN m.role = 'admin' OR ($2 = 1 AND EXISTS (SELECT 1 FROM account_permissions p \
         WHERE p.account_id = $3 AND p.user_id = u.id)) THEN 1 ELSE 0 END AS by_default \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = $1 AND u.email IS NOT NULL ORDER BY u.email",
    )
    .bind(org)
    .bind(i16::from(notice.is_account_level()))
    .bind(&account)
    .fetch_all(&mut *conn)
    .await?;
    let mut members_by_default = Vec::new();
    let mut all_members = Vec::new();
    for row in &members {
        let member: (String, String) = (row.try_get("id")?, row.try_get("email")?);
        if row.try_get::<i64, _>("by_default")? == 1 {
            members_by_default.push(member.clone());
        }
        all_members.push(member);
    }
    let (recipients, inbox_users): (Vec<String>, Vec<String>) = match settings.email_recipients {
        Some(list) => {
            let wanted: Vec<String> = list.iter().map(|e| e.to_lowercase()).collect();
            let users = all_members.into_iter().filter(|(_, e)| wanted.contains(&e.to_lowercase())).map(|(id, _)| id);
            (list, users.collect())
        }
        None => members_by_default.into_iter().map(|(id, email)| (email, id)).unzip(),
    };
    let message = notify::message(notice, event, &org_name);
    let mut queued = Queued::default();
    for to in recipients {
        let email = Email { to, subject: message.subject.clone(), text: message.text.clone() };
        insert(&mut *conn, Channel::Email, &serde_json::to_string(&email).expect("serialises")).await?;
        queued.email += 1;
    }
    for user in inbox_users {
        sqlx::query(
            "INSERT INTO inbox (organization_id, user_id, notice, subject, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(&user)
        .bind(notice.name())
        .bind(&message.subject)
        .bind(&message.text)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        queued.inbox += 1;
    }
    let body = notify::slack_payload(&message).to_string();
    for url in slack {
        let delivery = SlackDelivery { url, body: body.clone(), organization_id: org, account_id: account.clone() };
        insert(&mut *conn, Channel::Slack, &serde_json::to_string(&delivery).expect("serialises")).await?;
        queued.slack += 1;
    }
    Ok(queued)
}

/// How long before a secret expires its reminder goes out.
pub const EXPIRY_REMINDER_MS: i64 = 14 * 24 * 60 * 60 * 1000;

impl Store {
    /// Queues a reminder for every stored Azure secret that expires within two weeks and has not
    /// had one; returns how many. Each reminder is marked in the transaction that queues it, so
    /// replicas and restarts send it once.
    pub async fn send_expiry_reminders(&self) -> Result<usize> {
        let now = now_ms();
        let due = sqlx::query(
            "SELECT account_id FROM azure_credentials WHERE expires_at IS NOT NULL AND expires_at <= $1 \
             AND reminded_at IS NULL LIMIT 100",
        )
        .bind(now + EXPIRY_REMINDER_MS)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        // Claimed in the transaction: only rows still unreminded are taken.
        let rows = sqlx::query(
            "UPDATE azure_credentials SET reminded_at = $1 WHERE expires_at IS NOT NULL AND expires_at <= $2 \
             AND reminded_at IS NULL RETURNING account_id, organization_id, scope, client_id, expires_at",
        )
        .bind(now)
        .bind(now + EXPIRY_REMINDER_MS)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for row in &rows {
            let account: String = row.try_get("account_id").map_err(db)?;
            let expires: i64 = row.try_get("expires_at").map_err(db)?;
            let client: String = row.try_get("client_id").map_err(db)?;
            let event = notify::unrecorded_event(
                format!("reminder-{account}"),
                row.try_get("organization_id").map_err(db)?,
                Some(account.clone()),
                ("account", account),
                "notifications:credentialExpiring",
                format!(
                    "The Azure client secret of application {client} expires at {}: create a new one and update it",
                    orgplane_domain::timefmt::to_spot(expires)
                ),
                None,
                now,
            );
            enqueue(&mut tx, Notice::CredentialExpiring, &event).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(rows.len())
    }

    /// The account's Slack channels that refused a message for good (the latest failure of
    /// each), from the outbox's dead messages.
    pub async fn failed_slack_channels(&self, org: OrgId, account: &AccountId) -> Result<Vec<FailedChannel>> {
        let rows = sqlx::query(
            "SELECT payload, last_error, next_attempt_at FROM outbox WHERE channel = 'slack' AND status = 'dead' \
             ORDER BY id DESC LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut failed: Vec<FailedChannel> = Vec::new();
        for row in rows {
            let payload: String = row.try_get("payload").map_err(db)?;
            let Ok(d) = serde_json::from_str::<SlackDelivery>(&payload) else { continue };
            if d.organization_id != org.as_i64()
                || d.account_id != account.as_str()
                || failed.iter().any(|f| f.url == d.url)
            {
                continue;
            }
            failed.push(FailedChannel {
                url: d.url,
                error: row.try_get::<Option<String>, _>("last_error").map_err(db)?.unwrap_or_default(),
                at: row.try_get("next_attempt_at").map_err(db)?,
            });
        }
        Ok(failed)
    }

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
        let event = notify::unrecorded_event(
            "test".into(),
            org.as_i64(),
            Some(account.to_string()),
            ("account", account.to_string()),
            "notifications:test",
            "Send test notification".into(),
            by,
            now_ms(),
        );
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

/// One notice in a person's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: i64,
    pub notice: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl Store {
    /// A person's inbox in one organization, newest first, below `before_id` when given.
    pub async fn inbox(
        &self,
        org: OrgId,
        user: &UserId,
        unread_only: bool,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        let rows = sqlx::query(
            "SELECT id, notice, subject, body, created_at, read_at FROM inbox \
             WHERE organization_id = $1 AND user_id = $2 AND ($3 = 0 OR read_at IS NULL) AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(org.as_i64())
        .bind(user.as_str())
        .bind(i16::from(unread_only))
        .bind(before_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(InboxItem {
                    id: r.try_get("id").map_err(db)?,
                    notice: r.try_get("notice").map_err(db)?,
                    subject: r.try_get("subject").map_err(db)?,
                    body: r.try_get("body").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                    read_at: r.try_get("read_at").map_err(db)?,
                })
            })
            .collect()
    }

    /// (unread, total) in a person's inbox.
    pub async fn inbox_counts(&self, org: OrgId, user: &UserId) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), 0) AS unread, COUNT(*) AS total \
             FROM inbox WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((row.try_get("unread").map_err(db)?, row.try_get("total").map_err(db)?))
    }

    /// Marks one notice read (`Some(id)`) or all of them; false when the notice is not theirs.
    pub async fn mark_inbox_read(&self, org: OrgId, user: &UserId, id: Option<i64>) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE inbox SET read_at = COALESCE(read_at, $1) WHERE organization_id = $2 AND user_id = $3 \
             AND ($4 IS NULL OR id = $4)",
        )
        .bind(now_ms())
        .bind(org.as_i64())
        .bind(user.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if id.is_some() && done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
