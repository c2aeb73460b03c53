//! Organizations, and the transactions that create one together with its default account and
//! first admin.

use crate::{Store, db, is_unique_violation, now_ms};
use orgplane_domain::access::OrgRole;
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_domain::model::{Membership, Organization};
use orgplane_domain::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A person to create, already validated.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub email_key: String,
    /// Argon2id PHC string, or `None` for a person who signs in by token or reset link only.
    pub password_hash: Option<String>,
}

/// Everything sign-up creates, already validated.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub org_name: String,
    pub division: Option<String>,
    pub person: NewPerson,
}

/// Name of the default account created with every organization.
const DEFAULT_ACCOUNT_NAME: &str = "Default";

impl Store {
    /// Sign-up: the organization (plan `trial`), its default account and the person as its admin,
    /// all or nothing. A taken email is refused with the field named.
    pub async fn register(&self, r: &NewRegistration) -> Result<(OrgId, AccountId, UserId)> {
        let mut tx = self.write_tx().await?;
        let user_id = insert_person(&mut tx, &r.person, "body.user.email").await?;
        let (org_id, account_id) = insert_org(&mut tx, &r.org_name, r.division.as_deref(), Some(&user_id)).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok((org_id, account_id, user_id))
    }

    /// The operator's bootstrap (`orgplane admin create-org`): a new organization whose admin is
    /// the person with this email, created without a password if they do not exist yet.
    pub async fn create_org_with_admin(&self, r: &NewRegistration) -> Result<(OrgId, AccountId, UserId)> {
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query("SELECT id FROM users WHERE email_key = $1")
            .bind(&r.person.email_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let user_id = match existing {
            Some(row) => UserId::from_stored(row.try_get("id").map_err(db)?),
            None => insert_person(&mut tx, &r.person, "email").await?,
        };
        let (org_id, account_id) = insert_org(&mut tx, &r.org_name, r.division.as_deref(), Some(&user_id)).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok((org_id, account_id, user_id))
    }

    /// `POST /setup/organization`: the caller founds another organization and becomes its admin.
    pub async fn create_org_for(&self, user: &UserId, name: &str) -> Result<(OrgId, AccountId)> {
        let mut tx = self.write_tx().await?;
        let ids = insert_org(&mut tx, name, None, Some(user)).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(ids)
    }

    /// The organizations this person belongs to, oldest membership first, then those they run
    /// as an admin of an ancestor (by family and level).
    pub async fn list_memberships(&self, user: &UserId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(concat!(
            "SELECT o.id, o.name, o.division, o.plan, o.created_at, o.require_mfa, m.role, 0 AS inherited, \
             m.created_at AS sort_at \
             FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1 \
             UNION ALL \
             SELECT o.id, o.name, o.division, o.plan, o.created_at, o.require_mfa, 'admin' AS role, 1 AS inherited, \
             o.linked_at AS sort_at \
             FROM organizations o WHERE o.parent_id IS NOT NULL \
             AND o.family_id IN (SELECT family_id FROM memberships WHERE user_id = $1 AND role = 'admin') \
             AND NOT EXISTS (SELECT 1 FROM memberships d WHERE d.organization_id = o.id AND d.user_id = $1) AND ",
            crate::families::inherited_admin!("o.id", "$1"),
            " ORDER BY inherited, sort_at, id"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(membership_row).collect()
    }

    /// One organization, as seen by one of its members or by an admin of one of its ancestors;
    /// `None` for anyone else.
    pub async fn find_membership(&self, user: &UserId, org: OrgId) -> Result<Option<Membership>> {
        let row = sqlx::query(concat!(
            "SELECT o.id, o.name, o.division, o.plan, o.created_at, o.require_mfa, \
             COALESCE(m.role, CASE WHEN ",
            crate::families::inherited_admin!("o.id", "$1"),
            " THEN 'admin' END) AS role, CASE WHEN m.role IS NULL THEN 1 ELSE 0 END AS inherited \
             FROM organizations o LEFT JOIN memberships m ON m.organization_id = o.id AND m.user_id = $1 \
             WHERE o.id = $2"
        ))
        .bind(user.as_str())
        .bind(org.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) if r.try_get::<Option<String>, _>("role").map_err(db)?.is_some() => membership_row(&r).map(Some),
            _ => Ok(None),
        }
    }

    /// Makes a person a member of an organization with `role`, or changes their role.
    pub async fn add_member(&self, org: OrgId, user: &UserId, role: OrgRole) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query("UPDATE memberships SET role = $1 WHERE organization_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(org.as_i64())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if changed.rows_affected() == 0 {
            insert_membership(&mut tx, org, user, role).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn rename_org(&self, org: OrgId, name: &str) -> Result<()> {
        let done = self
            .write_one(sqlx::query("UPDATE organizations SET name = $1 WHERE id = $2").bind(name).bind(org.as_i64()))
            .await?;
        if done.rows_affected() == 0 {
            return Err(org_not_found());
        }
        self.changed().await;
        Ok(())
    }

    /// Turns the second-factor requirement of an organization on or off.
    pub async fn set_require_mfa(&self, org: OrgId, on: bool) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE organizations SET require_mfa = $1 WHERE id = $2")
                .bind(i16::from(on))
                .bind(org.as_i64()),
        )
        .await?;
        self.changed().await;
        Ok(())
    }

    /// How many organizations a person belongs to.
    pub async fn membership_count(&self, user: &UserId) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        row.try_get("n").map_err(db)
    }

