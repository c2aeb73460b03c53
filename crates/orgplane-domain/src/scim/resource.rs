//! SCIM resources as orgplane maps them (RFC 7643): a User is a person of the organization, a
//! Group is a user group. Rendering, parsing of client representations, the filterable columns,
//! ETags, list and bulk message shapes, and the discovery documents. No I/O.
//!
//! Mapping decisions:
//! - `userName` is the email (Spot identifies people by email); `emails` mirrors it.
//! - `active` is "is a member of the organization": deactivation removes the membership, access
//!   and tokens; the identity stays so that the IdP can reactivate it.
//! - The role comes from a configurable attribute (default `roles`), Spot's way: `Editor` makes
//!   the person an organization admin, `Viewer` gives them the Account Viewer policy on every
//!   account. Absent on create means `Viewer`; absent on replace keeps the current role.

use super::filter::parse_attr_path;
use super::{AttrPath, GROUP_SCHEMA, USER_SCHEMA, get_ci, scim_error, scim_type};
use crate::error::{Error, Result};
use crate::timefmt::to_spot;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `urn:…:ListResponse`.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:…:Error`.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Page size when the client names none, and the most one page may hold.
pub const DEFAULT_COUNT: i64 = 100;
pub const MAX_COUNT: i64 = 1000;
/// Operations one Bulk request may carry.
pub const MAX_BULK_OPERATIONS: usize = 1000;
/// The attribute read for the role when the organization configured none.
pub const DEFAULT_ROLE_ATTRIBUTE: &str = "roles";

/// Spot's two SCIM roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimRole {
    /// Organization admin.
    Editor,
    /// Account Viewer on every account.
    Viewer,
}

impl ScimRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimRole::Editor => "Editor",
            ScimRole::Viewer => "Viewer",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("editor") {
            Some(ScimRole::Editor)
        } else if s.eq_ignore_ascii_case("viewer") {
            Some(ScimRole::Viewer)
        } else {
            None
        }
    }
}

/// A person as SCIM shows them.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub external_id: Option<String>,
    /// `None` while deactivated.
    pub role: Option<ScimRole>,
    pub created_at: i64,
    pub updated_at: i64,
    /// (group id, group name)
    pub groups: Vec<(String, String)>,
}

/// A group as SCIM shows it.
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub id: String,
    pub name: String,
    /// (user id, display name)
    pub members: Vec<(String, String)>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A User as a client sent it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput {
    pub email: String,
    pub email_key: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub external_id: Option<String>,
    pub role: Option<ScimRole>,
}

/// A Group as a client sent it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub name: String,
    /// User ids, deduplicated, in the order given.
    pub members: Vec<String>,
}

pub fn render_user(u: &UserRecord, base: &str) -> Value {
    let mut user = json!({
        "schemas": [USER_SCHEMA],
        "id": u.id,
        "userName": u.email,
        "name": {
            "givenName": u.first_name,
            "familyName": u.last_name,
            "formatted": display_name(&u.first_name, &u.last_name),
        },
        "displayName": display_name(&u.first_name, &u.last_name),
        "emails": [{ "value": u.email, "type": "work", "primary": true }],
        "active": u.active,
        "groups": u.groups.iter().map(|(id, name)| json!({
            "value": id, "display": name, "$ref": format!("{base}/Groups/{id}"),
        })).collect::<Vec<_>>(),
    });
    if let Some(role) = u.role {
        user["roles"] = json!([{ "value": role.as_str(), "primary": true }]);
    }
    if let Some(external) = &u.external_id {
        user["externalId"] = json!(external);
    }
    with_meta(user, "User", &format!("{base}/Users/{}", u.id), u.created_at, u.updated_at)
}

pub fn render_group(g: &GroupRecord, base: &str) -> Value {
    let group = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "displayName": g.name,
        "members": g.members.iter().map(|(id, display)| json!({
            "value": id, "display": display, "type": "User", "$ref": format!("{base}/Users/{id}"),
        })).collect::<Vec<_>>(),
    });
    with_meta(group, "Group", &format!("{base}/Groups/{}", g.id), g.created_at, g.updated_at)
}

fn display_name(first: &str, last: &str) -> String {
    if last.is_empty() { first.to_string() } else { format!("{first} {last}") }
}

/// Adds `meta`, whose `version` is the ETag of everything else in the resource: any change a
/// client could see changes it, without a version column to keep in step.
fn with_meta(mut resource: Value, kind: &str, location: &str, created: i64, modified: i64) -> Value {
    resource["meta"] = json!({
        "resourceType": kind,
        "created": to_spot(created),
        "lastModified": to_spot(modified.max(created)),
        "location": location,
    });
    let version = etag(&resource);
    resource["meta"]["version"] = json!(version);
    resource
}

/// A weak ETag over the resource's JSON (serde_json keeps keys sorted, so it is stable).
fn etag(resource: &Value) -> String {
    let digest = Sha256::digest(resource.to_string().as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..12]))
}

/// The ETag a rendered resource carries.
pub fn version_of(resource: &Value) -> Option<&str> {
    resource.get("meta")?.get("version")?.as_str()
}

/// Whether an `If-Match` header value allows changing a resource whose ETag is `current`.
pub fn if_match_allows(header: &str, current: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.split(',').any(|t| t.trim() == "*" || strip(t) == strip(current))
}

/// Attributes a client may not write: PATCH refuses them, PUT ignores them (RFC 7644 §3.5.1).
pub fn user_attribute_mutable(attr: &str) -> bool {
    !["id", "meta", "groups", "schemas"].iter().any(|a| a.eq_ignore_ascii_case(attr))
}

pub fn group_attribute_mutable(attr: &str) -> bool {
    !["id", "meta", "schemas"].iter().any(|a| a.eq_ignore_ascii_case(attr))
}

/// The role attribute an organization configured, checked: an attribute path such as `roles`,
/// `userType` or `urn:…:enterprise:2.0:User:organization`.
pub fn role_attribute(field: &str, raw: &str) -> Result<AttrPath> {
    parse_attr_path(raw.trim(), false).ok_or_else(|| {
        Error::validation(field, format!("\"{field}\" must be a SCIM attribute path such as \"roles\" or \"userType\""))
    })
}

pub fn parse_user(v: &Value, role_attr: &AttrPath) -> Result<UserInput> {
    let map = object(v)?;
    check_schemas(map, USER_SCHEMA)?;
    let user_name = get_ci(map, "userName").and_then(Value::as_str).ok_or_else(|| {
        scim_error(scim_type::INVALID_VALUE, "userName", "\"userName\" (the person's email) is required")
    })?;
    let email = crate::validate::email("userName", user_name)
        .map_err(|_| scim_error(scim_type::INVALID_VALUE, "userName", "\"userName\" must be an email address"))?;
    let name = get_ci(map, "name").and_then(Value::as_object);
    let part = |key: &str| name.and_then(|n| get_ci(n, key)).and_then(Value::as_str).map(str::trim);
    // Some IdPs send only displayName: split it rather than refuse the person.
    let display = get_ci(map, "displayName").and_then(Value::as_str).map(str::trim).unwrap_or("");
    let (display_first, display_last) = display.split_once(' ').unwrap_or((display, ""));
    let first = part("givenName").filter(|s| !s.is_empty()).unwrap_or(display_first);
    let last = part("familyName").unwrap_or(display_last.trim());
    let first = if first.is_empty() { email.display.split('@').next().unwrap_or_default() } else { first };
    let first_name = name_value("name.givenName", first)?;
    let last_name = if last.is_empty() { String::new() } else { name_value("name.familyName", last)? };
    let active = match get_ci(map, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        // Some IdPs send the flag as a string.
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(scim_error(scim_type::INVALID_VALUE, "active", "\"active\" must be a boolean")),
    };
    let external_id = match get_ci(map, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 256 => Some(s.clone()),
        Some(_) => {
            return Err(scim_error(
                scim_type::INVALID_VALUE,
                "externalId",
                "\"externalId\" must be a string of at most 256 characters",
            ));
        }
    };
    Ok(UserInput {
        email: email.display,
        email_key: email.key,
        first_name,
        last_name,
        active,
        external_id,
        role: role_of(map, role_attr)?,
    })
}

fn name_value(field: &str, s: &str) -> Result<String> {
    crate::validate::person_name(field, s).map_err(|e| match e {
        Error::Invalid { message, .. } => scim_error(scim_type::INVALID_VALUE, field, message),
        other => other,
    })
}

/// The role the configured attribute carries: a string, or a multi-valued attribute whose
/// primary (else first) entry's `value` is read.
fn role_of(map: &Map<String, Value>, attr: &AttrPath) -> Result<Option<ScimRole>> {
    let holder = match &attr.urn {
        Some(urn) if !super::is_core_schema(urn) => match get_ci(map, urn).and_then(Value::as_object) {
            Some(ext) => ext,
            None => return Ok(None),
        },
        _ => map,
    };
    let mut value = get_ci(holder, &attr.attr);
    if let (Some(sub), Some(Value::Object(inner))) = (&attr.sub, value) {
        value = get_ci(inner, sub);
    }
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => {
            let chosen = items.iter().find(|i| i.get("primary") == Some(&Value::Bool(true))).unwrap_or(&items[0]);
            match chosen {
                Value::String(s) => s.clone(),
                Value::Object(o) => get_ci(o, "value").and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            }
        }
        Some(_) => String::new(),
    };
    ScimRole::parse(text.trim()).map(Some).ok_or_else(|| {
        scim_error(scim_type::INVALID_VALUE, attr.to_string(), "the role must be \"Editor\" or \"Viewer\"")
    })
}

pub fn parse_group(v: &Value) -> Result<GroupInput> {
    let map = object(v)?;
    check_schemas(map, GROUP_SCHEMA)?;
    let name = get_ci(map, "displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| scim_error(scim_type::INVALID_VALUE, "displayName", "\"displayName\" is required"))?;
    let name = name_value("displayName", name)?;
    let mut members: Vec<String> = Vec::new();
    match get_ci(map, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let id = item.get("value").and_then(Value::as_str).ok_or_else(|| {
                    scim_error(
                        scim_type::INVALID_VALUE,
                        format!("members[{i}].value"),
                        "each member needs a \"value\": a user id",
                    )
                })?;
                if !members.iter().any(|m| m == id) {
                    members.push(id.to_string());
                }
            }
        }
        Some(_) => return Err(scim_error(scim_type::INVALID_VALUE, "members", "\"members\" must be an array")),
    }
    Ok(GroupInput { name, members })
}

fn object(v: &Value) -> Result<&Map<String, Value>> {
    v.as_object().ok_or_else(|| scim_error(scim_type::INVALID_SYNTAX, "body", "the body must be a JSON object"))
}

fn check_schemas(map: &Map<String, Value>, core: &str) -> Result<()> {
    let listed = get_ci(map, "schemas").and_then(Value::as_array);
    let has_core = listed.is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(core))));
    if has_core {
        Ok(())
    } else {
        Err(scim_error(scim_type::INVALID_SYNTAX, "schemas", format!("\"schemas\" must list \"{core}\"")))
    }
}

/// Where a User attribute lives in the store's user query (aliases `u` users, `m` the
/// membership, `s` the SCIM record). `None`: not filterable.
pub fn user_column(path: &AttrPath) -> Option<super::Column> {
    use super::Column;
    if !path.is_core() && !path.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(USER_SCHEMA)) {
        return None;
    }
    let col = match () {
        _ if path.is("id") => Column::text_exact("u.id"),
        _ if path.is("userName") || path.is("emails") || path.is("emails.value") => Column::text("u.email"),
        _ if path.is("externalId") => Column::text_exact("s.external_id"),
        _ if path.is("name.givenName") => Column::text("u.first_name"),
        _ if path.is("name.familyName") => Column::text("u.last_name"),
        _ if path.is("displayName") || path.is("name.formatted") => {
            Column::text("(CASE WHEN u.last_name = '' THEN u.first_name ELSE u.first_name || ' ' || u.last_name END)")
        }
        _ if path.is("active") => Column::boolean("(CASE WHEN m.user_id IS NULL THEN 0 ELSE 1 END)"),
        _ if path.is("meta.created") => Column::timestamp_millis("u.created_at"),
        _ if path.is("meta.lastModified") => Column::timestamp_millis("COALESCE(s.updated_at, m.created_at)"),
        _ => return None,
    };
    Some(col)
}

/// Where a Group attribute lives in the store's group query (alias `g`).
pub fn group_column(path: &AttrPath) -> Option<super::Column> {
    use super::Column;
    if !path.is_core() && !path.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA)) {
        return None;
    }
    let col = match () {
        _ if path.is("id") => Column::text_exact("g.id"),
        _ if path.is("displayName") => Column::text("g.name"),
        _ if path.is("meta.created") => Column::timestamp_millis("g.created_at"),
        _ if path.is("meta.lastModified") => Column::timestamp_millis("g.updated_at"),
        _ => return None,
    };
    Some(col)
}

/// `startIndex` (1-based) and `count` as RFC 7644 §3.4.2.4 defines them: values below 1 mean
/// 1 and 0, larger counts are cut to [`MAX_COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start_index: i64,
    pub count: i64,
}

