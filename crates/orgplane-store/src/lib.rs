//! Storage for orgplane: one SQL code path that serves embedded SQLite and PostgreSQL through
//! sqlx's `Any` driver. The portable-SQL rules (stack.md §2) in one place:
//! 1. `$1..$N` placeholders; never `QueryBuilder` (it emits `?`).
//! 2. Ids are TEXT (or BIGINT for organizations and tokens), times BIGINT unix milliseconds,
//!    flags SMALLINT 0/1, JSON as TEXT. No BOOLEAN, uuid, time or JSON column types.
//! 3. Unique conflicts are recognised with `is_unique_violation()`, never by constraint name.
//! 4. Anything dialect-specific sits behind a `match self.backend`.
//!
//! Every method that touches tenant data takes the organization id, and every query filters on it.

use std::cell::Cell;

mod accounts;
mod admission;
pub mod audit;
mod batch;
mod cache;
mod cloud;
pub mod families;
mod iam;
mod mfa;
pub mod notification_center;
pub mod notifications;
mod orgs;
mod outbox;
mod people;
pub mod plans;
mod rate_limits;
mod replica;
pub mod scim;
mod seed;
pub mod sso;
mod throttle;
mod tokens;
mod users;

use orgplane_domain::{Error, Result};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

pub use cloud::{AwsConnection, AzureConnection, GcpConnection};
pub use iam::{GroupSummary, StoredPolicy};
pub use mfa::{Ceremony, TotpState, WebauthnKey};
pub use orgs::{NewPerson, NewRegistration};
pub use people::{DisplayName, NewProgrammaticUser, NewUserRole, OrgUser};
pub use rate_limits::{RateCount, RateQuery};
pub use seed::Seeded;

/// Which database sits behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::internal(format!(
                "unsupported database URL scheme (expected sqlite: or postgres://): {}",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }
}

/// The SQLite URL for a data directory.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("orgplane.db").display())
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    cache: std::sync::Arc<cache::Cache>,
    rates: std::sync::Arc<rate_limits::RateCounters>,
    admissions: std::sync::Arc<admission::Admissions>,
    /// SQLite: this process's writers take turns here, in arrival order, before `BEGIN
    /// IMMEDIATE`. SQLite admits one writer at a time; without the queue the others would poll
    /// its lock in the busy handler, sleeping between tries while the lock sits free.
    writer_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    token_writes: std::sync::Arc<tokens::TokenWrites>,
    /// PostgreSQL: this replica's lease, which lets requests skip the change counter's read.
    replica: std::sync::Arc<replica::Replica>,
}

tokio::task_local! {
    /// Within `one_request`: whether the request's cache is already in step with the changes
    /// every replica acknowledged before it arrived.
    pub(crate) static REQUEST_IN_STEP: Cell<bool>;
}

/// Runs one API request. Its first cached lookup brings the cache in step with other replicas
/// (PostgreSQL); the later ones in the same request need not, since what a request must see is
/// every change acknowledged before it arrived. This replica's own changes clear the cache
/// directly, so a request still reads its own writes.
pub async fn one_request<F: std::future::Future>(work: F) -> F::Output {
    REQUEST_IN_STEP.scope(Cell::new(false), work).await
}

