//! Bearer tokens. Only the SHA-256 hash of a secret and its last 4 characters are stored, so a
//! database leak yields no usable token.

use crate::{Store, db, now_ms};
use orgplane_domain::access::{Caller, OrgRole};
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::model::TokenInfo;
use orgplane_domain::secret::{NewToken, TokenKind};
use orgplane_domain::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

/// `last_used_at` is written at most this often per token, so that reads stay reads.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl Store {
    pub async fn insert_token(
        &self,
        kind: TokenKind,
        user: &UserId,
        org: OrgId,
        name: Option<&str>,
        token: &NewToken,
        expires_at: Option<i64>,
    ) -> Result<TokenInfo> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO tokens (hash, kind, user_id, organization_id, name, last_digits, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&token.hash)
        .bind(kind.as_str())
        .bind(user.as_str())
        .bind(org.as_i64())
        .bind(name)
        .bind(&token.last_digits)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(TokenInfo {
            id: row.try_get("id").map_err(db)?,
            name: name.map(str::to_string),
            last_digits: token.last_digits.clone(),
            created_at: now,
            expires_at,
            last_used_at: None,
        })
    }

    /// Resolves a presented access token (personal or temporary) to the caller it stands for.
    /// `None` for unknown, expired or revoked tokens, and for tokens whose owner has left the
    /// organization the token is bound to.
    pub async fn caller_for_token(&self, hash: &str) -> Result<Option<Caller>> {
        let now = now_ms();
        let (caller, expires_at, last_used) = match self.cache.caller(hash, now) {
            Some(hit) => (hit.caller, hit.expires_at, hit.last_used_at),
            None => {
                let epoch = self.cache.epoch();
                let Some(found) = self.load_caller(hash).await? else { return Ok(None) };
                self.cache.put_caller(epoch, hash, found.0.clone(), found.1, found.2, now);
                found
            }
        };
        if expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        if last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(caller.token_id)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            self.cache.put_caller(self.cache.epoch(), hash, caller.clone(), expires_at, Some(now), now);
        }
        Ok(Some(caller))
    }

    /// The caller behind a token hash with the token's expiry and last use, from the database.
    async fn load_caller(&self, hash: &str) -> Result<Option<(Caller, Option<i64>, Option<i64>)>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.organization_id, t.expires_at, t.last_used_at, u.email, m.role \
             FROM tokens t \
             JOIN users u ON u.id = t.user_id \
             JOIN memberships m ON m.organization_id = t.organization_id AND m.user_id = t.user_id \
             WHERE t.hash = $1 AND t.kind IN ('personal', 'temporary')",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role").map_err(db)?;
        let caller = Caller {
            user_id: UserId::from_stored(row.try_get("user_id").map_err(db)?),
            email: row.try_get("email").map_err(db)?,
            org_id: OrgId::from_i64(row.try_get("organization_id").map_err(db)?),
            org_role: OrgRole::parse(&role).ok_or_else(|| Error::internal(format!("stored org role {role:?}")))?,
            token_id: row.try_get("id").map_err(db)?,
        };
        Ok(Some((caller, row.try_get("expires_at").map_err(db)?, row.try_get("last_used_at").map_err(db)?)))
    }

    /// Uses up a refresh token: it is deleted whether or not it is still valid, and the
    /// person and organization it was issued for are returned when it was.
    pub async fn redeem_refresh_token(&self, hash: &str) -> Result<Option<(UserId, OrgId)>> {
        let row = sqlx::query(
            "DELETE FROM tokens WHERE hash = $1 AND kind = 'refresh' RETURNING user_id, organization_id, expires_at",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: Option<i64> = row.try_get("expires_at").map_err(db)?;
        if expires_at.is_some_and(|e| e <= now_ms()) {
            return Ok(None);
        }
        Ok(Some((
            UserId::from_stored(row.try_get("user_id").map_err(db)?),
            OrgId::from_i64(row.try_get("organization_id").map_err(db)?),
        )))
    }

    /// A person's personal tokens in one organization, newest first.
    pub async fn list_personal_tokens(&self, user: &UserId, org: OrgId) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, last_digits, created_at, expires_at, last_used_at FROM tokens \
             WHERE user_id = $1 AND organization_id = $2 AND kind = 'personal' ORDER BY id DESC",
        )
        .bind(user.as_str())
        .bind(org.as_i64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(token_row).collect()
    }

    /// Revokes one of the person's own personal tokens in this organization, at once.
    pub async fn delete_personal_token(&self, user: &UserId, org: OrgId, token_id: i64) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM tokens WHERE id = $1 AND user_id = $2 AND organization_id = $3 AND kind = 'personal'",
        )
        .bind(token_id)
        .bind(user.as_str())
        .bind(org.as_i64())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("TOKEN_DOESNT_EXIST", "path.tokenId", "token not found"));
        }
        self.changed().await;
        Ok(())
    }
}

fn token_row(row: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.try_get("id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        last_digits: row.try_get("last_digits").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        last_used_at: row.try_get("last_used_at").map_err(db)?,
    })
}
