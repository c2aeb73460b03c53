//! `/auth/mfa/webauthn`: security keys and passkeys as a second factor. Registering is a
//! ceremony of two requests (options out, the authenticator's answer in); so is signing in:
//! `POST /auth/mfa/webauthn/challenge` with the password, then `POST /oauth/token` with the
//! signed challenge.

use super::{Done, Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, ClientIp, NoParams, PathParam, Query};
use crate::throttle::{self, Attempt};
use axum::extract::State;
use orgplane_domain::ids::UserId;
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, mfa, secret, validate};
use orgplane_store::{Ceremony, WebauthnKey};
use orgplane_webauthn::{Credential, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

const KIND: &str = "orgplane:auth:mfa:webauthn";
/// How long a ceremony may take, as browsers time out after about a minute.
const CEREMONY_TTL_MS: i64 = 5 * 60 * 1000;

fn verifier(state: &AppState) -> Result<&Verifier, Error> {
    state.webauthn.as_deref().ok_or_else(|| {
        Error::rule(
            "WEBAUTHN_UNAVAILABLE",
            "security keys need public_url to name this installation by domain name (e.g. https://orgplane.example.com)",
        )
    })
}

fn new_challenge_id() -> String {
    format!("wch-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CeremonyStart {
    /// Send back with the answer.
    pub challenge_id: String,
    /// Pass to `navigator.credentials.create()` (registration) or `.get()` (sign-in).
    #[schema(value_type = Object)]
    pub options: Value,
}

/// Begins registering a security key or passkey for the caller.
#[utoipa::path(post, path = "/auth/mfa/webauthn/register", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Items<CeremonyStart>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn register(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    if caller.user_id.is_programmatic() {
        return Err(Error::rule(
            "MFA_NOT_FOR_PROGRAMMATIC_USERS",
            "programmatic users authenticate with their token only",
        )
        .into());
    }
    let existing: Vec<String> =
        state.store.webauthn_keys(&caller.user_id).await?.into_iter().map(|k| k.stored).collect();
    let started =
        verifier(&state)?.start_registration(caller.user_id.as_str(), &caller.email, &caller.email, &existing)?;
    let id = new_challenge_id();
    state
        .store
        .put_webauthn_challenge(&id, &caller.user_id, Ceremony::Register, &started.state, CEREMONY_TTL_MS)
        .await?;
    Ok(Reply::item(KIND, CeremonyStart { challenge_id: id, options: started.options }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterConfirm {
    pub challenge_id: String,
    /// What to call the key ("YubiKey 5C").
    pub name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Only when this key is the person's first second factor: ten single-use codes, shown once.
    pub recovery_codes: Option<Vec<String>>,
}

impl From<&WebauthnKey> for KeyInfo {
    fn from(k: &WebauthnKey) -> Self {
        KeyInfo {
            id: k.id.clone(),
            name: k.name.clone(),
            created_at: to_spot(k.created_at),
            last_used_at: k.last_used_at.map(to_spot),
            recovery_codes: None,
        }
    }
}

fn unknown_challenge() -> ApiError {
    ApiError(Error::invalid(
        "INVALID_WEBAUTHN_CHALLENGE",
        "body.challengeId",
        "the challenge is unknown, expired or already used",
    ))
}

/// Registers the key from the authenticator's answer.
#[utoipa::path(post, path = "/auth/mfa/webauthn/register/confirm", tag = "auth", request_body = RegisterConfirm,
    security(("bearer" = [])),
    responses((status = 200, body = Items<KeyInfo>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn confirm(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<RegisterConfirm>,
) -> ApiResult<Reply> {
    let name = validate::label("body.name", &req.name)?;
    let verifier = verifier(&state)?;
    let ceremony = state
        .store
        .take_webauthn_challenge(&req.challenge_id, &caller.user_id, Ceremony::Register)
        .await?
        .ok_or_else(unknown_challenge)?;
    let Credential { id, stored } = verifier.finish_registration(&req.credential, &ceremony)?;
    let first_factor = !super::mfa::enabled(&state, &caller.user_id).await?;
    let codes = if first_factor { mfa::new_recovery_codes() } else { Vec::new() };
    let hashes: Vec<String> = codes.iter().map(|c| secret::token_hash(&mfa::normalize_recovery_code(c))).collect();
    let key = WebauthnKey { id, name, stored, created_at: orgplane_store::now_ms(), last_used_at: None };
    state.store.add_webauthn_key(&caller.user_id, &key, &hashes).await?;
    let mut info = KeyInfo::from(&key);
    info.recovery_codes = first_factor.then_some(codes);
    Ok(Reply::item(KIND, info))
}

/// The caller's keys.
#[utoipa::path(get, path = "/auth/mfa/webauthn", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Items<KeyInfo>), (status = 401, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    let keys = state.store.webauthn_keys(&caller.user_id).await?;
    Ok(Reply::items(KIND, keys.iter().map(KeyInfo::from)))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordConfirmation {
    /// The caller's current password: a stolen session alone cannot remove a key.
    pub password: String,
}

/// Removes one of the caller's keys; needs the current password.
#[utoipa::path(delete, path = "/auth/mfa/webauthn/{keyId}", tag = "auth", request_body = PasswordConfirmation,
    security(("bearer" = [])), params(("keyId" = String, Path)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ClientIp(ip): ClientIp,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<PasswordConfirmation>,
) -> ApiResult<Reply> {
    let attempt = Attempt::new(Some(throttle::user_key(&caller.user_id)), ip);
    attempt.check(&state).await?;
    if !super::auth::password_matches(&state, &caller.user_id, req.password).await? {
        attempt.failed(&state).await?;
        return Err(Error::invalid("INVALID_CREDENTIALS", "body.password", "the password is wrong").into());
    }
    attempt.succeeded(&state).await?;
    if !state.store.delete_webauthn_key(&caller.user_id, &id).await? {
        return Err(Error::not_found("WEBAUTHN_KEY_DOESNT_EXIST", "path.keyId", "no such key").into());
    }
    Ok(Reply::Done)
}

#[derive(Deserialize, ToSchema)]
pub struct ChallengeRequest {
    pub username: String,
    pub password: String,
}

/// The first step of signing in with a key: checks the password (throttled like the password
/// grant) and returns a challenge for the person's keys. Sign in with `POST /oauth/token`
/// adding `webauthn_challenge_id` and `webauthn_response`.
#[utoipa::path(post, path = "/auth/mfa/webauthn/challenge", tag = "auth", request_body = ChallengeRequest,
    responses((status = 200, body = Items<CeremonyStart>), (status = 400, body = Failure), (status = 429, body = Failure)))]
pub async fn challenge(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    _: Query<NoParams>,
    Body(req): Body<ChallengeRequest>,
) -> ApiResult<Reply> {
    let subject = validate::email("body.username", &req.username).ok().map(|e| throttle::email_key(&e.key));
    let attempt = Attempt::new(subject, ip);
    attempt.check(&state).await?;
    let user = match super::oauth::check_password(&state, &req.username, req.password).await {
        Ok(user) => user,
        Err(e) => {
            attempt.failed(&state).await?;
            return Err(e.into());
        }
    };
    let keys: Vec<String> = state.store.webauthn_keys(&user).await?.into_iter().map(|k| k.stored).collect();
    if keys.is_empty() {
        return Err(Error::rule("WEBAUTHN_NOT_ENABLED", "this person has no security key").into());
    }
    let started = verifier(&state)?.start_authentication(&keys)?;
    let id = new_challenge_id();
    state.store.put_webauthn_challenge(&id, &user, Ceremony::SignIn, &started.state, CEREMONY_TTL_MS).await?;
    Ok(Reply::item(KIND, CeremonyStart { challenge_id: id, options: started.options }))
}

/// Checks a signed sign-in challenge for `user`. The challenge is used up either way.
pub(crate) async fn verify_sign_in(
    state: &AppState,
    user: &UserId,
    challenge_id: &str,
    response: &Value,
) -> Result<(), Error> {
    let verifier = verifier(state)?;
    let ceremony = state
        .store
        .take_webauthn_challenge(challenge_id, user, Ceremony::SignIn)
        .await?
        .ok_or_else(|| unknown_challenge().0)?;
    let keys: Vec<Credential> =
        state.store.webauthn_keys(user).await?.into_iter().map(|k| Credential { id: k.id, stored: k.stored }).collect();
    // Form-encoded clients send the response as a JSON string.
    let parsed;
    let response = match response {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                Error::invalid("INVALID_WEBAUTHN_RESPONSE", "body.webauthn_response", format!("not JSON: {e}"))
            })?;
            &parsed
        }
        other => other,
    };
    let (id, updated) = verifier.finish_authentication(response, &ceremony, &keys)?;
    state.store.webauthn_key_used(&id, updated.as_deref()).await
}