impl Page {
    pub fn parse(start_index: Option<&str>, count: Option<&str>) -> Result<Page> {
        let number = |field: &str, raw: Option<&str>, default: i64| -> Result<i64> {
            match raw {
                None => Ok(default),
                Some(s) => s.trim().parse::<i64>().map_err(|_| {
                    scim_error(scim_type::INVALID_VALUE, field.to_string(), format!("\"{field}\" must be an integer"))
                }),
            }
        };
        Ok(Page {
            start_index: number("startIndex", start_index, 1)?.max(1),
            count: number("count", count, DEFAULT_COUNT)?.clamp(0, MAX_COUNT),
        })
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }
}

pub fn list_response(total: i64, page: Page, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": page.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9) on top-level attributes; `id`,
/// `schemas` and `meta` are always returned.
pub fn project(resource: &mut Value, attributes: Option<&str>, excluded: Option<&str>) {
    let Some(map) = resource.as_object_mut() else { return };
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|a| {
                let a = a.trim();
                let a = a.rsplit_once(':').map_or(a, |(_, n)| n);
                a.split('.').next().unwrap_or(a).to_ascii_lowercase()
            })
            .filter(|a| !a.is_empty())
            .collect()
    };
    let always = ["id", "schemas", "meta"];
    if let Some(list) = attributes {
        let keep = names(list);
        map.retain(|k, _| always.contains(&k.as_str()) || keep.contains(&k.to_ascii_lowercase()));
    } else if let Some(list) = excluded {
        let drop = names(list);
        map.retain(|k, _| always.contains(&k.as_str()) || !drop.contains(&k.to_ascii_lowercase()));
    }
}

