//! Notifications: the inbox (with the unread count in the top bar) and, per account, email
//! recipients, disabled events and Slack channels, with a test button.

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

#[derive(Template)]
#[template(path = "console/notifications.html")]
pub struct Notifications {
    nav: Nav,
    inbox: Vec<Named>,
    recipients: String,
    slack: String,
    events: Vec<Named>,
    can_edit: bool,
    notice: Option<String>,
    errors: Errors,
}

pub async fn notifications(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    notifications_page(&state, &api, &s, None, Errors::default()).await
}

async fn notifications_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    notice: Option<String>,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "notifications");
    let inbox = match api.items(&s.who, "/notifications?limit=50").await {
        Ok(list) => list
            .iter()
            .map(|n| Named {
                id: text(n, "id"),
                name: text(n, "subject"),
                detail: format!("{} · {}", text(n, "createdAt"), text(n, "text")),
                checked: flag(n, "read"),
            })
            .collect(),
        Err(f) => return failure_page(s, &f),
    };
    let account = q(&nav.account_id);
    let settings = api
        .items(&s.who, &format!("/setup/account/{account}/notifications"))
        .await
        .ok()
        .and_then(|l| l.into_iter().next())
        .unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        settings
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let disabled = strings("disabledEvents");
    let events = strings("events")
        .into_iter()
        .map(|e| Named { checked: !disabled.contains(&e), name: e.clone(), id: e, detail: String::new() })
        .collect();
    let can_edit = !nav.account_id.is_empty() && can(state, s, Action::UpdateAccount, Some(&nav.account_id)).await;
    let res = Notifications {
        recipients: strings("emailRecipients").join("\n"),
        slack: strings("slackChannels").join("\n"),
        inbox,
        events,
        can_edit,
        nav,
        notice,
        errors,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

pub async fn mark_read(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let uri = if id == "all" { "/notifications/read".to_string() } else { format!("/notifications/{}/read", q(&id)) };
    match api.call(&s.who, Method::POST, &uri, Payload::None).await {
        Ok(_) => notifications_page(&state, &api, &s, None, Errors::default()).await,
        Err(f) => notifications_page(&state, &api, &s, None, Errors::from_failure(&f, &[])).await,
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Saves the account's email recipients, enabled events and Slack channels.
pub async fn save(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let account = q(&form.one("accountId"));
    let all_events: Vec<String> = form.all("event");
    let enabled = form.all("enabled");
    let disabled: Vec<&String> = all_events.iter().filter(|e| !enabled.contains(e)).collect();
    let recipients = lines(&form.one("recipients"));
    let body = json!({
        "emailRecipients": if recipients.is_empty() { Value::Null } else { json!(recipients) },
        "disabledEvents": disabled,
    });
    if let Err(f) =
        api.call(&s.who, Method::PUT, &format!("/setup/account/{account}/notifications"), Payload::Json(body)).await
    {
        return notifications_page(
            &state,
            &api,
            &s,
            None,
            Errors::from_failure(&f, &["emailRecipients", "disabledEvents"]),
        )
        .await;
    }
    let body = json!({ "account": { "slackNotificationChannels": lines(&form.one("slack")) } });
    match api.call(&s.who, Method::PUT, &format!("/setup/account/{account}"), Payload::Json(body)).await {
        Ok(_) => {
            notifications_page(&state, &api, &s, Some("Notification settings saved.".into()), Errors::default()).await
        }
        Err(f) => {
            notifications_page(&state, &api, &s, None, Errors::from_failure(&f, &["slackNotificationChannels"])).await
        }
    }
}

/// Sends a test notification to every channel of the account.
pub async fn test(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let account = q(&form.one("accountId"));
    match api.call(&s.who, Method::POST, &format!("/setup/account/{account}/notifications/test"), Payload::None).await {
        Ok(response) => {
            let queued = items(&response).into_iter().next().unwrap_or_default();
            let notice = format!(
                "Test queued: {} email(s), {} Slack message(s).",
                text(&queued, "email"),
                text(&queued, "slack")
            );
            notifications_page(&state, &api, &s, Some(notice), Errors::default()).await
        }
        Err(f) => notifications_page(&state, &api, &s, None, Errors::from_failure(&f, &[])).await,
    }
}
