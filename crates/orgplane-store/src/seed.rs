//! Synthetic directory data for the scale benchmark (`orgplane admin seed`): many people and
//! accounts in one organization, written the way the rest of the store writes — the same tables,
//! the same SQL on both backends — but in multi-row `INSERT`s, many to a transaction. The first
//! commit records the operator's audit event, when there is one.

use crate::{Store, db, now_ms};
use orgplane_domain::Result;
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use sqlx::{AnyConnection, Row};
use std::collections::HashSet;

/// Rows per `INSERT` (7 bound values each at most: well under both backends' parameter limits).
const ROWS_PER_STATEMENT: usize = 500;
/// Statements per transaction: a commit every 10,000 rows.
const STATEMENTS_PER_TRANSACTION: usize = 20;

/// What a seeding run added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub users: u64,
    pub accounts: u64,
}

impl Store {
    /// Adds `users` people (members, attached to nothing, no password) and `accounts` accounts
    /// to an existing organization. Ids are random like every other id; a collision with an
    /// existing row is skipped (`ON CONFLICT DO NOTHING`) and made up for, and a membership is
    /// only ever added for a person this run created. `on_progress` gets the rows written so far.
    pub async fn seed_directory(
        &self,
        org: OrgId,
        users: u64,
        accounts: u64,
        on_progress: impl Fn(u64),
    ) -> Result<Seeded> {
        let family: i64 = sqlx::query("SELECT family_id FROM organizations WHERE id = $1")
            .bind(org.as_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(crate::orgs::org_not_found)?
            .try_get("family_id")
            .map_err(db)?;
        // Emails unique to this run, so that seeding twice adds, never clashes.
        let run = format!("{:x}{:04x}", now_ms(), rand::random::<u16>());
        let mut seeded = Seeded::default();
        // One bulk import, one moment: every row gets the same time (listings order ties by id).
        let started_at = now_ms();
        // Numbers the rows tried (emails, names), collisions included, so none is reused.
        let mut serial = 0u64;
        while seeded.users < users {
            let mut tx = self.write_tx().await?;
            for _ in 0..STATEMENTS_PER_TRANSACTION {
                let n = (users - seeded.users).min(ROWS_PER_STATEMENT as u64) as usize;
                if n == 0 {
                    break;
                }
                seeded.users += insert_people(&mut tx, org, family, &run, serial, n, started_at).await?;
                serial += n as u64;
                on_progress(seeded.users + seeded.accounts);
            }
            tx.commit().await.map_err(db)?;
        }
        while seeded.accounts < accounts {
            let mut tx = self.write_tx().await?;
            for _ in 0..STATEMENTS_PER_TRANSACTION {
                let n = (accounts - seeded.accounts).min(ROWS_PER_STATEMENT as u64) as usize;
                if n == 0 {
                    break;
                }
                seeded.accounts += insert_accounts(&mut tx, org, serial, n, started_at).await?;
                serial += n as u64;
                on_progress(seeded.users + seeded.accounts);
            }
            tx.commit().await.map_err(db)?;
        }
        self.changed().await;
        Ok(seeded)
    }
}

/// Up to `n` people with their memberships; returns how many were created.
async fn insert_people(
    conn: &mut AnyConnection,
    org: OrgId,
    family: i64,
    run: &str,
    first: u64,
    n: usize,
    joined: i64,
) -> Result<u64> {
    let mut rng = rand::thread_rng();
    let mut ids = HashSet::with_capacity(n);
    while ids.len() < n {
        ids.insert(UserId::generate(&mut rng).as_str().to_string());
    }
    // `kind` is a literal: 6 bound values per row.
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let p = i * 6;
            format!("(${}, 'personal', ${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6)
        })
        .collect();
    let sql = format!(
        "INSERT INTO users (id, kind, email, email_key, first_name, last_name, created_at) VALUES {} \
         ON CONFLICT DO NOTHING RETURNING id, created_at",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, id) in ids.iter().enumerate() {
        let k = first + i as u64;
        let email = format!("seed-{run}-{k}@seed.example.com");
        q = q.bind(id.clone()).bind(email.clone()).bind(email).bind(format!("Seeded{k}")).bind("Person").bind(joined);
    }
    let created = q.fetch_all(&mut *conn).await.map_err(db)?;
    if created.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO memberships (organization_id, user_id, role, created_at, family_id) VALUES {}",
        crate::value_rows(created.len(), 5)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in &created {
        let id: String = row.try_get("id").map_err(db)?;
        let at: i64 = row.try_get("created_at").map_err(db)?;
        q = q.bind(org.as_i64()).bind(id).bind("member").bind(at).bind(family);
    }
    q.execute(&mut *conn).await.map_err(db)?;
    Ok(created.len() as u64)
}

/// Up to `n` accounts; returns how many were created.
async fn insert_accounts(conn: &mut AnyConnection, org: OrgId, first: u64, n: usize, created: i64) -> Result<u64> {
    let mut rng = rand::thread_rng();
    let mut ids = HashSet::with_capacity(n);
    while ids.len() < n {
        ids.insert(AccountId::generate(&mut rng).as_str().to_string());
    }
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let p = i * 4;
            format!("(${}, ${}, ${}, 0, '[]', ${})", p + 1, p + 2, p + 3, p + 4)
        })
        .collect();
    let sql = format!(
        "INSERT INTO accounts (id, organization_id, name, is_default, slack_channels, created_at) VALUES {} \
         ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, id) in ids.into_iter().enumerate() {
        let k = first + i as u64;
        q = q.bind(id).bind(org.as_i64()).bind(format!("Seeded account {k}")).bind(created);
    }
    Ok(q.execute(&mut *conn).await.map_err(db)?.rows_affected())
}