/// One operation of a Bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: String,
    pub bulk_id: Option<String>,
    pub path: String,
    pub data: Option<Value>,
    pub version: Option<String>,
}

/// A Bulk request: the operations and `failOnErrors` (`None`: carry on whatever fails).
pub fn parse_bulk(v: &Value) -> Result<(Option<usize>, Vec<BulkOperation>)> {
    let map = object(v)?;
    let listed = get_ci(map, "schemas").and_then(Value::as_array);
    if !listed.is_some_and(|s| s.iter().any(|u| u.as_str() == Some(BULK_REQUEST_SCHEMA))) {
        return Err(scim_error(
            scim_type::INVALID_SYNTAX,
            "schemas",
            format!("\"schemas\" must list \"{BULK_REQUEST_SCHEMA}\""),
        ));
    }
    let fail_on_errors = match get_ci(map, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => {
                return Err(scim_error(
                    scim_type::INVALID_VALUE,
                    "failOnErrors",
                    "\"failOnErrors\" must be an integer of at least 1",
                ));
            }
        },
    };
    let ops = get_ci(map, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| scim_error(scim_type::INVALID_SYNTAX, "Operations", "\"Operations\" must be an array"))?;
    if ops.len() > MAX_BULK_OPERATIONS {
        return Err(Error::invalid(
            "tooMany",
            "Operations",
            format!("a bulk request may carry at most {MAX_BULK_OPERATIONS} operations"),
        ));
    }
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let field = |name: &str| format!("Operations[{i}].{name}");
        let op = op.as_object().ok_or_else(|| {
            scim_error(scim_type::INVALID_SYNTAX, format!("Operations[{i}]"), "each operation must be an object")
        })?;
        let text = |name: &str| get_ci(op, name).and_then(Value::as_str).map(str::to_string);
        let method = text("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                scim_error(scim_type::INVALID_VALUE, field("method"), "\"method\" must be POST, PUT, PATCH or DELETE")
            })?;
        let path =
            text("path").ok_or_else(|| scim_error(scim_type::INVALID_VALUE, field("path"), "\"path\" is required"))?;
        let bulk_id = text("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(scim_error(scim_type::INVALID_VALUE, field("bulkId"), "a POST operation needs a \"bulkId\""));
        }
        if let Some(id) = &bulk_id
            && let Some(first) = seen_ids.insert(id.clone(), i)
        {
            return Err(scim_error(
                scim_type::INVALID_VALUE,
                field("bulkId"),
                format!("bulkId \"{id}\" is already used by Operations[{first}]"),
            ));
        }
        let data = get_ci(op, "data").cloned();
        if method != "DELETE" && data.is_none() {
            return Err(scim_error(
                scim_type::INVALID_VALUE,
                field("data"),
                format!("a {method} operation needs \"data\""),
            ));
        }
        out.push(BulkOperation { method, bulk_id, path, data, version: text("version") });
    }
    Ok((fail_on_errors, out))
}

