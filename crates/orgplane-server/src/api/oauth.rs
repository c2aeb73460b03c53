//! `POST /oauth/token`: temporary tokens, shaped as Spot's OAuth responses.

use super::{Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{ClientIp, FormOrJson, NoParams, Query};
use crate::throttle::{self, Attempt};
use axum::extract::State;
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::{Error, validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 8693's grant type: a programmatic user's permanent token for a temporary token.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only `subject_token_type` accepted with it.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Form-encoded or JSON. `grant_type` is `password` (with `username`, `password`, optional
/// `organizationId`), `refresh_token` (with `refresh_token`), or
/// `urn:ietf:params:oauth:grant-type:token-exchange` (with `subject_token`, a programmatic
/// user's token).
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(alias = "grantType")]
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The organization the token acts in; the person's first organization when absent.
    #[serde(alias = "organization_id", rename = "organizationId")]
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrgIdInput>,
    #[serde(alias = "refreshToken")]
    pub refresh_token: Option<String>,
    /// The second factor (a TOTP code or a recovery code) when the person has MFA enabled.
    #[serde(alias = "mfaCode")]
    pub mfa_code: Option<String>,
    /// Or a security key: the challenge from `POST /auth/mfa/webauthn/challenge`…
    #[serde(alias = "webauthnChallengeId")]
    pub webauthn_challenge_id: Option<String>,
    /// …and the `PublicKeyCredential` from `navigator.credentials.get()` (JSON, or a JSON string).
    #[serde(alias = "webauthnResponse")]
    #[schema(value_type = Option<Object>)]
    pub webauthn_response: Option<serde_json::Value>,
    /// Token exchange: the programmatic user's permanent token (`opu_…`).
    #[serde(alias = "subjectToken")]
    pub subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token` (the default).
    #[serde(alias = "subjectTokenType")]
    pub subject_token_type: Option<String>,
}

/// Organization ids arrive as text (forms) or numbers (JSON).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum OrgIdInput {
    Text(String),
    Number(i64),
}

impl OrgIdInput {
    /// The organization id, or an error naming `field`.
    pub fn parse(&self, field: &str) -> Result<OrgId, Error> {
        let text = match self {
            OrgIdInput::Text(s) => s.clone(),
            OrgIdInput::Number(n) => n.to_string(),
        };
        OrgId::parse(&text).map_err(|e| Error::validation(field, e.to_string()))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemporaryToken {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds: 7200.
    pub expires_in: i64,
    /// Exchange it once for a new pair with `grant_type=refresh_token`. Absent for a token
    /// exchange (the programmatic user exchanges its permanent token again instead) and for
    /// console sessions (which slide instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn invalid_grant(message: &str) -> Error {
    Error::invalid("INVALID_GRANT", "body.grant_type", message)
}

/// Issues a temporary token (2 hours) and a single-use refresh token; for a token exchange, a
/// temporary token alone, with the scope of the token it was exchanged for.
#[utoipa::path(post, path = "/oauth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = Items<TemporaryToken>), (status = 400, body = Failure)))]
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    console: Option<axum::Extension<crate::console::client::ConsoleCall>>,
    _: Query<NoParams>,
    FormOrJson(req): FormOrJson<TokenRequest>,
) -> ApiResult<Reply> {
    if req.grant_type == TOKEN_EXCHANGE {
        return exchange(&state, ip, &req).await;
    }
    let (user, org) = match req.grant_type.as_str() {
        "password" => {
            let subject = req
                .username
                .as_deref()
                .and_then(|u| validate::email("body.username", u).ok())
                .map(|e| throttle::email_key(&e.key));
            let attempt = Attempt::new(subject, ip);
            attempt.check(&state).await?;
            match password_grant(&state, &req).await {
                Ok(found) => {
                    attempt.succeeded(&state).await?;
                    found
                }
                Err(e) => {
                    if matches!(
                        &e,
                        Error::Invalid {
                            code: "INVALID_CREDENTIALS"
                                | "INVALID_MFA_CODE"
                                | "INVALID_WEBAUTHN_RESPONSE"
                                | "INVALID_WEBAUTHN_CHALLENGE",
                            ..
                        }
                    ) {
                        attempt.failed(&state).await?;
                    }
                    return Err(e.into());
                }
            }
        }
        "refresh_token" => {
            let refresh = req
                .refresh_token
                .as_deref()
                .ok_or_else(|| Error::validation("body.refresh_token", "\"refresh_token\" is required"))?;
            let (user, org) = state
                .store
                .redeem_refresh_token(&secret::token_hash(refresh))
                .await?
                .ok_or_else(|| invalid_grant("the refresh token is unknown, expired or already used"))?;
            crate::audit::note_person(&user, None);
            crate::audit::note_org(org);
            // The person may have left the organization since.
            state
                .store
                .find_membership(&user, org)
                .await?
                .ok_or_else(|| invalid_grant("the refresh token is unknown, expired or already used"))?;
            refuse_if_sso_enforced(&state, &user, org).await?;
            (user, org)
        }
        _ => {
            return Err(Error::validation(
                "body.grant_type",
                format!("\"grant_type\" must be password, refresh_token or {TOKEN_EXCHANGE}"),
            )
            .into());
        }
    };
    let now = orgplane_store::now_ms();
    let store = &state.store;
    if console.is_some() {
        // The console signs people in with the same checks, into a sliding session instead.
        let session = secret::new_token(TokenKind::Session);
        let ttl = TokenKind::SESSION_IDLE_MS;
        store
            .insert_token(TokenKind::Session, &user, org, None, &session, Some(now + ttl), &Default::default())
            .await?;
        return Ok(Reply::item(
            "spotinst:oauth2:token",
            TemporaryToken {
                access_token: session.secret,
                token_type: "bearer",
                expires_in: ttl / 1000,
                refresh_token: None,
            },
        ));
    }
    let access = secret::new_token(TokenKind::Temporary);
    let refresh = secret::new_token(TokenKind::Refresh);
    store
        .insert_token(
            TokenKind::Temporary,
            &user,
            org,
            None,
            &access,
            Some(now + TokenKind::TEMPORARY_TTL_MS),
            &Default::default(),
        )
        .await?;
    store
        .insert_token(
            TokenKind::Refresh,
            &user,
            org,
            None,
            &refresh,
            Some(now + TokenKind::REFRESH_TTL_MS),
            &Default::default(),
        )
        .await?;
    Ok(Reply::item(
        "spotinst:oauth2:token",
        TemporaryToken {
            access_token: access.secret,
            token_type: "bearer",
            expires_in: TokenKind::TEMPORARY_TTL_MS / 1000,
            refresh_token: Some(refresh.secret),
        },
    ))
}

/// The token exchange: a valid programmatic token (from an allowed address, of a user still in
/// its organization) buys a temporary token for the same user and organization, with the same
/// scope. Temporary tokens cannot be exchanged (no chain of renewals), nor can people's tokens
/// (their sessions come from the password grant, where MFA and SSO rules apply).
async fn exchange(state: &AppState, ip: Option<std::net::IpAddr>, req: &TokenRequest) -> ApiResult<Reply> {
    if let Some(kind) = req.subject_token_type.as_deref().filter(|k| *k != ACCESS_TOKEN_TYPE) {
        return Err(Error::validation(
            "body.subject_token_type",
            format!("\"subject_token_type\" must be {ACCESS_TOKEN_TYPE}, not {kind:?}"),
        )
        .into());
    }
    let subject = req
        .subject_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::validation("body.subject_token", "\"subject_token\" is required"))?;
    let refused = || {
        Error::invalid(
            "INVALID_GRANT",
            "body.subject_token",
            "the subject token is unknown, expired or not a programmatic user's token",
        )
    };
    if TokenKind::of_secret(subject) != Some(TokenKind::Programmatic) {
        return Err(refused().into());
    }
    let (caller, scope) = state.store.resolve_token(&secret::token_hash(subject), ip).await?.ok_or_else(refused)?;
    crate::audit::note_caller(&caller);
    let access = secret::new_token(TokenKind::Temporary);
    let expires_at = orgplane_store::now_ms() + TokenKind::TEMPORARY_TTL_MS;
    state
        .store
        .insert_token(TokenKind::Temporary, &caller.user_id, caller.org_id, None, &access, Some(expires_at), &scope)
        .await?;
    Ok(Reply::item(
        "spotinst:oauth2:token",
        TemporaryToken {
            access_token: access.secret,
            token_type: "bearer",
            expires_in: TokenKind::TEMPORARY_TTL_MS / 1000,
            refresh_token: None,
        },
    ))
}

async fn password_grant(state: &AppState, req: &TokenRequest) -> Result<(UserId, OrgId), Error> {
    let username =
        req.username.as_deref().ok_or_else(|| Error::validation("body.username", "\"username\" is required"))?;
    let password =
        req.password.clone().ok_or_else(|| Error::validation("body.password", "\"password\" is required"))?;
    let org_id = req.organization_id.as_ref().map(|o| o.parse("body.organizationId")).transpose()?;
    let user = check_password(state, username, password).await?;
    let memberships = state.store.list_memberships(&user).await?;
    let org = match org_id {
        Some(id) => {
            memberships.iter().find(|m| m.organization.id == id).map(|m| m.organization.id).ok_or_else(|| {
                Error::invalid("NOT_A_MEMBER", "body.organizationId", "you are not a member of this organization")
            })?
        }
        None => memberships
            .first()
            .map(|m| m.organization.id)
            .ok_or_else(|| Error::rule("NO_ORGANIZATION", "this user belongs to no organization"))?,
    };
    crate::audit::note_org(org);
    refuse_if_sso_enforced(state, &user, org).await?;
    if super::mfa::enabled(state, &user).await? {
        match (&req.webauthn_challenge_id, &req.webauthn_response, &req.mfa_code) {
            (Some(challenge), Some(response), _) => {
                super::webauthn::verify_sign_in(state, &user, challenge, response).await?;
            }
            (_, _, Some(code)) => {
                if !super::mfa::verify_second_factor(state, &user, code).await? {
                    return Err(Error::invalid(
                        "INVALID_MFA_CODE",
                        "body.mfa_code",
                        "the code is wrong, expired or already used",
                    ));
                }
            }
            _ => {
                return Err(Error::invalid(
                    "MFA_REQUIRED",
                    "body.mfa_code",
                    "this account has a second factor: send mfa_code, or webauthn_challenge_id and \
                     webauthn_response (from POST /auth/mfa/webauthn/challenge)",
                ));
            }
        }
    }
    Ok((user, org))
}

/// Spot: once an organization enforces SSO, password sign-in is refused for everyone in it,
/// admins included; a person whose default (first) organization enforces SSO signs in with SSO
/// whatever organization they ask for.
pub(crate) async fn refuse_if_sso_enforced(state: &AppState, user: &UserId, org: OrgId) -> Result<(), Error> {
    if let Some(enforcing) = state.store.sso_enforced_for(user, org).await? {
        let which = if enforcing == org { "this organization" } else { "your default organization" };
        return Err(Error::invalid(
            "SSO_REQUIRED",
            "body.username",
            format!(
                "{which} ({enforcing}) requires single sign-on: sign in with SSO (GET /saml/login?email=…) instead of a password"
            ),
        ));
    }
    Ok(())
}

/// Checks an email and password; the person on success. An unknown email still pays for one
/// hash verification, so timing does not reveal who has an account. Failed attempts are
/// recorded in the audit trail with the person when the email is theirs.
pub(crate) async fn check_password(state: &AppState, username: &str, password: String) -> Result<UserId, Error> {
    let bad_credentials = || Error::invalid("INVALID_CREDENTIALS", "body.username", "wrong email or password");
    let credentials = match validate::email("body.username", username) {
        Ok(email) => state.store.find_credentials(&email.key).await?,
        Err(_) => None,
    };
    orgplane_store::audit::note(|d| d.user_email = Some(username.trim().chars().take(320).collect()));
    if let Some(c) = &credentials {
        crate::audit::note_person(&c.user_id, None);
    }
    let phc = credentials
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| secret::dummy_password_hash().to_string());
    let verified =
        tokio::task::spawn_blocking(move || secret::verify_password(&password, &phc)).await.map_err(Error::internal)?;
    match credentials {
        Some(c) if verified && c.password_hash.is_some() => Ok(c.user_id),
        _ => Err(bad_credentials()),
    }
}
