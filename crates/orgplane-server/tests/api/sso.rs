//! SAML single sign-on, end to end through the router, with assertions signed by
//! orgplane-saml's test fixtures (xmlsec, RSA-SHA256).

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use orgplane_domain::access::AccountRole;
use orgplane_domain::iam::AccountPermission;
use orgplane_domain::ids::{GroupId, OrgId, UserId};
use orgplane_saml::chrono::{Duration, Utc};
use orgplane_saml::testing::{KeyPair, Spec, idp_metadata};
use orgplane_testkit::{Tenant, TestApp, TestResponse, both_backends};
use serde_json::{Value, json};
use std::io::Read as _;
use std::sync::OnceLock;

const BASE: &str = "http://localhost:8080";

/// An IdP: its key pair and entity id.
struct Idp {
    keys: KeyPair,
    entity: String,
}

fn idp(n: usize) -> &'static Idp {
    static IDPS: OnceLock<Vec<Idp>> = OnceLock::new();
    &IDPS.get_or_init(|| {
        (0..2)
            .map(|i| Idp {
                keys: KeyPair::generate(&format!("idp{i}.example.com"), 2048),
                entity: format!("https://idp{i}.example.com/metadata"),
            })
            .collect()
    })[n]
}

impl Idp {
    fn metadata(&self) -> String {
        idp_metadata(&self.entity, "https://idp.example.com/sso", &self.keys.cert_b64())
    }

    /// A signed Response for `org`'s ACS.
    fn response(&self, org: &str, email: &str, extra: &[(&str, &[&str])], in_response_to: Option<&str>) -> String {
        let acs = format!("{BASE}/saml/{org}/acs");
        let mut attributes = vec![
            ("Email".to_string(), vec![email.to_string()]),
            ("FirstName".to_string(), vec!["Sam".to_string()]),
            ("LastName".to_string(), vec!["Ell".to_string()]),
        ];
        for (k, vs) in extra {
            attributes.push((k.to_string(), vs.iter().map(|v| v.to_string()).collect()));
        }
        let now = Utc::now();
        let spec = Spec {
            response_id: format!("_r{}", uuid_ish()),
            assertion_id: format!("_a{}", uuid_ish()),
            response_issuer: Some(self.entity.clone()),
            assertion_issuer: self.entity.clone(),
            destination: Some(acs.clone()),
            response_in_response_to: in_response_to.map(str::to_string),
            scd_in_response_to: in_response_to.map(str::to_string),
            recipient: acs,
            audience: format!("{BASE}/saml/{org}/metadata"),
            name_id: email.to_string(),
            attributes,
            issue_instant: now - Duration::seconds(2),
            not_before: now - Duration::seconds(2),
            not_on_or_after: now + Duration::minutes(5),
            ..Spec::sp_initiated()
        };
        spec.signed_by(&self.keys)
    }
}

fn uuid_ish() -> String {
    format!("{:032x}", rand::random::<u128>())
}

async fn configure(app: &TestApp, t: &Tenant, idp: &Idp, extra: Value) {
    let mut body = json!({"metadata": idp.metadata()});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.put(&format!("/setup/organization/{}/sso", t.org_id), &t.token, body).await.assert_ok();
}

