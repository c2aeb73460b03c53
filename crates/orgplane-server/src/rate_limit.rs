//! Spot's API rate limit: per organization × route × HTTP method, a number of requests per 60 s
//! (a sliding window approximated from the current and previous fixed minute, as Spot
//! describes a rolling window). Excess requests get 429 in the envelope; every authenticated
//! response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
//!
//! Counters live in this process: with several replicas each enforces the limit on its own share
//! of the traffic.

use crate::envelope::REQUEST;
use axum::extract::MatchedPath;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use orgplane_domain::Error;
use orgplane_domain::ids::OrgId;
use std::collections::HashMap;
use std::sync::Mutex;

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
    /// (org, hash of route and method) → (window number, count this window, count previous
    /// window). Hashing the route keeps the hot path free of allocations.
    windows: Mutex<HashMap<(i64, u64), (u64, u32, u32)>>,
}

fn route_key(route: &str, method: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (route, method).hash(&mut h);
    h.finish()
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        RateLimiter { limit, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts this request; fails with 429 when the organization is over its limit for this
    /// route and method. The state is left for the response headers either way.
    pub fn check(&self, org: OrgId, parts: &Parts) -> Result<(), Error> {
        if self.limit == 0 {
            return Ok(());
        }
        let route = parts.extensions.get::<MatchedPath>().map_or(parts.uri.path(), |m| m.as_str());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let key = (org.as_i64(), route_key(route, parts.method.as_str()));
        let (info, allowed) = self.count(key, now.as_millis() as u64);
        let _ = REQUEST.try_with(|r| *r.rate.lock().expect("rate info lock") = Some(info));
        if allowed {
            Ok(())
        } else {
            Err(Error::RateLimited {
                code: "RATE_LIMIT_EXCEEDED",
                message: "too many requests for this route; retry after the reset".into(),
                retry_after_secs: info.reset,
            })
        }
    }

    fn count(&self, key: (i64, u64), now_ms: u64) -> (RateInfo, bool) {
        let window = now_ms / 1000 / WINDOW_SECS;
        let into_window = (now_ms % (WINDOW_SECS * 1000)) as f64 / (WINDOW_SECS * 1000) as f64;
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() > 100_000 {
            windows.retain(|_, (w, _, _)| *w + 1 >= window);
        }
        let entry = windows.entry(key).or_insert((window, 0, 0));
        if entry.0 != window {
            let previous = if entry.0 + 1 == window { entry.1 } else { 0 };
            *entry = (window, 0, previous);
        }
        // Weighted: the part of the previous minute still inside the rolling 60 s.
        let used = entry.1 as f64 + entry.2 as f64 * (1.0 - into_window);
        let reset = WINDOW_SECS - (now_ms / 1000) % WINDOW_SECS;
        let allowed = used < self.limit as f64;
        if allowed {
            entry.1 += 1;
        }
        let used_after = used + f64::from(u8::from(allowed));
        let remaining = (self.limit as f64 - used_after).max(0.0).floor() as u32;
        (RateInfo { limit: self.limit, remaining, reset }, allowed)
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

    fn key() -> (i64, u64) {
        (606_000_000_001, route_key("/setup/account", "GET"))
    }

    #[test]
    fn allows_up_to_the_limit_then_refuses() {
        let rl = RateLimiter::new(3);
        let t = 60_000 * 100;
        for i in 0..3 {
            let (info, ok) = rl.count(key(), t + i);
            assert!(ok);
            assert_eq!(info.remaining, 2 - i as u32);
        }
        let (info, ok) = rl.count(key(), t + 10);
        assert!(!ok);
        assert_eq!(info.remaining, 0);
        assert_eq!(info.reset, 60);
        // Another route or organization has its own budget.
        assert!(rl.count((1, route_key("/setup/account", "GET")), t).1);
        assert!(rl.count((606_000_000_001, route_key("/setup/account", "POST")), t).1);
    }

    #[test]
    fn the_window_rolls() {
        let rl = RateLimiter::new(10);
        let t = 60_000 * 100;
        for _ in 0..10 {
            assert!(rl.count(key(), t).1);
        }
        // Just after the minute turns most of the previous minute still counts: at most one more
        // request fits…
        let fitted = (0..5).filter(|_| rl.count(key(), t + 60_000 + 1_000).1).count();
        assert!(fitted <= 1, "{fitted} requests fitted");
        // …and near its end hardly any of it does.
        let fitted = (0..10).filter(|_| rl.count(key(), t + 60_000 + 55_000).1).count();
        assert!(fitted >= 7, "{fitted} requests fitted");
    }
}
