//! Cloud provider connections of accounts.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::{AccountId, OrgId};
use orgplane_domain::{Error, Result};
use sqlx::Row;

/// An account's AWS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConnection {
    pub iam_role: String,
    pub external_id: String,
    pub aws_account_id: String,
}

impl Store {
    /// Records a freshly minted external id for an account (replacing an earlier one).
    pub async fn put_external_id(
        &self,
        org: OrgId,
        account: &AccountId,
        external_id: &str,
        valid_until: i64,
    ) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO aws_external_ids (account_id, organization_id, external_id, valid_until, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id) DO UPDATE SET external_id = excluded.external_id, valid_until = excluded.valid_until, \
             created_at = excluded.created_at",
        )
        .bind(account.as_str())
        .bind(org.as_i64())
        .bind(external_id)
        .bind(valid_until)
        .bind(now_ms())).await?;
        Ok(())
    }

    /// The external id minted for an account and when it stops being accepted.
    pub async fn external_id(&self, org: OrgId, account: &AccountId) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT external_id, valid_until FROM aws_external_ids WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.as_i64())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| Ok((r.try_get("external_id").map_err(db)?, r.try_get("valid_until").map_err(db)?))).transpose()
    }

    /// Saves a proven AWS connection and marks the account as linked to that AWS account.
    pub async fn save_aws_connection(&self, org: OrgId, account: &AccountId, c: &AwsConnection) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE accounts SET cloud_provider = 'AWS', provider_external_id = $1 WHERE organization_id = $2 AND id = $3")
            .bind(&c.aws_account_id)
            .bind(org.as_i64())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(crate::accounts::account_not_found());
        }
        sqlx::query(
            "INSERT INTO aws_credentials (account_id, organization_id, iam_role, external_id, aws_account_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id) DO UPDATE SET iam_role = excluded.iam_role, external_id = excluded.external_id, \
             aws_account_id = excluded.aws_account_id, updated_at = excluded.updated_at",
        )
        .bind(account.as_str())
        .bind(org.as_i64())
        .bind(&c.iam_role)
        .bind(&c.external_id)
        .bind(&c.aws_account_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn aws_connection(&self, org: OrgId, account: &AccountId) -> Result<Option<AwsConnection>> {
        let row = sqlx::query(
            "SELECT iam_role, external_id, aws_account_id FROM aws_credentials WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.as_i64())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok::<_, Error>(AwsConnection {
                iam_role: r.try_get("iam_role").map_err(db)?,
                external_id: r.try_get("external_id").map_err(db)?,
                aws_account_id: r.try_get("aws_account_id").map_err(db)?,
            })
        })
        .transpose()
    }
}
