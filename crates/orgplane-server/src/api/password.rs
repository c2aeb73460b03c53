//! `/auth/password…`: change a password, and reset a forgotten one by an emailed single-use link.

use super::{Done, Failure};
use crate::AppState;
use crate::emails;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, ClientIp, NoParams, Query};
use crate::throttle::{self, Attempt};
use axum::extract::State;
use orgplane_domain::ids::UserId;
use orgplane_domain::secret::{self, RESET_LINK_TTL_MS};
use orgplane_domain::{Error, validate};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password (the current one is required) and ends their other temporary
/// sessions. Personal tokens keep working.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn change(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ClientIp(ip): ClientIp,
    _: Query<NoParams>,
    Body(req): Body<ChangePasswordRequest>,
) -> ApiResult<Reply> {
    let attempt = Attempt::new(Some(throttle::user_key(&caller.user_id)), ip);
    attempt.check(&state).await?;
    if !super::auth::password_matches(&state, &caller.user_id, req.current_password.clone()).await? {
        attempt.failed(&state).await?;
        return Err(
            Error::invalid("INVALID_CREDENTIALS", "body.currentPassword", "the current password is wrong").into()
        );
    }
    attempt.succeeded(&state).await?;
    validate::password("body.newPassword", &req.new_password)?;
    let hash = super::auth::hash_password(req.new_password).await?;
    state.store.set_password(&caller.user_id, &hash, Some(caller.token_id)).await?;
    if !caller.email.is_empty() {
        state.store.enqueue_email(&emails::password_changed(&caller.email)).await?;
    }
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

/// Emails a single-use reset link (valid one hour) when the address belongs to a person. The
/// answer is the same either way, so it does not reveal who has an account.
#[utoipa::path(post, path = "/auth/password/reset", tag = "auth", request_body = ResetRequest,
    responses((status = 200, body = Done), (status = 400, body = Failure)))]
pub async fn request_reset(
    State(state): State<AppState>,
    _: Query<NoParams>,
    Body(req): Body<ResetRequest>,
) -> ApiResult<Reply> {
    let email = validate::email("body.email", &req.email)?;
    if let Some(person) = state.store.find_credentials(&email.key).await? {
        crate::audit::note_person(&person.user_id, Some(&email.display));
        let link = secret::new_password_link();
        let expires = orgplane_store::now_ms() + RESET_LINK_TTL_MS;
        state.store.create_password_link(&person.user_id, &link.hash, expires).await?;
        let url = format!("{}/reset-password?token={}", state.config.public_url, link.secret);
        state.store.enqueue_email(&emails::password_reset(&email.display, &url)).await?;
    }
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmResetRequest {
    /// The secret from the emailed link.
    pub token: String,
    pub new_password: String,
}

/// Sets a new password with a reset or invitation link. Each link works once.
#[utoipa::path(post, path = "/auth/password/reset/confirm", tag = "auth", request_body = ConfirmResetRequest,
    responses((status = 200, body = Done), (status = 400, body = Failure)))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    _: Query<NoParams>,
    Body(req): Body<ConfirmResetRequest>,
) -> ApiResult<Reply> {
    // Check the new password before using up the link, so a weak one can be corrected.
    validate::password("body.newPassword", &req.new_password)?;
    let user: UserId =
        state.store.redeem_password_link(&secret::token_hash(req.token.trim())).await?.ok_or_else(|| {
            Error::invalid("INVALID_RESET_TOKEN", "body.token", "the link is unknown, expired or already used")
        })?;
    crate::audit::note_person(&user, None);
    let hash = super::auth::hash_password(req.new_password).await?;
    state.store.set_password(&user, &hash, None).await?;
    // A reset is how a locked-out person gets back in.
    if let Some(key) = state.store.email_key_of(&user).await? {
        state.store.clear_throttle(&throttle::email_key(&key)).await?;
    }
    Ok(Reply::Done)
}
