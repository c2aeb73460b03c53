//! `/scim/v2`: the SCIM 2.0 service provider (RFC 7643, RFC 7644) an organization's IdP
//! provisions people and groups through, with a SCIM token an admin created under
//! `/setup/organization/{organizationId}/scim/token`. The token names the organization.
//!
//! SCIM has its own wire format: resources as they are (no Spot envelope), errors as
//! `urn:…:Error` with `status` and `scimType`, `application/scim+json`. [`ScimError`] is where the
//! one `Error` enum becomes that format. The resource rules live in
//! `orgplane_domain::scim`; this module parses, calls the store, and renders.

use crate::AppState;
use crate::extract::client_ip;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgplane_domain::Error;
use orgplane_domain::ids::OrgId;
use orgplane_domain::scim::resource::{self as res, Page};
use orgplane_domain::scim::{AttrPath, apply_patch, parse_filter, parse_patch, scim_type, to_sql};
use orgplane_domain::secret;
use orgplane_store::scim::ScimCaller;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CONTENT_TYPE: &str = "application/scim+json";

/// An `Error` in SCIM's error format.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
    field: Option<String>,
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        let plain = |status, detail: String| ScimError { status, scim_type: None, detail, field: None };
        match e {
            Error::Invalid { code, message, field } => {
                let (status, scim_type) = match code {
                    c if scim_type::ALL.contains(&c) => (StatusCode::BAD_REQUEST, c),
                    "uniqueness" | "USER_ALREADY_EXISTS" | "EMAIL_ALREADY_EXISTS" | "USER_IN_ORGANIZATION_FAMILY" => {
                        (StatusCode::CONFLICT, "uniqueness")
                    }
                    "tooMany" => (StatusCode::PAYLOAD_TOO_LARGE, "tooMany"),
                    _ => (StatusCode::BAD_REQUEST, scim_type::INVALID_VALUE),
                };
                ScimError { status, scim_type: Some(scim_type), detail: message, field }
            }
            Error::NotFound { message, .. } => plain(StatusCode::NOT_FOUND, message),
            Error::Unauthenticated => plain(StatusCode::UNAUTHORIZED, "a valid SCIM bearer token is required".into()),
            Error::Forbidden { message, .. } => plain(StatusCode::FORBIDDEN, message),
            Error::PayloadTooLarge => {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than 1 MiB".into())
            }
            Error::RateLimited { message, .. } => plain(StatusCode::TOO_MANY_REQUESTS, message),
            Error::NoRoute { .. } => plain(StatusCode::NOT_FOUND, "no such route".into()),
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred".into())
            }
        }
    }
}

impl From<crate::error::ApiError> for ScimError {
    fn from(e: crate::error::ApiError) -> Self {
        ScimError::from(e.0)
    }
}

impl ScimError {
    fn precondition_failed() -> Self {
        ScimError {
            status: StatusCode::PRECONDITION_FAILED,
            scim_type: None,
            detail: "the resource changed since the version in If-Match".into(),
            field: None,
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [res::ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut res = scim_json(self.status, &self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        res
    }
}

type ScimResult<T> = Result<T, ScimError>;

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

/// One resource, with its ETag (and its location when just created).
fn resource_response(status: StatusCode, resource: &Value) -> Response {
    let mut res = scim_json(status, resource);
    if let Some(v) = res::version_of(resource).and_then(|v| HeaderValue::from_str(v).ok()) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(loc) = resource["meta"]["location"].as_str().and_then(|l| HeaderValue::from_str(l).ok())
    {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// The organization behind `Authorization: Bearer <SCIM token>`.
pub struct ScimAuth(pub ScimCaller);

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthenticated)?;
        let caller = state.store.scim_caller(&secret::token_hash(token)).await?.ok_or(Error::Unauthenticated)?;
        orgplane_store::audit::note(|d| {
            d.org = Some(caller.org);
            d.source = "scim".into();
            d.user_id = Some(caller.token_id.clone());
            d.ip = client_ip(parts).map(|ip| ip.to_string()).or(d.ip.take());
        });
        state.rate_limiter.check(&state.store, caller.org, parts).await?;
        Ok(ScimAuth(caller))
    }
}

/// A JSON object body (`application/scim+json` or `application/json`).
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = crate::extract::read_body(req, state).await?;
        crate::audit::note_body(&bytes, false);
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(scim_type::INVALID_SYNTAX, "body", format!("the body is not valid JSON: {e}"))
        })?;
        if !value.is_object() {
            return Err(Error::invalid(scim_type::INVALID_SYNTAX, "body", "the body must be a JSON object").into());
        }
        Ok(ScimBody(value))
    }
}

