//! Identity and access data: custom policies, user groups, and the attachments that give users
//! policies — directly, through groups, or through their account permissions. Every change is
//! checked against the organization's own policies and accounts inside its transaction, so a
//! mapping either applies whole or not at all.

use crate::{Backend, Store, db, now_ms};
use orgplane_domain::access::{AccountRole, OrgRole};
use orgplane_domain::iam::{
    self, AccountPermission, Holdings, OrgCatalog, OwnedGrant, PolicyMapping, check_account_policies, check_mappings,
};
use orgplane_domain::ids::{AccountId, GroupId, OrgId, PolicyId, UserId};
use orgplane_domain::policy::{Policy, PolicyDocument, PolicyType};
use orgplane_domain::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A custom policy with its timestamps.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub policy: Policy,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub user_ids: Vec<UserId>,
    pub policies: Vec<PolicyMapping>,
}

fn policy_type_str(t: PolicyType) -> &'static str {
    match t {
        PolicyType::Account => "ACCOUNT",
        PolicyType::Organization => "ORGANIZATION",
    }
}

fn parse_policy_type(s: &str) -> Result<PolicyType> {
    match s {
        "ACCOUNT" => Ok(PolicyType::Account),
        "ORGANIZATION" => Ok(PolicyType::Organization),
        other => Err(Error::internal(format!("stored policy type {other:?}"))),
    }
}

fn json_list(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| Error::internal(format!("stored list: {e}")))
}

fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).expect("strings serialise")
}

