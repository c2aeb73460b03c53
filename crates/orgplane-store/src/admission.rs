//! PostgreSQL: what the database must answer before an authenticated request is served, asked
//! in one statement for all the requests that arrive together (a `Batcher`):
//!
//! - the change counter (`orgplane_cache_epoch`): the read cache is cleared if any replica
//!   changed something since it was filled, so a change acknowledged before the request arrived
//!   is seen by it (a batch is taken after each of its requests arrived);
//! - the request's count against its organization's rate limit for the route
//!   (`rate_limit_counters`, shared by the replicas). The requests of one key in a batch are
//!   counted by one row update, which adds their number up to the cap and reports how many it
//!   granted, computed from the count before the update in that same row update, so concurrent
//!   replicas cannot make it wrong; the first `granted` of them, in arrival order, are counted.
//!   Far from the cap the update also counts some ahead (`AHEAD`), which this replica gives to
//!   its next requests of that key and window without a statement.
//!
//! Under load that is one round trip per round trip's worth of requests, whatever their routes
//! and organizations. A replica holding a lease (see `replica`) is in step without it, so its
//! requests come here only to be counted when their reserved room runs out. SQLite serves one
//! process and needs neither.

use crate::batch::{Batcher, Waiting};
use crate::rate_limits::Reserved;
use crate::{REQUEST_IN_STEP, Store, db};
use orgplane_domain::Result;
use sqlx::Row;

/// The most requests one admission statement answers (at most this many rate-limit rows of six
/// bound values each).
pub(crate) const MAX_ADMISSION_BATCH: usize = 1000;

/// What an admission statement counts ahead for a key, beyond its waiting requests, when the
/// row already exists (the window's first statement counts only its requests): an eighth of
/// the room left after them, at most 1,000, and nothing when that would be fewer than 8. The
/// replica gives those counts to its next requests of the window without a write. The cap
/// still holds across replicas; what a replica reserves and does not use is lost to the others
/// until the window ends, which is why it is a fraction of what is left, and why within 64 of
/// the cap nothing is reserved and every count is exact.
const AHEAD: &str = "(CASE WHEN (EXCLUDED.cap - c.hits - EXCLUDED.granted) / 8 >= 8 \
                     THEN LEAST(1000, (EXCLUDED.cap - c.hits - EXCLUDED.granted) / 8) ELSE 0 END)";

/// A request's count against one rate-limit window: it is counted unless the window already
/// holds `cap` requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateItem {
    pub key: (i64, i64),
    pub window: i64,
    pub cap: i64,
}

/// Whether the request was counted and the window's count as it saw it.
pub(crate) type Counted = (bool, i64);

pub(crate) struct Admissions {
    batches: Batcher<Option<RateItem>, Option<Counted>>,
    /// The connection admission statements run on, kept between batches (one batch runs at a
    /// time): sqlx pings a pooled connection each time it goes back to the pool, which on
    /// PostgreSQL is a round trip of its own. Dropped after an error, and taken anew.
    connection: tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Any>>>,
    /// How many statements ran (what the lease and reserved rate-limit room save).
    statements: std::sync::atomic::AtomicU64,
}

impl Default for Admissions {
    fn default() -> Self {
        Admissions {
            batches: Batcher::new(MAX_ADMISSION_BATCH),
            connection: Default::default(),
            statements: Default::default(),
        }
    }
}

/// The requests of one key and window in a batch.
struct KeyCount {
    item: RateItem,
    /// How many requests, in arrival order.
    n: i64,
}

/// Where a request of a batch gets its count.
enum Place {
    /// From room reserved earlier: this count.
    Reserved(i64),
    /// From the statement: the key's index and the request's rank among its requests.
    Key(usize, i64),
}

impl KeyCount {
    /// The answer for the `rank`-th request (from 0) when the row update granted `granted` of
    /// them and left the window at `hits`.
    fn answer(rank: i64, granted: i64, hits: i64) -> Counted {
        if rank < granted { (true, hits - granted + rank + 1) } else { (false, hits) }
    }