/// The query parameters of a list request (RFC 7644 §3.4.2); others are ignored, as SCIM
/// clients add their own.
#[derive(Default)]
struct ListQuery {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl ListQuery {
    fn parse(raw: Option<&str>) -> Self {
        let mut q = ListQuery::default();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match key.as_ref() {
                "filter" => &mut q.filter,
                "startIndex" => &mut q.start_index,
                "count" => &mut q.count,
                "attributes" => &mut q.attributes,
                "excludedAttributes" => &mut q.excluded,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        q
    }
}

/// Users or Groups: the two resource types, served by the same functions below (and by Bulk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    fn mutable(self) -> fn(&str) -> bool {
        match self {
            Kind::User => res::user_attribute_mutable,
            Kind::Group => res::group_attribute_mutable,
        }
    }
}

fn base_url(state: &AppState) -> String {
    format!("{}/scim/v2", state.config.public_url.trim_end_matches('/'))
}

async fn role_attribute(state: &AppState, org: OrgId) -> ScimResult<AttrPath> {
    let configured = state.store.scim_role_attribute(org).await?;
    Ok(res::role_attribute("roleAttribute", configured.as_deref().unwrap_or(res::DEFAULT_ROLE_ATTRIBUTE))?)
}

fn not_found(kind: Kind) -> Error {
    let what = if kind == Kind::User { "user" } else { "group" };
    Error::not_found("RESOURCE_DOESNT_EXIST", "id", format!("{what} not found"))
}

async fn load(state: &AppState, org: OrgId, kind: Kind, id: &str) -> ScimResult<Value> {
    let base = base_url(state);
    let found = match kind {
        Kind::User => state.store.scim_user(org, id).await?.map(|u| res::render_user(&u, &base)),
        Kind::Group => state.store.scim_group(org, id).await?.map(|g| res::render_group(&g, &base)),
    };
    Ok(found.ok_or_else(|| not_found(kind))?)
}

async fn list(state: &AppState, org: OrgId, kind: Kind, query: &ListQuery) -> ScimResult<Value> {
    let page = Page::parse(query.start_index.as_deref(), query.count.as_deref())?;
    let filter = match query.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => {
            let parsed = parse_filter(text)?;
            let columns = if kind == Kind::User { res::user_column } else { res::group_column };
            Some(to_sql(&parsed, &columns, 2)?)
        }
        None => None,
    };
    let base = base_url(state);
    let (total, mut resources) = match kind {
        Kind::User => {
            let (total, users) = state.store.scim_users(org, filter.as_ref(), page).await?;
            (total, users.iter().map(|u| res::render_user(u, &base)).collect::<Vec<_>>())
        }
        Kind::Group => {
            let (total, groups) = state.store.scim_groups(org, filter.as_ref(), page).await?;
            (total, groups.iter().map(|g| res::render_group(g, &base)).collect::<Vec<_>>())
        }
    };
    for r in &mut resources {
        res::project(r, query.attributes.as_deref(), query.excluded.as_deref());
    }
    Ok(res::list_response(total, page, resources))
}

async fn create(state: &AppState, org: OrgId, kind: Kind, data: &Value) -> ScimResult<Value> {
    let id = match kind {
        Kind::User => {
            let input = res::parse_user(data, &role_attribute(state, org).await?)?;
            state.store.scim_create_user(org, &input).await?
        }
        Kind::Group => state.store.scim_create_group(org, &res::parse_group(data)?).await?,
    };
    load(state, org, kind, &id).await
}

