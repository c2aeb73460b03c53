use orgplane_testkit::both_backends;
use serde_json::json;

both_backends!(success_has_spot_envelope_and_request_id_header, |app| {
    let t = app.signup("env@example.com").await;
    let res = app.get("/setup/account", &t.token).await;
    res.assert_ok();
    let req = &res.json["request"];
    let id = req["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "uuid request id");
    assert_eq!(res.headers["x-request-id"].to_str().unwrap(), id);
    assert_eq!(req["url"], "/setup/account");
    assert_eq!(req["method"], "GET");
    let ts = req["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "timestamp {ts}");
    let response = &res.json["response"];
    assert_eq!(response["status"], json!({"code": 200, "message": "OK"}));
    assert_eq!(response["kind"], "spotinst:setup:account");
    assert_eq!(response["count"], 1);
    assert_eq!(res.headers["content-type"], "application/json");
});

both_backends!(request_url_keeps_the_query_string, |app| {
    let t = app.signup("url@example.com").await;
    let path = format!("/setup/account/{}?accountId={}", t.account_id, t.account_id);
    let res = app.get(&path, &t.token).await;
    res.assert_ok();
    assert_eq!(res.json["request"]["url"], path);
});

both_backends!(delete_answers_200_with_a_json_body, |app| {
    let t = app.signup("del@example.com").await;
    let created = app.post("/setup/account", &t.token, json!({"account": {"name": "Doomed"}})).await;
    let id = created.item()["id"].as_str().unwrap().to_string();
    let res = app.delete(&format!("/setup/account/{id}"), &t.token).await;
    res.assert_ok();
    assert_eq!(res.json["response"]["status"]["code"], 200);
    assert!(res.json["request"]["id"].is_string());
});

both_backends!(unknown_routes_and_methods_answer_in_the_envelope, |app| {
    let res = app.call("GET", "/setup/nothing-here", None, None).await;
    res.assert_error(404, "ROUTE_NOT_FOUND", None);
    assert!(res.headers.contains_key("x-request-id"));
    let res = app.call("PATCH", "/setup/account", None, None).await;
    res.assert_error(405, "METHOD_NOT_ALLOWED", None);
});

both_backends!(health_and_readiness, |app| {
    app.call("GET", "/healthz", None, None).await.assert_ok();
    app.call("GET", "/readyz", None, None).await.assert_ok();
});
