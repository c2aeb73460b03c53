-- The operator's prices per plan and product: `savings` (rate in basis points of the savings)
-- or `vcpu` (rate in thousandths of a cent per vCPU-hour). No row: the plan's default.
CREATE TABLE pricing (
    plan        TEXT NOT NULL,
    product     TEXT NOT NULL,
    model       TEXT NOT NULL,
    rate        BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (plan, product)
);
