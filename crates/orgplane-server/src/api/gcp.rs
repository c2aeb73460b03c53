//! `/gcp/setup/credentials…` (spot-api.md §3.7, C8–C9): connecting an account to a GCP project
//! with a service-account key, proven by exchanging a signed JWT for a token at the key's
//! `token_uri` (an allowed host only). The private key is sealed and never shown again.

use super::{Done, Failure};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, Query};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::access::Action;
use orgplane_domain::cloud::ServiceAccount;
use orgplane_store::GcpConnection;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

const FIELD: &str = "body.serviceAccount";

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpCredentialsInput {
    /// Google's key file, snake_case keys verbatim.
    #[schema(value_type = Object)]
    pub service_account: ServiceAccount,
}

async fn prove(state: &AppState, sa: &ServiceAccount) -> Result<(), Error> {
    sa.check(FIELD)?;
    state.gcp.validate(sa).await
}

/// Connects the account to the key's GCP project once the key is proven.
#[utoipa::path(post, path = "/gcp/setup/credentials", tag = "credentials", request_body = GcpCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query, description = "Default account when absent")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn set(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<GcpCredentialsInput>,
) -> ApiResult<Reply> {
    let account =
        super::setup::credentials::account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials)
            .await?;
    let sa = req.service_account;
    prove(&state, &sa).await?;
    let mut public = serde_json::to_value(&sa).expect("serialises");
    public.as_object_mut().expect("an object").remove("private_key");
    let connection = GcpConnection {
        project_id: sa.project_id.clone(),
        client_email: sa.client_email.clone(),
        public_part: public.to_string(),
        private_key_enc: state.config.master_key.encrypt(sa.private_key.as_bytes()),
    };
    state.store.save_gcp_connection(caller.org_id, &account, &connection).await?;
    Ok(Reply::Done)
}

/// Checks a key without saving it.
#[utoipa::path(post, path = "/gcp/setup/credentials/validation", tag = "credentials", request_body = GcpCredentialsInput,
    security(("bearer" = [])), params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn validate_credentials(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(req): Body<GcpCredentialsInput>,
) -> ApiResult<Reply> {
    super::setup::credentials::account_or_default(&state, &caller, q.account_id, Action::SetAccountCredentials).await?;
    prove(&state, &req.service_account).await?;
    Ok(Reply::Done)
}

/// The account's service account, without its private key (Terraform reads `client_email`, …).
#[utoipa::path(get, path = "/gcp/setup/credentials", tag = "credentials", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    let account =
        super::setup::credentials::account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    let c = state.store.gcp_connection(caller.org_id, &account).await?.ok_or_else(|| {
        Error::not_found("ServiceAccount_DOESNT_EXIST", "query.accountId", "the account has no GCP service account")
    })?;
    let public: Value = serde_json::from_str(&c.public_part).map_err(Error::internal)?;
    Ok(Reply::item("spotinst:gcp:credentials", public))
}
