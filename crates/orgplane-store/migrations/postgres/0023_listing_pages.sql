-- Keyset paging of the two big listings (GET /setup/account and GET /setup/organization/user
-- with `limit`/`cursor`): each page is one index range scan, whatever its depth. The account
-- index also serves the unpaged listing's order (default account first, then oldest first).
CREATE INDEX accounts_org_page ON accounts(organization_id, is_default DESC, created_at, id);
CREATE INDEX memberships_org_page ON memberships(organization_id, created_at, user_id);
