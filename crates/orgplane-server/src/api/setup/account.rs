//! `/setup/account` (spot-api.md §3.2, A1–A5).

use super::super::{Done, Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query, QueryParams};
use axum::extract::State;
use orgplane_domain::access::{self, Action, Caller, Target};
use orgplane_domain::ids::{AccountId, OrgId};
use orgplane_domain::model::Account;
use orgplane_domain::timefmt::SpotTime;
use orgplane_domain::{Error, validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:setup:account";

#[derive(Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    pub account: CreateAccountFields,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateAccountFields {
    /// Must contain at least one letter; need not be unique.
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateAccountRequest {
    pub account: UpdateAccountFields,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccountFields {
    pub name: Option<String>,
    /// Slack incoming-webhook URLs; `null` leaves them unchanged.
    pub slack_notification_channels: Option<Vec<String>>,
}

/// An account. `organizationId` is a **string** here, as in Spot; `id` equals `accountId`.
// It borrows the account it shows: a listing is encoded straight from the cached list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    #[schema(value_type = String)]
    #[serde(serialize_with = "as_string")]
    pub organization_id: OrgId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<&'a str>,
    pub slack_notification_channels: &'a [String],
    pub is_default: bool,
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`.
    #[schema(value_type = String)]
    pub created_at: SpotTime,
}

impl<'a> From<&'a Account> for AccountItem<'a> {
    fn from(a: &'a Account) -> Self {
        AccountItem {
            id: a.id.as_str(),
            account_id: a.id.as_str(),
            name: &a.name,
            organization_id: a.organization_id,
            provider_external_id: a.provider_external_id.as_deref(),
            cloud_provider: a.cloud_provider.as_deref(),
            slack_notification_channels: &a.slack_channels,
            is_default: a.is_default,
            created_at: SpotTime(a.created_at),
        }
    }
}

/// The organization id as Spot writes it in an account: a string of digits.
fn as_string<S: serde::Serializer>(org: &OrgId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(org)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Only accounts linked to this cloud account (AWS account number, Azure subscription, GCP project).
    pub cloud_account_id: Option<String>,
    /// Older alias of `cloudAccountId`.
    pub aws_account_id: Option<String>,
    /// Page size (1–1000); with it or `cursor` the listing is paged.
    pub limit: Option<String>,
    /// `paginationInfo.nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl QueryParams for ListParams {
    const ALLOWED: &'static [&'static str] = &["cloudAccountId", "awsAccountId", "limit", "cursor"];
}

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// Creates an account in the caller's organization (admins only).
#[utoipa::path(post, path = "/setup/account", tag = "accounts", request_body = CreateAccountRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<AccountItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<CreateAccountRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::CreateAccount).await?;
    let name = validate::entity_name("body.account.name", &req.account.name)?;
    let account = state.store.create_account(caller.org_id, &name).await?;
    Ok(Reply::item(KIND, AccountItem::from(&account)))
}

