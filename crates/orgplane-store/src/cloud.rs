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
        link_account(&mut tx, org, account, "AWS", &c.aws_account_id).await?;
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

/// An Azure service principal as stored (the secret sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureConnection {
    pub tenant_id: String,
    pub client_id: String,
    pub subscription_id: Option<String>,
    pub secret_enc: String,
    /// What GET shows of the secret.
    pub secret_hint: String,
    pub expires_at: Option<i64>,
}

/// A GCP service-account key as stored: the public fields as JSON, the private key sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpConnection {
    pub project_id: String,
    pub client_email: String,
    pub public_part: String,
    pub private_key_enc: String,
}

impl Store {
    /// Saves a proven Azure principal. For a subscription principal (`tenant_scope` false) the
    /// account becomes linked to that subscription.
    pub async fn save_azure_connection(
        &self,
        org: OrgId,
        account: &AccountId,
        tenant_scope: bool,
        c: &AzureConnection,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if let Some(subscription) = c.subscription_id.as_deref().filter(|_| !tenant_scope) {
            link_account(&mut tx, org, account, "AZURE", subscription).await?;
        }
        sqlx::query(
            "INSERT INTO azure_credentials (account_id, organization_id, scope, tenant_id, client_id, subscription_id, \
             secret_enc, secret_hint, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (account_id, scope) DO UPDATE SET tenant_id = excluded.tenant_id, client_id = excluded.client_id, \
             subscription_id = excluded.subscription_id, secret_enc = excluded.secret_enc, \
             secret_hint = excluded.secret_hint, expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
             reminded_at = NULL",
        )
        .bind(account.as_str())
        .bind(org.as_i64())
        .bind(if tenant_scope { "tenant" } else { "subscription" })
        .bind(&c.tenant_id)
        .bind(&c.client_id)
        .bind(&c.subscription_id)
        .bind(&c.secret_enc)
        .bind(&c.secret_hint)
        .bind(c.expires_at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// The account's subscription principal.
    pub async fn azure_connection(&self, org: OrgId, account: &AccountId) -> Result<Option<AzureConnection>> {
        let row = sqlx::query(
            "SELECT tenant_id, client_id, subscription_id, secret_enc, secret_hint, expires_at FROM azure_credentials \
             WHERE organization_id = $1 AND account_id = $2 AND scope = 'subscription'",
        )
        .bind(org.as_i64())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok::<_, Error>(AzureConnection {
                tenant_id: r.try_get("tenant_id").map_err(db)?,
                client_id: r.try_get("client_id").map_err(db)?,
                subscription_id: r.try_get("subscription_id").map_err(db)?,
                secret_enc: r.try_get("secret_enc").map_err(db)?,
                secret_hint: r.try_get("secret_hint").map_err(db)?,
                expires_at: r.try_get("expires_at").map_err(db)?,
            })
        })
        .transpose()
    }

    /// Saves a proven GCP key and links the account to its project.
    pub async fn save_gcp_connection(&self, org: OrgId, account: &AccountId, c: &GcpConnection) -> Result<()> {
        let mut tx = self.write_tx().await?;
        link_account(&mut tx, org, account, "GCP", &c.project_id).await?;
        sqlx::query(
            "INSERT INTO gcp_credentials (account_id, organization_id, project_id, client_email, public_part, \
             private_key_enc, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id) DO UPDATE SET project_id = excluded.project_id, client_email = excluded.client_email, \
             public_part = excluded.public_part, private_key_enc = excluded.private_key_enc, updated_at = excluded.updated_at",
        )
        .bind(account.as_str())
        .bind(org.as_i64())
        .bind(&c.project_id)
        .bind(&c.client_email)
        .bind(&c.public_part)
        .bind(&c.private_key_enc)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn gcp_connection(&self, org: OrgId, account: &AccountId) -> Result<Option<GcpConnection>> {
        let row = sqlx::query(
            "SELECT project_id, client_email, public_part, private_key_enc FROM gcp_credentials \
             WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.as_i64())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok::<_, Error>(GcpConnection {
                project_id: r.try_get("project_id").map_err(db)?,
                client_email: r.try_get("client_email").map_err(db)?,
                public_part: r.try_get("public_part").map_err(db)?,
                private_key_enc: r.try_get("private_key_enc").map_err(db)?,
            })
        })
        .transpose()
    }
}

/// Marks the account as connected to a cloud (`cloudProvider`, `providerExternalId`).
async fn link_account(
    conn: &mut sqlx::AnyConnection,
    org: OrgId,
    account: &AccountId,
    provider: &str,
    external_id: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE accounts SET cloud_provider = $1, provider_external_id = $2 WHERE organization_id = $3 AND id = $4",
    )
    .bind(provider)
    .bind(external_id)
    .bind(org.as_i64())
    .bind(account.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(crate::accounts::account_not_found());
    }
    Ok(())
}
