//! Security: the person's password, authenticator app (QR code, recovery codes) and security
//! keys; the organization's MFA requirement; its SAML identity provider (with the values to
//! copy into the IdP) and its SCIM tokens.

use super::client::{ApiClient, Payload, flag, items, text};
use super::iam::{Fields, Named};
use super::layout::{Errors, Nav, can, failure_page, invalid, page, q};
use super::session::Session;
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use orgplane_domain::access::Action;
use serde_json::{Value, json};

/// What the Security page shows besides its forms.
#[derive(Default)]
pub struct Shown {
    notice: Option<String>,
    errors: Errors,
    /// TOTP enrolment in progress: the QR code (SVG from the API) and the secret.
    enrolment: Option<(String, String)>,
    /// Recovery codes, shown once after enrolment or key registration.
    recovery_codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/security.html")]
pub struct Security {
    nav: Nav,
    must_enrol: bool,
    totp_enabled: bool,
    keys: Vec<Named>,
    programmatic: bool,
    require_mfa: bool,
    can_set_org_security: bool,
    shown: Shown,
}

pub async fn security(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    security_page(&state, &api, &s, Shown::default()).await
}

async fn security_page(state: &AppState, api: &ApiClient, s: &Session, shown: Shown) -> Response {
    let nav = nav!(state, api, s, "security");
    let totp_enabled = state.store.totp_state(&s.caller.user_id).await.ok().flatten().is_some_and(|t| t.confirmed);
    let keys = api
        .items(&s.who, "/auth/mfa/webauthn")
        .await
        .unwrap_or_default()
        .iter()
        .map(|k| Named { id: text(k, "id"), name: text(k, "name"), detail: text(k, "createdAt"), checked: false })
        .collect();
    let org = api.items(&s.who, &format!("/setup/organization/{}", s.caller.org_id)).await.unwrap_or_default();
    let require_mfa = org.first().is_some_and(|o| flag(o, "requireMfa"));
    let res = Security {
        must_enrol: s.caller.must_enrol_mfa,
        totp_enabled,
        keys,
        programmatic: s.caller.user_id.is_programmatic(),
        require_mfa,
        can_set_org_security: can(state, s, Action::UpdateOrganization, None).await,
        shown,
        nav,
    };
    if res.shown.errors.any() { invalid(res) } else { page(res) }
}

async fn after(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    result: Result<Value, super::client::Failure>,
    ok: impl FnOnce(Value) -> Shown,
    fields: &[&'static str],
) -> Response {
    let shown = match result {
        Ok(response) => ok(response),
        Err(f) => Shown { errors: Errors::from_failure(&f, fields), ..Default::default() },
    };
    security_page(state, api, s, shown).await
}

pub async fn change_password(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let body = json!({ "currentPassword": form.one("currentPassword"), "newPassword": form.one("newPassword") });
    let result = api.call(&s.who, Method::POST, "/auth/password", Payload::Json(body)).await;
    let ok = |_| Shown {
        notice: Some("Password changed; your other sessions were signed out.".into()),
        ..Default::default()
    };
    after(&state, &api, &s, result, ok, &["currentPassword", "newPassword"]).await
}

/// Starts authenticator-app enrolment: shows the QR code and the secret.
pub async fn totp_start(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    let result = api.call(&s.who, Method::POST, "/auth/mfa/totp", Payload::None).await;
    let ok = |response: Value| {
        let e = items(&response).into_iter().next().unwrap_or_default();
        Shown { enrolment: Some((text(&e, "qrSvg"), text(&e, "secret"))), ..Default::default() }
    };
    after(&state, &api, &s, result, ok, &[]).await
}

/// Confirms enrolment with a first code; the recovery codes are shown once.
pub async fn totp_confirm(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let body = json!({ "code": form.one("code") });
    let result = api.call(&s.who, Method::POST, "/auth/mfa/totp/confirm", Payload::Json(body)).await;
    let ok = |response: Value| Shown {
        notice: Some(
            "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once.".into(),
        ),
        recovery_codes: codes(&response),
        ..Default::default()
    };
    after(&state, &api, &s, result, ok, &["code"]).await
}

fn codes(response: &Value) -> Vec<String> {
    items(response)
        .first()
        .and_then(|i| i.get("recoveryCodes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub async fn totp_disable(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let body = json!({ "code": form.one("code") });
    let result = api.call(&s.who, Method::DELETE, "/auth/mfa/totp", Payload::Json(body)).await;
    let ok = |_| Shown { notice: Some("The authenticator app was removed.".into()), ..Default::default() };
    after(&state, &api, &s, result, ok, &["code"]).await
}

/// Security keys: the page's script asks for the ceremony options, runs
/// `navigator.credentials.create` and posts the credential back; both steps are the API's.
pub async fn key_start(Extension(api): Extension<ApiClient>, s: Session) -> Response {
    api.raw(&s.who, Method::POST, "/auth/mfa/webauthn/register", Payload::Json(json!({}))).await
}

pub async fn key_finish(Extension(api): Extension<ApiClient>, s: Session, body: axum::body::Bytes) -> Response {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.raw(&s.who, Method::POST, "/auth/mfa/webauthn/register/confirm", Payload::Json(value)).await
}

pub async fn key_delete(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    let body = json!({ "password": form.one("password") });
    let result = api.call(&s.who, Method::DELETE, &format!("/auth/mfa/webauthn/{}", q(&id)), Payload::Json(body)).await;
    let ok = |_| Shown { notice: Some("The security key was removed.".into()), ..Default::default() };
    after(&state, &api, &s, result, ok, &["password"]).await
}

/// Requires (or stops requiring) a second factor of every member (admins only).
pub async fn org_security(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let body = json!({ "requireMfa": form.one("requireMfa") == "on" });
    let uri = format!("/setup/organization/{}/security", s.caller.org_id);
    let result = api.call(&s.who, Method::PUT, &uri, Payload::Json(body)).await;
    let ok = |_| Shown { notice: Some("Organization security saved.".into()), ..Default::default() };
    after(&state, &api, &s, result, ok, &[]).await
}

#[derive(Template)]
#[template(path = "console/idp.html")]
pub struct IdentityProviders {
    nav: Nav,
    config: Value,
    idp_entity: String,
    idp_sso_url: String,
    idp_fingerprint: String,
    can_manage: bool,
    notice: Option<String>,
    errors: Errors,
    metadata: String,
}

impl IdentityProviders {
    fn v(&self, key: &str) -> String {
        text(&self.config, key)
    }

    fn is(&self, key: &str) -> bool {
        flag(&self.config, key)
    }
}

pub async fn identity_providers(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    idp_page(&state, &api, &s, None, Errors::default(), String::new()).await
}

async fn idp_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    notice: Option<String>,
    errors: Errors,
    metadata: String,
) -> Response {
    let nav = nav!(state, api, s, "idp");
    let config = match api.items(&s.who, &format!("/setup/organization/{}/sso", s.caller.org_id)).await {
        Ok(list) => list.into_iter().next().unwrap_or_default(),
        Err(f) => return failure_page(s, &f),
    };
    let idp = config.get("idp").cloned().unwrap_or_default();
    let res = IdentityProviders {
        can_manage: can(state, s, Action::CreateSsoMetaData, None).await,
        idp_entity: text(&idp, "entityId"),
        idp_sso_url: text(&idp, "ssoUrl"),
        idp_fingerprint: text(&idp, "certificateSha256"),
        config,
        nav,
        notice,
        errors,
        metadata,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

/// Uploads the IdP's metadata (or keeps the current IdP) with the sign-in options.
pub async fn save_identity_provider(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let metadata = form.one("metadata");
    let mut body = json!({
        "defaultRole": form.one("defaultRole"),
        "allowIdpInitiated": form.one("allowIdpInitiated") == "on",
        "enforce": form.one("enforce") == "on",
    });
    if !metadata.trim().is_empty() {
        body["metadata"] = json!(metadata);
    }
    let uri = format!("/setup/organization/{}/sso", s.caller.org_id);
    match api.call(&s.who, Method::PUT, &uri, Payload::Json(body)).await {
        Ok(_) => {
            idp_page(&state, &api, &s, Some("Single sign-on saved.".into()), Errors::default(), String::new()).await
        }
        Err(f) => {
            let errors = Errors::from_failure(&f, &["metadata", "defaultRole", "enforce"]);
            idp_page(&state, &api, &s, None, errors, metadata).await
        }
    }
}

pub async fn delete_identity_provider(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    let uri = format!("/setup/organization/{}/sso", s.caller.org_id);
    match api.call(&s.who, Method::DELETE, &uri, Payload::None).await {
        Ok(_) => {
            idp_page(&state, &api, &s, Some("Single sign-on removed.".into()), Errors::default(), String::new()).await
        }
        Err(f) => idp_page(&state, &api, &s, None, Errors::from_failure(&f, &[]), String::new()).await,
    }
}

#[derive(Template)]
#[template(path = "console/scim.html")]
pub struct Scim {
    nav: Nav,
    base_url: String,
    role_attribute: String,
    tokens: Vec<Named>,
    created: Option<String>,
    errors: Errors,
}

pub async fn scim(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    scim_page(&state, &api, &s, None, Errors::default()).await
}

async fn scim_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    created: Option<String>,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "scim");
    let settings = match api.items(&s.who, &format!("/setup/organization/{}/scim", s.caller.org_id)).await {
        Ok(list) => list.into_iter().next().unwrap_or_default(),
        Err(f) => return failure_page(s, &f),
    };
    let tokens = settings
        .get("tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| Named {
            id: text(t, "id"),
            name: text(t, "description"),
            detail: format!(
                "…{} · created {} by {}",
                text(t, "lastDigits"),
                text(t, "createdAt"),
                text(t, "createdBy")
            ),
            checked: false,
        })
        .collect();
    let res = Scim {
        nav,
        base_url: text(&settings, "baseUrl"),
        role_attribute: text(&settings, "roleAttribute"),
        tokens,
        created,
        errors,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

pub async fn create_scim_token(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let body = json!({ "description": form.one("description") });
    let uri = format!("/setup/organization/{}/scim/token", s.caller.org_id);
    match api.call(&s.who, Method::POST, &uri, Payload::Json(body)).await {
        Ok(response) => {
            let secret = items(&response).first().map(|t| text(t, "token")).unwrap_or_default();
            scim_page(&state, &api, &s, Some(secret), Errors::default()).await
        }
        Err(f) => scim_page(&state, &api, &s, None, Errors::from_failure(&f, &["description"])).await,
    }
}

pub async fn delete_scim_token(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let uri = format!("/setup/organization/{}/scim/token/{}", s.caller.org_id, q(&id));
    match api.call(&s.who, Method::DELETE, &uri, Payload::None).await {
        Ok(_) => scim_page(&state, &api, &s, None, Errors::default()).await,
        Err(f) => scim_page(&state, &api, &s, None, Errors::from_failure(&f, &[])).await,
    }
}
