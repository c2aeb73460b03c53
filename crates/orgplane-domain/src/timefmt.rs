//! Time as orgplane stores it (unix milliseconds) and as Spot shows it
//! (`2018-06-20T11:35:01.745Z`, always UTC with milliseconds and `Z`).

use time::OffsetDateTime;

pub type Millis = i64;

pub fn to_spot(ms: Millis) -> String {
    let dt =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Parses an RFC 3339 timestamp (as clients send `expiresAt`) into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let dt = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_format_ends_in_z_with_millis() {
        assert_eq!(to_spot(1_529_494_501_745), "2018-06-20T11:35:01.745Z");
        assert_eq!(to_spot(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("2018-06-20T11:35:01.745Z"), Some(1_529_494_501_745));
        assert_eq!(parse_rfc3339("2018-06-20T13:35:01.745+02:00"), Some(1_529_494_501_745));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
