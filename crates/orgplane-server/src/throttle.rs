//! Sign-in throttling for the endpoints that check a secret (password grant, password change,
//! second-factor codes): per email (or user) and per client address, shared by replicas through
//! the database. A locked person can still recover by a reset link, which clears the lock.

use crate::AppState;
use orgplane_domain::Error;
use std::net::IpAddr;

/// The counters one attempt is charged to.
pub struct Attempt {
    keys: Vec<String>,
}

impl Attempt {
    pub fn new(subject: Option<String>, ip: Option<IpAddr>) -> Self {
        Attempt { keys: subject.into_iter().chain(ip.map(|ip| format!("ip:{ip}"))).collect() }
    }

    fn keys(&self) -> Vec<&str> {
        self.keys.iter().map(String::as_str).collect()
    }

    /// Refuses with 429 and `Retry-After` while any counter is locked.
    pub async fn check(&self, state: &AppState) -> Result<(), Error> {
        if let Some(until) = state.store.throttled_until(&self.keys()).await? {
            let wait = (until - orgplane_store::now_ms()).max(0) / 1000 + 1;
            return Err(Error::RateLimited {
                code: "TOO_MANY_ATTEMPTS",
                message: format!("too many failed attempts; try again in {wait} s, or reset the password"),
                retry_after_secs: wait as u64,
            });
        }
        Ok(())
    }

    pub async fn failed(&self, state: &AppState) -> Result<(), Error> {
        state.store.record_failure(&self.keys()).await
    }

    /// A success clears the person's counter (not the address's: one good password must not
    /// wash away a spray of guesses at other accounts).
    pub async fn succeeded(&self, state: &AppState) -> Result<(), Error> {
        match self.keys.iter().find(|k| !k.starts_with("ip:")) {
            Some(key) => state.store.clear_throttle(key).await,
            None => Ok(()),
        }
    }
}

pub fn email_key(email_key: &str) -> String {
    format!("email:{email_key}")
}

pub fn user_key(user: &orgplane_domain::ids::UserId) -> String {
    format!("user:{user}")
}
