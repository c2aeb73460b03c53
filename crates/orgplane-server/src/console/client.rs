//! How the console acts: every page reads and writes through the API route that does the work,
//! called in-process. The console is therefore authorised, validated, rate-limited and audited
//! exactly as the API is; it only turns forms into request bodies and envelopes into pages.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, header};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Marks a request the console made on a person's behalf: only such requests may present a
/// console session secret, and the audit trail records their source as `console`.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleCall;

/// The API router, ready to be called in-process.
#[derive(Clone)]
pub struct ApiClient(pub Router);

/// Who the console is acting for: the browser's session secret and connection details, which
/// the API needs for throttling, IP allow-lists and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub session: Option<String>,
    pub peer: Option<ConnectInfo<SocketAddr>>,
    pub agent: Option<HeaderValue>,
}

/// A refused API call, as the envelope described it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Where the API located the fault (`body.user.email`, `query.accountId`…).
    pub field: Option<String>,
}

impl Failure {
    /// Whether the fault lies in the field whose API path ends with `name` (`email` matches
    /// `body.user.email`), so the console can show the message beside the right input.
    pub fn is_about(&self, name: &str) -> bool {
        self.field.as_deref().is_some_and(|f| f == name || f.ends_with(&format!(".{name}")))
    }
}

impl From<orgplane_domain::Error> for Failure {
    fn from(e: orgplane_domain::Error) -> Self {
        let (status, code, message, field) = crate::error::describe(e);
        Failure { status: status.as_u16(), code: code.to_string(), message, field }
    }
}

/// A request body: JSON, or a form (OAuth's token endpoint takes either).
pub enum Payload {
    None,
    Json(Value),
    Form(String),
}

impl ApiClient {
    /// Calls the API; the `response` object of a success, or the first error of a failure.
    pub async fn call(&self, who: &Caller, method: Method, uri: &str, payload: Payload) -> Result<Value, Failure> {
        let res = self.raw(who, method, uri, payload).await;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(envelope.get("response").cloned().unwrap_or(Value::Null));
        }
        let error = envelope.pointer("/response/errors/0");
        let text = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
        Err(Failure {
            status,
            code: text("code").unwrap_or_else(|| if status == 401 { "UNAUTHENTICATED".into() } else { "ERROR".into() }),
            message: text("message").unwrap_or_else(|| match status {
                401 => "your session has ended: sign in again".into(),
                _ => format!("the request failed (HTTP {status})"),
            }),
            field: text("field"),
        })
    }

    pub async fn get(&self, who: &Caller, uri: &str) -> Result<Value, Failure> {
        self.call(who, Method::GET, uri, Payload::None).await
    }

    /// The `items` of a successful call.
    pub async fn items(&self, who: &Caller, uri: &str) -> Result<Vec<Value>, Failure> {
        let response = self.get(who, uri).await?;
        Ok(items(&response))
    }

    /// Calls the API and hands back its response untouched (downloads: CSV, PDF, SVG charts).
    pub async fn raw(&self, who: &Caller, method: Method, uri: &str, payload: Payload) -> Response {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(secret) = &who.session {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {secret}"));
        }
        if let Some(agent) = &who.agent {
            builder = builder.header(header::USER_AGENT, agent.clone());
        }
        let body = match payload {
            Payload::None => Body::empty(),
            Payload::Json(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            Payload::Form(f) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f)
            }
        };
        let mut req = builder.body(body).expect("a console request is well formed");
        req.extensions_mut().insert(ConsoleCall);
        if let Some(peer) = who.peer {
            req.extensions_mut().insert(peer);
        }
        match self.0.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

/// The `items` array of an API response (empty when absent).
pub fn items(response: &Value) -> Vec<Value> {
    response.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A text field of an API item (numbers and booleans as text, absent as empty).
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A boolean field of an API item (absent as false).
pub fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}
