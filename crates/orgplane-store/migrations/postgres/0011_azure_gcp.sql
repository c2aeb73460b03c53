-- Azure service principals (per account; `scope` 'subscription' for C5, 'tenant' for C7) and
-- GCP service-account keys. Secrets are sealed with the master key; the rest is what the GET
-- endpoints show.
CREATE TABLE azure_credentials (
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    subscription_id  TEXT,
    secret_enc       TEXT NOT NULL,
    secret_hint      TEXT NOT NULL,
    expires_at       BIGINT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (account_id, scope)
);

CREATE TABLE gcp_credentials (
    account_id       TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id       TEXT NOT NULL,
    client_email     TEXT NOT NULL,
    -- The service-account object without its private key, as GET returns it.
    public_part      TEXT NOT NULL,
    private_key_enc  TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
