//! No request may see or change another organization's data. The walk covers every route in the
//! OpenAPI document (`openapi.rs` checks that this list and the document agree).

use orgplane_testkit::{Tenant, TestApp, both_backends};
use serde_json::{Value, json};

/// Every API route: method, path template, and a body that would succeed for its owner.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/auth/register"),
    ("POST", "/auth/tokens"),
    ("GET", "/auth/tokens"),
    ("DELETE", "/auth/tokens/{tokenId}"),
    ("POST", "/oauth/token"),
    ("POST", "/auth/mfa/totp"),
    ("DELETE", "/auth/mfa/totp"),
    ("POST", "/auth/mfa/totp/confirm"),
    ("POST", "/auth/mfa/webauthn/register"),
    ("POST", "/auth/mfa/webauthn/register/confirm"),
    ("GET", "/auth/mfa/webauthn"),
    ("DELETE", "/auth/mfa/webauthn/{keyId}"),
    ("POST", "/auth/mfa/webauthn/challenge"),
    ("POST", "/auth/password"),
    ("POST", "/auth/password/reset"),
    ("POST", "/auth/password/reset/confirm"),
    ("POST", "/setup/organization"),
    ("GET", "/setup/organization"),
    ("GET", "/setup/organization/{organizationId}"),
    ("PUT", "/setup/organization/{organizationId}"),
    ("DELETE", "/setup/organization/{organizationId}"),
    ("PUT", "/setup/organization/{organizationId}/security"),
    ("GET", "/setup/organization/{organizationId}/children"),
    ("POST", "/setup/organization/{organizationId}/children"),
    ("PUT", "/setup/organization/{organizationId}/children/{childOrganizationId}"),
    ("DELETE", "/setup/organization/{organizationId}/children/{childOrganizationId}"),
    ("POST", "/setup/organization/{organizationId}/invitations"),
    ("GET", "/setup/organization/{organizationId}/invitations"),
    ("POST", "/setup/organization/{organizationId}/invitations/{invitationId}/accept"),
    ("DELETE", "/setup/organization/{organizationId}/invitations/{invitationId}"),
    ("DELETE", "/setup/user/{userId}/mfa"),
    ("POST", "/setup/account"),
    ("GET", "/setup/account"),
    ("GET", "/setup/account/{accountId}"),
    ("PUT", "/setup/account/{accountId}"),
    ("DELETE", "/setup/account/{accountId}"),
    ("GET", "/setup/account/{accountId}/notifications"),
    ("PUT", "/setup/account/{accountId}/notifications"),
    ("POST", "/setup/account/{accountId}/notifications/test"),
    ("POST", "/setup/account/{accountId}/user"),
    ("PUT", "/setup/account/{accountId}/user"),
    ("DELETE", "/setup/account/{accountId}/user"),
    ("GET", "/setup/accountUserMapping"),
    ("POST", "/setup/accountUserMapping"),
    ("GET", "/setup/organization/user"),
    ("GET", "/setup/organization/token"),
    ("DELETE", "/setup/organization/token/{tokenId}"),
    ("GET", "/setup/organization/policy"),
    ("POST", "/setup/user"),
    ("GET", "/setup/user"),
    ("POST", "/setup/user/programmatic"),
    ("GET", "/setup/user/{userId}"),
    ("DELETE", "/setup/user/{userId}"),
    ("PUT", "/setup/user/{userId}/userGroupMapping"),
    ("PUT", "/setup/user/{userId}/policyMapping"),
    ("PUT", "/setup/user/{userId}/PolicyMapping"),
    ("POST", "/setup/access/policy"),
    ("GET", "/setup/access/policy"),
    ("PUT", "/setup/access/policy/{policyId}"),
    ("DELETE", "/setup/access/policy/{policyId}"),
    ("GET", "/setup/access/policyAction"),
    ("POST", "/setup/access/userGroup"),
    ("GET", "/setup/access/userGroup"),
    ("GET", "/setup/access/userGroup/{userGroupId}"),
    ("PUT", "/setup/access/userGroup/{userGroupId}"),
    ("DELETE", "/setup/access/userGroup/{userGroupId}"),
    ("PUT", "/setup/access/userGroup/{userGroupId}/userMapping"),
    ("PUT", "/setup/access/userGroup/{userGroupId}/policyMapping"),
    ("PUT", "/setup/access/userGroup/{userGroupId}/PolicyMapping"),
    ("POST", "/setup/access/explain"),
    ("POST", "/setup/credentials/aws/externalId?accountId={accountId}"),
    ("GET", "/setup/credentials/aws/externalId/{accountId}"),
    ("POST", "/setup/credentials/aws?accountId={accountId}"),
    ("GET", "/setup/credentials/aws?accountId={accountId}"),
    ("POST", "/azure/setup/credentials?accountId={accountId}"),
    ("GET", "/azure/setup/credentials?accountId={accountId}"),
    ("POST", "/azure/setup/credentials/validation?accountId={accountId}"),
    ("POST", "/azure/setup/tenant/credentials?accountId={accountId}"),
    ("POST", "/azure/setup/tenant/credentials/validation?accountId={accountId}"),
    ("POST", "/gcp/setup/credentials?accountId={accountId}"),
    ("GET", "/gcp/setup/credentials?accountId={accountId}"),
    ("POST", "/gcp/setup/credentials/validation?accountId={accountId}"),
    ("POST", "/notificationCenter/policy?accountId={accountId}"),
    ("GET", "/notificationCenter/policy"),
    ("GET", "/notificationCenter/policy/{policyId}"),
    ("PUT", "/notificationCenter/policy/{policyId}"),
    ("DELETE", "/notificationCenter/policy/{policyId}"),
    ("GET", "/notificationCenter/compute/resource?accountId={accountId}"),
    ("GET", "/notificationCenter/compute/event?accountId={accountId}"),
    ("POST", "/events/subscription?accountId={accountId}"),
    ("GET", "/events/subscription?accountId={accountId}"),
    ("GET", "/events/subscription/{subscriptionId}"),
    ("PUT", "/events/subscription/{subscriptionId}"),
    ("DELETE", "/events/subscription/{subscriptionId}"),
    ("GET", "/events/notification/accountPolicy?accountId={accountId}"),
    ("PUT", "/events/notification/accountPolicy?accountId={accountId}"),
    ("GET", "/billing/plan"),
    ("POST", "/billing/plan/activate"),
    ("POST", "/billing/usage"),
    ("GET", "/billing/bills"),
    ("GET", "/billing/bills?format=pdf"),
    ("GET", "/billing/bills/charts/trend.svg"),
    ("GET", "/billing/bills/charts/products.svg"),
    ("GET", "/notifications"),
    ("GET", "/notifications/count"),
    ("POST", "/notifications/{notificationId}/read"),
    ("POST", "/notifications/read"),
    ("GET", "/audit/events?fromDate=0&toDate=99999999999999"),
    ("GET", "/audit/events/export?format=jsonl"),
    ("PUT", "/audit/webhook"),
    ("GET", "/audit/webhook"),
    ("DELETE", "/audit/webhook"),
    ("GET", "/setup/organization/{organizationId}/sso"),
    ("PUT", "/setup/organization/{organizationId}/sso"),
    ("DELETE", "/setup/organization/{organizationId}/sso"),
    ("GET", "/saml/{organizationId}/metadata"),
    ("GET", "/saml/{organizationId}/login"),
    ("GET", "/saml/login?email={userEmail}"),
    ("POST", "/saml/{organizationId}/acs"),
    ("POST", "/saml/select"),
    ("POST", "/oauth/samlToken?organizationId={organizationId}"),
    ("GET", "/setup/organization/{organizationId}/scim"),
    ("PUT", "/setup/organization/{organizationId}/scim"),
    ("POST", "/setup/organization/{organizationId}/scim/token"),
    ("DELETE", "/setup/organization/{organizationId}/scim/token/{tokenId}"),
    // The SCIM routes are walked with B's SCIM token.
    ("GET", "/scim/v2/ServiceProviderConfig"),
    ("GET", "/scim/v2/Schemas"),
    ("GET", "/scim/v2/ResourceTypes"),
    ("GET", "/scim/v2/Users"),
    ("GET", "/scim/v2/Users?filter=userName%20eq%20%22a-member%40example.com%22"),
    ("POST", "/scim/v2/Users"),
    ("GET", "/scim/v2/Users/{userId}"),
    ("PUT", "/scim/v2/Users/{userId}"),
    ("PATCH", "/scim/v2/Users/{userId}"),
    ("DELETE", "/scim/v2/Users/{userId}"),
    ("GET", "/scim/v2/Groups"),
    ("POST", "/scim/v2/Groups"),
    ("GET", "/scim/v2/Groups/{userGroupId}"),
    ("PUT", "/scim/v2/Groups/{userGroupId}"),
    ("PATCH", "/scim/v2/Groups/{userGroupId}"),
    ("DELETE", "/scim/v2/Groups/{userGroupId}"),
    ("POST", "/scim/v2/Bulk"),
];

