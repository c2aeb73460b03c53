//! Sign-in throttling: after a few failures for one email or one address, each further attempt
//! waits twice as long as the one before (up to 15 minutes). Counters forget after a quiet hour.

/// Failures allowed before attempts are delayed.
pub const FREE_FAILURES: i64 = 5;
const FIRST_LOCK_MS: i64 = 1_000;
const LONGEST_LOCK_MS: i64 = 15 * 60 * 1000;
/// A counter with no failure for this long starts again from zero.
pub const FORGET_AFTER_MS: i64 = 60 * 60 * 1000;

/// How long attempts are refused after the `failures`-th failure (`None`: not yet).
pub fn lock_ms(failures: i64) -> Option<i64> {
    if failures < FREE_FAILURES {
        return None;
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
    Some(FIRST_LOCK_MS.saturating_mul(1 << exponent).min(LONGEST_LOCK_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_grows_and_caps() {
        assert_eq!(lock_ms(4), None);
        assert_eq!(lock_ms(5), Some(1_000));
        assert_eq!(lock_ms(6), Some(2_000));
        assert_eq!(lock_ms(9), Some(16_000));
        assert_eq!(lock_ms(40), Some(15 * 60 * 1000));
    }
}