/// The organization's accounts (default first, then oldest first): all of them for callers
/// allowed `setup:listAccounts`, otherwise the ones they may describe. Without `limit` or
/// `cursor`, the whole list, as Spot answers; with either, one page of at most `limit`
/// (default 100) and `paginationInfo.nextCursor` while more follow. A page holds fewer than
/// `limit` items when some of its accounts are hidden from the caller: follow `nextCursor`
/// until it is absent.
#[utoipa::path(get, path = "/setup/account", tag = "accounts", security(("bearer" = [])),
    params(("cloudAccountId" = Option<String>, Query, description = "Filter by linked cloud account id"),
           ("accountId" = Option<String>, Query, description = "Accepted and ignored: the whole organization is listed"),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000 (default 100 when `cursor` is given): pages the listing"),
           ("cursor" = Option<String>, Query, description = "From `paginationInfo.nextCursor` of the previous page")),
    responses((status = 200, body = Items<AccountItem>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<ListParams>) -> ApiResult<Reply> {
    let p = &q.params;
    let filter = p.cloud_account_id.as_deref().or(p.aws_account_id.as_deref());
    let grants = state.store.grants(caller.org_id, &caller.user_id).await?;
    let org = caller.org_id.to_string();
    let all = access::allows(&caller, &grants, Action::ListAccounts, Target { resource: &org, account_id: None });
    let visible = |a: &Account| {
        all || access::allows(
            &caller,
            &grants,
            Action::DescribeAccount,
            Target { resource: a.id.as_str(), account_id: Some(a.id.as_str()) },
        )
    };
    if p.limit.is_none() && p.cursor.is_none() {
        let accounts = state.store.list_accounts(caller.org_id, filter).await?;
        return Ok(Reply::items(KIND, accounts.iter().filter(|a| visible(a)).map(AccountItem::from)));
    }
    let limit = super::super::paging::limit(p.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    // After the default account comes the first non-default one: its cursor is (MIN, "").
    let after = p
        .cursor
        .as_deref()
        .map(|c| {
            super::super::paging::decode(c, |id| match id {
                "" => Some(String::new()),
                id => AccountId::parse(id).ok().map(|a| a.to_string()),
            })
        })
        .transpose()?;
    let rows = state
        .store
        .accounts_page(caller.org_id, filter, after.as_ref().map(|(at, id)| (*at, id.as_str())), limit + 1)
        .await?;
    let (rows, more) = super::super::paging::split(rows, limit);
    let next_cursor = rows.last().filter(|_| more).map(|a| match a.is_default {
        true => super::super::paging::encode(i64::MIN, ""),
        false => super::super::paging::encode(a.created_at, a.id.as_str()),
    });
    Ok(Reply::page(KIND, rows.iter().filter(|a| visible(a)).map(AccountItem::from), next_cursor))
}

/// One account.
#[utoipa::path(get, path = "/setup/account/{accountId}", tag = "accounts", security(("bearer" = [])),
    params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Items<AccountItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let account = authorized_account(&state, &caller, &id, Action::DescribeAccount).await?;
    Ok(Reply::item(KIND, AccountItem::from(&account)))
}

/// Renames an account and/or sets its Slack channels (admins only).
#[utoipa::path(put, path = "/setup/account/{accountId}", tag = "accounts", request_body = UpdateAccountRequest,
    security(("bearer" = [])), params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<UpdateAccountRequest>,
) -> ApiResult<Reply> {
    let account = authorized_account(&state, &caller, &id, Action::UpdateAccount).await?;
    let name = req.account.name.as_deref().map(|n| validate::entity_name("body.account.name", n)).transpose()?;
    let slack = req
        .account
        .slack_notification_channels
        .map(|channels| {
            channels
                .iter()
                .enumerate()
                .map(|(i, c)| validate::slack_webhook_url(&format!("body.account.slackNotificationChannels[{i}]"), c))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    state.store.update_account(caller.org_id, &account.id, name.as_deref(), slack.as_deref()).await?;
    Ok(Reply::Done)
}

/// Deletes an account (admins only). The default account cannot be deleted.
#[utoipa::path(delete, path = "/setup/account/{accountId}", tag = "accounts", security(("bearer" = [])),
    params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let account = authorized_account(&state, &caller, &id, Action::DeleteAccount).await?;
    state.store.delete_account(caller.org_id, &account.id).await?;
    Ok(Reply::Done)
}

/// Checks the caller may perform `action` on the account, then loads it from the caller's
/// organization. Accounts of other organizations do not exist as far as the caller can tell.
async fn authorized_account(state: &AppState, caller: &Caller, id: &str, action: Action) -> Result<Account, Error> {
    let id = AccountId::parse(id).map_err(|e| e.in_field("path"))?;
    let account = state
        .store
        .find_account(caller.org_id, &id)
        .await?
        .ok_or_else(|| Error::not_found("Account_DOESNT_EXIST", "path.accountId", "account not found"))?;
    authz::check(state, caller, action, Target { resource: id.as_str(), account_id: Some(id.as_str()) }).await?;
    Ok(account)
}
