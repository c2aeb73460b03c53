//! The audit trail: a table with date-range presets, filters, expandable event details,
//! paging, and the export (CSV or JSON lines) of what the filters select.

use super::client::{ApiClient, Payload, text};
use super::layout::{Errors, Nav, failure_page, page, q};
use super::session::Session;
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    /// `24h`, `7d`, `30d` or `90d`.
    #[serde(default)]
    range: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    /// `all` to include refused requests.
    #[serde(default)]
    response_status: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn days(&self) -> i64 {
        match self.range.as_str() {
            "24h" => 1,
            "30d" => 30,
            "90d" => 90,
            _ => 7,
        }
    }

    /// The API query these filters stand for (without the cursor).
    fn api_query(&self) -> String {
        let to = orgplane_store::now_ms();
        let mut query = format!("fromDate={}&toDate={to}", to - self.days() * DAY_MS);
        for (key, value) in [("user", &self.user), ("action", &self.action)] {
            if !value.trim().is_empty() {
                query.push_str(&format!("&{key}={}", q(value.trim())));
            }
        }
        if self.response_status == "all" {
            query.push_str("&responseStatus=all");
        }
        query
    }

    /// The console query these filters stand for (for the next-page link).
    fn console_query(&self) -> String {
        format!(
            "range={}&user={}&action={}&responseStatus={}",
            q(&self.range),
            q(&self.user),
            q(&self.action),
            q(&self.response_status)
        )
    }
}

pub struct Event {
    pub when: String,
    pub user: String,
    pub action: String,
    pub resource: String,
    pub status: String,
    pub source: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct Audit {
    nav: Nav,
    filters: Filters,
    events: Vec<Event>,
    next: Option<String>,
    errors: Errors,
}

pub async fn audit(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Query(filters): Query<Filters>,
) -> Response {
    let nav = nav!(&state, &api, &s, "audit");
    let mut uri = format!("/audit/events?{}&limit=50", filters.api_query());
    if !filters.cursor.is_empty() {
        uri.push_str(&format!("&cursor={}", q(&filters.cursor)));
    }
    let (events, next, errors) = match api.get(&s.who, &uri).await {
        Ok(response) => {
            let events = super::client::items(&response)
                .iter()
                .map(|e| Event {
                    when: text(e, "createdAt"),
                    user: Some(text(e, "user")).filter(|u| !u.is_empty()).unwrap_or_else(|| text(e, "userId")),
                    action: text(e, "action"),
                    resource: format!("{} {}", text(e, "resourceType"), text(e, "resourceId")).trim().to_string(),
                    status: text(e, "responseStatus"),
                    source: text(e, "source"),
                    ip: text(e, "ip"),
                    detail: detail(e),
                })
                .collect();
            let next = response
                .pointer("/paginationInfo/nextCursor")
                .and_then(Value::as_str)
                .map(|c| format!("/console/audit?{}&cursor={}", filters.console_query(), q(c)));
            (events, next, Errors::default())
        }
        Err(f) if f.status == 401 => return failure_page(&s, &f),
        Err(f) => (Vec::new(), None, Errors::from_failure(&f, &[])),
    };
    page(Audit { nav, filters, events, next, errors })
}

/// The whole event, pretty-printed, for the expandable row (its context is a JSON string).
fn detail(e: &Value) -> String {
    let mut e = e.clone();
    if let Some(context) = e.get("context").and_then(Value::as_str).and_then(|c| serde_json::from_str::<Value>(c).ok())
    {
        e["context"] = context;
    }
    serde_json::to_string_pretty(&e).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    filters: Filters,
    #[serde(default)]
    format: String,
}

/// The API's streaming export of the selected events.
pub async fn export(Extension(api): Extension<ApiClient>, s: Session, Query(query): Query<ExportQuery>) -> Response {
    let format = if query.format == "jsonl" { "jsonl" } else { "csv" };
    let uri = format!("/audit/events/export?{}&format={format}", query.filters.api_query());
    api.raw(&s.who, Method::GET, &uri, Payload::None).await
}
