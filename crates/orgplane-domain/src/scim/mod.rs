//! SCIM 2.0 without I/O (issue #5): the filter language of RFC 7644 §3.4.2.2 (parser, AST, an
//! in-memory evaluator and a translation to a parameterised SQL `WHERE` fragment) and PATCH of
//! RFC 7644 §3.5.2 (request parsing and application to a JSON resource).
//!
//! Every failure is an [`Error::Invalid`] whose `code` is the RFC 7644 §3.12 `scimType`
//! ([`scim_type`]), so the HTTP layer can answer with a SCIM 400 error; `field` names the part
//! of the request at fault (`filter`, `Operations[2].path`), ready for [`Error::in_field`].

pub mod filter;
pub mod patch;
pub mod resource;
pub mod sql;

use std::fmt;

use crate::error::Error;

pub use filter::{CompValue, CompareOp, Filter, MAX_DEPTH, MAX_FILTER_LEN, matches, matches_with, parse_filter};
pub use patch::{PATCH_OP_SCHEMA, PatchOp, PatchOperation, PatchPath, apply_patch, parse_patch};
pub use sql::{Column, ColumnKind, SqlFilter, SqlValue, to_sql};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The prefix shared by the core schemas, whose attributes sit at the top of a resource.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

/// The `scimType` values of RFC 7644 §3.12 this module reports (as `Error::Invalid::code`).
pub mod scim_type {
    /// The filter syntax was invalid, or it names an unknown attribute or compares a wrong type.
    pub const INVALID_FILTER: &str = "invalidFilter";
    /// A PATCH `path` was invalid or malformed.
    pub const INVALID_PATH: &str = "invalidPath";
    /// A required value was missing, or the value was not compatible with the attribute.
    pub const INVALID_VALUE: &str = "invalidValue";
    /// The request body structure was invalid (a PatchOp without its schema or operations).
    pub const INVALID_SYNTAX: &str = "invalidSyntax";
    /// A PATCH path or value filter matched nothing, or a `remove` had no path.
    pub const NO_TARGET: &str = "noTarget";
    /// An attempt to modify an attribute that is not writable (`id`, `meta`).
    pub const MUTABILITY: &str = "mutability";

    /// Every code above: an `Error::Invalid` carrying one of these is a SCIM error.
    pub const ALL: &[&str] = &[INVALID_FILTER, INVALID_PATH, INVALID_VALUE, INVALID_SYNTAX, NO_TARGET, MUTABILITY];
}

/// An attribute path as a filter or PATCH path writes it: an optional schema URN, an attribute
/// name and an optional sub-attribute (`urn:…:User:name.familyName`). Names keep the spelling
/// the client used; compare them with [`AttrPath::is`], which ignores case as SCIM requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path without schema URN: `AttrPath::new("name", Some("familyName"))`.
    pub fn new(attr: &str, sub: Option<&str>) -> Self {
        AttrPath { urn: None, attr: attr.to_string(), sub: sub.map(str::to_string) }
    }

    /// Whether this path is `dotted` (`"userName"`, `"name.familyName"`), ignoring case, with no
    /// URN or a core-schema URN (an extension attribute never passes for a core one).
    pub fn is(&self, dotted: &str) -> bool {
        self.is_core() && self.dotted_is(dotted)
    }

    /// Whether this path is `dotted` in the extension schema `urn`, ignoring case.
    pub fn is_in(&self, urn: &str, dotted: &str) -> bool {
        self.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(urn)) && self.dotted_is(dotted)
    }

    /// Whether the attribute lives at the top of a resource (no URN, or a core schema's URN).
    pub fn is_core(&self) -> bool {
        self.urn.as_deref().is_none_or(is_core_schema)
    }

    /// The top-level attribute this path writes, as [`apply_patch`] hands it to the caller's
    /// mutability check: `attr` for core attributes, `urn:attr` for extension ones.
    pub fn top_level(&self) -> String {
        match &self.urn {
            Some(urn) if !is_core_schema(urn) => format!("{urn}:{}", self.attr),
            _ => self.attr.clone(),
        }
    }

    fn dotted_is(&self, dotted: &str) -> bool {
        match (dotted.split_once('.'), &self.sub) {
            (None, None) => self.attr.eq_ignore_ascii_case(dotted),
            (Some((a, s)), Some(sub)) => self.attr.eq_ignore_ascii_case(a) && sub.eq_ignore_ascii_case(s),
            _ => false,
        }
    }

    /// `parent[child]` seen from outside: `emails` and `type` make `emails.type`.
    pub(crate) fn child(parent: &AttrPath, child: &AttrPath) -> AttrPath {
        AttrPath { urn: parent.urn.clone(), attr: parent.attr.clone(), sub: Some(child.attr.clone()) }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

pub(crate) fn is_core_schema(urn: &str) -> bool {
    urn.get(..CORE_SCHEMA_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

/// An attribute name (RFC 7643 §2.1: `ALPHA *( "-" / "_" / DIGIT / ALPHA )`, plus `$ref`).
pub(crate) fn valid_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The key of `map` that spells `name` ignoring case (the exact spelling first).
pub(crate) fn find_key(map: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

pub(crate) fn get_ci<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

pub(crate) fn scim_error(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid { code, message: message.into(), field: Some(field.into()) }
}

/// At most `max` characters of `s` for an error message, never cutting a character.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_path_comparisons_ignore_case_and_core_urns() {
        let p = AttrPath { urn: Some(USER_SCHEMA.to_lowercase()), attr: "NAME".into(), sub: Some("familyname".into()) };
        assert!(p.is("name.familyName"));
        assert!(!p.is("name"));
        assert!(!p.is("name.givenName"));
        assert_eq!(p.top_level(), "NAME");
        let ext = AttrPath { urn: Some(ENTERPRISE_USER_SCHEMA.into()), attr: "employeeNumber".into(), sub: None };
        assert!(!ext.is("employeeNumber"));
        assert!(ext.is_in(ENTERPRISE_USER_SCHEMA, "EMPLOYEENUMBER"));
        assert_eq!(ext.top_level(), format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"));
        assert_eq!(ext.to_string(), format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"));
    }

    #[test]
    fn names_follow_rfc_7643() {
        for ok in ["userName", "a", "x-y_z9", "$ref"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "9a", "-a", "a.b", "a b", "é", "$refs", "a$"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn excerpts_never_cut_a_character() {
        assert_eq!(excerpt("ééééé", 2), "éé…");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
