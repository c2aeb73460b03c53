//! Liveness and readiness probes.

use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use axum::extract::State;

/// Liveness: the process answers. Touches no database.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = super::Done)))]
pub async fn healthz() -> Reply {
    Reply::Done
}

/// Readiness: the database answers a query.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = super::Done), (status = 500, body = super::Failure)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Reply> {
    state.store.ping().await?;
    Ok(Reply::Done)
}
