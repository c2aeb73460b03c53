//! Plans and activation.

use crate::{Store, db, now_ms};
use orgplane_domain::ids::OrgId;
use orgplane_domain::notify::Notice;
use orgplane_domain::plan::{BillingContact, PaymentMethod, Plan, TRIAL_MS, TRIAL_REMINDER_MS};
use orgplane_domain::{Error, Result};
use sqlx::Row;

/// An organization's plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInfo {
    pub plan: Plan,
    pub trial_ends_at: i64,
    pub activated_at: Option<i64>,
    pub billing_contact: Option<BillingContact>,
    pub payment_method: Option<PaymentMethod>,
}

impl Store {
    pub async fn plan_info(&self, org: OrgId) -> Result<PlanInfo> {
        let row = sqlx::query(
            "SELECT plan, created_at, activated_at, billing_contact, payment_method FROM organizations WHERE id = $1",
        )
        .bind(org.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or_else(crate::orgs::org_not_found)?;
        let plan: String = row.try_get("plan").map_err(db)?;
        let json = |name: &str| -> Result<Option<String>> { row.try_get(name).map_err(db) };
        Ok(PlanInfo {
            plan: Plan::parse(&plan).ok_or_else(|| Error::internal(format!("stored plan {plan:?}")))?,
            trial_ends_at: row.try_get::<i64, _>("created_at").map_err(db)? + TRIAL_MS,
            activated_at: row.try_get("activated_at").map_err(db)?,
            billing_contact: json("billing_contact")?.and_then(|s| serde_json::from_str(&s).ok()),
            payment_method: json("payment_method")?.and_then(|s| serde_json::from_str(&s).ok()),
        })
    }

    /// Activates the organization: pay-as-you-go (an enterprise plan stays enterprise) with
    /// these billing details.
    pub async fn activate_plan(&self, org: OrgId, contact: &BillingContact, payment: &PaymentMethod) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE organizations SET plan = CASE WHEN plan = 'enterprise' THEN plan ELSE 'payg' END, \
                 activated_at = COALESCE(activated_at, $1), billing_contact = $2, payment_method = $3 WHERE id = $4",
        )
        .bind(now_ms())
        .bind(serde_json::to_string(contact).expect("serialises"))
        .bind(serde_json::to_string(payment).expect("serialises"))
        .bind(org.as_i64())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        crate::families::sync_family_plans(&mut tx, org).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// The operator's command: sets the plan outright (and of the children it pays for).
    pub async fn set_plan(&self, org: OrgId, plan: Plan) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE organizations SET plan = $1 WHERE id = $2")
            .bind(plan.as_str())
            .bind(org.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(crate::orgs::org_not_found());
        }
        crate::families::sync_family_plans(&mut tx, org).await?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    /// Queues the trial-ending notice of every trial that ends within a week and has not had
    /// one; returns how many. Marked in the same transaction, so it goes out once.
    pub async fn send_trial_reminders(&self) -> Result<usize> {
        let now = now_ms();
        let cutoff = now + TRIAL_REMINDER_MS - TRIAL_MS;
        let due = sqlx::query(
            "SELECT id FROM organizations WHERE plan = 'trial' AND trial_reminded_at IS NULL AND created_at <= $1 LIMIT 1",
        )
        .bind(cutoff)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        if due.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE organizations SET trial_reminded_at = $1 WHERE plan = 'trial' AND trial_reminded_at IS NULL \
             AND created_at <= $2 RETURNING id, created_at",
        )
        .bind(now)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for row in &rows {
            let org: i64 = row.try_get("id").map_err(db)?;
            let ends = row.try_get::<i64, _>("created_at").map_err(db)? + TRIAL_MS;
            let event = orgplane_domain::notify::unrecorded_event(
                format!("trial-{org}"),
                org,
                None,
                ("organization", org.to_string()),
                "notifications:trialExpiring",
                format!(
                    "The trial ends at {}: activate the organization to keep changing it",
                    orgplane_domain::timefmt::to_spot(ends)
                ),
                None,
                now,
            );
            crate::notifications::enqueue(&mut tx, Notice::TrialExpiring, &event).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(rows.len())
    }
}

/// What ingesting a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub records: i64,
    /// The batch key had been ingested before with the same content: nothing changed.
    pub duplicate: bool,
}

