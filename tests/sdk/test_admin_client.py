"""The real Spot Python SDK (spotinst-sdk2 3.22.0, unchanged) against orgplane.

Every one of AdminClient's 30 methods is called, and each test checks what the server stored
through the plain API. The AWS-credential calls reach a real STS emulator (moto).
"""
import json

import pytest
from spotinst_sdk2 import SpotinstSession
from spotinst_sdk2.client import SpotinstClientException
from spotinst_sdk2.models.admin.organization import AccessPolicy, PolicyContent, PolicyMapping, Statement, UserGroup
from spotinst_sdk2.models.admin.user_mapping import UserMapping

PASSWORD = "Sup3r$ecret"


def admin(server, token=None, account_id=None):
    session = SpotinstSession(auth_token=token or server.token, base_url=server.base_url, account_id=account_id)
    return session.client("admin", print_output=False)


def error_of(exc):
    """The envelope's first error, from the SDK's exception (it carries `response` as JSON)."""
    response = json.loads(exc.value.message.split("\n", 1)[1])
    return response["status"]["code"], (response.get("errors") or [{}])[0]


# ---- organizations and accounts (issue 2) ----

def test_create_and_delete_organization(server):
    client = admin(server)
    created = client.create_organization("Second Org")
    assert isinstance(created["organization_id"], int)
    assert created["organization_name"] == "Second Org"
    org_id = str(created["organization_id"])
    assert org_id in [o["organizationId"] for o in server.items("/setup/organization")]
    assert client.delete_organization(org_id) is True
    assert org_id not in [o["organizationId"] for o in server.items("/setup/organization")]


def test_account_lifecycle(server):
    client = admin(server)
    created = client.create_account("Production")
    account_id = created["id"]
    assert account_id.startswith("act-")
    assert created["organization_id"] == server.org["organizationId"]
    assert isinstance(created["organization_id"], str)

    accounts = client.get_accounts()
    ids = [a["account_id"] for a in accounts]
    assert ids[0] == server.org["accountId"], "the default account comes first"
    assert account_id in ids
    assert all(a["created_at"].endswith("Z") for a in accounts)

    client.update_account(account_id, "Production EU")
    stored = server.items(f"/setup/account/{account_id}")[0]
    assert stored["name"] == "Production EU"
    assert stored["slackNotificationChannels"] == [], "null channels leave them unchanged"

    assert client.delete_account(account_id) is True
    assert account_id not in [a["accountId"] for a in server.items("/setup/account")]


def test_session_account_id_is_accepted_everywhere(server):
    client = admin(server, account_id=server.org["accountId"])
    assert server.org["accountId"] in [a["account_id"] for a in client.get_accounts()]
    created = client.create_account("Via session account")
    assert created["id"] in [a["accountId"] for a in server.items("/setup/account")]
    client.delete_account(created["id"])


def test_failures_raise_with_our_envelope(server):
    client = admin(server)
    with pytest.raises(SpotinstClientException) as exc:
        client.delete_account(server.org["accountId"])
    assert error_of(exc)[1]["code"] == "CANT_DELETE_DEFAULT_ACCOUNT"
    with pytest.raises(SpotinstClientException) as exc:
        client.delete_account("act-00000000")
    status, error = error_of(exc)
    assert (status, error["code"], error["field"]) == (404, "Account_DOESNT_EXIST", "path.accountId")
    with pytest.raises(SpotinstClientException) as exc:
        client.create_account("1234")
    assert error_of(exc)[1] == {"code": "ValidationError", "field": "body.account.name", "message": error_of(exc)[1]["message"]}
    with pytest.raises(SpotinstClientException) as exc:
        admin(server, token="opp_not-a-token").get_accounts()
    status, error = error_of(exc)
    assert status == 401 and error == {}, "401 carries no errors array"
    assert server.org["accountId"] in [a["accountId"] for a in server.items("/setup/account")], "nothing was deleted"


