//! Spot's response envelope (spot-api.md §1). Every response — success or error, from a handler,
//! an extractor, the fallback or a panic — is one JSON object `{request, response}`.
//!
//! The `request` half comes from the `RequestContext` that the outermost middleware puts in a
//! task-local for the duration of the request, so renderers need no extra arguments.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// What the envelope says about the request being answered.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub id: String,
    /// Path and query, no scheme or host, as Spot shows it.
    pub url: String,
    pub method: String,
    pub timestamp: String,
    /// The rate-limit state of this request, set once the caller is known, turned into
    /// `X-RateLimit-*` headers on the way out.
    pub rate: std::sync::Arc<std::sync::Mutex<Option<crate::rate_limit::RateInfo>>>,
}

tokio::task_local! {
    pub(crate) static REQUEST: RequestContext;
}

/// Runs `f` as if answering the request `ctx` describes: what the request middleware sets up,
/// for code that renders outside a server (benchmarks of the encoder).
pub fn answering<R>(ctx: RequestContext, f: impl FnOnce() -> R) -> R {
    REQUEST.sync_scope(ctx, f)
}

fn request_json() -> Value {
    REQUEST
        .try_with(|r| json!({ "id": r.id, "url": r.url, "method": r.method, "timestamp": r.timestamp }))
        .unwrap_or_else(|_| json!({}))
}

/// Renders `response` into the envelope with the given status.
pub(crate) fn render(status: StatusCode, mut response: serde_json::Map<String, Value>) -> Response {
    response.insert(
        "status".into(),
        json!({ "code": status.as_u16(), "message": status.canonical_reason().unwrap_or("") }),
    );
    let body = json!({ "request": request_json(), "response": response });
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A successful answer: 200 with items of one `kind`, or with the status alone.
#[derive(Debug)]
pub enum Reply {
    /// Action responses (update, delete, mapping changes): `request` + `response.status`.
    Done,
    /// Item responses: `kind`, `items`, `count`.
    Items { kind: &'static str, items: Vec<Value> },
    /// An update that reports how many records it changed (`response.affectedRows`), as Spot's
    /// event-subscription update does.
    Affected(u64),
    /// One page of a longer list: as `Items`, plus `paginationInfo.nextCursor` when more follow.
    Page { kind: &'static str, items: Vec<Value>, next_cursor: Option<String> },
}

impl Reply {
    pub fn items<T: Serialize>(kind: &'static str, items: impl IntoIterator<Item = T>) -> Self {
        let items = items.into_iter().map(|i| serde_json::to_value(i).expect("wire types serialise")).collect();
        Reply::Items { kind, items }
    }

    pub fn item<T: Serialize>(kind: &'static str, item: T) -> Self {
        Reply::items(kind, [item])
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = serde_json::Map::new();
        let (kind, items, next_cursor) = match self {
            Reply::Done => return render(StatusCode::OK, response),
            Reply::Affected(n) => {
                response.insert("affectedRows".into(), json!(n));
                return render(StatusCode::OK, response);
            }
            Reply::Items { kind, items } => (kind, items, None),
            Reply::Page { kind, items, next_cursor } => (kind, items, next_cursor),
        };
        response.insert("kind".into(), json!(kind));
        response.insert("count".into(), json!(items.len()));
        response.insert("items".into(), Value::Array(items));
        if let Some(cursor) = next_cursor {
            response.insert("paginationInfo".into(), json!({ "nextCursor": cursor }));
        }
        render(StatusCode::OK, response)
    }
}
