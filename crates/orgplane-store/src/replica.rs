//! PostgreSQL: replicas that stay in step with each other without a round trip per request.
//!
//! Every request must see every change acknowledged, by any replica, before it arrived. Without
//! a lease that costs each request a read of the change counter (the admission statement, see
//! `admission`). With one the cost moves to the changes, which are rare in a control plane:
//!
//! - a serving replica holds a lease: a row of `replica_leases` renewed twice a second, good for
//!   `LEASE_MS` by the database's clock, and a connection that listens for the counter's
//!   notifications;
//! - a change advances the counter and notifies it in one statement, then waits until every
//!   other replica holding a lease has cleared its cache for it (`seen_epoch`), before it is
//!   acknowledged (`Store::changed`) — or until `TRUSTED` has passed, after which no replica
//!   that missed it can still trust its cache (below);
//! - a replica serves from its cache without asking the database only while its lease holds by
//!   its own clock: for `TRUSTED` from the moment its last confirmed renewal was sent;
//! - a renewal is confirmed when its own notification, which carries the counter it read,
//!   comes back on a listening connection that was not lost since before it was sent. Every
//!   change after that read reaches this replica in order on that connection; a change before
//!   it is covered by the counter the notification carries (the cache is brought in step with
//!   it before the lease is extended). A lost connection ends the lease here at once.
//!
//! So a change whose notification this replica missed is only ever acknowledged after this
//! replica stopped trusting its cache. A replica killed without closing delays changes by at
//! most `TRUSTED`; one whose lease does not hold falls back to the admission statement, so the
//! lease only ever buys speed.

use crate::cache::Cache;
use crate::{Store, db};
use orgplane_domain::Result;
use sqlx::postgres::PgListener;
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a renewal keeps the lease by the database's clock (other replicas wait for an
/// unconfirmed replica at most this long after its last renewal).
const LEASE_MS: i64 = 2_000;
/// How long a confirmed renewal lets this replica trust its cache, from when it was sent: less
/// than the lease, so that the database's view of it ends later than this replica's.
const TRUSTED: Duration = Duration::from_millis(1_500);
const RENEW_EVERY: Duration = Duration::from_millis(500);
/// The notification channel: payload `<counter>` for a change, `lease <id> <seq> <counter>`
/// for a renewal.
const CHANNEL: &str = "orgplane_changes";
/// The database's clock in unix milliseconds.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// This replica's lease, as the request path reads it and the background tasks keep it.
pub(crate) struct Lease {
    id: String,
    base: Instant,
    /// Nanoseconds after `base` until which the lease holds; 0 when it does not.
    holds_until: AtomicU64,
    /// Advanced each time the listening connection is lost or made anew: a renewal sent under
    /// another generation cannot confirm the lease.
    generation: AtomicU64,
    /// Whether the listening connection is up (renewals are sent only then).
    listening: AtomicBool,
    /// The renewal waiting for its notification.
    pending: Mutex<Option<Renewal>>,
    renew_now: tokio::sync::Notify,
}

#[derive(Clone, Copy)]
struct Renewal {
    seq: u64,
    sent: Instant,
    generation: u64,
}

impl Lease {
    /// Whether this replica's cache is known to be in step with every acknowledged change.
    pub fn holds(&self) -> bool {
        let until = self.holds_until.load(Ordering::Acquire);
        until != 0 && (self.base.elapsed().as_nanos() as u64) < until
    }

    fn lose(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.holds_until.store(0, Ordering::Release);
    }

    /// The renewal `seq` came back: the lease holds for `TRUSTED` from when it was sent, if the
    /// connection it came back on was listening before then.
    fn confirm(&self, seq: u64) {
        let Some(renewal) = *self.pending.lock().expect("lease lock") else { return };
        if renewal.seq != seq || renewal.generation != self.generation.load(Ordering::SeqCst) {
            return;
        }
        let until = (renewal.sent + TRUSTED).duration_since(self.base).as_nanos() as u64;
        if self.holds_until.fetch_max(until, Ordering::AcqRel) == 0 {
            tracing::info!("this replica holds its lease: requests no longer read the change counter");
        }
    }
}

/// The store's part in the leases: started once by the server (`Store::serve_as_replica`),
/// stopped by `Store::close` or when the last handle of the store is dropped.
pub(crate) struct Replica {
    /// Set when the lease is taken.
    lease: OnceLock<Arc<Lease>>,
    /// PostgreSQL's URL, for the listening connection (`None` for SQLite).
    url: Option<String>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// The locked file the lease's identity was kept in, if any: held while this process runs.
    identity: Mutex<Option<std::fs::File>>,
}

impl Replica {
    pub fn new(url: Option<String>) -> Self {
        Replica { lease: OnceLock::new(), url, tasks: Mutex::new(Vec::new()), identity: Mutex::new(None) }
    }

