//! Identifiers in Spot's formats. Parsing is strict so that an id of the wrong shape is refused
//! before any query runs; generation takes the random source as an argument.

use crate::error::Error;
use rand::Rng;
use std::fmt;

/// An organization id: a 12-digit number (Spot's start with `6060`). Spot shows it as a string
/// in paths and account objects and as an integer in some create responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(i64);

impl OrgId {
    pub fn generate(rng: &mut impl Rng) -> Self {
        OrgId(606_000_000_000 + rng.gen_range(0..1_000_000_000))
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0') {
            Ok(OrgId(s.parse().expect("12 digits fit in i64")))
        } else {
            Err(Error::validation("organizationId", "organizationId must be a 12-digit number"))
        }
    }

    pub fn from_i64(n: i64) -> Self {
        OrgId(n)
    }

    pub fn as_i64(self) -> i64 {
        self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Defines a `prefix-` + 8 lower-case hex id type.
macro_rules! hex_id {
    ($name:ident, $prefix:literal, $field:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(rng: &mut impl Rng) -> Self {
                $name(format!("{}{:08x}", $prefix, rng.r#gen::<u32>()))
            }

            pub fn parse(s: &str) -> Result<Self, Error> {
                let ok = s.strip_prefix($prefix).is_some_and(|hex| {
                    hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                });
                if ok {
                    Ok($name(s.to_string()))
                } else {
                    Err(Error::validation($field, concat!($what, " must look like ", $prefix, "1a2b3c4d")))
                }
            }

            /// For values read back from our own storage, which were validated on the way in.
            pub fn from_stored(s: String) -> Self {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_id!(AccountId, "act-", "accountId", "an account id");
hex_id!(PolicyId, "pol-", "policyId", "a policy id");
hex_id!(GroupId, "ugr-", "userGroupId", "a user group id");

/// A user: a person (`u-` + 8 hex) or a programmatic user (`pu-` + 8 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn generate(rng: &mut impl Rng) -> Self {
        UserId(format!("u-{:08x}", rng.r#gen::<u32>()))
    }

    pub fn generate_programmatic(rng: &mut impl Rng) -> Self {
        UserId(format!("pu-{:08x}", rng.r#gen::<u32>()))
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        let hex = s.strip_prefix("u-").or_else(|| s.strip_prefix("pu-"));
        match hex {
            Some(h) if h.len() == 8 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
                Ok(UserId(s.to_string()))
            }
            _ => Err(Error::validation("userId", "a user id must look like u-1a2b3c4d or pu-1a2b3c4d")),
        }
    }

    pub fn from_stored(s: String) -> Self {
        UserId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_programmatic(&self) -> bool {
        self.0.starts_with("pu-")
    }

    /// Spot's deprecated numeric user id (`id` in the create response), derived from the hex
    /// part so it is stable and unique without a column of its own.
    pub fn legacy_number(&self) -> i64 {
        let hex = self.0.rsplit('-').next().unwrap_or_default();
        i64::from_str_radix(hex, 16).unwrap_or_default()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_ids_have_spot_shape() {
        let id = AccountId::generate(&mut rand::thread_rng());
        assert_eq!(id.as_str().len(), 12);
        assert!(AccountId::parse(id.as_str()).is_ok());
        for bad in ["act-1234567", "act-123456789", "act-ABCDEF12", "acc-12345678", "", "act-1234567g"] {
            assert!(AccountId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn org_ids_are_twelve_digits() {
        let id = OrgId::generate(&mut rand::thread_rng());
        assert_eq!(id.to_string().len(), 12);
        assert_eq!(OrgId::parse(&id.to_string()), Ok(id));
        for bad in ["12345678901", "1234567890123", "60607986112x", "060607986112", "-60607986112"] {
            assert!(OrgId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    proptest! {
        #[test]
        fn generated_ids_always_parse(seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            prop_assert!(UserId::parse(UserId::generate(&mut rng).as_str()).is_ok());
            prop_assert!(UserId::parse(UserId::generate_programmatic(&mut rng).as_str()).is_ok());
            prop_assert!(PolicyId::parse(PolicyId::generate(&mut rng).as_str()).is_ok());
            prop_assert!(GroupId::parse(GroupId::generate(&mut rng).as_str()).is_ok());
            prop_assert!(AccountId::parse(AccountId::generate(&mut rng).as_str()).is_ok());
            let org = OrgId::generate(&mut rng);
            prop_assert_eq!(OrgId::parse(&org.to_string()), Ok(org));
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = AccountId::parse(&s);
            let _ = UserId::parse(&s);
            let _ = OrgId::parse(&s);
        }
    }
}
