//! `/auth`: sign-up and personal API tokens (orgplane additions, Spot's envelope).

use super::{Done, Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::model::{TokenInfo, TokenScope};
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::timefmt::{parse_rfc3339, to_spot};
use orgplane_domain::{Error, validate};
use orgplane_store::{NewPerson, NewRegistration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub user: RegisterUser,
    pub organization: RegisterOrganization,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterUser {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// At least 8 characters with a digit, an upper-case, a lower-case and a special character.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterOrganization {
    /// The company name.
    pub name: String,
    pub division: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// 12 digits, as a string.
    pub organization_id: String,
    pub account_id: String,
    pub user_id: String,
}

/// Sign up: creates the organization (plan `trial`), its default account and the person as its
/// admin, in one transaction.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 200, body = Items<Registration>), (status = 400, body = Failure), (status = 403, body = Failure)))]
pub async fn register(
    State(state): State<AppState>,
    _: Query<NoParams>,
    Body(req): Body<RegisterRequest>,
) -> ApiResult<Reply> {
    if !state.config.signup_open {
        return Err(Error::Forbidden {
            code: "SIGNUP_CLOSED",
            message: "sign-up is closed on this installation".into(),
        }
        .into());
    }
    let first_name = validate::person_name("body.user.firstName", &req.user.first_name)?;
    let last_name = validate::person_name("body.user.lastName", &req.user.last_name)?;
    let email = validate::email("body.user.email", &req.user.email)?;
    validate::password("body.user.password", &req.user.password)?;
    let org_name = validate::entity_name("body.organization.name", &req.organization.name)?;
    let division = req
        .organization
        .division
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| validate::label("body.organization.division", d))
        .transpose()?;
    let password_hash = hash_password(req.user.password).await?;
    orgplane_store::audit::note(|d| d.user_email = Some(email.display.clone()));
    let (org_id, account_id, user_id) = state
        .store
        .register(&NewRegistration {
            org_name,
            division,
            person: NewPerson {
                first_name,
                last_name,
                email: email.display,
                email_key: email.key,
                password_hash: Some(password_hash),
            },
        })
        .await?;
    tracing::info!(organization_id = %org_id, user_id = %user_id, "organization registered");
    Ok(Reply::item(
        "spotinst:auth:registration",
        Registration {
            organization_id: org_id.to_string(),
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
        },
    ))
}

/// Argon2id is deliberately slow: keep it off the async worker threads.
/// Whether `password` is the person's current password (false when they have none). The hash
/// is checked off the async threads, like every Argon2 computation.
pub(crate) async fn password_matches(
    state: &AppState,
    user: &orgplane_domain::ids::UserId,
    password: String,
) -> Result<bool, Error> {
    let current = state.store.password_hash(user).await?;
    let phc = current.clone().unwrap_or_else(|| secret::dummy_password_hash().to_string());
    let verified =
        tokio::task::spawn_blocking(move || secret::verify_password(&password, &phc)).await.map_err(Error::internal)?;
    Ok(current.is_some() && verified)
}

pub(crate) async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || secret::hash_password(&password)).await.map_err(Error::internal)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenRequest {
    pub name: String,
    /// RFC 3339 time after which the token stops working; none means it does not expire.
    pub expires_at: Option<String>,
    /// Only read actions (describe, list, get), whatever the owner may do.
    #[serde(default)]
    pub read_only: bool,
    /// IP addresses or CIDR blocks the token may be used from; empty means anywhere.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// A personal token as listed: never the secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenItem {
    pub token_id: i64,
    /// The owner (`u-…` or `pu-…`).
    pub user_id: String,
    pub name: Option<String>,
    pub token_last_digits: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub read_only: bool,
    pub allowed_ips: Vec<String>,
}

impl From<TokenInfo> for TokenItem {
    fn from(t: TokenInfo) -> Self {
        TokenItem {
            token_id: t.id,
            user_id: t.user_id.to_string(),
            name: t.name,
            token_last_digits: t.last_digits,
            created_at: to_spot(t.created_at),
            expires_at: t.expires_at.map(to_spot),
            last_used_at: t.last_used_at.map(to_spot),
            last_used_ip: t.last_used_ip,
            read_only: t.scope.read_only,
            allowed_ips: t.scope.allowed_ips,
        }
    }
}

/// A token just created: the only response that carries the secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenItem,
    /// The secret. Shown once; only its hash is stored.
    pub token: String,
}

/// Creates a personal token for the caller in the caller's organization.
#[utoipa::path(post, path = "/auth/tokens", tag = "auth", request_body = CreateTokenRequest, security(("bearer" = [])),
    responses((status = 200, body = Items<CreatedToken>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<CreateTokenRequest>,
) -> ApiResult<Reply> {
    let name = validate::label("body.name", &req.name)?;
    // People who only ever signed in with SSO have no password: a personal token outlives any
    // SSO session, so Spot asks them to set a password first.
    if state.store.password_hash(&caller.user_id).await?.is_none() {
        return Err(Error::invalid(
            "PASSWORD_REQUIRED",
            "body",
            "set a password first (POST /auth/password/reset, then the link): people who sign in with SSO need one before creating a personal token",
        )
        .into());
    }
    let expires_at = match req.expires_at.as_deref() {
        None => None,
        Some(raw) => {
            let at = parse_rfc3339(raw)
                .ok_or_else(|| Error::validation("body.expiresAt", "\"expiresAt\" must be an RFC 3339 date-time"))?;
            if at <= orgplane_store::now_ms() {
                return Err(Error::validation("body.expiresAt", "\"expiresAt\" must be in the future").into());
            }
            Some(at)
        }
    };
    let allowed_ips = req
        .allowed_ips
        .iter()
        .enumerate()
        .map(|(i, ip)| validate::cidr(&format!("body.allowedIps[{i}]"), ip))
        .collect::<Result<Vec<_>, _>>()?;
    let scope = TokenScope { read_only: req.read_only, allowed_ips };
    let token = secret::new_token(TokenKind::Personal);
    let info = state
        .store
        .insert_token(TokenKind::Personal, &caller.user_id, caller.org_id, Some(&name), &token, expires_at, &scope)
        .await?;
    Ok(Reply::item("orgplane:auth:token", CreatedToken { info: info.into(), token: token.secret }))
}

/// Lists the caller's personal tokens in the caller's organization, masked.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Items<TokenItem>), (status = 401, body = Failure)))]
pub async fn list_tokens(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    let tokens = state.store.list_tokens_of(&caller.user_id, caller.org_id).await?;
    Ok(Reply::items("orgplane:auth:token", tokens.into_iter().map(TokenItem::from)))
}

/// Revokes one of the caller's personal tokens, effective immediately.
#[utoipa::path(delete, path = "/auth/tokens/{tokenId}", tag = "auth", security(("bearer" = [])),
    params(("tokenId" = i64, Path, description = "The integer token id")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(token_id): PathParam,
) -> ApiResult<Reply> {
    let token_id = parse_token_id(&token_id)?;
    state.store.delete_token(caller.org_id, token_id, Some(&caller.user_id)).await?;
    Ok(Reply::Done)
}

pub(crate) fn parse_token_id(raw: &str) -> Result<i64, Error> {
    raw.parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::validation("path.tokenId", "\"tokenId\" must be a positive integer"))
}
