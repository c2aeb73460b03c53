//! `/setup/organization/{organizationId}/sso`: the organization's SAML identity provider and SSO
//! settings (Spot's Settings → Security → Identity Providers), admins only.

use super::super::{Done, Failure, Items};
use super::organization::membership_in;
use crate::AppState;
use crate::api::saml::{idp_of, sp_for};
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::access::Action;
use orgplane_domain::ids::OrgId;
use orgplane_domain::sso::{AllowedAccounts, DefaultRole};
use orgplane_domain::timefmt::to_spot;
use orgplane_saml::{ConfigError, IdpConfig};
use orgplane_store::sso::SsoSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "orgplane:setup:sso";

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoConfig {
    /// Whether SAML-based SSO is enabled for this organization.
    pub enabled: bool,
    /// Always `SAML`.
    pub provider_type: &'static str,
    /// The RelayState to configure at the IdP: the organization id.
    pub relay_state: String,
    /// Values to copy into the IdP: our entity id (= audience), ACS URL (= recipient and
    /// destination), metadata URL and the SP-initiated sign-in URL.
    pub sp_entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
    pub login_url: String,
    pub idp: Option<IdpInfo>,
    /// `viewer` or `editor`: Account Viewer / Account Editor on the allowed accounts for a person
    /// created at first sign-in without a role attribute.
    pub default_role: Option<&'static str>,
    /// `default` (the default account only) or `all`.
    pub allowed_accounts: Option<&'static str>,
    pub allow_idp_initiated: Option<bool>,
    /// Password sign-in refused for the organization's members.
    pub enforce: Option<bool>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdpInfo {
    pub entity_id: String,
    pub sso_url: String,
    /// SHA-256 fingerprint of the pinned signing certificate, hex.
    pub certificate_sha256: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SsoConfigRequest {
    /// The IdP's metadata document (`EntityDescriptor` XML). Or the three fields below.
    pub metadata: Option<String>,
    pub entity_id: Option<String>,
    pub sso_url: Option<String>,
    /// The IdP's signing certificate, PEM or base64 DER.
    pub certificate: Option<String>,
    /// `viewer` (default) or `editor`.
    pub default_role: Option<String>,
    /// `default` (default) or `all`.
    pub allowed_accounts: Option<String>,
    /// Accept IdP-initiated (unsolicited) responses; default false.
    pub allow_idp_initiated: Option<bool>,
    /// Refuse password sign-in for the members; default true.
    pub enforce: Option<bool>,
}

fn config_code(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::TooLarge { .. } => "SAML_METADATA_TOO_LARGE",
        ConfigError::DoctypeForbidden => "SAML_DOCTYPE_FORBIDDEN",
        ConfigError::CommentForbidden => "SAML_COMMENT_FORBIDDEN",
        ConfigError::Malformed(_) => "SAML_METADATA_MALFORMED",
        ConfigError::MissingEntityId => "SAML_MISSING_ENTITY_ID",
        ConfigError::NoIdpSsoDescriptor => "SAML_NO_IDP_SSO_DESCRIPTOR",
        ConfigError::NoSsoService => "SAML_NO_SSO_SERVICE",
        ConfigError::InvalidSsoUrl(_) => "SAML_INVALID_SSO_URL",
        ConfigError::NoSigningCertificate => "SAML_NO_SIGNING_CERTIFICATE",
        ConfigError::MultipleSigningCertificates { .. } => "SAML_MULTIPLE_SIGNING_CERTIFICATES",
        ConfigError::InvalidCertificate(_) => "SAML_INVALID_CERTIFICATE",
        ConfigError::WeakKey { .. } => "SAML_WEAK_KEY",
        ConfigError::UnsupportedKeyType => "SAML_UNSUPPORTED_KEY_TYPE",
    }
}

/// A refused IdP configuration in the envelope: the field at fault and the crate's sentence.
fn config_error(e: &ConfigError, from_metadata: bool) -> Error {
    let field = if from_metadata {
        "body.metadata"
    } else {
        match e {
            ConfigError::MissingEntityId => "body.entityId",
            ConfigError::InvalidSsoUrl(_) | ConfigError::NoSsoService => "body.ssoUrl",
            _ => "body.certificate",
        }
    };
    Error::invalid(config_code(e), field, format!("{e} ({})", e.code()))
}

fn render(state: &AppState, org: OrgId, s: Option<&SsoSettings>) -> Result<SsoConfig, Error> {
    let sp = sp_for(state, org);
    let base = state.config.public_url.trim_end_matches('/');
    let idp = s.map(idp_of).transpose()?;
    Ok(SsoConfig {
        enabled: s.is_some(),
        provider_type: "SAML",
        relay_state: org.to_string(),
        metadata_url: sp.entity_id.clone(),
        sp_entity_id: sp.entity_id,
        acs_url: sp.acs_url,
        login_url: format!("{base}/saml/{org}/login"),
        idp: idp.map(|i| IdpInfo {
            entity_id: i.entity_id().to_string(),
            sso_url: i.sso_url().to_string(),
            certificate_sha256: orgplane_domain::secret::sha256_hex(i.signing_cert_der()),
        }),
        default_role: s.map(|s| s.default_role.as_str()),
        allowed_accounts: s.map(|s| s.allowed_accounts.as_str()),
        allow_idp_initiated: s.map(|s| s.allow_idp_initiated),
        enforce: s.map(|s| s.enforce),
        updated_at: s.map(|s| to_spot(s.updated_at)),
    })
}

/// The organization's SSO settings and the service-provider values to give the IdP.
#[utoipa::path(get, path = "/setup/organization/{organizationId}/sso", tag = "organizations",
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<SsoConfig>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::DescribeSsoMetaData).await?;
    let settings = state.store.sso_settings(org).await?;
    Ok(Reply::item(KIND, render(&state, org, settings.as_ref())?))
}

