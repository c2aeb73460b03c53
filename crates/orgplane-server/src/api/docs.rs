//! The OpenAPI 3.1 document generated from the handlers, and a small self-contained page that
//! browses it (no CDN: self-hosted installations are often offline).

use crate::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use std::sync::{Arc, OnceLock};

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json)).route("/docs", get(|| async { Html(DOCS_PAGE) }))
}

/// The document, built on the first request (see `api`) and kept as its JSON.
async fn openapi_json() -> impl IntoResponse {
    static JSON: OnceLock<Arc<str>> = OnceLock::new();
    let json = match JSON.get() {
        Some(json) => json.clone(),
        None => {
            let built = tokio::task::spawn_blocking(|| {
                let document = super::openapi();
                Arc::<str>::from(document.to_pretty_json().expect("the OpenAPI document serialises"))
            })
            .await
            .expect("building the OpenAPI document does not panic");
            JSON.get_or_init(|| built).clone()
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], json.to_string())
}

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orgplane API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 1.5rem;color:#1d2430}
 h1{margin-bottom:.2rem} .intro{color:#4a5568} details{border:1px solid #d9dee7;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}
 summary{cursor:pointer;font-family:ui-monospace,monospace} .m{display:inline-block;width:4.5rem;font-weight:700}
 .get{color:#2b6cb0}.post{color:#2f855a}.put{color:#b7791f}.delete{color:#c53030}
 pre{background:#f5f7fa;padding:.6rem;overflow:auto;font-size:13px} .tag{color:#718096;font-size:13px}
</style></head><body>
<h1>orgplane API</h1><p class="intro" id="intro">Loading <a href="/openapi.json">/openapi.json</a>…</p>
<div id="ops"></div>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
fetch("/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("intro").innerHTML = esc(doc.info.description) + ' — raw document: <a href="/openapi.json">/openapi.json</a>';
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const d = document.createElement("details");
      const responses = Object.entries(op.responses || {}).map(([code, r]) => code + " " + (r.description || "")).join("\n");
      const body = op.requestBody ? JSON.stringify(op.requestBody.content, null, 2) : "";
      d.innerHTML = `<summary><span class="m ${method}">${method.toUpperCase()}</span>${esc(path)}
        <span class="tag">${esc((op.tags||[]).join(", "))}</span></summary>
        <p>${esc(op.description || op.summary || "")}</p>
        ${op.security ? "<p>Requires <code>Authorization: Bearer &lt;token&gt;</code>.</p>" : ""}
        ${body ? "<h4>Request body</h4><pre>" + esc(body) + "</pre>" : ""}
        <h4>Responses</h4><pre>${esc(responses)}</pre>`;
      ops.appendChild(d);
    }
  }
});
</script></body></html>"##;
