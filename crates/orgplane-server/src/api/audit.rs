//! `/audit` (spot-api.md §3.8): the organization's audit trail — Spot's `GET /audit/events`,
//! paged, plus a streaming export with no window limit and the webhook that receives every event.

use super::{Done, Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, NoParams, Query, QueryParams};
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::audit::Event;
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const KIND: &str = "spotinst:audit";
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;
const EXPORT_BATCH: i64 = 500;

/// Filters shared by the list and the export.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventParams {
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub response_status: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub format: Option<String>,
}

/// `GET /audit/events` takes these.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ListParams(EventParams);

impl QueryParams for ListParams {
    const ALLOWED: &'static [&'static str] =
        &["fromDate", "toDate", "responseStatus", "user", "action", "resourceType", "resourceId", "limit", "cursor"];
}

/// `GET /audit/events/export` takes these.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ExportParams(EventParams);

impl QueryParams for ExportParams {
    const ALLOWED: &'static [&'static str] =
        &["fromDate", "toDate", "responseStatus", "user", "action", "resourceType", "resourceId", "format"];
}

/// A Unix time in milliseconds, as Spot sends it (a string of digits).
fn epoch_ms(field: &str, value: Option<&str>, required: bool, default: i64) -> Result<i64, Error> {
    match value {
        None if required => Err(Error::validation(format!("query.{field}"), format!("\"{field}\" is required"))),
        None => Ok(default),
        Some(v) => v.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Error::validation(format!("query.{field}"), format!("\"{field}\" must be a Unix time in milliseconds"))
        }),
    }
}

fn text_filter(field: &str, value: Option<&str>) -> Result<Option<String>, Error> {
    value.map(|v| validate::label(&format!("query.{field}"), v)).transpose()
}

/// Turns the query into the store's filter. `dates_required` is Spot's rule for the list.
fn filter(
    caller: &Caller,
    account: Option<String>,
    p: &EventParams,
    dates_required: bool,
) -> Result<AuditFilter, Error> {
    let from_ms = epoch_ms("fromDate", p.from_date.as_deref(), dates_required, 0)?;
    let to_ms = epoch_ms("toDate", p.to_date.as_deref(), dates_required, i64::MAX)?;
    if from_ms > to_ms {
        return Err(Error::validation("query.fromDate", "\"fromDate\" must not be after \"toDate\""));
    }
    let success_only = match p.response_status.as_deref() {
        None | Some("success") => true,
        Some("all") => false,
        Some(_) => {
            return Err(Error::validation("query.responseStatus", "\"responseStatus\" must be success or all"));
        }
    };
    Ok(AuditFilter {
        org: caller.org_id,
        from_ms,
        to_ms,
        account_id: account,
        success_only,
        user: text_filter("user", p.user.as_deref())?,
        action: text_filter("action", p.action.as_deref())?,
        resource_type: text_filter("resourceType", p.resource_type.as_deref())?,
        resource_id: text_filter("resourceId", p.resource_id.as_deref())?,
    })
}

/// One event as Spot's clients read it, plus orgplane's own fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    /// The position of the event in the organization's hash chain.
    pub seq: i64,
    pub organization_id: String,
    pub account_id: Option<String>,
    /// The email of whoever acted (absent for programmatic users).
    pub user: Option<String>,
    pub user_id: Option<String>,
    pub token_id: Option<i64>,
    pub namespace: String,
    /// What happened, in words: "Create account", "Sign in".
    pub action_type: String,
    /// The permission-style name: `setup:createAccount`.
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub created_at: String,
    /// A JSON string of `{body, url, query}`, secrets redacted.
    pub context: String,
    /// Where the request came from: `API`, `CLI`.
    pub source: String,
    /// The User-Agent.
    pub agent: Option<String>,
    pub ip: Option<String>,
    pub response_status: i64,
}

impl From<Event> for AuditEvent {
    fn from(e: Event) -> Self {
        AuditEvent {
            id: e.id,
            seq: e.seq,
            organization_id: e.organization_id.to_string(),
            account_id: e.account_id,
            user: e.user_email,
            user_id: e.user_id,
            token_id: e.token_id,
            namespace: e.namespace,
            action_type: e.action_type,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            created_at: to_spot(e.created_at),
            context: e.context,
            source: e.source.to_uppercase(),
            agent: e.agent,
            ip: e.ip,
            response_status: e.response_status,
        }
    }
}

