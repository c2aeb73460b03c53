//! SCIM 2.0 (issue #5): the organization's SCIM tokens and settings, and a scripted SCIM client
//! exercising every request type — discovery, Users and Groups CRUD, filters, PATCH, paging,
//! ETags, Bulk — with the malformed cases answered 4xx, never 500.

use axum::body::Body;
use axum::http::Request;
use orgplane_testkit::{PASSWORD, Tenant, TestApp, TestResponse, both_backends};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

async fn scim_token(app: &TestApp, t: &Tenant) -> String {
    let res = app
        .post(&format!("/setup/organization/{}/scim/token", t.org_id), &t.token, json!({"description": "Okta"}))
        .await;
    res.assert_ok();
    res.item()["token"].as_str().unwrap().to_string()
}

/// A SCIM request with optional extra headers.
async fn scim(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/scim+json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.send(req.body(body).unwrap()).await
}

fn user(email: &str, given: &str, role: Option<&str>) -> Value {
    let mut u = json!({"schemas": [USER], "userName": email, "name": {"givenName": given, "familyName": "Tester"},
        "emails": [{"value": email, "primary": true}], "active": true});
    if let Some(r) = role {
        u["roles"] = json!([{"value": r, "primary": true}]);
    }
    u
}

fn assert_scim_error(res: &TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(res.status.as_u16(), status, "{}", res.json);
    assert_eq!(res.json["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", res.json);
    assert_eq!(res.json["status"], status.to_string());
    assert_eq!(res.json["scimType"].as_str(), scim_type, "{}", res.json);
}

async fn role_of(app: &TestApp, org: &str, user: &str) -> Vec<String> {
    app.db
        .raw_texts(&format!("SELECT role FROM memberships WHERE organization_id = {org} AND user_id = '{user}'"))
        .await
}

async fn policies_of(app: &TestApp, user: &str) -> Vec<String> {
    app.db
        .raw_texts(&format!("SELECT policy_id || ' ' || account_ids FROM user_policies WHERE user_id = '{user}'"))
        .await
}

both_backends!(tokens_are_admin_only_shown_once_and_revocable, |app| {
    let t = app.signup("scim-admin@example.com").await;
    let secret = scim_token(&app, &t).await;
    assert!(secret.starts_with("ops_"));
    let settings = app.get(&format!("/setup/organization/{}/scim", t.org_id), &t.token).await;
    settings.assert_ok();
    let s = settings.item();
    assert_eq!(s["roleAttribute"], "roles");
    assert!(s["baseUrl"].as_str().unwrap().ends_with("/scim/v2"));
    let listed = &s["tokens"][0];
    assert_eq!(listed["lastDigits"].as_str().unwrap(), &secret[secret.len() - 4..]);
    assert!(listed.get("token").is_none(), "the secret is shown once");
    assert!(!settings.json.to_string().contains(&secret));
    // Only the hash is stored.
    assert!(app.db.raw_texts("SELECT hash FROM scim_tokens").await.iter().all(|h| !h.contains(&secret[4..])));

    // The SCIM token works at /scim/v2 only, and the API token not there.
    scim(&app, "GET", "/scim/v2/Users", &secret, None, &[]).await.status.is_success().then_some(()).unwrap();
    app.get("/setup/account", &secret).await.assert_unauthenticated();
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", &t.token, None, &[]).await, 401, None);
    let anonymous = app.call("GET", "/scim/v2/Users", None, None).await;
    assert_scim_error(&anonymous, 401, None);
    assert!(anonymous.headers.get("www-authenticate").is_some());

    // A viewer can neither see nor create SCIM tokens.
    let viewer = app
        .post("/setup/user?generateToken=true", &t.token,
            json!({"firstName": "V", "lastName": "Iewer", "email": "scim-viewer@example.com", "password": PASSWORD, "role": "viewer"}))
        .await;
    let viewer_token = viewer.item()["personalAccessToken"].as_str().unwrap().to_string();
    let path = format!("/setup/organization/{}/scim/token", t.org_id);
    assert_eq!(app.post(&path, &viewer_token, json!({})).await.status, 403);
    assert_eq!(app.get(&format!("/setup/organization/{}/scim", t.org_id), &viewer_token).await.status, 403);

    // Settings: the role attribute is checked.
    let settings_path = format!("/setup/organization/{}/scim", t.org_id);
    app.put(&settings_path, &t.token, json!({"roleAttribute": "not a path"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.roleAttribute"),
    );
    app.put(&settings_path, &t.token, json!({"roleAttribute": "userType"})).await.assert_ok();
    assert_eq!(app.get(&settings_path, &t.token).await.item()["roleAttribute"], "userType");

    // Revocation is immediate.
    let id = listed["id"].as_str().unwrap();
    app.delete(&format!("{path}/{id}"), &t.token).await.assert_ok();
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", &secret, None, &[]).await, 401, None);
    app.delete(&format!("{path}/{id}"), &t.token).await.assert_error(
        404,
        "SCIM_TOKEN_DOESNT_EXIST",
        Some("path.tokenId"),
    );
});

both_backends!(discovery_documents_describe_what_is_supported, |app| {
    let t = app.signup("scim-disco@example.com").await;
    let token = scim_token(&app, &t).await;
    let spc = scim(&app, "GET", "/scim/v2/ServiceProviderConfig", &token, None, &[]).await;
    assert_eq!(spc.status, 200);
    assert_eq!(spc.headers["content-type"], "application/scim+json");
    assert_eq!(spc.json["patch"]["supported"], true);
    assert_eq!(spc.json["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.json["etag"]["supported"], true);
    assert_eq!(spc.json["sort"]["supported"], false);
    let types = scim(&app, "GET", "/scim/v2/ResourceTypes", &token, None, &[]).await;
    let names: Vec<_> = types.json["Resources"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [json!("User"), json!("Group")]);
    let schemas = scim(&app, "GET", "/scim/v2/Schemas", &token, None, &[]).await;
    assert_eq!(schemas.json["totalResults"], 2);
    assert_eq!(schemas.json["Resources"][0]["id"], USER);
});

both_backends!(users_are_provisioned_with_spots_role_mapping, |app| {
    let t = app.signup("scim-users@example.com").await;
    let token = scim_token(&app, &t).await;

    // Viewer: the Account Viewer policy on every account (current and future).
    let created =
        scim(&app, "POST", "/scim/v2/Users", &token, Some(user("Viv@Example.com", "Viv", Some("Viewer"))), &[]).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let viv = created.json["id"].as_str().unwrap().to_string();
    assert!(viv.starts_with("u-"));
    assert_eq!(created.json["userName"], "Viv@Example.com");
    assert_eq!(created.json["active"], true);
    assert_eq!(created.json["roles"][0]["value"], "Viewer");
    assert_eq!(created.headers["location"].to_str().unwrap(), created.json["meta"]["location"].as_str().unwrap());
    assert_eq!(created.headers["etag"].to_str().unwrap(), created.json["meta"]["version"].as_str().unwrap());
    assert_eq!(role_of(&app, &t.org_id, &viv).await, ["member"]);
    assert_eq!(policies_of(&app, &viv).await, ["3 [\"*\"]"]);

    // Editor: an organization admin.
    let ed =
        scim(&app, "POST", "/scim/v2/Users", &token, Some(user("ed@example.com", "Ed", Some("Editor"))), &[]).await;
    let ed = ed.json["id"].as_str().unwrap().to_string();
    assert_eq!(role_of(&app, &t.org_id, &ed).await, ["admin"]);

    // No role: Viewer.
    let plain = scim(&app, "POST", "/scim/v2/Users", &token, Some(user("plain@example.com", "Plain", None)), &[]).await;
    assert_eq!(plain.json["roles"][0]["value"], "Viewer");

    // The people show in Spot's user list.
    let listed = app.get("/setup/organization/user", &t.token).await;
    let emails: Vec<_> = listed.items().iter().filter_map(|u| u["email"].as_str()).collect();
    assert!(emails.contains(&"Viv@Example.com") && emails.contains(&"ed@example.com"), "{emails:?}");

    // A second create of the same person is a conflict, whatever the case of the email.
    let again = scim(&app, "POST", "/scim/v2/Users", &token, Some(user("viv@example.com", "Viv", None)), &[]).await;
    assert_scim_error(&again, 409, Some("uniqueness"));

    // Promotion and demotion by replacing the role; the last admin cannot be demoted.
    let mut promoted = user("Viv@Example.com", "Viv", Some("Editor"));
    promoted["externalId"] = json!("okta-viv");
    let res = scim(&app, "PUT", &format!("/scim/v2/Users/{viv}"), &token, Some(promoted), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["externalId"], "okta-viv");
    assert_eq!(role_of(&app, &t.org_id, &viv).await, ["admin"]);
    let demote =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "roles", "value": [{"value": "Viewer"}]}]});
    let res = scim(&app, "PATCH", &format!("/scim/v2/Users/{viv}"), &token, Some(demote), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(role_of(&app, &t.org_id, &viv).await, ["member"]);

    // A configured role attribute: the enterprise extension's department.
    let settings = format!("/setup/organization/{}/scim", t.org_id);
    let attr = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    app.put(&settings, &t.token, json!({"roleAttribute": attr})).await.assert_ok();
    let mut dept = user("dee@example.com", "Dee", None);
    dept["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": "Editor"});
    let dee = scim(&app, "POST", "/scim/v2/Users", &token, Some(dept), &[]).await;
    assert_eq!(role_of(&app, &t.org_id, dee.json["id"].as_str().unwrap()).await, ["admin"]);
    let mut bad = user("bad-role@example.com", "Bad", None);
    bad["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": "Owner"});
    assert_scim_error(&scim(&app, "POST", "/scim/v2/Users", &token, Some(bad), &[]).await, 400, Some("invalidValue"));
    assert!(
        app.db.raw_texts("SELECT id FROM users WHERE email_key = 'bad-role@example.com'").await.is_empty(),
        "no partial write"
    );
});

