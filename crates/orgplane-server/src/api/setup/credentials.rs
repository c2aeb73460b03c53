//! `/setup/credentials/aws…` (spot-api.md §3.7, C1–C4): connecting an account to AWS through a
//! role the customer creates, trusting orgplane's principal with the account's external id.

use super::super::{Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::access::{Action, Caller, Target};
use orgplane_domain::cloud::{self, EXTERNAL_ID_TTL_MS};
use orgplane_domain::ids::AccountId;
use orgplane_domain::timefmt::to_spot;
use orgplane_store::AwsConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIdItem {
    /// `spotinst:aws:extid:` + 16 lower-case alphanumerics.
    pub external_id: String,
    pub account_id: String,
    /// Until when it may be used to connect the role.
    pub max_valid_until: String,
}

/// Mints the external id the account's IAM role must require (valid 1 hour). Without
/// `accountId` the default account is used.
#[utoipa::path(post, path = "/setup/credentials/aws/externalId", tag = "credentials", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query, description = "The account to connect (default account when absent)")),
    responses((status = 200, body = Items<ExternalIdItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn mint_external_id(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
) -> ApiResult<Reply> {
    let account = match q.account_id {
        Some(a) => a,
        None => state.store.default_account(caller.org_id).await?.id,
    };
    let account = account_for(&state, &caller, &account, "query.accountId", Action::SetAccountCredentials).await?;
    let external_id = cloud::new_external_id(&mut rand::thread_rng());
    let valid_until = orgplane_store::now_ms() + EXTERNAL_ID_TTL_MS;
    state.store.put_external_id(caller.org_id, &account, &external_id, valid_until).await?;
    Ok(Reply::item(
        "spotinst:setup:aws:externalId",
        ExternalIdItem { external_id, account_id: account.to_string(), max_valid_until: to_spot(valid_until) },
    ))
}

/// The external id minted for an account.
#[utoipa::path(get, path = "/setup/credentials/aws/externalId/{accountId}", tag = "credentials", security(("bearer" = [])),
    params(("accountId" = String, Path, description = "act- + 8 hex")),
    responses((status = 200, body = Items<ExternalIdItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get_external_id(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let account = AccountId::parse(&id).map_err(|e| e.in_field("path"))?;
    let account = account_for(&state, &caller, &account, "path.accountId", Action::DescribeAccount).await?;
    let (external_id, valid_until) = state.store.external_id(caller.org_id, &account).await?.ok_or_else(|| {
        Error::not_found("EXTERNAL_ID_DOESNT_EXIST", "path.accountId", "no external id was minted for this account")
    })?;
    Ok(Reply::item(
        "spotinst:setup:aws:externalId",
        ExternalIdItem { external_id, account_id: account.to_string(), max_valid_until: to_spot(valid_until) },
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SetAwsRequest {
    pub credentials: AwsCredentialsInput,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsCredentialsInput {
    /// `arn:aws:iam::<account>:role/<name>`.
    pub iam_role: String,
    /// Optional (the deprecated SDK method sends it): must be the external id minted for the account.
    pub external_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsCredentialsItem {
    pub iam_role: String,
    pub account_id: String,
    /// The AWS account number the role belongs to.
    pub aws_account_id: String,
}

/// Connects the account to AWS: assumes the role with the account's external id (a real STS
/// call) and only then saves it. `accountId` is required, as in Spot.
#[utoipa::path(post, path = "/setup/credentials/aws", tag = "credentials", request_body = SetAwsRequest, security(("bearer" = [])),
    params(("accountId" = String, Query, description = "The account to connect (required)")),
    responses((status = 200, body = Items<AwsCredentialsItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn set_aws(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<SetAwsRequest>,
) -> ApiResult<Reply> {
    let account = q.account_id.ok_or_else(|| Error::validation("query.accountId", "\"accountId\" is required"))?;
    let account = account_for(&state, &caller, &account, "query.accountId", Action::SetAccountCredentials).await?;
    let role = cloud::parse_role_arn("body.credentials.iamRole", &req.credentials.iam_role)?;
    let (external_id, valid_until) = state.store.external_id(caller.org_id, &account).await?.ok_or_else(|| {
        Error::invalid(
            "EXTERNAL_ID_MISSING",
            "query.accountId",
            "mint an external id first: POST /setup/credentials/aws/externalId",
        )
    })?;
    if valid_until <= orgplane_store::now_ms() {
        return Err(Error::invalid(
            "EXTERNAL_ID_EXPIRED",
            "query.accountId",
            "the external id has expired; mint a new one",
        )
        .into());
    }
    if req.credentials.external_id.as_deref().is_some_and(|given| given != external_id) {
        return Err(Error::invalid(
            "EXTERNAL_ID_MISMATCH",
            "body.credentials.externalId",
            "this is not the external id minted for this account",
        )
        .into());
    }
    let assumed = state.aws.assume_role(&role.arn, &external_id).await?;
    let aws_account_id = cloud::account_of_assumed_role(&assumed.arn).unwrap_or(role.account);
    let connection = AwsConnection { iam_role: role.arn.clone(), external_id, aws_account_id: aws_account_id.clone() };
    state.store.save_aws_connection(caller.org_id, &account, &connection).await?;
    Ok(Reply::item(
        "spotinst:setup:aws:credentials",
        AwsCredentialsItem { iam_role: role.arn, account_id: account.to_string(), aws_account_id },
    ))
}

/// The account's AWS role; `Account_DOESNT_EXIST` when it has none (Terraform's not-found code).
#[utoipa::path(get, path = "/setup/credentials/aws", tag = "credentials", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query, description = "The account (default account when absent)")),
    responses((status = 200, body = Items<AwsCredentialsItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get_aws(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    let account = match q.account_id {
        Some(a) => a,
        None => state.store.default_account(caller.org_id).await?.id,
    };
    let account = account_for(&state, &caller, &account, "query.accountId", Action::DescribeAccount).await?;
    let c = state.store.aws_connection(caller.org_id, &account).await?.ok_or_else(|| {
        Error::not_found("Account_DOESNT_EXIST", "query.accountId", "the account has no AWS credentials")
    })?;
    Ok(Reply::item(
        "spotinst:setup:aws:credentials",
        AwsCredentialsItem { iam_role: c.iam_role, account_id: account.to_string(), aws_account_id: c.aws_account_id },
    ))
}

/// The account a request is about: `accountId`, or the default account when absent (Spot's
/// "required" account ids, which the Python SDK does not always send), checked as `account_for`.
pub(crate) async fn account_or_default(
    state: &AppState,
    caller: &Caller,
    account: Option<AccountId>,
    action: Action,
) -> Result<AccountId, Error> {
    let account = match account {
        Some(a) => a,
        None => state.store.default_account(caller.org_id).await?.id,
    };
    account_for(state, caller, &account, "query.accountId", action).await
}

/// Checks `action` on the account, then that it is one of the caller's organization's accounts.
pub(crate) async fn account_for(
    state: &AppState,
    caller: &Caller,
    account: &AccountId,
    field: &str,
    action: Action,
) -> Result<AccountId, Error> {
    authz::check(state, caller, action, Target { resource: account.as_str(), account_id: Some(account.as_str()) })
        .await?;
    state
        .store
        .find_account(caller.org_id, account)
        .await?
        .map(|a| a.id)
        .ok_or_else(|| Error::not_found("Account_DOESNT_EXIST", field, "account not found"))
}
