//! The landing pages, the organization and account switchers with Add Organization / Add
//! Account, and Settings → General details.

use super::client::{ApiClient, Payload, flag, items, text};
use super::layout::{Errors, Nav, can, failure_page, invalid, page};
use super::session::{self, Session};
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{Method, header};
use axum::response::Response;
use orgplane_domain::access::Action;
use orgplane_domain::ids::OrgId;
use orgplane_domain::secret::{self, TokenKind};
use serde::Deserialize;
use serde_json::json;

/// An account as the home page lists it.
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub is_default: bool,
}

#[derive(Template)]
#[template(path = "console/home.html")]
pub struct Home {
    nav: Nav,
    welcome: bool,
    plan: String,
    trial_days_left: String,
    accounts: Vec<AccountRow>,
}

pub async fn dashboard(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    home(&state, &api, &s, false).await
}

/// Where sign-up lands: the first account is waiting for a cloud connection.
pub async fn welcome(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    home(&state, &api, &s, true).await
}

async fn home(state: &AppState, api: &ApiClient, s: &Session, welcome: bool) -> Response {
    let nav = nav!(state, api, s, "home");
    let accounts = api.items(&s.who, "/setup/account").await.unwrap_or_default();
    let plan = api.items(&s.who, "/billing/plan").await.ok().and_then(|i| i.into_iter().next()).unwrap_or_default();
    page(Home {
        nav,
        welcome,
        plan: text(&plan, "plan"),
        trial_days_left: text(&plan, "trialDaysLeft"),
        accounts: accounts
            .iter()
            .map(|a| AccountRow {
                id: text(a, "accountId"),
                name: text(a, "name"),
                provider: text(a, "cloudProvider"),
                is_default: flag(a, "isDefault"),
            })
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchOrganization {
    organization_id: String,
}

/// Moves the session to another of the person's organizations: a new session bound to it
/// replaces the current one (a token acts in one organization, in the console as in the API).
pub async fn switch_organization(
    State(state): State<AppState>,
    s: Session,
    Form(form): Form<SwitchOrganization>,
) -> Response {
    match switch_to(&state, &s, &form.organization_id).await {
        Ok(secret) => session::signed_in(&state, &s.headers, &secret, "/console/"),
        Err(e) => failure_page(&s, &super::client::Failure::from(e)),
    }
}

async fn switch_to(state: &AppState, s: &Session, org: &str) -> Result<String, orgplane_domain::Error> {
    let org = OrgId::parse(org).map_err(|e| e.in_field("body"))?;
    let memberships = state.store.list_memberships(&s.caller.user_id).await?;
    if !memberships.iter().any(|m| m.organization.id == org) {
        return Err(orgplane_domain::Error::invalid(
            "NOT_A_MEMBER",
            "body.organizationId",
            "you are not a member of this organization",
        ));
    }
    crate::api::oauth::refuse_if_sso_enforced(state, &s.caller.user_id, org).await?;
    let new = secret::new_token(TokenKind::Session);
    let expires = orgplane_store::now_ms() + TokenKind::SESSION_IDLE_MS;
    state
        .store
        .insert_token(TokenKind::Session, &s.caller.user_id, org, None, &new, Some(expires), &Default::default())
        .await?;
    if let Some(old) = &s.who.session {
        state.store.delete_session(&secret::token_hash(old)).await?;
    }
    Ok(new.secret)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchAccount {
    account_id: String,
}

/// Remembers the account the pages show (a preference cookie; the API checks access anyway).
pub async fn switch_account(s: Session, Form(form): Form<SwitchAccount>) -> Response {
    let mut res = session::redirect(&s.headers, "/console/");
    res.headers_mut().append(header::SET_COOKIE, session::account_cookie(&form.account_id));
    res
}

#[derive(Template)]
#[template(path = "console/name_form.html")]
pub struct NameForm {
    nav: Nav,
    title: &'static str,
    action: &'static str,
    label: &'static str,
    hint: &'static str,
    name: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct NameField {
    #[serde(default)]
    name: String,
}

pub async fn new_organization_page(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    match Nav::load(&state, &api, &s, "home").await {
        Ok(nav) => page(organization_form(nav, String::new(), Errors::default())),
        Err(res) => res,
    }
}

fn organization_form(nav: Nav, name: String, errors: Errors) -> NameForm {
    NameForm {
        nav,
        title: "Add Organization",
        action: "/console/organizations/new",
        label: "Organization name",
        hint: "You become its admin; it starts with a default account and a trial.",
        name,
        errors,
    }
}

/// Creates an organization (the person becomes its admin) and switches to it.
pub async fn new_organization(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Form(form): Form<NameField>,
) -> Response {
    let body = json!({ "organization": { "name": form.name } });
    match api.call(&s.who, Method::POST, "/setup/organization", Payload::Json(body)).await {
        Ok(response) => {
            let org = items(&response).first().map(|o| text(o, "organizationId")).unwrap_or_default();
            match switch_to(&state, &s, &org).await {
                Ok(secret) => session::signed_in(&state, &s.headers, &secret, "/console/welcome"),
                Err(e) => failure_page(&s, &super::client::Failure::from(e)),
            }
        }
        Err(f) => match Nav::load(&state, &api, &s, "home").await {
            Ok(nav) => invalid(organization_form(nav, form.name, Errors::from_failure(&f, &["name"]))),
            Err(res) => res,
        },
    }
}

pub async fn new_account_page(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    match Nav::load(&state, &api, &s, "home").await {
        Ok(nav) => page(account_form(nav, String::new(), Errors::default())),
        Err(res) => res,
    }
}

fn account_form(nav: Nav, name: String, errors: Errors) -> NameForm {
    NameForm {
        nav,
        title: "Add Account",
        action: "/console/accounts/new",
        label: "Account name",
        hint: "One account per AWS account, Azure subscription or GCP project.",
        name,
        errors,
    }
}

/// Creates an account, shows it in the switcher and offers to connect it to a cloud.
pub async fn new_account(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Form(form): Form<NameField>,
) -> Response {
    let body = json!({ "account": { "name": form.name } });
    match api.call(&s.who, Method::POST, "/setup/account", Payload::Json(body)).await {
        Ok(response) => {
            let account = items(&response).first().map(|a| text(a, "accountId")).unwrap_or_default();
            let mut res = session::redirect(&s.headers, "/console/cloud");
            res.headers_mut().append(header::SET_COOKIE, session::account_cookie(&account));
            res
        }
        Err(f) => match Nav::load(&state, &api, &s, "home").await {
            Ok(nav) => invalid(account_form(nav, form.name, Errors::from_failure(&f, &["name"]))),
            Err(res) => res,
        },
    }
}

#[derive(Template)]
#[template(path = "console/settings.html")]
pub struct Settings {
    nav: Nav,
    org_name: String,
    can_rename: bool,
    can_rename_account: bool,
    account_name: String,
    saved: bool,
    errors: Errors,
}

pub async fn settings(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    settings_page(&state, &api, &s, false, None).await
}

async fn settings_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    saved: bool,
    failed: Option<(Errors, String, String)>,
) -> Response {
    let nav = nav!(state, api, s, "settings");
    let can_rename = can(state, s, Action::UpdateOrganization, None).await;
    let can_rename_account =
        !nav.account_id.is_empty() && can(state, s, Action::UpdateAccount, Some(&nav.account_id)).await;
    let (errors, org_name, account_name) =
        failed.unwrap_or_else(|| (Errors::default(), nav.org_name.clone(), nav.account_name.clone()));
    let res = Settings { org_name, account_name, can_rename, can_rename_account, saved, errors, nav };
    if res.errors.any() { invalid(res) } else { page(res) }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsForm {
    #[serde(default)]
    organization_name: Option<String>,
    #[serde(default)]
    account_name: Option<String>,
}

/// Renames the organization and/or the current account through the API.
pub async fn update_settings(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Form(form): Form<SettingsForm>,
) -> Response {
    let org = s.caller.org_id.to_string();
    if let Some(name) = &form.organization_name {
        let body = json!({ "organization": { "name": name } });
        if let Err(f) = api.call(&s.who, Method::PUT, &format!("/setup/organization/{org}"), Payload::Json(body)).await
        {
            let errors = Errors::from_failure(&f, &["name"]);
            let failed = (errors, name.clone(), form.account_name.clone().unwrap_or_default());
            return settings_page(&state, &api, &s, false, Some(failed)).await;
        }
    }
    if let Some(name) = &form.account_name {
        let account = s.account_pick.clone().unwrap_or_default();
        let accounts = api.items(&s.who, "/setup/account").await.unwrap_or_default();
        let account = accounts
            .iter()
            .find(|a| text(a, "accountId") == account)
            .or_else(|| accounts.iter().find(|a| flag(a, "isDefault")))
            .map(|a| text(a, "accountId"))
            .unwrap_or_default();
        let body = json!({ "account": { "name": name } });
        if let Err(f) = api.call(&s.who, Method::PUT, &format!("/setup/account/{account}"), Payload::Json(body)).await {
            let errors = Errors::field("accountName", f.message.clone());
            let failed = (errors, form.organization_name.clone().unwrap_or_default(), name.clone());
            return settings_page(&state, &api, &s, false, Some(failed)).await;
        }
    }
    settings_page(&state, &api, &s, true, None).await
}
