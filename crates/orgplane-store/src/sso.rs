//! SAML single sign-on: each organization's identity provider and settings, the AuthnRequest
//! ids we sent, the replay cache of consumed assertions, logins waiting for an organization
//! choice, and the just-in-time sign-in (person, membership and Spot's attributes in one
//! transaction). Everything lives in the database, so replicas share it.

use crate::iam::{check_groups, load_catalog, put_account_permission, replace_user_groups};
use crate::orgs::{NewPerson, insert_membership, insert_person};
use crate::people::{default_account_id, member_role};
use crate::{Store, db, now_ms};
use orgplane_domain::access::OrgRole;
use orgplane_domain::iam::{AccountPermission, OrgCatalog, check_account_policies};
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_domain::sso::{AllowedAccounts, DefaultRole, Grants};
use orgplane_domain::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

/// At most this many AuthnRequests may wait per organization (the login route is public).
pub const MAX_PENDING_REQUESTS: i64 = 5000;

/// An organization's SSO configuration.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// orgplane-saml's `IdpConfig` as JSON.
    pub idp: String,
    pub entity_id: String,
    pub default_role: DefaultRole,
    pub allowed_accounts: AllowedAccounts,
    pub allow_idp_initiated: bool,
    pub enforce: bool,
    pub updated_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A verified person to sign in, with what the assertion grants in the organization.
#[derive(Debug, Clone)]
pub struct SsoSignIn {
    pub email: String,
    pub email_key: String,
    pub first_name: String,
    pub last_name: String,
    pub grants: Grants,
}

const COLUMNS: &str = "idp, entity_id, default_role, allowed_accounts, allow_idp_initiated, enforce, updated_by, \
                       created_at, updated_at";

