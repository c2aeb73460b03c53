//! Linked organizations: children, invitations, unlinking, and who pays for whom. The tree rules
//! live in `orgplane_domain::family`; this module loads a family, asks the domain, and writes.
//!
//! Inheritance is not stored: [`inherited_admin!`] is the SQL every role lookup (tokens, grants,
//! memberships) asks, so a parent admin's powers over a child end the moment the link or their
//! own admin role does.

use crate::{Store, db, now_ms};
use orgplane_domain::family::{self, Billing, Family, Node};
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_domain::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// SQL that is true when user `$user` is an admin of an ancestor of organization `$org` (the
/// arguments are SQL expressions). Four joins reach the four ancestors a five-level family can
/// have. A macro so that queries can `concat!` it.
macro_rules! inherited_admin {
    ($org:literal, $user:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM organizations c \
             LEFT JOIN organizations p1 ON p1.id = c.parent_id \
             LEFT JOIN organizations p2 ON p2.id = p1.parent_id \
             LEFT JOIN organizations p3 ON p3.id = p2.parent_id \
             JOIN memberships pm ON pm.organization_id IN (c.parent_id, p1.parent_id, p2.parent_id, p3.parent_id) \
             WHERE c.id = ",
            $org,
            " AND pm.user_id = ",
            $user,
            " AND pm.role = 'admin')"
        )
    };
}
pub(crate) use inherited_admin;

/// A direct child, as its parent's admins see it.
#[derive(Debug, Clone)]
pub struct ChildOrganization {
    pub id: OrgId,
    pub name: String,
    pub billing: Billing,
    pub linked_at: i64,
    pub account_count: i64,
    pub user_count: i64,
    /// Its own children (the grandchildren of the listing organization).
    pub child_count: i64,
}

/// An open invitation for one organization to become another's child.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub parent_id: OrgId,
    pub parent_name: String,
    pub child_id: OrgId,
    pub child_name: String,
    pub billing: Billing,
    pub invited_by: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

const INVITATION_COLUMNS: &str = "i.id, i.parent_id, p.name AS parent_name, i.child_id, c.name AS child_name, \
     i.billing, i.invited_by, i.created_at, i.expires_at \
     FROM organization_invitations i JOIN organizations p ON p.id = i.parent_id \
     JOIN organizations c ON c.id = i.child_id";

impl Store {
    /// Creates a child of `parent` with its default account and no members of its own: the
    /// parent's admins run it until they add people.
    pub async fn create_child_org(&self, parent: OrgId, name: &str, billing: Billing) -> Result<(OrgId, AccountId)> {
        let mut tx = self.write_tx().await?;
        let parent_family = lock_family(&mut tx, self, parent).await?;
        family::check_new_child(&parent_family, parent)?;
        let (child, account) = crate::orgs::insert_org(&mut tx, name, None, None).await?;
        attach(&mut tx, parent, child, billing).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok((child, account))
    }