/// The organization's events in a time window, newest first. `responseStatus=success` (the
/// default) keeps HTTP 200 events only; `all` adds refused requests and failed sign-ins. Pages
/// of `limit` (≤ 1000, default 100); `paginationInfo.nextCursor` is the `cursor` of the next.
#[utoipa::path(get, path = "/audit/events", tag = "audit",
    params(
        ("fromDate" = String, Query, description = "Start, Unix milliseconds (required)"),
        ("toDate" = String, Query, description = "End, Unix milliseconds (required)"),
        ("accountId" = Option<String>, Query, description = "Only events of this account"),
        ("responseStatus" = Option<String>, Query, description = "success (default) or all"),
        ("user" = Option<String>, Query, description = "Email or user id of who acted"),
        ("action" = Option<String>, Query, description = "e.g. setup:createAccount"),
        ("resourceType" = Option<String>, Query),
        ("resourceId" = Option<String>, Query),
        ("limit" = Option<i64>, Query, description = "Page size, at most 1000"),
        ("cursor" = Option<String>, Query, description = "From paginationInfo.nextCursor"),
    ),
    responses((status = 200, body = Items<AuditEvent>), (status = 400, body = Failure), (status = 403, body = Failure)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<ListParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::DescribeAllAuditEvents).await?;
    let p = &q.params.0;
    let f = filter(&caller, q.account_id.map(|a| a.to_string()), p, true)?;
    let limit = super::paging::limit(p.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let before = p
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| Error::validation("query.cursor", "\"cursor\" is not a cursor")))
        .transpose()?;
    // One more than asked tells whether another page follows.
    let events = state.store.audit_events(&f, before, limit + 1).await?;
    let (events, more) = super::paging::split(events, limit);
    let next_cursor = more.then(|| events.last().map(|e| e.seq.to_string())).flatten();
    Ok(Reply::page(KIND, events.into_iter().map(AuditEvent::from), next_cursor))
}

/// Every matching event, oldest first, streamed as CSV (`format=csv`, the default) or JSON
/// lines (`format=jsonl`). Without dates it covers the whole trail.
#[utoipa::path(get, path = "/audit/events/export", tag = "audit",
    params(
        ("format" = Option<String>, Query, description = "csv (default) or jsonl"),
        ("fromDate" = Option<String>, Query, description = "Start, Unix milliseconds"),
        ("toDate" = Option<String>, Query, description = "End, Unix milliseconds"),
        ("accountId" = Option<String>, Query),
        ("responseStatus" = Option<String>, Query, description = "success (default) or all"),
        ("user" = Option<String>, Query),
        ("action" = Option<String>, Query),
        ("resourceType" = Option<String>, Query),
        ("resourceId" = Option<String>, Query),
    ),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = Failure), (status = 403, body = Failure)),
    security(("bearer" = [])))]
pub async fn export(State(state): State<AppState>, Auth(caller): Auth, q: Query<ExportParams>) -> ApiResult<Response> {
    authz::check_org(&state, &caller, Action::DescribeAllAuditEvents).await?;
    let p = &q.params.0;
    let csv = match p.format.as_deref() {
        None | Some("csv") => true,
        Some("jsonl") => false,
        Some(_) => return Err(Error::validation("query.format", "\"format\" must be csv or jsonl").into()),
    };
    let f = filter(&caller, q.account_id.map(|a| a.to_string()), p, false)?;
    let store = state.store.clone();
    let header_row = csv.then(|| bytes::Bytes::from(csv_line(CSV_COLUMNS.iter().map(|c| c.to_string()))));
    // Keyset batches: memory stays flat whatever the trail's size.
    let batches = futures_util::stream::unfold(Some(0_i64), move |after| {
        let store = store.clone();
        let f = f.clone();
        async move {
            let after = after?;
            match store.audit_events_after(&f, after, EXPORT_BATCH).await {
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let next = (i64::try_from(events.len()).unwrap_or(0) == EXPORT_BATCH)
                        .then(|| events.last().map(|e| e.seq))
                        .flatten();
                    let mut chunk = String::new();
                    for e in events {
                        if csv {
                            chunk.push_str(&csv_row(e));
                        } else {
                            chunk.push_str(&serde_json::to_string(&AuditEvent::from(e)).expect("serialises"));
                            chunk.push('\n');
                        }
                    }
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed part-way");
                    Some((Err(std::io::Error::other("the export failed part-way")), None))
                }
            }
        }
    });
    let body = futures_util::StreamExt::chain(futures_util::stream::iter(header_row.map(Ok)), batches);
    let (content_type, file) =
        if csv { ("text/csv; charset=utf-8", "audit.csv") } else { ("application/x-ndjson", "audit.jsonl") };
    let mut res = HttpBody::from_stream(body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{file}\"");
    res.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(Error::internal)?);
    Ok(res)
}