/// Replaces `bulkId:<id>` references (RFC 7644 §3.7.2) in `value` — string values anywhere, and
/// the operation's path — with the ids created earlier in the request. An unresolved reference
/// is an error naming it.
pub fn resolve_bulk_ids(value: &mut Value, created: &BTreeMap<String, String>) -> Result<()> {
    match value {
        Value::String(s) => {
            if let Some(reference) = s.strip_prefix("bulkId:") {
                let id = created.get(reference).ok_or_else(|| {
                    scim_error(
                        scim_type::INVALID_VALUE,
                        "data",
                        format!("bulkId \"{reference}\" names no resource created before this operation"),
                    )
                })?;
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| resolve_bulk_ids(v, created))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| resolve_bulk_ids(v, created))?,
        _ => {}
    }
    Ok(())
}

/// An operation's path with `bulkId:<id>` segments (`/Users/bulkId:u1`) resolved.
pub fn resolve_bulk_path(path: &str, created: &BTreeMap<String, String>) -> Result<String> {
    let segments = path
        .split('/')
        .map(|segment| {
            let mut v = Value::String(segment.to_string());
            resolve_bulk_ids(&mut v, created)?;
            Ok(v.as_str().unwrap_or_default().to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(segments.join("/"))
}

/// The `/ServiceProviderConfig` document.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/orgplane/orgplane#scim",
        "patch": { "supported": true },
        "bulk": { "supported": true, "maxOperations": MAX_BULK_OPERATIONS, "maxPayloadSize": 1_048_576 },
        "filter": { "supported": true, "maxResults": MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "SCIM token",
            "description": "A bearer token an organization admin creates under /setup/organization/{organizationId}/scim/token",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

/// The `/ResourceTypes` entries.
pub fn resource_types(base: &str) -> Vec<Value> {
    [("User", "/Users", USER_SCHEMA), ("Group", "/Groups", GROUP_SCHEMA)]
        .into_iter()
        .map(|(name, endpoint, schema)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": endpoint,
                "schema": schema,
                "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}") },
            })
        })
        .collect()
}

