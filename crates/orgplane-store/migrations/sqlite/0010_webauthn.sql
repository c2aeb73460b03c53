-- Security keys and passkeys (WebAuthn) as a second factor. `passkey` is webauthn-rs's
-- credential record (public key and signature counter): nothing secret, but the counter must
-- be written back after each sign-in to notice cloned authenticators.
CREATE TABLE webauthn_credentials (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);

-- A ceremony in progress (registration or sign-in): its state, single-use, short-lived.
CREATE TABLE webauthn_challenges (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