    /// The counts granted beyond this key's requests: reserved for the replica's next ones.
    fn reserved(&self, granted: i64, hits: i64) -> Option<Reserved> {
        (granted > self.n).then(|| Reserved { window: self.item.window, next: hits - granted + self.n + 1, last: hits })
    }
}

impl Store {
    /// Joins the next admission statement. When it returns, this replica's read cache is in
    /// step with every change acknowledged before the call, and the request is counted if
    /// `rate` was given.
    pub(crate) async fn admit(&self, rate: Option<RateItem>) -> Result<Option<Counted>> {
        let run = || {
            let store = self.clone();
            move |batch| {
                let store = store.clone();
                async move { store.admit_batch(batch).await }
            }
        };
        let counted = self.admissions.batches.submit(rate, run).await?;
        let _ = REQUEST_IN_STEP.try_with(|in_step| in_step.set(true));
        Ok(counted)
    }

    async fn admit_batch(&self, batch: Vec<Waiting<Option<RateItem>, Option<Counted>>>) {
        // Requests of one key and window share a row; the cap is the smallest any of them
        // computed (they differ only by the instants they arrived at).
        // A request whose key got room reserved by the previous statement since it queued
        // takes it (and only waits for the change counter).
        let mut keys: Vec<KeyCount> = Vec::new();
        let mut places = Vec::with_capacity(batch.len());
        for waiting in &batch {
            places.push(waiting.item.map(|item| {
                if let Some(current) = self.rates.take_reserved(&item) {
                    return Place::Reserved(current);
                }
                match keys.iter_mut().position(|k| k.item.key == item.key && k.item.window == item.window) {
                    Some(i) => {
                        let k = &mut keys[i];
                        k.item.cap = k.item.cap.min(item.cap);
                        k.n += 1;
                        Place::Key(i, k.n - 1)
                    }
                    None => {
                        keys.push(KeyCount { item, n: 1 });
                        Place::Key(keys.len() - 1, 0)
                    }
                }
            }));
        }
        let started = std::time::Instant::now();
        let result = self.admission_query(&keys).await;
        tracing::debug!(
            requests = batch.len(),
            keys = keys.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "admission statement"
        );
        match result {
            Ok((epoch, rows)) => {
                self.cache.sync(epoch);
                for (k, &(granted, hits)) in keys.iter().zip(&rows) {
                    if let Some(room) = k.reserved(granted, hits) {
                        self.rates.reserve(k.item.key, room);
                    }
                }
                for (waiting, place) in batch.into_iter().zip(places) {
                    let counted = place.map(|place| match place {
                        Place::Reserved(current) => (true, current),
                        Place::Key(i, rank) => {
                            let (granted, hits) = rows[i];
                            KeyCount::answer(rank, granted, hits)
                        }
                    });
                    let _ = waiting.answer.send(Ok(counted));
                }
            }
            Err(e) => {
                for waiting in batch {
                    let _ = waiting.answer.send(Err(e.clone()));
                }
            }
        }
    }

    /// Runs the admission statement on the kept connection.
    async fn admission_query(&self, keys: &[KeyCount]) -> Result<(i64, Vec<(i64, i64)>)> {
        let mut connection = self.admissions.connection.lock().await;
        let conn = match &mut *connection {
            Some(conn) => conn,
            empty => empty.insert(self.pool.acquire().await.map_err(db)?),
        };
        self.admissions.statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = Self::admission_statement(conn, keys).await;
        // After an error the connection may be broken; once the pool is closing it must go back.
        if result.is_err() || self.pool.is_closed() {
            *connection = None;
        }
        result
    }

