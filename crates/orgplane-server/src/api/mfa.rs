//! `/auth/mfa/totp`: enrol, confirm and disable a TOTP second factor. Once confirmed, the password
//! grant asks for a code (or a recovery code).

use super::{Done, Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, ClientIp, NoParams, Query};
use crate::throttle::{self, Attempt};
use axum::extract::State;
use orgplane_domain::ids::UserId;
use orgplane_domain::{Error, mfa, secret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "orgplane:auth:mfa:totp";

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrolment {
    /// Base32, for typing into an authenticator.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// Starts TOTP enrolment for the caller: a new secret, its `otpauth://` URI and QR code. Not
/// active until confirmed with a first code.
#[utoipa::path(post, path = "/auth/mfa/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Items<TotpEnrolment>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn enrol(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    if caller.user_id.is_programmatic() {
        return Err(Error::rule(
            "MFA_NOT_FOR_PROGRAMMATIC_USERS",
            "programmatic users authenticate with their token only",
        )
        .into());
    }
    let seed = mfa::new_totp_secret();
    state.store.begin_totp(&caller.user_id, &state.config.master_key.encrypt(&seed)).await?;
    let e = mfa::enrolment(&seed, &caller.email)?;
    Ok(Reply::item(KIND, TotpEnrolment { secret: e.secret_base32, otpauth_uri: e.otpauth_uri, qr_svg: e.qr_svg }))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// A current 6-digit code (or, to disable, a recovery code).
    pub code: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown once.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a first code and returns ten single-use recovery codes (shown once).
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "auth", request_body = CodeRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<RecoveryCodes>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn confirm(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<CodeRequest>,
) -> ApiResult<Reply> {
    let totp = state
        .store
        .totp_state(&caller.user_id)
        .await?
        .ok_or_else(|| Error::rule("MFA_NOT_STARTED", "start enrolment first: POST /auth/mfa/totp"))?;
    if totp.confirmed {
        return Err(Error::rule("MFA_ALREADY_ENABLED", "TOTP is already enabled").into());
    }
    let seed = state.config.master_key.decrypt(&totp.secret_enc)?;
    let step = mfa::check_code(&seed, &req.code, now_secs()).ok_or_else(invalid_code)?;
    if !state.store.use_totp_step(&caller.user_id, step as i64).await? {
        return Err(invalid_code().into());
    }
    let codes = mfa::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| secret::token_hash(&mfa::normalize_recovery_code(c))).collect();
    state.store.confirm_totp(&caller.user_id, &hashes).await?;
    Ok(Reply::item(KIND, RecoveryCodes { recovery_codes: codes }))
}

/// Disables TOTP; needs a current code or a recovery code.
#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "auth", request_body = CodeRequest, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn disable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ClientIp(ip): ClientIp,
    _: Query<NoParams>,
    Body(req): Body<CodeRequest>,
) -> ApiResult<Reply> {
    let attempt = Attempt::new(Some(throttle::user_key(&caller.user_id)), ip);
    attempt.check(&state).await?;
    if !verify_second_factor(&state, &caller.user_id, &req.code).await? {
        attempt.failed(&state).await?;
        return Err(invalid_code().into());
    }
    attempt.succeeded(&state).await?;
    state.store.disable_totp(&caller.user_id).await?;
    Ok(Reply::Done)
}

/// Whether the person has a second factor: a confirmed TOTP or a security key.
pub(crate) async fn enabled(state: &AppState, user: &UserId) -> Result<bool, Error> {
    Ok(state.store.totp_state(user).await?.is_some_and(|t| t.confirmed)
        || !state.store.webauthn_keys(user).await?.is_empty())
}

/// Checks a code: a TOTP code (each time step accepted once) or an unused recovery code (used
/// up; people with only security keys have them too). Fails with `MFA_NOT_ENABLED` when the
/// person has no second factor.
pub(crate) async fn verify_second_factor(state: &AppState, user: &UserId, code: &str) -> Result<bool, Error> {
    if !enabled(state, user).await? {
        return Err(Error::rule("MFA_NOT_ENABLED", "no second factor is enabled"));
    }
    let totp = state.store.totp_state(user).await?.filter(|t| t.confirmed);
    let trimmed = code.trim();
    if let Some(totp) = totp.filter(|_| trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit())) {
        let seed = state.config.master_key.decrypt(&totp.secret_enc)?;
        return match mfa::check_code(&seed, trimmed, now_secs()) {
            Some(step) => state.store.use_totp_step(user, step as i64).await,
            None => Ok(false),
        };
    }
    state.store.use_recovery_code(user, &secret::token_hash(&mfa::normalize_recovery_code(trimmed))).await
}

fn invalid_code() -> Error {
    Error::invalid("INVALID_MFA_CODE", "body.code", "the code is wrong, expired or already used")
}

fn now_secs() -> u64 {
    (orgplane_store::now_ms() / 1000) as u64
}
