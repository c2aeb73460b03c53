//! SAML single sign-on rules (no I/O): an organization's SSO settings and Spot's dynamic
//! assertion attributes (`Role`, `OrgAndRole`, `OrgAndUserGroups`, `AccAndRole`,
//! `AccAndPolicyIds`), parsed strictly and resolved for the organization a login is for.
//!
//! Decisions (see `spot-behaviour.md` §10):
//! * `Role`: `ADMIN` = **Account Editor** (never organization admin), `VIEWER` = Account
//!   Viewer, `NO_ACCESS` = the sign-in is refused. It is applied at every login on the
//!   organization's *allowed accounts* (default account only, or every account).
//! * The IdP page's "User Default Organization Role" (`viewer` / `editor`) is what a person
//!   created just in time gets when the assertion carries no role: Account Viewer or Account
//!   Editor on the allowed accounts. It never makes anyone an organization admin (unlike SCIM's
//!   `Editor`): an IdP misconfiguration must not mint admins.
//! * `OrgAndRole` (`SPOTINST-<orgId>-<ADMIN|VIEWER|NO_ACCESS>`) overrides `Role` and the
//!   RelayState. When it names several organizations the person picks one.
//! * Attributes naming another organization (`OrgAndRole`, `OrgAndUserGroups`) grant nothing
//!   in the organization being signed in to: they are ignored there, because Okta sends the
//!   same attribute to every Spot app. An `OrgAndRole` choice is only offered for an
//!   organization whose own pinned IdP is the one that signed the assertion (checked by the
//!   server); accounts named by `AccAndRole`/`AccAndPolicyIds` must belong to the organization
//!   signed in to, or the login is refused.
//! * Names and values are case-sensitive; a malformed value refuses the login with a message
//!   naming the attribute and the value.

use crate::access::AccountRole;
use crate::error::Error;
use crate::ids::{AccountId, GroupId, OrgId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const ATTR_ROLE: &str = "Role";
pub const ATTR_ORG_AND_ROLE: &str = "OrgAndRole";
pub const ATTR_ORG_AND_USER_GROUPS: &str = "OrgAndUserGroups";
pub const ATTR_ACC_AND_ROLE: &str = "AccAndRole";
pub const ATTR_ACC_AND_POLICY_IDS: &str = "AccAndPolicyIds";
const PREFIX: &str = "SPOTINST-";

/// The role a `Role` or `OrgAndRole` value grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SsoRole {
    /// Account Editor on the allowed accounts (not organization admin).
    Admin,
    /// Account Viewer on the allowed accounts.
    Viewer,
    /// No console access: the sign-in is refused.
    NoAccess,
}

impl SsoRole {
    pub fn parse(s: &str) -> Option<SsoRole> {
        match s {
            "ADMIN" => Some(SsoRole::Admin),
            "VIEWER" => Some(SsoRole::Viewer),
            "NO_ACCESS" => Some(SsoRole::NoAccess),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SsoRole::Admin => "ADMIN",
            SsoRole::Viewer => "VIEWER",
            SsoRole::NoAccess => "NO_ACCESS",
        }
    }

    /// The account role it grants; `None` for `NO_ACCESS`.
    pub fn account_role(self) -> Option<AccountRole> {
        match self {
            SsoRole::Admin => Some(AccountRole::Editor),
            SsoRole::Viewer => Some(AccountRole::Viewer),
            SsoRole::NoAccess => None,
        }
    }
}

/// "User Default Organization Role": what a just-in-time user gets without a role attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultRole {
    /// Account Viewer on the allowed accounts.
    Viewer,
    /// Account Editor on the allowed accounts.
    Editor,
}

