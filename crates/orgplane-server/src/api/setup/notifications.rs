//! `/setup/account/{accountId}/notifications…`: who an account's notifications go to (email
//! recipients, the account's Slack channels), which events are off, and a "send test" action.
//! orgplane's addition beside Spot's account routes.

use super::super::{Failure, Items};
use super::credentials::account_for;
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::Action;
use orgplane_domain::ids::AccountId;
use orgplane_domain::notify::Notice;
use orgplane_domain::{Error, validate};
use orgplane_store::notifications::NotificationSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "orgplane:setup:account:notifications";
const MAX_RECIPIENTS: usize = 100;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettingsItem {
    pub account_id: String,
    /// `null`: the defaults (organization admins; for the account's own events, also everyone
    /// attached to the account).
    pub email_recipients: Option<Vec<String>>,
    pub disabled_events: Vec<String>,
    /// The account's `slackNotificationChannels`.
    pub slack_channels: Vec<String>,
    /// Every event name that can be turned off.
    pub events: Vec<&'static str>,
    /// Channels that refused a message for good (removed or archived in Slack), still listed
    /// above: fix or remove them.
    pub failing_slack_channels: Vec<FailingChannel>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingChannel {
    pub url: String,
    pub error: String,
    pub failed_at: String,
}

async fn render(state: &AppState, org: orgplane_domain::ids::OrgId, account: &AccountId) -> Result<Reply, Error> {
    let settings = state.store.notification_settings(org, account).await?;
    let found = state.store.find_account(org, account).await?;
    let slack_channels = found.map(|a| a.slack_channels).unwrap_or_default();
    let failing_slack_channels = state
        .store
        .failed_slack_channels(org, account)
        .await?
        .into_iter()
        .filter(|f| slack_channels.contains(&f.url))
        .map(|f| FailingChannel { url: f.url, error: f.error, failed_at: orgplane_domain::timefmt::to_spot(f.at) })
        .collect();
    Ok(Reply::item(
        KIND,
        NotificationSettingsItem {
            account_id: account.to_string(),
            email_recipients: settings.email_recipients,
            disabled_events: settings.disabled_events,
            slack_channels,
            events: Notice::ALL.iter().filter(|n| **n != Notice::Test).map(|n| n.name()).collect(),
            failing_slack_channels,
        },
    ))
}

fn path_account(id: &str) -> Result<AccountId, Error> {
    AccountId::parse(id).map_err(|e| e.in_field("path"))
}

/// The account's notification settings.
#[utoipa::path(get, path = "/setup/account/{accountId}/notifications", tag = "accounts", security(("bearer" = [])),
    params(("accountId" = String, Path)),
    responses((status = 200, body = Items<NotificationSettingsItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let account = account_for(&state, &caller, &path_account(&id)?, "path.accountId", Action::DescribeAccount).await?;
    Ok(render(&state, caller.org_id, &account).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettingsInput {
    /// Replaces the recipients; `null` returns to the defaults.
    pub email_recipients: Option<Vec<String>>,
    #[serde(default)]
    pub disabled_events: Vec<String>,
}

/// Replaces the account's notification settings.
#[utoipa::path(put, path = "/setup/account/{accountId}/notifications", tag = "accounts", security(("bearer" = [])),
    params(("accountId" = String, Path)), request_body = NotificationSettingsInput,
    responses((status = 200, body = Items<NotificationSettingsItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(req): Body<NotificationSettingsInput>,
) -> ApiResult<Reply> {
    let account = account_for(&state, &caller, &path_account(&id)?, "path.accountId", Action::UpdateAccount).await?;
    let email_recipients = match req.email_recipients {
        None => None,
        Some(list) if list.len() > MAX_RECIPIENTS => {
            return Err(
                Error::validation("body.emailRecipients", format!("at most {MAX_RECIPIENTS} recipients")).into()
            );
        }
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, e)| validate::email(&format!("body.emailRecipients[{i}]"), e).map(|e| e.display))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mut disabled_events = Vec::new();
    for (i, name) in req.disabled_events.iter().enumerate() {
        match Notice::parse(name).filter(|n| *n != Notice::Test) {
            Some(n) if !disabled_events.contains(&n.name().to_string()) => disabled_events.push(n.name().to_string()),
            Some(_) => {}
            None => {
                return Err(Error::validation(
                    format!("body.disabledEvents[{i}]"),
                    format!("\"{name}\" is not a notification event"),
                )
                .into());
            }
        }
    }
    let settings = NotificationSettings { email_recipients, disabled_events };
    state.store.set_notification_settings(caller.org_id, &account, &settings).await?;
    Ok(render(&state, caller.org_id, &account).await?)
}

#[derive(Serialize, ToSchema)]
pub struct TestQueued {
    /// Emails queued.
    pub email: usize,
    /// Slack messages queued.
    pub slack: usize,
}

/// Sends a test notification to every channel of the account (through the outbox, like any).
#[utoipa::path(post, path = "/setup/account/{accountId}/notifications/test", tag = "accounts", security(("bearer" = [])),
    params(("accountId" = String, Path)),
    responses((status = 200, body = Items<TestQueued>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn test(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let account = account_for(&state, &caller, &path_account(&id)?, "path.accountId", Action::UpdateAccount).await?;
    let by = (!caller.email.is_empty()).then_some(caller.email.as_str());
    let queued = state.store.send_test_notification(caller.org_id, &account, by).await?;
    Ok(Reply::item(KIND, TestQueued { email: queued.email, slack: queued.slack }))
}
