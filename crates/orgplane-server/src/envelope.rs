//! Spot's response envelope (spot-api.md §1). Every response — success or error, from a handler,
//! an extractor, the fallback or a panic — is one JSON object `{request, response}`.
//!
//! The `request` half comes from the `RequestContext` that the outermost middleware puts in a
//! task-local for the duration of the request, so renderers need no extra arguments.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

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

/// Writes `{"request": …, "response": response}` straight into the body: no intermediate JSON
/// tree (the items of a long list would otherwise become one map per object first).
/// `size_hint`: bytes of the response's encoded items, so that the body is allocated once.
fn envelope(status: StatusCode, response: &impl Serialize, size_hint: usize) -> Response {
    #[derive(Serialize)]
    struct Envelope<'a, R> {
        request: RequestPart<'a>,
        response: &'a R,
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum RequestPart<'a> {
        Known {
            id: &'a str,
            url: &'a str,
            method: &'a str,
            timestamp: &'a str,
        },
        /// Outside a request (benchmarks, tests of the encoder): `{}`.
        Unknown {},
    }
    fn encode<R: Serialize>(request: RequestPart<'_>, response: &R, capacity: usize) -> String {
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, &Envelope { request, response }).expect("envelopes serialise");
        // serde_json writes only valid UTF-8.
        String::from_utf8(body).expect("JSON is UTF-8")
    }
    let body = REQUEST
        .try_with(|r| {
            let request = RequestPart::Known { id: &r.id, url: &r.url, method: &r.method, timestamp: &r.timestamp };
            encode(request, response, size_hint + r.url.len() + 256)
        })
        .unwrap_or_else(|_| encode(RequestPart::Unknown {}, response, size_hint + 256));
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[derive(Serialize)]
struct StatusPart {
    code: u16,
    message: &'static str,
}

impl StatusPart {
    fn of(status: StatusCode) -> Self {
        StatusPart { code: status.as_u16(), message: status.canonical_reason().unwrap_or("") }
    }
}

/// Renders `response` (an error's fields) into the envelope with the given status.
pub(crate) fn render(status: StatusCode, mut response: serde_json::Map<String, Value>) -> Response {
    response.insert("status".into(), serde_json::to_value(StatusPart::of(status)).expect("serialises"));
    envelope(status, &response, 0)
}

/// The items of a reply, already encoded: one JSON array, written in one go (an allocation per
/// item showed up in profiles of the listings), and how many it holds.
#[derive(Debug)]
pub struct Encoded {
    array: Box<RawValue>,
    count: usize,
}

impl Encoded {
    fn of<T: Serialize>(items: impl IntoIterator<Item = T>) -> Self {
        /// Serialises the iterator as a sequence, counting as it goes.
        struct Seq<I>(std::cell::Cell<Option<I>>, std::cell::Cell<usize>);
        impl<T: Serialize, I: Iterator<Item = T>> Serialize for Seq<I> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = serializer.serialize_seq(None)?;
                for item in self.0.take().into_iter().flatten() {
                    seq.serialize_element(&item)?;
                    self.1.set(self.1.get() + 1);
                }
                seq.end()
            }
        }
        let seq = Seq(std::cell::Cell::new(Some(items.into_iter())), std::cell::Cell::new(0));
        let array = serde_json::value::to_raw_value(&seq).expect("wire types serialise");
        Encoded { array, count: seq.1.get() }
    }
}

/// A successful answer: 200 with items of one `kind`, or with the status alone.
#[derive(Debug)]
pub enum Reply {
    /// Action responses (update, delete, mapping changes): `request` + `response.status`.
    Done,
    /// Item responses: `kind`, `items`, `count`.
    Items { kind: &'static str, items: Encoded },
    /// An update that reports how many records it changed (`response.affectedRows`), as Spot's
    /// event-subscription update does.
    Affected(u64),
    /// One page of a longer list: as `Items`, plus `paginationInfo.nextCursor` when more follow.
    Page { kind: &'static str, items: Encoded, next_cursor: Option<String> },
}

impl Reply {
    pub fn items<T: Serialize>(kind: &'static str, items: impl IntoIterator<Item = T>) -> Self {
        Reply::Items { kind, items: Encoded::of(items) }
    }

    pub fn item<T: Serialize>(kind: &'static str, item: T) -> Self {
        Reply::items(kind, [item])
    }

    pub fn page<T: Serialize>(
        kind: &'static str,
        items: impl IntoIterator<Item = T>,
        next_cursor: Option<String>,
    ) -> Self {
        Reply::Page { kind, items: Encoded::of(items), next_cursor }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Success<'a> {
            status: StatusPart,
            #[serde(skip_serializing_if = "Option::is_none")]
            kind: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            items: Option<&'a RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            count: Option<usize>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pagination_info: Option<Pagination<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            affected_rows: Option<u64>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Pagination<'a> {
            next_cursor: &'a str,
        }
        let mut success = Success {
            status: StatusPart::of(StatusCode::OK),
            kind: None,
            items: None,
            count: None,
            pagination_info: None,
            affected_rows: None,
        };
        let (kind, items, next_cursor) = match &self {
            Reply::Done => return envelope(StatusCode::OK, &success, 0),
            Reply::Affected(n) => {
                success.affected_rows = Some(*n);
                return envelope(StatusCode::OK, &success, 0);
            }
            Reply::Items { kind, items } => (kind, items, None),
            Reply::Page { kind, items, next_cursor } => (kind, items, next_cursor.as_deref()),
        };
        success.kind = Some(kind);
        success.items = Some(&items.array);
        success.count = Some(items.count);
        success.pagination_info = next_cursor.map(|next_cursor| Pagination { next_cursor });
        envelope(StatusCode::OK, &success, items.array.get().len() + next_cursor.map_or(0, str::len))
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;
    use axum::response::IntoResponse;

    async fn body_of(reply: Reply) -> serde_json::Value {
        let bytes = axum::body::to_bytes(reply.into_response().into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn items_are_counted_as_they_are_encoded() {
        let body = body_of(Reply::items("k", (1..=10).filter(|n| n % 3 == 0))).await;
        assert_eq!(body["response"]["items"], serde_json::json!([3, 6, 9]));
        assert_eq!(body["response"]["count"], 3);
        assert_eq!(body["response"]["kind"], "k");
        assert_eq!(body["request"], serde_json::json!({}));
    }

    #[tokio::test]
    async fn an_empty_list_is_an_empty_array_and_a_page_carries_its_cursor() {
        let body = body_of(Reply::items("k", std::iter::empty::<u8>())).await;
        assert_eq!(body["response"]["items"], serde_json::json!([]));
        assert_eq!(body["response"]["count"], 0);
        let body = body_of(Reply::page("k", ["a\"b"], Some("next".into()))).await;
        assert_eq!(body["response"]["items"], serde_json::json!(["a\"b"]));
        assert_eq!(body["response"]["count"], 1);
        assert_eq!(body["response"]["paginationInfo"]["nextCursor"], "next");
    }
}
