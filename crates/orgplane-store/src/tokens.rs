//! Bearer tokens. Only the SHA-256 hash of a secret and its last 4 characters are stored, so a
//! database leak yields no usable token.

use crate::batch::{Batcher, Waiting};
use crate::{Backend, RateCount, RateQuery, Store, db, now_ms};
use orgplane_domain::access::{Caller, OrgRole};
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::model::{TokenInfo, TokenScope};
use orgplane_domain::secret::{NewToken, TokenKind};
use orgplane_domain::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::net::IpAddr;

/// `last_used_at` is written at most this often per token, so that reads stay reads.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

const TOKEN_COLUMNS: &str =
    "id, user_id, name, last_digits, created_at, expires_at, last_used_at, last_used_ip, read_only, allowed_ips";

/// Tokens written in one transaction at most (10 bound values each).
pub(crate) const MAX_TOKEN_BATCH: usize = 200;

/// Token inserts waiting to be written. Sign-ins and token exchanges each store a token with
/// its audit event; written one transaction each they queue on the database's single writer
/// (SQLite) or on the organization's audit chain (PostgreSQL), paying a transaction's round
/// trips per token. Written together (`Batcher`), a batch costs about what one token costs.
pub(crate) type TokenWrites = Batcher<QueuedToken, WrittenToken>;

pub(crate) struct QueuedToken {
    row: TokenRow,
    /// The request's audit draft, when its event is still to be written.
    draft: Option<crate::audit::Draft>,
}

struct TokenRow {
    hash: String,
    kind: &'static str,
    user_id: String,
    org: i64,
    name: Option<String>,
    last_digits: String,
    created_at: i64,
    expires_at: Option<i64>,
    read_only: i16,
    allowed_ips: String,
}

pub(crate) struct WrittenToken {
    id: i64,
    /// Whether the request's event was written with it.
    recorded: bool,
}

/// What the cache keeps per token hash.
#[derive(Clone)]
pub(crate) struct ResolvedToken {
    pub caller: Caller,
    /// Console sessions slide their expiry forward on use (idle timeout).
    pub session: bool,
    pub scope: TokenScope,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

impl Store {
    /// Stores a new token, with the current request's audit event. Concurrent inserts are
    /// written together (see `TokenWrites`).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token(
        &self,
        kind: TokenKind,
        user: &UserId,
        org: OrgId,
        name: Option<&str>,
        token: &NewToken,
        expires_at: Option<i64>,
        scope: &TokenScope,
    ) -> Result<TokenInfo> {
        let now = now_ms();
        let row = TokenRow {
            hash: token.hash.clone(),
            kind: kind.as_str(),
            user_id: user.to_string(),
            org: org.as_i64(),
            name: name.map(str::to_string),
            last_digits: token.last_digits.clone(),
            created_at: now,
            expires_at,
            read_only: i16::from(scope.read_only),
            allowed_ips: serde_json::to_string(&scope.allowed_ips).expect("strings serialise"),
        };
        let written = self.write_token(row).await?;
        crate::audit::created("token", &written.id.to_string());
        if written.recorded {
            crate::audit::note(|d| d.recorded = true);
        }
        Ok(TokenInfo {
            id: written.id,
            user_id: user.clone(),
            name: name.map(str::to_string),
            last_digits: token.last_digits.clone(),
            created_at: now,
            expires_at,
            last_used_at: None,
            last_used_ip: None,
            scope: scope.clone(),
        })
    }

    /// Queues the row and waits until a batch holding it is committed.
    async fn write_token(&self, row: TokenRow) -> Result<WrittenToken> {
        let queued = QueuedToken { row, draft: crate::audit::pending() };
        let run = || {
            let store = self.clone();
            move |batch| {
                let store = store.clone();
                async move { store.write_token_batch(batch).await }
            }
        };
        self.token_writes.submit(queued, run).await
    }

