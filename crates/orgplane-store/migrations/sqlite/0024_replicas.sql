-- API rate-limit counters (see the PostgreSQL migration). SQLite serves one process, which
-- keeps its counters in memory; the table exists so that both backends have one schema.
CREATE TABLE rate_limit_counters (
    organization_id  BIGINT NOT NULL,
    route_key        BIGINT NOT NULL,
    window_no        BIGINT NOT NULL,
    hits             BIGINT NOT NULL,
    PRIMARY KEY (organization_id, route_key, window_no)
);

-- (PostgreSQL also gets the sequence orgplane_cache_epoch here, the replicas' change counter;
-- SQLite's one process clears its cache directly.)