both_backends!(deactivation_removes_access_and_tokens_and_reactivation_restores_access, |app| {
    let t = app.signup("scim-deact@example.com").await;
    let token = scim_token(&app, &t).await;
    // A person who already has a personal token in this organization.
    let m = app
        .post("/setup/user?generateToken=true", &t.token,
            json!({"firstName": "Mo", "lastName": "Ember", "email": "mo@example.com", "password": PASSWORD, "role": "viewer"}))
        .await;
    m.assert_ok();
    let mo = m.item()["userId"].as_str().unwrap().to_string();
    let mo_token = m.item()["personalAccessToken"].as_str().unwrap().to_string();
    app.get("/setup/account", &mo_token).await.assert_ok();

    let found =
        scim(&app, "GET", "/scim/v2/Users?filter=userName%20eq%20%22MO%40example.com%22", &token, None, &[]).await;
    assert_eq!(found.json["totalResults"], 1, "{}", found.json);
    assert_eq!(found.json["Resources"][0]["id"], mo.as_str());

    // Okta's deactivation: PATCH active=false without a path.
    let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let res = scim(&app, "PATCH", &format!("/scim/v2/Users/{mo}"), &token, Some(off), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["active"], false);
    app.get("/setup/account", &mo_token).await.assert_unauthenticated();
    assert!(app.db.raw_texts(&format!("SELECT hash FROM tokens WHERE user_id = '{mo}'")).await.is_empty());
    assert!(role_of(&app, &t.org_id, &mo).await.is_empty());
    let users = app.get("/setup/organization/user", &t.token).await;
    assert!(users.items().iter().all(|u| u["userId"] != mo.as_str()));
    let inactive = scim(&app, "GET", "/scim/v2/Users?filter=active%20eq%20false", &token, None, &[]).await;
    assert_eq!(inactive.json["totalResults"], 1);
    // The password grant no longer reaches this organization.
    let grant = app
        .call("POST", "/oauth/token", None, Some(json!({"grant_type": "password", "username": "mo@example.com", "password": PASSWORD, "organizationId": t.org_id})))
        .await;
    assert_ne!(grant.status, 200, "{}", grant.json);

    // Azure's reactivation: "Replace" with a string boolean.
    let on = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
    let res = scim(&app, "PATCH", &format!("/scim/v2/Users/{mo}"), &token, Some(on), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["active"], true);
    assert_eq!(role_of(&app, &t.org_id, &mo).await, ["member"]);
    app.password_token("mo@example.com", Some(&t.org_id)).await;

    // The last admin cannot be deactivated.
    let me = scim(&app, "GET", &format!("/scim/v2/Users/{}", t.user_id), &token, None, &[]).await;
    assert_eq!(me.json["roles"][0]["value"], "Editor");
    let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let res = scim(&app, "PATCH", &format!("/scim/v2/Users/{}", t.user_id), &token, Some(off), &[]).await;
    assert_eq!(res.status.as_u16(), 400, "{}", res.json);
    app.get("/setup/account", &t.token).await.assert_ok();

    // DELETE removes the person for good.
    let res = scim(&app, "DELETE", &format!("/scim/v2/Users/{mo}"), &token, None, &[]).await;
    assert_eq!(res.status, 204);
    assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Users/{mo}"), &token, None, &[]).await, 404, None);
    assert!(app.db.raw_texts(&format!("SELECT id FROM users WHERE id = '{mo}'")).await.is_empty());
});

