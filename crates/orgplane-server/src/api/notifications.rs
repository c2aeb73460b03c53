//! `/notifications`: the caller's inbox in their organization — the console channel of the
//! notices that also go out by email and Slack.

use super::{Done, Failure, Items};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, NoParams, PathParam, Query, QueryParams};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::timefmt::to_spot;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "orgplane:notification";
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    pub unread: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl QueryParams for InboxParams {
    const ALLOWED: &'static [&'static str] = &["unread", "limit", "cursor"];
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    pub id: i64,
    /// e.g. `user.added`, `cloud.connectionFailed`.
    pub event: String,
    pub subject: String,
    pub text: String,
    pub created_at: String,
    pub read: bool,
}

/// The caller's notifications, newest first, `limit` at a time (≤ 500, default 50);
/// `paginationInfo.nextCursor` is the `cursor` of the next page. `unread=true` hides read ones.
#[utoipa::path(get, path = "/notifications", tag = "notifications", security(("bearer" = [])),
    params(("unread" = Option<bool>, Query), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Items<InboxEntry>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<InboxParams>) -> ApiResult<Reply> {
    let p = &q.params;
    let unread = match p.unread.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::validation("query.unread", "\"unread\" must be true or false").into()),
    };
    let limit = super::paging::limit(p.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let before = p
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| Error::validation("query.cursor", "\"cursor\" is not a cursor")))
        .transpose()?;
    let items = state.store.inbox(caller.org_id, &caller.user_id, unread, before, limit + 1).await?;
    let (items, more) = super::paging::split(items, limit);
    let next_cursor = more.then(|| items.last().map(|i| i.id.to_string())).flatten();
    let entries = items.into_iter().map(|i| InboxEntry {
        id: i.id,
        event: i.notice,
        subject: i.subject,
        text: i.body,
        created_at: to_spot(i.created_at),
        read: i.read_at.is_some(),
    });
    Ok(Reply::page(KIND, entries, next_cursor))
}

#[derive(Serialize, ToSchema)]
pub struct InboxCount {
    pub unread: i64,
    pub total: i64,
}

/// How many notifications the caller has, and how many are unread (the console's badge).
#[utoipa::path(get, path = "/notifications/count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Items<InboxCount>), (status = 401, body = Failure)))]
pub async fn count(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    let (unread, total) = state.store.inbox_counts(caller.org_id, &caller.user_id).await?;
    Ok(Reply::item("orgplane:notification:count", InboxCount { unread, total }))
}

/// Marks one notification read.
#[utoipa::path(post, path = "/notifications/{notificationId}/read", tag = "notifications", security(("bearer" = [])),
    params(("notificationId" = i64, Path)),
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn mark_read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let not_found = || Error::not_found("NOTIFICATION_DOESNT_EXIST", "path.notificationId", "no such notification");
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    if !state.store.mark_inbox_read(caller.org_id, &caller.user_id, Some(id)).await? {
        return Err(not_found().into());
    }
    Ok(Reply::Done)
}

/// Marks every notification of the caller read.
#[utoipa::path(post, path = "/notifications/read", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 401, body = Failure)))]
pub async fn mark_all_read(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    state.store.mark_inbox_read(caller.org_id, &caller.user_id, None).await?;
    Ok(Reply::Done)
}
