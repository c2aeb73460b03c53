//! A person's second factor.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::UserId;
use orgplane_domain::{Error, Result};
use sqlx::Row;

/// A person's TOTP state as stored.
#[derive(Debug, Clone)]
pub struct TotpState {
    pub secret_enc: String,
    pub confirmed: bool,
    pub last_step: i64,
}

impl Store {
    /// Starts (or restarts) an unconfirmed enrolment. Refused while a confirmed one exists.
    pub async fn begin_totp(&self, user: &UserId, secret_enc: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query("SELECT confirmed FROM user_mfa WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(row) = existing {
            if row.try_get::<i64, _>("confirmed").map_err(db)? != 0 {
                return Err(Error::rule("MFA_ALREADY_ENABLED", "TOTP is already enabled; disable it first"));
            }
        }
        sqlx::query(
            "INSERT INTO user_mfa (user_id, secret_enc, confirmed, last_step, created_at) VALUES ($1, $2, 0, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc, created_at = excluded.created_at",
        )
        .bind(user.as_str())
        .bind(secret_enc)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    pub async fn totp_state(&self, user: &UserId) -> Result<Option<TotpState>> {
        let row = sqlx::query("SELECT secret_enc, confirmed, last_step FROM user_mfa WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(TotpState {
                secret_enc: r.try_get("secret_enc").map_err(db)?,
                confirmed: r.try_get::<i64, _>("confirmed").map_err(db)? != 0,
                last_step: r.try_get("last_step").map_err(db)?,
            })
        })
        .transpose()
    }

    /// Accepts a time step once: false when it (or a later one) was already used.
    pub async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE user_mfa SET last_step = $1 WHERE user_id = $2 AND last_step < $1")
            .bind(step)
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Confirms the enrolment and replaces the recovery codes (their hashes).
    pub async fn confirm_totp(&self, user: &UserId, code_hashes: &[String]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE user_mfa SET confirmed = 1 WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for hash in code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user.as_str())
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Uses up a recovery code: true when it existed and was unused.
    pub async fn use_recovery_code(&self, user: &UserId, code_hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now_ms())
        .bind(user.as_str())
        .bind(code_hash)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the second factor and its recovery codes.
    pub async fn disable_totp(&self, user: &UserId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM user_mfa WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }
}
