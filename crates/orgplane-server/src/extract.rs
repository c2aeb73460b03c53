//! Request extractors that turn every malformed input into orgplane's `Error` with the field at
//! fault, instead of axum's plain-text rejections.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use orgplane_domain::access::Caller;
use orgplane_domain::ids::AccountId;
use orgplane_domain::{Error, secret};
use serde::de::DeserializeOwned;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body. Unknown fields are ignored (clients send extra ones); an empty body counts as
/// `{}` (some clients POST with no body but a JSON content type).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        crate::audit::note_body(&bytes, false);
        Ok(Body(parse_json(&bytes)?))
    }
}

/// A body that may be JSON or form-encoded, as OAuth clients send either.
pub struct FormOrJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormOrJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let bytes = read_body(req, state).await?;
        crate::audit::note_body(&bytes, is_form);
        if is_form {
            let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
            serde_path_to_error::deserialize(de)
                .map(FormOrJson)
                .map_err(|e| ApiError(field_error("body", e.path().to_string(), &e.into_inner().to_string())))
        } else {
            Ok(FormOrJson(parse_json(&bytes)?))
        }
    }
}

pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if too_large {
        return Err(ApiError(Error::PayloadTooLarge));
    }
    // `DefaultBodyLimit` in the router caps bodies without a length header too.
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::PayloadTooLarge)
        } else {
            ApiError(Error::validation("body", "the request body could not be read"))
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}".as_slice(),
        Some(b'{') => bytes,
        // serde would read a struct from an array positionally; Spot bodies are objects.
        Some(_) => return Err(ApiError(Error::validation("body", "the body must be a JSON object"))),
    };
    let not_json =
        |e: serde_json::Error| ApiError(Error::validation("body", format!("the body is not valid JSON: {e}")));
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            not_json(inner)
        } else {
            ApiError(field_error("body", path, &inner.to_string()))
        }
    })?;
    // Trailing bytes after the object make the whole body invalid.
    de.end().map_err(not_json)?;
    Ok(value)
}

/// Builds the field locator for a serde error: the path where it happened, plus the field named
/// in "missing field `x`" / "unknown field `x`" messages.
fn field_error(prefix: &str, path: String, message: &str) -> Error {
    let mut field = prefix.to_string();
    if path != "." && !path.is_empty() {
        if !path.starts_with('[') {
            field.push('.');
        }
        field.push_str(&path);
    }
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|start| message.strip_prefix(start).and_then(|rest| rest.split('`').next()));
    if let Some(name) = named {
        field.push('.');
        field.push_str(name);
    }
    let message = message.split(" at line ").next().unwrap_or(message).to_string();
    Error::validation(field, message)
}

/// Query parameters a route accepts. `accountId` is accepted on every route, because the
/// Python SDK appends it to every request; anything not listed is refused.
pub trait QueryParams: DeserializeOwned {
    const ALLOWED: &'static [&'static str];
}

/// The query of a route that takes no parameter of its own.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoParams {}

impl QueryParams for NoParams {
    const ALLOWED: &'static [&'static str] = &[];
}

pub struct Query<T> {
    pub params: T,
    /// The `accountId` parameter, checked for shape; `None` when absent.
    pub account_id: Option<AccountId>,
}

impl<T: QueryParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let mut account_id = None;
        let mut own = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if key == "accountId" {
                account_id = Some(AccountId::parse(&value).map_err(|e| ApiError(e.in_field("query")))?);
            } else if T::ALLOWED.contains(&key.as_ref()) {
                own.push((key.into_owned(), value.into_owned()));
            } else {
                return Err(ApiError(Error::validation(format!("query.{key}"), format!("\"{key}\" is not allowed"))));
            }
        }
        let encoded = serde_urlencoded::to_string(&own).map_err(Error::internal)?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        let params = serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError(field_error("query", e.path().to_string(), &e.into_inner().to_string())))?;
        Ok(Query { params, account_id })
    }
}

/// One path parameter, as text; handlers parse it with the domain's id types so that a wrong
/// shape is reported with the field name.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|_| ApiError(Error::validation("path", "the path parameter is malformed")))
    }
}

/// Two path parameters (a resource under another), as text.
pub struct PathPair(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|p| PathPair(p.0.0, p.0.1))
            .map_err(|_| ApiError(Error::validation("path", "the path parameters are malformed")))
    }
}

/// The peer address of the connection, when the server was started with connect info.
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// The client's address, for throttling.
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// The authenticated caller. `Authorization: Bearer <token>` (scheme word in any case); a
/// missing, unknown, expired or revoked token is a 401.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError(Error::Unauthenticated))?;
        // A console session secret is only good for requests the console makes.
        if token.starts_with(secret::SESSION_PREFIX)
            && parts.extensions.get::<crate::console::client::ConsoleCall>().is_none()
        {
            return Err(ApiError(Error::Unauthenticated));
        }
        let (caller, count) = state
            .store
            .authenticate(&secret::token_hash(token), client_ip(parts), state.rate_limiter.query(parts))
            .await?
            .ok_or(ApiError(Error::Unauthenticated))?;
        crate::audit::note_caller(&caller);
        if let Some(count) = count {
            state.rate_limiter.judge(count)?;
        }
        // An expired, unactivated trial leaves the organization readable, and activatable.
        let expired = caller.trial_ends_at.is_some_and(|end| orgplane_store::now_ms() >= end);
        let read = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        let activating =
            parts.extensions.get::<axum::extract::MatchedPath>().map(|m| m.as_str()) == Some("/billing/plan/activate");
        if expired && !read && !activating {
            return Err(ApiError(Error::Forbidden {
                code: "ORGANIZATION_NOT_ACTIVE",
                message: "the trial has ended: an admin must activate the organization (POST /billing/plan/activate)"
                    .into(),
            }));
        }
        if caller.must_enrol_mfa {
            let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|m| m.as_str());
            let enrolling = matches!(
                route,
                Some(
                    "/auth/mfa/totp"
                        | "/auth/mfa/totp/confirm"
                        | "/auth/mfa/webauthn"
                        | "/auth/mfa/webauthn/register"
                        | "/auth/mfa/webauthn/register/confirm"
                )
            );
            if !enrolling {
                return Err(ApiError(Error::Forbidden {
                    code: "MFA_ENROLMENT_REQUIRED",
                    message: "this organization requires a second factor: enrol with POST /auth/mfa/totp or /auth/mfa/webauthn/register first".into(),
                }));
            }
        }
        Ok(Auth(caller))
    }
}
