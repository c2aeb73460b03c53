//! The audit trail's rules: which requests are recorded and under what name, what an event
//! holds, what of a request it may keep (never a secret), how events chain by hash per
//! organization, how a chain is verified, and how webhook deliveries are signed.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The chain of events that match no organization (a sign-in with an unknown email).
pub const PLATFORM_CHAIN: i64 = 0;

/// The `prev_hash` of the first event of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What kind of thing a recorded request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The permission-style name, `setup:createAccount`.
    pub action: &'static str,
    /// Spot's human `actionType`, "Create account".
    pub action_type: &'static str,
    /// Spot's `namespace`.
    pub namespace: &'static str,
    pub resource_type: &'static str,
    /// Recorded even when the caller is unknown (sign-in and password-reset attempts).
    pub anonymous: bool,
}

const fn kind(action: &'static str, action_type: &'static str, resource_type: &'static str) -> Kind {
    Kind { action, action_type, namespace: "GENERAL", resource_type, anonymous: false }
}

const fn scim(action: &'static str, action_type: &'static str, resource_type: &'static str) -> Kind {
    Kind { action, action_type, namespace: "SCIM", resource_type, anonymous: false }
}

const fn auth(action: &'static str, action_type: &'static str, anonymous: bool) -> Kind {
    Kind { action, action_type, namespace: "AUTH", resource_type: "user", anonymous }
}