both_backends!(filters_and_paging, |app| {
    let t = app.signup("scim-filter@example.com").await;
    let token = scim_token(&app, &t).await;
    for i in 0..7 {
        let mut u = user(&format!("p{i}@corp.example"), &format!("Person{i}"), None);
        u["externalId"] = json!(format!("ext-{i}"));
        assert_eq!(scim(&app, "POST", "/scim/v2/Users", &token, Some(u), &[]).await.status, 201);
    }
    let q = |filter: &str| {
        let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        format!("/scim/v2/Users?filter={encoded}")
    };
    let total = |res: &TestResponse| res.json["totalResults"].as_i64().unwrap();
    let cases = [
        ("userName sw \"p\"", 7),
        ("userName ew \"corp.example\" and not (name.givenName eq \"Person3\")", 6),
        ("externalId eq \"ext-2\" or externalId eq \"EXT-4\"", 1),
        ("emails[value co \"p5\"]", 1),
        ("name.givenName co \"person\"", 7),
        ("externalId pr", 7),
        ("active eq true", 8),
        ("meta.created gt \"2000-01-01T00:00:00Z\"", 8),
        ("userName eq \"nobody@example.com\"", 0),
        ("(userName eq \"p1@corp.example\" or userName eq \"p2@corp.example\") and active eq true", 2),
    ];
    for (filter, expected) in cases {
        let res = scim(&app, "GET", &q(filter), &token, None, &[]).await;
        assert_eq!(res.status, 200, "{filter}: {}", res.json);
        assert_eq!(total(&res), expected, "{filter}");
    }
    // Paging: startIndex is 1-based; totalResults counts everything.
    let page = scim(&app, "GET", "/scim/v2/Users?startIndex=3&count=2", &token, None, &[]).await;
    assert_eq!(total(&page), 8);
    assert_eq!(page.json["startIndex"], 3);
    assert_eq!(page.json["itemsPerPage"], 2);
    let all = scim(&app, "GET", "/scim/v2/Users?count=100", &token, None, &[]).await;
    let ids: Vec<_> = all.json["Resources"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    assert_eq!(page.json["Resources"][0]["id"], ids[2]);
    assert_eq!(page.json["Resources"][1]["id"], ids[3]);
    let past = scim(&app, "GET", "/scim/v2/Users?startIndex=50", &token, None, &[]).await;
    assert_eq!(past.json["Resources"], json!([]));
    // attributes= keeps id, schemas and meta.
    let slim = scim(&app, "GET", "/scim/v2/Users?attributes=userName&count=1", &token, None, &[]).await;
    let keys: Vec<_> = slim.json["Resources"][0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "meta", "schemas", "userName"]);

    // Malformed or unsupported filters are invalidFilter, never a 500.
    for bad in [
        "userName eq",
        "userName zz \"a\"",
        "title eq \"x\"",
        "active gt true",
        "((",
        "userName eq \"a\" and",
        "name.givenName[value eq \"x\"]",
    ] {
        let res = scim(&app, "GET", &q(bad), &token, None, &[]).await;
        assert_scim_error(&res, 400, Some("invalidFilter"));
    }
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?count=x", &token, None, &[]).await, 400, Some("invalidValue"));
    // Quotes and LIKE wildcards in values are data.
    let res = scim(
        &app,
        "GET",
        &q("userName co \"%\" or userName co \"_\" or userName eq \"x' OR '1'='1\""),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(total(&res), 0, "{}", res.json);
});

both_backends!(etags_guard_concurrent_changes, |app| {
    let t = app.signup("scim-etag@example.com").await;
    let token = scim_token(&app, &t).await;
    let created = scim(&app, "POST", "/scim/v2/Users", &token, Some(user("et@example.com", "Et", None)), &[]).await;
    let id = created.json["id"].as_str().unwrap().to_string();
    let v1 = created.headers["etag"].to_str().unwrap().to_string();
    let path = format!("/scim/v2/Users/{id}");
    let same = scim(&app, "GET", &path, &token, None, &[("if-none-match", &v1)]).await;
    assert_eq!(same.status, 304);
    let changed =
        scim(&app, "PUT", &path, &token, Some(user("et@example.com", "Etta", None)), &[("if-match", &v1)]).await;
    assert_eq!(changed.status, 200, "{}", changed.json);
    let v2 = changed.headers["etag"].to_str().unwrap().to_string();
    assert_ne!(v1, v2);
    // A writer holding the old version is refused, whatever the verb.
    let stale = scim(&app, "PUT", &path, &token, Some(user("et@example.com", "Old", None)), &[("if-match", &v1)]).await;
    assert_scim_error(&stale, 412, None);
    let patch =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "name.givenName", "value": "Old"}]});
    assert_scim_error(&scim(&app, "PATCH", &path, &token, Some(patch), &[("if-match", &v1)]).await, 412, None);
    assert_scim_error(&scim(&app, "DELETE", &path, &token, None, &[("if-match", &v1)]).await, 412, None);
    assert_eq!(scim(&app, "GET", &path, &token, None, &[]).await.json["name"]["givenName"], "Etta");
    assert_eq!(scim(&app, "GET", &path, &token, None, &[("if-none-match", &v1)]).await.status, 200);
    assert_eq!(scim(&app, "DELETE", &path, &token, None, &[("if-match", &v2)]).await.status, 204);
});

