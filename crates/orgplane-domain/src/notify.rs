//! Notifications: which recorded events people are told about, and what the messages say (an
//! email, and a Slack incoming-webhook message with blocks). They are derived from the audit
//! trail, so every change that is recorded can notify, and queued in the same transaction.

use crate::audit::Event;
use crate::timefmt::to_spot;
use serde_json::{Value, json};

/// An event people can be notified of (product.md §7). Sign-in security and plan events join as
/// their features land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    UserAdded,
    UserRemoved,
    TokenCreated,
    TokenDeleted,
    MfaReset,
    CloudConnected,
    CloudConnectionFailed,
    /// A stored cloud secret expires soon (sent once, two weeks ahead).
    CredentialExpiring,
    /// The trial ends in a week (sent once).
    TrialExpiring,
    PlanActivated,
    /// The "send test" action.
    Test,
}

impl Notice {
    pub const ALL: [Notice; 11] = [
        Notice::UserAdded,
        Notice::UserRemoved,
        Notice::TokenCreated,
        Notice::TokenDeleted,
        Notice::MfaReset,
        Notice::CloudConnected,
        Notice::CloudConnectionFailed,
        Notice::CredentialExpiring,
        Notice::TrialExpiring,
        Notice::PlanActivated,
        Notice::Test,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Notice::UserAdded => "user.added",
            Notice::UserRemoved => "user.removed",
            Notice::TokenCreated => "token.created",
            Notice::TokenDeleted => "token.deleted",
            Notice::MfaReset => "mfa.reset",
            Notice::CloudConnected => "cloud.connected",
            Notice::CloudConnectionFailed => "cloud.connectionFailed",
            Notice::CredentialExpiring => "credential.expiring",
            Notice::TrialExpiring => "trial.expiring",
            Notice::PlanActivated => "plan.activated",
            Notice::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.name() == s)
    }

    fn title(self) -> &'static str {
        match self {
            Notice::UserAdded => "User added",
            Notice::UserRemoved => "User removed",
            Notice::TokenCreated => "API token created",
            Notice::TokenDeleted => "API token deleted",
            Notice::MfaReset => "Second factor reset",
            Notice::CloudConnected => "Cloud account connected",
            Notice::CloudConnectionFailed => "Cloud connection failed",
            Notice::CredentialExpiring => "Cloud credential expiring",
            Notice::TrialExpiring => "Trial ending",
            Notice::PlanActivated => "Organization activated",
            Notice::Test => "Test notification",
        }
    }

    /// Whether it concerns one account (else the organization as a whole).
    pub fn is_account_level(self) -> bool {
        matches!(
            self,
            Notice::CloudConnected | Notice::CloudConnectionFailed | Notice::CredentialExpiring | Notice::Test
        )
    }
}

/// An event that no request recorded (a reminder, the "send test" action), to word a notice
/// about: `what` is its description, `by` who asked for it (or orgplane itself).
#[allow(clippy::too_many_arguments)]
pub fn unrecorded_event(
    id: String,
    organization_id: i64,
    account_id: Option<String>,
    resource: (&str, String),
    action: &str,
    what: String,
    by: Option<&str>,
    now: i64,
) -> Event {
    Event {
        id,
        organization_id,
        seq: 0,
        account_id,
        user_id: None,
        user_email: Some(by.unwrap_or("orgplane").to_string()),
        token_id: None,
        action: action.into(),
        action_type: what,
        namespace: "GENERAL".into(),
        resource_type: Some(resource.0.into()),
        resource_id: Some(resource.1),
        source: "orgplane".into(),
        ip: None,
        agent: None,
        context: "{}".into(),
        response_status: 200,
        created_at: now,
    }
}

/// The notice a recorded event gives, if any.
pub fn notice_for(e: &Event) -> Option<Notice> {
    let ok = e.response_status == 200;
    let n = match (e.action.as_str(), e.action_type.as_str()) {
        ("setup:createUser" | "setup:createProgrammaticUser", _) if ok => Notice::UserAdded,
        ("setup:deleteUser", _) if ok => Notice::UserRemoved,
        ("setup:createUserToken", _) if ok => Notice::TokenCreated,
        ("setup:deletePersonalToken", _) if ok => Notice::TokenDeleted,
        ("billing:activatePlan", _) if ok => Notice::PlanActivated,
        ("setup:updateUser", "Reset user MFA") if ok => Notice::MfaReset,
        ("setup:setAccountCredentials", t) if t.starts_with("Set ") => {
            if ok {
                Notice::CloudConnected
            } else {
                Notice::CloudConnectionFailed
            }
        }
        _ => return None,
    };
    Some(n)
}

/// What a notification says, in plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
}

/// The message for `notice` about `e`, in the organization named `org_name`.
pub fn message(notice: Notice, e: &Event, org_name: &str) -> Message {
    let who = e.user_email.as_deref().or(e.user_id.as_deref()).unwrap_or("someone");
    let what = match (&e.resource_type, &e.resource_id) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        _ => "the organization".into(),
    };
    let subject = format!("[orgplane] {}: {}", org_name, notice.title());
    let detail = match notice {
        Notice::Test => "This is a test notification: this channel receives orgplane notifications.".to_string(),
        Notice::CloudConnectionFailed => {
            format!("{} ({what}) failed with HTTP {}.", e.action_type, e.response_status)
        }
        _ => format!("{} ({what}).", e.action_type),
    };
    let mut text = format!("{detail}\nBy: {who}\nWhen: {}\n", to_spot(e.created_at));
    if let Some(account) = &e.account_id {
        text.push_str(&format!("Account: {account}\n"));
    }
    text.push_str(&format!("Audit event: {}\n", e.id));
    Message { subject, text }
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>` are control characters there).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack incoming-webhook body: a plain `text` fallback and blocks.
pub fn slack_payload(m: &Message) -> Value {
    json!({
        "text": slack_escape(&m.subject),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": m.subject.chars().take(150).collect::<String>()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&m.text)}},
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, action_type: &str, status: i64) -> Event {
        Event {
            id: "ae-1".into(),
            organization_id: 606000000001,
            seq: 1,
            account_id: Some("act-12345678".into()),
            user_id: Some("u-1234abcd".into()),
            user_email: Some("ada@example.com".into()),
            token_id: None,
            action: action.into(),
            action_type: action_type.into(),
            namespace: "GENERAL".into(),
            resource_type: Some("account".into()),
            resource_id: Some("act-12345678".into()),
            source: "api".into(),
            ip: None,
            agent: None,
            context: "{}".into(),
            response_status: status,
            created_at: 0,
        }
    }

    #[test]
    fn events_map_to_notices() {
        assert_eq!(notice_for(&event("setup:createUser", "Create user", 200)), Some(Notice::UserAdded));
        assert_eq!(notice_for(&event("setup:createUser", "Create user", 400)), None);
        assert_eq!(
            notice_for(&event("setup:setAccountCredentials", "Set Azure credentials", 400)),
            Some(Notice::CloudConnectionFailed)
        );
        assert_eq!(notice_for(&event("setup:setAccountCredentials", "Create AWS external id", 200)), None);
        assert_eq!(notice_for(&event("setup:updateAccount", "Update account", 200)), None);
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.name()), Some(n));
        }
    }

    #[test]
    fn slack_text_is_escaped() {
        let m = Message { subject: "A <b> & c".into(), text: "<!channel> hi".into() };
        let p = slack_payload(&m);
        assert_eq!(p["blocks"][1]["text"]["text"], "&lt;!channel&gt; hi");
        assert_eq!(p["text"], "A &lt;b&gt; &amp; c");
    }
}
