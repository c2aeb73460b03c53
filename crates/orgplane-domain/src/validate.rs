//! Input rules that do not need storage. Each returns the field it judged, so the API can name it.

use crate::error::Error;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_EMAIL_LEN: usize = 254;
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;

/// A normalised e-mail address: trimmed, with the comparison key lower-cased (emails are
/// unique case-insensitively across the installation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub display: String,
    pub key: String,
}

pub fn email(field: &str, raw: &str) -> Result<Email, Error> {
    let s = raw.trim();
    let bad = || Error::validation(field, format!("\"{field}\" must be a valid email address"));
    if s.is_empty() || s.len() > MAX_EMAIL_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(Email { display: s.to_string(), key: s.to_lowercase() })
}

/// Password policy (product.md §4): at least 8 characters with a digit, an upper-case letter,
/// a lower-case letter and a special character.
pub fn password(field: &str, s: &str) -> Result<(), Error> {
    let weak = |why: &str| Error::invalid("WEAK_PASSWORD", field, format!("password {why}"));
    if s.chars().count() < MIN_PASSWORD_LEN {
        return Err(weak("must be at least 8 characters long"));
    }
    if s.chars().count() > MAX_PASSWORD_LEN {
        return Err(weak("must be at most 128 characters long"));
    }
    if !s.chars().any(|c| c.is_ascii_digit()) {
        return Err(weak("must contain a digit"));
    }
    if !s.chars().any(char::is_uppercase) {
        return Err(weak("must contain an upper-case letter"));
    }
    if !s.chars().any(char::is_lowercase) {
        return Err(weak("must contain a lower-case letter"));
    }
    if !s.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        return Err(weak("must contain a special character"));
    }
    Ok(())
}

/// A person's first or last name: non-empty, bounded, and without `+`, `=`, `@` (Spot refuses
/// those in user, group, policy and programmatic-user names).
pub fn person_name(field: &str, s: &str) -> Result<String, Error> {
    let s = bounded(field, s)?;
    if s.contains(['+', '=', '@']) {
        return Err(Error::validation(field, format!("\"{field}\" must not contain +, = or @")));
    }
    Ok(s)
}

/// An organization or account name: non-empty, bounded, with at least one letter (Spot's rule).
pub fn entity_name(field: &str, s: &str) -> Result<String, Error> {
    let s = bounded(field, s)?;
    if !s.chars().any(char::is_alphabetic) {
        return Err(Error::validation(field, format!("\"{field}\" must contain at least one letter")));
    }
    Ok(s)
}

/// An optional free-text label (organization division, token name).
pub fn label(field: &str, s: &str) -> Result<String, Error> {
    bounded(field, s)
}

/// An outgoing webhook URL (Slack incoming webhooks and the like): absolute http(s), bounded.
pub fn webhook_url(field: &str, s: &str) -> Result<String, Error> {
    let s = s.trim();
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains('@')
    });
    if !host_ok || s.len() > 500 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::validation(field, format!("\"{field}\" must be an http(s) URL of at most 500 characters")));
    }
    Ok(s.to_string())
}

/// A Slack incoming-webhook URL: as `webhook_url`, and https only (Slack serves nothing else;
/// a plain-http URL would send messages in the clear).
pub fn slack_webhook_url(field: &str, s: &str) -> Result<String, Error> {
    let url = webhook_url(field, s)?;
    if !url.starts_with("https://") {
        return Err(Error::validation(field, format!("\"{field}\" must be an https URL")));
    }
    Ok(url)
}

/// A CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address, normalised to CIDR form.
pub fn cidr(field: &str, s: &str) -> Result<String, Error> {
    let bad = || Error::validation(field, format!("\"{s}\" is not an IP address or CIDR block"));
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    if len > max {
        return Err(bad());
    }
    Ok(format!("{ip}/{len}"))
}

/// Whether `ip` falls in the CIDR block (as normalised by `cidr`).
pub fn cidr_contains(block: &str, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let Some((addr, len)) = block.split_once('/') else { return false };
    let (Ok(net), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u32>()) else { return false };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32)) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128)) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        (IpAddr::V4(n), IpAddr::V6(i)) => i.to_ipv4_mapped().is_some_and(|i| {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32)) };
            u32::from(n) & mask == u32::from(i) & mask
        }),
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn bounded(field: &str, s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::validation(field, format!("\"{field}\" is not allowed to be empty")));
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(Error::validation(field, format!("\"{field}\" must be at most {MAX_NAME_LEN} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::validation(field, format!("\"{field}\" must not contain control characters")));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_policy() {
        assert!(password("p", "Sup3r$ecret").is_ok());
        for weak in ["Sh0rt!", "alllower1!", "ALLUPPER1!", "NoDigits!!", "NoSpecial11", ""] {
            let err = password("p", weak).unwrap_err();
            assert!(matches!(err, Error::Invalid { code: "WEAK_PASSWORD", .. }), "{weak}");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        let e = email("email", "  Ada@Example.COM ").unwrap();
        assert_eq!(e.display, "Ada@Example.COM");
        assert_eq!(e.key, "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@ex..com", "a@b@c.com"] {
            assert!(email("email", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_refuse_spot_forbidden_characters() {
        assert_eq!(person_name("firstName", " Ada ").unwrap(), "Ada");
        for bad in ["", "   ", "a+b", "a=b", "a@b"] {
            assert!(person_name("firstName", bad).is_err(), "{bad} accepted");
        }
        assert!(entity_name("name", "1234").is_err());
        assert!(entity_name("name", "Prod 1").is_ok());
        assert!(entity_name("name", &"x".repeat(101)).is_err());
    }

    #[test]
    fn cidr_blocks_are_parsed_and_matched() {
        assert_eq!(cidr("f", "10.1.2.3").unwrap(), "10.1.2.3/32");
        assert_eq!(cidr("f", " 10.0.0.0/8 ").unwrap(), "10.0.0.0/8");
        assert_eq!(cidr("f", "2001:db8::/32").unwrap(), "2001:db8::/32");
        for bad in ["10.0.0.0/33", "10.0.0", "x", "10.0.0.0/", "::/129"] {
            assert!(cidr("f", bad).is_err(), "{bad} accepted");
        }
        let ip = |s: &str| s.parse().unwrap();
        assert!(cidr_contains("10.0.0.0/8", ip("10.200.1.1")));
        assert!(!cidr_contains("10.0.0.0/8", ip("11.0.0.1")));
        assert!(cidr_contains("0.0.0.0/0", ip("1.2.3.4")));
        assert!(cidr_contains("127.0.0.1/32", ip("::ffff:127.0.0.1")));
        assert!(cidr_contains("2001:db8::/32", ip("2001:db8:1::1")));
        assert!(!cidr_contains("2001:db8::/32", ip("2001:db9::1")));
    }

    #[test]
    fn webhook_urls_are_absolute_http() {
        assert!(webhook_url("u", "https://hooks.slack.com/services/T0/B0/x").is_ok());
        for bad in ["hooks.slack.com", "ftp://x", "https://", "https://user@host/x", "https://a b"] {
            assert!(webhook_url("u", bad).is_err(), "{bad} accepted");
        }
    }
}
