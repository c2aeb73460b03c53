//! Records requests in the audit trail. For every route that can change something, this
//! middleware starts a draft (what, from where, the redacted query); the extractors add who
//! is calling and the redacted body; the store writes the event inside the transaction of the
//! change. A request that changed nothing (refused, failed sign-in) is recorded here
//! afterwards, with its status.

use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use orgplane_domain::access::Caller;
use orgplane_domain::audit::{self, redact};
use orgplane_store::audit::{Draft, note, recording};
use serde_json::{Map, Value};

/// Bodies larger than this are summarised in the event, not kept.
const MAX_RECORDED_BODY: usize = 64 * 1024;
const MAX_AGENT_CHARS: usize = 512;

pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let Some((route, kind)) = route.and_then(|r| audit::kind_for(req.method().as_str(), &r).map(|k| (r, k))) else {
        return next.run(req).await;
    };
    let mut draft = Draft {
        kind: Some(kind),
        source: if req.extensions().get::<crate::console::client::ConsoleCall>().is_some() { "console" } else { "api" }
            .into(),
        ip: req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string()),
        agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|a| a.chars().take(MAX_AGENT_CHARS).collect()),
        url: req.uri().path().to_string(),
        query: query_json(req.uri().query().unwrap_or("")),
        ..Default::default()
    };
    // The route's path parameters: the last names the resource, `accountId` the account.
    for (name, value) in path_params(&route, req.uri().path()) {
        if name == "accountId" {
            draft.account_id = Some(value.clone());
        }
        draft.resource_id = Some(value);
    }
    if draft.account_id.is_none() {
        draft.account_id = draft.query.get("accountId").and_then(Value::as_str).map(str::to_string);
        if kind.resource_type == "account" && draft.resource_id.is_none() {
            draft.resource_id.clone_from(&draft.account_id);
        }
    }
    let (res, draft) = recording(draft, next.run(req)).await;
    // An unauthenticated request names nobody to hold to account, and a throttled one was
    // turned away before doing anything: neither is recorded, so floods cannot fill the trail.
    let known = draft.org.is_some() || draft.user_id.is_some() || kind.anonymous;
    if !draft.recorded && known && res.status() != StatusCode::TOO_MANY_REQUESTS {
        let status = res.status().as_u16();
        if let Err(e) = state.store.record_audit(&draft, status).await {
            tracing::error!(error = %e, "could not record an audit event");
        }
    }
    res
}

/// Adds the authenticated caller to the request's audit draft.
pub fn note_caller(caller: &Caller) {
    note(|d| {
        d.org = Some(caller.org_id);
        d.user_id = Some(caller.user_id.to_string());
        d.user_email = (!caller.email.is_empty()).then(|| caller.email.clone());
        d.token_id = Some(caller.token_id);
    });
}

/// Adds the person a sign-in, sign-up or reset is about (before any token exists).
pub fn note_person(user: &orgplane_domain::ids::UserId, email: Option<&str>) {
    note(|d| {
        d.user_id = Some(user.to_string());
        if let Some(email) = email {
            d.user_email = Some(email.to_string());
        }
    });
}

/// Adds the organization a sign-in is for.
pub fn note_org(org: orgplane_domain::ids::OrgId) {
    note(|d| d.org = Some(org));
}

/// Adds the request body, secrets redacted, to the audit draft.
pub fn note_body(bytes: &[u8], is_form: bool) {
    note(|d| {
        d.body = if bytes.len() > MAX_RECORDED_BODY {
            serde_json::json!({ "omitted": format!("{} bytes", bytes.len()) })
        } else if is_form {
            query_json(&String::from_utf8_lossy(bytes))
        } else {
            let mut v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            redact(&mut v);
            v
        };
    });
}

fn query_json(raw: &str) -> Value {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        map.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let mut v = Value::Object(map);
    redact(&mut v);
    v
}

/// Pairs the `{name}` segments of a route template with the request path's segments.
fn path_params(template: &str, path: &str) -> Vec<(String, String)> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, p)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_string(), p.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_follow_the_template() {
        assert_eq!(
            path_params("/setup/account/{accountId}/user", "/setup/account/act-1234abcd/user"),
            vec![("accountId".to_string(), "act-1234abcd".to_string())]
        );
        assert!(path_params("/setup/account", "/setup/account").is_empty());
    }
}
