//! `/notificationCenter` (spot-api.md §3.9, N1–N6): Spot's notification policies, kept with
//! their exact shapes. orgplane raises no compute events itself (it runs no Elastigroups or
//! clusters); the policies are stored and served so the tools that manage them work unchanged.

use super::setup::credentials::account_or_default;
use super::{Done, Failure};
use crate::AppState;
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, NoParams, PathParam, Query};
use axum::extract::State;
use orgplane_domain::access::{Action, Caller};
use orgplane_domain::notification_center::{COMPUTE_EVENTS, check_policy};
use orgplane_domain::timefmt::to_spot;
use orgplane_domain::{Error, validate};
use orgplane_store::notification_center::{Document, DocumentKind};
use serde_json::{Value, json};

const KIND: &str = "spotinst:notificationPolicy";

fn not_found() -> Error {
    Error::not_found("NOTIFICATION_POLICY_DOESNT_EXIST", "path.policyId", "notification policy not found")
}

/// Private policies are their owner's alone.
fn visible(doc: &Document, caller: &Caller) -> bool {
    doc.document["privacyLevel"] != "private" || doc.owner_user_id.as_deref() == Some(caller.user_id.as_str())
}

fn item(doc: &Document) -> Value {
    let mut v = doc.document.clone();
    let o = v.as_object_mut().expect("documents are objects");
    o.insert("id".into(), json!(doc.id));
    o.insert("owner".into(), json!(doc.owner_email));
    o.insert("accountId".into(), json!(doc.account_id));
    o.insert("createdAt".into(), json!(to_spot(doc.created_at)));
    o.insert("updatedAt".into(), json!(to_spot(doc.updated_at)));
    v
}

/// Checks the body and that every registered user belongs to the organization.
async fn checked(state: &AppState, caller: &Caller, body: &Value) -> Result<Value, Error> {
    let c = check_policy(body)?;
    for (i, email) in c.registered_emails.iter().enumerate() {
        let field = format!("body.registeredUsers[{i}].userEmail");
        let key = validate::email(&field, email)?.key;
        if state.store.find_org_user_by_email(caller.org_id, &key).await?.is_none() {
            return Err(Error::invalid("USER_DOESNT_EXIST", field, "no user with this email in the organization"));
        }
    }
    Ok(c.document)
}

/// N1: creates a policy for the account (the default account when `accountId` is absent).
#[utoipa::path(post, path = "/notificationCenter/policy", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)), request_body = Object,
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    q: Query<NoParams>,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    let account = account_or_default(&state, &caller, q.account_id, Action::UpdateAccount).await?;
    let document = checked(&state, &caller, &body).await?;
    let owner = (!caller.email.is_empty()).then_some((&caller.user_id, caller.email.as_str()));
    let owner = owner.unwrap_or((&caller.user_id, ""));
    let stored =
        state.store.put_document(DocumentKind::Policy, caller.org_id, &account, Some(owner), &document).await?;
    Ok(Reply::item(KIND, item(&stored)))
}

/// N2: the policies the caller can see, with whether they are registered to each.
#[utoipa::path(get, path = "/notificationCenter/policy", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    let account = match q.account_id {
        Some(a) => Some(account_or_default(&state, &caller, Some(a), Action::DescribeAccount).await?),
        None => None,
    };
    let docs = state.store.documents(DocumentKind::Policy, caller.org_id, account.as_ref()).await?;
    let mut items = Vec::new();
    for doc in docs.iter().filter(|d| visible(d, &caller)) {
        let registered = doc.document["registeredUsers"].as_array().cloned().unwrap_or_default();
        let mine =
            registered.iter().find(|r| r["userEmail"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&caller.email)));
        items.push(json!({
            "policyId": doc.id,
            "type": "compute",
            "name": doc.document["name"],
            "description": doc.document["description"],
            "owner": doc.owner_email,
            "registeredUsersCount": registered.len(),
            "isActive": doc.document["isActive"],
            "isRegistered": mine.is_some(),
            "accountId": doc.account_id,
            "notificationMethod": mine.map(|m| m["subscriptionTypes"].clone()).unwrap_or(json!([])),
        }));
    }
    Ok(Reply::items("spotinst:notification:userNotificationPolicy", items))
}

