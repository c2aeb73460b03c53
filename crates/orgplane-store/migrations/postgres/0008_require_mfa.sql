-- An organization can require its members to have a second factor.
ALTER TABLE organizations ADD COLUMN require_mfa SMALLINT NOT NULL DEFAULT 0;
