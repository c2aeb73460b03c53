//! SAML 2.0 single sign-on, service-provider side: `/saml/{organizationId}/metadata`, the
//! SP-initiated redirects (`/saml/login?email=`, `/saml/{organizationId}/login`), the Assertion
//! Consumer Service (`POST /saml/{organizationId}/acs`), the organization picker
//! (`POST /saml/select`) and Spot's assertion exchange (`POST /oauth/samlToken`).
//!
//! Verification is orgplane-saml's (on a blocking thread); this module adds what needs I/O:
//! remembered AuthnRequest ids (consumed once), the replay cache, the just-in-time sign-in,
//! temporary tokens and the audit trail (every refusal is recorded with its reason).

use super::{Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, NoParams, PathParam, Query, QueryParams, read_body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::sso::{self, Destination};
use orgplane_domain::{Error, validate};
use orgplane_saml::chrono::{DateTime, Utc};
use orgplane_saml::{IdpConfig, MAX_RESPONSE_BYTES, ResponseInput, SamlResponse, SpConfig, VerifiedLogin};
use orgplane_store::sso::{SsoSettings, SsoSignIn};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How long an AuthnRequest id is accepted.
const REQUEST_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a login waits for the person to pick an organization.
const CHOICE_TTL_MS: i64 = 5 * 60 * 1000;
const SIGN_IN_KIND: &str = "orgplane:saml:signIn";

/// Our service provider for `org`: entity id `{public_url}/saml/{org}/metadata`, ACS
/// `{public_url}/saml/{org}/acs`.
pub fn sp_for(state: &AppState, org: OrgId) -> SpConfig {
    let base = state.config.public_url.trim_end_matches('/');
    SpConfig { entity_id: format!("{base}/saml/{org}/metadata"), acs_url: format!("{base}/saml/{org}/acs") }
}

/// The stored IdP (every check of the crate re-runs on deserialization).
pub fn idp_of(s: &SsoSettings) -> Result<IdpConfig, Error> {
    serde_json::from_str(&s.idp).map_err(|e| Error::internal(format!("stored IdP configuration: {e}")))
}

fn not_configured(field: &str) -> Error {
    Error::not_found("SSO_NOT_CONFIGURED", field, "single sign-on is not configured for this organization")
}

fn parse_org(id: &str) -> Result<OrgId, Error> {
    OrgId::parse(id).map_err(|e| e.in_field("path"))
}

/// The service provider's metadata for the organization's IdP (public).
#[utoipa::path(get, path = "/saml/{organizationId}/metadata", tag = "sso",
    params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, content_type = "application/samlmetadata+xml", body = String), (status = 400, body = Failure)))]
pub async fn metadata(
    State(state): State<AppState>,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let org = parse_org(&id)?;
    let xml = orgplane_saml::sp_metadata(&sp_for(&state, org)).map_err(Error::internal)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"))], xml)
        .into_response())
}

/// Builds an AuthnRequest for `org`, remembers its id and redirects the browser to the IdP.
async fn redirect_to_idp(state: &AppState, org: OrgId, settings: &SsoSettings) -> Result<Response, Error> {
    let idp = idp_of(settings)?;
    let request = orgplane_saml::authn_request(&sp_for(state, org), &idp, &org.to_string(), Utc::now())
        .map_err(|e| Error::internal(format!("AuthnRequest: {e}")))?;
    state.store.remember_saml_request(org, &request.id, orgplane_store::now_ms() + REQUEST_TTL_MS).await?;
    let location = HeaderValue::from_str(&request.redirect_url).map_err(Error::internal)?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response())
}

/// SP-initiated sign-in for an organization: 302 to its IdP with an AuthnRequest.
#[utoipa::path(get, path = "/saml/{organizationId}/login", tag = "sso",
    params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 302, description = "To the identity provider"), (status = 200, body = Failure), (status = 400, body = Failure), (status = 404, body = Failure)))]
