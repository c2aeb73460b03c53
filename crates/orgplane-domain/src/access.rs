//! Who may do what. Every protected route names the `Action` it performs and the resource it
//! acts on, and asks `authorize`, which runs the policy engine over the caller's grants. Roles
//! are not special cases here: org admins hold the built-in Admin policy, account viewers and
//! editors the built-in account policies (see `iam::grants`).

use crate::error::Error;
use crate::iam::OwnedGrant;
use crate::ids::{OrgId, UserId};
use crate::policy::{self, Context, Decision, Request};

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

/// A role-based permission on one account.
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
    /// The person's email; empty for programmatic users.
    pub email: String,
    pub org_id: OrgId,
    pub org_role: OrgRole,
    pub token_id: i64,
    /// A read-only token may only perform read actions, whatever its owner may do.
    pub read_only: bool,
    /// The organization requires a second factor and this person has none yet: they may only
    /// enrol.
    pub must_enrol_mfa: bool,
    /// When the organization's trial ends (`None` once activated): after it, the organization
    /// is read-only until an admin activates it.
    pub trial_ends_at: Option<i64>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.org_role == OrgRole::Admin
    }
}

/// Whether an action name is a read: `describe…`, `list…` or `get…` (what a read-only token may do).
pub fn is_read_action(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    ["describe", "list", "get"].iter().any(|p| verb.starts_with(p))
}

/// Every operation a route performs, named as Spot names its policy actions. The catalog in
/// `policy::action_catalog` lists the same names for the policy editor.
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
    SetAccountCredentials,
    CreateUser,
    CreateProgrammaticUser,
    ListUsers,
    DescribeUser,
    UpdateUser,
    DeleteUser,
    AttachAccountUser,
    UpdateAccountUser,
    DetachAccountUser,
    DescribeAccountUsers,
    CreatePolicy,
    ListPolicies,
    DescribePolicy,
    UpdatePolicy,
    DeletePolicy,
    CreateUserGroup,
    ListUserGroups,
    DescribeUserGroup,
    UpdateUserGroup,
    DeleteUserGroup,
    DescribeAllTokens,
    DeletePersonalToken,
    ExplainAccess,
    DescribeAllAuditEvents,
    CreateChildOrganization,
    ListChildOrganizations,
    LinkOrganization,
    UnlinkOrganization,
    DescribeScim,
    ManageScim,
    DescribeSsoMetaData,
    CreateSsoMetaData,
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
            Action::SetAccountCredentials => "setup:setAccountCredentials",
            Action::CreateUser => "setup:createUser",
            Action::CreateProgrammaticUser => "setup:createProgrammaticUser",
            Action::ListUsers => "setup:listUsers",
            Action::DescribeUser => "setup:describeUser",
            Action::UpdateUser => "setup:updateUser",
            Action::DeleteUser => "setup:deleteUser",
            Action::AttachAccountUser => "setup:attachAccountUser",
            Action::UpdateAccountUser => "setup:updateAccountUser",
            Action::DetachAccountUser => "setup:detachAccountUser",
            Action::DescribeAccountUsers => "setup:describeAccountUsers",
            Action::CreatePolicy => "setup:createPolicy",
            Action::ListPolicies => "setup:listPolicies",
            Action::DescribePolicy => "setup:describePolicy",
            Action::UpdatePolicy => "setup:updatePolicy",
            Action::DeletePolicy => "setup:deletePolicy",
            Action::CreateUserGroup => "setup:createUserGroup",
            Action::ListUserGroups => "setup:listUserGroups",
            Action::DescribeUserGroup => "setup:describeUserGroup",
            Action::UpdateUserGroup => "setup:updateUserGroup",
            Action::DeleteUserGroup => "setup:deleteUserGroup",
            Action::DescribeAllTokens => "setup:describeAllTokens",
            Action::DeletePersonalToken => "setup:deletePersonalToken",
            Action::ExplainAccess => "setup:explainAccess",
            Action::DescribeAllAuditEvents => "setup:describeAllAuditEvents",
            Action::CreateChildOrganization => "setup:createChildOrganization",
            Action::ListChildOrganizations => "setup:listChildOrganizations",
            Action::LinkOrganization => "setup:linkOrganization",
            Action::UnlinkOrganization => "setup:unlinkOrganization",
            Action::DescribeScim => "setup:describeScim",
            Action::ManageScim => "setup:manageScim",
            Action::DescribeSsoMetaData => "setup:describeSsoMetaData",
            Action::CreateSsoMetaData => "setup:createSsoMetaData",
        }
    }

    /// Actions Spot reserves for organization admins whatever policies say: only an admin can
    /// create programmatic users, and only an admin sees and changes the organization's children
    /// (an Organization Editor does not).
    pub fn admin_only(self) -> bool {
        matches!(
            self,
            Action::CreateProgrammaticUser
                | Action::CreateChildOrganization
                | Action::ListChildOrganizations
                | Action::LinkOrganization
                | Action::UnlinkOrganization
                | Action::DescribeScim
                | Action::ManageScim
                | Action::DescribeSsoMetaData
                | Action::CreateSsoMetaData
        )
    }

    /// Read actions are the only ones a read-only token may perform.
    pub fn is_read(self) -> bool {
        is_read_action(self.name()) || self == Action::ExplainAccess
    }
}

