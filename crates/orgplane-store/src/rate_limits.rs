//! Counters behind the API rate limit: requests per organization × route key × minute window.
//!
//! With PostgreSQL they live in the database (`rate_limit_counters`, an UNLOGGED table: a counter
//! needs no crash safety, and skipping the WAL keeps the write on every authenticated request
//! cheap), so every replica counts against one budget; a request is counted by the admission
//! statement it shares with the requests arriving together (see `admission`), or, far from the
//! cap, from counts such a statement took ahead for this replica (`Reserved`). SQLite serves one
//! process, so its counters live in that process's memory and the table stays empty there: a
//! write transaction per request would queue every read behind SQLite's single writer.
//!
//! The window arithmetic (how much of the previous minute still counts) is the caller's: it
//! passes `cap(previous)`, the most requests the current window may hold given the previous
//! window's count.

use crate::admission::{Counted, RateItem};
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

/// What a request asks of the rate limiter: count it on `route` in minute `window`, unless the
/// window already holds `cap(previous window's count)` requests.
pub struct RateQuery<C: FnOnce(i64) -> i64> {
    pub route: i64,
    pub window: i64,
    pub cap: C,
}

#[derive(Default)]
pub(crate) struct RateCounters {
    /// SQLite: (org, route) → (window, count this window, count previous window).
    /// PostgreSQL: (org, route) → (window, count of the window before it), read once per window.
    keys: Mutex<HashMap<(i64, i64), (i64, i64, i64)>>,
    /// PostgreSQL: the last window for which old rows were deleted.
    pruned: AtomicI64,
    /// PostgreSQL: (org, route) → room this replica reserved in a window (see `admission`).
    reserved: Mutex<HashMap<(i64, i64), Reserved>>,
}

/// Counts this replica took ahead in the database, to give to its next requests of a window
/// without a write: numbers `next..=last` of the window's count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserved {
    pub window: i64,
    pub next: i64,
    pub last: i64,
}

impl RateCounters {
    /// The next reserved count for `item`'s key and window, if any is left (and within its cap).
    pub(crate) fn take_reserved(&self, item: &RateItem) -> Option<i64> {
        let mut reserved = self.reserved.lock().expect("rate reservations lock");
        let room = reserved.get_mut(&item.key)?;
        if room.window != item.window || room.next > room.last || room.next > item.cap {
            return None;
        }
        room.next += 1;
        Some(room.next - 1)
    }

    /// Keeps counts a statement took ahead for `key` (replacing what is left of older windows).
    pub(crate) fn reserve(&self, key: (i64, i64), room: Reserved) {
        let mut reserved = self.reserved.lock().expect("rate reservations lock");
        if reserved.len() > MAX_KEYS {
            reserved.retain(|_, r| r.window >= room.window);
        }
        reserved.insert(key, room);
    }
}

impl Store {
    /// Counts one request for `org`, unless its window is full (`RateQuery`).
    pub async fn count_request<C: FnOnce(i64) -> i64>(&self, org: OrgId, query: RateQuery<C>) -> Result<RateCount> {
        match self.backend {
            Backend::Sqlite => {
                let key = (org.as_i64(), query.route);
                let window = query.window;
                let mut keys = self.rates.keys.lock().expect("rate counters lock");
                if keys.len() > MAX_KEYS {
                    keys.retain(|_, (w, _, _)| *w + 1 >= window);
                }
                let entry = keys.entry(key).or_insert((window, 0, 0));
                if entry.0 != window {
                    let previous = if entry.0 + 1 == window { entry.1 } else { 0 };
                    *entry = (window, 0, previous);
                }
                let counted = entry.1 < (query.cap)(entry.2);
                if counted {
                    entry.1 += 1;
                }
                Ok(RateCount { previous: entry.2, current: entry.1, counted })
            }
            Backend::Postgres => {
                let (previous, item) = self.rate_item(org, query).await?;
                self.count_in_admission(previous, item).await
            }
        }
    }

    /// PostgreSQL: counts a request against the room this replica reserved in its window, if
    /// any is left, else in the next admission statement (which may reserve more). Either way
    /// the request is in step with other replicas' changes when this returns.
    pub(crate) async fn count_in_admission(&self, previous: i64, item: Option<RateItem>) -> Result<RateCount> {
        if let Some(current) = item.and_then(|item| self.rates.take_reserved(&item)) {
            self.sync_cache().await?;
            return Ok(RateCount { previous, current, counted: true });
        }
        Ok(RateCount::of(previous, self.admit(item).await?))
    }

    /// PostgreSQL: the previous window's count, and what the admission statement is to count
    /// (nothing when the window's cap leaves no room at all).
    pub(crate) async fn rate_item<C: FnOnce(i64) -> i64>(
        &self,
        org: OrgId,
        query: RateQuery<C>,
    ) -> Result<(i64, Option<RateItem>)> {
        let key = (org.as_i64(), query.route);
        self.prune_rate_windows(query.window).await?;
        let previous = self.previous_window_count(key, query.window).await?;
        let cap = (query.cap)(previous);
        Ok((previous, (cap > 0).then_some(RateItem { key, window: query.window, cap })))
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

impl RateCount {
    /// The count an admission statement answered (`None`: the request was not put to it, its
    /// window having no room).
    pub(crate) fn of(previous: i64, counted: Option<Counted>) -> RateCount {
        match counted {
            Some((counted, current)) => RateCount { previous, current, counted },
            None => RateCount { previous, current: 0, counted: false },
        }
    }
}
