//! SCIM PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying its operations to a
//! resource held as JSON. The caller validates the result against its schema afterwards; this
//! module knows no schema, so it reads the shape of the resource: an array is multi-valued, an
//! object is complex.
//!
//! Beyond the RFC, three forms that Azure AD and Okta send are understood: dotted keys in a
//! path-less value (`{"name.givenName": "B"}`), `add`/`replace` on `emails[type eq
//! "work"].value` when no work email exists yet (the value is created with `type: "work"`),
//! and `remove` on `members` with a `value` listing the members to remove.

use std::fmt;

use serde_json::{Map, Value};

use super::filter::{CompValue, CompareOp, Filter, matches_value, parse_attr_path, parse_patch_path};
use super::{AttrPath, ENTERPRISE_USER_SCHEMA, excerpt, find_key, get_ci, is_core_schema, scim_error, scim_type};
use crate::error::{Error, Result};

/// The schema a PatchOp request body must list.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

/// A PATCH target: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, any of them
/// URN-prefixed. With a filter, `attr.sub` is the sub-attribute after the brackets.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Parses a path; malformed ones are `invalidPath` on field `path`.
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_in(input, "path")
    }

    fn parse_in(input: &str, field: &str) -> Result<Self> {
        let (attr, filter) = parse_patch_path(input, field)?;
        Ok(PatchPath { attr, filter })
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(filter) = &self.filter else {
            return write!(f, "{}", self.attr);
        };
        let AttrPath { urn, attr, sub } = &self.attr;
        if let Some(urn) = urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{attr}[{filter}]")?;
        if let Some(sub) = sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// One checked operation: `remove` has a path; `add` and `replace` have a value, which is an
/// object when they have no path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses a PatchOp request body. A body without the PatchOp schema or without operations is
/// `invalidSyntax`; an unknown `op` too; a malformed path `invalidPath`; a `remove` without
/// path `noTarget`; an `add`/`replace` without value, or without path and with a value that is
/// not an object, `invalidValue`. Fields are `schemas`, `Operations[i].op|path|value`.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOperation>> {
    let Some(map) = body.as_object() else {
        return Err(Error::Invalid {
            code: scim_type::INVALID_SYNTAX,
            message: "a PatchOp request body is a JSON object".into(),
            field: None,
        });
    };
    let listed = get_ci(map, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))));
    if !listed {
        return Err(scim_error(
            scim_type::INVALID_SYNTAX,
            "schemas",
            format!("\"schemas\" must list {PATCH_OP_SCHEMA}"),
        ));
    }
    let operations = match get_ci(map, "Operations").and_then(Value::as_array) {
        Some(ops) if !ops.is_empty() => ops,
        _ => {
            return Err(scim_error(
                scim_type::INVALID_SYNTAX,
                "Operations",
                "\"Operations\" must be a non-empty array of operations",
            ));
        }
    };
    operations.iter().enumerate().map(|(i, op)| parse_operation(i, op)).collect()
}

fn parse_operation(i: usize, op: &Value) -> Result<PatchOperation> {
    let field = |part: &str| format!("Operations[{i}].{part}");
    let Some(obj) = op.as_object() else {
        return Err(scim_error(scim_type::INVALID_SYNTAX, format!("Operations[{i}]"), "an operation is a JSON object"));
    };
    let name = get_ci(obj, "op").and_then(Value::as_str).unwrap_or("");
    let kind = match name.to_ascii_lowercase().as_str() {
        "add" => PatchOp::Add,
        "replace" => PatchOp::Replace,
        "remove" => PatchOp::Remove,
        _ => {
            return Err(scim_error(
                scim_type::INVALID_SYNTAX,
                field("op"),
                format!("\"op\" must be add, replace or remove, not \"{}\"", excerpt(name, 20)),
            ));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(PatchPath::parse_in(s, &field("path"))?),
        Some(_) => return Err(scim_error(scim_type::INVALID_PATH, field("path"), "\"path\" must be a string")),
    };
    let value = get_ci(obj, "value").cloned();
    match (kind, &path, &value) {
        (PatchOp::Remove, None, _) => Err(scim_error(scim_type::NO_TARGET, field("path"), "remove needs a \"path\"")),
        (PatchOp::Add | PatchOp::Replace, _, None) => {
            Err(scim_error(scim_type::INVALID_VALUE, field("value"), format!("{name} needs a \"value\"")))
        }
        (PatchOp::Add | PatchOp::Replace, None, Some(v)) if !v.is_object() => Err(scim_error(
            scim_type::INVALID_VALUE,
            field("value"),
            "without a \"path\", the \"value\" must be an object of attributes",
        )),
        _ => Ok(PatchOperation { op: kind, path, value }),
    }
}

/// Applies `ops` in order to `resource`, all or nothing: on error the resource is unchanged.
/// `mutable` is asked for each top-level attribute an operation writes, as
/// [`AttrPath::top_level`] spells it (the client's spelling: compare ignoring case, e.g.
/// `|a| !a.eq_ignore_ascii_case("id") && !a.eq_ignore_ascii_case("meta")`); `false` fails the
/// operation with `mutability`. A value filter that matches nothing is `noTarget`; a value whose
/// shape does not fit the attribute is `invalidValue`; a path that does not fit, `invalidPath`.
pub fn apply_patch(resource: &mut Value, ops: &[PatchOperation], mutable: &dyn Fn(&str) -> bool) -> Result<()> {
    if !resource.is_object() {
        return Err(Error::internal("a SCIM resource is a JSON object"));
    }
    let mut work = resource.clone();
    for (index, op) in ops.iter().enumerate() {
        Ctx { index, mutable }.apply(&mut work, op)?;
    }
    *resource = work;
    Ok(())
}

struct Ctx<'a> {
    index: usize,
    mutable: &'a dyn Fn(&str) -> bool,
}

