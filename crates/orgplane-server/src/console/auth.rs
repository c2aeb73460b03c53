//! Signing up, signing in (password, then a second factor when enrolled), single sign-on by
//! email, password reset and signing out. Each form posts to the console, which calls the API
//! route that does the work (`/auth/register`, `/oauth/token`, `/saml/login`, …).

use super::client::{ApiClient, Failure, Payload, items, text};
use super::layout::{Errors, invalid, page, q};
use super::session::{self, Session, Visitor};
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use orgplane_domain::secret;
use serde::Deserialize;
use serde_json::json;

#[derive(Template, Default)]
#[template(path = "console/signin.html")]
pub struct SignIn {
    email: String,
    /// Set once the password was accepted and a second factor is needed: the form then asks
    /// for the code and sends the email and password again with it.
    password: String,
    mfa: bool,
    errors: Errors,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: Option<String>,
    /// A security key's answer: the challenge id and the `PublicKeyCredential` JSON.
    #[serde(default, rename = "webauthnChallengeId")]
    webauthn_challenge_id: Option<String>,
    #[serde(default, rename = "webauthnResponse")]
    webauthn_response: Option<String>,
    /// `mfa` when the second-factor form was sent.
    #[serde(default)]
    step: String,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    reset: Option<String>,
}

pub async fn signin_page(Query(query): Query<SignInQuery>) -> Response {
    let notice = query.reset.map(|_| "Your password was changed: sign in with the new one.".to_string());
    page(SignIn { notice, ..Default::default() })
}

pub async fn signin(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    v: Visitor,
    Form(form): Form<SignInForm>,
) -> Response {
    let code = form.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let mut fields =
        vec![("grant_type", "password"), ("username", form.email.as_str()), ("password", form.password.as_str())];
    if let Some(code) = code {
        fields.push(("mfa_code", code));
    }
    if let (Some(id), Some(response)) = (&form.webauthn_challenge_id, &form.webauthn_response)
        && !id.is_empty()
    {
        fields.extend([("webauthn_challenge_id", id.as_str()), ("webauthn_response", response.as_str())]);
    }
    match api.call(&v.who, Method::POST, "/oauth/token", Payload::Form(encode(&fields))).await {
        Ok(response) => {
            let secret = items(&response).first().map(|t| text(t, "accessToken")).unwrap_or_default();
            session::signed_in(&state, &v.headers, &secret, "/console/")
        }
        Err(f) => {
            let second_step = matches!(
                f.code.as_str(),
                "MFA_REQUIRED" | "INVALID_MFA_CODE" | "INVALID_WEBAUTHN_RESPONSE" | "INVALID_WEBAUTHN_CHALLENGE"
            );
            let errors = match f.code.as_str() {
                "MFA_REQUIRED" if form.step != "mfa" => Errors::default(),
                _ if second_step => Errors::field("code", f.message.clone()),
                _ => Errors::from_failure(&f, &["username", "password"]),
            };
            invalid(SignIn {
                email: form.email,
                password: if second_step { form.password } else { String::new() },
                mfa: second_step,
                errors,
                notice: None,
            })
        }
    }
}

/// The challenge for signing in with a security key (the MFA step's script asks for it with
/// the email and password it already holds).
pub async fn key_challenge(Extension(api): Extension<ApiClient>, v: Visitor, Form(form): Form<SignInForm>) -> Response {
    let body = json!({ "username": form.email, "password": form.password });
    api.raw(&v.who, Method::POST, "/auth/mfa/webauthn/challenge", Payload::Json(body)).await
}

/// A form-encoded body (the token endpoint's OAuth shape).
fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

