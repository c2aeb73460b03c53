-- The audit trail. Events form one hash chain per organization (organization_id 0 holds
-- sign-in attempts that match no organization): `seq` counts from 1 with no gaps, and
-- `hash` = SHA-256 over the previous event's hash and this event's fields, so editing,
-- deleting or reordering a row breaks the chain (`orgplane audit verify`). No foreign key to
-- organizations: the trail outlives what it records.
CREATE TABLE audit_events (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL,
    seq              BIGINT NOT NULL,
    account_id       TEXT,
    user_id          TEXT,
    user_email       TEXT,
    token_id         BIGINT,
    action           TEXT NOT NULL,
    action_type      TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    resource_type    TEXT,
    resource_id      TEXT,
    source           TEXT NOT NULL,
    ip               TEXT,
    agent            TEXT,
    context          TEXT NOT NULL,
    response_status  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    UNIQUE (organization_id, seq)
);
CREATE INDEX audit_events_time ON audit_events(organization_id, created_at);

-- The end of each chain. Appending updates this row first, which serializes appends per
-- organization on PostgreSQL (row lock) as SQLite's single writer does; it also lets verify
-- notice events cut from the end.
CREATE TABLE audit_heads (
    organization_id  BIGINT PRIMARY KEY,
    seq              BIGINT NOT NULL,
    hash             TEXT NOT NULL
);

-- Where an organization's events are also delivered, HMAC-signed. The secret is encrypted
-- with the master key.
CREATE TABLE audit_webhooks (
    organization_id  BIGINT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
