-- Who an account's notifications go to, and which events are off. Slack channels are the
-- account's `slack_channels`. No row: the defaults (admins, plus for account events everyone
-- attached to the account; every event on).
CREATE TABLE notification_settings (
    account_id        TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    organization_id   BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email_recipients  TEXT,
    disabled_events   TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
