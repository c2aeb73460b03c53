//! `/setup/user…` (spot-api.md §3.3–3.4: U1, U2, U4–U7, P1).

use super::super::{Done, Failure, Items};
use super::{PolicyMappingInput, PolicyMappingItem, mapping_items, mappings, org_policies};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query, QueryParams};
use axum::extract::State;
use orgplane_domain::access::{AccountRole, Action, Caller, Target};
use orgplane_domain::ids::{AccountId, GroupId, UserId};
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::{NewPerson, NewProgrammaticUser, NewUserRole, OrgUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Optional: a person created without one signs in by token (or, later, by reset link).
    pub password: Option<String>,
    /// `viewer` or `editor` (on the default account), or `admin` (organization admin). Default `viewer`.
    pub role: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserParams {
    pub generate_token: Option<String>,
}

impl QueryParams for CreateUserParams {
    const ALLOWED: &'static [&'static str] = &["generateToken"];
}

/// The create response. `id` and `organizationId` are integers, as the Go SDK decodes them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    /// Spot's deprecated numeric id.
    pub id: i64,
    pub user_id: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    pub organization_id: i64,
    /// Only with `generateToken=true`; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_access_token: Option<String>,
}

/// Creates a console user in the caller's organization (or adds an existing person to it).
#[utoipa::path(post, path = "/setup/user", tag = "users", request_body = CreateUserRequest, security(("bearer" = [])),
    params(("generateToken" = Option<bool>, Query, description = "Also create a personal token and return it once")),
    responses((status = 200, body = Items<CreatedUser>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<CreateUserParams>,
    Body(req): Body<CreateUserRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::CreateUser).await?;
    let generate_token = match q.params.generate_token.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Error::validation("query.generateToken", "\"generateToken\" must be true or false").into());
        }
    };
    let first_name = validate::person_name("body.firstName", &req.first_name)?;
    let last_name = validate::person_name("body.lastName", &req.last_name)?;
    let email = validate::email("body.email", &req.email)?;
    let role = match req.role.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("viewer") => NewUserRole::Account(AccountRole::Viewer),
        Some("editor") => NewUserRole::Account(AccountRole::Editor),
        Some("admin") => NewUserRole::Admin,
        Some(_) => return Err(Error::validation("body.role", "\"role\" must be viewer, editor or admin").into()),
    };
    let password_hash = match req.password {
        Some(p) => {
            validate::password("body.password", &p)?;
            Some(crate::api::auth::hash_password(p).await?)
        }
        None => None,
    };
    let has_password = password_hash.is_some();
    let person = NewPerson { first_name, last_name, email: email.display.clone(), email_key: email.key, password_hash };
    let (user_id, created) = state.store.add_person(caller.org_id, &person, role).await?;
    notify_added(&state, &caller, &user_id, &email.display, created && !has_password).await?;
    let personal_access_token = if generate_token {
        let token = secret::new_token(TokenKind::Personal);
        state
            .store
            .insert_token(
                TokenKind::Personal,
                &user_id,
                caller.org_id,
                Some("created with the user"),
                &token,
                None,
                &Default::default(),
            )
            .await?;
        Some(token.secret)
    } else {
        None
    };
    let user =
        state.store.find_org_user(caller.org_id, &user_id).await?.ok_or_else(|| Error::internal("user vanished"))?;
    Ok(Reply::item(
        "spotinst:setup:user",
        CreatedUser {
            id: user_id.legacy_number(),
            user_id: user_id.to_string(),
            display_name: user.display_name().to_string(),
            first_name: user.first_name,
            last_name: user.last_name,
            email: user.email.unwrap_or_default(),
            organization_id: caller.org_id.as_i64(),
            personal_access_token,
        },
    ))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserWithAccounts {
    pub user_id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub mapped_account_ids: Vec<String>,
}

