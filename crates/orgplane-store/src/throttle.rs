//! Sign-in throttling counters.

use crate::{Store, db, now_ms};
use orgplane_domain::Result;
use orgplane_domain::throttle::{FORGET_AFTER_MS, lock_ms};
use sqlx::Row;

impl Store {
    /// Until when attempts for any of these keys are refused (the latest lock), if locked now.
    pub async fn throttled_until(&self, keys: &[&str]) -> Result<Option<i64>> {
        let now = now_ms();
        let mut until = None;
        for key in keys {
            let row = sqlx::query("SELECT locked_until FROM login_throttle WHERE key = $1")
                .bind(*key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            if let Some(row) = row {
                let locked: i64 = row.try_get("locked_until").map_err(db)?;
                if locked > now && until.is_none_or(|u| locked > u) {
                    until = Some(locked);
                }
            }
        }
        Ok(until)
    }

    /// Counts a failed attempt against each key and locks those past the free failures.
    pub async fn record_failure(&self, keys: &[&str]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for key in keys {
            let row = sqlx::query("SELECT failures, updated_at FROM login_throttle WHERE key = $1")
                .bind(*key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            let failures = match row {
                Some(r) if now - r.try_get::<i64, _>("updated_at").map_err(db)? < FORGET_AFTER_MS => {
                    r.try_get::<i64, _>("failures").map_err(db)? + 1
                }
                _ => 1,
            };
            let locked_until = lock_ms(failures).map_or(0, |ms| now + ms);
            sqlx::query(
                "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, \
                 updated_at = excluded.updated_at",
            )
            .bind(*key)
            .bind(failures)
            .bind(locked_until)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Clears a key after a success (or a password reset, which unlocks the account).
    pub async fn clear_throttle(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }
}