/// Fails with 412 unless `if_match` (when given) names the current version.
fn check_version(current: &Value, if_match: Option<&str>) -> ScimResult<()> {
    match (if_match, res::version_of(current)) {
        (Some(wanted), Some(version)) if !res::if_match_allows(wanted, version) => {
            Err(ScimError::precondition_failed())
        }
        _ => Ok(()),
    }
}

async fn replace(
    state: &AppState,
    org: OrgId,
    kind: Kind,
    id: &str,
    data: &Value,
    if_match: Option<&str>,
) -> ScimResult<Value> {
    let current = load(state, org, kind, id).await?;
    check_version(&current, if_match)?;
    store_replacement(state, org, kind, id, data).await
}

async fn store_replacement(state: &AppState, org: OrgId, kind: Kind, id: &str, data: &Value) -> ScimResult<Value> {
    match kind {
        Kind::User => {
            let input = res::parse_user(data, &role_attribute(state, org).await?)?;
            state.store.scim_replace_user(org, id, &input).await?;
        }
        Kind::Group => state.store.scim_replace_group(org, id, &res::parse_group(data)?).await?,
    }
    load(state, org, kind, id).await
}

/// PATCH: the operations are applied to the current representation (all or nothing), and the
/// result is stored as a replacement.
async fn patch(
    state: &AppState,
    org: OrgId,
    kind: Kind,
    id: &str,
    data: &Value,
    if_match: Option<&str>,
) -> ScimResult<Value> {
    let ops = parse_patch(data)?;
    let mut current = load(state, org, kind, id).await?;
    check_version(&current, if_match)?;
    apply_patch(&mut current, &ops, &kind.mutable())?;
    store_replacement(state, org, kind, id, &current).await
}