fn policy_row(row: &AnyRow) -> Result<StoredPolicy> {
    let content: String = row.try_get("content").map_err(db)?;
    let value: serde_json::Value =
        serde_json::from_str(&content).map_err(|e| Error::internal(format!("stored policy: {e}")))?;
    let kind: String = row.try_get("type").map_err(db)?;
    Ok(StoredPolicy {
        policy: Policy {
            id: row.try_get("id").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            description: row.try_get("description").map_err(db)?,
            policy_type: parse_policy_type(&kind)?,
            builtin: false,
            document: PolicyDocument::from_json(&value, "stored")?,
        },
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

/// The organization's policy types and account ids, for checking mappings.
pub(crate) async fn load_catalog(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<(HashMap<String, PolicyType>, HashSet<String>)> {
    let mut types = HashMap::new();
    for row in sqlx::query("SELECT id, type FROM policies WHERE organization_id = $1")
        .bind(org.as_i64())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?
    {
        let kind: String = row.try_get("type").map_err(db)?;
        types.insert(row.try_get("id").map_err(db)?, parse_policy_type(&kind)?);
    }
    let accounts = sqlx::query("SELECT id FROM accounts WHERE organization_id = $1")
        .bind(org.as_i64())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get::<String, _>("id").map_err(db))
        .collect::<Result<HashSet<_>>>()?;
    Ok((types, accounts))
}

/// Checks mappings against the organization inside the caller's transaction.
pub(crate) async fn checked_mappings(
    conn: &mut AnyConnection,
    org: OrgId,
    mappings: &[PolicyMapping],
    field: &str,
) -> Result<Vec<PolicyMapping>> {
    let (types, accounts) = load_catalog(conn, org).await?;
    check_mappings(mappings, &OrgCatalog { policy_types: &types, account_ids: &accounts }, field)
}

/// Fails unless every user id is a member of the organization.
pub(crate) async fn check_members(conn: &mut AnyConnection, org: OrgId, users: &[UserId], field: &str) -> Result<()> {
    for (i, user) in users.iter().enumerate() {
        let found = sqlx::query("SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(org.as_i64())
            .bind(user.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Err(Error::not_found(
                "USER_DOESNT_EXIST",
                format!("{field}[{i}]"),
                format!("user {user} not found"),
            ));
        }
    }
    Ok(())
}

/// Fails unless every group id is one of the organization's groups.
pub(crate) async fn check_groups(conn: &mut AnyConnection, org: OrgId, groups: &[GroupId], field: &str) -> Result<()> {
    for (i, group) in groups.iter().enumerate() {
        let found = sqlx::query("SELECT 1 FROM user_groups WHERE organization_id = $1 AND id = $2")
            .bind(org.as_i64())
            .bind(group.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Err(Error::not_found(
                "GROUP_DOESNT_EXIST",
                format!("{field}[{i}]"),
                format!("group {group} not found"),
            ));
        }
    }
    Ok(())
}

/// Whose policy mappings are being replaced.
pub(crate) enum MappingOwner<'a> {
    User(&'a UserId),
    Group(&'a GroupId),
}

/// Replaces the policies attached to a user or a group (the set, not a merge).
pub(crate) async fn replace_policy_mappings(
    conn: &mut AnyConnection,
    org: OrgId,
    owner: MappingOwner<'_>,
    mappings: &[PolicyMapping],
) -> Result<()> {
    let (delete, insert, owner_id) = match owner {
        MappingOwner::User(u) => (
            "DELETE FROM user_policies WHERE organization_id = $1 AND user_id = $2",
            "INSERT INTO user_policies (organization_id, user_id, policy_id, account_ids) VALUES ($1, $2, $3, $4)",
            u.as_str(),
        ),
        MappingOwner::Group(g) => (
            "DELETE FROM group_policies WHERE organization_id = $1 AND group_id = $2",
            "INSERT INTO group_policies (organization_id, group_id, policy_id, account_ids) VALUES ($1, $2, $3, $4)",
            g.as_str(),
        ),
    };
    sqlx::query(delete).bind(org.as_i64()).bind(owner_id).execute(&mut *conn).await.map_err(db)?;
    for m in mappings {
        sqlx::query(insert)
            .bind(org.as_i64())
            .bind(owner_id)
            .bind(&m.policy_id)
            .bind(to_json_list(&m.account_ids))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

pub(crate) async fn replace_user_groups(
    conn: &mut AnyConnection,
    org: OrgId,
    user: &UserId,
    groups: &[GroupId],
) -> Result<()> {
    sqlx::query("DELETE FROM group_members WHERE organization_id = $1 AND user_id = $2")
        .bind(org.as_i64())
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for g in groups {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, organization_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(g.as_str())
        .bind(user.as_str())
        .bind(org.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Writes a user's permission on an account: one row per (account, user), replacing any other.
pub(crate) async fn put_account_permission(
    conn: &mut AnyConnection,
    org: OrgId,
    account: &AccountId,
    user: &UserId,
    permission: &AccountPermission,
) -> Result<()> {
    let (role, policies) = match permission {
        AccountPermission::Role(r) => (r.as_str(), Vec::new()),
        AccountPermission::Policies(ids) => ("policy", ids.clone()),
    };
    sqlx::query(
        "INSERT INTO account_permissions (account_id, user_id, organization_id, role, policy_ids, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role, policy_ids = excluded.policy_ids",
    )
    .bind(account.as_str())
    .bind(user.as_str())
    .bind(org.as_i64())
    .bind(role)
    .bind(to_json_list(&policies))
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

fn permission_row(row: &AnyRow) -> Result<(AccountId, AccountPermission)> {
    let role: String = row.try_get("role").map_err(db)?;
    let permission = match role.as_str() {
        "policy" => AccountPermission::Policies(json_list(&row.try_get::<String, _>("policy_ids").map_err(db)?)?),
        other => AccountPermission::Role(
            AccountRole::parse(other).ok_or_else(|| Error::internal(format!("stored account role {other:?}")))?,
        ),
    };
    Ok((AccountId::from_stored(row.try_get("account_id").map_err(db)?), permission))
}

impl Store {
    // ---- policies ----

    pub async fn create_policy(
        &self,
        org: OrgId,
        name: &str,
        description: &str,
        kind: PolicyType,
        document: &PolicyDocument,
    ) -> Result<StoredPolicy> {
        let now = now_ms();
        let id = PolicyId::generate(&mut rand::thread_rng());
        crate::audit::created("policy", id.as_str());
        self.write_one(
            sqlx::query(
                "INSERT INTO policies (id, organization_id, name, description, type, content, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id.as_str())
            .bind(org.as_i64())
            .bind(name)
            .bind(description)
            .bind(policy_type_str(kind))
            .bind(document.to_json().to_string())
            .bind(now),
        )
        .await?;
        self.changed().await;
        Ok(StoredPolicy {
            policy: Policy {
                id: id.to_string(),
                name: name.into(),
                description: description.into(),
                policy_type: kind,
                builtin: false,
                document: document.clone(),
            },
            created_at: now,
            updated_at: now,
        })
    }

    /// The organization's custom policies, oldest first (built-ins come from the domain).
    pub async fn list_policies(&self, org: OrgId) -> Result<Vec<StoredPolicy>> {
        let rows = sqlx::query("SELECT * FROM policies WHERE organization_id = $1 ORDER BY created_at, id")
            .bind(org.as_i64())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(policy_row).collect()
    }

    pub async fn find_policy(&self, org: OrgId, id: &str) -> Result<Option<StoredPolicy>> {
        let row = sqlx::query("SELECT * FROM policies WHERE organization_id = $1 AND id = $2")
            .bind(org.as_i64())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(policy_row).transpose()
    }

    /// Changes a custom policy's name, description or statements (its type never changes).
    pub async fn update_policy(
        &self,
        org: OrgId,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
        document: Option<&PolicyDocument>,
    ) -> Result<()> {
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE policies SET name = COALESCE($1, name), description = COALESCE($2, description), \
             content = COALESCE($3, content), updated_at = $4 WHERE organization_id = $5 AND id = $6",
                )
                .bind(name)
                .bind(description)
                .bind(document.map(|d| d.to_json().to_string()))
                .bind(now_ms())
                .bind(org.as_i64())
                .bind(id),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(policy_not_found());
        }
        self.changed().await;
        Ok(())
    }

    /// Deletes a custom policy; refused while any user, group or account permission holds it.
    pub async fn delete_policy(&self, org: OrgId, id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 FROM policies WHERE organization_id = $1 AND id = $2")
            .bind(org.as_i64())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(policy_not_found());
        }
        let quoted = format!("%\"{id}\"%");
        let in_use = sqlx::query(
            "SELECT 1 FROM user_policies WHERE organization_id = $1 AND policy_id = $2 \
             UNION ALL SELECT 1 FROM group_policies WHERE organization_id = $1 AND policy_id = $2 \
             UNION ALL SELECT 1 FROM account_permissions WHERE organization_id = $1 AND policy_ids LIKE $3",
        )
        .bind(org.as_i64())
        .bind(id)
        .bind(quoted)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if in_use.is_some() {
            return Err(Error::rule(
                "POLICY_IN_USE",
                "the policy is attached to users, groups or account permissions; detach it first",
            ));
        }
        let done = sqlx::query("DELETE FROM policies WHERE organization_id = $1 AND id = $2")
            .bind(org.as_i64())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // A concurrent delete got there first: not found, and no audit event.
        if done.rows_affected() == 0 {
            return Err(policy_not_found());
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    // ---- groups ----

    pub async fn create_group(
        &self,
        org: OrgId,
        name: &str,
        description: &str,
        users: &[UserId],
        policies: &[PolicyMapping],
    ) -> Result<GroupSummary> {
        let mut tx = self.write_tx().await?;
        check_members(&mut tx, org, users, "body.userIds").await?;
        let policies = checked_mappings(&mut tx, org, policies, "body.policies").await?;
        let id = GroupId::generate(&mut rand::thread_rng());
        crate::audit::created("userGroup", id.as_str());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO user_groups (id, organization_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id.as_str())
        .bind(org.as_i64())
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        replace_group_users(&mut tx, org, &id, users).await?;
        replace_policy_mappings(&mut tx, org, MappingOwner::Group(&id), &policies).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(GroupSummary {
            id,
            name: name.into(),
            description: description.into(),
            created_at: now,
            user_ids: users.to_vec(),
            policies,
        })
    }

    pub async fn list_groups(&self, org: OrgId) -> Result<Vec<GroupSummary>> {
        let rows = sqlx::query("SELECT id FROM user_groups WHERE organization_id = $1 ORDER BY created_at, id")
            .bind(org.as_i64())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = GroupId::from_stored(row.try_get("id").map_err(db)?);
            if let Some(g) = self.find_group(org, &id).await? {
                out.push(g);
            }
        }
        Ok(out)
    }

    pub async fn find_group(&self, org: OrgId, id: &GroupId) -> Result<Option<GroupSummary>> {
        let Some(row) = sqlx::query("SELECT * FROM user_groups WHERE organization_id = $1 AND id = $2")
            .bind(org.as_i64())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let user_ids = sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|r| Ok(UserId::from_stored(r.try_get("user_id").map_err(db)?)))
            .collect::<Result<Vec<_>>>()?;
        let policies =
            sqlx::query("SELECT policy_id, account_ids FROM group_policies WHERE group_id = $1 ORDER BY policy_id")
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .iter()
                .map(mapping_row)
                .collect::<Result<Vec<_>>>()?;
        Ok(Some(GroupSummary {
            id: id.clone(),
            name: row.try_get("name").map_err(db)?,
            description: row.try_get("description").map_err(db)?,
            created_at: row.try_get("created_at").map_err(db)?,
            user_ids,
            policies,
        }))
    }

    pub async fn update_group(
        &self,
        org: OrgId,
        id: &GroupId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        let done = self.write_one(sqlx::query(
            "UPDATE user_groups SET name = COALESCE($1, name), description = COALESCE($2, description), updated_at = $3 \
             WHERE organization_id = $4 AND id = $5",
        )
        .bind(name)
        .bind(description)
        .bind(now_ms())
        .bind(org.as_i64())
        .bind(id.as_str())).await?;
        if done.rows_affected() == 0 {
            return Err(group_not_found());
        }
        self.changed().await;
        Ok(())
    }

    pub async fn delete_group(&self, org: OrgId, id: &GroupId) -> Result<()> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM user_groups WHERE organization_id = $1 AND id = $2")
                    .bind(org.as_i64())
                    .bind(id.as_str()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(group_not_found());
        }
        self.changed().await;
        Ok(())
    }

    pub async fn set_group_users(&self, org: OrgId, id: &GroupId, users: &[UserId]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        check_groups(&mut tx, org, std::slice::from_ref(id), "path").await.map_err(|_| group_not_found())?;
        check_members(&mut tx, org, users, "body.userIds").await?;
        replace_group_users(&mut tx, org, id, users).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn set_group_policies(&self, org: OrgId, id: &GroupId, policies: &[PolicyMapping]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        check_groups(&mut tx, org, std::slice::from_ref(id), "path").await.map_err(|_| group_not_found())?;
        let policies = checked_mappings(&mut tx, org, policies, "body.policies").await?;
        replace_policy_mappings(&mut tx, org, MappingOwner::Group(id), &policies).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    // ---- what users hold ----

    /// Replaces the groups a user belongs to.
    pub async fn set_user_groups(&self, org: OrgId, user: &UserId, groups: &[GroupId]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        check_members(&mut tx, org, std::slice::from_ref(user), "path.userId").await?;
        check_groups(&mut tx, org, groups, "body.userGroupIds").await?;
        replace_user_groups(&mut tx, org, user, groups).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Replaces the policies attached to a user directly.
    pub async fn set_user_policies(&self, org: OrgId, user: &UserId, policies: &[PolicyMapping]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        check_members(&mut tx, org, std::slice::from_ref(user), "path.userId").await?;
        let policies = checked_mappings(&mut tx, org, policies, "body.policies").await?;
        replace_policy_mappings(&mut tx, org, MappingOwner::User(user), &policies).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Sets a member's permission on an account (one row per user and account).
    pub async fn set_account_permission(
        &self,
        org: OrgId,
        account: &AccountId,
        user: &UserId,
        permission: &AccountPermission,
        field: &str,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        check_members(&mut tx, org, std::slice::from_ref(user), field).await.map_err(|_| user_not_found(field))?;
        let (types, accounts) = load_catalog(&mut tx, org).await?;
        if !accounts.contains(account.as_str()) {
            return Err(crate::accounts::account_not_found());
        }
        if let AccountPermission::Policies(ids) = permission {
            check_account_policies(
                ids,
                &OrgCatalog { policy_types: &types, account_ids: &accounts },
                "body.policyIds",
            )?;
        }
        put_account_permission(&mut tx, org, account, user, permission).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Applies several account permissions at once (Spot's bulk mapping): all or nothing.
    pub async fn set_account_permissions(
        &self,
        org: OrgId,
        items: &[(AccountId, UserId, AccountPermission)],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (types, accounts) = load_catalog(&mut tx, org).await?;
        let catalog = OrgCatalog { policy_types: &types, account_ids: &accounts };
        for (i, (account, user, permission)) in items.iter().enumerate() {
            let at = format!("body.mappings[{i}]");
            if !accounts.contains(account.as_str()) {
                return Err(Error::not_found("Account_DOESNT_EXIST", format!("{at}.accountId"), "account not found"));
            }
            check_members(&mut tx, org, std::slice::from_ref(user), &at)
                .await
                .map_err(|_| user_not_found(&format!("{at}.userId")))?;
            if let AccountPermission::Policies(ids) = permission {
                check_account_policies(ids, &catalog, &format!("{at}.policyIds"))?;
            }
            put_account_permission(&mut tx, org, account, user, permission).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Removes a user's permission on an account.
    pub async fn detach_account_user(&self, org: OrgId, account: &AccountId, user: &UserId) -> Result<()> {
        let done = self
            .write_one(
                sqlx::query(
                    "DELETE FROM account_permissions WHERE organization_id = $1 AND account_id = $2 AND user_id = $3",
                )
                .bind(org.as_i64())
                .bind(account.as_str())
                .bind(user.as_str()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(
                "USER_NOT_ATTACHED",
                "body.userEmail",
                "the user has no permission on this account",
            ));
        }
        self.changed().await;
        Ok(())
    }

    /// A user's permissions on the organization's accounts, oldest account first.
    pub async fn account_permissions_of(
        &self,
        org: OrgId,
        user: &UserId,
    ) -> Result<Vec<(AccountId, AccountPermission)>> {
        let rows = sqlx::query(
            "SELECT p.account_id, p.role, p.policy_ids FROM account_permissions p JOIN accounts a ON a.id = p.account_id \
             WHERE p.organization_id = $1 AND p.user_id = $2 ORDER BY a.is_default DESC, a.created_at, a.id",
        )
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(permission_row).collect()
    }

    /// The policies attached to a user directly.
    pub async fn user_policy_mappings(&self, org: OrgId, user: &UserId) -> Result<Vec<PolicyMapping>> {
        sqlx::query("SELECT policy_id, account_ids FROM user_policies WHERE organization_id = $1 AND user_id = $2 ORDER BY policy_id")
            .bind(org.as_i64())
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(mapping_row)
            .collect()
    }

    /// The groups a user is in.
    pub async fn user_group_ids(&self, org: OrgId, user: &UserId) -> Result<Vec<GroupId>> {
        sqlx::query("SELECT group_id FROM group_members WHERE organization_id = $1 AND user_id = $2 ORDER BY group_id")
            .bind(org.as_i64())
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|r| Ok(GroupId::from_stored(r.try_get("group_id").map_err(db)?)))
            .collect()
    }

    /// Everything a user holds in an organization, turned into grants for the policy engine.
    /// Cached: every request asks this, and every change clears it.
    pub async fn grants(&self, org: OrgId, user: &UserId) -> Result<Arc<Vec<OwnedGrant>>> {
        let now = now_ms();
        self.sync_cache().await?;
        if let Some(hit) = self.cache.grants(org.as_i64(), user.as_str(), now) {
            return Ok(hit);
        }
        let epoch = self.cache.epoch();
        let holdings = self.holdings(org, user).await?;
        let custom: HashMap<String, Arc<Policy>> =
            self.list_policies(org).await?.into_iter().map(|p| (p.policy.id.clone(), Arc::new(p.policy))).collect();
        let grants = Arc::new(iam::grants(&holdings, &custom));
        self.cache.put_grants(epoch, org.as_i64(), user.as_str(), grants.clone(), now);
        Ok(grants)
    }

    async fn holdings(&self, org: OrgId, user: &UserId) -> Result<Holdings> {
        // An admin of an ancestor organization is an admin here: decided now, never copied.
        let role = sqlx::query(concat!(
            "SELECT COALESCE((SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2), \
             CASE WHEN ",
            crate::families::inherited_admin!("$1", "$2"),
            " THEN 'admin' END) AS role"
        ))
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| r.try_get::<Option<String>, _>("role").map_err(db))
        .transpose()?
        .flatten();
        let via_groups = sqlx::query(
            "SELECT gp.group_id, gp.policy_id, gp.account_ids FROM group_policies gp \
             JOIN group_members gm ON gm.group_id = gp.group_id \
             WHERE gm.organization_id = $1 AND gm.user_id = $2 ORDER BY gp.group_id, gp.policy_id",
        )
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("group_id").map_err(db)?, mapping_row(r)?)))
        .collect::<Result<Vec<_>>>()?;
        Ok(Holdings {
            org_role: role.as_deref().and_then(OrgRole::parse),
            account_permissions: self
                .account_permissions_of(org, user)
                .await?
                .into_iter()
                .map(|(a, p)| (a.to_string(), p))
                .collect(),
            direct: self.user_policy_mappings(org, user).await?,
            via_groups,
        })
    }

    /// Locks the organization's row for the rest of the transaction on PostgreSQL (SQLite's
    /// `BEGIN IMMEDIATE` already serialises writers), so invariants counted inside the
    /// transaction — such as "at least one admin" — hold under concurrent requests.
    pub(crate) async fn lock_org(&self, conn: &mut AnyConnection, org: OrgId) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                .bind(org.as_i64())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }
}

fn mapping_row(row: &AnyRow) -> Result<PolicyMapping> {
    Ok(PolicyMapping {
        policy_id: row.try_get("policy_id").map_err(db)?,
        account_ids: json_list(&row.try_get::<String, _>("account_ids").map_err(db)?)?,
    })
}

pub(crate) async fn replace_group_users(
    conn: &mut AnyConnection,
    org: OrgId,
    id: &GroupId,
    users: &[UserId],
) -> Result<()> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for u in users {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, organization_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(u.as_str())
        .bind(org.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

pub(crate) fn policy_not_found() -> Error {
    Error::not_found("POLICY_DOESNT_EXIST", "path.policyId", "policy not found")
}

pub(crate) fn group_not_found() -> Error {
    Error::not_found("GROUP_DOESNT_EXIST", "path.userGroupId", "user group not found")
}

pub(crate) fn user_not_found(field: &str) -> Error {
    Error::not_found("USER_DOESNT_EXIST", field, "user not found in this organization")
}
