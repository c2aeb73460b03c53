-- Organizations, accounts, people, memberships, account permissions and tokens.
-- Portable subset (stack.md §2): ids TEXT, times BIGINT unix ms, flags SMALLINT 0/1, JSON TEXT.

CREATE TABLE organizations (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    division    TEXT,
    plan        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- People (kind 'personal', u-…, one global identity keyed by lower-cased email) and
-- programmatic users (kind 'programmatic', pu-…, no email, member of exactly one organization).
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    email          TEXT,
    email_key      TEXT UNIQUE,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    description    TEXT,
    password_hash  TEXT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE memberships (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    organization_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    is_default            SMALLINT NOT NULL,
    cloud_provider        TEXT,
    provider_external_id  TEXT,
    slack_channels        TEXT NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_one_default ON accounts(organization_id) WHERE is_default = 1;
CREATE INDEX accounts_org ON accounts(organization_id, created_at);

CREATE TABLE account_permissions (
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX account_permissions_user ON account_permissions(user_id, organization_id);

CREATE TABLE tokens (
    id               BIGSERIAL PRIMARY KEY,
    hash             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT,
    last_digits      TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT,
    last_used_at     BIGINT
);
CREATE INDEX tokens_owner ON tokens(user_id, organization_id, kind);
