//! The test harness (zero2prod's spawned-app pattern, adapted): every test gets a fresh
//! orgplane on a fresh database — a temporary SQLite file, or a new PostgreSQL database on the
//! server named by `ORGPLANE_TEST_POSTGRES_URL` — so tests run in parallel and never share state.
//!
//! Requests go through the real router with `tower::ServiceExt::oneshot` (no sockets).
//! `both_backends!` turns one test body into a SQLite test and a PostgreSQL test.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use orgplane_server::ServerConfig;
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::PathBuf;
use tower::ServiceExt;

pub use orgplane_store;
pub use orgplane_store::Store;

pub mod identity;
pub mod peers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server for tests, if configured. Under CI it must be.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("ORGPLANE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() && std::env::var_os("CI").is_some() {
        panic!("ORGPLANE_TEST_POSTGRES_URL must be set under CI: the PostgreSQL leg may not be skipped");
    }
    url
}

/// A fresh, migrated, empty database that is removed when dropped.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database {
        admin_url: String,
        name: String,
    },
    /// Another store on a database someone else cleans up (a second replica's view).
    None,
}

impl TestDb {
    /// `None` only for PostgreSQL when no test server is configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("orgplane-test-{tag}"));
                (orgplane_store::sqlite_url(&dir), Cleanup::Dir(dir))
            }
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let name = format!("orgplane_t_{tag}");
                sqlx::any::install_default_drivers();
                let mut admin = sqlx::AnyConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create a test database");
                admin.close().await.ok();
                (with_database(&admin_url, &name), Cleanup::Database { admin_url, name })
            }
        };
        let store = Store::connect(&url).await.expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        Some(TestDb { store, url, cleanup })
    }
}

impl TestDb {
    /// Another store on the same database, with its own pool and cache: what a second replica
    /// (another process) opens.
    pub async fn attach(&self) -> TestDb {
        let store = Store::connect(&self.url).await.expect("connect to the test database");
        TestDb { store, url: self.url.clone(), cleanup: Cleanup::None }
    }

    /// The values of a one-column text query, read on a connection of its own.
    pub async fn raw_texts(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect to the test database");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut conn).await.expect("raw SQL");
        conn.close().await.ok();
        rows.iter().map(|r| r.try_get::<String, _>(0).expect("a text column")).collect()
    }

    /// Runs SQL on a connection of its own, as someone with direct database access would
    /// (tests that tamper with rows or break a table).
    pub async fn raw_sql(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect to the test database");
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.expect("raw SQL");
        conn.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::None => {}
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// PostgreSQL: has the store take its lease, as a server does, and waits until it holds, so
/// that tests see what a replica serving for a while does. Requests before it would be as
/// correct, served by the path without a lease (the store's tests cover that one).
pub async fn leased(store: &Store) {
    if store.backend() != orgplane_store::Backend::Postgres {
        return;
    }
    store.serve_as_replica();
    for _ in 0..500 {
        if store.lease_holds() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the replica's lease was not taken within 5 s");
}

/// One orgplane application over a fresh database.
pub struct TestApp {
    pub router: Router,
    pub db: TestDb,
    pub backend: Backend,
}

/// A signed-up organization with its admin's temporary token.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub org_id: String,
    pub account_id: String,
    pub user_id: String,
    pub email: String,
    pub token: String,
}

pub const PASSWORD: &str = "Sup3r$ecret";

/// A response: status, headers and the JSON body (every orgplane response has one).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
}

impl TestResponse {
    pub fn items(&self) -> &Vec<Value> {
        self.json["response"]["items"].as_array().unwrap_or_else(|| panic!("no items in {}", self.json))
    }

    pub fn item(&self) -> &Value {
        &self.items()[0]
    }

    /// The first error's code, message and field.
    pub fn error(&self) -> (&str, &str, Option<&str>) {
        let e = &self.json["response"]["errors"][0];
        (
            e["code"].as_str().unwrap_or_else(|| panic!("no error code in {}", self.json)),
            e["message"].as_str().unwrap_or_default(),
            e["field"].as_str(),
        )
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, StatusCode::OK, "expected 200, got {}", self.json);
        self
    }

    /// Asserts an error response with this status, code and field.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {}", self.json);
        assert_eq!(self.json["response"]["status"]["code"], status, "{}", self.json);
        let (c, message, f) = self.error();
        assert_eq!(c, code, "unexpected code: {}", self.json);
        assert_eq!(f, field, "unexpected field: {}", self.json);
        assert!(!message.is_empty(), "error without message: {}", self.json);
    }

    #[track_caller]
    pub fn assert_unauthenticated(&self) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.json);
        assert_eq!(self.json["response"]["status"]["code"], 401);
        assert!(self.json["response"].get("errors").is_none(), "401 carries no errors array: {}", self.json);
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, ServerConfig::default()).await
    }

    pub async fn spawn_with(backend: Backend, config: ServerConfig) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let router = orgplane_server::app(db.store.clone(), config);
        leased(&db.store).await;
        Some(TestApp { router, db, backend })
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// A second replica of this application: another router over another store (own pool,
    /// own cache) on the same database. With PostgreSQL, the two share only the database.
    pub async fn replica(&self, config: ServerConfig) -> TestApp {
        let db = self.db.attach().await;
        let router = orgplane_server::app(db.store.clone(), config);
        leased(&db.store).await;
        TestApp { router, db, backend: self.backend }
    }

    /// Sends any request.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.expect("the router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("read body").to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        TestResponse { status, headers, json }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).expect("method")).uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.call("PUT", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.call("DELETE", path, Some(token), None).await
    }

    /// Signs up a new organization and signs its admin in with the password grant.
    pub async fn signup(&self, email: &str) -> Tenant {
        let res = self
            .call(
                "POST",
                "/auth/register",
                None,
                Some(json!({
                    "user": {"firstName": "Test", "lastName": "Admin", "email": email, "password": PASSWORD},
                    "organization": {"name": format!("Org of {email}")}
                })),
            )
            .await;
        res.assert_ok();
        let item = res.item().clone();
        let token = self.password_token(email, None).await;
        Tenant {
            org_id: item["organizationId"].as_str().expect("org id").into(),
            account_id: item["accountId"].as_str().expect("account id").into(),
            user_id: item["userId"].as_str().expect("user id").into(),
            email: email.into(),
            token,
        }
    }

    /// A temporary token for this person, in the given organization or their first one.
    pub async fn password_token(&self, email: &str, org_id: Option<&str>) -> String {
        let mut body = json!({"grant_type": "password", "username": email, "password": PASSWORD});
        if let Some(org) = org_id {
            body["organizationId"] = json!(org);
        }
        let res = self.call("POST", "/oauth/token", None, Some(body)).await;
        res.assert_ok();
        res.item()["accessToken"].as_str().expect("access token").to_string()
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL (when configured):
/// `both_backends!(name, |app| { ... })` defines `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("sqlite app");
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = $crate::TestApp::spawn($crate::Backend::Postgres).await else {
                    eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: PostgreSQL leg not run");
                    return;
                };
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
