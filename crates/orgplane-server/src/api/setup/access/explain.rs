//! `POST /setup/access/explain`: would this user (or token) be allowed this action on this
//! resource, and which statement of which policy decides it.

use super::super::super::{Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, Query};
use axum::extract::State;
use orgplane_domain::access::{self, Action, Caller, Target};
use orgplane_domain::ids::{AccountId, UserId};
use orgplane_domain::policy::{Effect, Via};
use orgplane_domain::{Error, secret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainRequest {
    /// The user to ask about (`u-…` / `pu-…`); or give `token`.
    pub user_id: Option<String>,
    /// A token of this organization to ask about (its owner's permissions and its read-only scope).
    pub token: Option<String>,
    /// e.g. `setup:updateAccount`.
    pub action: String,
    /// The resource id; defaults to the account id, else the organization id.
    pub resource: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub allowed: bool,
    /// `ALLOW`, `DENY` (an explicit DENY statement), or `IMPLICIT_DENY` (nothing allowed it).
    pub decision: &'static str,
    pub user_id: String,
    pub action: String,
    pub resource: String,
    pub account_id: Option<String>,
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    /// Index of the deciding statement in the policy's `statements`.
    pub statement_index: Option<usize>,
    /// How the user holds the policy: `role`, `direct`, or `group:ugr-…`.
    pub via: Option<String>,
    /// Set when a read-only token, not a policy, refused the action.
    pub read_only_token: bool,
}

/// Explains an access decision (org admins, or anyone granted `setup:explainAccess`).
#[utoipa::path(post, path = "/setup/access/explain", tag = "policies", request_body = ExplainRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<Explanation>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn explain(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<ExplainRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::ExplainAccess).await?;
    let subject: Caller = match (&req.user_id, &req.token) {
        (Some(id), _) => {
            let user_id = UserId::parse(id).map_err(|e| e.in_field("body"))?;
            let user = state
                .store
                .find_org_user(caller.org_id, &user_id)
                .await?
                .ok_or_else(|| Error::not_found("USER_DOESNT_EXIST", "body.userId", "user not found"))?;
            Caller {
                user_id,
                email: user.email.unwrap_or_default(),
                org_id: caller.org_id,
                org_role: user.role,
                token_id: 0,
                read_only: false,
                must_enrol_mfa: false,
                trial_ends_at: caller.trial_ends_at,
            }
        }
        (None, Some(token)) => state
            .store
            .inspect_token(&secret::token_hash(token))
            .await?
            .filter(|c| c.org_id == caller.org_id)
            .ok_or_else(|| {
                Error::not_found("TOKEN_DOESNT_EXIST", "body.token", "no such token in this organization")
            })?,
        (None, None) => {
            return Err(Error::validation("body.userId", "one of \"userId\" and \"token\" is required").into());
        }
    };
    let action = req.action.trim();
    if action.is_empty() || !action.contains(':') {
        return Err(Error::validation("body.action", "\"action\" must look like service:action").into());
    }
    let account = req.account_id.as_deref().map(|a| AccountId::parse(a).map_err(|e| e.in_field("body"))).transpose()?;
    if let Some(a) = &account {
        state
            .store
            .find_account(caller.org_id, a)
            .await?
            .ok_or_else(|| Error::not_found("Account_DOESNT_EXIST", "body.accountId", "account not found"))?;
    }
    let org = caller.org_id.to_string();
    let resource = req.resource.clone().or_else(|| account.as_ref().map(ToString::to_string)).unwrap_or(org);
    let grants = state.store.grants(caller.org_id, &subject.user_id).await?;
    let target = Target { resource: &resource, account_id: account.as_ref().map(AccountId::as_str) };
    let decision = access::decide(&subject, &grants, action, target);
    let read_only_refusal = subject.read_only && decision.allowed && !access::is_read_action(action);
    let by = decision.decided_by.as_ref();
    Ok(Reply::item(
        "orgplane:setup:access:explanation",
        Explanation {
            allowed: decision.allowed && !read_only_refusal,
            decision: match by.map(|d| &d.effect) {
                _ if read_only_refusal => "DENY",
                Some(Effect::Allow) => "ALLOW",
                Some(Effect::Deny) => "DENY",
                None => "IMPLICIT_DENY",
            },
            user_id: subject.user_id.to_string(),
            action: action.to_string(),
            resource,
            account_id: account.map(|a| a.to_string()),
            policy_id: by.map(|d| d.policy_id.clone()),
            policy_name: by.map(|d| d.policy_name.clone()),
            statement_index: by.map(|d| d.statement_index),
            via: by.map(|d| match &d.via {
                Via::Role => "role".to_string(),
                Via::Direct => "direct".to_string(),
                Via::Group(g) => format!("group:{g}"),
            }),
            read_only_token: read_only_refusal,
        },
    ))
}
