-- Spot's notification-center policies (snp-…), event subscriptions (sis-…) and account
-- notification policies, as checked JSON documents (Spot's field names) with their owner.
CREATE TABLE notification_documents (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    owner_user_id    TEXT,
    owner_email      TEXT,
    document         TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX notification_documents_org ON notification_documents(organization_id, kind, created_at);