    /// Deletes the organization; its accounts, memberships, permissions and tokens go with it
    /// (foreign keys cascade). People stay: they may belong to other organizations.
    pub async fn delete_org(&self, org: OrgId) -> Result<()> {
        let children = sqlx::query("SELECT COUNT(*) AS n FROM organizations WHERE parent_id = $1")
            .bind(org.as_i64())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if children.try_get::<i64, _>("n").map_err(db)? > 0 {
            return Err(Error::rule(
                "ORGANIZATION_HAS_CHILDREN",
                "this organization has child organizations: unlink or delete them first",
            ));
        }
        let done = self.write_one(sqlx::query("DELETE FROM organizations WHERE id = $1").bind(org.as_i64())).await?;
        if done.rows_affected() == 0 {
            return Err(org_not_found());
        }
        self.changed().await;
        Ok(())
    }
}

pub(crate) fn org_not_found() -> Error {
    Error::not_found("ORGANIZATION_DOESNT_EXIST", "path.organizationId", "organization not found")
}

pub(crate) async fn insert_person(conn: &mut AnyConnection, r: &NewPerson, email_field: &str) -> Result<UserId> {
    // Ids are random: `ON CONFLICT (id) DO NOTHING` retries a collision without aborting the
    // transaction, so a unique violation left over can only be the email.
    for _ in 0..5 {
        let user_id = UserId::generate(&mut rand::thread_rng());
        let res = sqlx::query(
            "INSERT INTO users (id, kind, email, email_key, first_name, last_name, password_hash, created_at) \
             VALUES ($1, 'personal', $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(user_id.as_str())
        .bind(&r.email)
        .bind(&r.email_key)
        .bind(&r.first_name)
        .bind(&r.last_name)
        .bind(r.password_hash.as_deref())
        .bind(now_ms())
        .execute(&mut *conn)
        .await;
        match res {
            Ok(done) if done.rows_affected() == 1 => {
                crate::audit::created("user", user_id.as_str());
                return Ok(user_id);
            }
            Ok(_) => continue,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::invalid(
                    "EMAIL_ALREADY_EXISTS",
                    email_field,
                    "a user with this email already exists",
                ));
            }
            Err(e) => return Err(db(e)),
        }
    }
    Err(Error::internal("could not allocate a user id"))
}