# ---- users and account permissions (issue 3) ----

def test_users_and_account_permissions(server):
    client = admin(server)
    user = client.create_user("Grace", "Hopper", "grace@example.com", PASSWORD, "viewer")
    user_id = user["user_id"]
    assert isinstance(user["id"], int) and isinstance(user["organization_id"], int)
    assert user_id in [u["user_id"] for u in client.get_users()]
    details = client.get_user_details(user_id)
    assert details["email"] == "grace@example.com" and details["type"] == "personal" and details["mfa"] is False
    assert client.get_user("grace@example.com") == [{"account_id": server.org["accountId"], "role": "viewer", "permission_strategy": "ROLE_BASED", "policy_ids": []}]

    second = client.create_account("Second")["id"]
    in_second = admin(server, account_id=second)
    in_second.add_existing_user("grace@example.com", "editor")
    assert {"accountId": second, "role": "editor"}.items() <= server.items("/setup/accountUserMapping?userEmail=grace@example.com")[1].items()
    in_second.update_user_role("grace@example.com", "viewer")
    assert server.items("/setup/accountUserMapping?userEmail=grace@example.com")[1]["role"] == "viewer"
    assert in_second.detach_user("grace@example.com")
    assert [m["accountId"] for m in server.items("/setup/accountUserMapping?userEmail=grace@example.com")] == [server.org["accountId"]]

    client.assign_user_to_account([UserMapping(user_email="grace@example.com", account_id=second, role="editor")])
    assert server.items("/setup/accountUserMapping?userEmail=grace@example.com")[1]["role"] == "editor"

    with pytest.raises(SpotinstClientException) as exc:
        client.create_user("Grace", "Hopper", "grace@example.com", PASSWORD, "viewer")
    assert error_of(exc)[1]["code"] == "USER_ALREADY_EXISTS"
    with pytest.raises(SpotinstClientException) as exc:
        client.create_user("Weak", "Password", "weak@example.com", "password", "viewer")
    assert error_of(exc)[1] == {"code": "WEAK_PASSWORD", "field": "body.password", "message": error_of(exc)[1]["message"]}

    assert client.delete_user(user_id) is True
    assert user_id not in [u["userId"] for u in server.items("/setup/organization/user")]
    client.delete_account(second)


def test_programmatic_user(server):
    client = admin(server)
    pu = client.create_programmatic_user("ci-bot", "CI", accounts=[{"id": server.org["accountId"], "role": "viewer"}])
    assert pu["id"].startswith("pu-") and pu["token"]
    as_bot = admin(server, token=pu["token"])
    assert [a["account_id"] for a in as_bot.get_accounts()] == [server.org["accountId"]]
    with pytest.raises(SpotinstClientException) as exc:
        as_bot.create_account("not allowed")
    assert error_of(exc)[0] == 403
    details = client.get_user_details(pu["id"])
    assert details["type"] == "programmatic" and details["name"] == "ci-bot"
    client.delete_user(pu["id"])
    with pytest.raises(SpotinstClientException):
        as_bot.get_accounts()


# ---- policies and groups (issue 3) ----

def test_access_policies(server):
    client = admin(server)
    assert any(p["id"] == "3" and p["name"] == "Account Viewer" for p in client.get_policies())
    actions = client.get_access_policy_actions(service="setup", category="update")
    assert actions and all(a["service"] == "setup" and a["category"] == "UPDATE" for a in actions)

    statement = Statement(effect="ALLOW", actions=["setup:describe*", "setup:updateAccount"], resources=["*"])
    created = client.create_access_policy(AccessPolicy(name="Updaters", description="d", type="ACCOUNT", policy_content=PolicyContent(statements=[statement])))
    policy_id = created["id"]
    assert policy_id.startswith("pol-") and created["type"] == "ACCOUNT"
    stored = [p for p in server.items("/setup/organization/policy") if p["id"] == policy_id][0]
    assert stored["policyContent"]["statements"][0]["actions"] == ["setup:describe*", "setup:updateAccount"]

    client.update_access_policy(policy_id, AccessPolicy(name="Renamed"))
    assert [p for p in server.items("/setup/organization/policy") if p["id"] == policy_id][0]["name"] == "Renamed"

    with pytest.raises(SpotinstClientException) as exc:
        client.create_access_policy(AccessPolicy(name="Broken", policy_content=PolicyContent(statements=[Statement(effect="ALLOW")])))
    assert error_of(exc)[1]["field"] == "body.policy.policyContent.statements[0].actions", "the SDK sends unset actions as null"

    assert client.delete_access_policy(policy_id) is True
    assert policy_id not in [p["id"] for p in server.items("/setup/organization/policy")]


