-- Replicas that serve from their read cache without reading the change counter per request
-- (store/src/replica.rs): each holds a lease, renewed every second, and records the change
-- counter it has cleared its cache for. A change is acknowledged only once every replica whose
-- lease has not run out has seen it. A logged table: a lease the database forgot after a crash
-- would let a change be acknowledged while that replica still trusts its cache.
CREATE TABLE replica_leases (
    id TEXT PRIMARY KEY,
    -- Unix milliseconds by the database's clock.
    lease_until BIGINT NOT NULL,
    seen_epoch BIGINT NOT NULL
);
