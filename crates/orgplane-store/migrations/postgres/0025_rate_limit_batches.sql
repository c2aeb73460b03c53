-- Requests that arrive together for one rate-limit counter are added by one upsert; `granted`
-- is how many of them its last update let through (computed from the count before it, in the
-- same row update, so the requests can tell which of them were counted).
ALTER TABLE rate_limit_counters ADD COLUMN granted BIGINT NOT NULL DEFAULT 0;