/// The `/Schemas` entries: the attributes orgplane stores, with their mutability.
pub fn schemas(base: &str) -> Vec<Value> {
    let attr = |name: &str, kind: &str, mutability: &str, required: bool, case_exact: bool| {
        json!({
            "name": name, "type": kind, "multiValued": false, "required": required, "caseExact": case_exact,
            "mutability": mutability, "returned": "default", "uniqueness": if name == "userName" { "server" } else { "none" },
        })
    };
    let complex = |name: &str, multi: bool, mutability: &str, subs: Vec<Value>| {
        json!({
            "name": name, "type": "complex", "multiValued": multi, "required": false,
            "mutability": mutability, "returned": "default", "subAttributes": subs,
        })
    };
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A person of the organization",
        "attributes": [
            attr("userName", "string", "readWrite", true, false),
            complex("name", false, "readWrite", vec![
                attr("givenName", "string", "readWrite", true, false),
                attr("familyName", "string", "readWrite", false, false),
                attr("formatted", "string", "readOnly", false, false),
            ]),
            attr("displayName", "string", "readOnly", false, false),
            complex("emails", true, "readOnly", vec![attr("value", "string", "readOnly", false, false)]),
            attr("active", "boolean", "readWrite", false, false),
            attr("externalId", "string", "readWrite", false, true),
            complex("roles", true, "readWrite", vec![attr("value", "string", "readWrite", false, false)]),
            complex("groups", true, "readOnly", vec![attr("value", "string", "readOnly", false, true)]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}") },
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A user group of the organization",
        "attributes": [
            attr("displayName", "string", "readWrite", true, false),
            complex("members", true, "readWrite", vec![attr("value", "string", "immutable", true, true)]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}") },
    });
    vec![user, group]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UserRecord {
        UserRecord {
            id: "u-1234abcd".into(),
            email: "Ada@Example.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            active: true,
            external_id: Some("okta-1".into()),
            role: Some(ScimRole::Editor),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_100_000,
            groups: vec![("ugr-1".into(), "Ops".into())],
        }
    }

    #[test]
    fn rendered_users_parse_back_to_the_same_input() {
        let rendered = render_user(&record(), "https://h/scim/v2");
        let roles = AttrPath::new("roles", None);
        let input = parse_user(&rendered, &roles).unwrap();
        assert_eq!(input.email_key, "ada@example.com");
        assert_eq!((input.first_name.as_str(), input.last_name.as_str()), ("Ada", "Lovelace"));
        assert_eq!(input.role, Some(ScimRole::Editor));
        assert_eq!(input.external_id.as_deref(), Some("okta-1"));
        assert!(input.active);
        assert_eq!(rendered["meta"]["location"], "https://h/scim/v2/Users/u-1234abcd");
    }

    #[test]
    fn the_etag_changes_with_any_visible_change_and_if_match_compares_weakly() {
        let a = render_user(&record(), "b");
        let mut changed = record();
        changed.last_name = "Byron".into();
        let b = render_user(&changed, "b");
        let (va, vb) = (version_of(&a).unwrap(), version_of(&b).unwrap());
        assert_ne!(va, vb);
        assert_eq!(va, version_of(&render_user(&record(), "b")).unwrap());
        assert!(if_match_allows(va, va));
        assert!(if_match_allows(&va.replace("W/", ""), va));
        assert!(if_match_allows("*", va));
        assert!(if_match_allows(&format!("{vb}, {va}"), va));
        assert!(!if_match_allows(vb, va));
    }

    #[test]
    fn the_role_is_read_from_the_configured_attribute() {
        let base = json!({ "schemas": [USER_SCHEMA], "userName": "a@b.co", "name": { "givenName": "A" } });
        let roles = AttrPath::new("roles", None);
        let mut v = base.clone();
        v["roles"] = json!([{ "value": "viewer" }, { "value": "Editor", "primary": true }]);
        assert_eq!(parse_user(&v, &roles).unwrap().role, Some(ScimRole::Editor));
        v["roles"] = json!("Viewer");
        assert_eq!(parse_user(&v, &roles).unwrap().role, Some(ScimRole::Viewer));
        assert_eq!(parse_user(&base, &roles).unwrap().role, None);
        v["roles"] = json!([{ "value": "Owner" }]);
        let err = parse_user(&v, &roles).unwrap_err();
        assert!(matches!(err, Error::Invalid { code: scim_type::INVALID_VALUE, .. }), "{err:?}");
        let ext = role_attribute("a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").unwrap();
        let mut v = base.clone();
        v[super::super::ENTERPRISE_USER_SCHEMA] = json!({ "department": "Editor" });
        assert_eq!(parse_user(&v, &ext).unwrap().role, Some(ScimRole::Editor));
        assert!(role_attribute("a", "not a path").is_err());
    }

    #[test]
    fn bad_users_name_the_attribute() {
        let roles = AttrPath::new("roles", None);
        let cases = [
            (json!([]), "body"),
            (json!({ "userName": "a@b.co" }), "schemas"),
            (json!({ "schemas": [USER_SCHEMA] }), "userName"),
            (json!({ "schemas": [USER_SCHEMA], "userName": "not-an-email" }), "userName"),
            (json!({ "schemas": [USER_SCHEMA], "userName": "a@b.co", "active": 3 }), "active"),
            (
                json!({ "schemas": [USER_SCHEMA], "userName": "a@b.co", "name": { "givenName": "a=b" } }),
                "name.givenName",
            ),
            (json!({ "schemas": [USER_SCHEMA], "userName": "a@b.co", "externalId": 7 }), "externalId"),
        ];
        for (body, field) in cases {
            match parse_user(&body, &roles) {
                Err(Error::Invalid { field: Some(f), .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn groups_parse_with_deduplicated_members() {
        let g = json!({ "schemas": [GROUP_SCHEMA], "displayName": "Ops",
            "members": [{ "value": "u-1" }, { "value": "u-2" }, { "value": "u-1" }] });
        assert_eq!(
            parse_group(&g).unwrap(),
            GroupInput { name: "Ops".into(), members: vec!["u-1".into(), "u-2".into()] }
        );
        let bad = json!({ "schemas": [GROUP_SCHEMA], "displayName": "Ops", "members": [{ "display": "x" }] });
        assert!(matches!(parse_group(&bad), Err(Error::Invalid { field: Some(f), .. }) if f == "members[0].value"));
    }

    #[test]
    fn paging_follows_rfc_7644() {
        assert_eq!(Page::parse(None, None).unwrap(), Page { start_index: 1, count: DEFAULT_COUNT });
        assert_eq!(Page::parse(Some("0"), Some("-5")).unwrap(), Page { start_index: 1, count: 0 });
        assert_eq!(Page::parse(Some("11"), Some("99999")).unwrap(), Page { start_index: 11, count: MAX_COUNT });
        assert!(Page::parse(Some("x"), None).is_err());
    }

    #[test]
    fn bulk_requests_are_checked_and_references_resolved() {
        let body = json!({ "schemas": [BULK_REQUEST_SCHEMA], "failOnErrors": 1, "Operations": [
            { "method": "post", "bulkId": "a", "path": "/Users", "data": {} },
            { "method": "PATCH", "path": "/Groups/g", "data": { "value": "bulkId:a" } },
        ]});
        let (fail, ops) = parse_bulk(&body).unwrap();
        assert_eq!(fail, Some(1));
        assert_eq!(ops[0].method, "POST");
        let mut data = ops[1].data.clone().unwrap();
        let created = BTreeMap::from([("a".to_string(), "u-1".to_string())]);
        resolve_bulk_ids(&mut data, &created).unwrap();
        assert_eq!(data["value"], "u-1");
        assert_eq!(resolve_bulk_path("/Users/bulkId:a", &created).unwrap(), "/Users/u-1");
        assert!(resolve_bulk_path("/Users/bulkId:b", &created).is_err());
        assert!(resolve_bulk_ids(&mut json!(["bulkId:zz"]), &created).is_err());
        let dup = json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": [
            { "method": "POST", "bulkId": "a", "path": "/Users", "data": {} },
            { "method": "POST", "bulkId": "a", "path": "/Users", "data": {} },
        ]});
        assert!(parse_bulk(&dup).is_err());
        let no_id = json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": [{ "method": "POST", "path": "/Users", "data": {} }]});
        assert!(parse_bulk(&no_id).is_err());
    }

    #[test]
    fn projection_keeps_id_schemas_and_meta() {
        let mut v = render_user(&record(), "b");
        project(&mut v, Some("userName,name.givenName"), None);
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["id", "meta", "name", "schemas", "userName"]);
        let mut v = render_user(&record(), "b");
        project(&mut v, None, Some("groups,emails"));
        assert!(v.get("groups").is_none() && v.get("emails").is_none() && v.get("userName").is_some());
    }

    #[test]
    fn filterable_columns_are_known_and_others_refused() {
        let f = super::super::parse_filter(
            "userName eq \"a\" and active eq true and meta.lastModified gt \"2024-01-01T00:00:00Z\"",
        )
        .unwrap();
        assert!(super::super::to_sql(&f, &user_column, 2).is_ok());
        let f = super::super::parse_filter("title eq \"x\"").unwrap();
        assert!(super::super::to_sql(&f, &user_column, 1).is_err());
        let f = super::super::parse_filter("displayName sw \"O\"").unwrap();
        assert!(super::super::to_sql(&f, &group_column, 1).is_ok());
    }
}