impl Ctx<'_> {
    fn err(&self, code: &'static str, part: &str, message: impl Into<String>) -> Error {
        scim_error(code, format!("Operations[{}].{part}", self.index), message)
    }

    fn no_target(&self, path: &PatchPath) -> Error {
        self.err(scim_type::NO_TARGET, "path", format!("no value matches \"{}\"", excerpt(&path.to_string(), 80)))
    }

    fn check_mutable(&self, attr: &AttrPath, part: &str) -> Result<()> {
        let top = attr.top_level();
        if (self.mutable)(&top) {
            Ok(())
        } else {
            Err(self.err(scim_type::MUTABILITY, part, format!("\"{}\" cannot be modified", excerpt(&top, 80))))
        }
    }

    fn apply(&self, res: &mut Value, op: &PatchOperation) -> Result<()> {
        match (op.op, &op.path, &op.value) {
            (PatchOp::Remove, None, _) => Err(self.err(scim_type::NO_TARGET, "path", "remove needs a \"path\"")),
            (PatchOp::Remove, Some(path), value) => {
                self.check_mutable(&path.attr, "path")?;
                self.remove(res, path, value.as_ref(), true)
            }
            (_, _, None) => Err(self.err(scim_type::INVALID_VALUE, "value", "add and replace need a \"value\"")),
            (_, Some(path), Some(value)) => {
                self.check_mutable(&path.attr, "path")?;
                self.set(res, op.op, path, value)
            }
            (_, None, Some(Value::Object(attrs))) => {
                for (key, value) in attrs {
                    self.set_key(res, op.op, key, value)?;
                }
                Ok(())
            }
            (_, None, Some(_)) => Err(self.err(
                scim_type::INVALID_VALUE,
                "value",
                "without a \"path\", the \"value\" must be an object of attributes",
            )),
        }
    }

    /// One member of a path-less add/replace: a schema URN holding that schema's attributes, or
    /// an attribute path (`nickName`, `name.givenName`, `urn:…:User:department`).
    fn set_key(&self, res: &mut Value, op: PatchOp, key: &str, value: &Value) -> Result<()> {
        let bad_key =
            || self.err(scim_type::INVALID_VALUE, "value", format!("\"{}\" is not an attribute", excerpt(key, 80)));
        if let Value::Object(attrs) = value
            && is_schema_of(res, key)
        {
            for (name, v) in attrs {
                let mut attr = parse_attr_path(name, false).filter(|p| p.urn.is_none()).ok_or_else(bad_key)?;
                attr.urn = Some(key.to_string());
                let path = PatchPath { attr, filter: None };
                self.check_mutable(&path.attr, "value")?;
                self.set(res, op, &path, v)?;
            }
            return Ok(());
        }
        let path = PatchPath::parse(key).map_err(|_| bad_key())?;
        self.check_mutable(&path.attr, "value")?;
        self.set(res, op, &path, value)
    }

    fn set(&self, res: &mut Value, op: PatchOp, path: &PatchPath, value: &Value) -> Result<()> {
        if value.is_null() {
            // Null means unassigned (RFC 7643 §2.5).
            return self.remove(res, path, None, false);
        }
        let Some(map) = self.container(res, &path.attr, true)? else {
            return Err(Error::internal("container not created"));
        };
        let key = find_key(map, &path.attr.attr).unwrap_or_else(|| path.attr.attr.clone());
        match (&path.filter, &path.attr.sub) {
            (None, None) => self.set_whole(map, key, op, value),
            (None, Some(sub)) => self.set_sub(map, key, sub, value),
            (Some(filter), _) => self.set_filtered(map, key, op, path, filter, value),
        }
    }

    fn set_whole(&self, map: &mut Map<String, Value>, key: String, op: PatchOp, value: &Value) -> Result<()> {
        match map.get_mut(&key) {
            None | Some(Value::Null) => {
                if let Value::Array(items) = value {
                    let mut items = items.clone();
                    let all: Vec<usize> = (0..items.len()).collect();
                    fix_primary(&mut items, &all);
                    map.insert(key, Value::Array(items));
                } else {
                    map.insert(key, value.clone());
                }
            }
            Some(Value::Array(items)) => {
                let new = match value {
                    Value::Array(vs) => vs.clone(),
                    v => vec![v.clone()],
                };
                if op == PatchOp::Replace {
                    items.clear();
                }
                let mut touched = Vec::new();
                for v in new {
                    if let Some(i) = items.iter().position(|item| *item == v) {
                        touched.push(i);
                    } else {
                        items.push(v);
                        touched.push(items.len() - 1);
                    }
                }
                fix_primary(items, &touched);
                if items.is_empty() {
                    map.remove(&key);
                }
            }
            Some(Value::Object(existing)) => {
                let Value::Object(new) = value else {
                    return Err(self.err(
                        scim_type::INVALID_VALUE,
                        "value",
                        format!("\"{}\" is complex: its value is an object of sub-attributes", excerpt(&key, 80)),
                    ));
                };
                merge(existing, new);
            }
            Some(slot) => {
                if value.is_object() || value.is_array() {
                    return Err(self.err(
                        scim_type::INVALID_VALUE,
                        "value",
                        format!("\"{}\" holds a single simple value", excerpt(&key, 80)),
                    ));
                }
                *slot = value.clone();
            }
        }
        Ok(())
    }

    fn set_sub(&self, map: &mut Map<String, Value>, key: String, sub: &str, value: &Value) -> Result<()> {
        if value.is_object() {
            return Err(self.err(scim_type::INVALID_VALUE, "value", format!("\"{key}.{sub}\" takes a simple value")));
        }
        let no_subs =
            || self.err(scim_type::INVALID_PATH, "path", format!("\"{}\" has no sub-attributes", excerpt(&key, 80)));
        match map.get_mut(&key) {
            None | Some(Value::Null) => {
                map.insert(key, Value::Object(Map::from_iter([(sub.to_string(), value.clone())])));
            }
            Some(Value::Object(obj)) => set_member(obj, sub, value),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    items.push(Value::Object(Map::from_iter([(sub.to_string(), value.clone())])));
                }
                for item in items.iter_mut() {
                    let Value::Object(obj) = item else { return Err(no_subs()) };
                    set_member(obj, sub, value);
                }
            }
            Some(_) => return Err(no_subs()),
        }
        Ok(())
    }

    /// `attr[filter]` or `attr[filter].sub`: the selected values are updated; when none is,
    /// the value the filter describes is created if it can be (see the module documentation).
    fn set_filtered(
        &self,
        map: &mut Map<String, Value>,
        key: String,
        op: PatchOp,
        path: &PatchPath,
        filter: &Filter,
        value: &Value,
    ) -> Result<()> {
        let sub = path.attr.sub.as_deref();
        if sub.is_some() && value.is_object() {
            return Err(self.err(scim_type::INVALID_VALUE, "value", "a sub-attribute takes a simple value"));
        }
        if sub.is_none() && !value.is_object() {
            return Err(self.err(
                scim_type::INVALID_VALUE,
                "value",
                "a value selected by a filter is replaced by an object",
            ));
        }
        let parent = AttrPath { sub: None, ..path.attr.clone() };
        let items = match map.get(&key) {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => &items[..],
            Some(_) => {
                return Err(self.err(
                    scim_type::INVALID_PATH,
                    "path",
                    format!("\"{}\" is not multi-valued", excerpt(&key, 80)),
                ));
            }
        };
        let hits: Vec<usize> = (0..items.len()).filter(|&i| matches_value(filter, &items[i], &parent)).collect();
        if hits.is_empty() {
            // Create the value the filter describes (Azure AD's `emails[type eq "work"].value`).
            let seed = if op == PatchOp::Add || sub.is_some() { equalities(filter) } else { None };
            let Some(mut seed) = seed else { return Err(self.no_target(path)) };
            match (sub, value) {
                (Some(sub), v) => set_member(&mut seed, sub, v),
                (None, Value::Object(v)) => merge(&mut seed, v),
                (None, _) => return Err(Error::internal("checked above")),
            }
            let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(items) = slot {
                items.push(Value::Object(seed));
                let last = items.len() - 1;
                fix_primary(items, &[last]);
            }
            return Ok(());
        }
        let Some(Value::Array(items)) = map.get_mut(&key) else {
            return Err(Error::internal("matched values vanished"));
        };
        for &i in &hits {
            let Value::Object(obj) = &mut items[i] else {
                return Err(self.err(scim_type::INVALID_PATH, "path", "a value filter selects complex values only"));
            };
            match (sub, value) {
                (Some(sub), v) => set_member(obj, sub, v),
                (None, Value::Object(v)) => merge(obj, v),
                (None, _) => return Err(Error::internal("checked above")),
            }
        }
        fix_primary(items, &hits);
        Ok(())
    }

    /// Removes what `path` designates. `strict` (a `remove` operation) makes a filter that
    /// matches nothing `noTarget` and honours a `value` listing members to remove; a null
    /// add/replace is not strict.
    fn remove(&self, res: &mut Value, path: &PatchPath, value: Option<&Value>, strict: bool) -> Result<()> {
        let absent = || if strict && path.filter.is_some() { Err(self.no_target(path)) } else { Ok(()) };
        let Some(map) = self.container(res, &path.attr, false)? else { return absent() };
        let Some(key) = find_key(map, &path.attr.attr) else { return absent() };
        match (&path.filter, &path.attr.sub) {
            (None, None) => {
                if let (Some(Value::Array(gone)), Some(Value::Array(items))) = (value, map.get_mut(&key))
                    && strict
                    && !gone.is_empty()
                {
                    items.retain(|item| !gone.iter().any(|g| same_member(item, g)));
                    if items.is_empty() {
                        map.remove(&key);
                    }
                } else {
                    map.remove(&key);
                }
            }
            (None, Some(sub)) => match map.get_mut(&key) {
                Some(Value::Object(obj)) => {
                    remove_member(obj, sub);
                    if obj.is_empty() {
                        map.remove(&key);
                    }
                }
                Some(Value::Array(items)) => {
                    for item in items.iter_mut() {
                        if let Value::Object(obj) = item {
                            remove_member(obj, sub);
                        }
                    }
                }
                _ => {}
            },
            (Some(filter), sub) => {
                let parent = AttrPath { sub: None, ..path.attr.clone() };
                let Some(Value::Array(items)) = map.get_mut(&key) else { return absent() };
                let hits: Vec<bool> = items.iter().map(|item| matches_value(filter, item, &parent)).collect();
                if !hits.contains(&true) {
                    return absent();
                }
                match sub {
                    None => {
                        let mut i = 0;
                        items.retain(|_| {
                            i += 1;
                            !hits[i - 1]
                        });
                        if items.is_empty() {
                            map.remove(&key);
                        }
                    }
                    Some(sub) => {
                        for (item, hit) in items.iter_mut().zip(hits) {
                            if let (Value::Object(obj), true) = (item, hit) {
                                remove_member(obj, sub);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The object holding `attr`: the resource itself, or its extension object for an
    /// extension URN (created, and its URN added to `schemas`, when `create`).
    fn container<'v>(
        &self,
        res: &'v mut Value,
        attr: &AttrPath,
        create: bool,
    ) -> Result<Option<&'v mut Map<String, Value>>> {
        let Value::Object(root) = res else {
            return Err(Error::internal("a SCIM resource is a JSON object"));
        };
        let urn = match &attr.urn {
            Some(urn) if !is_core_schema(urn) => urn,
            _ => return Ok(Some(root)),
        };
        let key = match find_key(root, urn) {
            Some(key) => key,
            None if create => {
                add_schema(root, urn);
                root.insert(urn.clone(), Value::Object(Map::new()));
                urn.clone()
            }
            None => return Ok(None),
        };
        match root.get_mut(&key) {
            Some(slot @ Value::Null) if create => {
                *slot = Value::Object(Map::new());
                Ok(slot.as_object_mut())
            }
            Some(Value::Object(ext)) => Ok(Some(ext)),
            Some(Value::Null) | None => Ok(None),
            Some(_) => Err(self.err(
                scim_type::INVALID_VALUE,
                "path",
                format!("\"{}\" is not an extension object", excerpt(urn, 80)),
            )),
        }
    }
}

/// Whether `key` names a schema of `res` (listed in its `schemas`, a core schema, or the
/// enterprise extension) rather than an attribute.
fn is_schema_of(res: &Value, key: &str) -> bool {
    let listed = res
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(key))));
    listed
        || [super::USER_SCHEMA, super::GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA].iter().any(|s| s.eq_ignore_ascii_case(key))
}

fn add_schema(root: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(schemas)) = root.get_mut("schemas")
        && !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        schemas.push(Value::from(urn));
    }
}