pub async fn login_org(
    State(state): State<AppState>,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let org = parse_org(&id)?;
    let settings = state.store.sso_settings(org).await?.ok_or_else(|| not_configured("path.organizationId"))?;
    Ok(redirect_to_idp(&state, org, &settings).await?)
}

#[derive(Deserialize)]
pub struct LoginParams {
    pub email: Option<String>,
}

impl QueryParams for LoginParams {
    const ALLOWED: &'static [&'static str] = &["email"];
}

/// SP-initiated sign-in by email ("Sign in with SSO"): the person's default organization (their
/// first) decides, as in Spot. When it has SSO: 302 to its IdP. Otherwise — unknown email or a
/// password organization alike — `SSO_NOT_CONFIGURED`, so the answer never tells an unknown
/// email from a password user.
#[utoipa::path(get, path = "/saml/login", tag = "sso",
    params(("email" = String, Query, description = "The email the person typed")),
    responses((status = 302, description = "To the identity provider"), (status = 200, body = Failure), (status = 400, body = Failure)))]
pub async fn login_email(State(state): State<AppState>, q: Query<LoginParams>) -> ApiResult<Response> {
    let raw = q.params.email.as_deref().ok_or_else(|| Error::validation("query.email", "\"email\" is required"))?;
    let email = validate::email("query.email", raw)?;
    let Some((org, settings)) = state.store.sso_for_email(&email.key).await? else {
        return Err(Error::invalid(
            "SSO_NOT_CONFIGURED",
            "query.email",
            "single sign-on is not available for this email: sign in with your password",
        )
        .into());
    };
    Ok(redirect_to_idp(&state, org, &settings).await?)
}

/// A sign-in's answer: a temporary token, or the organizations to choose from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlSignIn {
    /// `SIGNED_IN` or `CHOOSE_ORGANIZATION` (then `POST /saml/select` with `loginId`).
    pub status: &'static str,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Seconds: 7200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Whether this sign-in created the membership (just-in-time provisioning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<OrgChoice>>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OrgChoice {
    pub organization_id: String,
    /// `ADMIN`, `VIEWER` or `NO_ACCESS`, from `OrgAndRole`.
    pub role: String,
}

/// What a pending choice keeps (server-side only).
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    email: String,
    first_name: String,
    last_name: String,
    attributes: BTreeMap<String, Vec<String>>,
    choices: Vec<OrgChoice>,
}

/// Records why a response was refused and answers `SAML_REJECTED`.
fn rejected(reason: &str, message: String) -> ApiError {
    orgplane_store::audit::note(|d| {
        if let Some(body) = d.body.as_object_mut() {
            body.insert("reason".into(), json!(reason));
        } else {
            d.body = json!({ "reason": reason });
        }
    });
    ApiError(Error::invalid("SAML_REJECTED", "body.SAMLResponse", message))
}

/// Same, for a refusal expressed as an `Error` (attributes, unknown ids, NO_ACCESS).
fn refused(e: Error) -> ApiError {
    let reason = match &e {
        Error::Invalid { code, .. } | Error::NotFound { code, .. } | Error::Forbidden { code, .. } => {
            code.to_lowercase()
        }
        _ => "internal".into(),
    };
    orgplane_store::audit::note(|d| {
        if let Some(body) = d.body.as_object_mut() {
            body.insert("reason".into(), json!(reason));
        } else {
            d.body = json!({ "reason": reason });
        }
    });
    ApiError(e)
}

enum Input {
    /// The HTTP-POST form field (base64 of a Response).
    Form(String),
    /// Raw XML (a Response or a bare Assertion), from `/oauth/samlToken`.
    Xml(String),
}