def test_user_groups_and_mappings(server):
    client = admin(server)
    user_id = client.create_user("Group", "Member", "group-member@example.com", PASSWORD, "viewer")["user_id"]
    group = client.create_user_group(UserGroup(name="Viewers", description="all", user_ids=[user_id],
                                               policies=[PolicyMapping(policy_id="3", account_ids=["*"])]))
    group_id = group["id"]
    assert group_id.startswith("ugr-")
    listed = [g for g in client.get_user_groups() if g["id"] == group_id][0]
    assert listed["users_count"] == 1 and listed["policy_names"] == ["Account Viewer"]
    details = client.get_user_group_details(group_id)
    assert details["users"][0]["user_id"] == user_id

    client.update_user_group_to_user_mapping(group_id, [])
    client.update_user_group_to_policy_mapping(group_id, [{"policyId": "3", "accountIds": [server.org["accountId"]]}])
    stored = server.items(f"/setup/access/userGroup/{group_id}")[0]
    assert stored["userIds"] == [] and stored["policies"][0]["accountIds"] == [server.org["accountId"]]

    client.update_user_to_user_group_mapping(user_id, [group_id])
    client.update_user_to_policy_mapping(user_id, [{"policyId": "3", "accountIds": ["*"]}])
    user = server.items(f"/setup/user/{user_id}")[0]
    assert user["userGroupIds"] == [group_id]
    assert user["policies"] == [{"policyId": "3", "policyName": "Account Viewer", "policyType": "SPOT_MANAGED_ACCOUNT", "accountIds": ["*"]}]

    with pytest.raises(SpotinstClientException) as exc:
        client.update_user_to_policy_mapping(user_id, [{"policyId": "pol-00000000", "accountIds": ["*"]}])
    assert error_of(exc)[1]["code"] == "POLICY_DOESNT_EXIST"

    assert client.delete_user_group(group_id) is True
    assert group_id not in [g["id"] for g in server.items("/setup/access/userGroup")]
    client.delete_user(user_id)


# ---- AWS credentials (AdminClient's deprecated pair, and the setup_aws client) ----

ROLE = "arn:aws:iam::123456789012:role/Spot-Role"


def test_aws_credentials_through_admin_client(server):
    account = admin(server).create_account("AWS via admin")["id"]
    client = admin(server, account_id=account)
    minted = client.create_aws_external_id()
    assert minted["external_id"].startswith("spotinst:aws:extid:") and minted["max_valid_until"].endswith("Z")
    status = client.set_cloud_credentials(ROLE, minted["external_id"])
    assert status["code"] == 200
    stored = server.items(f"/setup/account/{account}")[0]
    assert stored["cloudProvider"] == "AWS" and stored["providerExternalId"] == "123456789012"
    with pytest.raises(SpotinstClientException) as exc:
        client.set_cloud_credentials(ROLE, "spotinst:aws:extid:0000000000000000")
    assert error_of(exc)[1]["code"] == "EXTERNAL_ID_MISMATCH"