both_backends!(patch_is_all_or_nothing_and_bad_paths_are_invalid_path, |app| {
    let t = app.signup("scim-patch@example.com").await;
    let token = scim_token(&app, &t).await;
    let created = scim(&app, "POST", "/scim/v2/Users", &token, Some(user("pa@example.com", "Pa", None)), &[]).await;
    let path = format!("/scim/v2/Users/{}", created.json["id"].as_str().unwrap());
    let ok = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "name.familyName", "value": "Tchwork"},
        {"op": "add", "path": "externalId", "value": "x-1"}]});
    let res = scim(&app, "PATCH", &path, &token, Some(ok), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["name"]["familyName"], "Tchwork");
    assert_eq!(res.json["externalId"], "x-1");
    let bad_cases = [
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "name.familyName", "value": "Changed"},
            {"op": "replace", "path": "name..x", "value": 1}]}),
            400,
            Some("invalidPath"),
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "u-evil"}]}),
            400,
            Some("mutability"),
        ),
        (json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]}), 400, Some("noTarget")),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "jump", "path": "userName", "value": "x"}]}),
            400,
            Some("invalidValue"),
        ),
        (json!({"Operations": []}), 400, Some("invalidSyntax")),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "not-an-email"}]}),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]}),
            400,
            Some("invalidPath"),
        ),
    ];
    for (body, status, scim_type) in bad_cases {
        let res = scim(&app, "PATCH", &path, &token, Some(body.clone()), &[]).await;
        assert_eq!(res.status.as_u16(), status, "{body}: {}", res.json);
        assert!(
            res.json["scimType"].as_str() == scim_type || scim_type == Some("invalidValue"),
            "{body}: {}",
            res.json
        );
    }
    // Nothing of the refused patches was applied.
    let now = scim(&app, "GET", &path, &token, None, &[]).await;
    assert_eq!(now.json["name"]["familyName"], "Tchwork");
    assert_eq!(now.json["userName"], "pa@example.com");
    // Bodies that are not JSON objects.
    let raw = Request::builder()
        .method("POST")
        .uri("/scim/v2/Users")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from("{not json"))
        .unwrap();
    assert_scim_error(&app.send(raw).await, 400, Some("invalidSyntax"));
    assert_scim_error(
        &scim(&app, "POST", "/scim/v2/Users", &token, Some(json!([1])), &[]).await,
        400,
        Some("invalidSyntax"),
    );
    assert_scim_error(
        &scim(&app, "POST", "/scim/v2/Users", &token, Some(json!({"schemas": [USER]})), &[]).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users/u-nobody", &token, None, &[]).await, 404, None);
    assert_scim_error(
        &scim(&app, "PUT", "/scim/v2/Users/u-nobody", &token, Some(user("n@example.com", "N", None)), &[]).await,
        404,
        None,
    );
});