    /// The direct children of `parent`, with their account and user counts.
    pub async fn list_children(&self, parent: OrgId) -> Result<Vec<ChildOrganization>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.billing, o.linked_at, \
             (SELECT COUNT(*) FROM accounts a WHERE a.organization_id = o.id) AS account_count, \
             (SELECT COUNT(*) FROM memberships m WHERE m.organization_id = o.id) AS user_count, \
             (SELECT COUNT(*) FROM organizations g WHERE g.parent_id = o.id) AS child_count \
             FROM organizations o WHERE o.parent_id = $1 ORDER BY o.linked_at, o.id",
        )
        .bind(parent.as_i64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ChildOrganization {
                    id: OrgId::from_i64(r.try_get("id").map_err(db)?),
                    name: r.try_get("name").map_err(db)?,
                    billing: stored_billing(r.try_get::<Option<String>, _>("billing").map_err(db)?.as_deref())?,
                    linked_at: r.try_get::<Option<i64>, _>("linked_at").map_err(db)?.unwrap_or_default(),
                    account_count: r.try_get("account_count").map_err(db)?,
                    user_count: r.try_get("user_count").map_err(db)?,
                    child_count: r.try_get("child_count").map_err(db)?,
                })
            })
            .collect()
    }

    /// Invites `child` to become a child of `parent`; a second invitation between the same two
    /// replaces the first. The child must exist, and the link must be possible today.
    pub async fn invite_child(&self, parent: OrgId, child: OrgId, billing: Billing, by: &UserId) -> Result<Invitation> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT id FROM organizations WHERE id = $1")
            .bind(child.as_i64())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(Error::not_found(
                "ORGANIZATION_DOESNT_EXIST",
                "body.childOrganizationId",
                "organization not found",
            ));
        }
        check_link(&mut tx, self, parent, child).await?;
        let id = format!("oin-{:08x}", rand::random::<u32>());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO organization_invitations (id, parent_id, child_id, billing, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (parent_id, child_id) DO UPDATE SET id = excluded.id, \
             billing = excluded.billing, invited_by = excluded.invited_by, created_at = excluded.created_at, \
             expires_at = excluded.expires_at",
        )
        .bind(&id)
        .bind(parent.as_i64())
        .bind(child.as_i64())
        .bind(billing.as_str())
        .bind(by.as_str())
        .bind(now)
        .bind(now + family::INVITATION_TTL_MS)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        crate::audit::created("organizationInvitation", &id);
        let invitation = find_invitation(&mut tx, &id).await?.ok_or_else(|| Error::internal("invitation vanished"))?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(invitation)
    }

    /// Open invitations `org` sent (as parent) or received (as child), newest first.
    pub async fn list_invitations(&self, org: OrgId) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} WHERE (i.parent_id = $1 OR i.child_id = $1) AND i.expires_at > $2 \
             ORDER BY i.created_at DESC, i.id"
        )))
        .bind(org.as_i64())
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(invitation_row).collect()
    }

    /// The child accepts: it (with everything below it) joins the parent's family.
    pub async fn accept_invitation(&self, child: OrgId, id: &str) -> Result<Invitation> {
        let mut tx = self.write_tx().await?;
        let invitation = find_invitation(&mut tx, id)
            .await?
            .filter(|i| i.child_id == child && i.expires_at > now_ms())
            .ok_or_else(invitation_not_found)?;
        check_link(&mut tx, self, invitation.parent_id, child).await?;
        attach(&mut tx, invitation.parent_id, child, invitation.billing).await?;
        sqlx::query("DELETE FROM organization_invitations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(invitation)
    }

    /// Withdraws (parent) or declines (child) an invitation of `org`'s.
    pub async fn delete_invitation(&self, org: OrgId, id: &str) -> Result<()> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM organization_invitations WHERE id = $1 AND (parent_id = $2 OR child_id = $2)")
                    .bind(id)
                    .bind(org.as_i64()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(invitation_not_found());
        }
        self.changed().await;
        Ok(())
    }

    /// Changes how a direct child of `parent` is billed.
    pub async fn set_child_billing(&self, parent: OrgId, child: OrgId, billing: Billing) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE organizations SET billing = $1 WHERE id = $2 AND parent_id = $3")
            .bind(billing.as_str())
            .bind(child.as_i64())
            .bind(parent.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(child_not_found());
        }
        let family = load_family(&mut tx, parent).await?;
        sync_plans(&mut tx, &family, family.payer(child)).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Unlinks a direct child of `parent`: it becomes the root of its own family, with
    /// everything below it. Refused when it has no admin of its own (it would have none left).
    pub async fn unlink_child(&self, parent: OrgId, child: OrgId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let family = lock_family(&mut tx, self, parent).await?;
        if family.0.iter().all(|n| !(n.id == child && n.parent == Some(parent))) {
            return Err(child_not_found());
        }
        let own_admins =
            sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE organization_id = $1 AND role = 'admin'")
                .bind(child.as_i64())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
                .try_get::<i64, _>("n")
                .map_err(db)?;
        if own_admins == 0 {
            return Err(Error::rule(
                "CHILD_HAS_NO_ADMIN",
                "this organization has no admin of its own: make someone its admin before unlinking it",
            ));
        }
        sqlx::query("UPDATE organizations SET parent_id = NULL, billing = NULL, linked_at = NULL WHERE id = $1")
            .bind(child.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        set_family(&mut tx, &family.subtree(child), child).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// The parent of `org`, if it is a child.
    pub async fn parent_of(&self, org: OrgId) -> Result<Option<OrgId>> {
        let row = sqlx::query("SELECT parent_id FROM organizations WHERE id = $1")
            .bind(org.as_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.and_then(|r| r.try_get::<Option<i64>, _>("parent_id").ok().flatten()).map(OrgId::from_i64))
    }

    /// Who pays for `org`, and the organizations its bill covers (itself first), with their
    /// names: those it pays for, or with `whole_subtree` everything below it (the family report).
    pub async fn billing_family(&self, org: OrgId, whole_subtree: bool) -> Result<(OrgId, Vec<(OrgId, String)>)> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let family = load_family(&mut conn, org).await?;
        let covered = if whole_subtree { family.subtree(org) } else { family.billed_to(org) };
        let mut sections = Vec::new();
        for id in covered {
            let row = sqlx::query("SELECT name FROM organizations WHERE id = $1")
                .bind(id.as_i64())
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
            sections.push((id, row.try_get("name").map_err(db)?));
        }
        Ok((family.payer(org), sections))
    }
}

