-- One admission statement counts the requests of many keys at once, each key with its own cap;
-- an upsert's update sees only the row it proposed (EXCLUDED), so the cap travels in the row.
-- It holds the cap the last count applied.
ALTER TABLE rate_limit_counters ADD COLUMN cap BIGINT NOT NULL DEFAULT 0;
