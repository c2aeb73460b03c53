//! `/setup/access/policy…` (AP1–AP4) and `/setup/organization/policy` (AP5).

use super::super::super::{Done, Failure, Items};
use super::super::policy_type_name;
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::{Action, Target};
use orgplane_domain::ids::PolicyId;
use orgplane_domain::policy::{Policy, PolicyDocument, PolicyType};
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::StoredPolicy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:setup:access:policy";

#[derive(Deserialize, ToSchema)]
pub struct PolicyRequest {
    pub policy: PolicyFields,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFields {
    /// Required on create. No `+`, `=` or `@`.
    pub name: Option<String>,
    pub description: Option<String>,
    /// `ACCOUNT` (default) or `ORGANIZATION`; cannot change after creation.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `{"statements": [{"effect": "ALLOW"|"DENY", "actions": [...], "resources": [...], "conditions"?: {...}}]}`
    #[schema(value_type = Object)]
    pub policy_content: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyItem {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `ACCOUNT`, `ORGANIZATION`, `SPOT_MANAGED_ACCOUNT` or `SPOT_MANAGED_ORGANIZATION`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(value_type = Object)]
    pub policy_content: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn item(p: &Policy, times: Option<(i64, i64)>) -> PolicyItem {
    PolicyItem {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        kind: policy_type_name(p),
        policy_content: p.document.to_json(),
        created_at: times.map(|t| to_spot(t.0)),
        updated_at: times.map(|t| to_spot(t.1)),
    }
}

fn stored_item(p: &StoredPolicy) -> PolicyItem {
    item(&p.policy, Some((p.created_at, p.updated_at)))
}

fn parse_type(raw: &str) -> Result<PolicyType, Error> {
    match raw.to_ascii_uppercase().as_str() {
        "ACCOUNT" => Ok(PolicyType::Account),
        "ORGANIZATION" => Ok(PolicyType::Organization),
        _ => Err(Error::validation("body.policy.type", "\"type\" must be ACCOUNT or ORGANIZATION")),
    }
}

/// Creates a custom access policy.
#[utoipa::path(post, path = "/setup/access/policy", tag = "policies", request_body = PolicyRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<PolicyItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<PolicyRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::CreatePolicy).await?;
    let p = req.policy;
    let name = validate::person_name("body.policy.name", p.name.as_deref().unwrap_or(""))?;
    let description = super::super::description("body.policy.description", p.description.as_deref())?;
    let kind = p.kind.as_deref().map(parse_type).transpose()?.unwrap_or(PolicyType::Account);
    let content = p
        .policy_content
        .ok_or_else(|| Error::validation("body.policy.policyContent", "\"policyContent\" is required"))?;
    let document = PolicyDocument::from_json(&content, "body.policy.policyContent")?;
    let stored = state.store.create_policy(caller.org_id, &name, &description, kind, &document).await?;
    Ok(Reply::item(KIND, stored_item(&stored)))
}

/// The account-level policies usable in the organization (built-in and custom).
#[utoipa::path(get, path = "/setup/access/policy", tag = "policies", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query, description = "The account the policies are for")),
    responses((status = 200, body = Items<PolicyItem>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list_account(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ListPolicies).await?;
    let items = all_items(&state, caller.org_id).await?.into_iter().filter(|p| p.kind.ends_with("ACCOUNT"));
    Ok(Reply::items(KIND, items))
}

/// Every policy of the organization, built-in and custom, with its type.
#[utoipa::path(get, path = "/setup/organization/policy", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = Items<PolicyItem>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list_org(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ListPolicies).await?;
    Ok(Reply::items("spotinst:setup:organization:policy", all_items(&state, caller.org_id).await?))
}

async fn all_items(state: &AppState, org: orgplane_domain::ids::OrgId) -> Result<Vec<PolicyItem>, Error> {
    let mut items: Vec<PolicyItem> =
        orgplane_domain::policy::builtin_policies().iter().map(|p| item(p, None)).collect();
    items.extend(state.store.list_policies(org).await?.iter().map(stored_item));
    Ok(items)
}

/// Changes a custom policy's name, description or statements. Built-in policies and a policy's
/// type never change.
#[utoipa::path(put, path = "/setup/access/policy/{policyId}", tag = "policies", request_body = PolicyRequest,
    security(("bearer" = [])), params(("policyId" = String, Path, description = "pol- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<PolicyRequest>,
) -> ApiResult<Reply> {
    let current = custom_policy(&state, &caller, &id, Action::UpdatePolicy).await?;
    let p = req.policy;
    if let Some(kind) = p.kind.as_deref() {
        if parse_type(kind)? != current.policy.policy_type {
            return Err(Error::invalid(
                "POLICY_TYPE_IMMUTABLE",
                "body.policy.type",
                "a policy's type cannot change after creation",
            )
            .into());
        }
    }
    let name = p.name.as_deref().map(|n| validate::person_name("body.policy.name", n)).transpose()?;
    let description =
        p.description.as_deref().map(|d| super::super::description("body.policy.description", Some(d))).transpose()?;
    let document =
        p.policy_content.as_ref().map(|c| PolicyDocument::from_json(c, "body.policy.policyContent")).transpose()?;
    state
        .store
        .update_policy(caller.org_id, &current.policy.id, name.as_deref(), description.as_deref(), document.as_ref())
        .await?;
    Ok(Reply::Done)
}

/// Deletes a custom policy that nothing holds any more.
#[utoipa::path(delete, path = "/setup/access/policy/{policyId}", tag = "policies", security(("bearer" = [])),
    params(("policyId" = String, Path, description = "pol- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let current = custom_policy(&state, &caller, &id, Action::DeletePolicy).await?;
    state.store.delete_policy(caller.org_id, &current.policy.id).await?;
    Ok(Reply::Done)
}

/// A custom policy of the caller's organization; built-ins are refused as read-only.
async fn custom_policy(
    state: &AppState,
    caller: &orgplane_domain::access::Caller,
    id: &str,
    action: Action,
) -> Result<StoredPolicy, Error> {
    authz::check(state, caller, action, Target { resource: id, account_id: None }).await?;
    if orgplane_domain::policy::builtin(id).is_some() {
        return Err(Error::invalid(
            "BUILTIN_POLICY_IMMUTABLE",
            "path.policyId",
            "built-in policies cannot be changed or deleted",
        ));
    }
    PolicyId::parse(id).map_err(|e| e.in_field("path"))?;
    state
        .store
        .find_policy(caller.org_id, id)
        .await?
        .ok_or_else(|| Error::not_found("POLICY_DOESNT_EXIST", "path.policyId", "policy not found"))
}