/// Sets `name` (matched ignoring case) in `obj`; null removes it.
fn set_member(obj: &mut Map<String, Value>, name: &str, value: &Value) {
    let key = find_key(obj, name).unwrap_or_else(|| name.to_string());
    if value.is_null() {
        obj.remove(&key);
    } else {
        obj.insert(key, value.clone());
    }
}

fn remove_member(obj: &mut Map<String, Value>, name: &str) {
    if let Some(key) = find_key(obj, name) {
        obj.remove(&key);
    }
}

/// Sub-attributes given replace those present; the others stay (RFC 7644 §3.5.2.1, .3).
fn merge(obj: &mut Map<String, Value>, new: &Map<String, Value>) {
    for (name, value) in new {
        set_member(obj, name, value);
    }
}

/// Only one value of a multi-valued attribute is primary: when a value in `touched` is, the
/// others stop being (RFC 7644 §3.5.2).
fn fix_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary =
        |v: &Value| v.as_object().and_then(|o| get_ci(o, "primary")).and_then(Value::as_bool) == Some(true);
    if !touched.iter().any(|&i| items.get(i).is_some_and(is_primary)) {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if !touched.contains(&i)
            && is_primary(item)
            && let Value::Object(obj) = item
        {
            set_member(obj, "primary", &Value::Bool(false));
        }
    }
}