both_backends!(groups_crud_and_member_patches, |app| {
    let t = app.signup("scim-groups@example.com").await;
    let token = scim_token(&app, &t).await;
    let a =
        scim(&app, "POST", "/scim/v2/Users", &token, Some(user("ga@example.com", "Ga", None)), &[]).await.json["id"]
            .as_str()
            .unwrap()
            .to_string();
    let b =
        scim(&app, "POST", "/scim/v2/Users", &token, Some(user("gb@example.com", "Gb", None)), &[]).await.json["id"]
            .as_str()
            .unwrap()
            .to_string();
    let created = scim(
        &app,
        "POST",
        "/scim/v2/Groups",
        &token,
        Some(json!({"schemas": [GROUP], "displayName": "Ops", "members": [{"value": a}]})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let gid = created.json["id"].as_str().unwrap().to_string();
    assert!(gid.starts_with("ugr-"));
    assert_eq!(created.json["members"][0]["value"], a.as_str());
    // It is a Spot user group.
    let spot = app.get(&format!("/setup/access/userGroup/{gid}"), &t.token).await;
    spot.assert_ok();
    assert_eq!(spot.item()["name"], "Ops");
    // The user shows the group.
    let ua = scim(&app, "GET", &format!("/scim/v2/Users/{a}"), &token, None, &[]).await;
    assert_eq!(ua.json["groups"][0]["value"], gid.as_str());

    let path = format!("/scim/v2/Groups/{gid}");
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": b}]}]});
    let res = scim(&app, "PATCH", &path, &token, Some(add), &[]).await;
    assert_eq!(res.json["members"].as_array().unwrap().len(), 2, "{}", res.json);
    let remove =
        json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]});
    let res = scim(&app, "PATCH", &path, &token, Some(remove), &[]).await;
    assert_eq!(
        res.json["members"],
        json!([{"value": b, "display": "Gb Tester", "type": "User", "$ref": res.json["members"][0]["$ref"]}])
    );
    let rename =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Platform"}]});
    assert_eq!(scim(&app, "PATCH", &path, &token, Some(rename), &[]).await.json["displayName"], "Platform");
    let by_name =
        scim(&app, "GET", "/scim/v2/Groups?filter=displayName%20eq%20%22platform%22", &token, None, &[]).await;
    assert_eq!(by_name.json["totalResults"], 1);
    // Members must be people of this organization; nothing is written otherwise.
    let stranger = app.signup("scim-stranger@example.com").await;
    let bad = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": stranger.user_id}]}]});
    let res = scim(&app, "PATCH", &path, &token, Some(bad), &[]).await;
    assert_scim_error(&res, 400, Some("invalidValue"));
    assert!(!res.json.to_string().contains(&stranger.user_id), "no foreign id echoed");
    assert_eq!(scim(&app, "GET", &path, &token, None, &[]).await.json["members"].as_array().unwrap().len(), 1);
    // PUT replaces the member list.
    let put = json!({"schemas": [GROUP], "displayName": "Platform", "members": []});
    assert_eq!(scim(&app, "PUT", &path, &token, Some(put), &[]).await.json["members"], json!([]));
    assert_eq!(scim(&app, "DELETE", &path, &token, None, &[]).await.status, 204);
    assert_scim_error(&scim(&app, "GET", &path, &token, None, &[]).await, 404, None);
});