async fn delete(state: &AppState, org: OrgId, kind: Kind, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    let current = load(state, org, kind, id).await?;
    check_version(&current, if_match)?;
    match kind {
        Kind::User => state.store.scim_delete_user(org, id).await?,
        Kind::Group => {
            state.store.delete_group(org, &orgplane_domain::ids::GroupId::from_stored(id.to_string())).await?
        }
    }
    Ok(())
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

/// `GET` of one resource, answering 304 when `If-None-Match` names its version.
async fn get_one(
    state: &AppState,
    org: OrgId,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> ScimResult<Response> {
    let mut resource = load(state, org, kind, id).await?;
    let none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if let (Some(wanted), Some(version)) = (none_match, res::version_of(&resource))
        && res::if_match_allows(wanted, version)
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(header::ETAG, HeaderValue::from_str(version).map_err(Error::internal)?);
        return Ok(res);
    }
    let query = ListQuery::parse(raw);
    res::project(&mut resource, query.attributes.as_deref(), query.excluded.as_deref());
    Ok(resource_response(StatusCode::OK, &resource))
}

// ---- discovery ----

/// What this service provider supports (RFC 7644 §5).
#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "urn:…:ServiceProviderConfig", body = Object), (status = 401, body = Object)))]
pub async fn service_provider_config(State(state): State<AppState>, _: ScimAuth) -> Response {
    scim_json(StatusCode::OK, &res::service_provider_config(&base_url(&state)))
}

/// The User and Group schemas (RFC 7643 §7).
#[utoipa::path(get, path = "/scim/v2/Schemas", tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "ListResponse of Schema", body = Object), (status = 401, body = Object)))]
pub async fn schemas(State(state): State<AppState>, _: ScimAuth) -> Response {
    let all = res::schemas(&base_url(&state));
    let page = Page { start_index: 1, count: all.len() as i64 };
    scim_json(StatusCode::OK, &res::list_response(all.len() as i64, page, all))
}

/// The resource types: User and Group (RFC 7643 §6).
#[utoipa::path(get, path = "/scim/v2/ResourceTypes", tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "ListResponse of ResourceType", body = Object), (status = 401, body = Object)))]
pub async fn resource_types(State(state): State<AppState>, _: ScimAuth) -> Response {
    let all = res::resource_types(&base_url(&state));
    let page = Page { start_index: 1, count: all.len() as i64 };
    scim_json(StatusCode::OK, &res::list_response(all.len() as i64, page, all))
}

// ---- Users and Groups ----

macro_rules! resource_handlers {
    ($kind:expr, $tag_path:literal, $id_path:literal, $list:ident, $create:ident, $get:ident, $put:ident, $patch:ident, $delete:ident) => {
        /// A filtered page (`filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`).
        #[utoipa::path(get, path = $tag_path, tag = "scim", security(("bearer" = [])),
            responses((status = 200, description = "ListResponse", body = Object), (status = 400, body = Object), (status = 401, body = Object)))]
        pub async fn $list(State(state): State<AppState>, ScimAuth(c): ScimAuth, RawQuery(raw): RawQuery) -> ScimResult<Response> {
            let page = list(&state, c.org, $kind, &ListQuery::parse(raw.as_deref())).await?;
            Ok(scim_json(StatusCode::OK, &page))
        }

        /// Creates the resource: 201 with `Location` and `ETag`.
        #[utoipa::path(post, path = $tag_path, tag = "scim", security(("bearer" = [])), request_body = Object,
            responses((status = 201, description = "The resource", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 409, body = Object)))]
        pub async fn $create(State(state): State<AppState>, ScimAuth(c): ScimAuth, ScimBody(data): ScimBody) -> ScimResult<Response> {
            let created = create(&state, c.org, $kind, &data).await?;
            Ok(resource_response(StatusCode::CREATED, &created))
        }

        /// One resource; 304 when `If-None-Match` names its version.
        #[utoipa::path(get, path = $id_path, tag = "scim", security(("bearer" = [])),
            responses((status = 200, description = "The resource", body = Object), (status = 304, description = "Not modified"), (status = 401, body = Object), (status = 404, body = Object)))]
        pub async fn $get(
            State(state): State<AppState>,
            ScimAuth(c): ScimAuth,
            axum::extract::Path(id): axum::extract::Path<String>,
            headers: HeaderMap,
            RawQuery(raw): RawQuery,
        ) -> ScimResult<Response> {
            get_one(&state, c.org, $kind, &id, &headers, raw.as_deref()).await
        }

        /// Replaces the resource (`If-Match` honoured).
        #[utoipa::path(put, path = $id_path, tag = "scim", security(("bearer" = [])), request_body = Object,
            responses((status = 200, description = "The resource", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 404, body = Object), (status = 412, body = Object)))]
        pub async fn $put(
            State(state): State<AppState>,
            ScimAuth(c): ScimAuth,
            axum::extract::Path(id): axum::extract::Path<String>,
            headers: HeaderMap,
            ScimBody(data): ScimBody,
        ) -> ScimResult<Response> {
            let done = replace(&state, c.org, $kind, &id, &data, if_match(&headers)).await?;
            Ok(resource_response(StatusCode::OK, &done))
        }

        /// Applies a PatchOp, all operations or none (`If-Match` honoured).
        #[utoipa::path(patch, path = $id_path, tag = "scim", security(("bearer" = [])), request_body = Object,
            responses((status = 200, description = "The resource", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 404, body = Object), (status = 412, body = Object)))]
        pub async fn $patch(
            State(state): State<AppState>,
            ScimAuth(c): ScimAuth,
            axum::extract::Path(id): axum::extract::Path<String>,
            headers: HeaderMap,
            ScimBody(data): ScimBody,
        ) -> ScimResult<Response> {
            let done = patch(&state, c.org, $kind, &id, &data, if_match(&headers)).await?;
            Ok(resource_response(StatusCode::OK, &done))
        }

        /// Deletes the resource: 204.
        #[utoipa::path(delete, path = $id_path, tag = "scim", security(("bearer" = [])),
            responses((status = 204, description = "Deleted"), (status = 401, body = Object), (status = 404, body = Object), (status = 412, body = Object)))]
        pub async fn $delete(
            State(state): State<AppState>,
            ScimAuth(c): ScimAuth,
            axum::extract::Path(id): axum::extract::Path<String>,
            headers: HeaderMap,
        ) -> ScimResult<StatusCode> {
            delete(&state, c.org, $kind, &id, if_match(&headers)).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

resource_handlers!(
    Kind::User,
    "/scim/v2/Users",
    "/scim/v2/Users/{userId}",
    list_users,
    create_user,
    get_user,
    replace_user,
    patch_user,
    delete_user
);
resource_handlers!(
    Kind::Group,
    "/scim/v2/Groups",
    "/scim/v2/Groups/{userGroupId}",
    list_groups,
    create_group,
    get_group,
    replace_group,
    patch_group,
    delete_group
);

// ---- Bulk ----

/// Runs several operations in order (RFC 7644 §3.7); `bulkId:` references name resources
/// created earlier in the same request. Stops after `failOnErrors` failures.
#[utoipa::path(post, path = "/scim/v2/Bulk", tag = "scim", security(("bearer" = [])), request_body = Object,
    responses((status = 200, description = "BulkResponse", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 413, body = Object)))]