/// Every organization of `org`'s family.
async fn load_family(conn: &mut AnyConnection, org: OrgId) -> Result<Family> {
    let rows = sqlx::query(
        "SELECT id, parent_id, billing FROM organizations \
         WHERE family_id = (SELECT family_id FROM organizations WHERE id = $1)",
    )
    .bind(org.as_i64())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let nodes = rows
        .iter()
        .map(|r| {
            let billing: Option<String> = r.try_get("billing").map_err(db)?;
            Ok(Node {
                id: OrgId::from_i64(r.try_get("id").map_err(db)?),
                parent: r.try_get::<Option<i64>, _>("parent_id").map_err(db)?.map(OrgId::from_i64),
                billing: billing.as_deref().map(|b| stored_billing(Some(b))).transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Family(nodes))
}

/// Loads `org`'s family after locking its root row, so that two links into one family
/// serialise on PostgreSQL (SQLite's writer lock already does).
async fn lock_family(conn: &mut AnyConnection, store: &Store, org: OrgId) -> Result<Family> {
    let root = family_root(conn, org).await?;
    store.lock_org(conn, root).await?;
    load_family(conn, org).await
}

/// The root of `org`'s family.
async fn family_root(conn: &mut AnyConnection, org: OrgId) -> Result<OrgId> {
    let row = sqlx::query("SELECT family_id FROM organizations WHERE id = $1")
        .bind(org.as_i64())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or_else(crate::orgs::org_not_found)?;
    Ok(OrgId::from_i64(row.try_get::<i64, _>("family_id").map_err(db)?))
}

/// Refuses a link the tree rules forbid, or one that would put a person in two organizations
/// of the joined family (naming up to five of them).
async fn check_link(conn: &mut AnyConnection, store: &Store, parent: OrgId, child: OrgId) -> Result<()> {
    // Both roots locked in id order, so that two crossing links cannot deadlock.
    let mut roots = [family_root(conn, parent).await?, family_root(conn, child).await?];
    roots.sort_by_key(|r| r.as_i64());
    for root in roots {
        store.lock_org(conn, root).await?;
    }
    let parent_family = load_family(conn, parent).await?;
    let child_family = load_family(conn, child).await?;
    family::check_link(&parent_family, parent, &child_family, child)?;
    let both = sqlx::query(
        "SELECT DISTINCT u.email FROM memberships a JOIN memberships b ON b.user_id = a.user_id \
         JOIN users u ON u.id = a.user_id \
         WHERE a.family_id = (SELECT family_id FROM organizations WHERE id = $1) \
         AND b.family_id = (SELECT family_id FROM organizations WHERE id = $2) ORDER BY u.email LIMIT 5",
    )
    .bind(parent.as_i64())
    .bind(child.as_i64())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if !both.is_empty() {
        let emails = both
            .iter()
            .map(|r| r.try_get::<Option<String>, _>("email").map(Option::unwrap_or_default))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db)?;
        return Err(Error::invalid(
            "USER_IN_ORGANIZATION_FAMILY",
            "body.childOrganizationId",
            format!(
                "a person may belong to one organization of a family only, and these belong to both: {}",
                emails.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Makes `child` (a root, with its subtree) a child of `parent`.
async fn attach(conn: &mut AnyConnection, parent: OrgId, child: OrgId, billing: Billing) -> Result<()> {
    let child_family = load_family(conn, child).await?;
    sqlx::query("UPDATE organizations SET parent_id = $1, billing = $2, linked_at = $3 WHERE id = $4")
        .bind(parent.as_i64())
        .bind(billing.as_str())
        .bind(now_ms())
        .bind(child.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let root = family_root(conn, parent).await?;
    set_family(conn, &child_family.subtree(child), root).await?;
    let family = load_family(conn, parent).await?;
    sync_plans(conn, &family, family.payer(child)).await
}

/// Moves organizations (and their memberships) into the family headed by `root`.
async fn set_family(conn: &mut AnyConnection, orgs: &[OrgId], root: OrgId) -> Result<()> {
    for org in orgs {
        for table in [
            "UPDATE organizations SET family_id = $1 WHERE id = $2",
            "UPDATE memberships SET family_id = $1 WHERE organization_id = $2",
        ] {
            sqlx::query(table).bind(root.as_i64()).bind(org.as_i64()).execute(&mut *conn).await.map_err(|e| {
                if crate::is_unique_violation(&e) {
                    Error::rule(
                        "USER_IN_ORGANIZATION_FAMILY",
                        "a person may belong to one organization of a family only",
                    )
                } else {
                    db(e)
                }
            })?;
        }
    }
    Ok(())
}

/// Organizations billed to `payer` are on its plan: a parent that activated pays for its
/// shared children, whose own trials then no longer matter.
pub(crate) async fn sync_plans(conn: &mut AnyConnection, family: &Family, payer: OrgId) -> Result<()> {
    for org in family.billed_to(payer).into_iter().filter(|o| *o != payer) {
        sqlx::query(
            "UPDATE organizations SET plan = (SELECT p.plan FROM organizations p WHERE p.id = $1), \
             activated_at = (SELECT p.activated_at FROM organizations p WHERE p.id = $1) WHERE id = $2",
        )
        .bind(payer.as_i64())
        .bind(org.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Re-applies the payer's plan to the organizations it pays for (after an activation or the
/// operator's plan change).
pub(crate) async fn sync_family_plans(conn: &mut AnyConnection, payer: OrgId) -> Result<()> {
    let family = load_family(conn, payer).await?;
    sync_plans(conn, &family, payer).await
}

async fn find_invitation(conn: &mut AnyConnection, id: &str) -> Result<Option<Invitation>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {INVITATION_COLUMNS} WHERE i.id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(invitation_row).transpose()
}

fn invitation_row(r: &AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: r.try_get("id").map_err(db)?,
        parent_id: OrgId::from_i64(r.try_get("parent_id").map_err(db)?),
        parent_name: r.try_get("parent_name").map_err(db)?,
        child_id: OrgId::from_i64(r.try_get("child_id").map_err(db)?),
        child_name: r.try_get("child_name").map_err(db)?,
        billing: stored_billing(Some(&r.try_get::<String, _>("billing").map_err(db)?))?,
        invited_by: UserId::from_stored(r.try_get("invited_by").map_err(db)?),
        created_at: r.try_get("created_at").map_err(db)?,
        expires_at: r.try_get("expires_at").map_err(db)?,
    })
}

fn stored_billing(s: Option<&str>) -> Result<Billing> {
    Billing::parse("billing", s.unwrap_or_default()).map_err(|_| Error::internal(format!("stored billing {s:?}")))
}

fn invitation_not_found() -> Error {
    Error::not_found("INVITATION_DOESNT_EXIST", "path.invitationId", "invitation not found or expired")
}

fn child_not_found() -> Error {
    Error::not_found("CHILD_ORGANIZATION_DOESNT_EXIST", "path.childOrganizationId", "not a child of this organization")
}