const CSV_COLUMNS: [&str; 17] = [
    "id",
    "seq",
    "createdAt",
    "organizationId",
    "accountId",
    "user",
    "userId",
    "tokenId",
    "namespace",
    "actionType",
    "action",
    "resourceType",
    "resourceId",
    "source",
    "ip",
    "agent",
    "responseStatus",
];

fn csv_row(e: Event) -> String {
    let e = AuditEvent::from(e);
    csv_line([
        e.id,
        e.seq.to_string(),
        e.created_at,
        e.organization_id,
        e.account_id.unwrap_or_default(),
        e.user.unwrap_or_default(),
        e.user_id.unwrap_or_default(),
        e.token_id.map(|t| t.to_string()).unwrap_or_default(),
        e.namespace,
        e.action_type,
        e.action,
        e.resource_type.unwrap_or_default(),
        e.resource_id.unwrap_or_default(),
        e.source,
        e.ip.unwrap_or_default(),
        e.agent.unwrap_or_default(),
        e.response_status.to_string(),
    ])
}

/// One RFC 4180 line. Cells that a spreadsheet would run as a formula get a leading `'`.
fn csv_line(cells: impl IntoIterator<Item = String>) -> String {
    let mut line = String::new();
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell };
        if cell.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&cell.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&cell);
        }
    }
    line.push_str("\r\n");
    line
}

#[derive(Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Where events are POSTed, as JSON, one per request.
    pub url: String,
    /// The HMAC key (16–200 characters); generated when absent.
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub url: String,
    /// Shown only when the webhook is set. Deliveries carry `X-Orgplane-Signature:
    /// t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
    pub secret: Option<String>,
    pub created_at: String,
}

/// Sends every future event of the organization to `url`, signed with `secret`, retried with
/// back-off through the outbox. Replaces an earlier webhook.
#[utoipa::path(put, path = "/audit/webhook", tag = "audit", request_body = WebhookRequest,
    responses((status = 200, body = Items<Webhook>), (status = 400, body = Failure), (status = 403, body = Failure)),
    security(("bearer" = [])))]
pub async fn set_webhook(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(req): Body<WebhookRequest>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::UpdateOrganization).await?;
    let url = validate::webhook_url("body.url", &req.url)?;
    let secret = match req.secret {
        Some(s) if (16..=200).contains(&s.chars().count()) && !s.chars().any(char::is_control) => s,
        Some(_) => return Err(Error::validation("body.secret", "\"secret\" must be 16 to 200 characters").into()),
        None => orgplane_domain::secret::new_token(orgplane_domain::secret::TokenKind::Personal).secret,
    };
    let sealed = state.config.master_key.encrypt(secret.as_bytes());
    state.store.set_audit_webhook(caller.org_id, &url, &sealed).await?;
    let created_at = to_spot(orgplane_store::now_ms());
    Ok(Reply::item("spotinst:audit:webhook", Webhook { url, secret: Some(secret), created_at }))
}

fn no_webhook() -> ApiError {
    ApiError(Error::not_found("AUDIT_WEBHOOK_DOESNT_EXIST", "path", "this organization has no audit webhook"))
}

/// The organization's audit webhook, without its secret.
#[utoipa::path(get, path = "/audit/webhook", tag = "audit",
    responses((status = 200, body = Items<Webhook>), (status = 403, body = Failure), (status = 404, body = Failure)),
    security(("bearer" = [])))]
pub async fn get_webhook(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::DescribeAllAuditEvents).await?;
    let hook = state.store.audit_webhook(caller.org_id).await?.ok_or_else(no_webhook)?;
    Ok(Reply::item(
        "spotinst:audit:webhook",
        Webhook { url: hook.url, secret: None, created_at: to_spot(hook.created_at) },
    ))
}

/// Stops deliveries (those already queued still go out).
#[utoipa::path(delete, path = "/audit/webhook", tag = "audit",
    responses((status = 200, body = Done), (status = 403, body = Failure), (status = 404, body = Failure)),
    security(("bearer" = [])))]
pub async fn delete_webhook(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::UpdateOrganization).await?;
    if !state.store.delete_audit_webhook(caller.org_id).await? {
        return Err(no_webhook());
    }
    Ok(Reply::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let line = csv_line(["a,b".to_string(), "say \"hi\"".to_string(), "=cmd()".to_string(), "plain".to_string()]);
        assert_eq!(line, "\"a,b\",\"say \"\"hi\"\"\",'=cmd(),plain\r\n");
    }
}
