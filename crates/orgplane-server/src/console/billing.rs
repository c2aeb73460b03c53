//! Billing: the plan and trial with **Activate organization**, the month's bill with the
//! same charts as the PDF, downloads (CSV, PDF) and usage lines; linked organizations
//! (children, invitations, shared or separate billing).

use super::client::{ApiClient, Payload, text};
use super::iam::Fields;
use super::layout::{Errors, Nav, can, failure_page, invalid, page, q};
use super::session::Session;
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use orgplane_domain::access::Action;
use serde::Deserialize;
use serde_json::{Value, json};

pub struct Line {
    pub account: String,
    pub product: String,
    pub vcpu_hours: String,
    pub on_demand: String,
    pub actual: String,
    pub savings: String,
    pub fee: String,
}

#[derive(Template)]
#[template(path = "console/billing.html")]
pub struct Billing {
    nav: Nav,
    plan: Value,
    month: String,
    is_final: bool,
    lines: Vec<Line>,
    total_savings: String,
    total_fee: String,
    can_activate: bool,
    notice: Option<String>,
    errors: Errors,
    bill_error: Option<String>,
}

impl Billing {
    fn p(&self, key: &str) -> String {
        text(&self.plan, key)
    }
}

/// Cents as dollars with two decimals.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

pub async fn billing(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Query(query): Query<MonthQuery>,
) -> Response {
    billing_page(&state, &api, &s, query.month, None, Errors::default()).await
}

async fn billing_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    month: Option<String>,
    notice: Option<String>,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "billing");
    let plan = match api.items(&s.who, "/billing/plan").await {
        Ok(list) => list.into_iter().next().unwrap_or_default(),
        Err(f) => return failure_page(s, &f),
    };
    let uri = match &month {
        Some(m) if !m.is_empty() => format!("/billing/bills?month={}", q(m)),
        _ => "/billing/bills".to_string(),
    };
    let (bill, bill_error) = match api.items(&s.who, &uri).await {
        Ok(list) => (list.into_iter().next().unwrap_or_default(), None),
        Err(f) => (Value::Null, Some(f.message)),
    };
    let cents = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let lines = bill
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| Line {
            account: text(l, "accountId"),
            product: text(l, "product"),
            vcpu_hours: format!("{:.1}", l.get("vcpuHours").and_then(Value::as_f64).unwrap_or(0.0)),
            on_demand: money(cents(l, "onDemandCostCents")),
            actual: money(cents(l, "actualCostCents")),
            savings: money(cents(l, "savingsCents")),
            fee: money(cents(l, "feeCents")),
        })
        .collect();
    let res = Billing {
        month: text(&bill, "month"),
        is_final: bill.get("isFinal").and_then(Value::as_bool).unwrap_or(false),
        total_savings: money(cents(&bill, "totalSavingsCents")),
        total_fee: money(cents(&bill, "totalFeeCents")),
        lines,
        can_activate: can(state, s, Action::UpdateOrganization, None).await,
        plan,
        nav,
        notice,
        errors,
        bill_error,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

/// Activates the organization with a billing contact and a card reference or invoices.
pub async fn activate(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let payment = if form.one("paymentType") == "invoice" {
        json!({ "type": "invoice" })
    } else {
        json!({
            "type": "card",
            "brand": form.one("brand"),
            "last4": form.one("last4"),
            "expMonth": form.one("expMonth").parse::<i64>().unwrap_or(0),
            "expYear": form.one("expYear").parse::<i64>().unwrap_or(0),
        })
    };
    let body = json!({
        "billingContact": { "name": form.one("contactName"), "email": form.one("contactEmail") },
        "paymentMethod": payment,
    });
    match api.call(&s.who, Method::POST, "/billing/plan/activate", Payload::Json(body)).await {
        Ok(_) => {
            billing_page(&state, &api, &s, None, Some("The organization is active.".into()), Errors::default()).await
        }
        Err(f) => {
            let errors = Errors::from_failure(&f, &["billingContact", "paymentMethod"]);
            billing_page(&state, &api, &s, None, None, errors).await
        }
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    #[serde(default)]
    month: String,
}

/// The bill as CSV or PDF, or one of its charts (SVG), straight from the API.
pub async fn download(
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(file): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    let month = if query.month.is_empty() { String::new() } else { format!("month={}", q(&query.month)) };
    let uri = match file.as_str() {
        "bill.csv" => format!("/billing/bills?format=csv&{month}"),
        "bill.pdf" => format!("/billing/bills?format=pdf&{month}"),
        "trend.svg" => format!("/billing/bills/charts/trend.svg?{month}"),
        "products.svg" => format!("/billing/bills/charts/products.svg?{month}"),
        _ => return axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
    };
    api.raw(&s.who, Method::GET, &uri, Payload::None).await
}

pub struct Child {
    pub id: String,
    pub name: String,
    pub billing: String,
    pub accounts: String,
    pub users: String,
}

pub struct Invitation {
    pub id: String,
    pub direction: String,
    pub parent: String,
    pub child: String,
    pub billing: String,
}

#[derive(Template)]
#[template(path = "console/linked.html")]
pub struct Linked {
    nav: Nav,
    children: Vec<Child>,
    invitations: Vec<Invitation>,
    can_manage: bool,
    notice: Option<String>,
    errors: Errors,
}

pub async fn linked(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    linked_page(&state, &api, &s, None, Errors::default()).await
}

async fn linked_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    notice: Option<String>,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "linked");
    let org = s.caller.org_id;
    let can_manage = can(state, s, Action::CreateChildOrganization, None).await;
    let children = if can(state, s, Action::ListChildOrganizations, None).await {
        match api.items(&s.who, &format!("/setup/organization/{org}/children")).await {
            Ok(list) => list
                .iter()
                .map(|c| Child {
                    id: text(c, "organizationId"),
                    name: text(c, "name"),
                    billing: text(c, "billing"),
                    accounts: text(c, "accountCount"),
                    users: text(c, "userCount"),
                })
                .collect(),
            Err(f) => return failure_page(s, &f),
        }
    } else {
        Vec::new()
    };
    let invitations = api
        .items(&s.who, &format!("/setup/organization/{org}/invitations"))
        .await
        .unwrap_or_default()
        .iter()
        .map(|i| Invitation {
            id: text(i, "invitationId"),
            direction: text(i, "direction"),
            parent: format!("{} ({})", text(i, "parentOrganizationName"), text(i, "parentOrganizationId")),
            child: format!("{} ({})", text(i, "childOrganizationName"), text(i, "childOrganizationId")),
            billing: text(i, "billing"),
        })
        .collect();
    let res = Linked { nav, children, invitations, can_manage, notice, errors };
    if res.errors.any() { invalid(res) } else { page(res) }
}

