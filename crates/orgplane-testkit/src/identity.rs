//! Local identity providers for the Azure and GCP connection tests: real HTTP servers that check
//! what a real provider checks. Azure: the client secret of a known application in a known
//! tenant (AADSTS error codes as Microsoft sends them), then a bearer token it issued for the
//! subscription read. GCP: an RS256 JWT whose signature verifies against the key's public half,
//! with the right issuer and audience.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the fake tenant knows.
#[derive(Debug, Clone)]
pub struct AzureTenant {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Subscriptions the principal has a role on.
    pub subscriptions: Vec<String>,
}

/// A GCP service account's key pair, made fresh for a test.
#[derive(Debug, Clone)]
pub struct GcpKey {
    pub client_email: String,
    /// PKCS#8 PEM, as in Google's key files.
    pub private_pem: String,
    pub public_pem: String,
}

impl GcpKey {
    pub fn generate(client_email: &str) -> GcpKey {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key");
        let key = openssl::pkey::PKey::from_rsa(rsa).expect("key");
        GcpKey {
            client_email: client_email.into(),
            private_pem: String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf-8"),
            public_pem: String::from_utf8(key.public_key_to_pem().expect("pem")).expect("utf-8"),
        }
    }
}

#[derive(Default)]
struct Inner {
    azure: Option<AzureTenant>,
    gcp: Option<GcpKey>,
    issued: Vec<String>,
    gcp_exchanges: usize,
}

/// The running providers: Azure AD at `{url}/{tenant}/oauth2/v2.0/token`, Resource Manager at
/// `{url}/subscriptions/{id}`, GCP's token endpoint at `{url}/token`.
#[derive(Clone)]
pub struct IdentityProviders {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = Arc<Mutex<Inner>>;

fn aad_error(status: StatusCode, error: &str, code: i64, description: &str) -> Response {
    let body =
        json!({"error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code]});
    (status, Json(body)).into_response()
}

async fn azure_token(
    State(s): State<Shared>,
    Path(tenant): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = s.lock().expect("lock");
    let Some(t) = inner.azure.clone() else { return StatusCode::NOT_FOUND.into_response() };
    if tenant != t.tenant_id {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, "Tenant not found.");
    }
    if f.get("grant_type").map(String::as_str) != Some("client_credentials") || f.get("scope").is_none() {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain grant_type and scope.",
        );
    }
    if f.get("client_id") != Some(&t.client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        );
    }
    if f.get("client_secret") != Some(&t.client_secret) {
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    let token = format!("azure-{}", uuid::Uuid::new_v4().simple());
    inner.issued.push(token.clone());
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token})).into_response()
}

async fn subscription(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let inner = s.lock().expect("lock");
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| inner.issued.iter().any(|i| i == t)) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": "InvalidAuthenticationToken"}})))
            .into_response();
    }
    let allowed = inner.azure.as_ref().is_some_and(|t| t.subscriptions.contains(&id));
    if !allowed {
        return (StatusCode::FORBIDDEN, Json(json!({"error": {"code": "AuthorizationFailed"}}))).into_response();
    }
    Json(json!({"subscriptionId": id, "state": "Enabled"})).into_response()
}

#[derive(serde::Deserialize)]
struct JwtClaims {
    iss: String,
    aud: String,
    scope: String,
    exp: i64,
}

async fn gcp_token(State(s): State<Shared>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut inner = s.lock().expect("lock");
    let Some(key) = inner.gcp.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let refuse = |d: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": d}))).into_response()
    };
    if f.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    let Some(assertion) = f.get("assertion") else { return refuse("Missing assertion.") };
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let audience = format!("http://{host}/token");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[key.client_email.as_str()]);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(key.public_pem.as_bytes()).expect("public key");
    match jsonwebtoken::decode::<JwtClaims>(assertion, &decoding, &validation) {
        Ok(t)
            if t.claims.scope.contains("cloud-platform")
                && t.claims.exp > 0
                && !t.claims.iss.is_empty()
                && !t.claims.aud.is_empty() =>
        {
            inner.gcp_exchanges += 1;
            Json(json!({"access_token": format!("ya29.{}", uuid::Uuid::new_v4().simple()), "expires_in": 3599, "token_type": "Bearer"}))
                .into_response()
        }
        Ok(_) => refuse("Invalid scope."),
        Err(e) => refuse(&format!("Invalid JWT: {e}")),
    }
}

impl IdentityProviders {
    pub async fn start() -> IdentityProviders {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(azure_token))
            .route("/subscriptions/{id}", get(subscription))
            .route("/token", post(gcp_token))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IdentityProviders { url, inner }
    }

    pub fn with_azure(&self, tenant: AzureTenant) -> &Self {
        self.inner.lock().expect("lock").azure = Some(tenant);
        self
    }

    pub fn with_gcp(&self, key: GcpKey) -> &Self {
        self.inner.lock().expect("lock").gcp = Some(key);
        self
    }

    /// How many GCP keys were proven (a signature verified).
    pub fn gcp_exchanges(&self) -> usize {
        self.inner.lock().expect("lock").gcp_exchanges
    }

    /// `host:port`, for the GCP token-host allow-list.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}