/// Verifies a response for `org` (signature, profile, InResponseTo against the remembered
/// requests, replay), off the async threads.
async fn verify(
    state: &AppState,
    org: OrgId,
    settings: &SsoSettings,
    input: Input,
    allow_unsolicited: bool,
) -> Result<VerifiedLogin, ApiError> {
    let idp = idp_of(settings)?;
    let sp = sp_for(state, org);
    // Which mode to verify in: whether the (still untrusted) document claims to answer a request.
    // The crate then checks the signed InResponseTo strictly either way.
    let claims_request = match &input {
        Input::Form(b64) => {
            if b64.len() > MAX_RESPONSE_BYTES {
                return Err(rejected(
                    "too_large",
                    format!("the SAMLResponse is larger than {MAX_RESPONSE_BYTES} bytes"),
                ));
            }
            let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map(|xml| String::from_utf8_lossy(&xml).contains("InResponseTo="))
                .unwrap_or(false)
        }
        Input::Xml(xml) => xml.contains("InResponseTo="),
    };
    let pending = if claims_request { Some(state.store.pending_saml_requests(org).await?) } else { None };
    let allow = allow_unsolicited;
    let result = tokio::task::spawn_blocking(move || {
        let response = match &input {
            Input::Form(b64) => SamlResponse::Base64(b64),
            Input::Xml(xml) => SamlResponse::Xml(xml),
        };
        let mut i = ResponseInput::new(response, &idp, &sp, Utc::now());
        i.possible_request_ids = pending;
        i.allow_idp_initiated = allow;
        orgplane_saml::verify_response(&i)
    })
    .await
    .map_err(Error::internal)?;
    let login = match result {
        Ok(login) => login,
        Err(e) => {
            tracing::info!(organization_id = %org, reason = e.reason(), "SAML response refused");
            return Err(rejected(e.reason(), format!("the SAML response was refused: {e}")));
        }
    };
    if let Some(request) = &login.in_response_to
        && !state.store.take_saml_request(org, request).await?
    {
        return Err(rejected("in_response_to_mismatch", "the authentication request was already answered".into()));
    }
    let expires = login_expiry(login.not_on_or_after);
    if !state.store.consume_assertion(org, &login.issuer, &login.assertion_id, expires).await? {
        return Err(rejected("replayed", "this assertion was already used".into()));
    }
    Ok(login)
}

fn login_expiry(t: DateTime<Utc>) -> i64 {
    // Keep replay entries at least the request lifetime, in case NotOnOrAfter is very short.
    t.timestamp_millis().max(orgplane_store::now_ms() + 60_000)
}

/// Whether `other`'s own configured IdP is the one that verified this login for `org`.
async fn trusts_same_idp(state: &AppState, other: OrgId, idp: &IdpConfig) -> Result<bool, Error> {
    Ok(match state.store.sso_settings(other).await? {
        Some(s) => {
            let theirs = idp_of(&s)?;
            theirs.entity_id() == idp.entity_id() && theirs.signing_cert_der() == idp.signing_cert_der()
        }
        None => false,
    })
}

/// Signs the verified person in to `org` (just-in-time provisioning and attributes) and mints
/// a temporary token (or a console session).
#[allow(clippy::too_many_arguments)]
async fn sign_in(
    state: &AppState,
    org: OrgId,
    settings: &SsoSettings,
    email: &str,
    first_name: &str,
    last_name: &str,
    attrs: &sso::Attributes,
    kind: TokenKind,
) -> Result<SamlSignIn, ApiError> {
    crate::audit::note_org(org);
    let grants = sso::grants_for(attrs, org).map_err(refused)?;
    let email = validate::email("assertion.Email", email).map_err(refused)?;
    let first = validate::person_name("assertion.FirstName", first_name).map_err(refused)?;
    let last = validate::person_name("assertion.LastName", last_name).map_err(refused)?;
    orgplane_store::audit::note(|d| d.user_email = Some(email.display.clone()));
    let who = SsoSignIn {
        email: email.display.clone(),
        email_key: email.key.clone(),
        first_name: first,
        last_name: last,
        grants,
    };
    let (user, provisioned) = state.store.sso_sign_in(org, settings, &who).await.map_err(refused)?;
    crate::audit::note_person(&user, None);
    let token = mint(state, &user, org, kind).await?;
    tracing::info!(organization_id = %org, user_id = %user, provisioned, "SAML sign-in");
    Ok(SamlSignIn {
        status: "SIGNED_IN",
        email: email.display,
        access_token: Some(token),
        token_type: Some("bearer"),
        expires_in: Some(ttl(kind) / 1000),
        organization_id: Some(org.to_string()),
        user_id: Some(user.to_string()),
        provisioned: Some(provisioned),
        login_id: None,
        choices: None,
    })
}

