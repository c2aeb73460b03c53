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
    /// Members must have a second factor before they can do anything else.
    pub require_mfa: bool,
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
    /// Not a member: an admin of an ancestor organization, and so an admin here.
    pub inherited: bool,
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
    pub user_id: UserId,
    pub name: Option<String>,
    pub last_digits: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub last_used_ip: Option<String>,
    pub scope: TokenScope,
}

/// Limits on what a token may do, beyond its owner's permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScope {
    /// Only read actions.
    pub read_only: bool,
    /// CIDR blocks the token may be used from; empty means anywhere.
    pub allowed_ips: Vec<String>,
}

impl TokenScope {
    /// Whether a request from `ip` may use the token. An unknown address passes only when the
    /// token is not restricted.
    pub fn permits(&self, ip: Option<std::net::IpAddr>) -> bool {
        if self.allowed_ips.is_empty() {
            return true;
        }
        let Some(ip) = ip else { return false };
        self.allowed_ips.iter().any(|cidr| crate::validate::cidr_contains(cidr, ip))
    }
}

/// A person's sign-in record, looked up by email.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: Option<String>,
}
