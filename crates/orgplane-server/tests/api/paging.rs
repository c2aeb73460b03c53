//! Keyset paging of `GET /setup/account` and `GET /setup/organization/user` (`limit`, `cursor`):
//! the unpaged default stays Spot's whole list; pages walk it exactly; bad input names its field.

use orgplane_testkit::{TestApp, both_backends};
use serde_json::{Value, json};

/// Walks a listing page by page; returns every item's `key` and the number of pages.
async fn walk(app: &TestApp, token: &str, path: &str, limit: usize, key: &str) -> (Vec<String>, usize) {
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let res = app.get(&url, token).await;
        res.assert_ok();
        pages += 1;
        assert!(res.items().len() <= limit);
        assert_eq!(res.json["response"]["count"], res.items().len());
        seen.extend(res.items().iter().map(|i| i[key].as_str().unwrap().to_string()));
        match &res.json["response"]["paginationInfo"]["nextCursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => return (seen, pages),
            other => panic!("nextCursor {other}"),
        }
        assert!(pages < 100, "the walk does not end");
    }
}

fn ids(res: &orgplane_testkit::TestResponse, key: &str) -> Vec<String> {
    res.items().iter().map(|i| i[key].as_str().unwrap().to_string()).collect()
}

both_backends!(accounts_page_through_the_whole_list_in_its_order, |app| {
    let t = app.signup("pages@example.com").await;
    for n in 0..7 {
        app.post("/setup/account", &t.token, json!({"account": {"name": format!("Acct {n}")}})).await.assert_ok();
    }
    let whole = app.get("/setup/account", &t.token).await;
    // Spot's answer stays whole, without paging fields.
    assert!(whole.json["response"].get("paginationInfo").is_none(), "{}", whole.json);
    let all = ids(&whole, "accountId");
    assert_eq!(all.len(), 8);
    assert_eq!(all[0], t.account_id, "the default account comes first");
    for limit in [1, 3, 8, 100] {
        let (seen, pages) = walk(&app, &t.token, "/setup/account", limit, "accountId").await;
        assert_eq!(seen, all, "limit {limit}");
        assert_eq!(pages, 8usize.div_ceil(limit), "limit {limit}");
    }
    // A cursor alone pages with the default size; a page ends where its cursor says.
    let first = app.get("/setup/account?limit=2", &t.token).await;
    let cursor = first.json["response"]["paginationInfo"]["nextCursor"].as_str().unwrap().to_string();
    let rest = app.get(&format!("/setup/account?cursor={cursor}"), &t.token).await;
    assert_eq!(ids(&rest, "accountId"), all[2..]);
    assert!(rest.json["response"].get("paginationInfo").is_none());
    // An account created meanwhile appears at the end; one deleted meanwhile shifts nothing.
    app.delete(&format!("/setup/account/{}", all[1]), &t.token).await.assert_ok();
    let added = app.post("/setup/account", &t.token, json!({"account": {"name": "Late"}})).await;
    let late = added.item()["accountId"].as_str().unwrap().to_string();
    let rest = app.get(&format!("/setup/account?cursor={cursor}"), &t.token).await;
    assert_eq!(ids(&rest, "accountId"), [&all[2..], &[late]].concat());
});

both_backends!(account_pages_are_the_callers_organization_and_visibility, |app| {
    let a = app.signup("pages-a@example.com").await;
    let b = app.signup("pages-b@example.com").await;
    for n in 0..3 {
        app.post("/setup/account", &b.token, json!({"account": {"name": format!("B {n}")}})).await.assert_ok();
    }
    // B's cursor is only a position: on A's listing it yields A's accounts, never B's.
    let b_page = app.get("/setup/account?limit=1", &b.token).await;
    let b_cursor = b_page.json["response"]["paginationInfo"]["nextCursor"].as_str().unwrap().to_string();
    let res = app.get(&format!("/setup/account?cursor={b_cursor}"), &a.token).await;
    res.assert_ok();
    assert!(res.items().iter().all(|i| i["organizationId"] == a.org_id.as_str()), "{}", res.json);
    // A member attached to nothing sees no account on any page, and the walk still ends.
    let m = app.signup("pages-m@example.com").await;
    let in_b = crate::add_member(&app, &b, &m).await;
    let (seen, pages) = walk(&app, &in_b, "/setup/account", 2, "accountId").await;
    assert!(seen.is_empty());
    assert_eq!(pages, 2);
});

