//! SCIM 2.0 provisioning (issue #5): the organization's SCIM tokens and settings, and Users and
//! Groups read and written the way `orgplane_domain::scim::resource` maps them.
//!
//! A SCIM User is a person with a membership here (active) or a SCIM record here (deactivated:
//! membership, access and tokens removed, identity kept so the IdP can reactivate it). Writes
//! never reach another organization: a person who also belongs elsewhere keeps their name, and
//! their email cannot be changed from here.

use crate::iam::{check_members, group_not_found, replace_group_users};
use crate::orgs::{NewPerson, insert_membership, insert_person};
use crate::{Store, db, now_ms};
use orgplane_domain::access::OrgRole;
use orgplane_domain::ids::{GroupId, OrgId, UserId};
use orgplane_domain::policy::ACCOUNT_VIEWER_POLICY_ID;
use orgplane_domain::scim::resource::{GroupInput, GroupRecord, Page, ScimRole, UserInput, UserRecord};
use orgplane_domain::scim::{SqlFilter, SqlValue, scim_type};
use orgplane_domain::secret::NewToken;
use orgplane_domain::{Error, Result};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Row};

/// `last_used_at` of a SCIM token is written at most this often.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A SCIM token as its organization's admins see it (never the secret).
#[derive(Debug, Clone)]
pub struct ScimToken {
    pub id: String,
    pub description: Option<String>,
    pub last_digits: String,
    pub created_by: UserId,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The organization a presented SCIM token belongs to.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub org: OrgId,
    pub token_id: String,
}

/// The users a SCIM client can see: members, and people this organization deactivated.
const USER_FROM: &str = "FROM (SELECT user_id FROM memberships WHERE organization_id = $1 \
     UNION SELECT user_id FROM scim_users WHERE organization_id = $1) x \
     JOIN users u ON u.id = x.user_id \
     LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = $1 \
     LEFT JOIN scim_users s ON s.user_id = u.id AND s.organization_id = $1 \
     WHERE u.kind = 'personal'";
const USER_COLUMNS: &str = "u.id, u.email, u.first_name, u.last_name, u.created_at, m.role, m.created_at AS joined_at, s.external_id, s.updated_at";

impl Store {
    // ---- tokens and settings ----

