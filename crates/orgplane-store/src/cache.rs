//! A read cache for the lookups on every authenticated request: token → caller, a user's
//! grants, and an organization's account and user lists. It keeps the hot path free of heavy
//! SQL while staying exact:
//!
//! - every successful mutation calls `Store::changed()`, which clears the whole cache (writes
//!   are rare in a control plane; a global clear is simple and obviously correct);
//! - a lookup that raced with a clear does not store its result: it remembers the epoch before
//!   querying and inserts only if no clear happened since (checked under the same lock);
//! - with PostgreSQL, `changed()` also advances the database's change counter (the sequence
//!   `orgplane_cache_epoch`) after the commit, and every request reads it before its answer is
//!   sent (the admission statement, see `admission`) and clears this replica's cache when
//!   another replica changed something: a change acknowledged by one replica is seen by every
//!   replica's next request, at once. A replica holding a lease skips that read: the change
//!   is not acknowledged until it has cleared its cache, or stopped trusting it (`replica`);
//! - entries live at most `MAX_AGE_MS` regardless.

use crate::people::OrgUser;
use crate::tokens::ResolvedToken;
use orgplane_domain::iam::OwnedGrant;
use orgplane_domain::model::Account;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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
    /// PostgreSQL: the database's change counter this cache is in step with (-1: not yet read).
    db_epoch: AtomicI64,
}

impl Cache {
    pub fn new() -> Self {
        Cache {
            entries: RwLock::new(Entries {
                epoch: 0,
                callers: HashMap::new(),
                accounts: HashMap::new(),
                users: HashMap::new(),
                grants: HashMap::new(),
            }),
            epoch: AtomicU64::new(0),
            db_epoch: AtomicI64::new(-1),
        }
    }

    /// Clears the cache when the database's change counter moved past the one it is in step
    /// with (another replica changed something). A reader that saw an older counter than
    /// another reader is ordered before that change and needs no clear.
    pub fn sync(&self, db_epoch: i64) {
        if self.db_epoch.fetch_max(db_epoch, Ordering::SeqCst) < db_epoch {
            self.clear();
        }
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
        let e = self.entries.read().expect("cache lock");
        e.grants.get(&org)?.get(user).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(g, _)| g.clone())
    }

    pub fn put_grants(&self, epoch: u64, org: i64, user: &str, grants: Arc<Vec<OwnedGrant>>, now: i64) {
        self.put(epoch, |e| {
            e.grants.entry(org).or_default().insert(user.to_string(), (grants, now));
        });
    }

    pub fn caller(&self, hash: &str, now: i64) -> Option<ResolvedToken> {
        let e = self.entries.read().expect("cache lock");
        e.callers.get(hash).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(t, _)| t.clone())
    }

    pub fn put_caller(&self, epoch: u64, hash: &str, token: ResolvedToken, now: i64) {
        self.put(epoch, |e| {
            e.callers.insert(hash.to_string(), (token, now));
        });
    }

    pub fn accounts(&self, org: i64, now: i64) -> Option<Arc<Vec<Account>>> {
        let e = self.entries.read().expect("cache lock");
        e.accounts.get(&org).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(list, _)| list.clone())
    }

    pub fn put_accounts(&self, epoch: u64, org: i64, list: Arc<Vec<Account>>, now: i64) {
        self.put(epoch, |e| {
            e.accounts.insert(org, (list, now));
        });
    }

    pub fn users(&self, org: i64, now: i64) -> Option<Arc<Vec<OrgUser>>> {
        let e = self.entries.read().expect("cache lock");
        e.users.get(&org).filter(|(_, at)| now - at < MAX_AGE_MS).map(|(list, _)| list.clone())
    }

    pub fn put_users(&self, epoch: u64, org: i64, list: Arc<Vec<OrgUser>>, now: i64) {
        self.put(epoch, |e| {
            e.users.insert(org, (list, now));
        });
    }

    fn put(&self, epoch: u64, insert: impl FnOnce(&mut Entries)) {
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
