//! Who may do what. Every protected route names the `Action` it performs and asks `authorize`.
//! Today the rules are the two organization roles and the two account roles; the policy engine
//! (built-in policies for these roles plus custom ones) replaces the body of `authorize` without
//! changing its callers.

use crate::error::Error;
use crate::ids::{OrgId, UserId};

/// A person's role in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(OrgRole::Admin),
            "member" => Some(OrgRole::Member),
            _ => None,
        }
    }
}

/// A member's permission on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    Viewer,
    Editor,
}

impl AccountRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Viewer => "viewer",
            AccountRole::Editor => "editor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Some(AccountRole::Viewer),
            "editor" => Some(AccountRole::Editor),
            _ => None,
        }
    }
}

/// The authenticated principal of a request: a user acting in exactly one organization, as
/// bound by the token they presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
    pub org_id: OrgId,
    pub org_role: OrgRole,
    pub token_id: i64,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.org_role == OrgRole::Admin
    }
}

/// Every operation a route performs, named as Spot names its policy actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateOrganization,
    DescribeOrganization,
    UpdateOrganization,
    DeleteOrganization,
    CreateAccount,
    ListAccounts,
    DescribeAccount,
    UpdateAccount,
    DeleteAccount,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateOrganization => "setup:createOrganization",
            Action::DescribeOrganization => "setup:describeOrganization",
            Action::UpdateOrganization => "setup:updateOrganization",
            Action::DeleteOrganization => "setup:deleteOrganization",
            Action::CreateAccount => "setup:createAccount",
            Action::ListAccounts => "setup:listAccounts",
            Action::DescribeAccount => "setup:describeAccount",
            Action::UpdateAccount => "setup:updateAccount",
            Action::DeleteAccount => "setup:deleteAccount",
        }
    }
}

/// What the caller holds on the resource being acted on, looked up by the store before asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The action is on the organization itself (or on no particular account).
    Organization,
    /// The action is on one account, where the caller has this permission (or none).
    Account(Option<AccountRole>),
}

/// Decides whether `caller` may perform `action`. Default deny: only what is listed is allowed.
pub fn authorize(caller: &Caller, action: Action, grant: Grant) -> Result<(), Error> {
    if caller.is_admin() {
        return Ok(());
    }
    let allowed = match (action, grant) {
        // Anyone signed in may found a new organization (they become its admin), read their
        // organization, and list the accounts they can see (the store filters the list).
        (Action::CreateOrganization | Action::DescribeOrganization | Action::ListAccounts, _) => true,
        (Action::DescribeAccount, Grant::Account(Some(_))) => true,
        _ => false,
    };
    if allowed { Ok(()) } else { Err(Error::forbidden(format!("you are not allowed to perform {}", action.name()))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: OrgRole) -> Caller {
        Caller {
            user_id: UserId::from_stored("u-00000001".into()),
            email: "a@example.com".into(),
            org_id: OrgId::from_i64(606_000_000_001),
            org_role: role,
            token_id: 1,
        }
    }

    #[test]
    fn admins_may_do_everything_in_their_org() {
        let admin = caller(OrgRole::Admin);
        for a in [Action::CreateAccount, Action::DeleteAccount, Action::UpdateOrganization, Action::DeleteOrganization]
        {
            assert!(authorize(&admin, a, Grant::Organization).is_ok());
        }
    }

    #[test]
    fn members_see_only_accounts_they_are_attached_to() {
        let m = caller(OrgRole::Member);
        assert!(authorize(&m, Action::DescribeAccount, Grant::Account(Some(AccountRole::Viewer))).is_ok());
        assert!(authorize(&m, Action::DescribeAccount, Grant::Account(None)).is_err());
        assert!(authorize(&m, Action::UpdateAccount, Grant::Account(Some(AccountRole::Editor))).is_err());
        assert!(authorize(&m, Action::CreateAccount, Grant::Organization).is_err());
        assert!(authorize(&m, Action::DeleteOrganization, Grant::Organization).is_err());
        assert!(authorize(&m, Action::ListAccounts, Grant::Organization).is_ok());
    }
}
