//! Azure and GCP connections (C5–C9) against local identity providers that check the client
//! secret and the JWT signature as Microsoft's and Google's do.

use orgplane_server::ServerConfig;
use orgplane_testkit::identity::{AzureTenant, GcpKey, IdentityProviders};
use orgplane_testkit::{TestApp, both_backends};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0f3c1b2a-1111-4222-8333-444455556666";
const SECRET: &str = "Zx8Q~client-secret-value-0123456789";
const SUBSCRIPTION: &str = "a1b2c3d4-0000-4000-8000-00000000abcd";

async fn app_with_providers(backend: orgplane_testkit::Backend) -> Option<(TestApp, IdentityProviders)> {
    let idp = IdentityProviders::start().await;
    let config = ServerConfig {
        azure: orgplane_cloud::AzureConfig { authority: idp.url.clone(), management_endpoint: idp.url.clone() },
        gcp: orgplane_cloud::GcpConfig { token_hosts: vec![idp.host()] },
        ..Default::default()
    };
    Some((TestApp::spawn_with(backend, config).await?, idp))
}

fn tenant() -> AzureTenant {
    AzureTenant {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        client_secret: SECRET.into(),
        subscriptions: vec![SUBSCRIPTION.into()],
    }
}

fn azure_body() -> Value {
    json!({"clientId": CLIENT, "clientSecret": SECRET, "tenantId": TENANT, "subscriptionId": SUBSCRIPTION})
}

fn service_account(idp: &IdentityProviders, key: &GcpKey) -> Value {
    json!({"serviceAccount": {
        "type": "service_account", "project_id": "orgplane-test-123", "private_key_id": "5f0e6a2b9c",
        "private_key": key.private_pem, "client_email": key.client_email, "client_id": "104729381734918237",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": format!("{}/token", idp.url),
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/x"
    }})
}

both_backends!(an_azure_principal_is_proven_then_saved_with_its_secret_sealed, |app| {
    let Some((app, idp)) = app_with_providers(app.backend).await else { return };
    idp.with_azure(tenant());
    let t = app.signup("azure@example.com").await;
    let q = format!("?accountId={}", t.account_id);
    let mut body = azure_body();
    body["expirationDate"] = json!("2099-01-01T00:00:00.000Z");
    app.post(&format!("/azure/setup/credentials{q}"), &t.token, body).await.assert_ok();
    let account = app.get(&format!("/setup/account/{}", t.account_id), &t.token).await;
    assert_eq!(account.item()["cloudProvider"], "AZURE");
    assert_eq!(account.item()["providerExternalId"], SUBSCRIPTION);
    let got = app.get(&format!("/azure/setup/credentials{q}"), &t.token).await;
    assert_eq!(got.json["response"]["kind"], "spotinst:azure:credentials");
    assert_eq!(got.item()["clientId"], CLIENT);
    assert_eq!(got.item()["clientSecret"], "Zx8****");
    assert_eq!(got.item()["expirationDate"], "2099-01-01T00:00:00.000Z");
    assert!(!got.json.to_string().contains(SECRET));
    // The default account is used when accountId is absent (the Python SDK sends none).
    app.post("/azure/setup/credentials/validation", &t.token, azure_body()).await.assert_ok();
});

both_backends!(azure_refusals_name_their_cause_and_save_nothing, |app| {
    let Some((app, idp)) = app_with_providers(app.backend).await else { return };
    idp.with_azure(tenant());
    let t = app.signup("azure-bad@example.com").await;
    let path = format!("/azure/setup/credentials?accountId={}", t.account_id);
    let with = |key: &str, value: Value| {
        let mut b = azure_body();
        b[key] = value;
        b
    };
    let cases = [
        (with("clientSecret", json!("wrong-secret")), "AZURE_INVALID_CLIENT_SECRET", "body.clientSecret"),
        (with("clientId", json!("0f3c1b2a-9999-4222-8333-444455556666")), "AZURE_APP_NOT_FOUND", "body.clientId"),
        (with("tenantId", json!("00000000-0000-4000-8000-000000000000")), "AZURE_TENANT_NOT_FOUND", "body.tenantId"),
        (
            with("subscriptionId", json!("ffffffff-0000-4000-8000-00000000abcd")),
            "AZURE_SUBSCRIPTION_NOT_ACCESSIBLE",
            "body.subscriptionId",
        ),
        (with("tenantId", json!("not-a-guid")), "ValidationError", "body.tenantId"),
        (with("subscriptionId", json!("12345")), "ValidationError", "body.subscriptionId"),
        (with("clientSecret", json!("")), "ValidationError", "body.clientSecret"),
        (with("expirationDate", json!("2001-01-01T00:00:00Z")), "AZURE_CLIENT_SECRET_EXPIRED", "body.expirationDate"),
        (with("expirationDate", json!("next week")), "ValidationError", "body.expirationDate"),
    ];
    for (body, code, field) in cases {
        app.post(&path, &t.token, body.clone()).await.assert_error(400, code, Some(field));
        app.post("/azure/setup/credentials/validation", &t.token, body).await.assert_error(400, code, Some(field));
    }
    app.get(&path, &t.token).await.assert_error(404, "Credentials_DOESNT_EXIST", Some("query.accountId"));
    assert!(app.get(&format!("/setup/account/{}", t.account_id), &t.token).await.item().get("cloudProvider").is_none());
    // Tenant credentials need an expiry.
    let tenant_body = json!({"clientId": CLIENT, "clientSecret": SECRET, "tenantId": TENANT});
    app.post("/azure/setup/tenant/credentials", &t.token, tenant_body.clone()).await.assert_error(
        400,
        "ValidationError",
        Some("body.expirationDate"),
    );
    let mut dated = tenant_body;
    dated["expirationDate"] = json!("2099-06-30T00:00:00Z");
    app.post("/azure/setup/tenant/credentials/validation", &t.token, dated.clone()).await.assert_ok();
    app.post("/azure/setup/tenant/credentials", &t.token, dated).await.assert_ok();
});

