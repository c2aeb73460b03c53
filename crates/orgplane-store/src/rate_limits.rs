//! Counters behind the API rate limit: requests per organization × route key × minute window.
//!
//! With PostgreSQL they live in the database (`rate_limit_counters`, an UNLOGGED table: a counter
//! needs no crash safety, and skipping the WAL keeps the write on every authenticated request
//! cheap), so every replica counts against one budget. SQLite serves one process, so its
//! counters live in that process's memory and the table stays empty there: a write transaction
//! per request would queue every read behind SQLite's single writer.
//!
//! The window arithmetic (how much of the previous minute still counts) is the caller's: it
//! passes `cap(previous)`, the most requests the current window may hold given the previous
//! window's count.

use crate::{Backend, Store, db};
use orgplane_domain::Result;
use orgplane_domain::ids::OrgId;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Entries kept in memory before windows that cannot count any more are dropped.
const MAX_KEYS: usize = 100_000;

/// One request counted (or not) against a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCount {
    /// Requests counted in the previous window.
    pub previous: i64,
    /// Requests counted in the current window, this one included when `counted`.
    pub current: i64,
    /// False when the window was already at its cap: the request is refused.
    pub counted: bool,
}

#[derive(Default)]
pub(crate) struct RateCounters {
    /// SQLite: (org, route) → (window, count this window, count previous window).
    /// PostgreSQL: (org, route) → (window, count of the window before it), read once per window.
    keys: Mutex<HashMap<(i64, i64), (i64, i64, i64)>>,
    /// PostgreSQL: the last window for which old rows were deleted.
    pruned: AtomicI64,
}

impl Store {
    /// Counts one request for `org` on `route` in minute `window`, unless the window already
    /// holds `cap(previous window's count)` requests.
    pub async fn count_request(
        &self,
        org: OrgId,
        route: i64,
        window: i64,
        cap: impl FnOnce(i64) -> i64,
    ) -> Result<RateCount> {
        let key = (org.as_i64(), route);
        match self.backend {
            Backend::Sqlite => {
                let mut keys = self.rates.keys.lock().expect("rate counters lock");
                if keys.len() > MAX_KEYS {
                    keys.retain(|_, (w, _, _)| *w + 1 >= window);
                }
                let entry = keys.entry(key).or_insert((window, 0, 0));
                if entry.0 != window {
                    let previous = if entry.0 + 1 == window { entry.1 } else { 0 };
                    *entry = (window, 0, previous);
                }
                let counted = entry.1 < cap(entry.2);
                if counted {
                    entry.1 += 1;
                }
                Ok(RateCount { previous: entry.2, current: entry.1, counted })
            }
            Backend::Postgres => {
                self.prune_rate_windows(window).await?;
                let previous = self.previous_window_count(key, window).await?;
                let cap = cap(previous);
                if cap <= 0 {
                    return Ok(RateCount { previous, current: 0, counted: false });
                }
                let row = sqlx::query(
                    "INSERT INTO rate_limit_counters (organization_id, route_key, window_no, hits) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (organization_id, route_key, window_no) \
                     DO UPDATE SET hits = rate_limit_counters.hits + 1 WHERE rate_limit_counters.hits < $4 \
                     RETURNING hits",
                )
                .bind(key.0)
                .bind(key.1)
                .bind(window)
                .bind(cap)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
                Ok(match row {
                    Some(r) => RateCount { previous, current: r.try_get("hits").map_err(db)?, counted: true },
                    None => RateCount { previous, current: cap, counted: false },
                })
            }
        }
    }

    /// The previous window's count, read from the database once per key and window (it can
    /// hardly change once its minute is over).
    async fn previous_window_count(&self, key: (i64, i64), window: i64) -> Result<i64> {
        if let Some((w, previous, _)) = self.rates.keys.lock().expect("rate counters lock").get(&key) {
            if *w == window {
                return Ok(*previous);
            }
        }
        let row = sqlx::query(
            "SELECT hits FROM rate_limit_counters WHERE organization_id = $1 AND route_key = $2 AND window_no = $3",
        )
        .bind(key.0)
        .bind(key.1)
        .bind(window - 1)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let previous = row.map(|r| r.try_get::<i64, _>("hits")).transpose().map_err(db)?.unwrap_or(0);
        let mut keys = self.rates.keys.lock().expect("rate counters lock");
        if keys.len() > MAX_KEYS {
            keys.retain(|_, (w, _, _)| *w >= window);
        }
        keys.insert(key, (window, previous, 0));
        Ok(previous)
    }

    /// Once per window and replica: deletes the windows that no longer count.
    async fn prune_rate_windows(&self, window: i64) -> Result<()> {
        if self.rates.pruned.fetch_max(window, Ordering::SeqCst) >= window {
            return Ok(());
        }
        sqlx::query("DELETE FROM rate_limit_counters WHERE window_no < $1")
            .bind(window - 1)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
