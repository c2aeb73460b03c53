//! `/setup/accountUserMapping` (U8, U9) and `/setup/account/{accountId}/user` (U10–U12): users'
//! permissions on accounts.

use super::super::{Done, Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query, QueryParams};
use axum::extract::State;
use orgplane_domain::access::{AccountRole, Action, Caller, Target};
use orgplane_domain::iam::AccountPermission;
use orgplane_domain::ids::{AccountId, UserId};
use orgplane_domain::{Error, validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:setup:accountUserMapping";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MappingParams {
    pub user_email: Option<String>,
}

impl QueryParams for MappingParams {
    const ALLOWED: &'static [&'static str] = &["userEmail"];
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountUserMappingItem {
    pub account_id: String,
    /// `viewer`, `editor`, or `policyBased`.
    pub role: &'static str,
    /// `ROLE_BASED` or `POLICY_BASED`.
    pub permission_strategy: &'static str,
    pub policy_ids: Vec<String>,
}

/// A user's permissions on the organization's accounts, by email.
#[utoipa::path(get, path = "/setup/accountUserMapping", tag = "users", security(("bearer" = [])),
    params(("userEmail" = String, Query, description = "The user's email (required)")),
    responses((status = 200, body = Items<AccountUserMappingItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(State(state): State<AppState>, Auth(caller): Auth, q: Query<MappingParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ListUsers).await?;
    let email = q
        .params
        .user_email
        .as_deref()
        .ok_or_else(|| Error::validation("query.userEmail", "\"userEmail\" is required"))?;
    let user = user_by_email(&state, &caller, email, "query.userEmail").await?;
    let items = state
        .store
        .account_permissions_of(caller.org_id, &user)
        .await?
        .into_iter()
        .map(|(account, p)| AccountUserMappingItem {
            account_id: account.to_string(),
            role: p.role_name(),
            permission_strategy: p.strategy(),
            policy_ids: match p {
                AccountPermission::Policies(ids) => ids,
                AccountPermission::Role(_) => vec![],
            },
        })
        .collect::<Vec<_>>();
    Ok(Reply::items(KIND, items))
}

/// One permission as clients send it: a user by id or email, and a role or policies.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionInput {
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    /// `viewer` or `editor` (ROLE_BASED).
    pub role: Option<String>,
    /// `ROLE_BASED` (default) or `POLICY_BASED`.
    pub permission_strategy: Option<String>,
    /// Account-type policy ids (POLICY_BASED).
    pub policy_ids: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingInput {
    pub account_id: String,
    #[serde(flatten)]
    pub permission: PermissionInput,
}

#[derive(Deserialize, ToSchema)]
pub struct BulkMappingRequest {
    pub mappings: Vec<MappingInput>,
}

/// Assigns users to accounts in bulk: every mapping applies, or none does.
#[utoipa::path(post, path = "/setup/accountUserMapping", tag = "users", request_body = BulkMappingRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn post(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<BulkMappingRequest>,
) -> ApiResult<Reply> {
    if req.mappings.is_empty() {
        return Err(Error::validation("body.mappings", "\"mappings\" must not be empty").into());
    }
    let mut items = Vec::with_capacity(req.mappings.len());
    for (i, m) in req.mappings.iter().enumerate() {
        let at = format!("body.mappings[{i}]");
        let account = AccountId::parse(&m.account_id).map_err(|e| e.in_field(&at))?;
        authz::check(
            &state,
            &caller,
            Action::AttachAccountUser,
            Target { resource: account.as_str(), account_id: Some(account.as_str()) },
        )
        .await?;
        let (user, permission) = resolve(&state, &caller, &m.permission, &at).await?;
        items.push((account, user, permission));
    }
    state.store.set_account_permissions(caller.org_id, &items).await?;
    Ok(Reply::Done)
}

/// Adds an existing user of the organization to an account.
#[utoipa::path(post, path = "/setup/account/{accountId}/user", tag = "accounts", request_body = PermissionInput,
    security(("bearer" = [])), params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn attach(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<PermissionInput>,
) -> ApiResult<Reply> {
    set_permission(&state, &caller, &id, &req, Action::AttachAccountUser).await
}

