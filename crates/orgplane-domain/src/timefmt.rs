//! Time as orgplane stores it (unix milliseconds) and as Spot shows it
//! (`2018-06-20T11:35:01.745Z`, always UTC with milliseconds and `Z`).

use time::OffsetDateTime;

pub type Millis = i64;

/// `YYYY-MM-DDTHH:MM:SS.sssZ`, Spot's timestamp.
pub fn to_spot(ms: Millis) -> String {
    SpotTime(ms).to_string()
}

/// A timestamp shown as Spot shows it, written without allocating: `Display` and `Serialize`
/// write the 24 characters straight to the output (every reply carries one per request and one
/// or two per listed item; `format!` was a twentieth of the CPU of a listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpotTime(pub Millis);

impl std::fmt::Display for SpotTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let Ok(year) = u32::try_from(dt.year()) else {
            return f.write_str(&formatted(dt));
        };
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let fields = [
            (0, 4, year),
            (5, 2, u32::from(u8::from(dt.month()))),
            (8, 2, u32::from(dt.day())),
            (11, 2, u32::from(dt.hour())),
            (14, 2, u32::from(dt.minute())),
            (17, 2, u32::from(dt.second())),
            (20, 3, u32::from(dt.millisecond())),
        ];
        for (at, width, mut value) in fields {
            for digit in out[at..at + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&out).expect("ASCII digits"))
    }
}

impl serde::Serialize for SpotTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The general form, for years before 0.
fn formatted(dt: OffsetDateTime) -> String {
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
    fn digits_match_the_general_form() {
        let mut ms: i64 = -62_135_596_800_000; // 0001-01-01
        while ms < 253_402_300_799_999 {
            let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
            assert_eq!(to_spot(ms), formatted(dt), "{ms}");
            ms += 987_654_321_987;
        }
        assert_eq!(to_spot(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(to_spot(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn spot_time_serialises_as_its_string() {
        let ms = 1_529_494_501_745;
        assert_eq!(serde_json::to_string(&SpotTime(ms)).unwrap(), format!("\"{}\"", to_spot(ms)));
        let before_year_0 = -62_198_755_200_000;
        assert!(to_spot(before_year_0).starts_with('-'));
        assert_eq!(serde_json::to_string(&SpotTime(before_year_0)).unwrap(), format!("\"{}\"", to_spot(before_year_0)));
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("2018-06-20T11:35:01.745Z"), Some(1_529_494_501_745));
        assert_eq!(parse_rfc3339("2018-06-20T13:35:01.745+02:00"), Some(1_529_494_501_745));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