    pub async fn create_scim_token(
        &self,
        org: OrgId,
        description: Option<&str>,
        created_by: &UserId,
        token: &NewToken,
    ) -> Result<ScimToken> {
        let id = format!("sct-{:08x}", rand::random::<u32>());
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO scim_tokens (id, organization_id, hash, last_digits, description, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(org.as_i64())
        .bind(&token.hash)
        .bind(&token.last_digits)
        .bind(description)
        .bind(created_by.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        crate::audit::created("scimToken", &id);
        tx.commit().await.map_err(db)?;
        Ok(ScimToken {
            id,
            description: description.map(str::to_string),
            last_digits: token.last_digits.clone(),
            created_by: created_by.clone(),
            created_at: now,
            last_used_at: None,
        })
    }

    pub async fn list_scim_tokens(&self, org: OrgId) -> Result<Vec<ScimToken>> {
        sqlx::query(
            "SELECT id, description, last_digits, created_by, created_at, last_used_at FROM scim_tokens \
             WHERE organization_id = $1 ORDER BY created_at, id",
        )
        .bind(org.as_i64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(ScimToken {
                id: r.try_get("id").map_err(db)?,
                description: r.try_get("description").map_err(db)?,
                last_digits: r.try_get("last_digits").map_err(db)?,
                created_by: UserId::from_stored(r.try_get("created_by").map_err(db)?),
                created_at: r.try_get("created_at").map_err(db)?,
                last_used_at: r.try_get("last_used_at").map_err(db)?,
            })
        })
        .collect()
    }

    pub async fn delete_scim_token(&self, org: OrgId, id: &str) -> Result<()> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM scim_tokens WHERE organization_id = $1 AND id = $2")
                    .bind(org.as_i64())
                    .bind(id),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("SCIM_TOKEN_DOESNT_EXIST", "path.tokenId", "SCIM token not found"));
        }
        Ok(())
    }

    /// The organization a SCIM token stands for; `None` for unknown or deleted tokens.
    pub async fn scim_caller(&self, hash: &str) -> Result<Option<ScimCaller>> {
        let Some(row) = sqlx::query("SELECT id, organization_id, last_used_at FROM scim_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let caller = ScimCaller {
            org: OrgId::from_i64(row.try_get("organization_id").map_err(db)?),
            token_id: row.try_get("id").map_err(db)?,
        };
        let now = now_ms();
        let last: Option<i64> = row.try_get("last_used_at").map_err(db)?;
        if last.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE scim_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&caller.token_id)
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(Some(caller))
    }

    /// The attribute the organization reads SCIM roles from (`None`: the default, `roles`).
    pub async fn scim_role_attribute(&self, org: OrgId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT scim_role_attribute FROM organizations WHERE id = $1")
            .bind(org.as_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.try_get("scim_role_attribute").map_err(db)).transpose()?.flatten())
    }

    pub async fn set_scim_role_attribute(&self, org: OrgId, attribute: Option<&str>) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE organizations SET scim_role_attribute = $1 WHERE id = $2")
                .bind(attribute)
                .bind(org.as_i64()),
        )
        .await?;
        self.changed().await;
        Ok(())
    }

    // ---- Users ----

    /// One page of the organization's SCIM users matching `filter` (placeholders from `$2`),
    /// and how many match in all.
    pub async fn scim_users(
        &self,
        org: OrgId,
        filter: Option<&SqlFilter>,
        page: Page,
    ) -> Result<(i64, Vec<UserRecord>)> {
        let from = format!("{USER_FROM}{}", condition(filter));
        let (total, rows) = self.filtered_page(org, &from, USER_COLUMNS, "u.created_at, u.id", filter, page).await?;
        let mut users = rows.iter().map(user_record).collect::<Result<Vec<_>>>()?;
        self.attach_groups(org, &mut users).await?;
        Ok((total, users))
    }

    pub async fn scim_user(&self, org: OrgId, id: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} {USER_FROM} AND u.id = $2");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_i64())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let mut users = vec![user_record(&row)?];
        self.attach_groups(org, &mut users).await?;
        Ok(users.pop())
    }

    async fn attach_groups(&self, org: OrgId, users: &mut [UserRecord]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let placeholders = (0..users.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT gm.user_id, g.id, g.name FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
             WHERE gm.organization_id = $1 AND gm.user_id IN ({placeholders}) ORDER BY g.name, g.id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_i64());
        for u in users.iter() {
            query = query.bind(u.id.clone());
        }
        for row in query.fetch_all(&self.pool).await.map_err(db)? {
            let user: String = row.try_get("user_id").map_err(db)?;
            if let Some(u) = users.iter_mut().find(|u| u.id == user) {
                u.groups.push((row.try_get("id").map_err(db)?, row.try_get("name").map_err(db)?));
            }
        }
        Ok(())
    }

    /// Provisions a person: a new identity, or a membership for a person known to the
    /// installation. Someone this organization already has (active or deactivated) is a
    /// `uniqueness` conflict, so the client looks them up instead.
    pub async fn scim_create_user(&self, org: OrgId, input: &UserInput) -> Result<String> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        let existing = sqlx::query("SELECT id FROM users WHERE email_key = $1")
            .bind(&input.email_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let user = match existing {
            Some(row) => {
                let id = UserId::from_stored(row.try_get("id").map_err(db)?);
                if is_scim_visible(&mut tx, org, &id).await? {
                    return Err(conflict("userName", "a user with this userName already exists in this organization"));
                }
                id
            }
            None => {
                let person = NewPerson {
                    first_name: input.first_name.clone(),
                    last_name: input.last_name.clone(),
                    email: input.email.clone(),
                    email_key: input.email_key.clone(),
                    password_hash: None,
                };
                insert_person(&mut tx, &person, "userName").await?
            }
        };
        put_scim_record(&mut tx, org, &user, input.external_id.as_deref()).await?;
        if input.active {
            activate(&mut tx, org, &user, input.role.unwrap_or(ScimRole::Viewer)).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(user.to_string())
    }

    /// Replaces a user with `input` (PUT, and PATCH after the patch is applied): profile,
    /// external id, role, and active state.
    pub async fn scim_replace_user(&self, org: OrgId, id: &str, input: &UserInput) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        let user = UserId::from_stored(id.to_string());
        if !is_scim_visible(&mut tx, org, &user).await? {
            return Err(scim_user_not_found());
        }
        let row = sqlx::query("SELECT email_key FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let current_key: String = row.try_get("email_key").map_err(db)?;
        let shared = sqlx::query("SELECT 1 FROM memberships WHERE user_id = $1 AND organization_id <> $2")
            .bind(user.as_str())
            .bind(org.as_i64())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_some();
        if current_key != input.email_key && shared {
            return Err(Error::invalid(
                scim_type::MUTABILITY,
                "userName",
                "this person also belongs to other organizations; their userName cannot be changed from here",
            ));
        }
        if !shared {
            let done = sqlx::query(
                "UPDATE users SET email = $1, email_key = $2, first_name = $3, last_name = $4 WHERE id = $5",
            )
            .bind(&input.email)
            .bind(&input.email_key)
            .bind(&input.first_name)
            .bind(&input.last_name)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await;
            match done {
                Err(e) if crate::is_unique_violation(&e) => {
                    return Err(conflict("userName", "another user already has this userName"));
                }
                other => other.map_err(db)?,
            };
        }
        put_scim_record(&mut tx, org, &user, input.external_id.as_deref()).await?;
        let member = current_role(&mut tx, org, &user).await?;
        match (member, input.active) {
            (None, true) => activate(&mut tx, org, &user, input.role.unwrap_or(ScimRole::Viewer)).await?,
            (Some(_), true) => {
                if let Some(role) = input.role {
                    apply_role(&mut tx, org, &user, role).await?;
                }
            }
            (Some(_), false) => crate::people::strip_membership(&mut tx, org, &user).await?,
            (None, false) => {}
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Removes a user from the organization for good: membership, access, tokens and the SCIM
    /// record. A person with no other organization is deleted.
    pub async fn scim_delete_user(&self, org: OrgId, id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        let user = UserId::from_stored(id.to_string());
        if !is_scim_visible(&mut tx, org, &user).await? {
            return Err(scim_user_not_found());
        }
        if current_role(&mut tx, org, &user).await?.is_some() {
            crate::people::strip_membership(&mut tx, org, &user).await?;
        }
        sqlx::query("DELETE FROM scim_users WHERE organization_id = $1 AND user_id = $2")
            .bind(org.as_i64())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        crate::people::delete_if_orphaned(&mut tx, &user).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    // ---- Groups ----

    pub async fn scim_groups(
        &self,
        org: OrgId,
        filter: Option<&SqlFilter>,
        page: Page,
    ) -> Result<(i64, Vec<GroupRecord>)> {
        let from = format!("FROM user_groups g WHERE g.organization_id = $1{}", condition(filter));
        let columns = "g.id, g.name, g.created_at, g.updated_at";
        let (total, rows) = self.filtered_page(org, &from, columns, "g.created_at, g.id", filter, page).await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            groups.push(self.group_record(org, row).await?);
        }
        Ok((total, groups))
    }

    pub async fn scim_group(&self, org: OrgId, id: &str) -> Result<Option<GroupRecord>> {
        let row = sqlx::query(
            "SELECT g.id, g.name, g.created_at, g.updated_at FROM user_groups g WHERE g.organization_id = $1 AND g.id = $2",
        )
        .bind(org.as_i64())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => Ok(Some(self.group_record(org, &row).await?)),
            None => Ok(None),
        }
    }

    async fn group_record(&self, org: OrgId, row: &AnyRow) -> Result<GroupRecord> {
        let id: String = row.try_get("id").map_err(db)?;
        let members = sqlx::query(
            "SELECT u.id, u.first_name, u.last_name FROM group_members gm JOIN users u ON u.id = gm.user_id \
             WHERE gm.organization_id = $1 AND gm.group_id = $2 ORDER BY u.id",
        )
        .bind(org.as_i64())
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let first: String = r.try_get("first_name").map_err(db)?;
            let last: String = r.try_get("last_name").map_err(db)?;
            let display = if last.is_empty() { first } else { format!("{first} {last}") };
            Ok((r.try_get("id").map_err(db)?, display))
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(GroupRecord {
            id,
            name: row.try_get("name").map_err(db)?,
            members,
            created_at: row.try_get("created_at").map_err(db)?,
            updated_at: row.try_get("updated_at").map_err(db)?,
        })
    }

    pub async fn scim_create_group(&self, org: OrgId, input: &GroupInput) -> Result<String> {
        let members = member_ids(input);
        let mut tx = self.write_tx().await?;
        check_members(&mut tx, org, &members, "members").await.map_err(unknown_member)?;
        let id = GroupId::generate(&mut rand::thread_rng());
        crate::audit::created("userGroup", id.as_str());
        sqlx::query(
            "INSERT INTO user_groups (id, organization_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $4)",
        )
        .bind(id.as_str())
        .bind(org.as_i64())
        .bind(&input.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        replace_group_users(&mut tx, org, &id, &members).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(id.to_string())
    }

    /// Replaces a group's name and members in one transaction.
    pub async fn scim_replace_group(&self, org: OrgId, id: &str, input: &GroupInput) -> Result<()> {
        let members = member_ids(input);
        let group = GroupId::from_stored(id.to_string());
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE user_groups SET name = $1, updated_at = $2 WHERE organization_id = $3 AND id = $4")
                .bind(&input.name)
                .bind(now_ms())
                .bind(org.as_i64())
                .bind(group.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(group_not_found().in_field("id"));
        }
        check_members(&mut tx, org, &members, "members").await.map_err(unknown_member)?;
        replace_group_users(&mut tx, org, &group, &members).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// How many rows `from` (which binds the organization as `$1` and the filter from `$2`)
    /// holds, and one page of them in `order`.
    async fn filtered_page(
        &self,
        org: OrgId,
        from: &str,
        columns: &str,
        order: &str,
        filter: Option<&SqlFilter>,
        page: Page,
    ) -> Result<(i64, Vec<AnyRow>)> {
        let params = filter.map_or(&[][..], |f| &f.params[..]);
        let count_sql = format!("SELECT COUNT(*) AS n {from}");
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)).bind(org.as_i64()), params)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;
        if page.count == 0 || page.offset() >= total {
            return Ok((total, Vec::new()));
        }
        let n = params.len() + 2;
        let list_sql = format!("SELECT {columns} {from} ORDER BY {order} LIMIT ${n} OFFSET ${}", n + 1);
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(list_sql)).bind(org.as_i64()), params)
            .bind(page.count)
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok((total, rows))
    }
}