/// The kind of a request, by method and route template; `None` for requests that change
/// nothing (reads, and the POSTs that only compute an answer).
pub fn kind_for(method: &str, route: &str) -> Option<Kind> {
    let k = match (method, route) {
        ("POST", "/auth/register") => Kind { resource_type: "organization", ..auth("auth:register", "Sign up", true) },
        ("POST", "/oauth/token") => auth("auth:signIn", "Sign in", true),
        ("POST", "/saml/{organizationId}/acs") => auth("auth:samlSignIn", "Sign in with SSO", true),
        ("POST", "/saml/select") => auth("auth:samlSelectOrganization", "Sign in with SSO: choose organization", true),
        ("POST", "/oauth/samlToken") => auth("auth:samlToken", "Exchange a SAML assertion for a token", true),
        ("PUT", "/setup/organization/{organizationId}/sso") => {
            kind("setup:createSsoMetaData", "Configure single sign-on", "organization")
        }
        ("DELETE", "/setup/organization/{organizationId}/sso") => {
            kind("setup:createSsoMetaData", "Turn single sign-on off", "organization")
        }
        ("POST", "/auth/tokens") => kind("setup:createUserToken", "Create API token", "token"),
        ("DELETE", "/auth/tokens/{tokenId}") => kind("setup:deletePersonalToken", "Delete API token", "token"),
        ("POST", "/auth/mfa/totp") => auth("auth:enrolMfa", "Start MFA enrolment", false),
        ("POST", "/auth/mfa/totp/confirm") => auth("auth:confirmMfa", "Enable MFA", false),
        ("DELETE", "/auth/mfa/totp") => auth("auth:disableMfa", "Disable MFA", false),
        ("POST", "/auth/mfa/webauthn/register/confirm") => auth("auth:addSecurityKey", "Add security key", false),
        ("DELETE", "/auth/mfa/webauthn/{keyId}") => auth("auth:removeSecurityKey", "Remove security key", false),
        ("POST", "/auth/mfa/webauthn/challenge") => {
            auth("auth:signInChallenge", "Sign in: security key challenge", true)
        }
        ("POST", "/auth/password") => auth("auth:changePassword", "Change password", false),
        ("POST", "/auth/password/reset") => auth("auth:requestPasswordReset", "Request password reset", true),
        ("POST", "/auth/password/reset/confirm") => auth("auth:resetPassword", "Reset password", true),
        ("POST", "/setup/organization") => kind("setup:createOrganization", "Create organization", "organization"),
        ("PUT", "/setup/organization/{organizationId}") => {
            kind("setup:updateOrganization", "Update organization", "organization")
        }
        ("DELETE", "/setup/organization/{organizationId}") => {
            kind("setup:deleteOrganization", "Delete organization", "organization")
        }
        ("PUT", "/setup/organization/{organizationId}/security") => {
            kind("setup:updateOrganization", "Update security settings", "organization")
        }
        ("PUT", "/setup/organization/{organizationId}/scim") => {
            kind("setup:manageScim", "Update SCIM settings", "organization")
        }
        ("POST", "/setup/organization/{organizationId}/scim/token") => {
            kind("setup:manageScim", "Create SCIM token", "scimToken")
        }
        ("DELETE", "/setup/organization/{organizationId}/scim/token/{tokenId}") => {
            kind("setup:manageScim", "Delete SCIM token", "scimToken")
        }
        ("POST", "/scim/v2/Users") => scim("scim:createUser", "SCIM: create user", "user"),
        ("PUT", "/scim/v2/Users/{userId}") => scim("scim:replaceUser", "SCIM: replace user", "user"),
        ("PATCH", "/scim/v2/Users/{userId}") => scim("scim:patchUser", "SCIM: update user", "user"),
        ("DELETE", "/scim/v2/Users/{userId}") => scim("scim:deleteUser", "SCIM: delete user", "user"),
        ("POST", "/scim/v2/Groups") => scim("scim:createGroup", "SCIM: create group", "userGroup"),
        ("PUT", "/scim/v2/Groups/{userGroupId}") => scim("scim:replaceGroup", "SCIM: replace group", "userGroup"),
        ("PATCH", "/scim/v2/Groups/{userGroupId}") => scim("scim:patchGroup", "SCIM: update group", "userGroup"),
        ("DELETE", "/scim/v2/Groups/{userGroupId}") => scim("scim:deleteGroup", "SCIM: delete group", "userGroup"),
        ("POST", "/scim/v2/Bulk") => scim("scim:bulk", "SCIM: bulk request", "user"),
        ("POST", "/setup/organization/{organizationId}/children") => {
            kind("setup:createChildOrganization", "Create child organization", "organization")
        }
        ("PUT", "/setup/organization/{organizationId}/children/{childOrganizationId}") => {
            kind("setup:linkOrganization", "Change a child organization's billing", "organization")
        }
        ("DELETE", "/setup/organization/{organizationId}/children/{childOrganizationId}") => {
            kind("setup:unlinkOrganization", "Unlink child organization", "organization")
        }
        ("POST", "/setup/organization/{organizationId}/invitations") => {
            kind("setup:linkOrganization", "Invite an organization to become a child", "organizationInvitation")
        }
        ("POST", "/setup/organization/{organizationId}/invitations/{invitationId}/accept") => {
            kind("setup:linkOrganization", "Accept an invitation to become a child", "organizationInvitation")
        }
        ("DELETE", "/setup/organization/{organizationId}/invitations/{invitationId}") => {
            kind("setup:linkOrganization", "Withdraw or decline an invitation", "organizationInvitation")
        }
        ("DELETE", "/setup/organization/token/{tokenId}") => {
            kind("setup:deletePersonalToken", "Delete a member's API token", "token")
        }
        ("POST", "/notifications/{notificationId}/read" | "/notifications/read") => {
            kind("notifications:markRead", "Mark notifications read", "notification")
        }
        ("POST", "/notificationCenter/policy") => {
            kind("notificationCenter:createPolicy", "Create notification policy", "notificationPolicy")
        }
        ("PUT", "/notificationCenter/policy/{policyId}") => {
            kind("notificationCenter:updatePolicy", "Update notification policy", "notificationPolicy")
        }
        ("DELETE", "/notificationCenter/policy/{policyId}") => {
            kind("notificationCenter:deletePolicy", "Delete notification policy", "notificationPolicy")
        }
        ("POST", "/events/subscription") => {
            kind("events:createSubscription", "Create event subscription", "subscription")
        }
        ("PUT", "/events/subscription/{subscriptionId}") => {
            kind("events:updateSubscription", "Update event subscription", "subscription")
        }
        ("DELETE", "/events/subscription/{subscriptionId}") => {
            kind("events:deleteSubscription", "Delete event subscription", "subscription")
        }
        ("PUT", "/events/notification/accountPolicy") => {
            kind("events:updateAccountPolicy", "Update account notification policy", "account")
        }
        ("POST", "/billing/usage") => kind("billing:ingestUsage", "Ingest usage", "organization"),
        ("POST", "/billing/plan/activate") => kind("billing:activatePlan", "Activate organization", "organization"),
        ("PUT", "/audit/webhook") => kind("setup:updateOrganization", "Set audit webhook", "organization"),
        ("DELETE", "/audit/webhook") => kind("setup:updateOrganization", "Remove audit webhook", "organization"),
        ("POST", "/setup/account") => kind("setup:createAccount", "Create account", "account"),
        ("PUT", "/setup/account/{accountId}") => kind("setup:updateAccount", "Update account", "account"),
        ("DELETE", "/setup/account/{accountId}") => kind("setup:deleteAccount", "Delete account", "account"),
        ("PUT", "/setup/account/{accountId}/notifications") => {
            kind("setup:updateAccount", "Update notification settings", "account")
        }
        ("POST", "/setup/account/{accountId}/notifications/test") => {
            kind("setup:updateAccount", "Send test notification", "account")
        }
        ("POST", "/setup/account/{accountId}/user") => {
            kind("setup:attachAccountUser", "Add users to account", "account")
        }
        ("PUT", "/setup/account/{accountId}/user") => {
            kind("setup:updateAccountUser", "Change users' account roles", "account")
        }
        ("DELETE", "/setup/account/{accountId}/user") => {
            kind("setup:detachAccountUser", "Remove users from account", "account")
        }
        ("POST", "/setup/accountUserMapping") => kind("setup:attachAccountUser", "Add users to account", "account"),
        ("POST", "/setup/credentials/aws/externalId") => {
            kind("setup:setAccountCredentials", "Create AWS external id", "account")
        }
        ("POST", "/setup/credentials/aws") => kind("setup:setAccountCredentials", "Set AWS credentials", "account"),
        ("POST", "/azure/setup/credentials") => kind("setup:setAccountCredentials", "Set Azure credentials", "account"),
        ("POST", "/azure/setup/tenant/credentials") => {
            kind("setup:setAccountCredentials", "Set Azure tenant credentials", "account")
        }
        ("POST", "/gcp/setup/credentials") => kind("setup:setAccountCredentials", "Set GCP credentials", "account"),
        ("POST", "/setup/user") => kind("setup:createUser", "Create user", "user"),
        ("POST", "/setup/user/programmatic") => {
            kind("setup:createProgrammaticUser", "Create programmatic user", "user")
        }
        ("DELETE", "/setup/user/{userId}") => kind("setup:deleteUser", "Delete user", "user"),
        ("DELETE", "/setup/user/{userId}/mfa") => kind("setup:updateUser", "Reset user MFA", "user"),
        ("PUT", "/setup/user/{userId}/userGroupMapping") => kind("setup:updateUser", "Change user's groups", "user"),
        ("PUT", "/setup/user/{userId}/policyMapping" | "/setup/user/{userId}/PolicyMapping") => {
            kind("setup:updateUser", "Change user's policies", "user")
        }
        ("POST", "/setup/access/policy") => kind("setup:createPolicy", "Create policy", "policy"),
        ("PUT", "/setup/access/policy/{policyId}") => kind("setup:updatePolicy", "Update policy", "policy"),
        ("DELETE", "/setup/access/policy/{policyId}") => kind("setup:deletePolicy", "Delete policy", "policy"),
        ("POST", "/setup/access/userGroup") => kind("setup:createUserGroup", "Create user group", "userGroup"),
        ("PUT", "/setup/access/userGroup/{userGroupId}") => {
            kind("setup:updateUserGroup", "Update user group", "userGroup")
        }
        ("DELETE", "/setup/access/userGroup/{userGroupId}") => {
            kind("setup:deleteUserGroup", "Delete user group", "userGroup")
        }
        ("PUT", "/setup/access/userGroup/{userGroupId}/userMapping") => {
            kind("setup:updateUserGroup", "Change group members", "userGroup")
        }
        (
            "PUT",
            "/setup/access/userGroup/{userGroupId}/policyMapping"
            | "/setup/access/userGroup/{userGroupId}/PolicyMapping",
        ) => kind("setup:updateUserGroup", "Change group policies", "userGroup"),
        _ => return None,
    };
    Some(k)
}

