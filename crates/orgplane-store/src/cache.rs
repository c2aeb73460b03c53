//! A read cache for the lookups on every authenticated request — token → caller, the caller's
//! grants — and for an organization's account and user lists. It keeps the hot path free of SQL while staying exact:
//!
//! - every successful mutation calls `Store::changed()`, which clears the whole cache (writes
//!   are rare in a control plane; a global clear is simple and obviously correct);
//! - a lookup that raced with a clear does not store its result: it remembers the epoch before
//!   querying and inserts only if no clear happened since (checked under the same lock);
//! - with PostgreSQL, `changed()` also sends `NOTIFY orgplane_cache`, and every replica listens
//!   and clears its own cache; while a replica's listener is down its cache is bypassed;
//! - entries live at most `MAX_AGE_MS` regardless, as a bound on any missed notification.

use crate::people::OrgUser;
use crate::tokens::ResolvedToken;
use orgplane_domain::iam::OwnedGrant;
use orgplane_domain::model::Account;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub(crate) const CHANNEL: &str = "orgplane_cache";
const MAX_AGE_MS: i64 = 30_000;
const MAX_ENTRIES: usize = 100_000;
/// User lists are cached only up to this many users (a few MB); larger organizations page.
pub(crate) const MAX_CACHED_USERS: usize = 10_000;

struct Entries {
    epoch: u64,
    callers: HashMap<String, (ResolvedToken, i64)>,
    accounts: HashMap<i64, (Arc<Vec<Account>>, i64)>,
    users: HashMap<i64, (Arc<Vec<OrgUser>>, i64)>,
    /// org → user → grants (nested so a lookup by `&str` needs no allocation).
    grants: HashMap<i64, HashMap<String, (Arc<Vec<OwnedGrant>>, i64)>>,
}

pub(crate) struct Cache {
    entries: RwLock<Entries>,
    epoch: AtomicU64,
    enabled: AtomicBool,
}

impl Cache {
    /// SQLite is one process: the cache is on from the start. With PostgreSQL it turns on once
    /// the invalidation listener is subscribed.
    pub fn new(enabled: bool) -> Self {
        Cache {
            entries: RwLock::new(Entries {
                epoch: 0,
                callers: HashMap::new(),
                accounts: HashMap::new(),
                users: HashMap::new(),
                grants: HashMap::new(),
            }),
            epoch: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::SeqCst);
        self.clear();
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// The epoch to pass back to `put_*` after querying.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn clear(&self) {
        let mut e = self.entries.write().expect("cache lock");
        e.epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        e.callers.clear();
        e.accounts.clear();
        e.users.clear();
        e.grants.clear();
    }

    pub fn grants(&self, org: i64, user: &str, now: i64) -> Option<Arc<Vec<OwnedGrant>>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let e = self.entries.read().expect("cache lock");
        e.grants.get(&org)?.get(user).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(g, _)| g.clone())
    }

    pub fn put_grants(&self, epoch: u64, org: i64, user: &str, grants: Arc<Vec<OwnedGrant>>, now: i64) {
        self.put(epoch, |e| {
            e.grants.entry(org).or_default().insert(user.to_string(), (grants, now));
        });
    }

    pub fn caller(&self, hash: &str, now: i64) -> Option<ResolvedToken> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let e = self.entries.read().expect("cache lock");
        e.callers.get(hash).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(t, _)| t.clone())
    }

    pub fn put_caller(&self, epoch: u64, hash: &str, token: ResolvedToken, now: i64) {
        self.put(epoch, |e| {
            e.callers.insert(hash.to_string(), (token, now));
        });
    }

    pub fn accounts(&self, org: i64, now: i64) -> Option<Arc<Vec<Account>>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let e = self.entries.read().expect("cache lock");
        e.accounts.get(&org).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(list, _)| list.clone())
    }

    pub fn put_accounts(&self, epoch: u64, org: i64, list: Arc<Vec<Account>>, now: i64) {
        self.put(epoch, |e| {
            e.accounts.insert(org, (list, now));
        });
    }

    pub fn users(&self, org: i64, now: i64) -> Option<Arc<Vec<OrgUser>>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let e = self.entries.read().expect("cache lock");
        e.users.get(&org).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(list, _)| list.clone())
    }

    pub fn put_users(&self, epoch: u64, org: i64, list: Arc<Vec<OrgUser>>, now: i64) {
        self.put(epoch, |e| {
            e.users.insert(org, (list, now));
        });
    }

    fn put(&self, epoch: u64, insert: impl FnOnce(&mut Entries)) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut e = self.entries.write().expect("cache lock");
        // A clear since the caller's query means its result may be stale: drop it.
        if e.epoch != epoch {
            return;
        }
        if e.callers.len() + e.accounts.len() + e.users.len() + e.grants.len() >= MAX_ENTRIES {
            e.callers.clear();
            e.accounts.clear();
            e.users.clear();
            e.grants.clear();
        }
        insert(&mut e);
    }
}

/// Listens for other replicas' changes on PostgreSQL and clears the cache on each. Exits when
/// the store is dropped.
pub(crate) fn spawn_listener(url: String, cache: std::sync::Weak<Cache>) {
    tokio::spawn(async move {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect(&url).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match listener {
                Ok(mut l) => {
                    let Some(c) = cache.upgrade() else { return };
                    c.set_enabled(true);
                    drop(c);
                    loop {
                        let got = l.try_recv().await;
                        let Some(c) = cache.upgrade() else { return };
                        match got {
                            Ok(Some(_)) => c.clear(),
                            // The connection dropped (`None`) or failed: stop trusting the cache.
                            Ok(None) | Err(_) => {
                                c.set_enabled(false);
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    if cache.upgrade().is_none() {
                        return;
                    }
                    tracing::warn!(error = %e, "cache invalidation listener cannot connect; cache bypassed");
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}