/// What an action is performed on: the resource id (account, user, policy, group, or the
/// organization itself) and the account it falls under, if any.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub resource: &'a str,
    pub account_id: Option<&'a str>,
}

/// The facts conditions can refer to.
pub fn context_for<'a>(caller: &'a Caller, account_id: Option<&'a str>) -> Context<'a> {
    let mut ctx = Context::new();
    // Programmatic users have no email: the key is absent, not empty, so conditions on it
    // behave as for a missing key.
    if !caller.email.is_empty() {
        ctx.insert("spot:userEmail", caller.email.as_str());
    }
    ctx.insert("spot:userId", caller.user_id.as_str());
    ctx.insert("spot:organizationId", caller.org_id.to_string());
    if let Some(a) = account_id {
        ctx.insert("spot:accountId", a);
    }
    ctx
}

/// Runs the policy engine for one request, without the read-only check: the answer `explain`
/// gives.
pub fn decide(caller: &Caller, grants: &[OwnedGrant], action: &str, target: Target<'_>) -> Decision {
    let grants: Vec<_> = grants.iter().map(OwnedGrant::as_grant).collect();
    let context = context_for(caller, target.account_id);
    policy::evaluate(
        &grants,
        &Request { action, resource: target.resource, account_id: target.account_id, context: &context },
    )
}

/// Decides whether `caller` may perform `action` on `target`. Default deny.
pub fn authorize(caller: &Caller, grants: &[OwnedGrant], action: Action, target: Target<'_>) -> Result<(), Error> {
    if caller.read_only && !action.is_read() {
        return Err(Error::Forbidden {
            code: "TOKEN_READ_ONLY",
            message: format!("this token is read-only and cannot perform {}", action.name()),
        });
    }
    if action.admin_only() && !caller.is_admin() {
        return Err(Error::forbidden(format!("only organization admins may perform {}", action.name())));
    }
    if decide(caller, grants, action.name(), target).allowed {
        Ok(())
    } else {
        Err(Error::forbidden(format!("you are not allowed to perform {}", action.name())))
    }
}

/// Whether `caller` may perform `action` on `target`, as a boolean (for filtering lists).
pub fn allows(caller: &Caller, grants: &[OwnedGrant], action: Action, target: Target<'_>) -> bool {
    authorize(caller, grants, action, target).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{self, Holdings, PolicyMapping};

    fn member() -> Caller {
        Caller {
            user_id: UserId::from_stored("u-00000001".into()),
            email: "m@example.com".into(),
            org_id: OrgId::from_i64(606_000_000_001),
            org_role: OrgRole::Member,
            token_id: 1,
            read_only: false,
            must_enrol_mfa: false,
            trial_ends_at: None,
        }
    }

    #[test]
    fn programmatic_users_are_admin_only_even_with_a_granting_policy() {
        let holdings = Holdings {
            org_role: Some(OrgRole::Member),
            direct: vec![PolicyMapping { policy_id: "1".into(), account_ids: vec![] }],
            ..Default::default()
        };
        let grants = iam::grants(&holdings, &Default::default());
        let org = Target { resource: "606000000001", account_id: None };
        assert!(authorize(&member(), &grants, Action::CreateUser, org).is_ok(), "the Admin policy is held directly");
        assert!(authorize(&member(), &grants, Action::CreateProgrammaticUser, org).is_err());
        let admin = Caller { org_role: OrgRole::Admin, ..member() };
        assert!(authorize(&admin, &grants, Action::CreateProgrammaticUser, org).is_ok());
    }

    #[test]
    fn read_only_tokens_only_read() {
        let holdings = Holdings { org_role: Some(OrgRole::Admin), ..Default::default() };
        let grants = iam::grants(&holdings, &Default::default());
        let caller = Caller { org_role: OrgRole::Admin, read_only: true, ..member() };
        let org = Target { resource: "606000000001", account_id: None };
        assert!(authorize(&caller, &grants, Action::ListAccounts, org).is_ok());
        let err = authorize(&caller, &grants, Action::CreateAccount, org).unwrap_err();
        assert!(matches!(err, Error::Forbidden { code: "TOKEN_READ_ONLY", .. }));
    }
}