/// A temporary API token, or a console session when the browser signs in to the console.
async fn mint(state: &AppState, user: &UserId, org: OrgId, kind: TokenKind) -> Result<String, Error> {
    let access = secret::new_token(kind);
    let now = orgplane_store::now_ms();
    state.store.insert_token(kind, user, org, None, &access, Some(now + ttl(kind)), &Default::default()).await?;
    Ok(access.secret)
}

fn ttl(kind: TokenKind) -> i64 {
    if kind == TokenKind::Session { TokenKind::SESSION_IDLE_MS } else { TokenKind::TEMPORARY_TTL_MS }
}

/// After verification: where the login goes (one organization, or a choice), then sign-in.
async fn finish(
    state: &AppState,
    org: OrgId,
    settings: &SsoSettings,
    login: VerifiedLogin,
    allow_choice: bool,
    kind: TokenKind,
) -> Result<SamlSignIn, ApiError> {
    let attrs = sso::parse_attributes(&login.attributes).map_err(refused)?;
    let idp = idp_of(settings)?;
    let mut trusted = Vec::new();
    for (other, _) in &attrs.org_and_role {
        if *other != org && trusts_same_idp(state, *other, &idp).await? {
            trusted.push(*other);
        }
    }
    let destination = if allow_choice {
        sso::destination(&attrs, org, |o| trusted.contains(&o)).map_err(refused)?
    } else {
        Destination::One(org)
    };
    match destination {
        Destination::One(target) => {
            let target_settings = if target == org {
                settings.clone()
            } else {
                state.store.sso_settings(target).await?.ok_or_else(|| not_configured("assertion.OrgAndRole"))?
            };
            let (email, first, last) = (&login.email, &login.first_name, &login.last_name);
            sign_in(state, target, &target_settings, email, first, last, &attrs, kind).await
        }
        Destination::Choose(choices) => {
            let choices: Vec<OrgChoice> = choices
                .iter()
                .map(|(o, r)| OrgChoice { organization_id: o.to_string(), role: r.as_str().to_string() })
                .collect();
            let pending = PendingLogin {
                email: login.email.clone(),
                first_name: login.first_name,
                last_name: login.last_name,
                attributes: login.attributes,
                choices: choices.clone(),
            };
            let id = secret::new_token(TokenKind::Temporary);
            state
                .store
                .put_pending_login(
                    org,
                    &id.hash,
                    &serde_json::to_string(&pending).map_err(Error::internal)?,
                    orgplane_store::now_ms() + CHOICE_TTL_MS,
                )
                .await?;
            orgplane_store::audit::note(|d| d.user_email = Some(login.email.clone()));
            Ok(SamlSignIn {
                status: "CHOOSE_ORGANIZATION",
                email: login.email,
                access_token: None,
                token_type: None,
                expires_in: Some(CHOICE_TTL_MS / 1000),
                organization_id: None,
                user_id: None,
                provisioned: None,
                login_id: Some(id.secret),
                choices: Some(choices),
            })
        }
    }
}

