use crate::tenancy::ROUTES;
use orgplane_testkit::both_backends;
use std::collections::BTreeSet;

both_backends!(document_lists_exactly_the_routes_and_each_is_served, |app| {
    let res = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(res.status, 200);
    assert!(res.json["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    let mut documented = BTreeSet::new();
    for (path, item) in res.json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let walked: BTreeSet<_> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.split('?').next().unwrap().to_string())).collect();
    assert_eq!(documented, walked, "the OpenAPI document and the route walk disagree");

    // Every documented route is served by a handler, not by the fallback.
    for (method, path) in &walked {
        let concrete = path
            .replace("{organizationId}", "606000000001")
            .replace("{accountId}", "act-00000001")
            .replace("{tokenId}", "1");
        let res = app.call(method, &concrete, None, None).await;
        let code = res.json["response"]["errors"][0]["code"].as_str().unwrap_or_default().to_string();
        assert!(code != "ROUTE_NOT_FOUND" && code != "METHOD_NOT_ALLOWED", "{method} {path} is not routed");
    }
    // Each operation documents its error envelope.
    for (path, item) in res.json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // SCIM answers 201 to a create and 204 to a delete (RFC 7644), not Spot's 200.
            let success = ["200", "201", "204"].iter().any(|s| op["responses"][s].is_object());
            let spot = !path.starts_with("/scim/");
            assert!(
                if spot { op["responses"]["200"].is_object() } else { success },
                "{method} {path} has no success response"
            );
        }
    }
});

both_backends!(docs_page_is_served, |app| {
    let res = app.call("GET", "/docs", None, None).await;
    assert_eq!(res.status, 200);
    assert!(res.json.as_str().unwrap().contains("/openapi.json"));
});
