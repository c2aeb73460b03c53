//! orgplane's HTTP server: the Spot-compatible API, its envelope, authentication and the
//! OpenAPI document. Handlers are thin: parse, call the store (and the domain rules), render.

pub mod api;
pub mod audit;
pub mod authz;
pub mod console;
pub mod emails;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod rate_limit;
pub mod throttle;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use envelope::{REQUEST, RequestContext};
use error::ApiError;
use orgplane_domain::Error;
use orgplane_store::Store;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Settings the server itself needs (the CLI builds them from file, environment and flags).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether `POST /auth/register` accepts new organizations.
    pub signup_open: bool,
    /// Requests per organization × route × method per 60 s; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// How AWS roles are validated.
    pub aws: orgplane_cloud::AwsConfig,
    /// Where Azure principals are proven.
    pub azure: orgplane_cloud::AzureConfig,
    /// Which token endpoints GCP keys may name.
    pub gcp: orgplane_cloud::GcpConfig,
    /// Where people reach this installation; links in emails start with it.
    pub public_url: String,
    /// Encrypts secrets that must be read back (TOTP seeds).
    pub master_key: orgplane_domain::secretbox::MasterKey,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            signup_open: true,
            rate_limit_per_minute: 1000,
            aws: Default::default(),
            azure: Default::default(),
            gcp: Default::default(),
            public_url: "http://localhost:8080".into(),
            master_key: orgplane_domain::secretbox::MasterKey::generate(),
        }
    }
}

/// What every handler can reach. One `Arc`: axum clones the state for each extractor and layer
/// of every request, so a clone is one counter increment, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
    pub aws: Arc<orgplane_cloud::AwsChecker>,
    pub azure: Arc<orgplane_cloud::AzureChecker>,
    pub gcp: Arc<orgplane_cloud::GcpChecker>,
    /// `None` when `public_url` cannot be a WebAuthn relying party (an IP address).
    pub webauthn: Option<Arc<orgplane_webauthn::Verifier>>,
}

/// The whole application: API routes, OpenAPI document, envelope middleware.
pub fn app(store: Store, config: ServerConfig) -> Router {
    // PostgreSQL: a replica serving requests takes a lease, which lets them skip the change
    // counter's round trip (orgplane_store's `replica`).
    store.serve_as_replica();
    let rate_limiter = Arc::new(rate_limit::RateLimiter::new(config.rate_limit_per_minute));
    let aws = Arc::new(orgplane_cloud::AwsChecker::new(&config.aws));
    let webauthn = match orgplane_webauthn::Verifier::new(&config.public_url) {
        Ok(v) => Some(Arc::new(v)),
        Err(reason) => {
            tracing::warn!(%reason, "security keys (WebAuthn) are unavailable");
            None
        }
    };
    let azure = Arc::new(orgplane_cloud::AzureChecker::new(config.azure.clone()));
    let gcp = Arc::new(orgplane_cloud::GcpChecker::new(config.gcp.clone()));
    let state =
        AppState(Arc::new(Services { store, config: Arc::new(config), rate_limiter, aws, azure, gcp, webauthn }));
    let router = api::router().route_layer(middleware::from_fn_with_state(state.clone(), audit::record));
    // The console calls the API in-process, through the same routes and audit layer.
    let in_process = router.clone().fallback(|| async { ApiError(Error::NoRoute { method_known: false }) });
    router
        .merge(console::router(in_process.with_state(state.clone())))
        .merge(api::docs::router())
        .fallback(|| async { ApiError(Error::NoRoute { method_known: false }) })
        .method_not_allowed_fallback(|| async { ApiError(Error::NoRoute { method_known: true }) })
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError(Error::internal("a handler panicked")).into_response()
        }))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Outermost middleware: gives the request its id and envelope context, logs it, and copies
/// the id into `X-Request-Id`.
async fn request_context(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let ctx = RequestContext {
        id: id.clone(),
        url: req.uri().path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| "/".into()),
        method: req.method().as_str().to_uppercase(),
        timestamp: orgplane_domain::timefmt::to_spot(orgplane_store::now_ms()),
        rate: Default::default(),
    };
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let rate = Arc::new(std::sync::Mutex::new(None));
    let ctx = RequestContext { rate: rate.clone(), ..ctx };
    let mut res = REQUEST.scope(ctx, orgplane_store::one_request(next.run(req))).instrument(span.clone()).await;
    if let Some(info) = rate.lock().expect("rate info lock").take() {
        rate_limit::add_headers(res.headers_mut(), &info);
    }
    span.in_scope(|| {
        tracing::info!(status = res.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "answered");
    });
    res.headers_mut().insert("x-request-id", HeaderValue::from_str(&id).expect("uuid is a valid header"));
    res
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, store: Store, config: ServerConfig) -> std::io::Result<()> {
    let app = app(store, config).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}
