//! Real peers the tests talk to: the `moto` STS emulator (from the pinned Python environment),
//! and a local STS responder that refuses `AssumeRole` with AWS's real error XML — moto does not
//! enforce trust policies or external ids, so refusals are tested against this responder.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running `moto_server`, killed on drop.
pub struct Moto {
    pub url: String,
    child: Child,
}

impl Moto {
    /// Starts moto on a free loopback port. `None` when moto is not installed (outside CI);
    /// under CI its absence is a failure.
    pub fn start() -> Option<Moto> {
        let bin =
            std::env::var("ORGPLANE_MOTO_SERVER").unwrap_or_else(|_| "/var/tmp/orgplane-venv/bin/moto_server".into());
        if !std::path::Path::new(&bin).exists() {
            assert!(std::env::var_os("CI").is_none(), "moto_server not found at {bin}: run scripts/python-env.sh");
            eprintln!("moto_server not found at {bin}: STS tests not run (scripts/python-env.sh installs it)");
            return None;
        }
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Moto { url: format!("http://127.0.0.1:{port}"), child })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the refusing STS received.
#[derive(Debug, Clone)]
pub struct StsRequest {
    pub authorization: String,
    pub body: String,
}

/// An STS endpoint that answers every call with `403 AccessDenied` in AWS's error format, and
/// records what it was sent.
pub struct RefusingSts {
    pub url: String,
    pub requests: Arc<Mutex<Vec<StsRequest>>>,
}

impl RefusingSts {
    pub async fn start() -> RefusingSts {
        let requests: Arc<Mutex<Vec<StsRequest>>> = Arc::default();
        let seen = requests.clone();
        let app = Router::new().route(
            "/",
            post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().expect("lock").push(StsRequest {
                        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    (
                        StatusCode::FORBIDDEN,
                        [("content-type", "text/xml")],
                        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                         <Error><Type>Sender</Type><Code>AccessDenied</Code>\
                         <Message>User: arn:aws:iam::111111111111:user/orgplane is not authorized to perform: sts:AssumeRole \
                         on resource: arn:aws:iam::123456789012:role/Spot-Role</Message></Error>\
                         <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>",
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RefusingSts { url, requests }
    }
}

/// A running aiosmtpd SMTP server that stores what it receives in a maildir; killed on drop.
pub struct Smtp {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Child,
}

impl Smtp {
    /// Starts aiosmtpd (from the pinned Python environment) on a free loopback port. `None` when
    /// it is not installed (outside CI).
    pub fn start() -> Option<Smtp> {
        let python = std::env::var("ORGPLANE_PYTHON").unwrap_or_else(|_| "/var/tmp/orgplane-venv/bin/python".into());
        let ok = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(std::env::var_os("CI").is_none(), "aiosmtpd not importable by {python}: run scripts/python-env.sh");
            eprintln!("aiosmtpd not found for {python}: SMTP tests not run (scripts/python-env.sh installs it)");
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("orgplane-smtp-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("smtp mail directory");
        let mut child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().ok().flatten().is_none(), "aiosmtpd exited at start");
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Smtp { port, dir, child })
    }

    /// Every message received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("mail").join("new")) else { return vec![] };
        let mut out: Vec<String> = entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect();
        out.sort();
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
