-- AWS connections: the external id minted for an account (valid an hour), and the role it was
-- proven with. Neither is a secret (the role ARN and external id are shared with the customer).
CREATE TABLE aws_external_ids (
    account_id       TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    external_id      TEXT NOT NULL,
    valid_until      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE TABLE aws_credentials (
    account_id       TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    iam_role         TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    aws_account_id   TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