/// One recorded event, as stored and hashed (the chain fields `prev_hash` and `hash` aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub organization_id: i64,
    pub seq: i64,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub token_id: Option<i64>,
    pub action: String,
    pub action_type: String,
    pub namespace: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// `api`, `cli`, …
    pub source: String,
    pub ip: Option<String>,
    pub agent: Option<String>,
    /// Spot's `context`: a JSON string of `{body, url, query}`, secrets redacted.
    pub context: String,
    pub response_status: i64,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Event {
    /// This event's link: SHA-256 over the previous link and the event's fields in a fixed
    /// order (serde writes struct fields in declaration order).
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut h = Sha256::new();
        h.update(prev_hash.as_bytes());
        h.update(b"\n");
        h.update(serde_json::to_vec(self).expect("events serialise"));
        hex::encode(h.finalize())
    }
}

/// The placeholder that replaces a secret in a recorded request.
pub const REDACTED: &str = "[REDACTED]";

/// Whether a request field name may carry a secret: passwords, tokens, codes, keys.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["password", "secret", "token", "code", "privatekey", "private_key", "apikey", "credential"]
        .iter()
        .any(|s| lower.contains(s))
}

/// Replaces every value under a secret-looking key, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub organization_id: i64,
    pub seq: i64,
    pub event_id: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "organization {} event #{}", self.organization_id, self.seq)?;
        if let Some(id) = &self.event_id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Walks one organization's chain in `seq` order and reports the first broken link.
