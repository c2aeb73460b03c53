//! `/setup/organization` (spot-api.md §3.1).
//!
//! Routes with an organization id in the path address that organization explicitly and are
//! authorised by the caller's own role in it (the Spot SDK creates an organization and deletes it
//! with the same token). Everything else acts in the organization the token is bound to.

use super::super::{Done, Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::model::Membership;
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::{DisplayName, OrgUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:setup:organization";

#[derive(Deserialize, ToSchema)]
pub struct OrganizationRequest {
    pub organization: OrganizationFields,
}

#[derive(Deserialize, ToSchema)]
pub struct OrganizationFields {
    /// Must contain at least one letter.
    pub name: String,
}

/// The create response: `organizationId` is an **integer** here, as in Spot.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOrganization {
    pub organization_id: i64,
    pub organization_name: String,
}

/// An organization as one of its members sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationItem {
    /// 12 digits, as a string.
    pub organization_id: String,
    pub name: String,
    pub division: Option<String>,
    /// `Name-Division` when there is a division.
    pub display_name: String,
    pub plan: String,
    /// The caller's role: `admin` or `member`.
    pub role: &'static str,
    /// Members must have a second factor.
    pub require_mfa: bool,
    pub created_at: String,
}

impl From<Membership> for OrganizationItem {
    fn from(m: Membership) -> Self {
        OrganizationItem {
            organization_id: m.organization.id.to_string(),
            display_name: m.organization.display_name(),
            name: m.organization.name,
            division: m.organization.division,
            plan: m.organization.plan,
            role: m.role.as_str(),
            require_mfa: m.organization.require_mfa,
            created_at: to_spot(m.organization.created_at),
        }
    }
}

/// Creates an organization with its default account; the caller becomes its admin.
#[utoipa::path(post, path = "/setup/organization", tag = "organizations", request_body = OrganizationRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Items<CreatedOrganization>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<OrganizationRequest>,
) -> ApiResult<Reply> {
    // Any signed-in person may found an organization; they become its admin.
    let name = validate::entity_name("body.organization.name", &req.organization.name)?;
    let (org_id, _) = state.store.create_org_for(&caller.user_id, &name).await?;
    Ok(Reply::item(KIND, CreatedOrganization { organization_id: org_id.as_i64(), organization_name: name }))
}

/// The organizations the caller belongs to.
#[utoipa::path(get, path = "/setup/organization", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = Items<OrganizationItem>), (status = 401, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    let memberships = state.store.list_memberships(&caller.user_id).await?;
    Ok(Reply::items(KIND, memberships.into_iter().map(OrganizationItem::from)))
}

/// One organization the caller belongs to.
#[utoipa::path(get, path = "/setup/organization/{organizationId}", tag = "organizations", security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<OrganizationItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (membership, _) = membership_in(&state, &caller, &id, Action::DescribeOrganization).await?;
    Ok(Reply::item(KIND, OrganizationItem::from(membership)))
}

/// Renames an organization (admins only).
#[utoipa::path(put, path = "/setup/organization/{organizationId}", tag = "organizations", request_body = OrganizationRequest,
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<OrganizationRequest>,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::UpdateOrganization).await?;
    let name = validate::entity_name("body.organization.name", &req.organization.name)?;
    state.store.rename_org(org, &name).await?;
    Ok(Reply::Done)
}

/// Deletes an organization and everything in it but its audit trail (admins only). Irreversible.
#[utoipa::path(delete, path = "/setup/organization/{organizationId}", tag = "organizations", security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::DeleteOrganization).await?;
    state.store.delete_org(org).await?;
    tracing::info!(organization_id = %org, "organization deleted");
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRequest {
    /// Members without a second factor can do nothing but enrol one.
    pub require_mfa: bool,
}

/// Security settings of an organization (admins only): require a second factor of every member.
#[utoipa::path(put, path = "/setup/organization/{organizationId}/security", tag = "organizations", request_body = SecurityRequest,
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn security(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<SecurityRequest>,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::UpdateOrganization).await?;
    state.store.set_require_mfa(org, req.require_mfa).await?;
    Ok(Reply::Done)
}

/// The caller's membership in the organization named in the path, authorised for `action`.
/// Organizations the caller does not belong to are reported as not found.
pub(crate) async fn membership_in(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(Membership, OrgId), Error> {
    let org = OrgId::parse(id).map_err(|e| e.in_field("path"))?;
    let membership = state.store.find_membership(&caller.user_id, org).await?.ok_or_else(|| {
        Error::not_found("ORGANIZATION_DOESNT_EXIST", "path.organizationId", "organization not found")
    })?;
    let acting = Caller { org_id: org, org_role: membership.role, ..caller.clone() };
    authz::check_org(state, &acting, action).await?;
    Ok((membership, org))
}

#[derive(Deserialize, Default)]
pub struct OrgUsersParams {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// Page size (1–1000); with it or `cursor` the listing is paged.
    pub limit: Option<String>,
    /// `paginationInfo.nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl crate::extract::QueryParams for OrgUsersParams {
    const ALLOWED: &'static [&'static str] = &["format", "limit", "cursor"];
}

