//! The durable outbox's rows.

use crate::{Backend, Store, db, now_ms};
use orgplane_domain::outbox::{Channel, Email, OutboxMessage, Status, retry_delay_ms};
use orgplane_domain::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

impl Store {
    /// Queues an email; the worker delivers it.
    pub async fn enqueue_email(&self, email: &Email) -> Result<i64> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert(&mut conn, Channel::Email, &serde_json::to_string(email).expect("emails serialise")).await.map_err(db)
    }

    /// Claims up to `limit` due messages for `lease_ms`: until then no other worker (or replica)
    /// takes them, and after it a crashed worker's messages are due again.
    pub async fn claim_due(&self, channels: &[Channel], limit: i64, lease_ms: i64) -> Result<Vec<OutboxMessage>> {
        let now = now_ms();
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        // The worker names the channels it can deliver: `$4, $5, …`.
        let wanted = (0..channels.len()).map(|i| format!("${}", i + 4)).collect::<Vec<_>>().join(", ");
        // SKIP LOCKED lets several replicas' workers share the queue without waiting; SQLite has
        // one writer at a time, so there the UPDATE is atomic on its own.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE status = 'pending' AND next_attempt_at <= $2 AND channel IN ({wanted}) ORDER BY id LIMIT $3{lock}) \
             RETURNING id, channel, payload, status, attempts, last_error"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now + lease_ms).bind(now).bind(limit);
        for channel in channels {
            query = query.bind(channel.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db)?;
        let mut claimed = rows.iter().map(message_row).collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    pub async fn mark_sent(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Records a failed attempt: retried later with back-off, or dead after the last attempt —
    /// or at once when `permanent` (the receiver said it will never accept it).
    pub async fn mark_failed(&self, message: &OutboxMessage, error: &str, permanent: bool) -> Result<Status> {
        let attempts = message.attempts + 1;
        let (status, next) = match retry_delay_ms(attempts).filter(|_| !permanent) {
            Some(delay) => (Status::Pending, now_ms() + delay),
            None => (Status::Dead, now_ms()),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(attempts)
        .bind(next)
        .bind(error.chars().take(1000).collect::<String>())
        .bind(message.id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(status)
    }

    /// Messages in one state, oldest first (operators list the dead ones).
    pub async fn outbox_messages(&self, status: Status) -> Result<Vec<OutboxMessage>> {
        let rows = sqlx::query(
            "SELECT id, channel, payload, status, attempts, last_error FROM outbox WHERE status = $1 ORDER BY id",
        )
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(message_row).collect()
    }

    /// Makes a message due now (tests and operators retrying a dead message).
    pub async fn retry_now(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'pending', next_attempt_at = $1 WHERE id = $2 AND status <> 'sent'")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// Queues a message on `conn`, so that a change and the message it causes commit together.
pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    channel: Channel,
    payload: &str,
) -> std::result::Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO outbox (channel, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, 'pending', 0, $3, $3) RETURNING id",
    )
    .bind(channel.as_str())
    .bind(payload)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("id")
}

fn message_row(row: &AnyRow) -> Result<OutboxMessage> {
    let channel: String = row.try_get("channel").map_err(db)?;
    let status: String = row.try_get("status").map_err(db)?;
    Ok(OutboxMessage {
        id: row.try_get("id").map_err(db)?,
        channel: Channel::parse(&channel).ok_or_else(|| Error::internal(format!("stored channel {channel:?}")))?,
        payload: row.try_get("payload").map_err(db)?,
        status: Status::parse(&status).ok_or_else(|| Error::internal(format!("stored status {status:?}")))?,
        attempts: row.try_get("attempts").map_err(db)?,
        last_error: row.try_get("last_error").map_err(db)?,
    })
}
