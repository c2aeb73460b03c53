//! `/billing`: the organization's plan, trial days left and activation by an admin; usage
//! ingestion; the monthly bill as JSON, CSV or PDF, and its charts as SVG.

use super::{Failure, Items};
use crate::AppState;
use crate::authz;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, Query};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use orgplane_domain::Error;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::billing::{self, Statement};
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

#[derive(Debug, Default, serde::Deserialize)]
pub struct BillParams {
    pub month: Option<String>,
    pub format: Option<String>,
    pub scope: Option<String>,
}

impl crate::extract::QueryParams for BillParams {
    const ALLOWED: &'static [&'static str] = &["month", "format", "scope"];
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ChartParams {
    pub month: Option<String>,
}

impl crate::extract::QueryParams for ChartParams {
    const ALLOWED: &'static [&'static str] = &["month"];
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillLine {
    /// The organization whose usage this is (the bill's own, or a child billed with it).
    pub organization_id: i64,
    pub account_id: String,
    pub product: String,
    /// vCPU-hours, to three decimals.
    pub vcpu_hours: f64,
    pub on_demand_cost_cents: i64,
    pub actual_cost_cents: i64,
    pub savings_cents: i64,
    pub fee_cents: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub month: String,
    pub total_fee_cents: i64,
}

/// One organization's part of the bill: the paying organization first, then each child whose
/// billing is shared with it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillSection {
    pub organization_id: i64,
    pub organization_name: String,
    pub total_savings_cents: i64,
    pub total_fee_cents: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bill {
    pub month: String,
    pub currency: &'static str,
    /// Final from the 15th of the next month; before that it can still change.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub lines: Vec<BillLine>,
    pub total_savings_cents: i64,
    pub total_fee_cents: i64,
    /// The six months up to this one.
    pub trend: Vec<TrendPoint>,
    pub sections: Vec<BillSection>,
    /// The ancestor organization that pays this bill, when billing is shared with the parent.
    pub billed_to_organization_id: Option<i64>,
}

impl From<&Statement> for Bill {
    fn from(s: &Statement) -> Self {
        Bill {
            month: s.month.clone(),
            currency: s.currency,
            is_final: s.is_final,
            lines: s
                .lines()
                .map(|(section, l)| BillLine {
                    organization_id: section.organization_id,
                    account_id: l.usage.account_id.clone(),
                    product: l.usage.product.clone(),
                    vcpu_hours: l.usage.vcpu_milli_hours as f64 / 1000.0,
                    on_demand_cost_cents: l.usage.on_demand_cost_cents,
                    actual_cost_cents: l.usage.actual_cost_cents,
                    savings_cents: l.savings_cents,
                    fee_cents: l.fee_cents,
                })
                .collect(),
            total_savings_cents: s.total_savings_cents(),
            total_fee_cents: s.total_fee_cents(),
            trend: s
                .trend
                .iter()
                .map(|(month, fee)| TrendPoint { month: month.clone(), total_fee_cents: *fee })
                .collect(),
            sections: s
                .sections
                .iter()
                .map(|sec| BillSection {
                    organization_id: sec.organization_id,
                    organization_name: sec.organization_name.clone(),
                    total_savings_cents: sec.savings_cents(),
                    total_fee_cents: sec.fee_cents(),
                })
                .collect(),
            billed_to_organization_id: s.billed_to,
        }
    }
}

fn today() -> String {
    to_spot(orgplane_store::now_ms())[..10].to_string()
}

/// The month asked for (`YYYY-MM`, one that has begun), this month when absent.
fn bill_month(month: Option<&str>) -> Result<String, Error> {
    let today = today();
    match month {
        None => Ok(today[..7].to_string()),
        Some(m) => billing::check_month(m, &today)
            .ok_or_else(|| Error::validation("query.month", "\"month\" must be a month that has begun, YYYY-MM")),
    }
}

