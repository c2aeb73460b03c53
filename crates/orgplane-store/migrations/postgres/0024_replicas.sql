-- API rate-limit counters: requests per organization × route (a stable hash of route and
-- method) × minute window, shared by every replica. UNLOGGED: a counter needs no crash safety,
-- and skipping the WAL keeps the write on each authenticated request cheap. Windows older than
-- the previous one are deleted as the minutes pass.
CREATE UNLOGGED TABLE rate_limit_counters (
    organization_id  BIGINT NOT NULL,
    route_key        BIGINT NOT NULL,
    window_no        BIGINT NOT NULL,
    hits             BIGINT NOT NULL,
    PRIMARY KEY (organization_id, route_key, window_no)
);

-- The change counter: every change advances it after its commit, and every replica reads it
-- before a cached lookup, clearing its read cache when another replica changed something.
CREATE SEQUENCE orgplane_cache_epoch;
-- Called once so that last_value moves with every later nextval.
SELECT nextval('orgplane_cache_epoch');