/// The value a filter of `eq` comparisons joined by `and` describes (`type eq "work"` →
/// `{"type": "work"}`), if it is one.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut add = |f: &Filter| -> Option<()> {
        let Filter::Compare { path, op: CompareOp::Eq, value } = f else { return None };
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        let v = match value {
            CompValue::Str(s) => Value::from(s.as_str()),
            CompValue::Num(n) => Value::Number(n.clone()),
            CompValue::Bool(b) => Value::Bool(*b),
            CompValue::Null => return None,
        };
        out.insert(path.attr.clone(), v);
        Some(())
    };
    match filter {
        Filter::And(operands) => operands.iter().try_for_each(&mut add)?,
        f => add(f)?,
    }
    Some(out)
}

/// Whether `item` is the member `gone` names: same `value` when `gone` has one, else equal.
fn same_member(item: &Value, gone: &Value) -> bool {
    match (item, gone.as_object().and_then(|g| get_ci(g, "value"))) {
        (Value::Object(item), Some(v)) => get_ci(item, "value") == Some(v),
        (item, _) => item == gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::{GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
    const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";

    fn writable(attr: &str) -> bool {
        !attr.eq_ignore_ascii_case("id") && !attr.eq_ignore_ascii_case("meta")
    }

    fn group() -> Value {
        json!({
            "schemas": [GROUP_SCHEMA],
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "displayName": "Tour Guides",
            "members": [
                {"value": BABS, "$ref": format!("https://example.com/v2/Users/{BABS}"), "display": "Babs Jensen"},
                {"value": MANDY, "$ref": format!("https://example.com/v2/Users/{MANDY}"), "display": "Mandy Pepperidge"}
            ],
            "meta": {"resourceType": "Group", "version": "W/\"3694e05e9dff592\""}
        })
    }

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "id": BABS,
            "userName": "bjensen",
            "nickName": "b",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "addresses": [
                {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true},
                {"type": "home", "streetAddress": "456 Hollywood Blvd"}
            ],
            "meta": {"resourceType": "User"}
        })
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
    }

    fn patch(resource: &mut Value, ops: Value) -> Result<()> {
        let ops = parse_patch(&body(ops))?;
        apply_patch(resource, &ops, &writable)
    }

    fn code(r: Result<impl fmt::Debug>) -> (&'static str, Option<String>) {
        match r {
            Err(Error::Invalid { code, field, .. }) => (code, field),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn member_ids(g: &Value) -> Vec<&str> {
        g["members"].as_array().map(|m| m.iter().map(|m| m["value"].as_str().unwrap()).collect()).unwrap_or_default()
    }

    #[test]
    fn rfc_add_members() {
        let mut g = group();
        g["members"].as_array_mut().unwrap().remove(1);
        let add = json!([{"op": "add", "path": "members", "value": [
            {"display": "Mandy Pepperidge", "$ref": format!("https://example.com/v2/Users/{MANDY}"), "value": MANDY}
        ]}]);
        patch(&mut g, add.clone()).unwrap();
        assert_eq!(member_ids(&g), [BABS, MANDY]);
        // Adding a value that is already there changes nothing.
        let before = g.clone();
        patch(&mut g, add).unwrap();
        assert_eq!(g, before);
    }

    #[test]
    fn rfc_add_without_path() {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@new.org", "type": "other"}],
                "nickname": "Babs"
            }}]),
        )
        .unwrap();
        assert_eq!(u["nickName"], "Babs");
        assert!(u.get("nickname").is_none());
        let emails: Vec<&str> = u["emails"].as_array().unwrap().iter().map(|e| e["value"].as_str().unwrap()).collect();
        assert_eq!(emails, ["bjensen@example.com", "babs@jensen.org", "b@new.org"]);
    }

    #[test]
    fn rfc_remove_one_member_and_all_members() {
        let mut g = group();
        patch(&mut g, json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}])).unwrap();
        assert_eq!(member_ids(&g), [MANDY]);
        let mut g = group();
        patch(&mut g, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(g.get("members").is_none());
        // The RFC's two removals in one request, written without a space before the quote.
        let mut g = group();
        patch(
            &mut g,
            json!([
                {"op": "remove", "path": format!("members[value eq\"{BABS}\"]")},
                {"op": "remove", "path": format!("members[value eq\"{MANDY}\"]")}
            ]),
        )
        .unwrap();
        assert!(g.get("members").is_none(), "{g}");
    }

    #[test]
    fn rfc_remove_all_members_then_add() {
        let mut g = group();
        patch(&mut g, json!([
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": "08e1d05d"}, {"display": "Lee", "value": "a1"}]}
        ]))
        .unwrap();
        assert_eq!(member_ids(&g), ["08e1d05d", "a1"]);
    }

    #[test]
    fn rfc_remove_with_compound_filter_and_sub_attribute() {
        let mut u = user();
        patch(&mut u, json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]))
            .unwrap();
        assert_eq!(u["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
        let mut u = user();
        patch(&mut u, json!([{"op": "remove", "path": "addresses[type eq \"home\"].streetAddress"}])).unwrap();
        assert_eq!(u["addresses"][1], json!({"type": "home"}));
        let mut u = user();
        patch(&mut u, json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"}]))
            .unwrap();
        assert!(u.get("name").is_none());
    }

    #[test]
    fn remove_matching_nothing_is_no_target() {
        let mut g = group();
        let before = g.clone();
        let r = patch(
            &mut g,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{BABS}\"]")},
                {"op": "remove", "path": "members[value eq \"nobody\"]"}
            ]),
        );
        assert_eq!(code(r), ("noTarget", Some("Operations[1].path".into())));
        assert_eq!(g, before, "all or nothing");
        assert_eq!(code(patch(&mut g, json!([{"op": "remove", "path": "owners[value eq \"x\"]"}]))).0, "noTarget");
        assert_eq!(code(patch(&mut g, json!([{"op": "remove"}]))), ("noTarget", Some("Operations[0].path".into())));
        // Removing an attribute that is not there is not an error.
        patch(&mut g, json!([{"op": "remove", "path": "nickName"}])).unwrap();
        assert_eq!(g, before);
    }

    #[test]
    fn rfc_replace_members() {
        let mut g = group();
        patch(
            &mut g,
            json!([{"op": "replace", "path": "members", "value": [
                {"display": "Babs Jensen", "value": BABS},
                {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
            ]}]),
        )
        .unwrap();
        assert_eq!(member_ids(&g), [BABS, "08e1d05d-121c-4561-8b96-473d93df9210"]);
    }

    #[test]
    fn rfc_replace_filtered_value_and_sub_attribute() {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
                "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
                "region": "CA", "postalCode": "91608", "country": "US",
                "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
            }}]),
        )
        .unwrap();
        assert_eq!(u["addresses"][0]["streetAddress"], "911 Universal City Plaza");
        assert_eq!(u["addresses"][0]["postalCode"], "91608");
        patch(&mut u, json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]))
            .unwrap();
        assert_eq!(u["addresses"][0]["streetAddress"], "1010 Broadway Ave");
        assert_eq!(u["addresses"][1]["streetAddress"], "456 Hollywood Blvd");
        // Replace with a filter that matches nothing and no sub-attribute: noTarget.
        let r = patch(
            &mut u,
            json!([{"op": "replace", "path": "addresses[type eq \"other\"]", "value": {"locality": "x"}}]),
        );
        assert_eq!(code(r).0, "noTarget");
    }

    #[test]
    fn rfc_replace_without_path() {
        let mut u = user();
        patch(&mut u, json!([{"op": "replace", "value": {
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"
        }}]))
        .unwrap();
        assert_eq!(u["nickName"], "Babs");
        assert_eq!(u["emails"].as_array().unwrap().len(), 2);
        patch(&mut u, json!([{"op": "replace", "value": {"emails": [{"value": "only@x.org"}]}}])).unwrap();
        assert_eq!(u["emails"], json!([{"value": "only@x.org"}]));
        // Replace of a complex attribute keeps the sub-attributes not given.
        patch(&mut u, json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}])).unwrap();
        assert_eq!(u["name"], json!({"familyName": "Jensen", "givenName": "Babs"}));
    }

    #[test]
    fn azure_ad_forms() {
        let mut u = user();
        u["emails"] = json!([{"value": "babs@jensen.org", "type": "home"}]);
        patch(&mut u, json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
            {"op": "Add", "value": {"name.givenName": "B", "active": false, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tours"}},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "701984"}
        ]))
        .unwrap();
        assert_eq!(u["emails"][1], json!({"type": "work", "value": "new@example.com"}));
        assert_eq!(u["name"]["givenName"], "B");
        assert_eq!(u["active"], false);
        assert_eq!(u[ENTERPRISE_USER_SCHEMA], json!({"department": "Tours", "employeeNumber": "701984"}));
        assert_eq!(u["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        // A schema URN as a key holds that schema's attributes.
        patch(&mut u, json!([{"op": "replace", "value": {ENTERPRISE_USER_SCHEMA: {"department": "Sales"}}}])).unwrap();
        assert_eq!(u[ENTERPRISE_USER_SCHEMA]["department"], "Sales");
        // Remove with a value listing the members to remove.
        let mut g = group();
        patch(&mut g, json!([{"op": "Remove", "path": "members", "value": [{"value": MANDY}]}])).unwrap();
        assert_eq!(member_ids(&g), [BABS]);
    }

    #[test]
    fn one_primary_value() {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "path": "emails", "value": [{"value": "n@x.org", "type": "other", "primary": true}]}]),
        )
        .unwrap();
        assert_eq!(u["emails"][0]["primary"], false);
        assert_eq!(u["emails"][2]["primary"], true);
        patch(&mut u, json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}])).unwrap();
        let primaries: Vec<bool> = u["emails"].as_array().unwrap().iter().map(|e| e["primary"] == true).collect();
        assert_eq!(primaries, [false, true, false]);
    }

    #[test]
    fn null_value_unassigns() {
        let mut u = user();
        patch(&mut u, json!([{"op": "replace", "path": "nickName", "value": null}])).unwrap();
        assert!(u.get("nickName").is_none());
        patch(&mut u, json!([{"op": "replace", "value": {"name": {"givenName": null}}}])).unwrap();
        assert_eq!(u["name"], json!({"familyName": "Jensen"}));
    }

    #[test]
    fn read_only_attributes_are_mutability_errors() {
        let mut u = user();
        let before = u.clone();
        for ops in [
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            json!([{"op": "replace", "path": "ID", "value": "x"}]),
            json!([{"op": "remove", "path": "meta.resourceType"}]),
            json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:id", "value": "x"}]),
            json!([{"op": "replace", "value": {"nickName": "ok", "id": "x"}}]),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User": {"meta": {}}}}]),
        ] {
            let (code, _) = code(patch(&mut u, ops.clone()));
            assert_eq!(code, "mutability", "{ops}");
            assert_eq!(u, before);
        }
    }

    #[test]
    fn malformed_paths_are_invalid_path() {
        let bad = [
            json!(""),
            json!("members[value eq"),
            json!("members[value eq \"x\""),
            json!("members["),
            json!("]"),
            json!("a.b.c"),
            json!("members..x"),
            json!("members[value eq \"x\"]x"),
            json!("members[value eq \"x\"]."),
            json!("members[value eq \"x\"].a.b"),
            json!("members.value[value eq \"x\"]"),
            json!("members[value xx \"x\"]"),
            json!("1abc"),
            json!("a b"),
            json!(42),
            json!(["members"]),
        ];
        for path in bad {
            let r = parse_patch(&body(json!([{"op": "remove", "path": path.clone()}])));
            assert_eq!(code(r), ("invalidPath", Some("Operations[0].path".into())), "{path}");
        }
        assert_eq!(code(PatchPath::parse("x[")), ("invalidPath", Some("path".into())));
    }

    #[test]
    fn paths_parse_and_print() {
        for (input, canonical) in [
            ("members", "members"),
            ("name.familyName", "name.familyName"),
            ("members[value eq \"2819c223\"]", "members[value eq \"2819c223\"]"),
            ("emails[type eq \"work\"].value", "emails[type eq \"work\"].value"),
            (
                "EMAILS[TYPE EQ \"work\" and primary eq true].Value",
                "EMAILS[TYPE eq \"work\" and primary eq true].Value",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ),
            ("members[value eq \"a]b\"]", "members[value eq \"a]b\"]"),
        ] {
            let p = PatchPath::parse(input).unwrap();
            assert_eq!(p.to_string(), canonical);
            assert_eq!(PatchPath::parse(canonical).unwrap(), p);
        }
        let p = PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!((p.attr.attr.as_str(), p.attr.sub.as_deref()), ("manager", Some("value")));
    }

    #[test]
    fn malformed_bodies() {
        let cases = [
            (json!([]), "invalidSyntax", None),
            (json!({"Operations": [{"op": "add", "path": "x", "value": 1}]}), "invalidSyntax", Some("schemas")),
            (
                json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "path": "x", "value": 1}]}),
                "invalidSyntax",
                Some("schemas"),
            ),
            (json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}), "invalidSyntax", Some("Operations")),
            (json!({"schemas": [PATCH_OP_SCHEMA]}), "invalidSyntax", Some("Operations")),
            (body(json!(["add"])), "invalidSyntax", Some("Operations[0]")),
            (body(json!([{"op": "move", "path": "x"}])), "invalidSyntax", Some("Operations[0].op")),
            (body(json!([{"path": "x", "value": 1}])), "invalidSyntax", Some("Operations[0].op")),
            (body(json!([{"op": "add", "path": "x"}])), "invalidValue", Some("Operations[0].value")),
            (body(json!([{"op": "replace", "value": [1]}])), "invalidValue", Some("Operations[0].value")),
            (body(json!([{"op": "add", "value": "x"}])), "invalidValue", Some("Operations[0].value")),
        ];
        for (b, expected_code, field) in cases {
            assert_eq!(code(parse_patch(&b)), (expected_code, field.map(str::to_string)), "{b}");
        }
        // Keys and op names ignore case.
        let ops = parse_patch(
            &json!({"SCHEMAS": [PATCH_OP_SCHEMA], "operations": [{"OP": "REPLACE", "Path": "x", "Value": 1}]}),
        )
        .unwrap();
        assert_eq!(ops[0].op, PatchOp::Replace);
    }

    #[test]
    fn wrong_value_shapes_are_invalid_value() {
        let mut u = user();
        for (ops, expected) in [
            (json!([{"op": "add", "path": "name", "value": "x"}]), "invalidValue"),
            (json!([{"op": "replace", "path": "userName", "value": {"a": 1}}]), "invalidValue"),
            (json!([{"op": "replace", "path": "userName", "value": ["a"]}]), "invalidValue"),
            (json!([{"op": "add", "path": "name.givenName", "value": {"a": 1}}]), "invalidValue"),
            (json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x"}]), "invalidValue"),
            (json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": {"a": 1}}]), "invalidValue"),
            (json!([{"op": "add", "value": {"a.b.c": 1}}]), "invalidValue"),
            (json!([{"op": "add", "path": "userName.first", "value": "x"}]), "invalidPath"),
            (json!([{"op": "add", "path": "userName[value eq \"x\"]", "value": {}}]), "invalidPath"),
        ] {
            assert_eq!(code(patch(&mut u, ops.clone())).0, expected, "{ops}");
        }
        assert_eq!(u, user());
    }

    #[test]
    fn apply_refuses_a_non_object_resource() {
        let mut v = json!([1]);
        assert!(matches!(apply_patch(&mut v, &[], &writable), Err(Error::Internal(_))));
    }
}
