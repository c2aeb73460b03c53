-- Linked organizations (product.md §6): a child points at its parent; `family_id` is the root of
-- the tree it belongs to (its own id when it stands alone), copied onto memberships so that the
-- database itself refuses a second membership of one person within one family.
ALTER TABLE organizations ADD COLUMN parent_id BIGINT REFERENCES organizations(id);
ALTER TABLE organizations ADD COLUMN family_id BIGINT NOT NULL DEFAULT 0;
-- 'shared' (the parent's bill consolidates this child's usage) or 'separate'; NULL for roots.
ALTER TABLE organizations ADD COLUMN billing TEXT;
ALTER TABLE organizations ADD COLUMN linked_at BIGINT;
UPDATE organizations SET family_id = id;
CREATE INDEX organizations_parent ON organizations(parent_id);
CREATE INDEX organizations_family ON organizations(family_id);

ALTER TABLE memberships ADD COLUMN family_id BIGINT NOT NULL DEFAULT 0;
UPDATE memberships SET family_id = organization_id;
CREATE UNIQUE INDEX memberships_one_per_family ON memberships(user_id, family_id);

-- An invitation from a parent to an existing organization; the child's admin accepts it.
CREATE TABLE organization_invitations (
    id           TEXT PRIMARY KEY,
    parent_id    BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    child_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    billing      TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    UNIQUE (parent_id, child_id)
);
CREATE INDEX organization_invitations_child ON organization_invitations(child_id);