/// Creates a child organization, invites an existing one, changes a child's billing,
/// unlinks a child, or accepts/cancels an invitation: one form action per API route.
pub async fn linked_action(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let org = s.caller.org_id;
    let (method, uri, body, done) = match form.one("action").as_str() {
        "create" => (
            Method::POST,
            format!("/setup/organization/{org}/children"),
            json!({ "organization": { "name": form.one("name") }, "billing": form.one("billing") }),
            "Child organization created.",
        ),
        "invite" => (
            Method::POST,
            format!("/setup/organization/{org}/invitations"),
            json!({ "childOrganizationId": form.one("childOrganizationId"), "billing": form.one("billing") }),
            "Invitation sent: the other organization's admin accepts it.",
        ),
        "billing" => (
            Method::PUT,
            format!("/setup/organization/{org}/children/{}", q(&form.one("child"))),
            json!({ "billing": form.one("billing") }),
            "Billing changed.",
        ),
        "unlink" => (
            Method::DELETE,
            format!("/setup/organization/{org}/children/{}", q(&form.one("child"))),
            Value::Null,
            "Organization unlinked.",
        ),
        "accept" => (
            Method::POST,
            format!("/setup/organization/{org}/invitations/{}/accept", q(&form.one("invitation"))),
            json!({}),
            "Invitation accepted.",
        ),
        "cancel" => (
            Method::DELETE,
            format!("/setup/organization/{org}/invitations/{}", q(&form.one("invitation"))),
            Value::Null,
            "Invitation removed.",
        ),
        _ => {
            return linked_page(&state, &api, &s, None, Errors::general("unknown action")).await;
        }
    };
    let payload = if body.is_null() { Payload::None } else { Payload::Json(body) };
    match api.call(&s.who, method, &uri, payload).await {
        Ok(_) => linked_page(&state, &api, &s, Some(done.into()), Errors::default()).await,
        Err(f) => {
            linked_page(&state, &api, &s, None, Errors::from_failure(&f, &["name", "childOrganizationId", "billing"]))
                .await
        }
    }
}