/// A filter as an `AND (…)` suffix of a `WHERE` clause.
fn condition(filter: Option<&SqlFilter>) -> String {
    filter.map_or(String::new(), |f| format!(" AND ({})", f.sql))
}

fn member_ids(input: &GroupInput) -> Vec<UserId> {
    input.members.iter().map(|m| UserId::from_stored(m.clone())).collect()
}

/// A member that is not a person of this organization: the client's mistake, not a missing
/// resource.
fn unknown_member(e: Error) -> Error {
    match e {
        // The message names no id: it could be another organization's.
        Error::NotFound { field, .. } => Error::Invalid {
            code: scim_type::INVALID_VALUE,
            message: format!("{} is not a person of this organization", field.as_deref().unwrap_or("a member")),
            field,
        },
        other => other,
    }
}

fn conflict(field: &str, message: &str) -> Error {
    Error::invalid("uniqueness", field, message)
}

pub(crate) fn scim_user_not_found() -> Error {
    Error::not_found("USER_DOESNT_EXIST", "id", "user not found")
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, AnyArguments>,
    params: &'q [SqlValue],
) -> sqlx::query::Query<'q, sqlx::Any, AnyArguments> {
    for p in params {
        query = match p {
            SqlValue::Text(s) => query.bind(s.as_str()),
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Bool(b) => query.bind(i16::from(*b)),
        };
    }
    query
}