both_backends!(the_secret_is_encrypted_at_rest, |app| {
    let Some((app, idp)) = app_with_providers(app.backend).await else { return };
    let key = GcpKey::generate("orgplane@orgplane-test-123.iam.gserviceaccount.com");
    idp.with_azure(tenant()).with_gcp(key.clone());
    let t = app.signup("sealed@example.com").await;
    app.post("/azure/setup/credentials", &t.token, azure_body()).await.assert_ok();
    app.post("/gcp/setup/credentials", &t.token, service_account(&idp, &key)).await.assert_ok();
    // Read the rows as someone with the database would: no secret in the clear.
    let dump = app
        .db
        .raw_texts(
            "SELECT secret_enc FROM azure_credentials UNION ALL SELECT secret_hint FROM azure_credentials \
             UNION ALL SELECT private_key_enc FROM gcp_credentials UNION ALL SELECT public_part FROM gcp_credentials",
        )
        .await
        .join("\n");
    assert_eq!(dump.lines().count(), 4);
    assert!(!dump.contains(SECRET));
    assert!(!dump.contains("BEGIN PRIVATE KEY"));
    let pem_body: String = key.private_pem.lines().nth(1).unwrap().to_string();
    assert!(!dump.contains(&pem_body));
});

both_backends!(a_gcp_key_is_proven_by_a_signed_jwt, |app| {
    let Some((app, idp)) = app_with_providers(app.backend).await else { return };
    let key = GcpKey::generate("orgplane@orgplane-test-123.iam.gserviceaccount.com");
    idp.with_gcp(key.clone());
    let t = app.signup("gcp@example.com").await;
    let q = format!("?accountId={}", t.account_id);
    app.post(&format!("/gcp/setup/credentials/validation{q}"), &t.token, service_account(&idp, &key)).await.assert_ok();
    app.post(&format!("/gcp/setup/credentials{q}"), &t.token, service_account(&idp, &key)).await.assert_ok();
    assert_eq!(idp.gcp_exchanges(), 2, "each proof is a real token exchange");
    let account = app.get(&format!("/setup/account/{}", t.account_id), &t.token).await;
    assert_eq!(account.item()["cloudProvider"], "GCP");
    assert_eq!(account.item()["providerExternalId"], "orgplane-test-123");
    let got = app.get(&format!("/gcp/setup/credentials{q}"), &t.token).await;
    assert_eq!(got.item()["client_email"], key.client_email.as_str());
    assert_eq!(got.item()["project_id"], "orgplane-test-123");
    assert!(got.item().get("private_key").is_none());
    assert!(!got.json.to_string().contains("PRIVATE KEY"));
});

both_backends!(gcp_refusals_name_their_cause, |app| {
    let Some((app, idp)) = app_with_providers(app.backend).await else { return };
    let key = GcpKey::generate("orgplane@orgplane-test-123.iam.gserviceaccount.com");
    idp.with_gcp(key.clone());
    let t = app.signup("gcp-bad@example.com").await;
    let good = service_account(&idp, &key);
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b["serviceAccount"][k] = v;
        b
    };
    let other = GcpKey::generate("intruder@example.com");
    let broken_pem = key.private_pem.replace("MII", "XXX");
    let cases = [
        (with("private_key", json!(other.private_pem)), "GCP_TOKEN_REFUSED", "body.serviceAccount.private_key"),
        (with("private_key", json!(broken_pem)), "GCP_INVALID_PRIVATE_KEY", "body.serviceAccount.private_key"),
        (with("private_key", json!("not a key")), "ValidationError", "body.serviceAccount.private_key"),
        (
            with("token_uri", json!("https://evil.example.com/token")),
            "GCP_TOKEN_URI_NOT_ALLOWED",
            "body.serviceAccount.token_uri",
        ),
        (
            with("token_uri", json!("http://169.254.169.254/computeMetadata/v1/")),
            "GCP_TOKEN_URI_NOT_ALLOWED",
            "body.serviceAccount.token_uri",
        ),
        (with("type", json!("authorized_user")), "ValidationError", "body.serviceAccount.type"),
        (with("client_email", json!("nobody")), "ValidationError", "body.serviceAccount.client_email"),
        (with("project_id", json!("Bad Project!")), "ValidationError", "body.serviceAccount.project_id"),
    ];
    for (body, code, field) in cases {
        app.post("/gcp/setup/credentials", &t.token, body).await.assert_error(400, code, Some(field));
    }
    app.post("/gcp/setup/credentials", &t.token, json!({"serviceAccount": {"type": "service_account"}}))
        .await
        .assert_error(400, "ValidationError", Some("body.serviceAccount.project_id"));
    app.get("/gcp/setup/credentials", &t.token).await.assert_error(
        404,
        "ServiceAccount_DOESNT_EXIST",
        Some("query.accountId"),
    );
    assert_eq!(idp.gcp_exchanges(), 0);
});

both_backends!(an_unreachable_provider_is_named, |app| {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = ServerConfig {
        azure: orgplane_cloud::AzureConfig {
            authority: format!("http://{closed}"),
            management_endpoint: format!("http://{closed}"),
        },
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(app.backend, config).await else { return };
    let t = app.signup("down@example.com").await;
    app.post("/azure/setup/credentials", &t.token, azure_body()).await.assert_error(
        400,
        "CLOUD_PROVIDER_UNREACHABLE",
        None,
    );
});