/// Inserts an organization with its default account and `admin` as its admin.
/// Inserts an organization (its own family) with its default account, and `admin` as its first
/// member when there is one (a child created by its parent starts with none).
pub(crate) async fn insert_org(
    conn: &mut AnyConnection,
    name: &str,
    division: Option<&str>,
    admin: Option<&UserId>,
) -> Result<(OrgId, AccountId)> {
    let now = now_ms();
    let mut org_id = None;
    for _ in 0..5 {
        let id = OrgId::generate(&mut rand::thread_rng());
        let done = sqlx::query(
            "INSERT INTO organizations (id, name, division, plan, created_at, family_id) \
             VALUES ($1, $2, $3, 'trial', $4, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_i64())
        .bind(name)
        .bind(division)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 1 {
            org_id = Some(id);
            break;
        }
    }
    let org_id = org_id.ok_or_else(|| Error::internal("could not allocate an organization id"))?;
    crate::audit::created("organization", &org_id.to_string());
    // A sign-up has no organization until this one.
    crate::audit::note(|d| {
        d.org.get_or_insert(org_id);
        if let Some(admin) = admin {
            d.user_id.get_or_insert_with(|| admin.to_string());
        }
    });
    if let Some(admin) = admin {
        insert_membership(conn, org_id, admin, OrgRole::Admin).await?;
    }
    let account_id = crate::accounts::insert_account(conn, org_id, DEFAULT_ACCOUNT_NAME, true).await?;
    Ok((org_id, account_id))
}

/// Adds a membership. A person belongs to one organization of a family at most: refused when
/// they are already in another one (the unique index on `(user_id, family_id)` is the last word
/// under concurrency; the query first gives the clear message).
pub(crate) async fn insert_membership(
    conn: &mut AnyConnection,
    org: OrgId,
    user: &UserId,
    role: OrgRole,
) -> Result<()> {
    let elsewhere = sqlx::query(
        "SELECT o.id, o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND m.organization_id <> $2 \
         AND m.family_id = (SELECT family_id FROM organizations WHERE id = $2)",
    )
    .bind(user.as_str())
    .bind(org.as_i64())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    if let Some(row) = elsewhere {
        let name: String = row.try_get("name").map_err(db)?;
        return Err(in_family(&name));
    }
    // A concurrent request that added the same person to this organization first meets the
    // primary key (nothing inserted: "already a member"); one that added them to another
    // organization of the family meets the family index (the error).
    let done = sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role, created_at, family_id) \
         SELECT $1, $2, $3, $4, family_id FROM organizations WHERE id = $1 \
         ON CONFLICT (organization_id, user_id) DO NOTHING",
    )
    .bind(org.as_i64())
    .bind(user.as_str())
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map_err(|e| if is_unique_violation(&e) { in_family("another organization") } else { db(e) })?;
    if done.rows_affected() == 0 {
        return Err(already_member());
    }
    Ok(())
}

pub(crate) fn already_member() -> Error {
    Error::invalid("USER_ALREADY_EXISTS", "body.email", "this person is already a member of the organization")
}

fn in_family(other: &str) -> Error {
    Error::invalid(
        "USER_IN_ORGANIZATION_FAMILY",
        "body.email",
        format!(
            "this person is already a member of {other:?}, in the same family of linked organizations: a person \
             may belong to one organization of a family only"
        ),
    )
}

fn membership_row(row: &AnyRow) -> Result<Membership> {
    let role: String = row.try_get("role").map_err(db)?;
    Ok(Membership {
        organization: Organization {
            id: OrgId::from_i64(row.try_get("id").map_err(db)?),
            name: row.try_get("name").map_err(db)?,
            division: row.try_get("division").map_err(db)?,
            plan: row.try_get("plan").map_err(db)?,
            created_at: row.try_get("created_at").map_err(db)?,
            require_mfa: row.try_get::<i64, _>("require_mfa").map_err(db)? != 0,
        },
        role: OrgRole::parse(&role).ok_or_else(|| Error::internal(format!("stored org role {role:?}")))?,
        inherited: row.try_get::<i64, _>("inherited").map_err(db)? != 0,
    })
}