#[derive(Debug)]
pub struct ChainVerifier {
    organization_id: i64,
    next_seq: i64,
    prev_hash: String,
}

impl ChainVerifier {
    pub fn new(organization_id: i64) -> Self {
        ChainVerifier { organization_id, next_seq: 1, prev_hash: GENESIS.to_string() }
    }

    fn broken(&self, seq: i64, event_id: Option<&str>, reason: impl Into<String>) -> Broken {
        Broken {
            organization_id: self.organization_id,
            seq,
            event_id: event_id.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// Checks the next stored event with its stored links.
    pub fn push(&mut self, event: &Event, prev_hash: &str, hash: &str) -> Result<(), Broken> {
        let id = Some(event.id.as_str());
        if event.organization_id != self.organization_id {
            return Err(self.broken(event.seq, id, "the event belongs to another organization"));
        }
        if event.seq != self.next_seq {
            let reason = format!("expected event #{} next, found #{} (events are missing)", self.next_seq, event.seq);
            return Err(self.broken(self.next_seq, id, reason));
        }
        if prev_hash != self.prev_hash {
            return Err(self.broken(event.seq, id, "its link to the previous event does not match"));
        }
        if event.chain_hash(prev_hash) != hash {
            return Err(self.broken(event.seq, id, "its content does not match its hash (the row was altered)"));
        }
        self.next_seq += 1;
        self.prev_hash = hash.to_string();
        Ok(())
    }

    /// Checks the chain's recorded end against what was walked; returns the number of events.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, Broken> {
        let walked = self.next_seq - 1;
        if head_seq != walked {
            let reason =
                format!("the chain should end at event #{head_seq} but ends at #{walked} (events are missing)");
            return Err(self.broken(walked + 1, None, reason));
        }
        if head_hash != self.prev_hash {
            return Err(self.broken(walked, None, "the last event's hash does not match the chain's recorded end"));
        }
        Ok(walked)
    }
}

/// The signature header value of a webhook delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256>`
/// over `"<t>.<body>"`, so a receiver can reject both forged and replayed deliveries.
pub fn webhook_signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    format!("t={timestamp_secs},v1={}", hex::encode(webhook_mac(secret, timestamp_secs, body)))
}

