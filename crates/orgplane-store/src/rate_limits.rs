//! Counters behind the API rate limit: requests per organization × route key × minute window.
//!
//! With PostgreSQL they live in the database (`rate_limit_counters`, an UNLOGGED table: a counter
//! needs no crash safety, and skipping the WAL keeps the write on every authenticated request
//! cheap), so every replica counts against one budget. Requests for one key that arrive while
//! its counter is being written wait and are then counted together by one upsert, which adds
//! their number (up to the cap) and reports how many it granted: under load that is one round
//! trip per key per round trip's time instead of one per request, and still exact. SQLite serves
//! one process, so its counters live in that process's memory and the table stays empty there:
//! a write transaction per request would queue every read behind SQLite's single writer.
//!
//! The window arithmetic (how much of the previous minute still counts) is the caller's: it
//! passes `cap(previous)`, the most requests the current window may hold given the previous
//! window's count.

use crate::{Backend, Store, db};
use orgplane_domain::Result;
use orgplane_domain::ids::OrgId;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// PostgreSQL: (org, route, window) → the requests being counted together.
    batches: Mutex<HashMap<(i64, i64, i64), Arc<Batches>>>,
    /// PostgreSQL: the last window for which old rows were deleted.
    pruned: AtomicI64,
}

/// PostgreSQL: the requests of one key and window, numbered on arrival ("tickets"). Whoever
/// holds `settled` with its ticket not yet settled writes for every ticket handed out so far;
/// the others find their answer in `settled`. A write that fails or is abandoned settles
/// nothing, so the next waiter writes instead.
#[derive(Default)]
pub(crate) struct Batches {
    arrived: AtomicU64,
    settled: tokio::sync::Mutex<Settled>,
}

#[derive(Default)]
struct Settled {
    /// Tickets below this one have their answer in `answers`.
    upto: u64,
    answers: Vec<BatchAnswer>,
}

/// What one upsert answered for tickets `from..to`: the first `granted` of them were counted,
/// and the window then held `hits`.
struct BatchAnswer {
    from: u64,
    to: u64,
    granted: i64,
    hits: i64,
    /// Tickets that have not taken their answer yet (the answer is dropped at 0).
    unread: u64,
}

impl Settled {
    /// The answer for `ticket`: whether it was counted and the window's count as it saw it.
    fn take(&mut self, ticket: u64) -> Option<(bool, i64)> {
        let i = self.answers.iter().position(|a| (a.from..a.to).contains(&ticket))?;
        let a = &mut self.answers[i];
        let rank = (ticket - a.from) as i64;
        let counted = rank < a.granted;
        let current = if counted { a.hits - a.granted + rank + 1 } else { a.hits };
        a.unread -= 1;
        if a.unread == 0 {
            self.answers.swap_remove(i);
        }
        Some((counted, current))
    }
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
                let batches = self.rates.batches(key, window);
                let ticket = batches.arrived.fetch_add(1, Ordering::SeqCst);
                let mut settled = batches.settled.lock().await;
                if ticket >= settled.upto {
                    let to = batches.arrived.load(Ordering::SeqCst);
                    let (granted, hits) = self.count_many(key, window, (to - settled.upto) as i64, cap).await?;
                    let from = settled.upto;
                    settled.answers.push(BatchAnswer { from, to, granted, hits, unread: to - from });
                    settled.upto = to;
                }
                let (counted, current) = settled.take(ticket).expect("a settled ticket has its answer");
                Ok(RateCount { previous, current, counted })
            }
        }
    }

    /// Adds `n` requests to the window's count without passing `cap`; answers how many were
    /// added and the count after. `granted` is computed in the same row update from the count
    /// before it, so concurrent replicas cannot make it wrong.
    async fn count_many(&self, key: (i64, i64), window: i64, n: i64, cap: i64) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "INSERT INTO rate_limit_counters (organization_id, route_key, window_no, hits, granted) \
             VALUES ($1, $2, $3, LEAST($4, $5), LEAST($4, $5)) \
             ON CONFLICT (organization_id, route_key, window_no) DO UPDATE \
             SET hits = LEAST(rate_limit_counters.hits + $4, $5), \
                 granted = LEAST(rate_limit_counters.hits + $4, $5) - rate_limit_counters.hits \
             WHERE rate_limit_counters.hits < $5 \
             RETURNING granted, hits",
        )
        .bind(key.0)
        .bind(key.1)
        .bind(window)
        .bind(n)
        .bind(cap)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => Ok((r.try_get("granted").map_err(db)?, r.try_get("hits").map_err(db)?)),
            // The window was already full: nothing added.
            None => Ok((0, cap)),
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
        // Requests still being counted in an older window keep their batches alive.
        self.rates.batches.lock().expect("rate batches lock").retain(|&(_, _, w), _| w >= window);
        sqlx::query("DELETE FROM rate_limit_counters WHERE window_no < $1")
            .bind(window - 1)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

impl RateCounters {
    /// The batches of one key and window (older windows are dropped by `prune_rate_windows`;
    /// this bound only matters if the clock stood still).
    fn batches(&self, key: (i64, i64), window: i64) -> Arc<Batches> {
        let mut batches = self.batches.lock().expect("rate batches lock");
        if batches.len() > MAX_KEYS {
            batches.retain(|&(_, _, w), _| w >= window);
        }
        batches.entry((key.0, key.1, window)).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchAnswer, Settled};

    #[test]
    fn a_batch_counts_its_first_granted_tickets_in_order() {
        // Tickets 3..7 counted together; the window held 8 before and caps at 10: 2 granted.
        let mut settled =
            Settled { upto: 7, answers: vec![BatchAnswer { from: 3, to: 7, granted: 2, hits: 10, unread: 4 }] };
        assert_eq!(settled.take(3), Some((true, 9)));
        assert_eq!(settled.take(6), Some((false, 10)));
        assert_eq!(settled.take(4), Some((true, 10)));
        assert_eq!(settled.take(2), None, "a ticket of no settled batch has no answer");
        assert_eq!(settled.take(5), Some((false, 10)));
        assert!(settled.answers.is_empty(), "an answer every ticket took is dropped");
    }
}