pub async fn bulk(
    State(state): State<AppState>,
    ScimAuth(c): ScimAuth,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let (fail_on_errors, ops) = res::parse_bulk(&body)?;
    let mut created = BTreeMap::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut errors = 0;
    for op in ops {
        let outcome = run_bulk_op(&state, c.org, &op, &created).await;
        let mut result = json!({ "method": op.method });
        if let Some(id) = &op.bulk_id {
            result["bulkId"] = json!(id);
        }
        match outcome {
            Ok((status, resource)) => {
                if let Some(resource) = resource {
                    if let (Some(bulk_id), Some(id)) = (&op.bulk_id, resource["id"].as_str()) {
                        created.insert(bulk_id.clone(), id.to_string());
                    }
                    result["location"] = resource["meta"]["location"].clone();
                    result["version"] = resource["meta"]["version"].clone();
                }
                result["status"] = json!(status.as_u16().to_string());
            }
            Err(e) => {
                errors += 1;
                result["status"] = json!(e.status.as_u16().to_string());
                result["response"] = e.body();
            }
        }
        results.push(result);
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
    }
    Ok(scim_json(StatusCode::OK, &json!({ "schemas": [res::BULK_RESPONSE_SCHEMA], "Operations": results })))
}

async fn run_bulk_op(
    state: &AppState,
    org: OrgId,
    op: &res::BulkOperation,
    created: &BTreeMap<String, String>,
) -> ScimResult<(StatusCode, Option<Value>)> {
    let path = res::resolve_bulk_path(&op.path, created)?;
    let path = path.trim_end_matches('/');
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let kind = match parts.next() {
        Some(p) if p.eq_ignore_ascii_case("Users") => Kind::User,
        Some(p) if p.eq_ignore_ascii_case("Groups") => Kind::Group,
        _ => {
            return Err(Error::invalid(
                scim_type::INVALID_PATH,
                "path",
                "the path must be /Users, /Groups or one of their resources",
            )
            .into());
        }
    };
    let id = parts.next().filter(|id| !id.is_empty() && !id.contains('/'));
    let mut data = op.data.clone().unwrap_or(Value::Null);
    res::resolve_bulk_ids(&mut data, created)?;
    let version = op.version.as_deref();
    match (op.method.as_str(), id) {
        ("POST", None) => Ok((StatusCode::CREATED, Some(create(state, org, kind, &data).await?))),
        ("PUT", Some(id)) => Ok((StatusCode::OK, Some(replace(state, org, kind, id, &data, version).await?))),
        ("PATCH", Some(id)) => Ok((StatusCode::OK, Some(patch(state, org, kind, id, &data, version).await?))),
        ("DELETE", Some(id)) => {
            delete(state, org, kind, id, version).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (method, _) => Err(Error::invalid(
            scim_type::INVALID_PATH,
            "path",
            format!(
                "{method} needs {}",
                if method == "POST" { format!("/{}", kind.endpoint()) } else { format!("/{}/{{id}}", kind.endpoint()) }
            ),
        )
        .into()),
    }
}