impl Store {
    /// Ingests a checked batch whole, once per key. Accounts must be the organization's (the
    /// first stranger is reported by its index).
    pub async fn ingest_usage(
        &self,
        org: OrgId,
        batch_key: &str,
        records: &[orgplane_domain::usage::UsageRecord],
    ) -> Result<Ingested> {
        let hash = orgplane_domain::usage::content_hash(records);
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query(
            "SELECT content_hash, record_count FROM usage_batches WHERE organization_id = $1 AND batch_key = $2",
        )
        .bind(org.as_i64())
        .bind(batch_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = existing {
            let stored: String = row.try_get("content_hash").map_err(db)?;
            if stored != hash {
                return Err(Error::invalid(
                    "BATCH_KEY_REUSED",
                    "body.batchKey",
                    "this batch key was used for different records; use a new key",
                ));
            }
            return Ok(Ingested { records: row.try_get("record_count").map_err(db)?, duplicate: true });
        }
        let accounts: Vec<String> = sqlx::query("SELECT id FROM accounts WHERE organization_id = $1")
            .bind(org.as_i64())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        for (i, r) in records.iter().enumerate() {
            if !accounts.contains(&r.account_id) {
                return Err(Error::invalid(
                    "Account_DOESNT_EXIST",
                    format!("body.records[{i}].accountId"),
                    "no such account in this organization",
                ));
            }
        }
        sqlx::query(
            "INSERT INTO usage_batches (organization_id, batch_key, content_hash, record_count, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org.as_i64())
        .bind(batch_key)
        .bind(&hash)
        .bind(records.len() as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for r in records {
            sqlx::query(
                "INSERT INTO usage_records (organization_id, batch_key, account_id, day, product, vcpu_milli_hours, \
                 on_demand_cost_cents, actual_cost_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(org.as_i64())
            .bind(batch_key)
            .bind(&r.account_id)
            .bind(&r.day)
            .bind(&r.product)
            .bind(r.vcpu_milli_hours)
            .bind(r.on_demand_cost_cents)
            .bind(r.actual_cost_cents)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Ingested { records: records.len() as i64, duplicate: false })
    }

    /// Totals for one month (`YYYY-MM`): (records, vCPU milli-hours, on-demand cents, actual cents).
    pub async fn usage_month_totals(&self, org: OrgId, month: &str) -> Result<(i64, i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(vcpu_milli_hours), 0) AS BIGINT) AS v, \
             CAST(COALESCE(SUM(on_demand_cost_cents), 0) AS BIGINT) AS o, \
             CAST(COALESCE(SUM(actual_cost_cents), 0) AS BIGINT) AS a FROM usage_records \
             WHERE organization_id = $1 AND day >= $2 AND day < $3",
        )
        .bind(org.as_i64())
        .bind(format!("{month}-01"))
        .bind(format!("{month}-32"))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((
            row.try_get("n").map_err(db)?,
            row.try_get("v").map_err(db)?,
            row.try_get("o").map_err(db)?,
            row.try_get("a").map_err(db)?,
        ))
    }
}

impl Store {
    /// Sets the operator's price of `product` on `plan`.
    pub async fn set_price(&self, plan: Plan, product: &str, price: orgplane_domain::billing::Price) -> Result<()> {
        use orgplane_domain::billing::Price;
        let (model, rate) = match price {
            Price::SavingsShare { basis_points } => ("savings", basis_points),
            Price::PerVcpuHour { millicents } => ("vcpu", millicents),
        };
        self.write_one(
            sqlx::query(
                "INSERT INTO pricing (plan, product, model, rate, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (plan, product) DO UPDATE SET model = excluded.model, rate = excluded.rate, \
                 updated_at = excluded.updated_at",
            )
            .bind(plan.as_str())
            .bind(product)
            .bind(model)
            .bind(rate)
            .bind(now_ms()),
        )
        .await?;
        Ok(())
    }

    /// The operator's prices on `plan`, by product.
    pub async fn prices(&self, plan: Plan) -> Result<Vec<(String, orgplane_domain::billing::Price)>> {
        use orgplane_domain::billing::Price;
        let rows = sqlx::query("SELECT product, model, rate FROM pricing WHERE plan = $1")
            .bind(plan.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let model: String = r.try_get("model").map_err(db)?;
                let rate: i64 = r.try_get("rate").map_err(db)?;
                let price = match model.as_str() {
                    "vcpu" => Price::PerVcpuHour { millicents: rate },
                    _ => Price::SavingsShare { basis_points: rate },
                };
                Ok((r.try_get("product").map_err(db)?, price))
            })
            .collect()
    }

