//! What every signed-in page shows around its content (top bar with the organization and
//! account switchers, the menu), and the few ways a handler answers: a page, a form with its
//! errors beside the fields, a failure.

use super::client::{self, ApiClient, Failure, text};
use super::session::{self, Session};
use crate::AppState;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use orgplane_domain::access::{Action, Target};

/// An organization or account in a switcher.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// The frame of a signed-in page.
pub struct Nav {
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub orgs: Vec<Choice>,
    pub accounts: Vec<Choice>,
    pub account_id: String,
    pub account_name: String,
    pub csrf: String,
    pub admin: bool,
    pub can_create_account: bool,
    pub section: &'static str,
    pub unread: i64,
}

impl Nav {
    /// Loads the frame through the API (the person's organizations and accounts, the unread
    /// count). The account is the one picked in the switcher, else the default account.
    pub async fn load(state: &AppState, api: &ApiClient, s: &Session, section: &'static str) -> Result<Nav, Response> {
        // Only an ended session stops the page; a person who must first enrol a second factor
        // still gets the frame (the API refuses them everything else until then).
        let orgs = match api.items(&s.who, "/setup/organization").await {
            Ok(orgs) => orgs,
            Err(f) if f.status == 401 => return Err(failure_page(s, &f)),
            Err(_) => Vec::new(),
        };
        let accounts = api.items(&s.who, "/setup/account").await.unwrap_or_default();
        let unread = api
            .get(&s.who, "/notifications/count")
            .await
            .ok()
            .and_then(|r| client::items(&r).first().and_then(|i| i.get("unread")).and_then(|u| u.as_i64()))
            .unwrap_or(0);
        let org_id = s.caller.org_id.to_string();
        let org_name = orgs
            .iter()
            .find(|o| text(o, "organizationId") == org_id)
            .map(|o| text(o, "displayName"))
            .unwrap_or_else(|| org_id.clone());
        let account = accounts
            .iter()
            .find(|a| Some(text(a, "accountId")) == s.account_pick)
            .or_else(|| accounts.iter().find(|a| client::flag(a, "isDefault")))
            .or_else(|| accounts.first());
        let can_create_account = can(state, s, Action::CreateAccount, None).await;
        Ok(Nav {
            email: s.caller.email.clone(),
            orgs: orgs.iter().map(|o| Choice { id: text(o, "organizationId"), name: text(o, "displayName") }).collect(),
            accounts: accounts.iter().map(|a| Choice { id: text(a, "accountId"), name: text(a, "name") }).collect(),
            account_id: account.map(|a| text(a, "accountId")).unwrap_or_default(),
            account_name: account.map(|a| text(a, "name")).unwrap_or_default(),
            csrf: s.csrf.clone(),
            admin: s.caller.is_admin(),
            can_create_account,
            section,
            unread,
            org_id,
            org_name,
        })
    }
}

/// Whether the person's policies allow `action` (on `account`, or at organization level), so a
/// page shows only the buttons its reader can use. The API refuses the action anyway.
pub async fn can(state: &AppState, s: &Session, action: Action, account: Option<&str>) -> bool {
    let org = s.caller.org_id.to_string();
    let target = Target { resource: account.unwrap_or(&org), account_id: account };
    crate::authz::check(state, &s.caller, action, target).await.is_ok()
}

/// Renders a template as a page no cache keeps (pages may show secrets once).
pub fn page(t: impl Template) -> Response {
    page_with_status(StatusCode::OK, t)
}

/// A form sent back with its errors (htmx is configured to swap 422 answers in).
pub fn invalid(t: impl Template) -> Response {
    page_with_status(StatusCode::UNPROCESSABLE_ENTITY, t)
}

fn page_with_status(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// An API failure as a page: an ended session goes back to sign-in, the rest is explained.
pub fn failure_page(s: &Session, f: &Failure) -> Response {
    if f.status == 401 {
        let mut res = session::redirect(&s.headers, "/console/signin");
        res.headers_mut().append(header::SET_COOKIE, session::clear_session_cookie());
        return res;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
    page_with_status(status, Problem { code: f.code.clone(), message: f.message.clone() })
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct Problem {
    code: String,
    message: String,
}

/// Errors of a submitted form: beside their field when the API named one, else on top.
#[derive(Debug, Default)]
pub struct Errors {
    pub general: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl Errors {
    /// Places an API failure: at the first of `fields` it is about, else on top.
    pub fn from_failure(f: &Failure, fields: &[&'static str]) -> Errors {
        match fields.iter().find(|name| f.is_about(name)) {
            Some(name) => Errors { general: None, fields: vec![(name, f.message.clone())] },
            None => Errors { general: Some(f.message.clone()), fields: Vec::new() },
        }
    }

    pub fn general(message: impl Into<String>) -> Errors {
        Errors { general: Some(message.into()), fields: Vec::new() }
    }

    pub fn field(name: &'static str, message: impl Into<String>) -> Errors {
        Errors { general: None, fields: vec![(name, message.into())] }
    }

    /// The message for the field `name` (empty when none).
    pub fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str()).unwrap_or("")
    }

    pub fn any(&self) -> bool {
        self.general.is_some() || !self.fields.is_empty()
    }
}

/// Percent-encodes a query value.
pub fn q(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