async fn post_acs(app: &TestApp, org: &str, xml: &str, relay: Option<&str>) -> TestResponse {
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLResponse", &b64);
    if let Some(r) = relay {
        form.append_pair("RelayState", r);
    }
    let req = Request::builder()
        .method("POST")
        .uri(format!("/saml/{org}/acs"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap();
    app.send(req).await
}

/// GET a login URL; returns the AuthnRequest id from the redirect.
async fn start_login(app: &TestApp, path: &str) -> String {
    let res = app.call("GET", path, None, None).await;
    assert_eq!(res.status.as_u16(), 302, "{}", res.json);
    let location = res.headers["location"].to_str().unwrap();
    assert!(location.starts_with("https://idp.example.com/sso?"), "{location}");
    let url = url::Url::parse(location).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let raw = base64::engine::general_purpose::STANDARD.decode(&q["SAMLRequest"]).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&raw[..]).read_to_string(&mut xml).unwrap();
    let id = xml.split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(q.contains_key("RelayState"));
    id
}

fn token_of(res: &TestResponse) -> String {
    res.assert_ok();
    assert_eq!(res.item()["status"], "SIGNED_IN", "{}", res.json);
    res.item()["accessToken"].as_str().unwrap().to_string()
}

async fn permissions(app: &TestApp, org: &str, user: &str) -> Vec<(String, AccountPermission)> {
    app.store()
        .account_permissions_of(OrgId::parse(org).unwrap(), &UserId::parse(user).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|(a, p)| (a.to_string(), p))
        .collect()
}

async fn audit_reasons(app: &TestApp, t: &Tenant) -> Vec<String> {
    let res = app.get("/audit/events?fromDate=0&toDate=99999999999999&responseStatus=all&limit=1000", &t.token).await;
    res.items()
        .iter()
        .filter(|e| e["action"] == "auth:samlSignIn")
        .map(|e| {
            let ctx: Value = serde_json::from_str(e["context"].as_str().unwrap_or("{}")).unwrap_or_default();
            ctx["body"]["reason"].as_str().unwrap_or("ok").to_string()
        })
        .collect()
}

both_backends!(configuration_is_validated_and_admin_only, |app| {
    let a = app.signup("sso-config@example.com").await;
    let path = format!("/setup/organization/{}/sso", a.org_id);
    let res = app.get(&path, &a.token).await;
    res.assert_ok();
    assert_eq!(res.item()["enabled"], false);
    assert_eq!(res.item()["relayState"], a.org_id);
    assert_eq!(res.item()["acsUrl"], format!("{BASE}/saml/{}/acs", a.org_id));
    assert_eq!(res.item()["spEntityId"], format!("{BASE}/saml/{}/metadata", a.org_id));

    let good = idp(0).metadata();
    let start = good.find("<md:KeyDescriptor").unwrap();
    let end = good.find("</md:KeyDescriptor>").unwrap() + "</md:KeyDescriptor>".len();
    let no_cert = format!("{}{}", &good[..start], &good[end..]);
    app.put(&path, &a.token, json!({"metadata": no_cert})).await.assert_error(
        400,
        "SAML_NO_SIGNING_CERTIFICATE",
        Some("body.metadata"),
    );
    app.put(&path, &a.token, json!({"metadata": "<not xml"})).await.assert_error(
        400,
        "SAML_METADATA_MALFORMED",
        Some("body.metadata"),
    );
    let doctype = format!(
        "<!DOCTYPE x [<!ENTITY e \"x\">]>{}",
        good.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
    );
    app.put(&path, &a.token, json!({"metadata": doctype})).await.assert_error(
        400,
        "SAML_DOCTYPE_FORBIDDEN",
        Some("body.metadata"),
    );
    app.put(&path, &a.token, json!({"metadata": good, "defaultRole": "admin"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.defaultRole"),
    );
    app.put(&path, &a.token, json!({"metadata": good, "allowedAccounts": "some"})).await.assert_error(
        400,
        "ValidationError",
        Some("body.allowedAccounts"),
    );
    app.put(&path, &a.token, json!({})).await.assert_error(400, "ValidationError", Some("body.metadata"));
    app.put(
        &path,
        &a.token,
        json!({"entityId": "https://idp.example.com", "ssoUrl": "https://idp.example.com/sso", "certificate": "garbage"}),
    )
    .await
    .assert_error(400, "SAML_INVALID_CERTIFICATE", Some("body.certificate"));
    app.put(&path, &a.token, json!({"entityId": "https://idp.example.com", "ssoUrl": "https://idp.example.com/sso"}))
        .await
        .assert_error(400, "ValidationError", Some("body.certificate"));
    // Still off after all the refusals.
    assert_eq!(app.get(&path, &a.token).await.item()["enabled"], false);

    // Entity id + URL + PEM certificate works; the defaults are viewer / default / IdP-initiated off / enforced.
    let res = app
        .put(
            &path,
            &a.token,
            json!({"entityId": idp(0).entity, "ssoUrl": "https://idp.example.com/sso", "certificate": idp(0).keys.cert_pem(), "enforce": false}),
        )
        .await;
    res.assert_ok();
    let item = res.item();
    assert_eq!(item["enabled"], true);
    assert_eq!(item["defaultRole"], "viewer");
    assert_eq!(item["allowedAccounts"], "default");
    assert_eq!(item["allowIdpInitiated"], false);
    assert_eq!(item["idp"]["entityId"], idp(0).entity);

    // SP metadata is public.
    let res = app.call("GET", &format!("/saml/{}/metadata", a.org_id), None, None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-type"], "application/samlmetadata+xml");
    let xml = res.json.as_str().unwrap();
    assert!(xml.contains(&format!("{BASE}/saml/{}/acs", a.org_id)), "{xml}");

    // A member who is not an admin can neither read nor change it; nor can another organization's admin.
    let member = app.signup("sso-member@example.com").await;
    let member_token = crate::add_member(&app, &a, &member).await;
    app.get(&path, &member_token).await.assert_error(403, "FORBIDDEN", None);
    let b = app.signup("sso-other@example.com").await;
    app.get(&path, &b.token).await.assert_error(404, "ORGANIZATION_DOESNT_EXIST", Some("path.organizationId"));
    app.put(&path, &b.token, json!({"metadata": idp(1).metadata()})).await.assert_error(
        404,
        "ORGANIZATION_DOESNT_EXIST",
        Some("path.organizationId"),
    );
    app.call("DELETE", &path, Some(&b.token), None).await.assert_error(
        404,
        "ORGANIZATION_DOESNT_EXIST",
        Some("path.organizationId"),
    );
    assert_eq!(app.get(&path, &a.token).await.item()["idp"]["entityId"], idp(0).entity);
    // DELETE turns it off.
    app.delete(&path, &a.token).await.assert_ok();
    assert_eq!(app.get(&path, &a.token).await.item()["enabled"], false);
    app.delete(&path, &a.token).await.assert_error(404, "SSO_NOT_CONFIGURED", Some("path.organizationId"));
});

both_backends!(sp_initiated_jit_replay_role_and_enforcement, |app| {
    let a = app.signup("sso-admin@example.com").await;
    let second = app.post("/setup/account", &a.token, json!({"account": {"name": "Second"}})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    configure(&app, &a, idp(0), json!({"defaultRole": "editor", "allowedAccounts": "all"})).await;

    // Unknown email and password users get the same answer.
    for email in ["nobody@example.com", "sso-other-org@example.com"] {
        app.call("GET", &format!("/saml/login?email={email}"), None, None).await.assert_error(
            400,
            "SSO_NOT_CONFIGURED",
            Some("query.email"),
        );
    }
    // The admin's default organization has SSO: the email flow redirects.
    let request_id = start_login(&app, &format!("/saml/login?email={}", a.email)).await;
    let jit = "jit.user@example.com";
    let xml = idp(0).response(&a.org_id, jit, &[], Some(&request_id));
    let res = post_acs(&app, &a.org_id, &xml, Some(&a.org_id)).await;
    let token = token_of(&res);
    assert_eq!(res.item()["provisioned"], true);
    let user = res.item()["userId"].as_str().unwrap().to_string();
    assert_eq!(res.item()["organizationId"], a.org_id);
    // The token works; the JIT user is an Account Editor on every account (editor + all).
    app.get("/setup/account", &token).await.assert_ok();
    let mut perms = permissions(&app, &a.org_id, &user).await;
    perms.sort_by(|x, y| x.0.cmp(&y.0));
    let mut want = vec![
        (a.account_id.clone(), AccountPermission::Role(AccountRole::Editor)),
        (second.clone(), AccountPermission::Role(AccountRole::Editor)),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(perms, want);

    // Replaying the same POST is refused (the request id is consumed and the assertion is known).
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    // A response to an id we never sent is refused.
    let forged = idp(0).response(&a.org_id, jit, &[], Some("_never_sent_0123456789"));
    post_acs(&app, &a.org_id, &forged, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));

    // The next login re-applies Role: VIEWER makes them a viewer on the allowed accounts.
    let request_id = start_login(&app, &format!("/saml/{}/login", a.org_id)).await;
    let xml = idp(0).response(&a.org_id, jit, &[("Role", &["VIEWER"])], Some(&request_id));
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    token_of(&res);
    assert_eq!(res.item()["provisioned"], false);
    assert_eq!(res.item()["userId"], user.as_str());
    assert!(
        permissions(&app, &a.org_id, &user)
            .await
            .iter()
            .all(|(_, p)| *p == AccountPermission::Role(AccountRole::Viewer))
    );
    // NO_ACCESS refuses.
    let request_id = start_login(&app, &format!("/saml/{}/login", a.org_id)).await;
    let xml = idp(0).response(&a.org_id, jit, &[("Role", &["NO_ACCESS"])], Some(&request_id));
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    assert_eq!(res.error().0, "SSO_NO_ACCESS", "{}", res.json);
    // A malformed attribute refuses with its name.
    let request_id = start_login(&app, &format!("/saml/{}/login", a.org_id)).await;
    let xml = idp(0).response(&a.org_id, jit, &[("Role", &["admin"])], Some(&request_id));
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(400, "SAML_ATTRIBUTE_INVALID", Some("assertion.Role"));

    // Every refusal is in the audit trail with its reason.
    let reasons = audit_reasons(&app, &a).await;
    // (An SP-initiated replay is already stopped by its consumed request id.)
    assert_eq!(reasons.iter().filter(|r| *r == "in_response_to_mismatch").count(), 2, "{reasons:?}");
    for want in ["sso_no_access", "saml_attribute_invalid"] {
        assert!(reasons.iter().any(|r| r == want), "{want} not in {reasons:?}");
    }
    assert_eq!(reasons.iter().filter(|r| *r == "ok").count(), 2, "{reasons:?}");

    // Enforcement: password sign-in is refused for everyone, admins included.
    let res = app
        .call(
            "POST",
            "/oauth/token",
            None,
            Some(json!({"grant_type": "password", "username": a.email, "password": orgplane_testkit::PASSWORD})),
        )
        .await;
    res.assert_error(400, "SSO_REQUIRED", Some("body.username"));
    // The SSO-only person cannot create a personal token before setting a password.
    app.post("/auth/tokens", &token, json!({"name": "ci"})).await.assert_error(400, "PASSWORD_REQUIRED", Some("body"));
    // The admin (who has a password) can.
    app.post("/auth/tokens", &a.token, json!({"name": "ci"})).await.assert_ok();
    // With enforcement off, passwords work again.
    app.put(&format!("/setup/organization/{}/sso", a.org_id), &a.token, json!({"enforce": false})).await.assert_ok();
    app.password_token(&a.email, None).await;
});

both_backends!(idp_initiated_only_when_allowed, |app| {
    let a = app.signup("sso-idp-init@example.com").await;
    configure(&app, &a, idp(0), json!({})).await;
    let xml = idp(0).response(&a.org_id, "unsolicited@example.com", &[], None);
    post_acs(&app, &a.org_id, &xml, Some(&a.org_id)).await.assert_error(
        400,
        "SAML_REJECTED",
        Some("body.SAMLResponse"),
    );
    configure(&app, &a, idp(0), json!({"allowIdpInitiated": true})).await;
    let xml = idp(0).response(&a.org_id, "unsolicited@example.com", &[], None);
    let res = post_acs(&app, &a.org_id, &xml, Some(&a.org_id)).await;
    token_of(&res);
    // The same unsolicited response again: the replay cache refuses it.
    post_acs(&app, &a.org_id, &xml, Some(&a.org_id)).await.assert_error(
        400,
        "SAML_REJECTED",
        Some("body.SAMLResponse"),
    );
    assert!(audit_reasons(&app, &a).await.iter().any(|r| r == "replayed"));
    // Default role viewer on the default account only.
    let user = res.item()["userId"].as_str().unwrap().to_string();
    assert_eq!(
        permissions(&app, &a.org_id, &user).await,
        vec![(a.account_id.clone(), AccountPermission::Role(AccountRole::Viewer))]
    );
    // A RelayState naming another organization is refused.
    let xml = idp(0).response(&a.org_id, "unsolicited@example.com", &[], None);
    post_acs(&app, &a.org_id, &xml, Some("606000000001")).await.assert_error(
        400,
        "SAML_REJECTED",
        Some("body.SAMLResponse"),
    );
    // Turned off again: refused.
    configure(&app, &a, idp(0), json!({"allowIdpInitiated": false})).await;
    let xml = idp(0).response(&a.org_id, "unsolicited@example.com", &[], None);
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    // Re-uploading another IdP's metadata switches IdP; the person and their token stay.
    let token = res.item()["accessToken"].as_str().unwrap().to_string();
    configure(&app, &a, idp(1), json!({"allowIdpInitiated": true})).await;
    app.get("/setup/account", &token).await.assert_ok();
    let old = idp(0).response(&a.org_id, "unsolicited@example.com", &[], None);
    post_acs(&app, &a.org_id, &old, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    let new = idp(1).response(&a.org_id, "unsolicited@example.com", &[], None);
    let res = post_acs(&app, &a.org_id, &new, None).await;
    token_of(&res);
    assert_eq!(res.item()["userId"], user.as_str());
});

both_backends!(tenants_are_isolated, |app| {
    let a = app.signup("sso-tenant-a@example.com").await;
    let b = app.signup("sso-tenant-b@example.com").await;
    configure(&app, &a, idp(0), json!({"allowIdpInitiated": true})).await;
    configure(&app, &b, idp(1), json!({"allowIdpInitiated": true})).await;
    // B's IdP signs an assertion for A's ACS: refused (wrong certificate), nothing created in A.
    let xml = idp(1).response(&a.org_id, "intruder@example.com", &[], None);
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    // An assertion made for B's ACS posted to A's: refused (audience/recipient), by A's IdP too.
    let xml = idp(0).response(&b.org_id, "intruder@example.com", &[], None);
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    let a_org = OrgId::parse(&a.org_id).unwrap();
    assert!(app.store().find_org_user_by_email(a_org, "intruder@example.com").await.unwrap().is_none());
    // B's IdP naming A in OrgAndRole / OrgAndUserGroups grants nothing in A: B signs in to B only.
    let a_group = app.post("/setup/access/userGroup", &a.token, json!({"name": "A admins"})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let xml = idp(1).response(
        &b.org_id,
        "multi@example.com",
        &[
            ("OrgAndRole", &[&format!("SPOTINST-{}-ADMIN", a.org_id), &format!("SPOTINST-{}-VIEWER", b.org_id)]),
            ("OrgAndUserGroups", &[&format!("SPOTINST-{}:{a_group}", a.org_id)]),
        ],
        None,
    );
    let res = post_acs(&app, &b.org_id, &xml, None).await;
    token_of(&res);
    assert_eq!(res.item()["organizationId"], b.org_id);
    assert!(app.store().find_org_user_by_email(a_org, "multi@example.com").await.unwrap().is_none());
    // B's IdP naming only A: refused.
    let xml = idp(1).response(
        &b.org_id,
        "multi@example.com",
        &[("OrgAndRole", &[&format!("SPOTINST-{}-ADMIN", a.org_id)])],
        None,
    );
    let res = post_acs(&app, &b.org_id, &xml, None).await;
    assert_eq!(res.error().0, "SSO_NO_ORGANIZATION", "{}", res.json);
    // An assertion exchange for A with B's IdP: refused.
    let xml = idp(1).response(&a.org_id, "intruder@example.com", &[], None);
    let res = app
        .send(
            Request::builder()
                .method("POST")
                .uri(format!("/oauth/samlToken?organizationId={}", a.org_id))
                .body(Body::from(xml))
                .unwrap(),
        )
        .await;
    res.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
});

both_backends!(org_and_role_picker_across_organizations_of_one_idp, |app| {
    let a = app.signup("sso-pick-a@example.com").await;
    let b = app.signup("sso-pick-b@example.com").await;
    configure(&app, &a, idp(0), json!({"allowIdpInitiated": true})).await;
    configure(&app, &b, idp(0), json!({"allowIdpInitiated": true})).await;
    let attrs: &[(&str, &[&str])] =
        &[("OrgAndRole", &[&format!("SPOTINST-{}-VIEWER,SPOTINST-{}-ADMIN", a.org_id, b.org_id)])];
    let xml = idp(0).response(&a.org_id, "picker@example.com", attrs, None);
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    res.assert_ok();
    assert_eq!(res.item()["status"], "CHOOSE_ORGANIZATION");
    assert_eq!(res.item()["choices"].as_array().unwrap().len(), 2);
    let login_id = res.item()["loginId"].as_str().unwrap().to_string();
    app.call("POST", "/saml/select", None, Some(json!({"loginId": login_id, "organizationId": "606000000001"})))
        .await
        .assert_error(400, "ORGANIZATION_NOT_OFFERED", Some("body.organizationId"));
    // The failed attempt used the login up (single use).
    let xml = idp(0).response(&a.org_id, "picker@example.com", attrs, None);
    let login_id = post_acs(&app, &a.org_id, &xml, None).await.item()["loginId"].as_str().unwrap().to_string();
    let res =
        app.call("POST", "/saml/select", None, Some(json!({"loginId": login_id, "organizationId": b.org_id}))).await;
    token_of(&res);
    assert_eq!(res.item()["organizationId"], b.org_id);
    let user = res.item()["userId"].as_str().unwrap().to_string();
    // ADMIN in OrgAndRole = Account Editor in B, not org admin.
    assert_eq!(
        permissions(&app, &b.org_id, &user).await,
        vec![(b.account_id.clone(), AccountPermission::Role(AccountRole::Editor))]
    );
    app.call("POST", "/saml/select", None, Some(json!({"loginId": login_id, "organizationId": b.org_id})))
        .await
        .assert_error(400, "INVALID_LOGIN_ID", Some("body.loginId"));
});

both_backends!(unknown_ids_refuse_and_write_nothing, |app| {
    let a = app.signup("sso-ids@example.com").await;
    configure(&app, &a, idp(0), json!({"allowIdpInitiated": true})).await;
    let group = app.post("/setup/access/userGroup", &a.token, json!({"name": "Ops"})).await.item()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_org = OrgId::parse(&a.org_id).unwrap();
    let xml = idp(0).response(
        &a.org_id,
        "ids@example.com",
        &[("OrgAndUserGroups", &[&format!("SPOTINST-{}:{group},ugr-0badc0de", a.org_id)])],
        None,
    );
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    res.assert_error(404, "GROUP_DOESNT_EXIST", Some("assertion.OrgAndUserGroups[1]"));
    assert!(app.store().find_org_user_by_email(a_org, "ids@example.com").await.unwrap().is_none());
    let xml = idp(0).response(&a.org_id, "ids@example.com", &[("AccAndRole", &["SPOTINST-act-0badc0de-EDITOR"])], None);
    post_acs(&app, &a.org_id, &xml, None).await.assert_error(
        404,
        "Account_DOESNT_EXIST",
        Some("assertion.AccAndRole[0]"),
    );
    let xml = idp(0).response(
        &a.org_id,
        "ids@example.com",
        &[("AccAndPolicyIds", &[&format!("SPOTINST-{}:pol-0badc0de", a.account_id)])],
        None,
    );
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    assert_eq!(res.error().0, "POLICY_DOESNT_EXIST", "{}", res.json);
    assert!(app.store().find_org_user_by_email(a_org, "ids@example.com").await.unwrap().is_none());
    // Known ids are applied: groups and the account role.
    let xml = idp(0).response(
        &a.org_id,
        "ids@example.com",
        &[
            ("OrgAndUserGroups", &[&format!("SPOTINST-{}:{group}", a.org_id)]),
            ("AccAndRole", &[&format!("SPOTINST-{}-EDITOR", a.account_id)]),
            ("Role", &["VIEWER"]),
        ],
        None,
    );
    let res = post_acs(&app, &a.org_id, &xml, None).await;
    token_of(&res);
    let user = UserId::parse(res.item()["userId"].as_str().unwrap()).unwrap();
    assert_eq!(app.store().user_group_ids(a_org, &user).await.unwrap(), vec![GroupId::parse(&group).unwrap()]);
    assert_eq!(
        permissions(&app, &a.org_id, user.as_str()).await,
        vec![(a.account_id.clone(), AccountPermission::Role(AccountRole::Editor))]
    );
});

both_backends!(assertion_exchange_for_a_token, |app| {
    let a = app.signup("sso-exchange@example.com").await;
    configure(&app, &a, idp(0), json!({})).await;
    let xml = idp(0).response(&a.org_id, "cli@example.com", &[], None);
    let send = |body: String, org: String| {
        Request::builder()
            .method("POST")
            .uri(format!("/oauth/samlToken?organizationId={org}"))
            .header("content-type", "application/xml")
            .body(Body::from(body))
            .unwrap()
    };
    let res = app.send(send(xml.clone(), a.org_id.clone())).await;
    let token = token_of(&res);
    app.get("/setup/account", &token).await.assert_ok();
    // Replay refused, also in base64.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
    app.send(send(b64, a.org_id.clone())).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    // Fresh base64 works.
    let xml = idp(0).response(&a.org_id, "cli@example.com", &[], None);
    token_of(&app.send(send(base64::engine::general_purpose::STANDARD.encode(&xml), a.org_id.clone())).await);
    app.send(send("junk".into(), a.org_id.clone())).await.assert_error(400, "SAML_REJECTED", Some("body.SAMLResponse"));
    app.send(send(String::new(), a.org_id.clone())).await.assert_error(400, "ValidationError", Some("body"));
    app.send(send(xml.clone(), "12".into())).await.assert_error(400, "ValidationError", Some("query.organizationId"));
    let b = app.signup("sso-exchange-b@example.com").await;
    app.send(send(xml, b.org_id)).await.assert_error(404, "SSO_NOT_CONFIGURED", Some("query.organizationId"));
});