/// Turns SSO on or changes it: the IdP (metadata, or entity id + SSO URL + certificate; a new
/// IdP keeps every person and token) and the settings. A provider without a signing certificate
/// is refused. Fields left out keep their value (or the default when SSO was off).
#[utoipa::path(put, path = "/setup/organization/{organizationId}/sso", tag = "organizations",
    request_body = SsoConfigRequest, security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Items<SsoConfig>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<SsoConfigRequest>,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::CreateSsoMetaData).await?;
    let current = state.store.sso_settings(org).await?;
    let parts = [&req.entity_id, &req.sso_url, &req.certificate];
    let any_part = parts.iter().any(|p| p.is_some());
    let idp = match (&req.metadata, any_part) {
        (Some(_), true) => {
            return Err(Error::validation(
                "body.metadata",
                "send either metadata or entityId, ssoUrl and certificate, not both",
            )
            .into());
        }
        (Some(xml), false) => IdpConfig::from_metadata(xml).map_err(|e| config_error(&e, true))?,
        (None, true) => {
            let (Some(entity), Some(url), Some(cert)) = (&req.entity_id, &req.sso_url, &req.certificate) else {
                let missing = ["entityId", "ssoUrl", "certificate"]
                    .iter()
                    .zip(parts)
                    .find(|(_, p)| p.is_none())
                    .map(|(n, _)| *n)
                    .unwrap_or("certificate");
                return Err(Error::validation(
                    format!("body.{missing}"),
                    format!("\"{missing}\" is required with entityId, ssoUrl and certificate"),
                )
                .into());
            };
            IdpConfig::from_parts(entity, url, cert).map_err(|e| config_error(&e, false))?
        }
        (None, false) => match &current {
            Some(s) => idp_of(s)?,
            None => {
                return Err(Error::validation(
                    "body.metadata",
                    "\"metadata\" (or entityId, ssoUrl and certificate) is required to turn SSO on",
                )
                .into());
            }
        },
    };
    let default_role = match req.default_role.as_deref() {
        Some(r) => DefaultRole::parse("body.defaultRole", r)?,
        None => current.as_ref().map_or(DefaultRole::Viewer, |s| s.default_role),
    };
    let allowed_accounts = match req.allowed_accounts.as_deref() {
        Some(a) => AllowedAccounts::parse("body.allowedAccounts", a)?,
        None => current.as_ref().map_or(AllowedAccounts::DefaultAccount, |s| s.allowed_accounts),
    };
    let settings = SsoSettings {
        idp: serde_json::to_string(&idp).map_err(Error::internal)?,
        entity_id: idp.entity_id().to_string(),
        default_role,
        allowed_accounts,
        allow_idp_initiated: req
            .allow_idp_initiated
            .unwrap_or_else(|| current.as_ref().is_some_and(|s| s.allow_idp_initiated)),
        enforce: req.enforce.unwrap_or_else(|| current.as_ref().is_none_or(|s| s.enforce)),
        updated_by: Some(caller.user_id.to_string()),
        created_at: 0,
        updated_at: orgplane_store::now_ms(),
    };
    state.store.put_sso_settings(org, &settings).await?;
    Ok(Reply::item(KIND, render(&state, org, Some(&settings))?))
}

/// Turns SSO off: password sign-in works again; people and tokens stay.
#[utoipa::path(delete, path = "/setup/organization/{organizationId}/sso", tag = "organizations",
    security(("bearer" = [])), params(("organizationId" = String, Path, description = "12 digits")),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let (_, org) = membership_in(&state, &caller, &id, Action::CreateSsoMetaData).await?;
    if !state.store.delete_sso_settings(org).await? {
        return Err(Error::not_found("SSO_NOT_CONFIGURED", "path.organizationId", "SSO is not configured").into());
    }
    Ok(Reply::Done)
}
