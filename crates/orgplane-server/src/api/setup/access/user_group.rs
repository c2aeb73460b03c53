//! `/setup/access/userGroup…` (G1–G7).

use super::super::super::{Done, Failure, Items};
use super::super::{PolicyMappingInput, PolicyMappingItem, mapping_items, mappings, org_policies};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::{Action, Caller, Target};
use orgplane_domain::ids::{GroupId, UserId};
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::GroupSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:setup:access:userGroup";

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupRequest {
    /// No `+`, `=` or `@`.
    pub name: String,
    pub description: Option<String>,
    pub user_ids: Option<Vec<String>>,
    pub policies: Option<Vec<PolicyMappingInput>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupListItem {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub users_count: usize,
    pub policy_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupUser {
    pub user_id: String,
    /// Spelled both ways: Go reads `userName`, Java `username`.
    pub user_name: String,
    pub username: String,
    /// `personal` or `programmatic`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupDetails {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub users: Vec<GroupUser>,
    pub user_ids: Vec<String>,
    pub policies: Vec<PolicyMappingItem>,
}

fn user_ids(raw: Option<Vec<String>>) -> Result<Vec<UserId>, Error> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, u)| {
            UserId::parse(u).map_err(|_| {
                Error::validation(format!("body.userIds[{i}]"), "a user id must look like u-1a2b3c4d or pu-1a2b3c4d")
            })
        })
        .collect()
}

/// Creates a group with its members and policies.
#[utoipa::path(post, path = "/setup/access/userGroup", tag = "groups", request_body = CreateGroupRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<GroupDetails>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<CreateGroupRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::CreateUserGroup).await?;
    let name = validate::person_name("body.name", &req.name)?;
    let description = super::super::description("body.description", req.description.as_deref())?;
    let users = user_ids(req.user_ids)?;
    let group = state
        .store
        .create_group(caller.org_id, &name, &description, &users, &mappings(req.policies.unwrap_or_default()))
        .await?;
    Ok(Reply::item(KIND, details(&state, &caller, group).await?))
}

/// The organization's groups.
#[utoipa::path(get, path = "/setup/access/userGroup", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = Items<GroupListItem>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ListUserGroups).await?;
    let policies = org_policies(&state, caller.org_id).await?;
    let items = state.store.list_groups(caller.org_id).await?.into_iter().map(|g| GroupListItem {
        id: g.id.to_string(),
        name: g.name,
        description: g.description,
        created_at: to_spot(g.created_at),
        users_count: g.user_ids.len(),
        policy_names: g.policies.iter().filter_map(|m| policies.get(&m.policy_id)).map(|p| p.name.clone()).collect(),
    });
    Ok(Reply::items(KIND, items.collect::<Vec<_>>()))
}

/// One group with its members and policies.
#[utoipa::path(get, path = "/setup/access/userGroup/{userGroupId}", tag = "groups", security(("bearer" = [])),
    params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Items<GroupDetails>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let group = target_group(&state, &caller, &id, Action::DescribeUserGroup).await?;
    Ok(Reply::item(KIND, details(&state, &caller, group).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateGroupRequest {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Renames a group or changes its description.
#[utoipa::path(put, path = "/setup/access/userGroup/{userGroupId}", tag = "groups", request_body = UpdateGroupRequest,
    security(("bearer" = [])), params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<UpdateGroupRequest>,
) -> ApiResult<Reply> {
    let group = target_group(&state, &caller, &id, Action::UpdateUserGroup).await?;
    let name = req.name.as_deref().map(|n| validate::person_name("body.name", n)).transpose()?;
    let description =
        req.description.as_deref().map(|d| super::super::description("body.description", Some(d))).transpose()?;
    state.store.update_group(caller.org_id, &group.id, name.as_deref(), description.as_deref()).await?;
    Ok(Reply::Done)
}

/// Deletes a group; its members keep their other policies.
#[utoipa::path(delete, path = "/setup/access/userGroup/{userGroupId}", tag = "groups", security(("bearer" = [])),
    params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let group = target_group(&state, &caller, &id, Action::DeleteUserGroup).await?;
    state.store.delete_group(caller.org_id, &group.id).await?;
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserMappingRequest {
    pub user_ids: Vec<String>,
}

/// Replaces a group's members.
#[utoipa::path(put, path = "/setup/access/userGroup/{userGroupId}/userMapping", tag = "groups", request_body = UserMappingRequest,
    security(("bearer" = [])), params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn user_mapping(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<UserMappingRequest>,
) -> ApiResult<Reply> {
    let group = target_group(&state, &caller, &id, Action::UpdateUserGroup).await?;
    state.store.set_group_users(caller.org_id, &group.id, &user_ids(Some(req.user_ids))?).await?;
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
pub struct GroupPolicyMappingRequest {
    pub policies: Vec<PolicyMappingInput>,
}

/// Replaces a group's policies.
#[utoipa::path(put, path = "/setup/access/userGroup/{userGroupId}/policyMapping", tag = "groups", request_body = GroupPolicyMappingRequest,
    security(("bearer" = [])), params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn policy_mapping(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<GroupPolicyMappingRequest>,
) -> ApiResult<Reply> {
    let group = target_group(&state, &caller, &id, Action::UpdateUserGroup).await?;
    state.store.set_group_policies(caller.org_id, &group.id, &mappings(req.policies)).await?;
    Ok(Reply::Done)
}

/// The Java SDK's spelling of `policyMapping`.
#[utoipa::path(put, path = "/setup/access/userGroup/{userGroupId}/PolicyMapping", tag = "groups", request_body = GroupPolicyMappingRequest,
    security(("bearer" = [])), params(("userGroupId" = String, Path, description = "ugr- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn policy_mapping_java(
    state: State<AppState>,
    auth: Auth,
    q: Query<NoParams>,
    id: PathParam,
    body: Body<GroupPolicyMappingRequest>,
) -> ApiResult<Reply> {
    policy_mapping(state, auth, q, id, body).await
}

async fn target_group(state: &AppState, caller: &Caller, id: &str, action: Action) -> Result<GroupSummary, Error> {
    let id = GroupId::parse(id).map_err(|e| e.in_field("path"))?;
    authz::check(state, caller, action, Target { resource: id.as_str(), account_id: None }).await?;
    state
        .store
        .find_group(caller.org_id, &id)
        .await?
        .ok_or_else(|| Error::not_found("GROUP_DOESNT_EXIST", "path.userGroupId", "user group not found"))
}

async fn details(state: &AppState, caller: &Caller, g: GroupSummary) -> Result<GroupDetails, Error> {
    let policies = org_policies(state, caller.org_id).await?;
    let mut users = Vec::with_capacity(g.user_ids.len());
    for id in &g.user_ids {
        if let Some(u) = state.store.find_org_user(caller.org_id, id).await? {
            let name = u.display_name().to_string();
            users.push(GroupUser {
                user_id: id.to_string(),
                user_name: name.clone(),
                username: name,
                kind: if u.programmatic { "programmatic" } else { "personal" },
            });
        }
    }
    Ok(GroupDetails {
        id: g.id.to_string(),
        name: g.name,
        description: g.description,
        created_at: to_spot(g.created_at),
        user_ids: g.user_ids.iter().map(ToString::to_string).collect(),
        users,
        policies: mapping_items(&g.policies, &policies),
    })
}
