//! The people and programmatic users of an organization: adding, listing, removing, roles.

use crate::iam::{
    MappingOwner, check_groups, checked_mappings, put_account_permission, replace_policy_mappings, replace_user_groups,
    user_not_found,
};
use crate::orgs::{NewPerson, insert_person};
use crate::{Store, db, now_ms};
use orgplane_domain::access::{AccountRole, OrgRole};
use orgplane_domain::iam::{AccountPermission, PolicyMapping, check_admins_remain};
use orgplane_domain::ids::{AccountId, GroupId, OrgId, UserId};
use orgplane_domain::model::TokenInfo;
use orgplane_domain::secret::NewToken;
use orgplane_domain::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;

/// A user as their organization sees them.
#[derive(Debug, Clone)]
pub struct OrgUser {
    pub user_id: UserId,
    pub programmatic: bool,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub description: Option<String>,
    pub role: OrgRole,
    pub created_at: i64,
    pub group_names: Vec<String>,
    /// Whether the person has a confirmed second factor.
    pub mfa: bool,
}

impl OrgUser {
    /// The name Spot shows for the user: first and last name, or the first alone.
    pub fn display_name(&self) -> DisplayName<'_> {
        DisplayName(self)
    }
}

/// A user's display name, written where it goes (a listing writes it straight into the reply).
#[derive(Clone, Copy)]
pub struct DisplayName<'a>(&'a OrgUser);

impl std::fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.first_name)?;
        if !self.0.last_name.is_empty() {
            f.write_str(" ")?;
            f.write_str(&self.0.last_name)?;
        }
        Ok(())
    }
}

impl serde::Serialize for DisplayName<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a new console user gets: org admin, or a role on the default account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUserRole {
    Admin,
    Account(AccountRole),
}

/// A programmatic user to create, already validated.
#[derive(Debug, Clone)]
pub struct NewProgrammaticUser {
    pub name: String,
    pub description: Option<String>,
    pub accounts: Vec<(AccountId, AccountRole)>,
    pub policies: Vec<PolicyMapping>,
    pub groups: Vec<GroupId>,
}

const USER_COLUMNS: &str = concat!(
    "u.id, u.kind, u.first_name, u.last_name, u.email, u.description, m.role, m.created_at, CASE WHEN ",
    crate::mfa::has_second_factor!(),
    " THEN 1 ELSE 0 END AS mfa"
);

