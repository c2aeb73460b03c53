//! Spot's `/setup` tree. One module per URL segment: `account.rs` serves `/setup/account…`,
//! `account_user_mapping.rs` `/setup/accountUserMapping`, `access/…` `/setup/access/…`.

pub mod access;
pub mod account;
pub mod account_user_mapping;
pub mod children;
pub mod credentials;
pub mod notifications;
pub mod organization;
pub mod scim;
#[cfg(feature = "saml")]
pub mod sso;
pub mod user;

use orgplane_domain::Error;
use orgplane_domain::iam::PolicyMapping;
use orgplane_domain::policy::{Policy, PolicyType};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// A policy attached for some accounts, as clients send it. Spot's schema names the account
/// list `accounts`, its examples and SDKs `accountIds`: both are accepted.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMappingInput {
    pub policy_id: String,
    /// Account ids, or `"*"` for every current and future account; empty for organization policies.
    pub account_ids: Option<Vec<String>>,
    #[schema(ignore)]
    pub accounts: Option<Vec<String>>,
}

pub fn mappings(input: Vec<PolicyMappingInput>) -> Vec<PolicyMapping> {
    input
        .into_iter()
        .map(|m| PolicyMapping {
            policy_id: m.policy_id,
            account_ids: m.account_ids.or(m.accounts).unwrap_or_default(),
        })
        .collect()
}

/// A policy attached for some accounts, as shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMappingItem {
    pub policy_id: String,
    pub policy_name: String,
    /// `ACCOUNT`, `ORGANIZATION`, `SPOT_MANAGED_ACCOUNT` or `SPOT_MANAGED_ORGANIZATION`.
    pub policy_type: &'static str,
    pub account_ids: Vec<String>,
}

/// Spot's policy `type`: built-ins are "Spot managed".
pub fn policy_type_name(p: &Policy) -> &'static str {
    match (p.builtin, p.policy_type) {
        (false, PolicyType::Account) => "ACCOUNT",
        (false, PolicyType::Organization) => "ORGANIZATION",
        (true, PolicyType::Account) => "SPOT_MANAGED_ACCOUNT",
        (true, PolicyType::Organization) => "SPOT_MANAGED_ORGANIZATION",
    }
}

/// Renders mappings with the names and types of the organization's policies.
pub fn mapping_items(mappings: &[PolicyMapping], policies: &HashMap<String, Policy>) -> Vec<PolicyMappingItem> {
    mappings
        .iter()
        .map(|m| {
            let p = policies.get(&m.policy_id);
            PolicyMappingItem {
                policy_id: m.policy_id.clone(),
                policy_name: p.map(|p| p.name.clone()).unwrap_or_default(),
                policy_type: p.map(policy_type_name).unwrap_or("ACCOUNT"),
                account_ids: m.account_ids.clone(),
            }
        })
        .collect()
}

/// Every policy the organization can use (built-ins and its own), by id.
pub async fn org_policies(
    state: &crate::AppState,
    org: orgplane_domain::ids::OrgId,
) -> Result<HashMap<String, Policy>, Error> {
    let mut all: HashMap<String, Policy> =
        orgplane_domain::policy::builtin_policies().iter().map(|p| (p.id.clone(), p.clone())).collect();
    for p in state.store.list_policies(org).await? {
        all.insert(p.policy.id.clone(), p.policy);
    }
    Ok(all)
}

/// Checks an optional description: bounded, no `+ = @`, like names.
pub fn description(field: &str, d: Option<&str>) -> Result<String, Error> {
    match d.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(String::new()),
        Some(d) if d.chars().count() > 500 => {
            Err(Error::validation(field, format!("\"{field}\" must be at most 500 characters")))
        }
        Some(d) => Ok(d.to_string()),
    }
}
