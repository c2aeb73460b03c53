//! `/setup/organization/{organizationId}/scim`: an organization's SCIM settings and tokens
//! (admins only). The tokens authenticate the IdP at `/scim/v2`; each is shown once.

use super::super::{Done, Failure, Items};
use super::organization::membership_in;
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathPair, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::Action;
use orgplane_domain::scim::resource::{DEFAULT_ROLE_ATTRIBUTE, role_attribute};
use orgplane_domain::secret;
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::validate;
use orgplane_store::scim::ScimToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const SETTINGS_KIND: &str = "orgplane:setup:scim";
const TOKEN_KIND: &str = "orgplane:setup:scimToken";

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimSettings {
    /// Where the IdP sends SCIM requests.
    pub base_url: String,
    /// The attribute roles are read from: `Editor` → organization admin, `Viewer` → Account
    /// Viewer on every account.
    pub role_attribute: String,
    pub tokens: Vec<ScimTokenItem>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimTokenItem {
    pub id: String,
    pub description: Option<String>,
    /// The last 4 characters of the secret.
    pub last_digits: String,
    pub created_by: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// The secret: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<ScimToken> for ScimTokenItem {
    fn from(t: ScimToken) -> Self {
        ScimTokenItem {
            id: t.id,
            description: t.description,
            last_digits: t.last_digits,
            created_by: t.created_by.to_string(),
            created_at: to_spot(t.created_at),
            last_used_at: t.last_used_at.map(to_spot),
            token: None,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimSettingsRequest {
    /// A SCIM attribute path (`roles`, `userType`, `urn:…:enterprise:2.0:User:department`);
    /// null restores the default, `roles`.
    pub role_attribute: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct NewScimTokenRequest {
    pub description: Option<String>,
}

/// The SCIM base URL, role attribute and tokens (masked).
#[utoipa::path(get, path = "/setup/organization/{organizationId}/scim", tag = "organizations",
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<ScimSettings>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::DescribeScim).await?;
    let role_attribute = state.store.scim_role_attribute(org).await?.unwrap_or_else(|| DEFAULT_ROLE_ATTRIBUTE.into());
    let tokens = state.store.list_scim_tokens(org).await?;
    Ok(Reply::item(
        SETTINGS_KIND,
        ScimSettings {
            base_url: format!("{}/scim/v2", state.config.public_url.trim_end_matches('/')),
            role_attribute,
            tokens: tokens.into_iter().map(ScimTokenItem::from).collect(),
        },
    ))
}

/// Sets the attribute SCIM roles are read from.
#[utoipa::path(put, path = "/setup/organization/{organizationId}/scim", tag = "organizations",
    request_body = ScimSettingsRequest, security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<ScimSettingsRequest>,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::ManageScim).await?;
    let attribute = match req.role_attribute.as_deref() {
        Some(raw) => Some(role_attribute("body.roleAttribute", raw)?.to_string()),
        None => None,
    };
    state.store.set_scim_role_attribute(org, attribute.as_deref()).await?;
    Ok(Reply::Done)
}

/// Creates a SCIM token; the answer is the only time the secret is shown.
#[utoipa::path(post, path = "/setup/organization/{organizationId}/scim/token", tag = "organizations",
    request_body = NewScimTokenRequest, security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<ScimTokenItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<NewScimTokenRequest>,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::ManageScim).await?;
    let description = match req.description.as_deref() {
        Some(d) => Some(validate::label("body.description", d)?),
        None => None,
    };
    let secret = secret::new_scim_token();
    let token = state.store.create_scim_token(org, description.as_deref(), &caller.user_id, &secret).await?;
    Ok(Reply::item(TOKEN_KIND, ScimTokenItem { token: Some(secret.secret), ..ScimTokenItem::from(token) }))
}

/// Revokes a SCIM token at once.
#[utoipa::path(delete, path = "/setup/organization/{organizationId}/scim/token/{tokenId}", tag = "organizations",
    security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits"), ("tokenId" = String, Path, description = "sct-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathPair(id, token): PathPair,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::ManageScim).await?;
    state.store.delete_scim_token(org, &token).await?;
    Ok(Reply::Done)
}