impl Store {
    /// Adds a person to the organization. A person already known to the installation (same
    /// email) gets a membership, not a second identity; one already in this organization is
    /// refused. Returns the user id and whether the identity is new.
    pub async fn add_person(&self, org: OrgId, person: &NewPerson, role: NewUserRole) -> Result<(UserId, bool)> {
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query("SELECT id FROM users WHERE email_key = $1")
            .bind(&person.email_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let (user, created) = match existing {
            Some(row) => {
                let id = UserId::from_stored(row.try_get("id").map_err(db)?);
                if member_role(&mut tx, org, &id).await?.is_some() {
                    return Err(crate::orgs::already_member());
                }
                (id, false)
            }
            None => (insert_person(&mut tx, person, "body.email").await?, true),
        };
        let org_role = if role == NewUserRole::Admin { OrgRole::Admin } else { OrgRole::Member };
        crate::orgs::insert_membership(&mut tx, org, &user, org_role).await?;
        if let NewUserRole::Account(account_role) = role {
            let default = default_account_id(&mut tx, org).await?;
            put_account_permission(&mut tx, org, &default, &user, &AccountPermission::Role(account_role)).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok((user, created))
    }

    /// Creates a programmatic user with its permissions and its token (the token is the only
    /// way it can authenticate).
    pub async fn create_programmatic_user(
        &self,
        org: OrgId,
        new: &NewProgrammaticUser,
        token: &NewToken,
    ) -> Result<(UserId, TokenInfo)> {
        let mut tx = self.write_tx().await?;
        let policies = checked_mappings(&mut tx, org, &new.policies, "body.policies").await?;
        let (_, accounts) = crate::iam::load_catalog(&mut tx, org).await?;
        for (i, (account, _)) in new.accounts.iter().enumerate() {
            if !accounts.contains(account.as_str()) {
                return Err(Error::not_found(
                    "Account_DOESNT_EXIST",
                    format!("body.accounts[{i}].id"),
                    "account not found",
                ));
            }
        }
        check_groups(&mut tx, org, &new.groups, "body.userGroupIds").await?;
        let now = now_ms();
        let mut user = None;
        for _ in 0..5 {
            let id = UserId::generate_programmatic(&mut rand::thread_rng());
            let done = sqlx::query(
                "INSERT INTO users (id, kind, first_name, last_name, description, created_at) \
                 VALUES ($1, 'programmatic', $2, '', $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(&new.name)
            .bind(new.description.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if done.rows_affected() == 1 {
                user = Some(id);
                break;
            }
        }
        let user = user.ok_or_else(|| Error::internal("could not allocate a programmatic user id"))?;
        crate::audit::created("user", user.as_str());
        crate::orgs::insert_membership(&mut tx, org, &user, OrgRole::Member).await?;
        for (account, role) in &new.accounts {
            put_account_permission(&mut tx, org, account, &user, &AccountPermission::Role(*role)).await?;
        }
        replace_policy_mappings(&mut tx, org, MappingOwner::User(&user), &policies).await?;
        replace_user_groups(&mut tx, org, &user, &new.groups).await?;
        let row = sqlx::query(
            "INSERT INTO tokens (hash, kind, user_id, organization_id, name, last_digits, created_at) \
             VALUES ($1, 'programmatic', $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&token.hash)
        .bind(user.as_str())
        .bind(org.as_i64())
        .bind(&new.name)
        .bind(&token.last_digits)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        let info = TokenInfo {
            id: row.try_get("id").map_err(db)?,
            user_id: user.clone(),
            last_used_ip: None,
            scope: Default::default(),
            name: Some(new.name.clone()),
            last_digits: token.last_digits.clone(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
        };
        Ok((user, info))
    }

    /// The organization's users (people and programmatic), in the order they joined. Served
    /// from the read cache for organizations of up to `cache::MAX_CACHED_USERS` users, and
    /// shared with it: a cached list is served without a copy.
    pub async fn list_org_users(&self, org: OrgId) -> Result<Arc<Vec<OrgUser>>> {
        let now = now_ms();
        self.sync_cache().await?;
        if let Some(hit) = self.cache.users(org.as_i64(), now) {
            return Ok(hit);
        }
        let epoch = self.cache.epoch();
        let users = Arc::new(self.load_org_users(org, None, None).await?);
        if users.len() <= crate::cache::MAX_CACHED_USERS {
            self.cache.put_users(epoch, org.as_i64(), users.clone(), now);
        }
        Ok(users)
    }

    /// One page of `list_org_users`: at most `limit` users that joined after `after` (the
    /// `created_at` and id of the last user of the previous page; `None` for the first page).
    /// Keyset paging on `memberships(organization_id, created_at, user_id)`: the cost of a page
    /// does not grow with its depth.
    pub async fn org_users_page(&self, org: OrgId, after: Option<(i64, &UserId)>, limit: i64) -> Result<Vec<OrgUser>> {
        self.load_org_users(org, Some(after.map_or((i64::MIN, ""), |(at, id)| (at, id.as_str()))), Some(limit)).await
    }

    async fn load_org_users(&self, org: OrgId, after: Option<(i64, &str)>, limit: Option<i64>) -> Result<Vec<OrgUser>> {
        let rows = match after {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.organization_id = $1 ORDER BY m.created_at, m.user_id"
                )))
                .bind(org.as_i64())
                .fetch_all(&self.pool)
                .await
            }
            Some((at, id)) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.organization_id = $1 AND (m.created_at, m.user_id) > ($2, $3) \
                     ORDER BY m.created_at, m.user_id LIMIT $4"
                )))
                .bind(org.as_i64())
                .bind(at)
                .bind(id)
                .bind(limit.unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(db)?;
        let mut users = rows.iter().map(user_row).collect::<Result<Vec<_>>>()?;
        if users.is_empty() {
            return Ok(users);
        }
        // Group names: for the whole organization at once, or for the page's users by id.
        let groups = if after.is_none() {
            sqlx::query(
                "SELECT gm.user_id, g.name FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
                 WHERE gm.organization_id = $1 ORDER BY g.name",
            )
            .bind(org.as_i64())
            .fetch_all(&self.pool)
            .await
        } else {
            let placeholders: Vec<String> = (0..users.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT gm.user_id, g.name FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
                 WHERE gm.organization_id = $1 AND gm.user_id IN ({}) ORDER BY g.name",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_i64());
            for u in &users {
                q = q.bind(u.user_id.as_str().to_string());
            }
            q.fetch_all(&self.pool).await
        }
        .map_err(db)?;
        let index: std::collections::HashMap<String, usize> =
            users.iter().enumerate().map(|(i, u)| (u.user_id.as_str().to_string(), i)).collect();
        for row in groups {
            let user: String = row.try_get("user_id").map_err(db)?;
            if let Some(&i) = index.get(&user) {
                users[i].group_names.push(row.try_get("name").map_err(db)?);
            }
        }
        Ok(users)
    }

    /// One user of the organization, by id; `None` for users of other organizations.
    pub async fn find_org_user(&self, org: OrgId, user: &UserId) -> Result<Option<OrgUser>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = $1 AND u.id = $2"
        )))
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let mut found = user_row(&row)?;
        found.group_names = sqlx::query(
            "SELECT g.name FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
             WHERE gm.organization_id = $1 AND gm.user_id = $2 ORDER BY g.name",
        )
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get("name").map_err(db))
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(found))
    }

    /// One person of the organization, by email (case-insensitive).
    pub async fn find_org_user_by_email(&self, org: OrgId, email_key: &str) -> Result<Option<OrgUser>> {
        let row = sqlx::query(
            "SELECT u.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email_key = $2",
        )
        .bind(org.as_i64())
        .bind(email_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => self.find_org_user(org, &UserId::from_stored(r.try_get("id").map_err(db)?)).await,
            None => Ok(None),
        }
    }

    /// Removes a user from the organization: membership, account permissions, groups, direct
    /// policies and every token bound to this organization. A person who belongs to no other
    /// organization is deleted; programmatic users always are. The last admin stays.
    pub async fn remove_user(&self, org: OrgId, user: &UserId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        strip_membership(&mut tx, org, user).await?;
        delete_if_orphaned(&mut tx, user).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Makes a member an admin or an admin a member; the last admin cannot be demoted.
    pub async fn set_org_role(&self, org: OrgId, user: &UserId, role: OrgRole) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        put_org_role(&mut tx, org, user, role).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }
}

