//! Spot's notification-center policies, event subscriptions and account notification policies:
//! checked JSON documents, one table, one code path for the three kinds.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_domain::{Error, Result};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Which of Spot's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// `snp-…`
    Policy,
    /// `sis-…`
    Subscription,
    /// One per account, its id derived from the account's.
    AccountPolicy,
}

impl DocumentKind {
    fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Policy => "policy",
            DocumentKind::Subscription => "subscription",
            DocumentKind::AccountPolicy => "accountPolicy",
        }
    }

    fn new_id(self, account: &AccountId) -> String {
        match self {
            DocumentKind::Policy => format!("snp-{:08x}", rand::random::<u32>()),
            DocumentKind::Subscription => format!("sis-{:08x}", rand::random::<u32>()),
            DocumentKind::AccountPolicy => format!("acp-{account}"),
        }
    }
}

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub account_id: String,
    pub owner_user_id: Option<String>,
    pub owner_email: Option<String>,
    pub document: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

fn document_row(r: &AnyRow) -> Result<Document> {
    let text: String = r.try_get("document").map_err(db)?;
    Ok(Document {
        id: r.try_get("id").map_err(db)?,
        account_id: r.try_get("account_id").map_err(db)?,
        owner_user_id: r.try_get("owner_user_id").map_err(db)?,
        owner_email: r.try_get("owner_email").map_err(db)?,
        document: serde_json::from_str(&text).map_err(|e| Error::internal(format!("stored document: {e}")))?,
        created_at: r.try_get("created_at").map_err(db)?,
        updated_at: r.try_get("updated_at").map_err(db)?,
    })
}

const COLUMNS: &str = "id, account_id, owner_user_id, owner_email, document, created_at, updated_at";

impl Store {
    /// Stores a new document (or, for an account policy, replaces the account's).
    pub async fn put_document(
        &self,
        kind: DocumentKind,
        org: OrgId,
        account: &AccountId,
        owner: Option<(&UserId, &str)>,
        document: &Value,
    ) -> Result<Document> {
        let id = kind.new_id(account);
        crate::audit::created(
            if kind == DocumentKind::Subscription { "subscription" } else { "notificationPolicy" },
            &id,
        );
        let now = now_ms();
        self.write_one(
            sqlx::query(
                "INSERT INTO notification_documents (id, organization_id, account_id, kind, owner_user_id, owner_email, \
                 document, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
            )
            .bind(&id)
            .bind(org.as_i64())
            .bind(account.as_str())
            .bind(kind.as_str())
            .bind(owner.map(|(u, _)| u.as_str()))
            .bind(owner.map(|(_, e)| e))
            .bind(document.to_string())
            .bind(now),
        )
        .await?;
        self.changed().await;
        self.document(kind, org, &id).await?.ok_or_else(|| Error::internal("a stored document vanished"))
    }

    pub async fn document(&self, kind: DocumentKind, org: OrgId, id: &str) -> Result<Option<Document>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notification_documents WHERE organization_id = $1 AND kind = $2 AND id = $3"
        )))
        .bind(org.as_i64())
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(document_row).transpose()
    }

    /// The organization's documents of one kind, oldest first; one account's when given.
    pub async fn documents(
        &self,
        kind: DocumentKind,
        org: OrgId,
        account: Option<&AccountId>,
    ) -> Result<Vec<Document>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notification_documents WHERE organization_id = $1 AND kind = $2 \
             AND ($3 IS NULL OR account_id = $3) ORDER BY created_at, id"
        )))
        .bind(org.as_i64())
        .bind(kind.as_str())
        .bind(account.map(AccountId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(document_row).collect()
    }

    /// Replaces a document's content; false when there is no such document.
    pub async fn update_document(&self, kind: DocumentKind, org: OrgId, id: &str, document: &Value) -> Result<bool> {
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE notification_documents SET document = $1, updated_at = $2 \
                     WHERE organization_id = $3 AND kind = $4 AND id = $5",
                )
                .bind(document.to_string())
                .bind(now_ms())
                .bind(org.as_i64())
                .bind(kind.as_str())
                .bind(id),
            )
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a document; false when there was none.
    pub async fn delete_document(&self, kind: DocumentKind, org: OrgId, id: &str) -> Result<bool> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM notification_documents WHERE organization_id = $1 AND kind = $2 AND id = $3")
                    .bind(org.as_i64())
                    .bind(kind.as_str())
                    .bind(id),
            )
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }
}