    async fn write_token_batch(&self, batch: Vec<Waiting<QueuedToken, WrittenToken>>) {
        let started = std::time::Instant::now();
        let result = self.insert_token_rows(&batch).await;
        tracing::debug!(tokens = batch.len(), elapsed_us = started.elapsed().as_micros() as u64, "token batch written");
        match result {
            Ok(written) => {
                for (queued, written) in batch.into_iter().zip(written) {
                    let _ = queued.answer.send(Ok(written));
                }
            }
            // One row can sink a batch (its user deleted meanwhile): each row is tried on its
            // own, so that only that request fails.
            Err(_) if batch.len() > 1 => {
                for queued in batch {
                    let result = self.insert_token_rows(std::slice::from_ref(&queued)).await;
                    let _ = queued.answer.send(result.map(|mut written| written.remove(0)));
                }
            }
            Err(e) => {
                for queued in batch {
                    let _ = queued.answer.send(Err(e.clone()));
                }
            }
        }
    }

    /// One transaction: the rows in one `INSERT`, then the events of the requests among them
    /// that are being recorded.
    async fn insert_token_rows(&self, batch: &[Waiting<QueuedToken, WrittenToken>]) -> Result<Vec<WrittenToken>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO tokens (hash, kind, user_id, organization_id, name, last_digits, created_at, expires_at, \
             read_only, allowed_ips) VALUES {} RETURNING id, hash",
            crate::value_rows(batch.len(), 10)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for Waiting { item: QueuedToken { row, .. }, .. } in batch {
            insert = insert
                .bind(&row.hash)
                .bind(row.kind)
                .bind(&row.user_id)
                .bind(row.org)
                .bind(&row.name)
                .bind(&row.last_digits)
                .bind(row.created_at)
                .bind(row.expires_at)
                .bind(row.read_only)
                .bind(&row.allowed_ips);
        }
        // RETURNING promises no order: rows are matched back by hash.
        let mut ids = std::collections::HashMap::new();
        for returned in insert.fetch_all(&mut *tx).await.map_err(db)? {
            ids.insert(
                returned.try_get::<String, _>("hash").map_err(db)?,
                returned.try_get::<i64, _>("id").map_err(db)?,
            );
        }
        let mut written = Vec::with_capacity(batch.len());
        let mut drafts = Vec::new();
        for Waiting { item: queued, .. } in batch {
            let id = *ids.get(&queued.row.hash).ok_or_else(|| Error::internal("an inserted token has no id"))?;
            if let Some(draft) = &queued.draft {
                let mut draft = draft.clone();
                draft.created("token", &id.to_string());
                drafts.push(draft);
            }
            written.push(WrittenToken { id, recorded: queued.draft.is_some() });
        }
        let events: Vec<_> = drafts.iter().map(|d| (d, 200)).collect();
        crate::audit::append_many(&mut tx, &events).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(written)
    }

    /// Resolves a presented access token (personal, programmatic or temporary) to the caller it
    /// stands for. `None` for unknown, expired or revoked tokens, and for tokens whose owner has
    /// left the organization the token is bound to; an error when the token may not be used
    /// from `ip`. Records the last use (at most once a minute, or when the address changes).
    pub async fn caller_for_token(&self, hash: &str, ip: Option<IpAddr>) -> Result<Option<Caller>> {
        Ok(self.resolve_token(hash, ip).await?.map(|(caller, _)| caller))
    }

    /// As `caller_for_token`, with the token's scope (what a token exchanged for it inherits).
    pub async fn resolve_token(&self, hash: &str, ip: Option<IpAddr>) -> Result<Option<(Caller, TokenScope)>> {
        let now = now_ms();
        self.sync_cache().await?;
        let token = match self.cache.caller(hash, now) {
            Some(hit) => hit,
            None => {
                let epoch = self.cache.epoch();
                let Some(found) = self.load_token(hash).await? else { return Ok(None) };
                self.cache.put_caller(epoch, hash, found.clone(), now);
                found
            }
        };
        self.use_token(hash, token, ip, now).await
    }

    /// Authenticates an API request's token and, given `rate`, counts the request against its
    /// organization's rate limit (see `count_request`).
    ///
    /// On PostgreSQL, while this replica's lease does not hold (see `replica`), a token found in
    /// the read cache is taken at once and confirmed by the admission statement that counts the
    /// request, which also reads the change counter: if that shows a change the cache had not
    /// seen, the token is looked up again. So a request costs one round trip, shared with the
    /// requests arriving together, instead of a counter read followed by a count. While the
    /// lease holds the cache is in step already, and a request with reserved rate-limit room
    /// costs no round trip at all.
    pub async fn authenticate<C: FnOnce(i64) -> i64>(
        &self,
        hash: &str,
        ip: Option<IpAddr>,
        rate: Option<RateQuery<C>>,
    ) -> Result<Option<(Caller, Option<RateCount>)>> {
        if self.backend == Backend::Postgres && !crate::in_step() && !self.lease_holds() {
            let now = now_ms();
            let generation = self.cache.epoch();
            if let Some(cached) = self.cache.caller(hash, now) {
                let count = match rate {
                    Some(query) => {
                        let (previous, item) = self.rate_item(cached.caller.org_id, query).await?;
                        Some(self.count_in_admission(previous, item).await?)
                    }
                    None => {
                        self.admit(None).await?;
                        None
                    }
                };
                let found = if self.cache.epoch() == generation {
                    self.use_token(hash, cached, ip, now).await?
                } else {
                    // Something changed since the cache was filled: ask the database (the
                    // request is in step now, and already counted).
                    self.resolve_token(hash, ip).await?
                };
                return Ok(found.map(|(caller, _)| (caller, count)));
            }
        }
        let Some((caller, _)) = self.resolve_token(hash, ip).await? else { return Ok(None) };
        let count = match rate {
            Some(query) => Some(self.count_request(caller.org_id, query).await?),
            None => None,
        };
        Ok(Some((caller, count)))
    }

    /// Checks a found token's expiry and address scope, and records its use (at most once a
    /// minute per token, or when the address changes).
    async fn use_token(
        &self,
        hash: &str,
        token: ResolvedToken,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<Option<(Caller, TokenScope)>> {
        if token.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        if !token.scope.permits(ip) {
            return Err(Error::Forbidden {
                code: "TOKEN_IP_NOT_ALLOWED",
                message: "this token may not be used from this address".into(),
            });
        }
        let stale = token.last_used_at.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS);
        // Compared as addresses, not formatted for each request.
        let moved = ip.is_some_and(|ip| token.last_used_ip.as_deref().and_then(|last| last.parse().ok()) != Some(ip));
        if stale || moved {
            let ip_text = ip.map(|i| i.to_string());
            let expires_at = if token.session { Some(now + TokenKind::SESSION_IDLE_MS) } else { token.expires_at };
            sqlx::query(
                "UPDATE tokens SET last_used_at = $1, last_used_ip = COALESCE($2, last_used_ip), expires_at = $3 \
                 WHERE id = $4",
            )
            .bind(now)
            .bind(ip_text.as_deref())
            .bind(expires_at)
            .bind(token.caller.token_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            let updated = ResolvedToken {
                expires_at,
                last_used_at: Some(now),
                last_used_ip: ip_text.or(token.last_used_ip.clone()),
                ..token.clone()
            };
            self.cache.put_caller(self.cache.epoch(), hash, updated, now);
        }
        Ok(Some((token.caller, token.scope)))
    }

    /// The caller a token stands for, with its read-only scope, without recording a use (for
    /// `explain`). `None` for unknown or expired tokens.
    pub async fn inspect_token(&self, hash: &str) -> Result<Option<Caller>> {
        let found = self.load_token(hash).await?;
        Ok(found.filter(|t| t.expires_at.is_none_or(|e| e > now_ms())).map(|t| t.caller))
    }

    async fn load_token(&self, hash: &str) -> Result<Option<ResolvedToken>> {
        let row = sqlx::query(concat!(
            "SELECT t.id, t.kind, t.user_id, t.organization_id, t.expires_at, t.last_used_at, t.last_used_ip, t.read_only, \
             t.allowed_ips, u.email, o.plan, o.created_at AS org_created_at, COALESCE(m.role, CASE WHEN ",
            crate::families::inherited_admin!("t.organization_id", "t.user_id"),
            " THEN 'admin' END) AS role, \
             CASE WHEN o.require_mfa = 1 AND u.kind = 'personal' AND NOT ",
            crate::mfa::has_second_factor!(),
            " THEN 1 ELSE 0 END AS must_enrol \
             FROM tokens t \
             JOIN users u ON u.id = t.user_id \
             JOIN organizations o ON o.id = t.organization_id \
             LEFT JOIN memberships m ON m.organization_id = t.organization_id AND m.user_id = t.user_id \
             WHERE t.hash = $1 AND t.kind IN ('personal', 'programmatic', 'temporary', 'session')"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        // Neither a member nor an admin above: the person left, or the link is gone.
        let Some(role) = row.try_get::<Option<String>, _>("role").map_err(db)? else { return Ok(None) };
        let scope = scope_row(&row)?;
        let caller = Caller {
            user_id: UserId::from_stored(row.try_get("user_id").map_err(db)?),
            email: row.try_get::<Option<String>, _>("email").map_err(db)?.unwrap_or_default(),
            org_id: OrgId::from_i64(row.try_get("organization_id").map_err(db)?),
            org_role: OrgRole::parse(&role).ok_or_else(|| Error::internal(format!("stored org role {role:?}")))?,
            token_id: row.try_get("id").map_err(db)?,
            read_only: scope.read_only,
            must_enrol_mfa: row.try_get::<i64, _>("must_enrol").map_err(db)? != 0,
            trial_ends_at: (row.try_get::<String, _>("plan").map_err(db)?
                == orgplane_domain::plan::Plan::Trial.as_str())
            .then(|| row.try_get::<i64, _>("org_created_at").map(|c| c + orgplane_domain::plan::TRIAL_MS))
            .transpose()
            .map_err(db)?,
        };
        Ok(Some(ResolvedToken {
            caller,
            session: row.try_get::<String, _>("kind").map_err(db)? == TokenKind::Session.as_str(),
            scope,
            expires_at: row.try_get("expires_at").map_err(db)?,
            last_used_at: row.try_get("last_used_at").map_err(db)?,
            last_used_ip: row.try_get("last_used_ip").map_err(db)?,
        }))
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

    /// A user's permanent tokens (personal, or a programmatic user's) in one organization,
    /// newest first.
    pub async fn list_tokens_of(&self, user: &UserId, org: OrgId) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             WHERE user_id = $1 AND organization_id = $2 AND kind IN ('personal', 'programmatic') ORDER BY id DESC"
        )))
        .bind(user.as_str())
        .bind(org.as_i64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(token_row).collect()
    }

    /// Every permanent token of the organization, newest first (for its admins).
    pub async fn list_org_tokens(&self, org: OrgId) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE organization_id = $1 AND kind IN ('personal', 'programmatic') ORDER BY id DESC"
        )))
        .bind(org.as_i64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(token_row).collect()
    }

    /// Ends a console session (sign-out, switching organization). Unknown hashes are ignored.
    pub async fn delete_session(&self, hash: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM tokens WHERE hash = $1 AND kind = 'session'").bind(hash)).await?;
        self.changed().await;
        Ok(())
    }

    /// Revokes a permanent token of the organization, at once; `owner` limits it to one user's.
    pub async fn delete_token(&self, org: OrgId, token_id: i64, owner: Option<&UserId>) -> Result<()> {
        let done = self.write_one(sqlx::query(
            "DELETE FROM tokens WHERE id = $1 AND organization_id = $2 AND kind IN ('personal', 'programmatic') \
             AND ($3 IS NULL OR user_id = $3)",
        )
        .bind(token_id)
        .bind(org.as_i64())
        .bind(owner.map(UserId::as_str))).await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("TOKEN_DOESNT_EXIST", "path.tokenId", "token not found"));
        }
        self.changed().await;
        Ok(())
    }
}

fn scope_row(row: &AnyRow) -> Result<TokenScope> {
    let read_only: i64 = row.try_get("read_only").map_err(db)?;
    let ips: String = row.try_get("allowed_ips").map_err(db)?;
    Ok(TokenScope {
        read_only: read_only != 0,
        allowed_ips: serde_json::from_str(&ips).map_err(|e| Error::internal(format!("stored allowed ips: {e}")))?,
    })
}

fn token_row(row: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.try_get("id").map_err(db)?,
        user_id: UserId::from_stored(row.try_get("user_id").map_err(db)?),
        name: row.try_get("name").map_err(db)?,
        last_digits: row.try_get("last_digits").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        last_used_at: row.try_get("last_used_at").map_err(db)?,
        last_used_ip: row.try_get("last_used_ip").map_err(db)?,
        scope: scope_row(row)?,
    })
}