/// Takes a user's membership of `org` away with everything it carries: account permissions,
/// groups, direct policies and the tokens bound to `org`. The last admin stays. The caller
/// holds the organization's lock.
pub(crate) async fn strip_membership(conn: &mut AnyConnection, org: OrgId, user: &UserId) -> Result<()> {
    let role = member_role(conn, org, user).await?.ok_or_else(|| user_not_found("path.userId"))?;
    if role == OrgRole::Admin {
        check_admins_remain(count_admins(conn, org).await? - 1)?;
    }
    for sql in [
        "DELETE FROM tokens WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM account_permissions WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM group_members WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM user_policies WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
    ] {
        sqlx::query(sql).bind(org.as_i64()).bind(user.as_str()).execute(&mut *conn).await.map_err(db)?;
    }
    Ok(())
}

/// Deletes an identity nothing holds any more: no membership and no organization's SCIM record.
pub(crate) async fn delete_if_orphaned(conn: &mut AnyConnection, user: &UserId) -> Result<()> {
    sqlx::query(
        "DELETE FROM users WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM scim_users WHERE user_id = $1)",
    )
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Sets a member's organization role; the last admin cannot be demoted and programmatic users
/// cannot be admins. The caller holds the organization's lock.
pub(crate) async fn put_org_role(conn: &mut AnyConnection, org: OrgId, user: &UserId, role: OrgRole) -> Result<()> {
    let current = member_role(conn, org, user).await?.ok_or_else(|| user_not_found("path.userId"))?;
    if user.is_programmatic() && role == OrgRole::Admin {
        return Err(Error::invalid(
            "PROGRAMMATIC_USER_ROLE",
            "body.role",
            "programmatic users cannot be organization admins",
        ));
    }
    if current == OrgRole::Admin && role == OrgRole::Member {
        check_admins_remain(count_admins(conn, org).await? - 1)?;
    }
    sqlx::query("UPDATE memberships SET role = $1 WHERE organization_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(org.as_i64())
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn default_account_id(conn: &mut AnyConnection, org: OrgId) -> Result<AccountId> {
    let row = sqlx::query("SELECT id FROM accounts WHERE organization_id = $1 AND is_default = 1")
        .bind(org.as_i64())
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    Ok(AccountId::from_stored(row.try_get("id").map_err(db)?))
}

pub(crate) async fn member_role(conn: &mut AnyConnection, org: OrgId, user: &UserId) -> Result<Option<OrgRole>> {
    let row = sqlx::query("SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    Ok(row.map(|r| r.try_get::<String, _>("role").map_err(db)).transpose()?.as_deref().and_then(OrgRole::parse))
}

async fn count_admins(conn: &mut AnyConnection, org: OrgId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE organization_id = $1 AND role = 'admin'")
        .bind(org.as_i64())
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    row.try_get("n").map_err(db)
}

fn user_row(row: &AnyRow) -> Result<OrgUser> {
    let kind: String = row.try_get("kind").map_err(db)?;
    let role: String = row.try_get("role").map_err(db)?;
    Ok(OrgUser {
        user_id: UserId::from_stored(row.try_get("id").map_err(db)?),
        programmatic: kind == "programmatic",
        first_name: row.try_get("first_name").map_err(db)?,
        last_name: row.try_get("last_name").map_err(db)?,
        email: row.try_get("email").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        role: OrgRole::parse(&role).ok_or_else(|| Error::internal(format!("stored org role {role:?}")))?,
        created_at: row.try_get("created_at").map_err(db)?,
        group_names: Vec::new(),
        mfa: row.try_get::<i64, _>("mfa").map_err(db)? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::OrgUser;
    use orgplane_domain::access::OrgRole;
    use orgplane_domain::ids::UserId;

    fn named(first: &str, last: &str) -> OrgUser {
        OrgUser {
            user_id: UserId::from_stored("u-1".into()),
            programmatic: last.is_empty(),
            first_name: first.into(),
            last_name: last.into(),
            email: None,
            description: None,
            role: OrgRole::Member,
            created_at: 0,
            group_names: Vec::new(),
            mfa: false,
        }
    }

    #[test]
    fn the_display_name_is_first_and_last_or_the_first_alone_as_text_and_as_json() {
        let person = named("Ada", "Lovelace");
        assert_eq!(person.display_name().to_string(), "Ada Lovelace");
        assert_eq!(serde_json::to_string(&person.display_name()).unwrap(), r#""Ada Lovelace""#);
        let bot = named("deploy \"bot\"", "");
        assert_eq!(bot.display_name().to_string(), "deploy \"bot\"");
        assert_eq!(serde_json::to_string(&bot.display_name()).unwrap(), r#""deploy \"bot\"""#);
    }
}
