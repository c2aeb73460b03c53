//! Cloud connection wizards for the current account: AWS (external id → IAM role ARN),
//! Azure (a service principal) and GCP (a service-account key). Each step is the API's.

use super::client::{ApiClient, Payload, items, text};
use super::iam::Fields;
use super::layout::{Errors, Nav, invalid, page, q};
use super::session::Session;
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

#[derive(Template)]
#[template(path = "console/cloud.html")]
pub struct Cloud {
    nav: Nav,
    /// `overview`, `aws`, `azure` or `gcp`.
    provider: String,
    connected: Vec<(String, String)>,
    external_id: String,
    external_id_until: String,
    fields: Vec<(String, String)>,
    notice: Option<String>,
    errors: Errors,
}

impl Cloud {
    fn value(&self, name: &str) -> String {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

pub async fn overview(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    wizard(&state, &api, &s, "overview".into(), Vec::new(), None, Errors::default()).await
}

pub async fn provider(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(provider): Path<String>,
) -> Response {
    wizard(&state, &api, &s, provider, Vec::new(), None, Errors::default()).await
}

#[allow(clippy::too_many_arguments)]
async fn wizard(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    provider: String,
    fields: Vec<(String, String)>,
    notice: Option<String>,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "cloud");
    let account = q(&nav.account_id);
    let mut connected = Vec::new();
    let checks = [
        ("AWS", format!("/setup/credentials/aws?accountId={account}"), "iamRole"),
        ("Azure", format!("/azure/setup/credentials?accountId={account}"), "clientId"),
        ("GCP", format!("/gcp/setup/credentials?accountId={account}"), "clientEmail"),
    ];
    for (name, uri, key) in checks {
        if let Ok(list) = api.items(&s.who, &uri).await
            && let Some(c) = list.first()
        {
            let detail = text(c, key);
            connected.push((name.to_string(), if detail.is_empty() { "connected".into() } else { detail }));
        }
    }
    let (external_id, external_id_until) = if provider == "aws" {
        match api.items(&s.who, &format!("/setup/credentials/aws/externalId/{account}")).await {
            Ok(list) => list.first().map(|e| (text(e, "externalId"), text(e, "maxValidUntil"))).unwrap_or_default(),
            Err(_) => Default::default(),
        }
    } else {
        Default::default()
    };
    let res = Cloud { nav, provider, connected, external_id, external_id_until, fields, notice, errors };
    if res.errors.any() { invalid(res) } else { page(res) }
}

/// One wizard step: mint the AWS external id, or submit a provider's credentials.
pub async fn step(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(provider): Path<String>,
    form: Fields,
) -> Response {
    let account = q(&form.one("accountId"));
    let request = match (provider.as_str(), form.one("step").as_str()) {
        ("aws", "externalId") => Ok((format!("/setup/credentials/aws/externalId?accountId={account}"), Value::Null)),
        ("aws", _) => Ok((
            format!("/setup/credentials/aws?accountId={account}"),
            json!({ "credentials": { "iamRole": form.one("iamRole") } }),
        )),
        ("azure", _) => Ok((
            format!("/azure/setup/credentials?accountId={account}"),
            json!({
                "clientId": form.one("clientId"),
                "clientSecret": form.one("clientSecret"),
                "tenantId": form.one("tenantId"),
                "subscriptionId": Some(form.one("subscriptionId")).filter(|v| !v.is_empty()),
            }),
        )),
        ("gcp", _) => serde_json::from_str::<Value>(&form.one("serviceAccount"))
            .map(|key| (format!("/gcp/setup/credentials?accountId={account}"), json!({ "serviceAccount": key })))
            .map_err(|e| Errors::field("serviceAccount", format!("the key file is not valid JSON: {e}"))),
        _ => Err(Errors::general("unknown cloud provider")),
    };
    let kept: Vec<(String, String)> = form
        .0
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_csrf" | "clientSecret" | "serviceAccount"))
        .cloned()
        .collect();
    let (uri, body) = match request {
        Ok(r) => r,
        Err(errors) => return wizard(&state, &api, &s, provider, kept, None, errors).await,
    };
    let payload = if body.is_null() { Payload::None } else { Payload::Json(body) };
    match api.call(&s.who, Method::POST, &uri, payload).await {
        Ok(response) => {
            let notice = match form.one("step").as_str() {
                "externalId" => None,
                _ => Some(format!(
                    "Connected. {}",
                    items(&response).first().map(|c| text(c, "accountId")).unwrap_or_default()
                )),
            };
            wizard(&state, &api, &s, provider, Vec::new(), notice, Errors::default()).await
        }
        Err(f) => {
            let fields = ["iamRole", "clientId", "clientSecret", "tenantId", "subscriptionId", "serviceAccount"];
            wizard(&state, &api, &s, provider, kept, None, Errors::from_failure(&f, &fields)).await
        }
    }
}