/// Public by design: the SP metadata names the organization it is for, to anyone.
const PUBLIC: &[&str] = &["/saml/{organizationId}/metadata"];

const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SCIM_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SCIM_PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/auth/tokens") => Some(json!({"name": "intruder"})),
        ("PUT", "/audit/webhook") => Some(json!({"url": "https://hooks.example.com/intruder"})),
        ("POST", "/billing/plan/activate") => {
            Some(json!({"billingContact": {"name": "Intruder", "email": "i@evil.example"},
            "paymentMethod": {"type": "invoice"}}))
        }
        ("POST", "/notificationCenter/policy") => Some(json!({"name": "Pwned", "privacyLevel": "public",
            "computePolicyConfig": {"events": [{"event": "GROUP_UPDATED", "type": "INFO"}], "shouldIncludeAllResources": true}})),
        ("PUT", "/notificationCenter/policy/{policyId}") => Some(json!({"policy": {"name": "Pwned"}})),
        ("POST", "/events/subscription") => Some(json!({"subscription": {"resourceId": "sig-12345678",
            "protocol": "email", "endpoint": "pwned@evil.example", "eventType": "GROUP_UPDATED"}})),
        ("PUT", "/events/subscription/{subscriptionId}") => {
            Some(json!({"subscription": {"endpoint": "pwned@evil.example"}}))
        }
        ("PUT", "/events/notification/accountPolicy") => {
            Some(json!({"accountPolicy": {"emailPolicy": {"statements": [{"category": "Pwned"}]}}}))
        }
        ("PUT", "/setup/account/{accountId}/notifications") => {
            Some(json!({"emailRecipients": ["intruder@evil.example"], "disabledEvents": ["user.added"]}))
        }
        // Well-formed bodies, so that only the account check can refuse them.
        ("POST", p) if p.starts_with("/azure/setup/") => Some(json!({
            "clientId": "0f3c1b2a-1111-4222-8333-444455556666", "clientSecret": "s3cret-value",
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "subscriptionId": "a1b2c3d4-0000-4000-8000-00000000abcd",
            "expirationDate": "2099-01-01T00:00:00Z"})),
        ("PUT", "/setup/organization/{organizationId}") => Some(json!({"organization": {"name": "Pwned"}})),
        ("PUT", "/setup/organization/{organizationId}/security") => Some(json!({"requireMfa": true})),
        ("PUT", "/setup/organization/{organizationId}/sso") => {
            Some(json!({"enforce": false, "allowIdpInitiated": true}))
        }
        ("POST", "/setup/organization/{organizationId}/children") => {
            Some(json!({"organization": {"name": "Pwned"}, "billing": "shared"}))
        }
        ("PUT", "/setup/organization/{organizationId}/children/{childOrganizationId}") => {
            Some(json!({"billing": "separate"}))
        }
        // B invites A's organization into B's own family: A must accept, so nothing changes.
        ("POST", "/setup/organization/{organizationId}/invitations") => {
            Some(json!({"childOrganizationId": "{organizationId}"}))
        }
        ("PUT", "/setup/organization/{organizationId}/scim") => Some(json!({"roleAttribute": "userType"})),
        ("POST", "/setup/organization/{organizationId}/scim/token") => Some(json!({"description": "Pwned"})),
        ("POST", "/scim/v2/Users") => Some(
            json!({"schemas": [SCIM_USER], "userName": "intruder@evil.example", "name": {"givenName": "Intruder"}}),
        ),
        ("PUT", "/scim/v2/Users/{userId}") => {
            Some(json!({"schemas": [SCIM_USER], "userName": "a-member@example.com", "name": {"givenName": "Pwned"}}))
        }
        ("PATCH", "/scim/v2/Users/{userId}") => Some(json!({"schemas": [SCIM_PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        ("POST", "/scim/v2/Groups") => {
            Some(json!({"schemas": [SCIM_GROUP], "displayName": "Pwned", "members": [{"value": "{userId}"}]}))
        }
        ("PUT", "/scim/v2/Groups/{userGroupId}") => {
            Some(json!({"schemas": [SCIM_GROUP], "displayName": "Pwned", "members": [{"value": "{userId}"}]}))
        }
        ("PATCH", "/scim/v2/Groups/{userGroupId}") => Some(json!({"schemas": [SCIM_PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "{userId}"}]}]})),
        ("POST", "/scim/v2/Bulk") => Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "DELETE", "path": "/Users/{userId}"},
            {"method": "PATCH", "path": "/Groups/{userGroupId}", "data": {"schemas": [SCIM_PATCH],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Pwned"}]}},
            {"method": "PUT", "path": "/Users/{userId}", "data":
                {"schemas": [SCIM_USER], "userName": "a-member@example.com", "name": {"givenName": "Pwned"}}},
            {"method": "POST", "bulkId": "g", "path": "/Groups", "data":
                {"schemas": [SCIM_GROUP], "displayName": "Pwned", "members": [{"value": "{userId}"}]}},
        ]})),
        ("POST", "/setup/organization") => Some(json!({"organization": {"name": "Intruder Org"}})),
        ("POST", "/setup/account") => Some(json!({"account": {"name": "Intruder"}})),
        ("PUT", "/setup/account/{accountId}") => {
            Some(json!({"account": {"name": "Pwned", "slackNotificationChannels": ["https://evil.example/x"]}}))
        }
        _ => None,
    }
}