    fn stop(&self) {
        for task in self.tasks.lock().expect("replica tasks lock").drain(..) {
            task.abort();
        }
        if let Some(lease) = self.lease.get() {
            lease.lose();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}

fn new_replica_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The identity kept in `dir`/`replica-id`, made on first use, and the file, locked: the lock
/// is the proof that no other live process uses it (the system drops it when a process dies).
fn kept_identity(dir: &Path) -> std::io::Result<(String, std::fs::File)> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(dir)?;
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join("replica-id"))?;
    file.try_lock().map_err(|e| std::io::Error::other(format!("replica-id is locked by another process ({e})")))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let kept = text.trim();
    if kept.len() == 32 && kept.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok((kept.to_string(), file));
    }
    let id = new_replica_id();
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(id.as_bytes())?;
    file.sync_all()?;
    Ok((id, file))
}

impl Store {
    /// PostgreSQL: takes a lease (see the module), so that requests are served from the read
    /// cache without a round trip while it holds. Until it does, and whenever it does not,
    /// requests read the change counter as before. Later calls, and SQLite, do nothing.
    pub fn serve_as_replica(&self) {
        self.take_lease(new_replica_id);
    }

    /// As `serve_as_replica`, under the identity kept in `dir` (the file `replica-id`, locked
    /// while this process runs). A server restarted on the same directory after a crash takes
    /// its own lease over, where a new identity would leave the changes of other replicas (and
    /// its own) waiting up to `TRUSTED` for the old one to run out. If another live process
    /// holds the file, this one takes a new identity.
    pub fn serve_as_replica_in(&self, dir: &Path) {
        self.take_lease(|| match kept_identity(dir) {
            Ok((id, file)) => {
                *self.replica.identity.lock().expect("replica identity lock") = Some(file);
                id
            }
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "could not keep this replica's identity; taking a new one");
                new_replica_id()
            }
        });
    }

    fn take_lease(&self, id: impl FnOnce() -> String) {
        let Some(url) = self.replica.url.clone() else { return };
        if self.replica.lease.get().is_some() {
            return;
        }
        let lease = Arc::new(Lease {
            id: id(),
            base: Instant::now(),
            holds_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            pending: Mutex::new(None),
            renew_now: tokio::sync::Notify::new(),
        });
        if self.replica.lease.set(lease.clone()).is_err() {
            return;
        }
        let listen = tokio::spawn(listen(url, lease.clone(), self.cache.clone(), self.pool.clone()));
        let renew = tokio::spawn(renew(lease, self.pool.clone()));
        self.replica.tasks.lock().expect("replica tasks lock").extend([listen.abort_handle(), renew.abort_handle()]);
    }

    /// Whether this replica's lease holds: its cache is in step without asking the database.
    pub fn lease_holds(&self) -> bool {
        self.replica.lease.get().is_some_and(|lease| lease.holds())
    }

    /// The identity this replica's lease is held under, once taken.
    pub fn replica_id(&self) -> Option<&str> {
        self.replica.lease.get().map(|lease| lease.id.as_str())
    }

    /// Stops the lease and gives it up, so that changes through other replicas stop waiting
    /// for this one.
    pub(crate) async fn end_lease(&self) {
        let Some(id) = self.replica_id() else { return };
        self.replica.stop();
        let gone = sqlx::query("DELETE FROM replica_leases WHERE id = $1").bind(id).execute(&self.pool);
        if let Err(e) = gone.await {
            tracing::warn!(error = %e, "could not give up this replica's lease; changes may wait for it to run out");
        }
    }

    /// PostgreSQL, after a change's commit: advances the change counter and notifies the
    /// listening replicas, then waits until every other replica holding a lease has seen the
    /// change, or until none can still trust a cache that missed it.
    pub(crate) async fn announce_change(&self) -> Result<()> {
        // This replica's own cache was cleared by `changed`; without a lease it has no row.
        let me = self.replica_id().unwrap_or_default();
        let waiting = |epoch_sql: &str| {
            format!(
                "(SELECT count(*) FROM replica_leases r \
                  WHERE r.id <> $1 AND r.seen_epoch < {epoch_sql} AND r.lease_until > {DB_NOW_MS})"
            )
        };
        let sql = format!(
            "WITH bump AS MATERIALIZED (SELECT nextval('orgplane_cache_epoch') AS e) \
             SELECT b.e, {}, pg_notify('{CHANNEL}', b.e::text) IS NULL FROM bump b",
            waiting("b.e")
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(me).fetch_one(&self.pool).await.map_err(db)?;
        // A replica that read the counter before this bump trusts its cache at most `TRUSTED`
        // from then; one that reads it later is in step before it trusts its cache again.
        let bumped = Instant::now();
        let epoch: i64 = row.try_get(0).map_err(db)?;
        let mut waiting_for: i64 = row.try_get(1).map_err(db)?;
        let poll = format!("SELECT {}", waiting("$2"));
        let mut pause = Duration::from_millis(1);
        while waiting_for > 0 && bumped.elapsed() < TRUSTED {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
            let polled =
                sqlx::query(sqlx::AssertSqlSafe(poll.as_str())).bind(me).bind(epoch).fetch_one(&self.pool).await;
            match polled.map_err(db).and_then(|row| row.try_get(0).map_err(db)) {
                Ok(n) => waiting_for = n,
                Err(e) => {
                    // The acknowledgements cannot be read: wait out the longest trust instead.
                    tokio::time::sleep(TRUSTED.saturating_sub(bumped.elapsed())).await;
                    return Err(e);
                }
            }
        }
        if waiting_for > 0 {
            tracing::warn!(
                replicas = waiting_for,
                "a change went unacknowledged by replicas that hold a lease; they no longer trust their caches"
            );
        }
        Ok(())
    }
}

