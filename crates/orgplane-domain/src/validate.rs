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
    fn webhook_urls_are_absolute_http() {
        assert!(webhook_url("u", "https://hooks.slack.com/services/T0/B0/x").is_ok());
        for bad in ["hooks.slack.com", "ftp://x", "https://", "https://user@host/x", "https://a b"] {
            assert!(webhook_url("u", bad).is_err(), "{bad} accepted");
        }
    }
}