/// Everything of A's that A's admin can see.
async fn snapshot(app: &TestApp, a: &Tenant, a_scim: &str) -> Value {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request");
        v
    };
    json!({
        "org": strip(app.get(&format!("/setup/organization/{}", a.org_id), &a.token).await.json),
        "accounts": strip(app.get("/setup/account", &a.token).await.json),
        "users": strip(app.get("/setup/organization/user", &a.token).await.json),
        "policies": strip(app.get("/setup/organization/policy", &a.token).await.json),
        "groups": strip(app.get("/setup/access/userGroup", &a.token).await.json),
        "mappings": strip(app.get(&format!("/setup/accountUserMapping?userEmail={}", a.email), &a.token).await.json),
        "audit": strip(app.get("/audit/events?fromDate=0&toDate=99999999999999&responseStatus=all&limit=1000", &a.token).await.json),
        "webhook": strip(app.get("/audit/webhook", &a.token).await.json),
        "notifications": strip(app.get(&format!("/setup/account/{}/notifications", a.account_id), &a.token).await.json),
        "inbox": strip(app.get("/notifications", &a.token).await.json),
        "plan": strip(app.get("/billing/plan", &a.token).await.json),
        "children": strip(app.get(&format!("/setup/organization/{}/children", a.org_id), &a.token).await.json),
        "invitations": strip(app.get(&format!("/setup/organization/{}/invitations", a.org_id), &a.token).await.json),
        "bill": strip(app.get("/billing/bills", &a.token).await.json),
        "ncPolicies": strip(app.get("/notificationCenter/policy", &a.token).await.json),
        "subscriptions": strip(app.get("/events/subscription", &a.token).await.json),
        "accountPolicy": strip(app.get("/events/notification/accountPolicy", &a.token).await.json),
        "scim": app.get(&format!("/setup/organization/{}/scim", a.org_id), &a.token).await.items().iter().map(|s| {
            let mut s = s.clone();
            for t in s["tokens"].as_array_mut().unwrap() {
                t.as_object_mut().unwrap().remove("lastUsedAt");
            }
            s
        }).collect::<Vec<_>>(),
        "scimUsers": app.call("GET", "/scim/v2/Users", Some(a_scim), None).await.json,
        "scimGroups": app.call("GET", "/scim/v2/Groups", Some(a_scim), None).await.json,
        "tokens": app.get("/setup/organization/token", &a.token).await.items().iter().map(|t| {
            let mut t = t.clone();
            t.as_object_mut().unwrap().remove("lastUsedAt");
            t
        }).collect::<Vec<_>>(),
    })
}

