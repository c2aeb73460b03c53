//! Spot's API rate limit: per organization × route × HTTP method, a number of requests per 60 s
//! (a sliding window approximated from the current and previous fixed minute, as Spot
//! describes a rolling window). Excess requests get 429 in the envelope; every authenticated
//! response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
//!
//! The counters are the store's (`Store::count_request`): in the database with PostgreSQL, so
//! replicas share one budget; in memory with SQLite, which serves one process.

use crate::envelope::REQUEST;
use axum::extract::MatchedPath;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use orgplane_domain::Error;
use orgplane_domain::ids::OrgId;
use orgplane_store::{RateCount, RateQuery, Store};

const WINDOW_SECS: u64 = 60;

#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window has room again.
    pub reset: u64,
}

pub struct RateLimiter {
    limit: u32,
}

/// The clock in unsigned milliseconds, as the window arithmetic takes it.
fn now_ms() -> u64 {
    orgplane_store::now_ms().max(0) as u64
}

/// A stable 64-bit key for a route and method (FNV-1a): replicas, whatever their build, must
/// agree on it, which `std`'s hashers do not promise.
fn route_key(route: &str, method: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in route.bytes().chain([b' ']).chain(method.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Where `now_ms` falls: the minute window's number and how far into it (0..1).
fn window_of(now_ms: u64) -> (i64, f64) {
    let window = now_ms / 1000 / WINDOW_SECS;
    let into = (now_ms % (WINDOW_SECS * 1000)) as f64 / (WINDOW_SECS * 1000) as f64;
    (window as i64, into)
}

/// The most requests the current window may hold: the limit less the part of the previous
/// minute still inside the rolling 60 s.
fn cap(limit: u32, previous: i64, into_window: f64) -> i64 {
    (f64::from(limit) - previous as f64 * (1.0 - into_window)).ceil() as i64
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        RateLimiter { limit }
    }

    /// Counts this request for `org` (when the caller was authenticated some other way than
    /// `Store::authenticate`, which counts as it authenticates); see `judge`.
    pub async fn check(&self, store: &Store, org: OrgId, parts: &Parts) -> Result<(), Error> {
        match self.query(parts) {
            Some(query) => self.judge(store.count_request(org, query).await?),
            None => Ok(()),
        }
    }

    /// What the store is to count for this request: its route and method in the current
    /// minute, capped by the rolling window. `None` when rate limiting is off.
    pub fn query(&self, parts: &Parts) -> Option<RateQuery<impl FnOnce(i64) -> i64 + use<>>> {
        if self.limit == 0 {
            return None;
        }
        let route = parts.extensions.get::<MatchedPath>().map_or(parts.uri.path(), |m| m.as_str());
        let (window, into) = window_of(now_ms());
        let limit = self.limit;
        Some(RateQuery {
            route: route_key(route, parts.method.as_str()),
            window,
            cap: move |previous| cap(limit, previous, into),
        })
    }

    /// Fails with 429 when the count says the organization is over its limit for this route
    /// and method. The state is left for the response headers either way.
    pub fn judge(&self, count: RateCount) -> Result<(), Error> {
        let info = self.info(count, now_ms());
        let _ = REQUEST.try_with(|r| *r.rate.lock().expect("rate info lock") = Some(info));
        if count.counted {
            Ok(())
        } else {
            Err(Error::RateLimited {
                code: "RATE_LIMIT_EXCEEDED",
                message: "too many requests for this route; retry after the reset".into(),
                retry_after_secs: info.reset,
            })
        }
    }

    fn info(&self, count: RateCount, now_ms: u64) -> RateInfo {
        let (_, into) = window_of(now_ms);
        let used = count.current as f64 + count.previous as f64 * (1.0 - into);
        let remaining = if count.counted { (f64::from(self.limit) - used).max(0.0).floor() as u32 } else { 0 };
        RateInfo { limit: self.limit, remaining, reset: WINDOW_SECS - (now_ms / 1000) % WINDOW_SECS }
    }
}

pub fn add_headers(headers: &mut HeaderMap, info: &RateInfo) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(info.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(info.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(info.reset));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_are_stable_and_distinct() {
        // Replicas of different builds must agree: the key is fixed by the text alone.
        // FNV-1a 64 of "/setup/account GET", as any implementation computes it.
        assert_eq!(route_key("/setup/account", "GET"), -4_709_980_153_371_980_629);
        assert_ne!(route_key("/setup/account", "GET"), route_key("/setup/account", "POST"));
        assert_ne!(route_key("/setup/account", "GET"), route_key("/setup/accoun", "tGET"));
    }

    #[test]
    fn the_cap_rolls_with_the_window() {
        // No previous minute: the whole limit.
        assert_eq!(cap(10, 0, 0.0), 10);
        assert_eq!(cap(10, 0, 0.99), 10);
        // Just after the minute turns most of a full previous minute still counts…
        assert!(cap(10, 10, 1.0 / 60.0) <= 1);
        // …and near its end hardly any of it does.
        assert_eq!(cap(10, 10, 55.0 / 60.0), 10);
        assert!(cap(10, 20, 0.0) <= 0);
    }

    #[test]
    fn windows_are_minutes() {
        assert_eq!(window_of(60_000 * 100), (100, 0.0));
        let (w, into) = window_of(60_000 * 100 + 30_000);
        assert_eq!(w, 100);
        assert!((into - 0.5).abs() < 1e-9);
    }
}