async fn visible_policy(state: &AppState, caller: &Caller, id: &str) -> Result<Document, Error> {
    state
        .store
        .document(DocumentKind::Policy, caller.org_id, id)
        .await?
        .filter(|d| visible(d, caller))
        .ok_or_else(not_found)
}

/// N3: one policy.
#[utoipa::path(get, path = "/notificationCenter/policy/{policyId}", tag = "notifications", security(("bearer" = [])),
    params(("policyId" = String, Path)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    Ok(Reply::item(KIND, item(&visible_policy(&state, &caller, &id).await?)))
}

/// N4: a partial update. Python sends `{"policy": {…}}`, Go the fields flat: both are taken.
#[utoipa::path(put, path = "/notificationCenter/policy/{policyId}", tag = "notifications", security(("bearer" = [])),
    params(("policyId" = String, Path)), request_body = Object,
    responses((status = 200, body = Items<Object>), (status = 400, body = Failure), (status = 401, body = Failure), (status = 404, body = Failure)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
    Body(body): Body<Value>,
) -> ApiResult<Reply> {
    let current = visible_policy(&state, &caller, &id).await?;
    let account = orgplane_domain::ids::AccountId::parse(&current.account_id).map_err(Error::internal)?;
    account_or_default(&state, &caller, Some(account), Action::UpdateAccount).await?;
    let changes = match body.get("policy") {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => body,
    };
    let merged = orgplane_domain::notification_center::merged(&current.document, &changes);
    let document = checked(&state, &caller, &merged).await?;
    if !state.store.update_document(DocumentKind::Policy, caller.org_id, &id, &document).await? {
        return Err(not_found().into());
    }
    Ok(Reply::item(KIND, item(&visible_policy(&state, &caller, &id).await?)))
}

/// N5: deletes a policy.
#[utoipa::path(delete, path = "/notificationCenter/policy/{policyId}", tag = "notifications", security(("bearer" = [])),
    params(("policyId" = String, Path)),
    responses((status = 200, body = Done), (status = 401, body = Failure), (status = 403, body = Failure), (status = 404, body = Failure)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    _: Query<NoParams>,
    PathParam(id): PathParam,
) -> ApiResult<Reply> {
    let current = visible_policy(&state, &caller, &id).await?;
    let account = orgplane_domain::ids::AccountId::parse(&current.account_id).map_err(Error::internal)?;
    account_or_default(&state, &caller, Some(account), Action::UpdateAccount).await?;
    if !state.store.delete_document(DocumentKind::Policy, caller.org_id, &id).await? {
        return Err(not_found().into());
    }
    Ok(Reply::Done)
}

/// N6: the account's compute resources. orgplane runs none, so the list is empty.
#[utoipa::path(get, path = "/notificationCenter/compute/resource", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn resources(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    Ok(Reply::items("spotinst:notification:compute:accountResource", Vec::<Value>::new()))
}

/// N6: the compute events a policy can name, with their severity.
#[utoipa::path(get, path = "/notificationCenter/compute/event", tag = "notifications", security(("bearer" = [])),
    params(("accountId" = Option<String>, Query)),
    responses((status = 200, body = Items<Object>), (status = 401, body = Failure), (status = 403, body = Failure)))]
pub async fn events(State(state): State<AppState>, Auth(caller): Auth, q: Query<NoParams>) -> ApiResult<Reply> {
    account_or_default(&state, &caller, q.account_id, Action::DescribeAccount).await?;
    let items = COMPUTE_EVENTS.iter().map(|(event, kind)| json!({"event": event, "type": kind}));
    Ok(Reply::items("spotinst:notification:compute:event", items))
}
