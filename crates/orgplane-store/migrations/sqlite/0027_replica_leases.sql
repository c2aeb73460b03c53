-- (See the PostgreSQL migration: SQLite serves one process and holds no leases; the table
-- exists here so that both backends have one schema.)
CREATE TABLE replica_leases (
    id TEXT PRIMARY KEY,
    lease_until BIGINT NOT NULL,
    seen_epoch BIGINT NOT NULL
);
