//! The records orgplane keeps, as the rest of the code sees them.

use crate::access::OrgRole;
use crate::error::Error;
use crate::ids::{AccountId, OrgId, UserId};
use crate::timefmt::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub division: Option<String>,
    pub plan: String,
    pub created_at: Millis,
}

impl Organization {
    /// Spot shows an organization with a division as `Name-Division`.
    pub fn display_name(&self) -> String {
        match &self.division {
            Some(d) => format!("{}-{}", self.name, d),
            None => self.name.clone(),
        }
    }
}

/// An organization as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization: Organization,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub organization_id: OrgId,
    pub name: String,
    pub is_default: bool,
    pub cloud_provider: Option<String>,
    pub provider_external_id: Option<String>,
    pub slack_channels: Vec<String>,
    pub created_at: Millis,
}

impl Account {
    /// Every organization keeps exactly one default account, its oldest; it cannot be deleted.
    pub fn check_deletable(&self) -> Result<(), Error> {
        if self.is_default {
            Err(Error::rule("CANT_DELETE_DEFAULT_ACCOUNT", "the default account of an organization cannot be deleted"))
        } else {
            Ok(())
        }
    }
}

/// A token's metadata; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub name: Option<String>,
    pub last_digits: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
}

/// A person's sign-in record, looked up by email.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: Option<String>,
}
