//! `/azure/setup/credentials…` (spot-api.md §3.7, C5–C7): connecting an account to an Azure
//! subscription through a service principal (client id and secret), proven with a real token
//! request before it is saved. The secret is sealed with the master key and never shown again.

use super::setup::credentials::account_or_default;
use super::{Done, Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, Query};
use axum::extract::State;
use orgplane_cloud::AzurePrincipal;
use orgplane_domain::Error;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::cloud::{guid, mask_secret};
use orgplane_domain::ids::AccountId;
use orgplane_domain::timefmt::{parse_rfc3339, to_spot};
use orgplane_store::AzureConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Spot's flat body. `subscriptionId` is absent for tenant credentials; `expirationDate` is
/// optional for subscription credentials (the Python SDK never sends it).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureCredentialsInput {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: String,
    pub subscription_id: Option<String>,
    /// When the client secret expires (RFC 3339).
    pub expiration_date: Option<String>,
}

/// The checked input: ids as GUIDs, a secret, an expiry in the future.
struct Checked {
    tenant_id: String,
    client_id: String,
    subscription_id: Option<String>,
    secret: String,
    expires_at: Option<i64>,
}

fn check(input: &AzureCredentialsInput, tenant_scope: bool) -> Result<Checked, Error> {
    let tenant_id = guid("body.tenantId", &input.tenant_id)?;
    let client_id = guid("body.clientId", &input.client_id)?;
    let subscription_id = match (&input.subscription_id, tenant_scope) {
        (Some(s), _) => Some(guid("body.subscriptionId", s)?),
        (None, false) => return Err(Error::validation("body.subscriptionId", "\"subscriptionId\" is required")),
        (None, true) => None,
    };
    let secret = input.client_secret.trim().to_string();
    if secret.is_empty() || secret.len() > 500 {
        return Err(Error::validation("body.clientSecret", "\"clientSecret\" is required"));
    }
    let expires_at = match &input.expiration_date {
        Some(d) => Some(parse_rfc3339(d.trim()).ok_or_else(|| {
            Error::validation("body.expirationDate", "\"expirationDate\" must be an RFC 3339 date-time")
        })?),
        None if tenant_scope => {
            return Err(Error::validation("body.expirationDate", "\"expirationDate\" is required"));
        }
        None => None,
    };
    if expires_at.is_some_and(|e| e <= orgplane_store::now_ms()) {
        return Err(Error::invalid(
            "AZURE_CLIENT_SECRET_EXPIRED",
            "body.expirationDate",
            "the client secret has already expired: create a new one",
        ));
    }
    Ok(Checked { tenant_id, client_id, subscription_id, secret, expires_at })
}

async fn prove(state: &AppState, c: &Checked) -> Result<(), Error> {
    let principal = AzurePrincipal {
        tenant_id: &c.tenant_id,
        client_id: &c.client_id,
        client_secret: &c.secret,
        subscription_id: c.subscription_id.as_deref(),
    };
    state.azure.validate(&principal).await
}

async fn save(
    state: &AppState,
    caller: &Caller,
    account: &AccountId,
    c: Checked,
    tenant_scope: bool,
) -> Result<(), Error> {
    let connection = AzureConnection {
        secret_enc: state.config.master_key.encrypt(c.secret.as_bytes()),
        secret_hint: mask_secret(&c.secret),
        tenant_id: c.tenant_id,
        client_id: c.client_id,
        subscription_id: c.subscription_id,
        expires_at: c.expires_at,
    };
    state.store.save_azure_connection(caller.org_id, account, tenant_scope, &connection).await
}

/// Connects the account to an Azure subscription once the principal is proven.
#[utoipa::path(post, path = "/azure/setup/credentials", tag = "credentials", request_body = AzureCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query, description = "Default account when absent")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn set(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<AzureCredentialsInput>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials).await?;
    let checked = check(&req, false)?;
    prove(&state, &checked).await?;
    save(&state, &caller, &account, checked, false).await?;
    Ok(Reply::Done)
}

/// Checks a principal without saving it.
#[utoipa::path(post, path = "/azure/setup/credentials/validation", tag = "credentials", request_body = AzureCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn validate_credentials(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<AzureCredentialsInput>,
) -> ApiResult<Reply> {
    account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials).await?;
    prove(&state, &check(&req, false)?).await?;
    Ok(Reply::Done)
}

/// Saves tenant-level credentials (no subscription; `expirationDate` required).
#[utoipa::path(post, path = "/azure/setup/tenant/credentials", tag = "credentials", request_body = AzureCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn set_tenant(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<AzureCredentialsInput>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials).await?;
    let checked = check(&req, true)?;
    prove(&state, &checked).await?;
    save(&state, &caller, &account, checked, true).await?;
    Ok(Reply::Done)
}

/// Checks tenant-level credentials without saving them.
#[utoipa::path(post, path = "/azure/setup/tenant/credentials/validation", tag = "credentials", request_body = AzureCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn validate_tenant(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<AzureCredentialsInput>,
) -> ApiResult<Reply> {
    account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials).await?;
    prove(&state, &check(&req, true)?).await?;
    Ok(Reply::Done)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureCredentialsItem {
    pub client_id: String,
    pub tenant_id: String,
    pub subscription_id: Option<String>,
    /// Masked: the first three characters only.
    pub client_secret: String,
    pub expiration_date: Option<String>,
}

/// The account's subscription principal, secret masked.
#[utoipa::path(get, path = "/azure/setup/credentials", tag = "credentials", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<AzureCredentialsItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    let c = state.store.azure_connection(caller.org_id, &account).await?.ok_or_else(|| {
        Error::not_found("Credentials_DOESNT_EXIST", "query.accountId", "the account has no Azure credentials")
    })?;
    Ok(Reply::item(
        "spotinst:azure:credentials",
        AzureCredentialsItem {
            client_id: c.client_id,
            tenant_id: c.tenant_id,
            subscription_id: c.subscription_id,
            client_secret: c.secret_hint,
            expiration_date: c.expires_at.map(to_spot),
        },
    ))
}
