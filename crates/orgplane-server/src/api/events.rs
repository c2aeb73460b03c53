//! `/events` (spot-api.md §3.10, S1–S6): Spot's event subscriptions and account notification
//! policies, kept with their exact shapes for the SDKs and Terraform (orgplane raises no
//! compute events of its own).

use super::setup::credentials::account_or_default;
use super::{Done, Failure};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::Error;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::notification_center::{check_account_policy, check_subscription};
use orgplane_domain::timefmt::to_spot;
use orgplane_store::notification_center::{Document, DocumentKind};
use serde_json::{Value, json};

const KIND: &str = "spotinst:subscription";

fn not_found() -> Error {
    Error::not_found("SUBSCRIPTION_DOESNT_EXIST", "path.subscriptionId", "event subscription not found")
}

fn item(doc: &Document) -> Value {
    let mut v = doc.document.clone();
    let o = v.as_object_mut().expect("documents are objects");
    o.insert("id".into(), json!(doc.id));
    o.insert("resourceName".into(), Value::Null);
    o.insert("createdAt".into(), json!(to_spot(doc.created_at)));
    o.insert("updatedAt".into(), json!(to_spot(doc.updated_at)));
    v
}

fn subscription_body(body: &Value) -> Result<&Value, Error> {
    body.get("subscription")
        .filter(|s| s.is_object())
        .ok_or_else(|| Error::validation("body.subscription", "\"subscription\" is required"))
}

async fn found(state: &AppState, caller: &Caller, id: &str, action: Action) -> Result<Document, Error> {
    let doc = state.store.document(DocumentKind::Subscription, caller.org_id, id).await?.ok_or_else(not_found)?;
    let account = orgplane_domain::ids::AccountId::parse(&doc.account_id).map_err(Error::internal)?;
    account_or_default(state, caller, Some(account), action).await?;
    Ok(doc)
}

/// S1: subscribes an endpoint to a resource's events.
#[utoipa::path(post, path = "/events/subscription", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)), request_body = Object,
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::UpdateAccount).await?;
    let document = check_subscription(subscription_body(&body)?)?;
    let stored = state.store.put_document(DocumentKind::Subscription, caller.org_id, &account, None, &document).await?;
    Ok(Reply::item(KIND, item(&stored)))
}

/// S2: the subscriptions (of one account when `accountId` is given).
#[utoipa::path(get, path = "/events/subscription", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    let docs = state.store.documents(DocumentKind::Subscription, caller.org_id, Some(&account)).await?;
    Ok(Reply::items(KIND, docs.iter().map(item)))
}

/// S3: one subscription.
#[utoipa::path(get, path = "/events/subscription/{subscriptionId}", tag = "notifications", security(("bearer" = [])),
    params(("subscriptionId" = String, Path)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    Ok(Reply::item(KIND, item(&found(&state, &caller, &id, Action::DescribeAccount).await?)))
}

/// S4: a partial update; answers with `affectedRows`, as Spot does.
#[utoipa::path(put, path = "/events/subscription/{subscriptionId}", tag = "notifications", security(("bearer" = [])),
    params(("subscriptionId" = String, Path)), request_body = Object,
    responses((status = 200, body = Done), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    let current = found(&state, &caller, &id, Action::UpdateAccount).await?;
    let changes = subscription_body(&body)?;
    let merged = orgplane_domain::notification_center::merged(&current.document, changes);
    let document = check_subscription(&merged)?;
    if !state.store.update_document(DocumentKind::Subscription, caller.org_id, &id, &document).await? {
        return Err(not_found().into());
    }
    Ok(Reply::Affected(1))
}

/// S5: deletes a subscription.
#[utoipa::path(delete, path = "/events/subscription/{subscriptionId}", tag = "notifications", security(("bearer" = [])),
    params(("subscriptionId" = String, Path)),
    responses((status = 200, body = Done), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    found(&state, &caller, &id, Action::UpdateAccount).await?;
    if !state.store.delete_document(DocumentKind::Subscription, caller.org_id, &id).await? {
        return Err(not_found().into());
    }
    Ok(Reply::Done)
}

/// S6: the account's notification policy (email and Slack statements).
#[utoipa::path(get, path = "/events/notification/accountPolicy", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn get_account_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    let stored = state.store.documents(DocumentKind::AccountPolicy, caller.org_id, Some(&account)).await?;
    let policy = stored
        .into_iter()
        .next()
        .map(|d| d.document)
        .unwrap_or_else(|| json!({"emailPolicy": {"statements": []}, "slackPolicy": {"statements": []}}));
    Ok(Reply::item("spotinst:events:accountPolicy", json!({"accountId": account.to_string(), "accountPolicy": policy})))
}

/// S6: replaces the account's notification policy.
#[utoipa::path(put, path = "/events/notification/accountPolicy", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)), request_body = Object,
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn put_account_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::UpdateAccount).await?;
    let policy = check_account_policy(&body)?;
    state.store.put_document(DocumentKind::AccountPolicy, caller.org_id, &account, None, &policy).await?;
    Ok(Reply::item("spotinst:events:accountPolicy", json!({"accountId": account.to_string(), "accountPolicy": policy})))
}
