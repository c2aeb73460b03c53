//! Who holds which policy where: the data the policy engine decides over, and the rules for
//! changing it. Roles are not special cases: an org admin holds built-in policy "1" (Admin)
//! organization-wide, an account viewer holds "3" on that account, an editor "2".

use crate::access::{AccountRole, OrgRole};
use crate::error::Error;
use crate::policy::{self, Policy, PolicyType, Scope, Via};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The account id that means "every current and future account".
pub const ALL_ACCOUNTS: &str = "*";

/// A policy attached to a user or group, for some accounts (organization-type policies ignore
/// the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMapping {
    pub policy_id: String,
    pub account_ids: Vec<String>,
}

/// A user's permission on one account: one row per (user, account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountPermission {
    Role(AccountRole),
    /// `POLICY_BASED`: these policies, on this account.
    Policies(Vec<String>),
}

impl AccountPermission {
    /// Spot's `permissionStrategy`.
    pub fn strategy(&self) -> &'static str {
        match self {
            AccountPermission::Role(_) => "ROLE_BASED",
            AccountPermission::Policies(_) => "POLICY_BASED",
        }
    }

    /// The role Spot shows: `viewer`, `editor`, or `policyBased`.
    pub fn role_name(&self) -> &'static str {
        match self {
            AccountPermission::Role(r) => r.as_str(),
            AccountPermission::Policies(_) => "policyBased",
        }
    }
}

/// Everything one user holds in one organization, as loaded from storage.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub org_role: Option<OrgRole>,
    /// (account id, permission)
    pub account_permissions: Vec<(String, AccountPermission)>,
    pub direct: Vec<PolicyMapping>,
    /// (group id, mapping)
    pub via_groups: Vec<(String, PolicyMapping)>,
}

/// A grant with its policy owned, so it can be cached and shared between requests.
#[derive(Debug, Clone)]
pub struct OwnedGrant {
    pub policy: Arc<Policy>,
    pub scope: Scope,
    pub via: Via,
}

impl OwnedGrant {
    pub fn as_grant(&self) -> policy::Grant<'_> {
        policy::Grant { policy: &self.policy, scope: &self.scope, via: &self.via }
    }
}

/// Turns holdings into grants. `custom` holds the organization's own policies by id; ids that
/// resolve to nothing (a mapping to a policy deleted since) grant nothing.
pub fn grants(holdings: &Holdings, custom: &HashMap<String, Arc<Policy>>) -> Vec<OwnedGrant> {
    let resolve = |id: &str| -> Option<Arc<Policy>> {
        custom.get(id).cloned().or_else(|| policy::builtin(id).map(|p| Arc::new(p.clone())))
    };
    let scope_for = |p: &Policy, accounts: &[String]| match p.policy_type {
        PolicyType::Organization => Scope::Organization,
        PolicyType::Account => Scope::Accounts(accounts.to_vec()),
    };
    let mut out = Vec::new();
    let role_policy = match holdings.org_role {
        Some(OrgRole::Admin) => Some(policy::ADMIN_POLICY_ID),
        Some(OrgRole::Member) => Some(policy::MEMBER_POLICY_ID),
        None => None,
    };
    if let Some(p) = role_policy.and_then(resolve) {
        out.push(OwnedGrant { policy: p, scope: Scope::Organization, via: Via::Role });
    }
    for (account, permission) in &holdings.account_permissions {
        let ids: Vec<&str> = match permission {
            AccountPermission::Role(AccountRole::Viewer) => vec![policy::ACCOUNT_VIEWER_POLICY_ID],
            AccountPermission::Role(AccountRole::Editor) => vec![policy::ACCOUNT_EDITOR_POLICY_ID],
            AccountPermission::Policies(ids) => ids.iter().map(String::as_str).collect(),
        };
        for id in ids {
            if let Some(p) = resolve(id) {
                let scope = scope_for(&p, std::slice::from_ref(account));
                out.push(OwnedGrant { policy: p, scope, via: Via::Role });
            }
        }
    }
    for m in &holdings.direct {
        if let Some(p) = resolve(&m.policy_id) {
            let scope = scope_for(&p, &m.account_ids);
            out.push(OwnedGrant { policy: p, scope, via: Via::Direct });
        }
    }
    for (group, m) in &holdings.via_groups {
        if let Some(p) = resolve(&m.policy_id) {
            let scope = scope_for(&p, &m.account_ids);
            out.push(OwnedGrant { policy: p, scope, via: Via::Group(group.clone()) });
        }
    }
    out
}

