//! `/setup/organization/{organizationId}/children` and `…/invitations`: linked organizations
//! (product.md §6). A parent's admins create children or invite existing organizations, whose
//! own admins accept; either side can unlink. Only organization admins (direct or inherited from
//! an ancestor) see or change any of it.

use super::super::{Done, Failure, Items};
use super::organization::membership_in;
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathPair, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::Action;
use orgplane_domain::family::Billing;
use orgplane_domain::ids::OrgId;
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::families::{ChildOrganization, Invitation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const CHILD_KIND: &str = "spotinst:setup:organization:child";
const INVITATION_KIND: &str = "spotinst:setup:organization:invitation";

#[derive(Deserialize, ToSchema)]
pub struct NewChildRequest {
    pub organization: super::organization::OrganizationFields,
    /// `shared` (default: the parent's bill consolidates the child's usage) or `separate`.
    pub billing: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedChild {
    /// An integer, as in `POST /setup/organization`.
    pub organization_id: i64,
    pub organization_name: String,
    pub parent_organization_id: String,
    pub billing: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildItem {
    pub organization_id: String,
    pub name: String,
    /// `shared` or `separate`.
    pub billing: &'static str,
    pub account_count: i64,
    /// Members of the child itself (the parent's admins are not counted).
    pub user_count: i64,
    /// The child's own children.
    pub child_count: i64,
    pub linked_at: String,
}

impl From<ChildOrganization> for ChildItem {
    fn from(c: ChildOrganization) -> Self {
        ChildItem {
            organization_id: c.id.to_string(),
            name: c.name,
            billing: c.billing.as_str(),
            account_count: c.account_count,
            user_count: c.user_count,
            child_count: c.child_count,
            linked_at: to_spot(c.linked_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct BillingRequest {
    /// `shared` or `separate`.
    pub billing: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationRequest {
    /// The organization invited to become a child: 12 digits, as a string or a number.
    #[schema(value_type = String)]
    pub child_organization_id: crate::api::oauth::OrgIdInput,
    /// `shared` (default) or `separate`.
    pub billing: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationItem {
    pub invitation_id: String,
    /// `sent` by this organization (as the parent) or `received` (as the child).
    pub direction: &'static str,
    pub parent_organization_id: String,
    pub parent_organization_name: String,
    pub child_organization_id: String,
    pub child_organization_name: String,
    pub billing: &'static str,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
}

fn invitation_item(i: Invitation, seen_by: OrgId) -> InvitationItem {
    InvitationItem {
        direction: if i.parent_id == seen_by { "sent" } else { "received" },
        invitation_id: i.id,
        parent_organization_id: i.parent_id.to_string(),
        parent_organization_name: i.parent_name,
        child_organization_id: i.child_id.to_string(),
        child_organization_name: i.child_name,
        billing: i.billing.as_str(),
        invited_by: i.invited_by.to_string(),
        created_at: to_spot(i.created_at),
        expires_at: to_spot(i.expires_at),
    }
}

fn billing_or_shared(field: &str, value: Option<&str>) -> Result<Billing, Error> {
    value.map_or(Ok(Billing::Shared), |b| Billing::parse(field, b))
}

fn child_id(id: &str) -> Result<OrgId, Error> {
    crate::api::oauth::OrgIdInput::Text(id.to_string()).parse("path.childOrganizationId")
}

/// The direct children of an organization, with their account and user counts (admins only).
#[utoipa::path(get, path = "/setup/organization/{organizationId}/children", tag = "organizations",
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<ChildItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::ListChildOrganizations).await?;
    let children = state.store.list_children(org).await?;
    Ok(Reply::items(CHILD_KIND, children.into_iter().map(ChildItem::from)))
}

/// Creates a child organization with its default account. It has no members of its own: the
/// parent's admins are its admins until it gets some.
#[utoipa::path(post, path = "/setup/organization/{organizationId}/children", tag = "organizations",
    request_body = NewChildRequest, security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<CreatedChild>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<NewChildRequest>,
) -> ApiResult<Reply> {
    let (_, parent) = membership_in(&state, &caller, &id, Action::CreateChildOrganization).await?;
    let name = validate::entity_name("body.organization.name", &req.organization.name)?;
    let billing = billing_or_shared("body.billing", req.billing.as_deref())?;
    let (child, _) = state.store.create_child_org(parent, &name, billing).await?;
    Ok(Reply::item(
        CHILD_KIND,
        CreatedChild {
            organization_id: child.as_i64(),
            organization_name: name,
            parent_organization_id: parent.to_string(),
            billing: billing.as_str(),
        },
    ))
}

/// Changes how a child is billed (the parent's admins).
#[utoipa::path(put, path = "/setup/organization/{organizationId}/children/{childOrganizationId}", tag = "organizations",
    request_body = BillingRequest, security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits"), ("childOrganizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathPair(id, child): PathPair,
    Body(req): Body<BillingRequest>,
) -> ApiResult<Reply> {
    let (_, parent) = membership_in(&state, &caller, &id, Action::LinkOrganization).await?;
    let child = child_id(&child)?;
    let billing = Billing::parse("body.billing", &req.billing)?;
    state.store.set_child_billing(parent, child, billing).await?;
    Ok(Reply::Done)
}

/// Unlinks a child: it becomes an organization of its own, with everything below it. Either
/// side may: an admin of the parent, or an admin of the child.
#[utoipa::path(delete, path = "/setup/organization/{organizationId}/children/{childOrganizationId}", tag = "organizations",
    security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits"), ("childOrganizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn unlink(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathPair(id, child): PathPair,
) -> ApiResult<Reply> {
    let as_parent = membership_in(&state, &caller, &id, Action::UnlinkOrganization).await;
    let parent = match as_parent {
        Ok((_, parent)) => parent,
        // Not an admin of the parent: the child's own admin may leave.
        Err(refused) => {
            let child = child_id(&child)?;
            let parent = OrgId::parse(&id).map_err(|e| e.in_field("path"))?;
            match membership_in(&state, &caller, &child.to_string(), Action::UnlinkOrganization).await {
                Ok(_) if state.store.parent_of(child).await? == Some(parent) => parent,
                _ => return Err(refused.into()),
            }
        }
    };
    state.store.unlink_child(parent, child_id(&child)?).await?;
    Ok(Reply::Done)
}

/// Invites an existing organization to become a child (the parent's admins). Its admins accept
/// with `POST …/invitations/{invitationId}/accept` within seven days.
#[utoipa::path(post, path = "/setup/organization/{organizationId}/invitations", tag = "organizations",
    request_body = InvitationRequest, security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<InvitationItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn invite(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<InvitationRequest>,
) -> ApiResult<Reply> {
    let (_, parent) = membership_in(&state, &caller, &id, Action::LinkOrganization).await?;
    let child = req.child_organization_id.parse("body.childOrganizationId")?;
    let billing = billing_or_shared("body.billing", req.billing.as_deref())?;
    let invitation = state.store.invite_child(parent, child, billing, &caller.user_id).await?;
    Ok(Reply::item(INVITATION_KIND, invitation_item(invitation, parent)))
}

/// Open invitations this organization sent or received (admins only).
#[utoipa::path(get, path = "/setup/organization/{organizationId}/invitations", tag = "organizations",
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<InvitationItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn invitations(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::ListChildOrganizations).await?;
    let found = state.store.list_invitations(org).await?;
    Ok(Reply::items(INVITATION_KIND, found.into_iter().map(|i| invitation_item(i, org))))
}

/// The invited organization's admin accepts: it joins the parent's family as a child.
#[utoipa::path(post, path = "/setup/organization/{organizationId}/invitations/{invitationId}/accept", tag = "organizations",
    security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits: the invited organization"), ("invitationId" = String, Path, description = "oin-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn accept(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathPair(id, invitation): PathPair,
) -> ApiResult<Reply> {
    let (_, child) = membership_in(&state, &caller, &id, Action::LinkOrganization).await?;
    state.store.accept_invitation(child, &invitation).await?;
    Ok(Reply::Done)
}

/// Withdraws (the parent) or declines (the invited organization) an invitation.
#[utoipa::path(delete, path = "/setup/organization/{organizationId}/invitations/{invitationId}", tag = "organizations",
    security(("bearer" = [])),
    params(("organizationId" = String, Path, description = "12 digits"), ("invitationId" = String, Path, description = "oin-…")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathPair(id, invitation): PathPair,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::LinkOrganization).await?;
    state.store.delete_invitation(org, &invitation).await?;
    Ok(Reply::Done)
}
