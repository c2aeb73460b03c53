//! Each class of bad input gets the envelope with a precise code and field, never a 500.

use axum::body::Body;
use axum::http::Request;
use orgplane_testkit::both_backends;
use serde_json::json;

fn raw(method: &str, path: &str, token: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

both_backends!(malformed_json_is_a_400_on_the_body, |app| {
    let t = app.signup("malformed@example.com").await;
    for body in ["{", "{\"account\": ", "not json", "[1,2", "{\"account\":{\"name\":\"x\"}} trailing"] {
        let res = app.send(raw("POST", "/setup/account", &t.token, "application/json", body)).await;
        res.assert_error(400, "ValidationError", Some("body"));
    }
    assert_eq!(app.get("/setup/account", &t.token).await.items().len(), 1, "nothing was written");
});

both_backends!(wrong_json_types_name_the_field, |app| {
    let t = app.signup("types@example.com").await;
    let res = app.post("/setup/account", &t.token, json!({"account": "Production"})).await;
    res.assert_error(400, "ValidationError", Some("body.account"));
    let res = app.post("/setup/account", &t.token, json!([{"account": {"name": "x"}}])).await;
    res.assert_error(400, "ValidationError", Some("body"));
    let path = format!("/setup/account/{}", t.account_id);
    let res = app.put(&path, &t.token, json!({"account": {"slackNotificationChannels": "https://x.example"}})).await;
    res.assert_error(400, "ValidationError", Some("body.account.slackNotificationChannels"));
    let res = app.put(&path, &t.token, json!({"account": {"slackNotificationChannels": [1]}})).await;
    res.assert_error(400, "ValidationError", Some("body.account.slackNotificationChannels[0]"));
});

both_backends!(empty_json_body_counts_as_an_empty_object, |app| {
    let t = app.signup("empty@example.com").await;
    let res = app.send(raw("POST", "/setup/account", &t.token, "application/json", "")).await;
    res.assert_error(400, "ValidationError", Some("body.account"));
    let res = app.send(raw("POST", "/auth/tokens", &t.token, "application/json", "  ")).await;
    res.assert_error(400, "ValidationError", Some("body.name"));
});

both_backends!(oversized_bodies_are_refused, |app| {
    let t = app.signup("big@example.com").await;
    let name = "x".repeat(1024 * 1024 + 10);
    let body = json!({"account": {"name": name}}).to_string();
    let res = app.send(raw("POST", "/setup/account", &t.token, "application/json", body.clone())).await;
    res.assert_error(413, "PAYLOAD_TOO_LARGE", Some("body"));
    // Without a Content-Length the limit still holds (a streamed body).
    let stream = futures_like_stream(body.into_bytes());
    let mut req = raw("POST", "/setup/account", &t.token, "application/json", stream);
    req.headers_mut().remove("content-length");
    app.send(req).await.assert_error(413, "PAYLOAD_TOO_LARGE", Some("body"));
    assert_eq!(app.get("/setup/account", &t.token).await.items().len(), 1);
});

/// A body whose length is not known up front.
fn futures_like_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(axum::body::Bytes::copy_from_slice(c))).collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

both_backends!(unknown_query_parameters_are_refused_but_account_id_is_always_accepted, |app| {
    let t = app.signup("query@example.com").await;
    app.get("/setup/account?bogus=1", &t.token).await.assert_error(400, "ValidationError", Some("query.bogus"));
    app.get("/setup/organization?limit=5", &t.token).await.assert_error(400, "ValidationError", Some("query.limit"));
    let res = app.post("/setup/account?dryRun=true", &t.token, json!({"account": {"name": "No"}})).await;
    res.assert_error(400, "ValidationError", Some("query.dryRun"));
    assert_eq!(app.get("/setup/account", &t.token).await.items().len(), 1, "the refused create wrote nothing");
    // The Python SDK appends accountId to every call.
    app.get(&format!("/setup/account?accountId={}", t.account_id), &t.token).await.assert_ok();
    app.get(&format!("/setup/organization?accountId={}", t.account_id), &t.token).await.assert_ok();
    app.get("/setup/account?accountId=12", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.accountId"),
    );
});

both_backends!(bodies_on_get_are_ignored, |app| {
    let t = app.signup("getbody@example.com").await;
    let res = app.send(raw("GET", "/setup/account", &t.token, "application/json", "{\"accountId\": 1}")).await;
    res.assert_ok();
});