fn user_record(row: &AnyRow) -> Result<UserRecord> {
    let role: Option<String> = row.try_get("role").map_err(db)?;
    let joined: Option<i64> = row.try_get("joined_at").map_err(db)?;
    let touched: Option<i64> = row.try_get("updated_at").map_err(db)?;
    let created_at: i64 = row.try_get("created_at").map_err(db)?;
    let role = role.as_deref().map(|r| if r == OrgRole::Admin.as_str() { ScimRole::Editor } else { ScimRole::Viewer });
    Ok(UserRecord {
        id: row.try_get("id").map_err(db)?,
        email: row.try_get::<Option<String>, _>("email").map_err(db)?.unwrap_or_default(),
        first_name: row.try_get("first_name").map_err(db)?,
        last_name: row.try_get("last_name").map_err(db)?,
        active: role.is_some(),
        external_id: row.try_get("external_id").map_err(db)?,
        role,
        created_at,
        updated_at: touched.or(joined).unwrap_or(created_at),
        groups: Vec::new(),
    })
}

async fn is_scim_visible(conn: &mut AnyConnection, org: OrgId, user: &UserId) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM users u WHERE u.id = $2 AND u.kind = 'personal' AND (\
         EXISTS (SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2) OR \
         EXISTS (SELECT 1 FROM scim_users WHERE organization_id = $1 AND user_id = $2))",
    )
    .bind(org.as_i64())
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    Ok(row.is_some())
}