/// The organization's users with the accounts they have permissions on; with `accountId`,
/// only the users mapped to that account.
#[utoipa::path(get, path = "/setup/user", tag = "users", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query, description = "Only users mapped to this account")),
    responses((status = 200, body = Items<UserWithAccounts>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ListUsers).await?;
    if let Some(account) = &q.account_id {
        state
            .store
            .find_account(caller.org_id, account)
            .await?
            .ok_or_else(|| Error::not_found("Account_DOESNT_EXIST", "query.accountId", "account not found"))?;
    }
    let mut items = Vec::new();
    for user in state.store.list_org_users(caller.org_id).await?.iter() {
        let mapped: Vec<String> = state
            .store
            .account_permissions_of(caller.org_id, &user.user_id)
            .await?
            .into_iter()
            .map(|(a, _)| a.to_string())
            .collect();
        if q.account_id.as_ref().is_some_and(|a| !mapped.iter().any(|m| m == a.as_str())) {
            continue;
        }
        items.push(UserWithAccounts {
            user_id: user.user_id.to_string(),
            display_name: user.display_name().to_string(),
            email: user.email.clone(),
            mapped_account_ids: mapped,
        });
    }
    Ok(Reply::items("spotinst:setup:user", items))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupItem {
    pub id: String,
    pub name: String,
    pub policy_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserTokenItem {
    pub token_id: i64,
    pub name: Option<String>,
    pub token_last_digits: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountRoleItem {
    pub id: String,
    pub role: &'static str,
}

/// User details: the union of the fields Spot's spec, its SDKs and Terraform read.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    pub user_id: String,
    pub username: String,
    /// Same as `username` (Terraform reads programmatic users' `name`).
    pub name: String,
    /// `personal` or `programmatic`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub email: Option<String>,
    pub description: Option<String>,
    /// Whether the person has MFA enrolled.
    pub mfa: bool,
    /// `admin` or `member`.
    pub organization_role: &'static str,
    pub groups: Vec<UserGroupItem>,
    pub user_group_ids: Vec<String>,
    pub policies: Vec<PolicyMappingItem>,
    /// Role-based account permissions.
    pub accounts: Vec<AccountRoleItem>,
    pub tokens: Vec<UserTokenItem>,
}

/// One user of the caller's organization, with groups, policies and token metadata.
#[utoipa::path(get, path = "/setup/user/{userId}", tag = "users", security(("bearer" = [])),
    params(("userId" = String, Path, description = "u-… or pu-…")),
    responses((status = 200, body = Items<UserDetails>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let user = target_user(&state, &caller, &id, Action::DescribeUser).await?;
    let org = caller.org_id;
    let policies = org_policies(&state, org).await?;
    let mut groups = Vec::new();
    for g in state.store.user_group_ids(org, &user.user_id).await? {
        if let Some(group) = state.store.find_group(org, &g).await? {
            groups.push(UserGroupItem {
                id: group.id.to_string(),
                name: group.name,
                policy_names: group
                    .policies
                    .iter()
                    .filter_map(|m| policies.get(&m.policy_id))
                    .map(|p| p.name.clone())
                    .collect(),
            });
        }
    }
    let direct = state.store.user_policy_mappings(org, &user.user_id).await?;
    let accounts = state
        .store
        .account_permissions_of(org, &user.user_id)
        .await?
        .into_iter()
        .map(|(a, p)| AccountRoleItem { id: a.to_string(), role: p.role_name() })
        .collect();
    let tokens = state
        .store
        .list_tokens_of(&user.user_id, org)
        .await?
        .into_iter()
        .map(|t| UserTokenItem {
            token_id: t.id,
            name: t.name,
            token_last_digits: t.last_digits,
            created_at: to_spot(t.created_at),
        })
        .collect();
    let username = user.display_name().to_string();
    Ok(Reply::item(
        "spotinst:setup:access:user",
        UserDetails {
            user_id: user.user_id.to_string(),
            name: username.clone(),
            username,
            kind: if user.programmatic { "programmatic" } else { "personal" },
            email: user.email,
            description: user.description,
            mfa: user.mfa,
            organization_role: user.role.as_str(),
            user_group_ids: groups.iter().map(|g| g.id.clone()).collect(),
            groups,
            policies: mapping_items(&direct, &policies),
            accounts,
            tokens,
        },
    ))
}

/// Removes a user from the caller's organization, with their tokens, permissions and group
/// memberships there. The last admin cannot be removed.
#[utoipa::path(delete, path = "/setup/user/{userId}", tag = "users", security(("bearer" = [])),
    params(("userId" = String, Path, description = "u-… or pu-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let user = target_user(&state, &caller, &id, Action::DeleteUser).await?;
    state.store.remove_user(caller.org_id, &user.user_id).await?;
    Ok(Reply::Done)
}

/// Resets a member's second factor (they enrol again). Only for people who belong to this
/// organization alone: a person's second factor also guards their other organizations.
#[utoipa::path(delete, path = "/setup/user/{userId}/mfa", tag = "users", security(("bearer" = [])),
    params(("userId" = String, Path, description = "u-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn reset_mfa(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let user = target_user(&state, &caller, &id, Action::UpdateUser).await?;
    if state.store.membership_count(&user.user_id).await? > 1 {
        return Err(Error::rule(
            "MFA_RESET_NOT_ALLOWED",
            "this person also belongs to other organizations; they can reset their second factor with a recovery code",
        )
        .into());
    }
    if !user.mfa {
        return Err(Error::rule("MFA_NOT_ENABLED", "this person has no second factor").into());
    }
    state.store.reset_mfa(&user.user_id).await?;
    tracing::info!(user_id = %user.user_id, by = %caller.user_id, "second factor reset by an admin");
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupMappingRequest {
    pub user_group_ids: Vec<String>,
}

/// Replaces the groups a user belongs to.
#[utoipa::path(put, path = "/setup/user/{userId}/userGroupMapping", tag = "users", request_body = UserGroupMappingRequest,
    security(("bearer" = [])), params(("userId" = String, Path, description = "u-… or pu-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn user_group_mapping(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<UserGroupMappingRequest>,
) -> ApiResult<Reply> {
    let user = target_user(&state, &caller, &id, Action::UpdateUser).await?;
    let groups = req
        .user_group_ids
        .iter()
        .enumerate()
        .map(|(i, g)| {
            GroupId::parse(g).map_err(|_| {
                Error::validation(format!("body.userGroupIds[{i}]"), "a user group id must look like ugr-1a2b3c4d")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.store.set_user_groups(caller.org_id, &user.user_id, &groups).await?;
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
pub struct PolicyMappingRequest {
    pub policies: Vec<PolicyMappingInput>,
}

/// Replaces the policies attached to a user directly (`"*"` = all current and future accounts).
#[utoipa::path(put, path = "/setup/user/{userId}/policyMapping", tag = "users", request_body = PolicyMappingRequest,
    security(("bearer" = [])), params(("userId" = String, Path, description = "u-… or pu-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn policy_mapping(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<PolicyMappingRequest>,
) -> ApiResult<Reply> {
    let user = target_user(&state, &caller, &id, Action::UpdateUser).await?;
    state.store.set_user_policies(caller.org_id, &user.user_id, &mappings(req.policies)).await?;
    Ok(Reply::Done)
}

/// The Java SDK's spelling of `policyMapping`.
#[utoipa::path(put, path = "/setup/user/{userId}/PolicyMapping", tag = "users", request_body = PolicyMappingRequest,
    security(("bearer" = [])), params(("userId" = String, Path, description = "u-… or pu-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn policy_mapping_java(
    state: State<AppState>,
    auth: Auth,
    q: Query<NoParams>,
    id: PathParam,
    body: Body<PolicyMappingRequest>,
) -> ApiResult<Reply> {
    policy_mapping(state, auth, q, id, body).await
}

#[derive(Deserialize, ToSchema)]
pub struct AccountRoleInput {
    pub id: String,
    /// `viewer` or `editor`.
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateProgrammaticUserRequest {
    /// No `+`, `=` or `@`.
    pub name: String,
    pub description: Option<String>,
    pub accounts: Option<Vec<AccountRoleInput>>,
    pub policies: Option<Vec<PolicyMappingInput>>,
    pub user_group_ids: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedProgrammaticUser {
    /// `pu-…`.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The token, shown only here.
    pub token: String,
}

/// Creates a programmatic user (org admins only) with its token. At least one of `accounts` and
/// `policies` is required.
#[utoipa::path(post, path = "/setup/user/programmatic", tag = "users", request_body = CreateProgrammaticUserRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Items<CreatedProgrammaticUser>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create_programmatic(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<CreateProgrammaticUserRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::CreateProgrammaticUser).await?;
    let name = validate::person_name("body.name", &req.name)?;
    let description =
        req.description.as_deref().map(|d| super::description("body.description", Some(d))).transpose()?;
    let accounts = req.accounts.unwrap_or_default();
    let policies = mappings(req.policies.unwrap_or_default());
    if accounts.is_empty() && policies.is_empty() {
        return Err(Error::validation(
            "body.accounts",
            "at least one of \"accounts\" and \"policies\" must be given and non-empty",
        )
        .into());
    }
    let accounts = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = AccountId::parse(&a.id).map_err(|e| e.in_field(&format!("body.accounts[{i}]")))?;
            let role = AccountRole::parse(&a.role).ok_or_else(|| {
                Error::validation(format!("body.accounts[{i}].role"), "\"role\" must be viewer or editor")
            })?;
            Ok((AccountId::from_stored(id.to_string()), role))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let groups = req
        .user_group_ids
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, g)| {
            GroupId::parse(g).map_err(|_| {
                Error::validation(format!("body.userGroupIds[{i}]"), "a user group id must look like ugr-1a2b3c4d")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let token = secret::new_token(TokenKind::Programmatic);
    let new = NewProgrammaticUser { name: name.clone(), description: description.clone(), accounts, policies, groups };
    let (user, _) = state.store.create_programmatic_user(caller.org_id, &new, &token).await?;
    Ok(Reply::item(
        "spotinst:setup:programmaticUser",
        CreatedProgrammaticUser { id: user.to_string(), name, description, token: token.secret },
    ))
}

/// Every person added to an organization gets an email: an invitation with a set-password link
/// when they have no password yet, otherwise a notice that they were added.
async fn notify_added(state: &AppState, caller: &Caller, user: &UserId, to: &str, invite: bool) -> Result<(), Error> {
    let org = state
        .store
        .find_membership(user, caller.org_id)
        .await?
        .map(|m| m.organization.display_name())
        .unwrap_or_else(|| caller.org_id.to_string());
    let email = if invite {
        let link = secret::new_password_link();
        let expires = orgplane_store::now_ms() + secret::INVITATION_LINK_TTL_MS;
        state.store.create_password_link(user, &link.hash, expires).await?;
        let url = format!("{}/reset-password?token={}", state.config.public_url, link.secret);
        crate::emails::invitation(to, &org, &url)
    } else {
        crate::emails::added_to_organization(to, &org, &state.config.public_url)
    };
    state.store.enqueue_email(&email).await?;
    Ok(())
}

/// Parses a user id from the path, checks `action` on that user, and loads them from the
/// caller's organization (users of other organizations do not exist here).
pub(crate) async fn target_user(state: &AppState, caller: &Caller, id: &str, action: Action) -> Result<OrgUser, Error> {
    let user_id = UserId::parse(id).map_err(|e| e.in_field("path"))?;
    authz::check(state, caller, action, Target { resource: user_id.as_str(), account_id: None }).await?;
    state
        .store
        .find_org_user(caller.org_id, &user_id)
        .await?
        .ok_or_else(|| Error::not_found("USER_DOESNT_EXIST", "path.userId", "user not found"))
}