both_backends!(bulk_resolves_references_and_stops_after_fail_on_errors, |app| {
    let t = app.signup("scim-bulk@example.com").await;
    let token = scim_token(&app, &t).await;
    let body = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "bulkId": "u1", "path": "/Users", "data": user("bu1@example.com", "Bu", None)},
        {"method": "POST", "bulkId": "g1", "path": "/Groups", "data":
            {"schemas": [GROUP], "displayName": "Bulk", "members": [{"value": "bulkId:u1"}]}},
        {"method": "PATCH", "path": "/Users/bulkId:u1", "data":
            {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": "b-1"}]}},
        {"method": "DELETE", "path": "/Users/u-missing"},
        {"method": "POST", "bulkId": "u2", "path": "/Users", "data": user("bu2@example.com", "Bu", None)},
    ]});
    let res = scim(&app, "POST", "/scim/v2/Bulk", &token, Some(body), &[]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let ops = res.json["Operations"].as_array().unwrap();
    let statuses: Vec<_> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "404", "201"]);
    assert_eq!(ops[3]["response"]["status"], "404");
    let group =
        scim(&app, "GET", &format!("/scim/v2/Groups?filter={}", "displayName%20eq%20%22Bulk%22"), &token, None, &[])
            .await;
    let u1 = group.json["Resources"][0]["members"][0]["value"].as_str().unwrap().to_string();
    assert_eq!(scim(&app, "GET", &format!("/scim/v2/Users/{u1}"), &token, None, &[]).await.json["externalId"], "b-1");

    // failOnErrors: 1 stops at the first failure.
    let body = json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "DELETE", "path": "/Users/u-missing"},
        {"method": "POST", "bulkId": "x", "path": "/Users", "data": user("never@example.com", "Never", None)},
    ]});
    let res = scim(&app, "POST", "/scim/v2/Bulk", &token, Some(body), &[]).await;
    assert_eq!(res.json["Operations"].as_array().unwrap().len(), 1);
    assert!(app.db.raw_texts("SELECT id FROM users WHERE email_key = 'never@example.com'").await.is_empty());

    // Malformed bulk requests.
    let cases = [
        json!({"Operations": []}),
        json!({"schemas": [BULK], "Operations": [{"method": "GET", "path": "/Users"}]}),
        json!({"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Users", "data": {}}]}),
        json!({"schemas": [BULK], "failOnErrors": 0, "Operations": []}),
    ];
    for body in cases {
        let res = scim(&app, "POST", "/scim/v2/Bulk", &token, Some(body.clone()), &[]).await;
        assert_eq!(res.status.as_u16(), 400, "{body}: {}", res.json);
    }
    let many: Vec<_> = (0..1001).map(|i| json!({"method": "DELETE", "path": format!("/Users/u-{i}")})).collect();
    let res =
        scim(&app, "POST", "/scim/v2/Bulk", &token, Some(json!({"schemas": [BULK], "Operations": many})), &[]).await;
    assert_scim_error(&res, 413, Some("tooMany"));
    // Bad operation paths fail on their own.
    let body = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "bulkId": "p", "path": "/Things", "data": {}},
        {"method": "PUT", "path": "/Users", "data": user("z@example.com", "Z", None)},
        {"method": "POST", "bulkId": "q", "path": "/Groups", "data": {"schemas": [GROUP], "displayName": "G", "members": [{"value": "bulkId:nope"}]}},
    ]});
    let res = scim(&app, "POST", "/scim/v2/Bulk", &token, Some(body), &[]).await;
    let statuses: Vec<_> =
        res.json["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["400", "400", "400"], "{}", res.json);
});

