-- Identity and access: custom policies, groups, and who holds which policy where.
-- Built-in policies ("1" Admin, "2" Account Editor, "3" Account Viewer, "4" Organization Viewer)
-- live in code (orgplane_domain::policy), so policy ids in the attachment tables have no
-- foreign key; the store checks them and refuses to delete a policy that is still attached.

CREATE TABLE policies (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    type             TEXT NOT NULL,
    content          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX policies_org ON policies(organization_id);

CREATE TABLE user_groups (
    id               TEXT PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX user_groups_org ON user_groups(organization_id);

CREATE TABLE group_members (
    group_id         TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id, organization_id);

-- account_ids: JSON list of account ids, "*" for every current and future account; empty for
-- organization-type policies.
CREATE TABLE user_policies (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    policy_id        TEXT NOT NULL,
    account_ids      TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id, policy_id)
);
CREATE INDEX user_policies_policy ON user_policies(organization_id, policy_id);

CREATE TABLE group_policies (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    group_id         TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    policy_id        TEXT NOT NULL,
    account_ids      TEXT NOT NULL,
    PRIMARY KEY (group_id, policy_id)
);
CREATE INDEX group_policies_policy ON group_policies(organization_id, policy_id);

-- A POLICY_BASED account permission lists its policies here (role is then 'policy').
ALTER TABLE account_permissions ADD COLUMN policy_ids TEXT NOT NULL DEFAULT '[]';

-- Token scopes and last use.
ALTER TABLE tokens ADD COLUMN read_only SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN last_used_ip TEXT;
