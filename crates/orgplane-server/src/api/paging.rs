//! Keyset paging, the one way listings page: `limit` (a page size within a route's bounds) and
//! `cursor` (opaque: `paginationInfo.nextCursor` of the previous page). A cursor names where the
//! previous page ended — a sort key and an id — so a page costs one index range scan however
//! deep it is, and rows added or removed meanwhile shift nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orgplane_domain::Error;

/// The page size asked for in `query.limit`: `default` when absent, else a whole number from
/// 1 to `max`.
pub fn limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, Error> {
    match raw {
        None => Ok(default),
        Some(l) => l.parse::<i64>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
            Error::validation("query.limit", format!("\"limit\" must be a whole number from 1 to {max}"))
        }),
    }
}

/// The `nextCursor` for a page that ended at (`key`, `id`).
pub fn encode(key: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{key}:{id}"))
}

/// Reads a cursor made by `encode`; `parse_id` checks the id's shape. Anything else — not
/// base64, not `key:id`, a malformed id — is refused in `query.cursor`.
pub fn decode<T>(raw: &str, parse_id: impl FnOnce(&str) -> Option<T>) -> Result<(i64, T), Error> {
    let bad = || Error::validation("query.cursor", "\"cursor\" is not a cursor of this listing");
    let text = URL_SAFE_NO_PAD.decode(raw).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (key, id) = text.split_once(':').ok_or_else(bad)?;
    let key = key.parse::<i64>().map_err(|_| bad())?;
    Ok((key, parse_id(id).ok_or_else(bad)?))
}

/// Cuts a result fetched with `limit + 1` rows to the page, and says whether more follow.
pub fn split<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let c = encode(1_733_000_000_123, "u-1a2b3c4d");
        assert!(!c.contains("u-1a2b3c4d"), "opaque: {c}");
        let parse = |s: &str| orgplane_domain::ids::UserId::parse(s).ok();
        let (key, id) = decode(&c, parse).unwrap();
        assert_eq!((key, id.as_str()), (1_733_000_000_123, "u-1a2b3c4d"));
        assert_eq!(decode(&encode(i64::MIN, ""), |s| Some(s.to_string())).unwrap().0, i64::MIN);
        let forged = [
            "".to_string(),
            "not base64!".to_string(),
            URL_SAFE_NO_PAD.encode("no separator"),
            URL_SAFE_NO_PAD.encode("12x:u-1a2b3c4d"),
            URL_SAFE_NO_PAD.encode("12:u-1a2b3c4d' OR 1=1"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, b':']),
        ];
        for raw in forged {
            let e = decode(&raw, parse).unwrap_err();
            assert!(matches!(&e, Error::Invalid { field: Some(f), .. } if f == "query.cursor"), "{raw}: {e:?}");
        }
    }

    #[test]
    fn limits_are_bounded_whole_numbers() {
        assert_eq!(limit(None, 100, 1000).unwrap(), 100);
        assert_eq!(limit(Some("1"), 100, 1000).unwrap(), 1);
        assert_eq!(limit(Some("1000"), 100, 1000).unwrap(), 1000);
        for bad in ["0", "-1", "1001", "ten", "", "1.5"] {
            assert!(limit(Some(bad), 100, 1000).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_tells_whether_more_follow() {
        assert_eq!(split(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split(vec![1, 2], 2), (vec![1, 2], false));
    }
}