both_backends!(scim_writes_are_audited, |app| {
    let t = app.signup("scim-audit@example.com").await;
    let token = scim_token(&app, &t).await;
    scim(&app, "POST", "/scim/v2/Users", &token, Some(user("au@example.com", "Au", None)), &[]).await;
    let events = app.get("/audit/events?fromDate=0&toDate=99999999999999&responseStatus=all&limit=100", &t.token).await;
    let text = events.json.to_string();
    assert!(text.contains("scim:createUser"), "{text}");
    assert!(text.contains("setup:manageScim"), "{text}");
    assert!(!text.contains(&token), "the SCIM secret is not in the audit trail");
});

both_backends!(a_scim_token_reaches_only_its_organization, |app| {
    let a = app.signup("scim-tenant-a@example.com").await;
    let b = app.signup("scim-tenant-b@example.com").await;
    let a_token = scim_token(&app, &a).await;
    let b_token = scim_token(&app, &b).await;
    let a_user = scim(&app, "POST", "/scim/v2/Users", &a_token, Some(user("only-a@example.com", "OnlyA", None)), &[])
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_group = scim(
        &app,
        "POST",
        "/scim/v2/Groups",
        &a_token,
        Some(json!({"schemas": [GROUP], "displayName": "A team"})),
        &[],
    )
    .await
    .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    // B sees only its own people and groups, filters included.
    let listed = scim(&app, "GET", "/scim/v2/Users?filter=userName%20sw%20%22only%22", &b_token, None, &[]).await;
    assert_eq!(listed.json["totalResults"], 0);
    let all = scim(&app, "GET", "/scim/v2/Users", &b_token, None, &[]).await.json.to_string();
    assert!(!all.contains(&a_user) && !all.contains(&a.user_id));
    assert!(!scim(&app, "GET", "/scim/v2/Groups", &b_token, None, &[]).await.json.to_string().contains(&a_group));
    // B creating a person A already has gives B a membership, not A's data; A's record stays.
    let mut same = user("only-a@example.com", "Renamed", Some("Editor"));
    same["externalId"] = json!("b-side");
    let res = scim(&app, "POST", "/scim/v2/Users", &b_token, Some(same.clone()), &[]).await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["name"]["givenName"], "OnlyA", "B cannot rename A's person");
    // Once shared, the person's name and email cannot be changed from B.
    let res = scim(&app, "PUT", &format!("/scim/v2/Users/{a_user}"), &b_token, Some(same), &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json["name"]["givenName"], "OnlyA");
    let moved = scim(
        &app,
        "PUT",
        &format!("/scim/v2/Users/{a_user}"),
        &b_token,
        Some(user("moved@example.com", "M", None)),
        &[],
    )
    .await;
    assert_scim_error(&moved, 400, Some("mutability"));
    let seen_by_a = scim(&app, "GET", &format!("/scim/v2/Users/{a_user}"), &a_token, None, &[]).await;
    assert_eq!(seen_by_a.json["userName"], "only-a@example.com");
    assert!(seen_by_a.json.get("externalId").is_none(), "A's SCIM record is A's own");
    assert_eq!(seen_by_a.json["roles"][0]["value"], "Viewer");
    // B deactivating the person in B leaves A's membership alone.
    let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(scim(&app, "PATCH", &format!("/scim/v2/Users/{a_user}"), &b_token, Some(off), &[]).await.status, 200);
    assert_eq!(role_of(&app, &a.org_id, &a_user).await, ["member"]);
    // A's group cannot be reached from B.
    assert_scim_error(
        &scim(&app, "DELETE", &format!("/scim/v2/Groups/{a_group}"), &b_token, None, &[]).await,
        404,
        None,
    );
    assert_scim_error(
        &scim(&app, "DELETE", &format!("/scim/v2/Users/{}", a.user_id), &b_token, None, &[]).await,
        404,
        None,
    );
    // B's admin cannot manage A's SCIM tokens.
    let path = format!("/setup/organization/{}/scim/token", a.org_id);
    assert_eq!(app.post(&path, &b.token, json!({})).await.status, 404);
});