fn webhook_mac(secret: &str, timestamp_secs: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// What a receiver does: checks a signature header against the body (constant-time).
pub fn verify_webhook_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (timestamp, signature) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: i64) -> Event {
        Event {
            id: format!("ae-{seq}"),
            organization_id: 606079874372,
            seq,
            account_id: None,
            user_id: Some("u-1".into()),
            user_email: Some("a@example.com".into()),
            token_id: None,
            action: "setup:createAccount".into(),
            action_type: "Create account".into(),
            namespace: "GENERAL".into(),
            resource_type: Some("account".into()),
            resource_id: Some("act-12345678".into()),
            source: "api".into(),
            ip: Some("127.0.0.1".into()),
            agent: None,
            context: "{}".into(),
            response_status: 200,
            created_at: 1_700_000_000_000 + seq,
        }
    }

    fn chain(n: i64) -> Vec<(Event, String, String)> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = event(seq);
                let hash = e.chain_hash(&prev);
                let link = (e, prev.clone(), hash.clone());
                prev = hash;
                link
            })
            .collect()
    }

    fn verify(links: &[(Event, String, String)], head: (i64, &str)) -> Result<i64, Broken> {
        let mut v = ChainVerifier::new(606079874372);
        for (e, prev, hash) in links {
            v.push(e, prev, hash)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let links = chain(5);
        let head = links.last().unwrap().2.clone();
        assert_eq!(verify(&links, (5, &head)), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn an_altered_field_is_the_first_broken_link() {
        let mut links = chain(5);
        let head = links.last().unwrap().2.clone();
        links[2].0.user_email = Some("someone-else@example.com".into());
        let broken = verify(&links, (5, &head)).unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("altered"), "{broken}");
    }

    #[test]
    fn a_deleted_or_cut_event_is_detected() {
        let mut links = chain(5);
        let head = links.last().unwrap().2.clone();
        links.remove(1);
        assert_eq!(verify(&links, (5, &head)).unwrap_err().seq, 2);
        let links = chain(5);
        assert_eq!(verify(&links[..4], (5, &head)).unwrap_err().seq, 5);
    }

    #[test]
    fn a_rehashed_row_breaks_the_next_link() {
        let mut links = chain(4);
        let head = links.last().unwrap().2.clone();
        links[1].0.action = "setup:deleteAccount".into();
        links[1].2 = links[1].0.chain_hash(&links[1].1);
        assert_eq!(verify(&links, (4, &head)).unwrap_err().seq, 3);
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut body = json!({
            "username": "a@example.com", "password": "hunter2",
            "user": {"newPassword": "x", "name": "A"},
            "items": [{"client_secret": "s", "accountId": "act-1"}],
            "mfa_code": "123456", "refresh_token": "opr_x"
        });
        redact(&mut body);
        assert_eq!(
            body,
            json!({
                "username": "a@example.com", "password": REDACTED,
                "user": {"newPassword": REDACTED, "name": "A"},
                "items": [{"client_secret": REDACTED, "accountId": "act-1"}],
                "mfa_code": REDACTED, "refresh_token": REDACTED
            })
        );
    }

    #[test]
    fn webhook_signatures_verify_and_reject_tampering() {
        let sig = webhook_signature("whsec", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert!(verify_webhook_signature("whsec", &sig, b"{\"a\":1}"));
        assert!(!verify_webhook_signature("whsec", &sig, b"{\"a\":2}"));
        assert!(!verify_webhook_signature("other", &sig, b"{\"a\":1}"));
        assert!(!verify_webhook_signature("whsec", "garbage", b"{\"a\":1}"));
    }

    #[test]
    fn reads_are_not_recorded() {
        assert!(kind_for("GET", "/setup/account").is_none());
        assert!(kind_for("POST", "/setup/access/explain").is_none());
        assert_eq!(kind_for("POST", "/setup/account").unwrap().action, "setup:createAccount");
        assert!(kind_for("POST", "/oauth/token").unwrap().anonymous);
    }
}