both_backends!(users_page_through_the_whole_list_with_their_groups, |app| {
    let t = app.signup("upages@example.com").await;
    let mut created = Vec::new();
    for n in 0..6 {
        let res = app
            .post(
                "/setup/user",
                &t.token,
                json!({"firstName": "U", "lastName": format!("Ser{n}"), "email": format!("upage{n}@example.com")}),
            )
            .await;
        res.assert_ok();
        created.push(res.item()["userId"].as_str().unwrap().to_string());
    }
    app.post(
        "/setup/access/userGroup",
        &t.token,
        json!({"name": "Paged", "userIds": [created[4]], "policies": [{"policyId": "3", "accounts": ["*"]}]}),
    )
    .await
    .assert_ok();
    let whole = app.get("/setup/organization/user", &t.token).await;
    assert!(whole.json["response"].get("paginationInfo").is_none());
    let all = ids(&whole, "userId");
    assert_eq!(all.len(), 7);
    for limit in [1, 2, 7, 1000] {
        let (seen, pages) = walk(&app, &t.token, "/setup/organization/user", limit, "userId").await;
        assert_eq!(seen, all, "limit {limit}");
        assert_eq!(pages, 7usize.div_ceil(limit), "limit {limit}");
    }
    // Items of a page are those of the whole list, group names included.
    let page = app.get("/setup/organization/user?limit=1000", &t.token).await;
    assert_eq!(page.items(), whole.items());
    let grouped = page.items().iter().find(|u| u["userId"] == created[4].as_str()).unwrap();
    assert_eq!(grouped["groupNames"], json!(["Paged"]));
    // Another organization's listing is not reachable with a cursor.
    let other = app.signup("upages-other@example.com").await;
    let first = app.get("/setup/organization/user?limit=1", &t.token).await;
    let cursor = first.json["response"]["paginationInfo"]["nextCursor"].as_str().unwrap().to_string();
    let res = app.get(&format!("/setup/organization/user?cursor={cursor}"), &other.token).await;
    res.assert_ok();
    assert!(res.items().iter().all(|u| u["userId"] == other.user_id.as_str()), "{}", res.json);
});

both_backends!(paging_input_is_checked, |app| {
    let t = app.signup("badpages@example.com").await;
    for path in ["/setup/account", "/setup/organization/user"] {
        for limit in ["0", "-5", "1001", "ten", "", "2.5"] {
            app.get(&format!("{path}?limit={limit}"), &t.token).await.assert_error(
                400,
                "ValidationError",
                Some("query.limit"),
            );
        }
        // Forged cursors: not base64, not "key:id", a wrong id shape, an injection attempt.
        let forged = [
            "not-base64!".to_string(),
            "bm90IGEgY3Vyc29y".to_string(),
            "MTI6YWN0LXp6eg".to_string(),
            "MTI6dS0xYTJiM2M0ZCcgT1IgMT0x".to_string(),
            "eDp1LTFhMmIzYzRk".to_string(),
        ];
        for cursor in forged {
            let res = app.get(&format!("{path}?limit=5&cursor={cursor}"), &t.token).await;
            res.assert_error(400, "ValidationError", Some("query.cursor"));
        }
        app.get(&format!("{path}?page=2"), &t.token).await.assert_error(400, "ValidationError", Some("query.page"));
    }
    // The CSV export is whole: paging it is refused, naming the parameter.
    app.get("/setup/organization/user?format=csv&limit=5", &t.token).await.assert_error(
        400,
        "ValidationError",
        Some("query.limit"),
    );
    // Another organization's valid account cursor shape is accepted (it is a position only).
    let res = app.get("/setup/account?cursor=MTI6YWN0LTAwMDAwMDAw", &t.token).await;
    res.assert_ok();
});

both_backends!(paging_is_documented, |app| {
    let doc = app.call("GET", "/openapi.json", None, None).await;
    for path in ["/setup/account", "/setup/organization/user"] {
        let params: Vec<&str> = doc.json["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(params.contains(&"limit") && params.contains(&"cursor"), "{path}: {params:?}");
    }
    let schemas = &doc.json["components"]["schemas"];
    assert!(schemas["PaginationInfo"]["properties"]["nextCursor"].is_object(), "{}", schemas["PaginationInfo"]);
    // The token exchange grant is documented with the token request.
    assert!(schemas["TokenRequest"]["properties"]["subject_token"].is_object(), "{}", schemas["TokenRequest"]);
});