#[derive(Template, Default)]
#[template(path = "console/signup.html")]
pub struct SignUp {
    form: SignUpForm,
    errors: Errors,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SignUpForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn signup_page() -> Response {
    page(SignUp::default())
}

/// Registers the person and their organization, then signs them in and welcomes them.
pub async fn signup(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    v: Visitor,
    Form(form): Form<SignUpForm>,
) -> Response {
    let body = json!({
        "user": { "firstName": form.first_name, "lastName": form.last_name, "email": form.email, "password": form.password },
        "organization": { "name": form.company },
    });
    if let Err(f) = api.call(&v.who, Method::POST, "/auth/register", Payload::Json(body)).await {
        let errors = Errors::from_failure(&f, &["firstName", "lastName", "email", "password", "name"]);
        return invalid(SignUp { form: SignUpForm { password: String::new(), ..form }, errors });
    }
    let fields = [("grant_type", "password"), ("username", form.email.as_str()), ("password", form.password.as_str())];
    match api.call(&v.who, Method::POST, "/oauth/token", Payload::Form(encode(&fields))).await {
        Ok(response) => {
            let secret = items(&response).first().map(|t| text(t, "accessToken")).unwrap_or_default();
            session::signed_in(&state, &v.headers, &secret, "/console/welcome")
        }
        Err(f) => invalid(SignIn { email: form.email, errors: Errors::from_failure(&f, &[]), ..Default::default() }),
    }
}

#[derive(Template, Default)]
#[template(path = "console/sso.html")]
pub struct Sso {
    email: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct SsoQuery {
    email: Option<String>,
}

/// "Sign in with SSO": asks for the email, then sends the browser to the organization's IdP
/// with the AuthnRequest the API prepared.
pub async fn sso_page(Extension(api): Extension<ApiClient>, v: Visitor, Query(query): Query<SsoQuery>) -> Response {
    let Some(email) = query.email.filter(|e| !e.trim().is_empty()) else { return page(Sso::default()) };
    let res = api.raw(&v.who, Method::GET, &format!("/saml/login?email={}", q(&email)), Payload::None).await;
    if res.status().is_redirection()
        && let Some(location) = res.headers().get(header::LOCATION).cloned()
    {
        return (axum::http::StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    }
    let failure = failure_of(res).await;
    invalid(Sso { email, errors: Errors::from_failure(&failure, &["email"]) })
}

async fn failure_of(res: Response) -> Failure {
    use http_body_util::BodyExt;
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let e = v.pointer("/response/errors/0").cloned().unwrap_or_default();
    Failure {
        status,
        code: text(&e, "code"),
        message: Some(text(&e, "message")).filter(|m| !m.is_empty()).unwrap_or_else(|| "single sign-on failed".into()),
        field: Some(text(&e, "field")).filter(|f| !f.is_empty()),
    }
}

/// When an IdP's `OrgAndRole` offered several organizations, the ACS shows this choice.
#[derive(Template)]
#[template(path = "console/sso_choose.html")]
pub struct SsoChoose {
    pub email: String,
    pub login_id: String,
    pub choices: Vec<super::layout::Choice>,
    pub errors: Errors,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsoChooseForm {
    login_id: String,
    organization_id: String,
}

pub async fn sso_choose(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    v: Visitor,
    Form(form): Form<SsoChooseForm>,
) -> Response {
    let body = json!({ "loginId": form.login_id, "organizationId": form.organization_id });
    match api.call(&v.who, Method::POST, "/saml/select", Payload::Json(body)).await {
        Ok(response) => {
            let secret = items(&response).first().map(|t| text(t, "accessToken")).unwrap_or_default();
            session::signed_in(&state, &v.headers, &secret, "/console/")
        }
        Err(f) => invalid(Sso { email: String::new(), errors: Errors::from_failure(&f, &[]) }),
    }
}

#[derive(Template, Default)]
#[template(path = "console/reset.html")]
pub struct Reset {
    email: String,
    sent: bool,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    email: String,
}

pub async fn reset_page() -> Response {
    page(Reset::default())
}

pub async fn reset_request(Extension(api): Extension<ApiClient>, v: Visitor, Form(form): Form<ResetForm>) -> Response {
    let body = json!({ "email": form.email });
    match api.call(&v.who, Method::POST, "/auth/password/reset", Payload::Json(body)).await {
        Ok(_) => page(Reset { email: form.email, sent: true, errors: Errors::default() }),
        Err(f) => invalid(Reset { email: form.email, sent: false, errors: Errors::from_failure(&f, &["email"]) }),
    }
}

#[derive(Template, Default)]
#[template(path = "console/reset_confirm.html")]
pub struct ResetConfirm {
    token: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The page an emailed reset or invitation link opens (`/reset-password?token=…`).
pub async fn reset_confirm_page(Query(query): Query<TokenQuery>) -> Response {
    page(ResetConfirm { token: query.token, errors: Errors::default() })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetConfirmForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

pub async fn reset_confirm(
    Extension(api): Extension<ApiClient>,
    v: Visitor,
    Form(form): Form<ResetConfirmForm>,
) -> Response {
    let body = json!({ "token": form.token, "newPassword": form.new_password });
    match api.call(&v.who, Method::POST, "/auth/password/reset/confirm", Payload::Json(body)).await {
        Ok(_) => session::redirect(&v.headers, "/console/signin?reset=done"),
        Err(f) => {
            invalid(ResetConfirm { token: form.token, errors: Errors::from_failure(&f, &["newPassword", "token"]) })
        }
    }
}

/// Ends the session on the server, then forgets the cookie.
pub async fn signout(State(state): State<AppState>, s: Session) -> Response {
    if let Some(secret) = &s.who.session
        && let Err(e) = state.store.delete_session(&secret::token_hash(secret)).await
    {
        tracing::warn!(error = %e, "could not end a console session");
    }
    let mut res = session::redirect(&s.headers, "/console/signin");
    res.headers_mut().append(header::SET_COOKIE, session::clear_session_cookie());
    res
}

/// The ACS's answer to a browser: the console session cookie, or the organization picker.
#[cfg(feature = "saml")]
pub fn after_saml(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    signed_in: crate::api::saml::SamlSignIn,
) -> Response {
    match (signed_in.access_token, signed_in.login_id, signed_in.choices) {
        (Some(secret), _, _) => session::signed_in(state, headers, &secret, "/console/"),
        (None, Some(login_id), Some(choices)) => page(SsoChoose {
            email: signed_in.email,
            login_id,
            choices: choices
                .into_iter()
                .map(|c| super::layout::Choice { id: c.organization_id, name: c.role })
                .collect(),
            errors: Errors::default(),
        }),
        _ => saml_refused(orgplane_domain::Error::internal("a SAML sign-in without a token or a choice")),
    }
}

/// A refused SAML sign-in, explained to the person in the browser.
#[cfg(feature = "saml")]
pub fn saml_refused(e: orgplane_domain::Error) -> Response {
    let failure = Failure::from(e);
    let status = axum::http::StatusCode::from_u16(failure.status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let mut res = invalid(Sso { email: String::new(), errors: Errors::from_failure(&failure, &[]) });
    *res.status_mut() = status;
    res
}