async fn current_role(conn: &mut AnyConnection, org: OrgId, user: &UserId) -> Result<Option<OrgRole>> {
    let row = sqlx::query("SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org.as_i64())
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    Ok(row.map(|r| r.try_get::<String, _>("role").map_err(db)).transpose()?.as_deref().and_then(OrgRole::parse))
}

async fn put_scim_record(conn: &mut AnyConnection, org: OrgId, user: &UserId, external_id: Option<&str>) -> Result<()> {
    sqlx::query(
        "INSERT INTO scim_users (organization_id, user_id, external_id, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organization_id, user_id) DO UPDATE SET external_id = excluded.external_id, updated_at = excluded.updated_at",
    )
    .bind(org.as_i64())
    .bind(user.as_str())
    .bind(external_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Gives a person a membership with the SCIM role.
async fn activate(conn: &mut AnyConnection, org: OrgId, user: &UserId, role: ScimRole) -> Result<()> {
    let org_role = if role == ScimRole::Editor { OrgRole::Admin } else { OrgRole::Member };
    insert_membership(&mut *conn, org, user, org_role).await.map_err(|e| match e {
        Error::Invalid { code, message, .. } => Error::Invalid { code, message, field: Some("userName".into()) },
        other => other,
    })?;
    if role == ScimRole::Viewer {
        grant_viewer(conn, org, user).await?;
    }
    Ok(())
}

/// Spot's mapping, re-applied on every replace: Editor is an organization admin, Viewer holds
/// the Account Viewer policy on every account (current and future).
async fn apply_role(conn: &mut AnyConnection, org: OrgId, user: &UserId, role: ScimRole) -> Result<()> {
    match role {
        ScimRole::Editor => crate::people::put_org_role(conn, org, user, OrgRole::Admin).await,
        ScimRole::Viewer => {
            crate::people::put_org_role(conn, org, user, OrgRole::Member).await?;
            grant_viewer(conn, org, user).await
        }
    }
}

async fn grant_viewer(conn: &mut AnyConnection, org: OrgId, user: &UserId) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_policies (organization_id, user_id, policy_id, account_ids) VALUES ($1, $2, $3, '[\"*\"]') \
         ON CONFLICT (organization_id, user_id, policy_id) DO UPDATE SET account_ids = excluded.account_ids",
    )
    .bind(org.as_i64())
    .bind(user.as_str())
    .bind(ACCOUNT_VIEWER_POLICY_ID)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
