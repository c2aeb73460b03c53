//! Accounts of an organization and the permissions members hold on them.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::{AccountId, OrgId};
use orgplane_domain::model::Account;
use orgplane_domain::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;

const ACCOUNT_COLUMNS: &str = "a.id, a.organization_id, a.name, a.is_default, a.cloud_provider, a.provider_external_id, a.slack_channels, a.created_at";

impl Store {
    pub async fn create_account(&self, org: OrgId, name: &str) -> Result<Account> {
        let mut tx = self.write_tx().await?;
        let id = insert_account(&mut tx, org, name, false).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        self.find_account(org, &id).await?.ok_or_else(|| Error::internal("account vanished after insert"))
    }

    /// The organization's accounts, default first then oldest first, optionally only those
    /// linked to one cloud account (AWS account number, Azure subscription, GCP project).
    /// Shared with the read cache: the whole list is served from it without a copy.
    pub async fn list_accounts(&self, org: OrgId, cloud_account_id: Option<&str>) -> Result<Arc<Vec<Account>>> {
        let now = now_ms();
        self.sync_cache().await?;
        if cloud_account_id.is_none() {
            if let Some(hit) = self.cache.accounts(org.as_i64(), now) {
                return Ok(hit);
            }
        }
        let epoch = self.cache.epoch();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a \
             WHERE a.organization_id = $1 AND ($2 IS NULL OR a.provider_external_id = $2) \
             ORDER BY a.is_default DESC, a.created_at, a.id"
        )))
        .bind(org.as_i64())
        .bind(cloud_account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let accounts = Arc::new(rows.iter().map(account_row).collect::<Result<Vec<_>>>()?);
        if cloud_account_id.is_none() {
            self.cache.put_accounts(epoch, org.as_i64(), accounts.clone(), now);
        }
        Ok(accounts)
    }

    /// One page of `list_accounts`, in the same order. `after` is where the previous page ended:
    /// `None` for the first page (which starts with the default account); otherwise the
    /// `created_at` and id of the last non-default account shown, or `(i64::MIN, "")` when the
    /// previous page ended with the default account. Keyset paging on
    /// `accounts(organization_id, is_default DESC, created_at, id)`.
    pub async fn accounts_page(
        &self,
        org: OrgId,
        cloud_account_id: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Account>> {
        let rows = match after {
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts a \
                 WHERE a.organization_id = $1 AND ($2 IS NULL OR a.provider_external_id = $2) \
                 ORDER BY a.is_default DESC, a.created_at, a.id LIMIT $3"
            )))
            .bind(org.as_i64())
            .bind(cloud_account_id)
            .bind(limit),
            Some((created_at, id)) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts a \
                 WHERE a.organization_id = $1 AND ($2 IS NULL OR a.provider_external_id = $2) \
                 AND a.is_default = 0 AND (a.created_at, a.id) > ($3, $4) \
                 ORDER BY a.created_at, a.id LIMIT $5"
            )))
            .bind(org.as_i64())
            .bind(cloud_account_id)
            .bind(created_at)
            .bind(id)
            .bind(limit),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(account_row).collect()
    }

    /// One account of the organization; `None` if it does not exist or belongs to another one.
    pub async fn find_account(&self, org: OrgId, id: &AccountId) -> Result<Option<Account>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.organization_id = $1 AND a.id = $2"
        )))
        .bind(org.as_i64())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(account_row).transpose()
    }

    /// The organization's default account (used when a request carries no `accountId`).
    pub async fn default_account(&self, org: OrgId) -> Result<Account> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.organization_id = $1 AND a.is_default = 1"
        )))
        .bind(org.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => account_row(&row),
            None => Err(Error::internal(format!("organization {org} has no default account"))),
        }
    }

    /// Renames an account and/or replaces its Slack channels; `None` leaves a field unchanged.
    pub async fn update_account(
        &self,
        org: OrgId,
        id: &AccountId,
        name: Option<&str>,
        slack_channels: Option<&[String]>,
    ) -> Result<()> {
        let slack = slack_channels.map(|c| serde_json::to_string(c).expect("strings serialise"));
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE accounts SET name = COALESCE($1, name), slack_channels = COALESCE($2, slack_channels) \
             WHERE organization_id = $3 AND id = $4",
                )
                .bind(name)
                .bind(slack)
                .bind(org.as_i64())
                .bind(id.as_str()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(account_not_found());
        }
        self.changed().await;
        Ok(())
    }

    /// Deletes a non-default account. The default-account rule is checked inside the
    /// transaction so a concurrent request cannot slip past it.
    pub async fn delete_account(&self, org: OrgId, id: &AccountId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.organization_id = $1 AND a.id = $2"
        )))
        .bind(org.as_i64())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let account = account_row(&row.ok_or_else(account_not_found)?)?;
        account.check_deletable()?;
        let done = sqlx::query("DELETE FROM accounts WHERE organization_id = $1 AND id = $2 AND is_default = 0")
            .bind(org.as_i64())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // A concurrent delete of the same account got there first (PostgreSQL: both read the row,
        // the second DELETE waited for the first and found nothing): not found, and no audit
        // event for a deletion this request did not make.
        if done.rows_affected() == 0 {
            return Err(account_not_found());
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }
}

pub(crate) fn account_not_found() -> Error {
    Error::not_found("Account_DOESNT_EXIST", "accountId", "account not found")
}

pub(crate) async fn insert_account(
    conn: &mut AnyConnection,
    org: OrgId,
    name: &str,
    is_default: bool,
) -> Result<AccountId> {
    // A random id can collide; `ON CONFLICT DO NOTHING` lets us retry without aborting the
    // transaction (PostgreSQL aborts a transaction on any error).
    for _ in 0..5 {
        let id = AccountId::generate(&mut rand::thread_rng());
        let res = sqlx::query(
            "INSERT INTO accounts (id, organization_id, name, is_default, slack_channels, created_at) \
             VALUES ($1, $2, $3, $4, '[]', $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(org.as_i64())
        .bind(name)
        .bind(i16::from(is_default))
        .bind(now_ms())
        .execute(&mut *conn)
        .await;
        if res.map_err(db)?.rows_affected() == 1 {
            crate::audit::created("account", id.as_str());
            return Ok(id);
        }
    }
    Err(Error::internal("could not allocate an account id"))
}

fn account_row(row: &AnyRow) -> Result<Account> {
    let slack: String = row.try_get("slack_channels").map_err(db)?;
    let is_default: i64 = row.try_get("is_default").map_err(db)?;
    Ok(Account {
        id: AccountId::from_stored(row.try_get("id").map_err(db)?),
        organization_id: OrgId::from_i64(row.try_get("organization_id").map_err(db)?),
        name: row.try_get("name").map_err(db)?,
        is_default: is_default != 0,
        cloud_provider: row.try_get("cloud_provider").map_err(db)?,
        provider_external_id: row.try_get("provider_external_id").map_err(db)?,
        slack_channels: serde_json::from_str(&slack)
            .map_err(|e| Error::internal(format!("stored slack channels: {e}")))?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}