    /// How many admission statements this store has run.
    pub fn admission_statements(&self) -> u64 {
        self.admissions.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Gives the kept connection back to the pool.
    pub(crate) async fn release_admission_connection(&self) {
        self.admissions.connection.lock().await.take();
    }

    /// One statement: counts every key (returning, per key in order, how many it granted and
    /// the window's count after) and reads the change counter.
    async fn admission_statement(conn: &mut sqlx::AnyConnection, keys: &[KeyCount]) -> Result<(i64, Vec<(i64, i64)>)> {
        if keys.is_empty() {
            let row =
                sqlx::query("SELECT last_value FROM orgplane_cache_epoch").fetch_one(&mut *conn).await.map_err(db)?;
            return Ok((row.try_get(0).map_err(db)?, Vec::new()));
        }
        // The inserted row's `granted` carries the batch's number of requests into the update
        // (capped, which changes nothing: the update caps the sum anyway).
        // The counts are committed without waiting for the WAL to reach the disk
        // (`synchronous_commit` off for this transaction only): a batch's requests would
        // otherwise wait for a disk flush they do not need. Other replicas see
        // the counts at commit as always; a PostgreSQL crash can forget the last fraction of a
        // second of counts, which lets a few more requests through in that minute.
        let sql = format!(
            "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)), \
             counted AS (\
               INSERT INTO rate_limit_counters AS c (organization_id, route_key, window_no, hits, granted, cap) \
               VALUES {} \
               ON CONFLICT (organization_id, route_key, window_no) DO UPDATE \
               SET hits = LEAST(c.hits + EXCLUDED.granted + {AHEAD}, EXCLUDED.cap), \
                   granted = LEAST(c.hits + EXCLUDED.granted + {AHEAD}, EXCLUDED.cap) - c.hits, \
                   cap = EXCLUDED.cap \
               WHERE c.hits < EXCLUDED.cap \
               RETURNING c.organization_id, c.route_key, c.window_no, c.granted, c.hits) \
             SELECT e.last_value, k.organization_id, k.route_key, k.window_no, k.granted, k.hits \
             FROM relaxed, orgplane_cache_epoch e LEFT JOIN counted k ON true",
            crate::value_rows(keys.len(), 6)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        // Rows in one order everywhere: two replicas' statements that update the same rows lock
        // them in the same order, so neither waits on the other in a cycle (a deadlock
        // PostgreSQL would break by failing one of them after a second).
        let mut sorted: Vec<&KeyCount> = keys.iter().collect();
        sorted.sort_unstable_by_key(|k| (k.item.key, k.item.window));
        for KeyCount { item, n } in sorted {
            let first = (*n).min(item.cap);
            query = query.bind(item.key.0).bind(item.key.1).bind(item.window).bind(first).bind(first).bind(item.cap);
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(db)?;
        let mut epoch = 0;
        // A key without a row was already at its cap: nothing granted.
        let mut counts: Vec<(i64, i64)> = keys.iter().map(|k| (0, k.item.cap)).collect();
        for row in rows {
            epoch = row.try_get::<i64, _>(0).map_err(db)?;
            let Some(org) = row.try_get::<Option<i64>, _>(1).map_err(db)? else { continue };
            let key = (org, row.try_get::<i64, _>(2).map_err(db)?);
            let window = row.try_get::<i64, _>(3).map_err(db)?;
            if let Some(i) = keys.iter().position(|k| k.item.key == key && k.item.window == window) {
                counts[i] = (row.try_get(4).map_err(db)?, row.try_get(5).map_err(db)?);
            }
        }
        Ok((epoch, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::KeyCount;

    #[test]
    fn a_batch_counts_its_first_granted_requests_in_order() {
        // Four requests of one key; the window held 8 and caps at 10: 2 granted, 10 after.
        let answers: Vec<_> = (0..4).map(|rank| KeyCount::answer(rank, 2, 10)).collect();
        assert_eq!(answers, vec![(true, 9), (true, 10), (false, 10), (false, 10)]);
        // A window already full granted nothing.
        assert_eq!(KeyCount::answer(0, 0, 10), (false, 10));
    }
}
