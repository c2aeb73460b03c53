//! Requests against the real router (`orgplane_server::app`, the application `serve` runs) over
//! a SQLite store, sent with `tower::ServiceExt::oneshot`: arbitrary bodies (JSON or form),
//! query strings and path segments on every documented route, with a real admin token (a SCIM
//! token on `/scim/v2`), with none, or with a bad one.
//!
//! Input: byte 0 picks the route from `/openapi.json` (sorted by path, then method); byte 1 the token, the content type and
//! which path parameters get real ids; the rest is `segment 0xFF query 0xFF body` (fewer parts:
//! all body).
//!
//! Properties: never a 5xx; a JSON answer outside SCIM is Spot's envelope with the HTTP status
//! in `response.status.code`, and an error carries a code and message (401 without `errors`).
//! When the fuzzer's requests lock the tenant out (its token revoked, the organization deleted,
//! MFA required), a new tenant is signed up.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use orgplane_server::ServerConfig;
use orgplane_testkit::{Backend, Tenant, TestApp};
use serde_json::{Value, json};
use std::sync::{Mutex, OnceLock};

struct Harness {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    routes: Vec<(Method, String)>,
    state: Mutex<State>,
}

struct State {
    tenant: Tenant,
    scim_token: String,
    signups: u64,
}

fn config() -> ServerConfig {
    // Cloud endpoints on a closed loopback port: a validation fails fast. No API rate limit, so
    // the fuzzer is not answered 429 after its first thousand inputs on a route.
    let mut config = ServerConfig { rate_limit_per_minute: 0, ..ServerConfig::default() };
    config.aws.sts_endpoint = Some("http://127.0.0.1:9".into());
    config.aws.access_key_id = "AKIAFUZZFUZZFUZZFUZZ".into();
    config.aws.secret_access_key = "fuzz".into();
    config.azure.authority = "http://127.0.0.1:9".into();
    config.azure.management_endpoint = "http://127.0.0.1:9".into();
    config.gcp.token_hosts = vec!["127.0.0.1:9".into()];
    config
}

async fn new_tenant(app: &TestApp, n: u64) -> (Tenant, String) {
    let tenant = app.signup(&format!("fuzz-{n}@example.com")).await;
    let res = app.post(&format!("/setup/organization/{}/scim/token", tenant.org_id), &tenant.token, json!({})).await;
    res.assert_ok();
    let scim = res.item()["token"].as_str().expect("a SCIM token").to_string();
    (tenant, scim)
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (app, routes, tenant, scim_token) = rt.block_on(async {
            let app = TestApp::spawn_with(Backend::Sqlite, config()).await.expect("a SQLite app");
            let doc = app.call("GET", "/openapi.json", None, None).await.json;
            let mut routes = Vec::new();
            for (path, item) in doc["paths"].as_object().expect("paths") {
                for method in item.as_object().expect("path item").keys() {
                    if let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                        routes.push((m, path.clone()));
                    }
                }
            }
            // A fixed order, so a corpus entry keeps naming the same route.
            routes.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
            let (tenant, scim) = new_tenant(&app, 0).await;
            (app, routes, tenant, scim)
        });
        Harness { rt, app, routes, state: Mutex::new(State { tenant, scim_token, signups: 0 }) }
    })
}

fn encode(bytes: &[u8], keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn check_envelope(status: u16, json: &Value) {
    assert!(json["request"]["id"].is_string(), "no request id in {json}");
    assert_eq!(json["response"]["status"]["code"], status, "status code in the body: {json}");
    if status >= 400 {
        let errors = &json["response"]["errors"];
        if status == 401 {
            assert!(errors.is_null(), "401 carries no errors: {json}");
        } else {
            let first = &errors[0];
            assert!(first["code"].as_str().is_some_and(|c| !c.is_empty()), "error without code: {json}");
            assert!(first["message"].as_str().is_some_and(|m| !m.is_empty()), "error without message: {json}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let [route, flags, rest @ ..] = data else { return };
    let (method, template) = &h.routes[usize::from(*route) % h.routes.len()];
    let mut parts = rest.splitn(3, |b| *b == 0xFF);
    let (segment, query, body) = match (parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(q), Some(b)) => (s, q, b),
        (Some(s), Some(b), None) => (s, &[][..], b),
        (Some(b), None, None) => (&[][..], &[][..], b),
        _ => return,
    };
    let mut state = h.state.lock().unwrap();
    let t = &state.tenant;
    let segment = encode(segment, |_| false);
    let mut path = String::new();
    let mut rest = template.as_str();
    let mut n = 0;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        path.push_str(&rest[..open]);
        let real = flags >> (3 + (n % 5)) & 1 == 0;
        let value = match &rest[open + 1..close] {
            "organizationId" if real => t.org_id.clone(),
            "accountId" if real => t.account_id.clone(),
            "userId" if real => t.user_id.clone(),
            _ => segment.clone(),
        };
        path.push_str(&value);
        rest = &rest[(close + 1).min(rest.len())..];
        n += 1;
    }
    path.push_str(rest);
    if !query.is_empty() {
        path.push('?');
        path.push_str(&encode(query, |b| b"&=+,:@/!$'()*;".contains(&b)));
    }
    let scim = template.starts_with("/scim/");
    let token = match flags & 0b11 {
        0 | 1 if scim => Some(state.scim_token.clone()),
        0 | 1 => Some(t.token.clone()),
        2 => None,
        _ => Some("ops_not-a-real-token".to_string()),
    };
    let form = flags & 0b100 != 0;
    let mut req = Request::builder().method(method.clone()).uri(&path);
    if let Some(token) = &token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req = req.header(header::CONTENT_TYPE, if form { "application/x-www-form-urlencoded" } else { "application/json" });
    let Ok(req) = req.body(Body::from(body.to_vec())) else { return };
    let res = h.rt.block_on(h.app.send(req));
    let status = res.status.as_u16();
    assert!(status < 500, "{method} {path} answered {status}: {}", res.json);
    let is_json =
        res.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json"));
    if is_json && !scim && template != "/openapi.json" {
        check_envelope(status, &res.json);
    }
    // The tenant locked itself out: start over with a new one.
    let code = res.json["response"]["errors"][0]["code"].as_str().unwrap_or_default();
    let locked_out = matches!(code, "MFA_ENROLMENT_REQUIRED" | "ORGANIZATION_NOT_ACTIVE")
        || (status == 401 && (token.as_deref() == Some(t.token.as_str()) || token == Some(state.scim_token.clone())));
    if locked_out {
        state.signups += 1;
        let n = state.signups;
        let (tenant, scim_token) = h.rt.block_on(new_tenant(&h.app, n));
        state.tenant = tenant;
        state.scim_token = scim_token;
    }
});
