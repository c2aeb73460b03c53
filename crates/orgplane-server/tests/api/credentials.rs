//! Connecting accounts to AWS (C1–C4): a real, SigV4-signed `AssumeRole` with the external id,
//! accepted by the moto STS emulator; refused by a local responder speaking AWS's error XML
//! (moto enforces neither trust policies nor external ids).

use orgplane_cloud::AwsConfig;
use orgplane_domain::ids::{AccountId, OrgId};
use orgplane_server::ServerConfig;
use orgplane_testkit::peers::{Moto, RefusingSts};
use orgplane_testkit::{Backend, TestApp};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/Spot-Role";

fn config(endpoint: &str) -> ServerConfig {
    ServerConfig {
        aws: AwsConfig {
            sts_endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: "AKIAORGPLANETEST0001".into(),
            secret_access_key: "orgplane-test-secret".into(),
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assumable_role_connects_the_account() {
    let Some(moto) = Moto::start() else { return };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, config(&moto.url)).await else { continue };
        let t = app.signup("aws@example.com").await;
        let account = app.post("/setup/account", &t.token, json!({"account": {"name": "AWS prod"}})).await.item()["id"]
            .as_str()
            .unwrap()
            .to_string();

        let minted = app
            .call("POST", &format!("/setup/credentials/aws/externalId?accountId={account}"), Some(&t.token), None)
            .await;
        minted.assert_ok();
        assert_eq!(minted.json["response"]["kind"], "spotinst:setup:aws:externalId");
        let external_id = minted.item()["externalId"].as_str().unwrap().to_string();
        assert!(external_id.starts_with("spotinst:aws:extid:") && external_id.len() == 35, "{external_id}");
        assert!(minted.item()["maxValidUntil"].as_str().unwrap().ends_with('Z'));
        let again = app.get(&format!("/setup/credentials/aws/externalId/{account}"), &t.token).await;
        assert_eq!(again.item()["externalId"], external_id.as_str());

        let set = app
            .post(
                &format!("/setup/credentials/aws?accountId={account}"),
                &t.token,
                json!({"credentials": {"iamRole": ROLE}}),
            )
            .await;
        set.assert_ok();
        assert_eq!(set.item()["awsAccountId"], "123456789012");
        let got = app.get(&format!("/setup/credentials/aws?accountId={account}"), &t.token).await;
        got.assert_ok();
        assert_eq!(got.item()["iamRole"], ROLE);
        let stored = app.get(&format!("/setup/account/{account}"), &t.token).await;
        assert_eq!(stored.item()["cloudProvider"], "AWS");
        assert_eq!(stored.item()["providerExternalId"], "123456789012");
        let filtered = app.get("/setup/account?cloudAccountId=123456789012", &t.token).await;
        assert_eq!(filtered.items().len(), 1);
        assert_eq!(filtered.item()["accountId"], account.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_role_is_named_and_nothing_is_saved() {
    let sts = RefusingSts::start().await;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, config(&sts.url)).await else { continue };
        let t = app.signup("aws-refused@example.com").await;
        let minted = app
            .call(
                "POST",
                &format!("/setup/credentials/aws/externalId?accountId={}", t.account_id),
                Some(&t.token),
                None,
            )
            .await;
        let external_id = minted.item()["externalId"].as_str().unwrap().to_string();
        let res = app
            .post(
                &format!("/setup/credentials/aws?accountId={}", t.account_id),
                &t.token,
                json!({"credentials": {"iamRole": ROLE}}),
            )
            .await;
        res.assert_error(400, "AWS_ROLE_NOT_ASSUMABLE", Some("body.credentials.iamRole"));
        assert!(res.error().1.contains("AccessDenied"));
        // The call was a real, signed AssumeRole carrying the account's external id.
        let seen = sts.requests.lock().unwrap().last().cloned().expect("STS was called");
        assert!(seen.authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIAORGPLANETEST0001/"), "{seen:?}");
        assert!(seen.body.contains("Action=AssumeRole"), "{seen:?}");
        assert!(seen.body.contains(&format!("ExternalId={}", external_id.replace(':', "%3A"))), "{seen:?}");
        assert!(seen.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FSpot-Role"), "{seen:?}");
        app.get(&format!("/setup/credentials/aws?accountId={}", t.account_id), &t.token).await.assert_error(
            404,
            "Account_DOESNT_EXIST",
            Some("query.accountId"),
        );
        assert!(
            app.get(&format!("/setup/account/{}", t.account_id), &t.token).await.item().get("cloudProvider").is_none()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_input_is_checked() {
    let sts = RefusingSts::start().await;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, config(&sts.url)).await else { continue };
        let t = app.signup("aws-bad@example.com").await;
        let acc = &t.account_id;
        let body = json!({"credentials": {"iamRole": ROLE}});
        // Spot's verified answer when accountId is missing.
        app.post("/setup/credentials/aws", &t.token, body.clone()).await.assert_error(
            400,
            "ValidationError",
            Some("query.accountId"),
        );
        app.post(&format!("/setup/credentials/aws?accountId={acc}"), &t.token, body.clone()).await.assert_error(
            400,
            "EXTERNAL_ID_MISSING",
            Some("query.accountId"),
        );
        app.call("POST", &format!("/setup/credentials/aws/externalId?accountId={acc}"), Some(&t.token), None)
            .await
            .assert_ok();
        for bad in ["arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/x", "role", ""] {
            app.post(
                &format!("/setup/credentials/aws?accountId={acc}"),
                &t.token,
                json!({"credentials": {"iamRole": bad}}),
            )
            .await
            .assert_error(400, "ValidationError", Some("body.credentials.iamRole"));
        }
        app.post(&format!("/setup/credentials/aws?accountId={acc}"), &t.token, json!({"credentials": {}}))
            .await
            .assert_error(400, "ValidationError", Some("body.credentials.iamRole"));
        app.post(
            &format!("/setup/credentials/aws?accountId={acc}"),
            &t.token,
            json!({"credentials": {"iamRole": ROLE, "externalId": "spotinst:aws:extid:0000000000000000"}}),
        )
        .await
        .assert_error(400, "EXTERNAL_ID_MISMATCH", Some("body.credentials.externalId"));
        app.post("/setup/credentials/aws?accountId=act-00000000", &t.token, body.clone()).await.assert_error(
            404,
            "Account_DOESNT_EXIST",
            Some("query.accountId"),
        );
        // An expired external id.
        let (org, account) = (OrgId::parse(&t.org_id).unwrap(), AccountId::parse(acc).unwrap());
        app.store().put_external_id(org, &account, "spotinst:aws:extid:aaaaaaaaaaaaaaaa", 1).await.unwrap();
        app.post(&format!("/setup/credentials/aws?accountId={acc}"), &t.token, body.clone()).await.assert_error(
            400,
            "EXTERNAL_ID_EXPIRED",
            Some("query.accountId"),
        );
        app.get("/setup/credentials/aws/externalId/act-00000000", &t.token).await.assert_error(
            404,
            "Account_DOESNT_EXIST",
            Some("path.accountId"),
        );
        assert!(sts.requests.lock().unwrap().is_empty(), "no bad request reached STS");
        // A viewer may not connect accounts.
        let viewer = app
            .post(
                "/setup/user?generateToken=true",
                &t.token,
                json!({"firstName": "V", "lastName": "W", "email": "aws-viewer@example.com", "role": "viewer"}),
            )
            .await;
        let viewer = viewer.item()["personalAccessToken"].as_str().unwrap().to_string();
        app.call("POST", &format!("/setup/credentials/aws/externalId?accountId={acc}"), Some(&viewer), None)
            .await
            .assert_error(403, "FORBIDDEN", None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_operator_credentials_the_check_says_so() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        let t = app.signup("aws-unconfigured@example.com").await;
        app.call(
            "POST",
            &format!("/setup/credentials/aws/externalId?accountId={}", t.account_id),
            Some(&t.token),
            None,
        )
        .await
        .assert_ok();
        app.post(
            &format!("/setup/credentials/aws?accountId={}", t.account_id),
            &t.token,
            json!({"credentials": {"iamRole": ROLE}}),
        )
        .await
        .assert_error(400, "AWS_NOT_CONFIGURED", None);
    }
}