both_backends!(a_foreign_token_can_neither_see_nor_change_anything, |app| {
    let a = app.signup("tenant-a@example.com").await;
    let b = app.signup("tenant-b@example.com").await;
    let extra = app.post("/setup/account", &a.token, json!({"account": {"name": "A's second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_token_id =
        app.post("/auth/tokens", &a.token, json!({"name": "a's token"})).await.item()["tokenId"].as_i64().unwrap();
    let a_user = app
        .post(
            "/setup/user",
            &a.token,
            json!({"firstName": "A", "lastName": "Member", "email": "a-member@example.com", "role": "viewer"}),
        )
        .await
        .item()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let a_policy = app
        .post(
            "/setup/access/policy",
            &a.token,
            json!({"policy": {"name": "A policy", "policyContent": {"statements": [{"effect": "ALLOW", "actions": ["setup:describe*"], "resources": ["*"]}]}}}),
        )
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_group = app
        .post("/setup/access/userGroup", &a.token, json!({"name": "A group", "userIds": [a_user]}))
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.put("/audit/webhook", &a.token, json!({"url": "https://hooks.example.com/a"})).await.assert_ok();
    let a_nc_policy = app
        .post(
            "/notificationCenter/policy",
            &a.token,
            json!({"name": "A alerts", "privacyLevel": "public",
                "computePolicyConfig": {"events": [{"event": "GROUP_UPDATED", "type": "INFO"}], "shouldIncludeAllResources": true}}),
        )
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_subscription = app
        .post(
            "/events/subscription",
            &a.token,
            json!({"subscription": {"resourceId": "sig-12345678", "protocol": "email", "endpoint": "a@example.com", "eventType": "GROUP_UPDATED"}}),
        )
        .await
        .item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Creating the user gave A's admin an unread notification.
    let a_notification = app.get("/notifications", &a.token).await.item()["id"].as_i64().unwrap();
    let a_child = app
        .post(
            &format!("/setup/organization/{}/children", a.org_id),
            &a.token,
            json!({"organization": {"name": "A kid"}}),
        )
        .await
        .item()["organizationId"]
        .to_string();
    let c = app.signup("tenant-c@example.com").await;
    let a_invitation = app
        .post(
            &format!("/setup/organization/{}/invitations", a.org_id),
            &a.token,
            json!({"childOrganizationId": c.org_id}),
        )
        .await
        .item()["invitationId"]
        .as_str()
        .unwrap()
        .to_string();
    let scim_token = |t: &Tenant| {
        let path = format!("/setup/organization/{}/scim/token", t.org_id);
        let token = t.token.clone();
        let app = &app;
        async move { app.post(&path, &token, json!({})).await.item()["token"].as_str().unwrap().to_string() }
    };
    let a_scim = scim_token(&a).await;
    let b_scim = scim_token(&b).await;
    // A provisions a person of its own through SCIM, so there is SCIM state to protect.
    app.call("POST", "/scim/v2/Users", Some(&a_scim), Some(json!({"schemas": [SCIM_USER],
        "userName": "a-scim@example.com", "externalId": "a-ext-1", "name": {"givenName": "Scim", "familyName": "Person"}})))
        .await;
    let before = snapshot(&app, &a, &a_scim).await;

    for (method, template) in ROUTES {
        if PUBLIC.contains(template) {
            let path = template.replace("{organizationId}", &a.org_id);
            let res = app.call(method, &path, Some(&b.token), None).await;
            assert_ne!(res.status.as_u16(), 500, "{method} {path}");
            continue;
        }
        for account in [&a.account_id, &extra] {
            let fill = |s: &str| {
                s.replace("/notificationCenter/policy/{policyId}", &format!("/notificationCenter/policy/{a_nc_policy}"))
                    .replace("{subscriptionId}", &a_subscription)
                    .replace("{organizationId}", &a.org_id)
                    .replace("{childOrganizationId}", &a_child)
                    .replace("{invitationId}", &a_invitation)
                    .replace("{accountId}", account)
                    .replace("{tokenId}", &a_token_id.to_string())
                    .replace("{userId}", &a_user)
                    .replace("{userEmail}", "a-member@example.com")
                    .replace("{policyId}", &a_policy)
                    .replace("{userGroupId}", &a_group)
                    .replace("{notificationId}", &a_notification.to_string())
            };
            let path = fill(template);
            // B's token names A's ids in the path and in every body field that takes an id.
            let body =
                body_for(method, template).map(|b| serde_json::from_str::<Value>(&fill(&b.to_string())).unwrap());
            let scim = template.starts_with("/scim/");
            let res = app.call(method, &path, Some(if scim { &b_scim } else { &b.token }), body).await;
            let text = res.json.to_string();
            // `request.url` echoes what B sent; only the `response` half could leak (SCIM
            // answers have no envelope: all of it).
            let answer = if res.json.is_string() || scim { text.clone() } else { res.json["response"].to_string() };
            for secret in [&a.org_id, &a.account_id, &extra, &a_user, &a_policy, &a_group, &a_child, &a_invitation] {
                assert!(!answer.contains(secret.as_str()), "{method} {path} leaked {secret}: {text}");
            }
            if *template == "/scim/v2/Bulk" {
                // Each operation names A's ids and fails on its own.
                let statuses: Vec<_> =
                    res.json["Operations"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
                assert_eq!(res.status.as_u16(), 200, "{text}");
                assert!(statuses.iter().all(|s| s == "404" || s == "400"), "{text}");
            } else if template.contains('{')
                || body_for(method, template).is_some_and(|b| b.to_string().contains("\"{"))
            {
                assert!(
                    matches!(res.status.as_u16(), 400 | 403 | 404),
                    "{method} {path} with B's token answered {}: {text}",
                    res.status
                );
                assert!(!text.contains("Pwned"));
            } else {
                assert_ne!(res.status.as_u16(), 500, "{method} {path}: {text}");
            }
        }
    }
    assert_eq!(snapshot(&app, &a, &a_scim).await, before, "A's data changed");
    // B's own world is intact and B still cannot see A's accounts.
    let b_accounts = app.get("/setup/account", &b.token).await;
    assert!(b_accounts.items().iter().all(|acc| acc["organizationId"] == b.org_id.as_str()));
});