def test_aws_credentials_through_setup_aws(server):
    account = admin(server).create_account("AWS via setup_aws")["id"]
    session = SpotinstSession(auth_token=server.token, base_url=server.base_url, account_id=account)
    aws = session.client("setup_aws", print_output=False)
    minted = aws.create_external_id()
    assert minted["external_id"] == server.items(f"/setup/credentials/aws/externalId/{account}")[0]["externalId"]
    aws.set_credentials(ROLE)
    assert server.items(f"/setup/credentials/aws?accountId={account}")[0]["iamRole"] == ROLE
    with pytest.raises(SpotinstClientException) as exc:
        aws.set_credentials("arn:aws:iam::123:role/too-short-account")
    assert error_of(exc)[1]["field"] == "body.credentials.iamRole"


# ---- Azure and GCP credentials (the setup_azure and setup_gcp clients, unchanged) ----

def test_azure_credentials_through_setup_azure(server, idp):
    from spotinst_sdk2.models.setup.azure import AzureCredentials
    import identity
    account = admin(server).create_account("Azure via setup_azure")["id"]
    session = SpotinstSession(auth_token=server.token, base_url=server.base_url, account_id=account)
    azure = session.client("setup_azure", print_output=False)
    good = AzureCredentials(client_id=identity.CLIENT, client_secret=identity.SECRET,
                            tenant_id=identity.TENANT, subscription_id=identity.SUBSCRIPTION)
    assert azure.validate_credentials(good)["code"] == 200
    assert azure.set_credentials(good)["code"] == 200
    stored = server.items(f"/azure/setup/credentials?accountId={account}")[0]
    assert stored["subscriptionId"] == identity.SUBSCRIPTION and stored["clientSecret"] == identity.SECRET[:3] + "****"
    assert server.items(f"/setup/account/{account}")[0]["cloudProvider"] == "AZURE"
    bad = AzureCredentials(client_id=identity.CLIENT, client_secret="wrong", tenant_id=identity.TENANT,
                           subscription_id=identity.SUBSCRIPTION)
    with pytest.raises(SpotinstClientException) as exc:
        azure.set_credentials(bad)
    assert error_of(exc)[1]["code"] == "AZURE_INVALID_CLIENT_SECRET"


def test_gcp_credentials_through_setup_gcp(server, idp):
    from spotinst_sdk2.models.setup.gcp import GcpCredentials, ServiceAccount
    import identity
    account = admin(server).create_account("GCP via setup_gcp")["id"]
    session = SpotinstSession(auth_token=server.token, base_url=server.base_url, account_id=account)
    gcp = session.client("setup_gcp", print_output=False)

    def key(token_uri):
        return GcpCredentials(serviceAccount=ServiceAccount(
            type="service_account", project_id="orgplane-sdk-123", private_key_id="0a1b2c3d",
            private_key=idp.private_pem, client_email=identity.CLIENT_EMAIL, client_id="104729381734918237",
            auth_uri="https://accounts.google.com/o/oauth2/auth", token_uri=token_uri,
            auth_provider_x509_cert_url="https://www.googleapis.com/oauth2/v1/certs",
            client_x509_cert_url="https://www.googleapis.com/robot/v1/metadata/x509/orgplane"))

    before = idp.gcp_exchanges
    assert gcp.validate_credentials(key(idp.url + "/token"))["code"] == 200
    assert gcp.set_credentials(key(idp.url + "/token"))["code"] == 200
    assert idp.gcp_exchanges == before + 2
    stored = server.items(f"/gcp/setup/credentials?accountId={account}")[0]
    assert stored["client_email"] == identity.CLIENT_EMAIL and "private_key" not in stored
    assert server.items(f"/setup/account/{account}")[0]["providerExternalId"] == "orgplane-sdk-123"
    with pytest.raises(SpotinstClientException) as exc:
        gcp.set_credentials(key("https://metadata.google.internal/token"))
    assert error_of(exc)[1]["code"] == "GCP_TOKEN_URI_NOT_ALLOWED"
