-- SAML 2.0 single sign-on (issue #6).

-- One identity provider per organization. `idp` is orgplane-saml's IdpConfig as JSON (entity id,
-- SSO URL, the one pinned signing certificate): public data only.
CREATE TABLE sso_providers (
    organization_id      BIGINT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    idp                  TEXT NOT NULL,
    entity_id            TEXT NOT NULL,
    default_role         TEXT NOT NULL,
    allowed_accounts     TEXT NOT NULL,
    allow_idp_initiated  SMALLINT NOT NULL,
    enforce              SMALLINT NOT NULL,
    updated_by           TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- AuthnRequest ids we sent (SP-initiated), each accepted once before it expires.
CREATE TABLE saml_requests (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX saml_requests_org ON saml_requests(organization_id, expires_at);

-- The replay cache: assertion ids consumed, kept until the assertion's NotOnOrAfter. The
-- primary key makes a second use fail on every replica.
CREATE TABLE saml_assertions (
    issuer           TEXT NOT NULL,
    assertion_id     TEXT NOT NULL,
    organization_id  BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    PRIMARY KEY (issuer, assertion_id)
);
CREATE INDEX saml_assertions_expiry ON saml_assertions(expires_at);

-- A verified login waiting for the person to pick an organization (OrgAndRole with several);
-- keyed by the SHA-256 of the random login id, single use, a few minutes long.
CREATE TABLE saml_pending_logins (
    id_hash          TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    login            TEXT NOT NULL,
    expires_at       BIGINT NOT NULL
);
