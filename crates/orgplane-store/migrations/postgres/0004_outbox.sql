-- The durable outbox: one row per message to deliver. A worker claims due rows by pushing
-- `next_attempt_at` past a lease, so a crashed worker's rows come back on their own.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    channel          TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