/// Whether this request's cache is already in step (always false outside `one_request`).
fn in_step() -> bool {
    REQUEST_IN_STEP.try_with(Cell::get).unwrap_or(false)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// A pooled connection idle this long is pinged before it serves again.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens a pool. For SQLite the data directory is created if needed and the database is put
    /// in WAL mode (readers do not block the writer; a committed write survives a process crash).
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = match backend {
            Backend::Sqlite => {
                if let Some(path) = sqlite_file(url) {
                    if let Some(dir) = std::path::Path::new(path).parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
                    }
                }
                AnyPoolOptions::new().max_connections(8).after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        Ok(())
                    })
                })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it takes from the pool by default: a round trip to
            // PostgreSQL, or a hop to SQLite's connection thread, as costly as the query itself.
            // Only a connection that sat idle long enough for the database to have restarted
            // is pinged (a failed ping discards it and the pool takes or opens another).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(|e| Error::internal(format!("connecting to the database: {e}")))?;
        let cache = std::sync::Arc::new(cache::Cache::new());
        Ok(Store {
            pool,
            backend,
            cache,
            rates: Default::default(),
            admissions: Default::default(),
            writer_turn: Default::default(),
            token_writes: std::sync::Arc::new(tokens::TokenWrites::new(tokens::MAX_TOKEN_BATCH)),
            replica: std::sync::Arc::new(replica::Replica::new(
                (backend == Backend::Postgres).then(|| url.to_string()),
            )),
        })
    }

    /// Every successful mutation calls this after its commit: it clears the read cache here and,
    /// on PostgreSQL, advances the change counter, which every other replica's next request
    /// reads, or which reaches the replicas holding a lease before this returns (see `cache`
    /// and `replica`).
    pub(crate) async fn changed(&self) {
        self.cache.clear();
        if self.backend == Backend::Postgres {
            if let Err(e) = self.announce_change().await {
                tracing::warn!(error = %e, "could not announce a change to the other replicas; they may serve cached data for up to 30 s");
            }
        }
    }

    /// PostgreSQL: brings this replica's read cache in step with every replica's changes; called
    /// before each cached lookup, and within `one_request` only before the request's first.
    /// While this replica's lease holds it is in step already (`replica`); otherwise the change
    /// counter is read by the next admission statement (see `admission`), shared with the
    /// requests arriving meanwhile. SQLite serves one process, whose changes clear the cache
    /// directly.
    pub(crate) async fn sync_cache(&self) -> Result<()> {
        if self.backend != Backend::Postgres || in_step() {
            return Ok(());
        }
        if self.lease_holds() {
            let _ = REQUEST_IN_STEP.try_with(|in_step| in_step.set(true));
            return Ok(());
        }
        self.admit(None).await.map(|_| ())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations of this backend. Safe to run at every start.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| Error::internal(format!("migrating: {e}")))
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(db)
    }

    /// Closes the pool, waiting for connections in use; the lease is given up and the connection
    /// kept for admission statements given back first (closing waits for every connection).
    pub async fn close(&self) {
        self.end_lease().await;
        self.release_admission_connection().await;
        self.pool.close().await;
    }

    /// Tables and their columns, sorted, for the test that both backends have the same schema.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        use sqlx::Row;
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(db)?;
        let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for row in rows {
            tables.entry(row.try_get(0).map_err(db)?).or_default().push(row.try_get(1).map_err(db)?);
        }
        Ok(tables
            .into_iter()
            .map(|(t, mut c)| {
                c.sort();
                (t, c)
            })
            .collect())
    }

    /// A transaction that will write, unaudited. SQLite takes the write lock up front (`BEGIN
    /// IMMEDIATE`) so that a read lock is never upgraded into a conflict, after this process's
    /// writer turn; a writer of another process (an `orgplane admin` command) still queues on
    /// the busy timeout.
    async fn begin_write(&self) -> Result<WriteTransaction> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.writer_turn.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
                Ok(WriteTransaction { tx, _turn: Some(turn) })
            }
            Backend::Postgres => Ok(WriteTransaction { tx: self.pool.begin().await.map_err(db)?, _turn: None }),
        }
    }

    /// A transaction that changes what a request is about; its commit records the request's
    /// audit event in the same transaction (see `audit`). Bookkeeping that is not a change of
    /// its own (throttle counters, the outbox) uses `begin_write`.
    async fn write_tx(&self) -> Result<audit::WriteTx> {
        self.begin_write().await.map(audit::WriteTx)
    }

    /// Runs one changing statement in its own audited transaction. A statement that matched no
    /// row changed nothing, so it is rolled back unrecorded.
    async fn write_one(
        &self,
        statement: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult> {
        let mut tx = self.write_tx().await?;
        let done = statement.execute(&mut *tx).await.map_err(db)?;
        if done.rows_affected() > 0 {
            tx.commit().await.map_err(db)?;
        }
        Ok(done)
    }
}

/// A transaction that will write; on SQLite it holds the process's writer turn until it ends.
pub(crate) struct WriteTransaction {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Placeholders for a multi-row `VALUES`: `n` groups of `width`, `($1, $2), ($3, $4)`.
pub(crate) fn value_rows(n: usize, width: usize) -> String {
    let group = |i: usize| {
        let cols: Vec<String> = (1..=width).map(|c| format!("${}", i * width + c)).collect();
        format!("({})", cols.join(", "))
    };
    (0..n).map(group).collect::<Vec<_>>().join(", ")
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Maps a database failure to the one error type. Callers that expect a unique conflict check
/// `is_unique_violation` first.
pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::internal(format!("database: {e}"))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The current time in unix milliseconds, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
