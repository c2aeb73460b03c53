-- Usage, ingested in batches that are idempotent by key. Amounts are integers: vCPU-hours in
-- thousandths, money in cents (never floats).
CREATE TABLE usage_batches (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    batch_key        TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    record_count     BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (organization_id, batch_key)
);

CREATE TABLE usage_records (
    organization_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    batch_key             TEXT NOT NULL,
    account_id            TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day                   TEXT NOT NULL,
    product               TEXT NOT NULL,
    vcpu_milli_hours      BIGINT NOT NULL,
    on_demand_cost_cents  BIGINT NOT NULL,
    actual_cost_cents     BIGINT NOT NULL
);
CREATE INDEX usage_records_month ON usage_records(organization_id, day, account_id, product);
