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