/// The ACS form (HTTP-POST binding), for the OpenAPI document: `acs` reads the fields itself.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AcsForm {
    /// The IdP's response, base64.
    #[serde(rename = "SAMLResponse")]
    pub saml_response: String,
    /// The organization id, when the IdP sends one back.
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// The Assertion Consumer Service (HTTP-POST binding): form fields `SAMLResponse` and
/// `RelayState` (the organization id when present). SP-initiated responses must answer a
/// request we sent for this organization (each answered once); unsolicited ones are accepted
/// only when the organization allows IdP-initiated sign-in. Every assertion is accepted once.
#[utoipa::path(post, path = "/saml/{organizationId}/acs", tag = "sso",
    params(("organizationId" = String, Path, description = "12 digits")),
    request_body(content = AcsForm, content_type = "application/x-www-form-urlencoded", description = "SAMLResponse=…&RelayState=…"),
    responses((status = 200, body = Items<SamlSignIn>), (status = 400, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure), (status = 413, body = Failure)))]
pub async fn acs(State(state): State<AppState>, PathParam(id): PathParam, req: Request) -> Response {
    // A browser posting the IdP's form signs in to the console; other clients get the token.
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let headers = req.headers().clone();
    let kind = if browser { TokenKind::Session } else { TokenKind::Temporary };
    match (acs_sign_in(&state, &id, req, kind).await, browser) {
        (Ok(signed_in), false) => Reply::item(SIGN_IN_KIND, signed_in).into_response(),
        (Err(e), false) => e.into_response(),
        (Ok(signed_in), true) => crate::console::auth::after_saml(&state, &headers, signed_in),
        (Err(e), true) => crate::console::auth::saml_refused(e.0),
    }
}

async fn acs_sign_in(state: &AppState, id: &str, req: Request, kind: TokenKind) -> ApiResult<SamlSignIn> {
    let state = state.clone();
    let org = parse_org(id)?;
    let bytes = read_body(req, &state).await?;
    let mut response = None;
    let mut relay_state = None;
    for (k, v) in form_urlencoded::parse(&bytes) {
        match k.as_ref() {
            "SAMLResponse" => response = Some(v.into_owned()),
            "RelayState" => relay_state = Some(v.into_owned()),
            _ => {}
        }
    }
    orgplane_store::audit::note(|d| {
        d.body = json!({ "RelayState": relay_state, "SAMLResponseBytes": response.as_ref().map(String::len) });
    });
    let settings = state.store.sso_settings(org).await?.ok_or_else(|| not_configured("path.organizationId"))?;
    // Attempts are recorded in the organization's trail once it has SSO (before, on the platform's).
    crate::audit::note_org(org);
    let response = response
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| Error::validation("body.SAMLResponse", "\"SAMLResponse\" is required"))?;
    if let Some(rs) = relay_state.as_deref().map(str::trim).filter(|r| !r.is_empty())
        && rs != org.to_string()
    {
        return Err(rejected("relay_state_mismatch", format!("RelayState {rs:?} is not this organization's id")));
    }
    let login = verify(&state, org, &settings, Input::Form(response), settings.allow_idp_initiated).await?;
    finish(&state, org, &settings, login, true, kind).await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectRequest {
    /// From the `CHOOSE_ORGANIZATION` answer; single use, 5 minutes.
    pub login_id: String,
    /// One of the offered organizations.
    #[schema(value_type = String)]
    pub organization_id: serde_json::Value,
}

/// Finishes a sign-in whose `OrgAndRole` named several organizations.
#[utoipa::path(post, path = "/saml/select", tag = "sso", request_body = SelectRequest,
    responses((status = 200, body = Items<SamlSignIn>), (status = 400, body = Failure), (status = 403, body = Failure)))]