/// What the organization has, for checking mappings: its policies' types (custom and built-in)
/// and its account ids.
pub struct OrgCatalog<'a> {
    pub policy_types: &'a HashMap<String, PolicyType>,
    pub account_ids: &'a HashSet<String>,
}

impl OrgCatalog<'_> {
    fn policy_type(&self, id: &str) -> Option<PolicyType> {
        self.policy_types.get(id).copied().or_else(|| policy::builtin(id).map(|p| p.policy_type))
    }
}

/// Checks a list of policy mappings (`field` is its locator, e.g. `body.policies`): every policy
/// exists in this organization (or is built in), every account id is the organization's or `*`,
/// account-type policies name at least one account, no policy twice. Organization-type
/// policies keep no account list.
pub fn check_mappings(
    mappings: &[PolicyMapping],
    org: &OrgCatalog<'_>,
    field: &str,
) -> Result<Vec<PolicyMapping>, Error> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(mappings.len());
    for (i, m) in mappings.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(kind) = org.policy_type(&m.policy_id) else {
            return Err(Error::not_found(
                "POLICY_DOESNT_EXIST",
                format!("{at}.policyId"),
                format!("policy {} not found", m.policy_id),
            ));
        };
        if !seen.insert(m.policy_id.clone()) {
            return Err(Error::validation(format!("{at}.policyId"), format!("policy {} is listed twice", m.policy_id)));
        }
        match kind {
            PolicyType::Organization => out.push(PolicyMapping { policy_id: m.policy_id.clone(), account_ids: vec![] }),
            PolicyType::Account => {
                out.push(PolicyMapping {
                    policy_id: m.policy_id.clone(),
                    account_ids: check_accounts(&m.account_ids, org, &format!("{at}.accountIds"))?,
                });
            }
        }
    }
    Ok(out)
}

fn check_accounts(ids: &[String], org: &OrgCatalog<'_>, field: &str) -> Result<Vec<String>, Error> {
    if ids.is_empty() {
        return Err(Error::validation(field, "an account-level policy needs at least one account (or \"*\")"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if id != ALL_ACCOUNTS && !org.account_ids.contains(id) {
            return Err(Error::not_found(
                "Account_DOESNT_EXIST",
                format!("{field}[{i}]"),
                format!("account {id} not found"),
            ));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// Checks a POLICY_BASED account permission: the policies exist and are account-type.
pub fn check_account_policies(ids: &[String], org: &OrgCatalog<'_>, field: &str) -> Result<(), Error> {
    if ids.is_empty() {
        return Err(Error::validation(field, "POLICY_BASED permissions need at least one policy id"));
    }
    for (i, id) in ids.iter().enumerate() {
        match org.policy_type(id) {
            None => {
                return Err(Error::not_found(
                    "POLICY_DOESNT_EXIST",
                    format!("{field}[{i}]"),
                    format!("policy {id} not found"),
                ));
            }
            Some(PolicyType::Organization) => {
                return Err(Error::invalid(
                    "WRONG_POLICY_TYPE",
                    format!("{field}[{i}]"),
                    format!("policy {id} is an organization policy and cannot be attached to an account"),
                ));
            }
            Some(PolicyType::Account) => {}
        }
    }
    Ok(())
}

/// The last admin of an organization can be neither removed nor demoted.
pub fn check_admins_remain(admins_after: i64) -> Result<(), Error> {
    if admins_after < 1 {
        Err(Error::rule("LAST_ADMIN", "an organization must keep at least one admin"))
    } else {
        Ok(())
    }
}
