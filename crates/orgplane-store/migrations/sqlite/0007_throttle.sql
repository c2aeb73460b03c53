-- Sign-in throttling counters, keyed `email:<address>` or `ip:<address>`, shared by replicas.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
