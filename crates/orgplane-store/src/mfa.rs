//! A person's second factor.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::UserId;
use orgplane_domain::{Error, Result};
use sqlx::Row;

/// SQL that is true when the person `u` has a second factor (a confirmed TOTP or a security
/// key). A macro so that queries can `concat!` it.
macro_rules! has_second_factor {
    () => {
        "(EXISTS (SELECT 1 FROM user_mfa f WHERE f.user_id = u.id AND f.confirmed = 1) \
         OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id))"
    };
}
pub(crate) use has_second_factor;

/// A registered security key or passkey.
#[derive(Debug, Clone)]
pub struct WebauthnKey {
    /// The credential id, base64url.
    pub id: String,
    pub name: String,
    /// webauthn-rs's credential record, JSON.
    pub stored: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    SignIn,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::SignIn => "sign-in",
        }
    }
}

/// Replaces the person's recovery codes (their hashes).
async fn replace_recovery_codes(conn: &mut sqlx::AnyConnection, user: &UserId, hashes: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.as_str())
            .bind(hash)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Recovery codes go with the last second factor.
async fn drop_recovery_codes_if_no_factor(conn: &mut sqlx::AnyConnection, user: &UserId) -> Result<()> {
    sqlx::query(
        "DELETE FROM recovery_codes WHERE user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM user_mfa WHERE user_id = $1 AND confirmed = 1) \
         AND NOT EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1)",
    )
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

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
        replace_recovery_codes(&mut tx, user, code_hashes).await?;
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

    /// Removes TOTP, and the recovery codes when no security key remains either.
    pub async fn disable_totp(&self, user: &UserId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM user_mfa WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        drop_recovery_codes_if_no_factor(&mut tx, user).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// An admin's reset: every second factor of the person goes (TOTP, keys, recovery codes).
    pub async fn reset_mfa(&self, user: &UserId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for table in ["user_mfa", "webauthn_credentials", "recovery_codes", "webauthn_challenges"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1")))
                .bind(user.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn webauthn_keys(&self, user: &UserId) -> Result<Vec<WebauthnKey>> {
        let rows = sqlx::query(
            "SELECT id, name, passkey, created_at, last_used_at FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(WebauthnKey {
                    id: r.try_get("id").map_err(db)?,
                    name: r.try_get("name").map_err(db)?,
                    stored: r.try_get("passkey").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                    last_used_at: r.try_get("last_used_at").map_err(db)?,
                })
            })
            .collect()
    }

    /// Registers a key; `recovery_code_hashes`, when not empty, become the person's recovery
    /// codes (their first second factor).
    pub async fn add_webauthn_key(
        &self,
        user: &UserId,
        key: &WebauthnKey,
        recovery_code_hashes: &[String],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        crate::audit::created("user", user.as_str());
        let inserted = sqlx::query(
            "INSERT INTO webauthn_credentials (id, user_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&key.id)
        .bind(user.as_str())
        .bind(&key.name)
        .bind(&key.stored)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.rows_affected() == 0 {
            return Err(Error::invalid("WEBAUTHN_KEY_EXISTS", "body.credential", "this key is already registered"));
        }
        if !recovery_code_hashes.is_empty() {
            replace_recovery_codes(&mut tx, user, recovery_code_hashes).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Records a sign-in with a key, and its new signature counter when it changed.
    pub async fn webauthn_key_used(&self, id: &str, updated: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE webauthn_credentials SET last_used_at = $1, passkey = COALESCE($2, passkey) WHERE id = $3")
            .bind(now_ms())
            .bind(updated)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Removes one of the person's keys; false when they have no such key.
    pub async fn delete_webauthn_key(&self, user: &UserId, id: &str) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2")
            .bind(user.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        drop_recovery_codes_if_no_factor(&mut tx, user).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(true)
    }

    /// Keeps a ceremony's state until its answer arrives (at most `ttl_ms`).
    pub async fn put_webauthn_challenge(
        &self,
        id: &str,
        user: &UserId,
        ceremony: Ceremony,
        state: &str,
        ttl_ms: i64,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, user_id, purpose, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(user.as_str())
        .bind(ceremony.as_str())
        .bind(state)
        .bind(now + ttl_ms)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Uses up a ceremony's state: `None` when unknown, expired, used, or another person's.
    pub async fn take_webauthn_challenge(&self, id: &str, user: &UserId, ceremony: Ceremony) -> Result<Option<String>> {
        let row = sqlx::query(
            "DELETE FROM webauthn_challenges WHERE id = $1 AND user_id = $2 AND purpose = $3 AND expires_at > $4 RETURNING state",
        )
        .bind(id)
        .bind(user.as_str())
        .bind(ceremony.as_str())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get("state").map_err(db)).transpose()
    }
}