fn settings_row(row: &AnyRow) -> Result<SsoSettings> {
    let role: String = row.try_get("default_role").map_err(db)?;
    let accounts: String = row.try_get("allowed_accounts").map_err(db)?;
    Ok(SsoSettings {
        idp: row.try_get("idp").map_err(db)?,
        entity_id: row.try_get("entity_id").map_err(db)?,
        default_role: DefaultRole::parse("stored", &role).map_err(Error::internal)?,
        allowed_accounts: AllowedAccounts::parse("stored", &accounts).map_err(Error::internal)?,
        allow_idp_initiated: row.try_get::<i16, _>("allow_idp_initiated").map_err(db)? != 0,
        enforce: row.try_get::<i16, _>("enforce").map_err(db)? != 0,
        updated_by: row.try_get("updated_by").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

impl Store {
    /// The organization's SSO settings, `None` when SSO is off.
    pub async fn sso_settings(&self, org: OrgId) -> Result<Option<SsoSettings>> {
        let sql = format!("SELECT {COLUMNS} FROM sso_providers WHERE organization_id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_i64()).fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(settings_row).transpose()
    }

    /// Turns SSO on or replaces the provider (a new IdP keeps every person and token).
    pub async fn put_sso_settings(&self, org: OrgId, s: &SsoSettings) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sso_providers (organization_id, idp, entity_id, default_role, allowed_accounts, \
             allow_idp_initiated, enforce, updated_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (organization_id) DO UPDATE SET idp = excluded.idp, entity_id = excluded.entity_id, \
             default_role = excluded.default_role, allowed_accounts = excluded.allowed_accounts, \
             allow_idp_initiated = excluded.allow_idp_initiated, enforce = excluded.enforce, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(org.as_i64())
        .bind(&s.idp)
        .bind(&s.entity_id)
        .bind(s.default_role.as_str())
        .bind(s.allowed_accounts.as_str())
        .bind(i16::from(s.allow_idp_initiated))
        .bind(i16::from(s.enforce))
        .bind(&s.updated_by)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Requests sent to the previous IdP are void.
        sqlx::query("DELETE FROM saml_requests WHERE organization_id = $1")
            .bind(org.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Turns SSO off; false when it was not on.
    pub async fn delete_sso_settings(&self, org: OrgId) -> Result<bool> {
        let done = self
            .write_one(sqlx::query("DELETE FROM sso_providers WHERE organization_id = $1").bind(org.as_i64()))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The organization a person signs in to by default (their first membership, the rule the
    /// password grant follows) with its SSO settings, when that organization has SSO.
    pub async fn sso_for_email(&self, email_key: &str) -> Result<Option<(OrgId, SsoSettings)>> {
        let row = sqlx::query(
            "SELECT m.organization_id FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE u.email_key = $1 ORDER BY m.created_at, m.organization_id LIMIT 1",
        )
        .bind(email_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let org = OrgId::from_i64(row.try_get("organization_id").map_err(db)?);
        Ok(self.sso_settings(org).await?.map(|s| (org, s)))
    }

    /// Whether `org` enforces SSO, or the person's default organization does (Spot's default-org
    /// rule): the organization that refuses their password, if any.
    pub async fn sso_enforced_for(&self, user: &UserId, org: OrgId) -> Result<Option<OrgId>> {
        let row = sqlx::query(
            "SELECT m.organization_id FROM memberships m WHERE m.user_id = $1 \
             ORDER BY m.created_at, m.organization_id LIMIT 1",
        )
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let default = row.map(|r| r.try_get::<i64, _>("organization_id").map_err(db)).transpose()?.map(OrgId::from_i64);
        for candidate in default.into_iter().chain([org]) {
            let enforced = sqlx::query("SELECT 1 FROM sso_providers WHERE organization_id = $1 AND enforce = 1")
                .bind(candidate.as_i64())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            if enforced.is_some() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Remembers an AuthnRequest id for `org` until `expires_at`; prunes expired ones.
    pub async fn remember_saml_request(&self, org: OrgId, id: &str, expires_at: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM saml_requests WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let waiting: i64 = sqlx::query("SELECT COUNT(*) AS n FROM saml_requests WHERE organization_id = $1")
            .bind(org.as_i64())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;
        if waiting >= MAX_PENDING_REQUESTS {
            return Err(Error::RateLimited {
                code: "TOO_MANY_SSO_REQUESTS",
                message: "too many sign-ins with SSO are in progress for this organization; try again shortly".into(),
                retry_after_secs: 60,
            });
        }
        sqlx::query("INSERT INTO saml_requests (id, organization_id, expires_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(org.as_i64())
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// The AuthnRequest ids still waiting for `org`.
    pub async fn pending_saml_requests(&self, org: OrgId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM saml_requests WHERE organization_id = $1 AND expires_at > $2")
            .bind(org.as_i64())
            .bind(now_ms())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(|r| r.try_get("id").map_err(db)).collect()
    }

    /// Consumes an AuthnRequest id: true exactly once per id, for its organization, before it expires.
    pub async fn take_saml_request(&self, org: OrgId, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM saml_requests WHERE id = $1 AND organization_id = $2 AND expires_at > $3")
            .bind(id)
            .bind(org.as_i64())
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// The replay cache: records that the assertion `(issuer, id)` was used; false when it
    /// already was (on any replica). Expired entries are pruned on the way.
    pub async fn consume_assertion(&self, org: OrgId, issuer: &str, id: &str, expires_at: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM saml_assertions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let done = sqlx::query(
            "INSERT INTO saml_assertions (issuer, assertion_id, organization_id, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, assertion_id) DO NOTHING",
        )
        .bind(issuer)
        .bind(id)
        .bind(org.as_i64())
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps a verified login (opaque JSON) until the person picks an organization.
    pub async fn put_pending_login(&self, org: OrgId, id_hash: &str, login: &str, expires_at: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM saml_pending_logins WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO saml_pending_logins (id_hash, organization_id, login, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(org.as_i64())
        .bind(login)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Takes a pending login (single use): the organization whose IdP verified it and the JSON.
    pub async fn take_pending_login(&self, id_hash: &str) -> Result<Option<(OrgId, String)>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM saml_pending_logins WHERE id_hash = $1 AND expires_at > $2 RETURNING organization_id, login",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(|r| Ok((OrgId::from_i64(r.try_get("organization_id").map_err(db)?), r.try_get("login").map_err(db)?)))
            .transpose()
    }

    /// Signs a verified person in to `org`, in one transaction: reuses the identity with this
    /// email or creates one (no password), adds the membership when missing, then applies the
    /// assertion's grants (every login). A new member without a role attribute gets the default
    /// role on the allowed accounts. Unknown groups, accounts or policies refuse the whole login
    /// (nothing is written). Only `org` is touched. Returns the user and whether the membership is new.
    pub async fn sso_sign_in(&self, org: OrgId, settings: &SsoSettings, who: &SsoSignIn) -> Result<(UserId, bool)> {
        let mut tx = self.write_tx().await?;
        self.lock_org(&mut tx, org).await?;
        // Check everything the assertion names before writing anything.
        if let Some(groups) = &who.grants.groups {
            check_groups(&mut tx, org, groups, "assertion.OrgAndUserGroups").await?;
        }
        let (types, accounts) = load_catalog(&mut tx, org).await?;
        let catalog = OrgCatalog { policy_types: &types, account_ids: &accounts };
        let unknown_account = |attr: &str, i: usize, a: &AccountId| {
            Error::not_found("Account_DOESNT_EXIST", format!("assertion.{attr}[{i}]"), format!("account {a} not found"))
        };
        for (i, (account, _)) in who.grants.account_roles.iter().enumerate() {
            if !accounts.contains(account.as_str()) {
                return Err(unknown_account("AccAndRole", i, account));
            }
        }
        for (i, (account, policies)) in who.grants.account_policies.iter().enumerate() {
            if !accounts.contains(account.as_str()) {
                return Err(unknown_account("AccAndPolicyIds", i, account));
            }
            check_account_policies(policies, &catalog, &format!("assertion.AccAndPolicyIds[{i}]"))?;
        }

        let existing = sqlx::query("SELECT id FROM users WHERE email_key = $1")
            .bind(&who.email_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let user = match existing {
            Some(row) => UserId::from_stored(row.try_get("id").map_err(db)?),
            None => {
                let person = NewPerson {
                    first_name: who.first_name.clone(),
                    last_name: who.last_name.clone(),
                    email: who.email.clone(),
                    email_key: who.email_key.clone(),
                    password_hash: None,
                };
                insert_person(&mut tx, &person, "assertion.Email").await?
            }
        };
        let new_member = member_role(&mut tx, org, &user).await?.is_none();
        if new_member {
            // SCIM deactivated this person here: SSO must not bring them back.
            let deactivated = sqlx::query("SELECT 1 FROM scim_users WHERE organization_id = $1 AND user_id = $2")
                .bind(org.as_i64())
                .bind(user.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if deactivated.is_some() {
                return Err(Error::Forbidden {
                    code: "USER_DEACTIVATED",
                    message: "this person was deactivated in this organization by SCIM".into(),
                });
            }
            insert_membership(&mut tx, org, &user, OrgRole::Member).await?;
        }
        let role = who.grants.role.and_then(|r| r.account_role());
        let role = role.or(new_member.then(|| settings.default_role.account_role()));
        if let Some(role) = role {
            let allowed: Vec<AccountId> = match settings.allowed_accounts {
                AllowedAccounts::DefaultAccount => vec![default_account_id(&mut tx, org).await?],
                AllowedAccounts::All => {
                    let mut all: Vec<_> = accounts.iter().cloned().map(AccountId::from_stored).collect();
                    all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                    all
                }
            };
            for account in &allowed {
                put_account_permission(&mut tx, org, account, &user, &AccountPermission::Role(role)).await?;
            }
        }
        for (account, role) in &who.grants.account_roles {
            put_account_permission(&mut tx, org, account, &user, &AccountPermission::Role(*role)).await?;
        }
        for (account, policies) in &who.grants.account_policies {
            put_account_permission(&mut tx, org, account, &user, &AccountPermission::Policies(policies.clone()))
                .await?;
        }
        if let Some(groups) = &who.grants.groups {
            replace_user_groups(&mut tx, org, &user, groups).await?;
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok((user, new_member))
    }
}
