//! The one place where orgplane's `Error` becomes an HTTP status and Spot's error envelope.

use crate::envelope::render;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgplane_domain::Error;
use serde_json::json;

/// `Error` as an axum response. Handlers return `Result<Reply, ApiError>` and use `?` on
/// anything that yields an `Error`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            // Spot answers 401 with the bare envelope and no `errors` array.
            Error::Unauthenticated => render(StatusCode::UNAUTHORIZED, Default::default()),
            Error::RateLimited { code, message, retry_after_secs } => {
                let mut res = render_error(StatusCode::TOO_MANY_REQUESTS, code, message, None);
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
                res
            }
            other => {
                let (status, code, message, field) = describe(other);
                render_error(status, code, message, field)
            }
        }
    }
}

/// The status, code, message and field an error is answered with (the console shows the same).
pub fn describe(e: Error) -> (StatusCode, &'static str, String, Option<String>) {
    match e {
        Error::Invalid { code, message, field } => (StatusCode::BAD_REQUEST, code, message, field),
        Error::Unauthenticated => {
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "a valid token is required".to_string(), None)
        }
        Error::Forbidden { code, message } => (StatusCode::FORBIDDEN, code, message, None),
        Error::NotFound { code, message, field } => (StatusCode::NOT_FOUND, code, message, field),
        Error::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than 1 MiB".to_string(),
            Some("body".to_string()),
        ),
        Error::RateLimited { code, message, .. } => (StatusCode::TOO_MANY_REQUESTS, code, message, None),
        Error::NoRoute { method_known: false } => {
            (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route".to_string(), None)
        }
        Error::NoRoute { method_known: true } => (
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "this route does not accept this method".to_string(),
            None,
        ),
        Error::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "an internal error occurred".to_string(), None)
        }
    }
}

fn render_error(status: StatusCode, code: &str, message: String, field: Option<String>) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(field) = field {
        error["field"] = json!(field);
    }
    let mut response = serde_json::Map::new();
    response.insert("errors".into(), json!([error]));
    render(status, response)
}
