-- SCIM 2.0 provisioning (issue #5).

-- Bearer tokens an organization's admins create for their IdP; only the SHA-256 hash is kept.
CREATE TABLE scim_tokens (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    hash             TEXT NOT NULL UNIQUE,
    last_digits      TEXT NOT NULL,
    description      TEXT,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT
);
CREATE INDEX scim_tokens_org ON scim_tokens(organization_id);

-- What SCIM keeps per person and organization: the IdP's external id, when SCIM last wrote,
-- and — while the person has no membership — that the organization deactivated them.
CREATE TABLE scim_users (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    external_id      TEXT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX scim_users_user ON scim_users(user_id);

-- The SCIM attribute roles are read from; NULL means `roles`.
ALTER TABLE organizations ADD COLUMN scim_role_attribute TEXT;
