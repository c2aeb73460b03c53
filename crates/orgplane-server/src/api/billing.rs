//! `/billing/plan`: the organization's plan, trial days left, and activation by an admin.

use super::{Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, Query};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::plan::{self, BillingContact, PaymentMethod};
use orgplane_domain::timefmt::to_spot;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

const KIND: &str = "orgplane:billing:plan";

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    pub organization_id: String,
    /// `trial`, `payg` or `enterprise`.
    pub plan: &'static str,
    /// `trial`, `expired` (read-only until activated) or `active`.
    pub status: &'static str,
    pub trial_ends_at: Option<String>,
    pub trial_days_left: Option<i64>,
    pub activated_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub billing_contact: Option<BillingContact>,
    /// `{type: "card", brand, last4, expMonth, expYear}` or `{type: "invoice"}`.
    #[schema(value_type = Option<Object>)]
    pub payment_method: Option<PaymentMethod>,
}

async fn render(state: &AppState, caller: &Caller) -> Result<Reply, Error> {
    let info = state.store.plan_info(caller.org_id).await?;
    let status = plan::status(info.plan, info.trial_ends_at, orgplane_store::now_ms());
    let trial = info.plan == plan::Plan::Trial;
    Ok(Reply::item(
        KIND,
        PlanItem {
            organization_id: caller.org_id.to_string(),
            plan: info.plan.as_str(),
            status: status.as_str(),
            trial_ends_at: trial.then(|| to_spot(info.trial_ends_at)),
            trial_days_left: match status {
                plan::PlanStatus::Trial { days_left } => Some(days_left),
                plan::PlanStatus::Expired => Some(0),
                plan::PlanStatus::Active => None,
            },
            activated_at: info.activated_at.map(to_spot),
            billing_contact: info.billing_contact,
            payment_method: info.payment_method,
        },
    ))
}

/// The caller's organization's plan.
#[utoipa::path(get, path = "/billing/plan", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Items<PlanItem>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn get(State(state): State<AppState>, Auth(caller): Auth, _: Query<NoParams>) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::DescribeOrganization).await?;
    Ok(render(&state, &caller).await?)
}

/// Activates the organization (pay-as-you-go) with a billing contact and a payment method: a
/// card reference (brand, last 4 digits, expiry) or `{"type": "invoice"}`. A card number
/// anywhere in the body is refused and not stored. Allowed even when the trial has ended.
#[utoipa::path(post, path = "/billing/plan/activate", tag = "billing", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = Items<PlanItem>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn activate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::UpdateOrganization).await?;
    plan::refuse_card_numbers(&body, "body")?;
    let contact: BillingContact = field(&body, "billingContact")?;
    let payment: PaymentMethod = field(&body, "paymentMethod")?;
    let today = time::OffsetDateTime::from_unix_timestamp(orgplane_store::now_ms() / 1000).map_err(Error::internal)?;
    let (contact, payment) =
        plan::check_activation(&contact, &payment, (today.year() as u16, u8::from(today.month())))?;
    state.store.activate_plan(caller.org_id, &contact, &payment).await?;
    Ok(render(&state, &caller).await?)
}

fn field<T: serde::de::DeserializeOwned>(body: &Value, name: &str) -> Result<T, Error> {
    let v =
        body.get(name).ok_or_else(|| Error::validation(format!("body.{name}"), format!("\"{name}\" is required")))?;
    serde_json::from_value(v.clone()).map_err(|e| Error::validation(format!("body.{name}"), e.to_string()))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageBatch {
    /// Idempotency key: a batch sent again with the same key changes nothing.
    pub batch_key: String,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<orgplane_domain::usage::UsageInput>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageIngested {
    pub batch_key: String,
    pub records: i64,
    /// The key had been ingested before: nothing changed.
    pub duplicate: bool,
}

/// Ingests a batch of usage records, whole or not at all, once per `batchKey`. Each record:
/// `{accountId, date: "YYYY-MM-DD", product, vcpuHours, onDemandCostCents, actualCostCents}`.
#[utoipa::path(post, path = "/billing/usage", tag = "billing", security(("bearer" = [])), request_body = UsageBatch,
    responses((status = 200, body = Items<UsageIngested>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn ingest_usage(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    Body(batch): Body<UsageBatch>,
) -> ApiResult<Reply> {
    authz::check_org(&state, &caller, Action::UpdateOrganization).await?;
    let key = orgplane_domain::validate::label("body.batchKey", &batch.batch_key)?;
    if batch.records.is_empty() || batch.records.len() > orgplane_domain::usage::MAX_BATCH {
        return Err(Error::validation(
            "body.records",
            format!("a batch holds 1 to {} records", orgplane_domain::usage::MAX_BATCH),
        )
        .into());
    }
    let today = to_spot(orgplane_store::now_ms())[..10].to_string();
    let records = batch
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| orgplane_domain::usage::check_record(i, r, &today))
        .collect::<Result<Vec<_>, _>>()?;
    let done = state.store.ingest_usage(caller.org_id, &key, &records).await?;
    Ok(Reply::item(
        "orgplane:billing:usageBatch",
        UsageIngested { batch_key: key, records: done.records, duplicate: done.duplicate },
    ))
}
