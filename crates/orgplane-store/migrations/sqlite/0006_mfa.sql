-- TOTP second factor: the seed encrypted with the master key, confirmed once the person proved
-- their authenticator works, and the last accepted time step (a code works once).
CREATE TABLE user_mfa (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc   TEXT NOT NULL,
    confirmed    SMALLINT NOT NULL,
    last_step    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash    TEXT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