/// A notification on `CHANNEL`.
enum Message<'a> {
    Change(i64),
    Renewal { id: &'a str, seq: u64, epoch: i64 },
}

fn parse(payload: &str) -> Option<Message<'_>> {
    match payload.strip_prefix("lease ") {
        Some(rest) => {
            let mut parts = rest.split(' ');
            let id = parts.next()?;
            let seq = parts.next()?.parse().ok()?;
            let epoch = parts.next()?.parse().ok()?;
            Some(Message::Renewal { id, seq, epoch })
        }
        None => payload.parse().ok().map(Message::Change),
    }
}

/// Listens for changes: brings the cache in step with each, records that it has
/// (`seen_epoch`), and confirms this replica's renewals. Reconnects when the connection is
/// lost, the lease ending meanwhile.
async fn listen(url: String, lease: Arc<Lease>, cache: Arc<Cache>, pool: AnyPool) {
    let mut retry = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match subscribed.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for changes; requests read the change counter meanwhile");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        retry = Duration::from_millis(100);
        // Only renewals sent from now on can confirm the lease; send one at once.
        lease.generation.fetch_add(1, Ordering::SeqCst);
        lease.listening.store(true, Ordering::SeqCst);
        lease.renew_now.notify_one();
        while let Ok(Some(first)) = listener.try_recv().await {
            let mut seen = None;
            let mut confirmed = None;
            let mut next = Some(first);
            while let Some(notification) = next {
                match parse(notification.payload()) {
                    Some(Message::Change(epoch)) => seen = seen.max(Some(epoch)),
                    Some(Message::Renewal { id, seq, epoch }) => {
                        seen = seen.max(Some(epoch));
                        if id == lease.id {
                            confirmed = Some(seq);
                        }
                    }
                    None => tracing::warn!(payload = notification.payload(), "unexpected change notification"),
                }
                next = listener.next_buffered();
            }
            let Some(epoch) = seen else { continue };
            // In step first, then trusted, then recorded as seen.
            cache.sync(epoch);
            if let Some(seq) = confirmed {
                lease.confirm(seq);
            }
            let ack = sqlx::query("UPDATE replica_leases SET seen_epoch = $2 WHERE id = $1 AND seen_epoch < $2")
                .bind(&lease.id)
                .bind(epoch)
                .execute(&pool)
                .await;
            if let Err(e) = ack {
                tracing::warn!(error = %e, "could not record a change as seen; the replica that made it waits longer");
            }
        }
        lease.lose();
        tracing::warn!(
            "lost the connection that listens for changes; requests read the change counter until it is back"
        );
        // Changes need not wait for this replica any more.
        let expired =
            sqlx::query("UPDATE replica_leases SET lease_until = 0 WHERE id = $1").bind(&lease.id).execute(&pool);
        let _ = expired.await;
    }
}

/// Renews the lease every `RENEW_EVERY` (at once when the listener asks) while the listening
/// connection is up, and drops the rows of replicas gone for a minute (never its own: one
/// statement must not both delete and renew a row).
async fn renew(lease: Arc<Lease>, pool: AnyPool) {
    let sql = format!(
        "WITH gone AS (DELETE FROM replica_leases WHERE lease_until < {DB_NOW_MS} - 60000 AND id <> $1), \
         renewed AS (\
           INSERT INTO replica_leases (id, lease_until, seen_epoch) VALUES ($1, {DB_NOW_MS} + {LEASE_MS}, -1) \
           ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until RETURNING id) \
         SELECT pg_notify('{CHANNEL}', $2 || e.last_value::text) IS NULL FROM renewed, orgplane_cache_epoch e"
    );
    let mut seq = 0u64;
    loop {
        if lease.listening.load(Ordering::SeqCst) {
            seq += 1;
            let renewal = Renewal { seq, sent: Instant::now(), generation: lease.generation.load(Ordering::SeqCst) };
            *lease.pending.lock().expect("lease lock") = Some(renewal);
            let result = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&lease.id)
                .bind(format!("lease {} {seq} ", lease.id))
                .execute(&pool)
                .await;
            if let Err(e) = result {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "could not renew this replica's lease");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RENEW_EVERY) => {}
            () = lease.renew_now.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, parse};

    #[test]
    fn notifications_parse() {
        assert!(matches!(parse("42"), Some(Message::Change(42))));
        let Some(Message::Renewal { id, seq, epoch }) = parse("lease ab12 7 42") else { panic!("a renewal") };
        assert_eq!((id, seq, epoch), ("ab12", 7, 42));
        assert!(parse("lease ab12 x 42").is_none());
        assert!(parse("").is_none());
    }
}