impl DefaultRole {
    pub fn parse(field: &str, s: &str) -> Result<DefaultRole, Error> {
        match s {
            "viewer" | "VIEWER" | "Viewer" => Ok(DefaultRole::Viewer),
            "editor" | "EDITOR" | "Editor" => Ok(DefaultRole::Editor),
            _ => Err(Error::validation(field, format!("\"defaultRole\" must be viewer or editor, not {s:?}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DefaultRole::Viewer => "viewer",
            DefaultRole::Editor => "editor",
        }
    }

    pub fn account_role(self) -> AccountRole {
        match self {
            DefaultRole::Viewer => AccountRole::Viewer,
            DefaultRole::Editor => AccountRole::Editor,
        }
    }
}

/// "User Allowed Accounts": where the default role and `Role` apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedAccounts {
    DefaultAccount,
    All,
}

impl AllowedAccounts {
    pub fn parse(field: &str, s: &str) -> Result<AllowedAccounts, Error> {
        match s {
            "default" | "DEFAULT" | "defaultAccount" => Ok(AllowedAccounts::DefaultAccount),
            "all" | "ALL" | "allAccounts" => Ok(AllowedAccounts::All),
            _ => Err(Error::validation(field, format!("\"allowedAccounts\" must be default or all, not {s:?}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AllowedAccounts::DefaultAccount => "default",
            AllowedAccounts::All => "all",
        }
    }
}

/// Spot's dynamic attributes, parsed. Every list keeps the assertion's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub role: Option<SsoRole>,
    pub org_and_role: Vec<(OrgId, SsoRole)>,
    pub org_user_groups: Vec<(OrgId, Vec<GroupId>)>,
    pub acc_and_role: Vec<(AccountId, AccountRole)>,
    pub acc_and_policy_ids: Vec<(AccountId, Vec<String>)>,
}

fn bad(attribute: &str, message: String) -> Error {
    Error::invalid("SAML_ATTRIBUTE_INVALID", format!("assertion.{attribute}"), message)
}

/// The values of one attribute, each multi-valued entry also split on commas, trimmed.
fn items<'a>(attrs: &'a BTreeMap<String, Vec<String>>, name: &str) -> Vec<&'a str> {
    attrs
        .get(name)
        .map(|vs| vs.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

fn org_id(attribute: &str, raw: &str, value: &str) -> Result<OrgId, Error> {
    OrgId::parse(raw)
        .map_err(|_| bad(attribute, format!("{attribute} value {value:?}: {raw:?} is not an organization id")))
}

fn account_id(attribute: &str, raw: &str, value: &str) -> Result<AccountId, Error> {
    AccountId::parse(raw)
        .map_err(|_| bad(attribute, format!("{attribute} value {value:?}: {raw:?} is not an account id")))
}

/// `SPOTINST-<id>:<a>[,<b>…]` lists: a comma-separated item starting with `SPOTINST-` opens a new
/// entry, the others continue the current one.
fn colon_lists<'a>(attribute: &str, raw: Vec<&'a str>) -> Result<Vec<(&'a str, Vec<&'a str>)>, Error> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for item in raw {
        if let Some(rest) = item.strip_prefix(PREFIX) {
            let Some((id, first)) = rest.split_once(':') else {
                return Err(bad(
                    attribute,
                    format!("{attribute} value {item:?} must look like SPOTINST-<id>:<id>[,<id>]"),
                ));
            };
            let first = first.trim();
            if first.is_empty() {
                return Err(bad(attribute, format!("{attribute} value {item:?} lists no id after the colon")));
            }
            out.push((id, vec![first]));
        } else {
            let Some(last) = out.last_mut() else {
                return Err(bad(attribute, format!("{attribute} value {item:?} must start with SPOTINST-")));
            };
            last.1.push(item);
        }
    }
    Ok(out)
}

/// Parses Spot's dynamic attributes from a verified assertion's attribute map. Absent
/// attributes are empty; malformed values are refused (`SAML_ATTRIBUTE_INVALID`, field
/// `assertion.<Attribute>`).
pub fn parse_attributes(attrs: &BTreeMap<String, Vec<String>>) -> Result<Attributes, Error> {
    let mut out = Attributes::default();
    let roles = items(attrs, ATTR_ROLE);
    if let Some(first) = roles.first() {
        let parsed = roles
            .iter()
            .map(|r| {
                SsoRole::parse(r)
                    .ok_or_else(|| bad(ATTR_ROLE, format!("Role value {r:?} must be ADMIN, VIEWER or NO_ACCESS")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.iter().any(|r| *r != parsed[0]) {
            return Err(bad(ATTR_ROLE, format!("Role has several different values (first {first:?})")));
        }
        out.role = Some(parsed[0]);
    }
    for item in items(attrs, ATTR_ORG_AND_ROLE) {
        let shape = || {
            bad(
                ATTR_ORG_AND_ROLE,
                format!("OrgAndRole value {item:?} must look like SPOTINST-<orgId>-<ADMIN|VIEWER|NO_ACCESS>"),
            )
        };
        let rest = item.strip_prefix(PREFIX).ok_or_else(shape)?;
        let (org, role) = rest.split_once('-').ok_or_else(shape)?;
        let org = org_id(ATTR_ORG_AND_ROLE, org, item)?;
        let role = SsoRole::parse(role).ok_or_else(shape)?;
        match out.org_and_role.iter().find(|(o, _)| *o == org) {
            Some((_, r)) if *r != role => {
                return Err(bad(ATTR_ORG_AND_ROLE, format!("OrgAndRole names organization {org} with two roles")));
            }
            Some(_) => {}
            None => out.org_and_role.push((org, role)),
        }
    }
    for (org, groups) in colon_lists(ATTR_ORG_AND_USER_GROUPS, items(attrs, ATTR_ORG_AND_USER_GROUPS))? {
        let value = format!("{PREFIX}{org}:{}", groups.join(","));
        let org = org_id(ATTR_ORG_AND_USER_GROUPS, org, &value)?;
        let mut ids = Vec::new();
        for g in groups {
            let id = GroupId::parse(g).map_err(|_| {
                bad(ATTR_ORG_AND_USER_GROUPS, format!("OrgAndUserGroups value {value:?}: {g:?} is not a user group id"))
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        match out.org_user_groups.iter_mut().find(|(o, _)| *o == org) {
            Some((_, existing)) => {
                existing.extend(ids.into_iter().filter(|g| !existing.contains(g)).collect::<Vec<_>>())
            }
            None => out.org_user_groups.push((org, ids)),
        }
    }
    for item in items(attrs, ATTR_ACC_AND_ROLE) {
        let shape = || {
            bad(
                ATTR_ACC_AND_ROLE,
                format!("AccAndRole value {item:?} must look like SPOTINST-<accountId>-<EDITOR|VIEWER>"),
            )
        };
        let rest = item.strip_prefix(PREFIX).ok_or_else(shape)?;
        let (account, role) = rest.rsplit_once('-').ok_or_else(shape)?;
        let account = account_id(ATTR_ACC_AND_ROLE, account, item)?;
        let role = match role {
            "EDITOR" => AccountRole::Editor,
            "VIEWER" => AccountRole::Viewer,
            _ => return Err(shape()),
        };
        if out.acc_and_role.iter().any(|(a, _)| *a == account) {
            return Err(bad(ATTR_ACC_AND_ROLE, format!("AccAndRole names account {account} twice")));
        }
        out.acc_and_role.push((account, role));
    }
    for (account, policies) in colon_lists(ATTR_ACC_AND_POLICY_IDS, items(attrs, ATTR_ACC_AND_POLICY_IDS))? {
        let value = format!("{PREFIX}{account}:{}", policies.join(","));
        let account = account_id(ATTR_ACC_AND_POLICY_IDS, account, &value)?;
        if out.acc_and_policy_ids.iter().any(|(a, _)| *a == account) {
            return Err(bad(ATTR_ACC_AND_POLICY_IDS, format!("AccAndPolicyIds names account {account} twice")));
        }
        let mut ids: Vec<String> = Vec::new();
        for p in policies {
            if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(bad(
                    ATTR_ACC_AND_POLICY_IDS,
                    format!("AccAndPolicyIds value {value:?}: {p:?} is not a policy id"),
                ));
            }
            if !ids.iter().any(|i| i == p) {
                ids.push(p.to_string());
            }
        }
        out.acc_and_policy_ids.push((account, ids));
    }
    if let Some((account, _)) =
        out.acc_and_role.iter().find(|(a, _)| out.acc_and_policy_ids.iter().any(|(b, _)| a == b))
    {
        return Err(bad(
            ATTR_ACC_AND_POLICY_IDS,
            format!("account {account} is named by both AccAndRole and AccAndPolicyIds; send one of them per account"),
        ));
    }
    Ok(out)
}

/// What a login grants in one organization, once the organization is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// From `OrgAndRole` for this organization, else `Role`; `None` = leave account roles as they are
    /// (a new person gets the default role).
    pub role: Option<SsoRole>,
    /// `Some` when `OrgAndUserGroups` names this organization: the person's groups become exactly these.
    pub groups: Option<Vec<GroupId>>,
    pub account_roles: Vec<(AccountId, AccountRole)>,
    pub account_policies: Vec<(AccountId, Vec<String>)>,
}

/// Where a login goes: straight into one organization, or a choice the person must make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Sign in to this organization (the one whose IdP the response was posted to, or the only
    /// `OrgAndRole` organization).
    One(OrgId),
    /// `OrgAndRole` names several organizations: offer these (already filtered by the caller to
    /// organizations that trust the same IdP).
    Choose(Vec<(OrgId, SsoRole)>),
}

/// Where a verified login for `acs_org` (the organization whose IdP verified it) goes.
/// `trusted` keeps the `OrgAndRole` organizations that accept this IdP (the server compares
/// their pinned IdPs); `acs_org` always trusts itself.
pub fn destination(attrs: &Attributes, acs_org: OrgId, trusted: impl Fn(OrgId) -> bool) -> Result<Destination, Error> {
    if attrs.org_and_role.is_empty() {
        return Ok(Destination::One(acs_org));
    }
    let usable: Vec<(OrgId, SsoRole)> =
        attrs.org_and_role.iter().copied().filter(|(o, _)| *o == acs_org || trusted(*o)).collect();
    match usable.as_slice() {
        [] => Err(Error::Forbidden {
            code: "SSO_NO_ORGANIZATION",
            message: "OrgAndRole names no organization that trusts this identity provider".into(),
        }),
        [(org, _)] => Ok(Destination::One(*org)),
        _ => Ok(Destination::Choose(usable)),
    }
}

/// The grants for signing in to `org`. `NO_ACCESS` refuses (`SSO_NO_ACCESS`).
pub fn grants_for(attrs: &Attributes, org: OrgId) -> Result<Grants, Error> {
    let role = match attrs.org_and_role.iter().find(|(o, _)| *o == org) {
        Some((_, r)) => Some(*r),
        None if !attrs.org_and_role.is_empty() => {
            return Err(Error::Forbidden {
                code: "SSO_NO_ACCESS",
                message: format!("OrgAndRole does not name organization {org}"),
            });
        }
        None => attrs.role,
    };
    if role == Some(SsoRole::NoAccess) {
        return Err(Error::Forbidden {
            code: "SSO_NO_ACCESS",
            message: "the identity provider grants this person no access (NO_ACCESS)".into(),
        });
    }
    Ok(Grants {
        role,
        groups: attrs.org_user_groups.iter().find(|(o, _)| *o == org).map(|(_, g)| g.clone()),
        account_roles: attrs.acc_and_role.clone(),
        account_policies: attrs.acc_and_policy_ids.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
    }

    fn field(e: &Error) -> Option<&str> {
        match e {
            Error::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    const A: &str = "606079870000";
    const B: &str = "606079870001";

    #[test]
    fn role_values() {
        let a = parse_attributes(&attrs(&[("Role", &["ADMIN"])])).unwrap();
        assert_eq!(a.role, Some(SsoRole::Admin));
        assert_eq!(SsoRole::Admin.account_role(), Some(AccountRole::Editor));
        assert_eq!(SsoRole::Viewer.account_role(), Some(AccountRole::Viewer));
        // Case-sensitive.
        let e = parse_attributes(&attrs(&[("Role", &["admin"])])).unwrap_err();
        assert_eq!(field(&e), Some("assertion.Role"));
        assert!(parse_attributes(&attrs(&[("Role", &["ADMIN", "VIEWER"])])).is_err());
        assert_eq!(parse_attributes(&attrs(&[("role", &["garbage"])])).unwrap(), Attributes::default());
        let org = OrgId::parse(A).unwrap();
        let no = parse_attributes(&attrs(&[("Role", &["NO_ACCESS"])])).unwrap();
        assert!(matches!(grants_for(&no, org), Err(Error::Forbidden { code: "SSO_NO_ACCESS", .. })));
    }

    #[test]
    fn org_and_role_multi_valued_or_comma_list() {
        let multi = parse_attributes(&attrs(&[(
            "OrgAndRole",
            &[&format!("SPOTINST-{A}-VIEWER"), &format!("SPOTINST-{B}-ADMIN")],
        )]))
        .unwrap();
        let comma = parse_attributes(&attrs(&[("OrgAndRole", &[&format!("SPOTINST-{A}-VIEWER, SPOTINST-{B}-ADMIN")])]))
            .unwrap();
        assert_eq!(multi, comma);
        let (a, b) = (OrgId::parse(A).unwrap(), OrgId::parse(B).unwrap());
        assert_eq!(multi.org_and_role, vec![(a, SsoRole::Viewer), (b, SsoRole::Admin)]);
        // Overrides Role.
        let with_role = Attributes { role: Some(SsoRole::NoAccess), ..multi.clone() };
        assert_eq!(grants_for(&with_role, b).unwrap().role, Some(SsoRole::Admin));
        // An organization it does not name is refused.
        let c = OrgId::parse("606079870002").unwrap();
        assert!(grants_for(&multi, c).is_err());
        // Several trusted organizations: a choice; untrusted ones are dropped.
        assert_eq!(destination(&multi, a, |_| true).unwrap(), Destination::Choose(multi.org_and_role.clone()));
        assert_eq!(destination(&multi, a, |_| false).unwrap(), Destination::One(a));
        assert!(destination(&multi, c, |_| false).is_err());
        for bad_value in [
            format!("SPOTINST-{A}-viewer"),
            format!("spotinst-{A}-VIEWER"),
            format!("SPOTINST-{A}"),
            "SPOTINST-12-VIEWER".to_string(),
            format!("SPOTINST-{A}-EDITOR"),
        ] {
            let e = parse_attributes(&attrs(&[("OrgAndRole", &[&bad_value])])).unwrap_err();
            assert_eq!(field(&e), Some("assertion.OrgAndRole"), "{bad_value}");
        }
        assert!(
            parse_attributes(&attrs(&[("OrgAndRole", &[&format!("SPOTINST-{A}-VIEWER,SPOTINST-{A}-ADMIN")])])).is_err()
        );
    }

    #[test]
    fn groups_only_for_their_organization() {
        let a = parse_attributes(&attrs(&[(
            "OrgAndUserGroups",
            &[&format!("SPOTINST-{A}:ugr-0000000a,ugr-0000000b"), &format!("SPOTINST-{B}:ugr-0000000c")],
        )]))
        .unwrap();
        let (oa, ob) = (OrgId::parse(A).unwrap(), OrgId::parse(B).unwrap());
        let ga = grants_for(&a, oa).unwrap().groups.unwrap();
        assert_eq!(ga, vec![GroupId::parse("ugr-0000000a").unwrap(), GroupId::parse("ugr-0000000b").unwrap()]);
        assert_eq!(grants_for(&a, ob).unwrap().groups.unwrap().len(), 1);
        let c = OrgId::parse("606079870002").unwrap();
        assert_eq!(grants_for(&a, c).unwrap().groups, None);
        // One value holding two organizations, comma separated.
        let joined = parse_attributes(&attrs(&[(
            "OrgAndUserGroups",
            &[&format!("SPOTINST-{A}:ugr-0000000a,ugr-0000000b,SPOTINST-{B}:ugr-0000000c")],
        )]))
        .unwrap();
        assert_eq!(joined, a);
        for bad_value in
            [format!("SPOTINST-{A}:grp-1"), format!("SPOTINST-{A}"), "ugr-0000000a".into(), format!("SPOTINST-{A}:")]
        {
            let e = parse_attributes(&attrs(&[("OrgAndUserGroups", &[&bad_value])])).unwrap_err();
            assert_eq!(field(&e), Some("assertion.OrgAndUserGroups"), "{bad_value}");
        }
    }

    #[test]
    fn account_attributes() {
        let a = parse_attributes(&attrs(&[
            ("AccAndRole", &["SPOTINST-act-0000000a-EDITOR", "SPOTINST-act-0000000b-VIEWER"]),
            ("AccAndPolicyIds", &["SPOTINST-act-0000000c:pol-00000001,pol-00000002"]),
        ]))
        .unwrap();
        assert_eq!(a.acc_and_role.len(), 2);
        assert_eq!(a.acc_and_role[0].1, AccountRole::Editor);
        assert_eq!(a.acc_and_policy_ids[0].1, vec!["pol-00000001".to_string(), "pol-00000002".to_string()]);
        // The same account in both is refused.
        let e = parse_attributes(&attrs(&[
            ("AccAndRole", &["SPOTINST-act-0000000a-EDITOR"]),
            ("AccAndPolicyIds", &["SPOTINST-act-0000000a:pol-00000001"]),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("both") || format!("{e:?}").contains("both"), "{e:?}");
        for bad_value in [
            "SPOTINST-act-0000000a-ADMIN",
            "SPOTINST-act-0000000a-editor",
            "SPOTINST-acct-1-EDITOR",
            "act-0000000a-EDITOR",
        ] {
            let e = parse_attributes(&attrs(&[("AccAndRole", &[bad_value])])).unwrap_err();
            assert_eq!(field(&e), Some("assertion.AccAndRole"), "{bad_value}");
        }
        for bad_value in ["SPOTINST-act-0000000a-pol-1", "SPOTINST-act-0000000a:pol 1", "SPOTINST-act-0000000a:"] {
            let e = parse_attributes(&attrs(&[("AccAndPolicyIds", &[bad_value])])).unwrap_err();
            assert_eq!(field(&e), Some("assertion.AccAndPolicyIds"), "{bad_value}");
        }
    }

    #[test]
    fn settings_values() {
        assert_eq!(DefaultRole::parse("f", "editor").unwrap().account_role(), AccountRole::Editor);
        assert!(DefaultRole::parse("f", "admin").is_err());
        assert_eq!(AllowedAccounts::parse("f", "all").unwrap(), AllowedAccounts::All);
        assert!(AllowedAccounts::parse("f", "some").is_err());
    }
}
