//! People: the global identity behind memberships.

use crate::{Store, db};
use orgplane_domain::Result;
use orgplane_domain::ids::UserId;
use orgplane_domain::model::Credentials;
use sqlx::Row;

impl Store {
    /// The sign-in record for an email (compared case-insensitively through its key).
    pub async fn find_credentials(&self, email_key: &str) -> Result<Option<Credentials>> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE email_key = $1")
            .bind(email_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(Credentials {
                user_id: UserId::from_stored(row.try_get("id").map_err(db)?),
                password_hash: row.try_get("password_hash").map_err(db)?,
            })
        })
        .transpose()
    }
}

impl Store {
    /// A person's current password hash (`None`: they have none yet).
    pub async fn password_hash(&self, user: &UserId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("password_hash").map_err(db)).transpose()?.flatten())
    }

    /// Sets a new password and ends the person's temporary sessions everywhere (temporary,
    /// refresh and console session tokens), except the token `keep` that made the change.
    pub async fn set_password(&self, user: &UserId, hash: &str, keep: Option<i64>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "DELETE FROM tokens WHERE user_id = $1 AND kind IN ('temporary', 'refresh', 'session') AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user.as_str())
        .bind(keep)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Records a single-use password link for a person.
    pub async fn create_password_link(&self, user: &UserId, token_hash: &str, expires_at: i64) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO password_resets (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user.as_str())
            .bind(expires_at)
            .bind(crate::now_ms()),
        )
        .await?;
        Ok(())
    }

    /// Uses up a password link: the person it was for, if it is unused and unexpired.
    pub async fn redeem_password_link(&self, token_hash: &str) -> Result<Option<UserId>> {
        let now = crate::now_ms();
        let row = sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| Ok(UserId::from_stored(r.try_get("user_id").map_err(db)?))).transpose()
    }
}

impl Store {
    /// The comparison key of a person's email (`None` for programmatic users).
    pub async fn email_key_of(&self, user: &UserId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT email_key FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("email_key").map_err(db)).transpose()?.flatten())
    }
}