    /// What `org`'s bill of the months `from..=to` needs: who pays for it, and for each
    /// organization it covers (itself and the children it pays for, or with `whole_subtree`
    /// everything below it) its usage and its plan's prices.
    pub async fn bill_sections(
        &self,
        org: OrgId,
        whole_subtree: bool,
        from: &str,
        to: &str,
    ) -> Result<(OrgId, Vec<orgplane_domain::billing::SectionUsage>)> {
        let (payer, organizations) = self.billing_family(org, whole_subtree).await?;
        let mut sections = Vec::with_capacity(organizations.len());
        for (id, name) in organizations {
            let plan = self.plan_info(id).await?.plan;
            sections.push(orgplane_domain::billing::SectionUsage {
                organization_id: id.as_i64(),
                organization_name: name,
                plan,
                prices: self.prices(plan).await?,
                usage: self.usage_lines(id, from, to).await?,
            });
        }
        Ok((payer, sections))
    }

    /// Usage summed per month, account and product, for the months `from..=to` (`YYYY-MM`).
    pub async fn usage_lines(
        &self,
        org: OrgId,
        from: &str,
        to: &str,
    ) -> Result<Vec<orgplane_domain::billing::UsageLine>> {
        let rows = sqlx::query(
            "SELECT SUBSTR(day, 1, 7) AS month, account_id, product, \
             CAST(SUM(vcpu_milli_hours) AS BIGINT) AS v, CAST(SUM(on_demand_cost_cents) AS BIGINT) AS o, \
             CAST(SUM(actual_cost_cents) AS BIGINT) AS a FROM usage_records \
             WHERE organization_id = $1 AND day >= $2 AND day < $3 \
             GROUP BY SUBSTR(day, 1, 7), account_id, product ORDER BY 1, 2, 3",
        )
        .bind(org.as_i64())
        .bind(format!("{from}-01"))
        .bind(format!("{to}-32"))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(orgplane_domain::billing::UsageLine {
                    month: r.try_get("month").map_err(db)?,
                    account_id: r.try_get("account_id").map_err(db)?,
                    product: r.try_get("product").map_err(db)?,
                    vcpu_milli_hours: r.try_get("v").map_err(db)?,
                    on_demand_cost_cents: r.try_get("o").map_err(db)?,
                    actual_cost_cents: r.try_get("a").map_err(db)?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Fills a month with `records` synthetic usage records spread over the organization's
    /// accounts, five products and the month's days (the bill benchmark's data). Written in
    /// multi-row statements, `on_progress` called with the running count.
    pub async fn seed_usage(&self, org: OrgId, month: &str, records: u64, on_progress: impl Fn(u64)) -> Result<()> {
        const PRODUCTS: [&str; 5] = ["elastigroup", "ocean", "eco", "stateful", "analyzer"];
        const ROWS: u64 = 500;
        let accounts: Vec<String> = sqlx::query("SELECT id FROM accounts WHERE organization_id = $1 ORDER BY id")
            .bind(org.as_i64())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        if accounts.is_empty() {
            return Err(crate::orgs::org_not_found());
        }
        let key = format!("seed-{month}-{}", now_ms());
        let mut done = 0u64;
        while done < records {
            let n = ROWS.min(records - done);
            let values: Vec<String> = (0..n)
                .map(|k| {
                    let p = k * 8;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7,
                        p + 8
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO usage_records (organization_id, batch_key, account_id, day, product, vcpu_milli_hours, \
                 on_demand_cost_cents, actual_cost_cents) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for k in 0..n {
                let i = done + k;
                let od = 1_000 + (i % 997) as i64;
                q = q
                    .bind(org.as_i64())
                    .bind(key.clone())
                    .bind(accounts[(i % accounts.len() as u64) as usize].clone())
                    .bind(format!("{month}-{:02}", 1 + i % 28))
                    .bind(PRODUCTS[((i / accounts.len() as u64) % 5) as usize])
                    .bind(((i % 40) * 250) as i64)
                    .bind(od)
                    .bind(od * 3 / 10);
            }
            q.execute(&self.pool).await.map_err(db)?;
            done += n;
            on_progress(done);
        }
        Ok(())
    }
}
