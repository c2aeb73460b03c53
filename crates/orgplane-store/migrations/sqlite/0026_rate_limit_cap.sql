-- (See the PostgreSQL migration: the column exists here so that both backends have one schema.)
ALTER TABLE rate_limit_counters ADD COLUMN cap BIGINT NOT NULL DEFAULT 0;