/// Changes a user's permission on an account (role, or `POLICY_BASED` with policies).
#[utoipa::path(put, path = "/setup/account/{accountId}/user", tag = "accounts", request_body = PermissionInput,
    security(("bearer" = [])), params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<PermissionInput>,
) -> ApiResult<Reply> {
    set_permission(&state, &caller, &id, &req, Action::UpdateAccountUser).await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetachRequest {
    pub user_email: Option<String>,
    pub user_id: Option<String>,
}

/// Removes a user's permission on an account (JSON body on DELETE, as the Python SDK sends it).
#[utoipa::path(delete, path = "/setup/account/{accountId}/user", tag = "accounts", request_body = DetachRequest,
    security(("bearer" = [])), params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn detach(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<DetachRequest>,
) -> ApiResult<Reply> {
    let account = account_in_org(&state, &caller, &id, Action::DetachAccountUser).await?;
    let user = user_ref(&state, &caller, req.user_id.as_deref(), req.user_email.as_deref(), "body").await?;
    state.store.detach_account_user(caller.org_id, &account, &user).await?;
    Ok(Reply::Done)
}

async fn set_permission(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: &PermissionInput,
    action: Action,
) -> ApiResult<Reply> {
    let account = account_in_org(state, caller, id, action).await?;
    let (user, permission) = resolve(state, caller, req, "body").await?;
    state.store.set_account_permission(caller.org_id, &account, &user, &permission, "body.userId").await?;
    Ok(Reply::Done)
}

/// Parses the account id in the path, checks `action` on it, and makes sure it is one of the
/// caller's organization's accounts.
async fn account_in_org(state: &AppState, caller: &Caller, id: &str, action: Action) -> Result<AccountId, Error> {
    let account = AccountId::parse(id).map_err(|e| e.in_field("path"))?;
    authz::check(state, caller, action, Target { resource: account.as_str(), account_id: Some(account.as_str()) })
        .await?;
    state
        .store
        .find_account(caller.org_id, &account)
        .await?
        .ok_or_else(|| Error::not_found("Account_DOESNT_EXIST", "path.accountId", "account not found"))?;
    Ok(account)
}

/// The user and permission a request names.
async fn resolve(
    state: &AppState,
    caller: &Caller,
    p: &PermissionInput,
    at: &str,
) -> Result<(UserId, AccountPermission), Error> {
    let user = user_ref(state, caller, p.user_id.as_deref(), p.user_email.as_deref(), at).await?;
    let strategy = p.permission_strategy.as_deref().unwrap_or("ROLE_BASED");
    let permission = match strategy.to_ascii_uppercase().as_str() {
        "ROLE_BASED" => {
            let role = p
                .role
                .as_deref()
                .ok_or_else(|| Error::validation(format!("{at}.role"), "\"role\" is required for ROLE_BASED"))?;
            AccountPermission::Role(
                AccountRole::parse(role)
                    .ok_or_else(|| Error::validation(format!("{at}.role"), "\"role\" must be viewer or editor"))?,
            )
        }
        "POLICY_BASED" => AccountPermission::Policies(p.policy_ids.clone().unwrap_or_default()),
        _ => return Err(Error::validation(format!("{at}.permissionStrategy"), "must be ROLE_BASED or POLICY_BASED")),
    };
    Ok((user, permission))
}

/// A user of the caller's organization named by id or by email.
async fn user_ref(
    state: &AppState,
    caller: &Caller,
    id: Option<&str>,
    email: Option<&str>,
    at: &str,
) -> Result<UserId, Error> {
    match (id, email) {
        (Some(id), _) => {
            let user = UserId::parse(id).map_err(|e| e.in_field(at))?;
            state
                .store
                .find_org_user(caller.org_id, &user)
                .await?
                .map(|u| u.user_id)
                .ok_or_else(|| Error::not_found("USER_DOESNT_EXIST", format!("{at}.userId"), "user not found"))
        }
        (None, Some(email)) => user_by_email(state, caller, email, &format!("{at}.userEmail")).await,
        (None, None) => {
            Err(Error::validation(format!("{at}.userEmail"), "one of \"userId\" and \"userEmail\" is required"))
        }
    }
}

async fn user_by_email(state: &AppState, caller: &Caller, email: &str, field: &str) -> Result<UserId, Error> {
    let email = validate::email(field, email)?;
    state
        .store
        .find_org_user_by_email(caller.org_id, &email.key)
        .await?
        .map(|u| u.user_id)
        .ok_or_else(|| Error::not_found("USER_DOESNT_EXIST", field, "no user with this email in the organization"))
}
