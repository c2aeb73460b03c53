//! Console sessions and CSRF. A session is a token of kind `session` (stored hashed, idle
//! timeout 12 h, revoked like any token) whose secret lives in an HttpOnly, SameSite=Lax
//! cookie. Unsafe requests must come from this origin and carry the session's CSRF token, in
//! the `X-CSRF-Token` header (htmx sends it from `hx-headers`) or a `_csrf` form field.

use super::client::Caller;
use crate::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http_body_util::BodyExt;
use orgplane_domain::access;
use orgplane_domain::secret::{self, SESSION_PREFIX};
use std::net::SocketAddr;

pub const COOKIE: &str = "orgplane_session";
/// The account the console shows (not a secret: a preference).
pub const ACCOUNT_COOKIE: &str = "orgplane_account";
const CSRF_HEADER: &str = "x-csrf-token";
const CSRF_FIELD: &str = "_csrf";
/// Console forms are small; this bounds what the CSRF check buffers.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The CSRF token of a session: derived from its secret, so it needs no storage and cannot be
/// guessed without the cookie.
pub fn csrf_token(session_secret: &str) -> String {
    secret::token_hash(&format!("orgplane-console-csrf:{session_secret}"))[..32].to_string()
}

/// A cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a new session; `Secure` when the console is served over TLS.
pub fn session_cookie(state: &AppState, secret: &str) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax{secure}"))
        .expect("a session secret is a valid header value")
}

pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("orgplane_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

pub fn account_cookie(account_id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{ACCOUNT_COOKIE}={account_id}; Path=/; SameSite=Lax"))
        .unwrap_or_else(|_| HeaderValue::from_static("orgplane_account=; Path=/; Max-Age=0"))
}

/// Redirects a browser: a plain 303, or `HX-Redirect` when htmx asked (it follows that header
/// with a full page load instead of swapping the target).
pub fn redirect(headers: &HeaderMap, to: &str) -> Response {
    if headers.contains_key("hx-request") {
        let mut res = StatusCode::NO_CONTENT.into_response();
        res.headers_mut().insert("hx-redirect", HeaderValue::from_str(to).expect("a console path"));
        res
    } else {
        Redirect::to(to).into_response()
    }
}

/// Signs the browser in: stores the session cookie and goes to `to`.
pub fn signed_in(state: &AppState, headers: &HeaderMap, session_secret: &str, to: &str) -> Response {
    let mut res = redirect(headers, to);
    res.headers_mut().append(header::SET_COOKIE, session_cookie(state, session_secret));
    res.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("orgplane_account=; Path=/; Max-Age=0"));
    res
}

/// Someone using the console, signed in or not: what an API call on their behalf needs.
pub struct Visitor {
    pub who: Caller,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Visitor { who: caller_of(parts, None), headers: parts.headers.clone() })
    }
}

fn caller_of(parts: &Parts, session: Option<String>) -> Caller {
    Caller {
        session,
        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
        agent: parts.headers.get(header::USER_AGENT).cloned(),
    }
}

/// A signed-in person. Without a live session the browser is sent to the sign-in page.
pub struct Session {
    pub caller: access::Caller,
    pub who: Caller,
    pub csrf: String,
    pub headers: HeaderMap,
    /// The account chosen in the account switcher, if any.
    pub account_pick: Option<String>,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_sign_in = |parts: &Parts| {
            let mut res = redirect(&parts.headers, "/console/signin");
            res.headers_mut().append(header::SET_COOKIE, clear_session_cookie());
            res
        };
        let Some(secret) = cookie(&parts.headers, COOKIE).filter(|s| s.starts_with(SESSION_PREFIX)) else {
            return Err(to_sign_in(parts));
        };
        let ip = crate::extract::client_ip(parts);
        let caller = match state.store.caller_for_token(&secret::token_hash(secret), ip).await {
            Ok(Some(caller)) => caller,
            _ => return Err(to_sign_in(parts)),
        };
        // An organization that requires MFA lets its unenrolled members do nothing else.
        let path = parts.uri.path();
        if caller.must_enrol_mfa && !path.starts_with("/console/security") && path != "/console/signout" {
            return Err(redirect(&parts.headers, "/console/security"));
        }
        let secret = secret.to_string();
        Ok(Session {
            csrf: csrf_token(&secret),
            account_pick: cookie(&parts.headers, ACCOUNT_COOKIE).map(str::to_string),
            who: caller_of(parts, Some(secret)),
            headers: parts.headers.clone(),
            caller,
        })
    }
}

/// Refuses unsafe console requests that come from another site, or that carry a session
/// cookie without its CSRF token. Runs before every console handler.
pub async fn csrf(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if !same_origin(req.headers()) {
        return forbidden("this form was sent from another site");
    }
    let Some(secret) = cookie(req.headers(), COOKIE).map(str::to_string) else {
        // Sign-in, sign-up and reset forms: no session yet, the origin check above suffices.
        return next.run(req).await;
    };
    let expected = csrf_token(&secret);
    if req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) == Some(expected.as_str()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = http_body_util::Limited::new(body, MAX_FORM_BYTES).collect().await.map(|b| b.to_bytes()) else {
        return forbidden("the form is too large");
    };
    let sent = form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    if sent.as_deref() != Some(expected.as_str()) {
        return forbidden("the form's security token is missing or stale: reload the page and try again");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// `Sec-Fetch-Site` when the browser sends it, else `Origin` against `Host`; a request with
/// neither did not come from a browser form and is refused (API clients use the API).
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        _ => false,
    }
}

/// `why` is one of this module's fixed sentences (no escaping needed).
fn forbidden(why: &'static str) -> Response {
    let body = format!(
        "<!doctype html><title>Refused</title><main><h1>Refused</h1><p>{why}</p>\
         <p><a href=\"/console/\">Back to the console</a></p></main>"
    );
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}