pub async fn select(
    State(state): State<AppState>,
    console: Option<axum::Extension<crate::console::client::ConsoleCall>>,
    _: Query<NoParams>,
    Body(req): Body<SelectRequest>,
) -> ApiResult<Reply> {
    let chosen = match &req.organization_id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let chosen = OrgId::parse(&chosen).map_err(|e| e.in_field("body"))?;
    let invalid =
        || Error::invalid("INVALID_LOGIN_ID", "body.loginId", "the sign-in is unknown, expired or already finished");
    let (acs_org, json) =
        state.store.take_pending_login(&secret::token_hash(&req.login_id)).await?.ok_or_else(invalid)?;
    crate::audit::note_org(acs_org);
    let pending: PendingLogin = serde_json::from_str(&json).map_err(Error::internal)?;
    orgplane_store::audit::note(|d| d.user_email = Some(pending.email.clone()));
    if !pending.choices.iter().any(|c| c.organization_id == chosen.to_string()) {
        return Err(refused(Error::invalid(
            "ORGANIZATION_NOT_OFFERED",
            "body.organizationId",
            "this organization was not one of the choices",
        )));
    }
    let acs_settings = state.store.sso_settings(acs_org).await?.ok_or_else(|| not_configured("body.loginId"))?;
    // The chosen organization must still trust the IdP that verified the login.
    if chosen != acs_org && !trusts_same_idp(&state, chosen, &idp_of(&acs_settings)?).await? {
        return Err(refused(Error::Forbidden {
            code: "SSO_NO_ORGANIZATION",
            message: "this organization no longer trusts the identity provider".into(),
        }));
    }
    let settings = state.store.sso_settings(chosen).await?.ok_or_else(|| not_configured("body.organizationId"))?;
    let attrs = sso::parse_attributes(&pending.attributes).map_err(refused)?;
    let kind = if console.is_some() { TokenKind::Session } else { TokenKind::Temporary };
    let (email, first, last) = (&pending.email, &pending.first_name, &pending.last_name);
    let signed_in = sign_in(&state, chosen, &settings, email, first, last, &attrs, kind).await?;
    Ok(Reply::item(SIGN_IN_KIND, signed_in))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlTokenParams {
    pub organization_id: Option<String>,
}

impl QueryParams for SamlTokenParams {
    const ALLOWED: &'static [&'static str] = &["organizationId"];
}

/// Spot's assertion exchange: the body is a signed SAML Response or bare Assertion, raw XML or
/// base64, for the organization in `organizationId`; the answer is a temporary token. The same
/// checks as the ACS apply (signature, audience, recipient, time, replay); an unsolicited
/// assertion is accepted here (there is no browser to forge a login into), a response that
/// answers a request must answer one of ours, once. `OrgAndRole` must name this organization.
#[utoipa::path(post, path = "/oauth/samlToken", tag = "sso",
    params(("organizationId" = String, Query, description = "12 digits")),
    request_body(content = String, content_type = "application/xml", description = "The signed Response or Assertion (XML or base64)"),
    responses((status = 200, body = Items<SamlSignIn>), (status = 400, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure), (status = 413, body = Failure)))]
pub async fn saml_token(State(state): State<AppState>, q: Query<SamlTokenParams>, req: Request) -> ApiResult<Reply> {
    let raw = q
        .params
        .organization_id
        .as_deref()
        .ok_or_else(|| Error::validation("query.organizationId", "\"organizationId\" is required"))?;
    let org = OrgId::parse(raw).map_err(|e| e.in_field("query"))?;
    let bytes = read_body(req, &state).await?;
    orgplane_store::audit::note(|d| d.body = json!({ "bytes": bytes.len() }));
    let settings = state.store.sso_settings(org).await?.ok_or_else(|| not_configured("query.organizationId"))?;
    crate::audit::note_org(org);
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(rejected("too_large", format!("the assertion is larger than {MAX_RESPONSE_BYTES} bytes")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| rejected("malformed", "the body is not UTF-8".into()))?.trim();
    if text.is_empty() {
        return Err(Error::validation("body", "the body must hold the SAML assertion (XML or base64)").into());
    }
    let xml = if text.starts_with('<') {
        text.to_string()
    } else {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| rejected("malformed", "the body is neither XML nor base64".into()))?;
        String::from_utf8(decoded).map_err(|_| rejected("malformed", "the decoded assertion is not UTF-8".into()))?
    };
    let login = verify(&state, org, &settings, Input::Xml(xml), true).await?;
    Ok(Reply::item(SIGN_IN_KIND, finish(&state, org, &settings, login, false, TokenKind::Temporary).await?))
}
