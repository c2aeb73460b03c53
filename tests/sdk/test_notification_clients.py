"""The SDK's notification_center and subscription clients, unchanged, against orgplane."""
import pytest
from spotinst_sdk2 import SpotinstSession
from spotinst_sdk2.client import SpotinstClientException
from spotinst_sdk2.models.notification_center import notification_center as nc
from spotinst_sdk2.models.subscription import Subscription

from test_admin_client import admin, error_of


def client(server, name, account_id):
    session = SpotinstSession(auth_token=server.token, base_url=server.base_url, account_id=account_id)
    return session.client(name, print_output=False)


def test_notification_center_policies(server):
    account = admin(server).create_account("Notified")["id"]
    center = client(server, "notification_center", account)
    config = nc.ComputePolicyConfig(events=[nc.Events(event="GROUP_ROLL_FAILED", type="ERROR")],
                                    shouldIncludeAllResources=True)
    policy = nc.Policy(name="Rolls", description="roll failures", privacyLevel="public", isActive=True,
                       subscriptions=[nc.Subscriptions(type="email", endpoint="ops@example.com")],
                       registeredUsers=[nc.RegisteredUsers(userEmail="sdk-admin@example.com", subscriptionTypes=["email"])],
                       computePolicyConfig=[config])
    created = center.create_notification_policy(policy)
    policy_id = created["id"]
    assert policy_id.startswith("snp-") and created["privacy_level"] == "public"
    listed = center.get_all_notification_policies()
    mine = [p for p in listed if p["policy_id"] == policy_id][0]
    assert mine["is_registered"] is True and mine["account_id"] == account
    center.update_notification_policy(policy_id, nc.Policy(name="Rolls, renamed"))
    fetched = center.get_specific_notification_policy(policy_id)
    assert fetched["name"] == "Rolls, renamed" and fetched["description"] == "roll failures"
    assert any(e["event"] == "GROUP_ROLL_FAILED" for e in center.get_aggregated_events())
    assert center.get_account_resources() == []
    center.delete_notification_policy(policy_id)
    with pytest.raises(SpotinstClientException) as exc:
        center.get_specific_notification_policy(policy_id)
    assert error_of(exc)[1]["code"] == "NOTIFICATION_POLICY_DOESNT_EXIST"
    bad = nc.Policy(name="No config", privacyLevel="public")
    with pytest.raises(SpotinstClientException) as exc:
        center.create_notification_policy(bad)
    assert error_of(exc)[1]["field"] == "body.computePolicyConfig"


def test_event_subscriptions(server):
    account = admin(server).create_account("Subscribed")["id"]
    subs = client(server, "subscription", account)
    created = subs.create_event_subscription(Subscription(
        resource_id="sig-12345678", protocol="email", endpoint="ops@example.com", event_type="GROUP_UPDATED"))
    sid = created["id"]
    assert sid.startswith("sis-") and created["event_type"] == "GROUP_UPDATED"
    updated = subs.update_event_subscription(sid, Subscription(endpoint="oncall@example.com"))
    assert updated["affected_rows"] == 1
    assert subs.get_event_subscription(sid)["endpoint"] == "oncall@example.com"
    assert [s["id"] for s in subs.get_all_event_subscription()] == [sid]
    subs.delete_event_subscription(sid)
    assert subs.get_all_event_subscription() == []
    with pytest.raises(SpotinstClientException) as exc:
        subs.create_event_subscription(Subscription(resource_id="sig-12345678", protocol="fax",
                                                    endpoint="ops@example.com", event_type="GROUP_UPDATED"))
    assert error_of(exc)[1]["field"] == "body.subscription.protocol"
