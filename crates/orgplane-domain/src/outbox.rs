//! The durable outbox: messages to deliver (email now; Slack and webhooks use the same rows),
//! retried with exponential back-off until delivered or given up ("dead", for operators to see).

use serde::{Deserialize, Serialize};

/// After this many failed attempts a message is dead.
pub const MAX_ATTEMPTS: i64 = 8;
const FIRST_RETRY_MS: i64 = 5_000;
const LONGEST_RETRY_MS: i64 = 60 * 60 * 1000;

/// How long to wait after the `attempts`-th failure, or `None` when the message is now dead.
/// 5 s, 10 s, 20 s, … capped at an hour.
pub fn retry_delay_ms(attempts: i64) -> Option<i64> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Some((FIRST_RETRY_MS.saturating_mul(1 << exponent)).min(LONGEST_RETRY_MS))
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    /// An HTTP POST of an audit event to an organization's webhook, HMAC-signed.
    Webhook,
    /// A Slack incoming-webhook message.
    Slack,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            "slack" => Some(Channel::Slack),
            _ => None,
        }
    }
}

/// A plain-text email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Sent,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
            "sent" => Some(Status::Sent),
            "dead" => Some(Status::Dead),
            _ => None,
        }
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub channel: Channel,
    /// The channel's payload as JSON (an `Email` for email).
    pub payload: String,
    pub status: Status,
    pub attempts: i64,
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_then_gives_up() {
        assert_eq!(retry_delay_ms(1), Some(5_000));
        assert_eq!(retry_delay_ms(2), Some(10_000));
        assert_eq!(retry_delay_ms(3), Some(20_000));
        assert_eq!(retry_delay_ms(7), Some(320_000));
        assert_eq!(retry_delay_ms(MAX_ATTEMPTS), None);
        assert_eq!(retry_delay_ms(100), None);
    }
}