/// The bill of `month` of the caller's organization and the children it pays for (or, with
/// `whole_family`, of everything below it): what every rendering (JSON, CSV, PDF, charts) shows.
async fn statement(state: &AppState, caller: &Caller, month: &str, whole_family: bool) -> Result<Statement, Error> {
    let from = &billing::months_back(month, 6)[0];
    let (payer, sections) = state.store.bill_sections(caller.org_id, whole_family, from, month).await?;
    Ok(billing::statement(month, &today(), (payer != caller.org_id).then(|| payer.as_i64()), sections))
}

enum BillFormat {
    Json,
    Csv,
    Pdf,
}

fn download(content_type: &'static str, file: String, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// The bill of a month (`YYYY-MM`, default this month): a line per organization, account and
/// product with its savings and fee at the organization's plan prices, totals per organization
/// (`sections`) and overall, and a six-month fee trend. `format=csv` returns the lines as a
/// file, `format=pdf` the printable statement with its charts.
#[utoipa::path(get, path = "/billing/bills", tag = "billing", security(("bearer" = [])),
    params(("month" = Option<String>, Query, description = "YYYY-MM"), ("format" = Option<String>, Query, description = "json (default), csv or pdf"),
        ("scope" = Option<String>, Query, description = "billed (default: this organization and the children it pays for) or family (everything below it, each at its own prices; admins only)")),
    responses(
        (status = 200, description = "The bill: JSON, or a CSV or PDF file", content(
            (Items<Bill> = "application/json"),
            (String = "text/csv"),
            (String = "application/pdf"),
        )),
        (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn bill(State(state): State<AppState>, Auth(caller): Auth, q: Query<BillParams>) -> ApiResult<Response> {
    authz::check_org(&state, &caller, Action::DescribeOrganization).await?;
    let month = bill_month(q.params.month.as_deref())?;
    let format = match q.params.format.as_deref() {
        None | Some("json") => BillFormat::Json,
        Some("csv") => BillFormat::Csv,
        Some("pdf") => BillFormat::Pdf,
        Some(_) => return Err(Error::validation("query.format", "\"format\" must be json, csv or pdf").into()),
    };
    let whole_family = match q.params.scope.as_deref() {
        None | Some("billed") => false,
        Some("family") => {
            authz::check_org(&state, &caller, Action::ListChildOrganizations).await?;
            true
        }
        Some(_) => return Err(Error::validation("query.scope", "\"scope\" must be billed or family").into()),
    };
    let s = statement(&state, &caller, &month, whole_family).await?;
    Ok(match format {
        BillFormat::Json => Reply::item("orgplane:billing:bill", Bill::from(&s)).into_response(),
        BillFormat::Csv => download("text/csv; charset=utf-8", format!("bill-{month}.csv"), orgplane_report::csv(&s)),
        BillFormat::Pdf => {
            let pdf = tokio::task::spawn_blocking(move || orgplane_report::pdf(&s))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?;
            download("application/pdf", format!("bill-{month}.pdf"), pdf)
        }
    })
}

/// An SVG of ours: it draws, it never runs or loads anything, even opened on its own.
fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'")),
        ],
        body,
    )
        .into_response()
}

/// The bill's six-month fee trend as an SVG bar chart (for the console).
#[utoipa::path(get, path = "/billing/bills/charts/trend.svg", tag = "billing", security(("bearer" = [])),
    params(("month" = Option<String>, Query, description = "YYYY-MM")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn trend_chart(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<ChartParams>,
) -> ApiResult<Response> {
    authz::check_org(&state, &caller, Action::DescribeOrganization).await?;
    let month = bill_month(q.params.month.as_deref())?;
    Ok(svg(orgplane_report::trend_chart_svg(&statement(&state, &caller, &month, false).await?)))
}

/// The bill's fee per product as an SVG bar chart (for the console).
#[utoipa::path(get, path = "/billing/bills/charts/products.svg", tag = "billing", security(("bearer" = [])),
    params(("month" = Option<String>, Query, description = "YYYY-MM")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn product_chart(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<ChartParams>,
) -> ApiResult<Response> {
    authz::check_org(&state, &caller, Action::DescribeOrganization).await?;
    let month = bill_month(q.params.month.as_deref())?;
    Ok(svg(orgplane_report::product_chart_svg(&statement(&state, &caller, &month, false).await?)))
}