const USERS_DEFAULT_PAGE: i64 = 100;
const USERS_MAX_PAGE: i64 = 1000;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgUserItem<'a> {
    pub user_id: &'a str,
    #[schema(value_type = String)]
    pub username: DisplayName<'a>,
    /// `personal` or `programmatic`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub email: Option<&'a str>,
    /// Whether the user has MFA enrolled.
    pub mfa: bool,
    pub group_names: &'a [String],
    /// `admin` or `member`.
    pub organization_role: &'static str,
}

impl<'a> From<&'a OrgUser> for OrgUserItem<'a> {
    fn from(u: &'a OrgUser) -> Self {
        OrgUserItem {
            user_id: u.user_id.as_str(),
            username: u.display_name(),
            kind: if u.programmatic { "programmatic" } else { "personal" },
            email: u.email.as_deref(),
            mfa: u.mfa,
            group_names: &u.group_names,
            organization_role: u.role.as_str(),
        }
    }
}

/// The organization's users, in the order they joined; `format=csv` exports the list as a CSV
/// file. Without `limit` or `cursor`, the whole list, as Spot answers; with either (JSON only),
/// one page of at most `limit` (default 100) and `paginationInfo.nextCursor` while more follow.
#[utoipa::path(get, path = "/setup/organization/user", tag = "users", security(("bearer" = [])),
    params(("format" = Option<String>, Query, description = "`csv` for a CSV export"),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000 (default 100 when `cursor` is given): pages the listing"),
           ("cursor" = Option<String>, Query, description = "From `paginationInfo.nextCursor` of the previous page")),
    responses((status = 200, body = Items<OrgUserItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<OrgUsersParams>,
) -> ApiResult<axum::response::Response> {
    use crate::api::paging;
    use axum::response::IntoResponse;
    authz::check_org(&state, &caller, Action::ListUsers).await?;
    let p = &q.params;
    let format = p.format.as_deref().map(str::to_ascii_lowercase);
    if let Some(field) = [("query.limit", &p.limit), ("query.cursor", &p.cursor)].iter().find(|(_, v)| v.is_some()) {
        if !matches!(format.as_deref(), None | Some("json")) {
            return Err(Error::validation(field.0, "only the JSON listing is paged: a CSV export is whole").into());
        }
        let limit = paging::limit(p.limit.as_deref(), USERS_DEFAULT_PAGE, USERS_MAX_PAGE)?;
        let after = p.cursor.as_deref().map(|c| paging::decode(c, |id| UserId::parse(id).ok())).transpose()?;
        let rows =
            state.store.org_users_page(caller.org_id, after.as_ref().map(|(at, id)| (*at, id)), limit + 1).await?;
        let (rows, more) = paging::split(rows, limit);
        let next_cursor = rows.last().filter(|_| more).map(|u| paging::encode(u.created_at, u.user_id.as_str()));
        let items = rows.iter().map(OrgUserItem::from);
        return Ok(Reply::page("spotinst:setup:organization:user", items, next_cursor).into_response());
    }
    let users = state.store.list_org_users(caller.org_id).await?;
    let items = users.iter().map(OrgUserItem::from);
    match format.as_deref() {
        None | Some("json") => Ok(Reply::items("spotinst:setup:organization:user", items).into_response()),
        Some("csv") => {
            let mut csv = String::from("userId,username,type,email,mfa,organizationRole,groupNames\r\n");
            for u in items {
                let row = [
                    u.user_id,
                    &u.username.to_string(),
                    u.kind,
                    u.email.unwrap_or(""),
                    if u.mfa { "true" } else { "false" },
                    u.organization_role,
                    &u.group_names.join(";"),
                ]
                .map(csv_field)
                .join(",");
                csv.push_str(&row);
                csv.push_str("\r\n");
            }
            let disposition = format!("attachment; filename=\"users-{}.csv\"", caller.org_id);
            Ok((
                [
                    (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (axum::http::header::CONTENT_DISPOSITION, disposition),
                ],
                csv,
            )
                .into_response())
        }
        Some(_) => Err(Error::validation("query.format", "\"format\" must be json or csv").into()),
    }
}

/// One CSV field (RFC 4180), with spreadsheet formula injection neutralised.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// Every permanent token of the organization (personal and programmatic), masked.
#[utoipa::path(get, path = "/setup/organization/token", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Items<crate::api::auth::TokenItem>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn tokens(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::DescribeAllTokens).await?;
    let tokens = state.store.list_org_tokens(caller.org_id).await?;
    Ok(Reply::items("orgplane:auth:token", tokens.into_iter().map(crate::api::auth::TokenItem::from)))
}

/// Revokes any permanent token of the organization, at once.
#[utoipa::path(delete, path = "/setup/organization/token/{tokenId}", tag = "auth", security(("bearer" = [])),
    params(("tokenId" = i64, Path, description = "The integer token id")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::DeletePersonalToken).await?;
    let token_id = crate::api::auth::parse_token_id(&id)?;
    state.store.delete_token(caller.org_id, token_id, None).await?;
    Ok(Reply::Done)
}
