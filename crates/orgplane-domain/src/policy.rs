//! The policy engine: Spot's permission-policy documents, the built-in policies, the action
//! catalog, and `evaluate`, which decides one request over the grants a user holds.
//!
//! Semantics: default deny; a matching DENY statement beats every ALLOW; `*` and `?` wildcards in
//! actions (case-insensitive) and resources (case-sensitive); conditions AND-ed across entries,
//! values of one entry OR-ed, `${key}` variables substituted from the request context. The
//! boolean answer never depends on the order of grants or statements.

use crate::error::Error;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

pub const ADMIN_POLICY_ID: &str = "1";
pub const ACCOUNT_EDITOR_POLICY_ID: &str = "2";
pub const ACCOUNT_VIEWER_POLICY_ID: &str = "3";
pub const ORGANIZATION_VIEWER_POLICY_ID: &str = "4";
pub const MEMBER_POLICY_ID: &str = "5";

const MAX_STATEMENTS: usize = 100;
const MAX_ITEMS: usize = 100;
const MAX_STRING: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "ALLOW",
            Effect::Deny => "DENY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringEqualsIgnoreCase,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::StringEquals => "StringEquals",
            Operator::StringNotEquals => "StringNotEquals",
            Operator::StringLike => "StringLike",
            Operator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Operator::StringEquals, Operator::StringNotEquals, Operator::StringLike, Operator::StringEqualsIgnoreCase]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// Which first characters the action patterns can match (a bit per folded byte class), so
    /// `evaluate` skips most statements with one AND. Computed by `Statement::new`.
    initials: u64,
}

impl Statement {
    pub fn new(effect: Effect, actions: Vec<String>, resources: Vec<String>, conditions: Vec<Condition>) -> Self {
        let initials = actions.iter().fold(0, |m, a| m | pattern_initials(a));
        Statement { effect, actions, resources, conditions, initials }
    }
}

/// The bit for a text's first byte: letters case-folded to 26 bits, digits and the rest folded
/// into the remaining bits. Exact enough to skip, never to wrongly skip.
fn initial_bit(b: u8) -> u64 {
    let b = b.to_ascii_lowercase();
    1 << match b {
        b'a'..=b'z' => u32::from(b - b'a'),
        b'0'..=b'9' => 26 + u32::from(b - b'0'),
        _ => 36 + u32::from(b % 28),
    }
}

fn pattern_initials(pattern: &str) -> u64 {
    match pattern.as_bytes().first() {
        None => initial_bit(0),
        Some(b'*' | b'?') => u64::MAX,
        Some(&b) => initial_bit(b),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

/// Whether a policy is held organization-wide or per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    Account,
    Organization,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policy_type: PolicyType,
    /// Built-in ("Spot managed") policies exist in every organization and cannot change.
    pub builtin: bool,
    pub document: PolicyDocument,
}

/// Where a held policy applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Organization,
    /// These account ids; `"*"` means every current and future account.
    Accounts(Vec<String>),
}

/// How a policy reached the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Their organization role or account role.
    Role,
    /// Attached to the user.
    Direct,
    /// Through this group.
    Group(String),
}

/// A policy as one user holds it. Borrowed, so building the grant list for a request costs
/// one small vector and no copies.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub policy: &'a Policy,
    pub scope: &'a Scope,
    pub via: &'a Via,
}

/// Facts about the request that conditions and variables refer to (`spot:userEmail`, …). A few
/// entries, so a vector beats a map.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    values: Vec<(&'a str, std::borrow::Cow<'a, str>)>,
}

impl<'a> Context<'a> {
    pub fn new() -> Self {
        Context::default()
    }

    pub fn insert(&mut self, key: &'a str, value: impl Into<std::borrow::Cow<'a, str>>) {
        self.values.retain(|(k, _)| *k != key);
        self.values.push((key, value.into()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_ref())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub account_id: Option<&'a str>,
    pub context: &'a Context<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    pub policy_id: String,
    pub policy_name: String,
    pub statement_index: usize,
    pub effect: Effect,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `None`: nothing matched (implicit deny).
    pub decided_by: Option<Decider>,
}

/// Decides one request. A DENY match ends the search; otherwise the first ALLOW match decides.
pub fn evaluate(grants: &[Grant<'_>], request: &Request<'_>) -> Decision {
    let mut allow: Option<(&Grant<'_>, usize)> = None;
    for grant in grants {
        if !applies(grant, request) {
            continue;
        }
        for (i, statement) in grant.policy.document.statements.iter().enumerate() {
            if statement.effect == Effect::Allow && allow.is_some() {
                continue;
            }
            if matches(statement, request) {
                match statement.effect {
                    Effect::Deny => return Decision { allowed: false, decided_by: Some(decider(grant, i)) },
                    Effect::Allow => allow = Some((grant, i)),
                }
            }
        }
    }
    match allow {
        Some((grant, i)) => Decision { allowed: true, decided_by: Some(decider(grant, i)) },
        None => Decision { allowed: false, decided_by: None },
    }
}

fn decider(grant: &Grant<'_>, i: usize) -> Decider {
    Decider {
        policy_id: grant.policy.id.clone(),
        policy_name: grant.policy.name.clone(),
        statement_index: i,
        effect: grant.policy.document.statements[i].effect,
        via: grant.via.clone(),
    }
}

/// Organization policies apply to every request of the organization; account policies only to
/// requests on one of their accounts (never to organization-level requests).
fn applies(grant: &Grant<'_>, request: &Request<'_>) -> bool {
    match (grant.policy.policy_type, grant.scope) {
        (PolicyType::Organization, _) => true,
        (PolicyType::Account, Scope::Accounts(ids)) => {
            request.account_id.is_some_and(|a| ids.iter().any(|id| id == "*" || id == a))
        }
        (PolicyType::Account, Scope::Organization) => false,
    }
}

fn matches(statement: &Statement, request: &Request<'_>) -> bool {
    let initial = request.action.as_bytes().first().map_or(initial_bit(0), |&b| initial_bit(b));
    statement.initials & initial != 0
        && statement.actions.iter().any(|p| glob(p, request.action, true))
        && statement.resources.iter().any(|p| glob(p, request.resource, false))
        && statement.conditions.iter().all(|c| condition_holds(c, request.context))
}

fn condition_holds(c: &Condition, context: &Context) -> bool {
    let actual = context.get(&c.key);
    let any = |f: &dyn Fn(&str, &str) -> bool| {
        let Some(actual) = actual else { return false };
        c.values.iter().any(|v| substitute(v, context).is_some_and(|v| f(&v, actual)))
    };
    match c.operator {
        Operator::StringEquals => any(&|v, a| v == a),
        Operator::StringEqualsIgnoreCase => {
            any(&|v, a| v.eq_ignore_ascii_case(a) || v.to_lowercase() == a.to_lowercase())
        }
        Operator::StringLike => any(&|v, a| glob(v, a, false)),
        // Absent key: nothing to be equal to, so "not equal" holds.
        Operator::StringNotEquals => actual.is_none() || !any(&|v, a| v == a),
    }
}

/// Replaces `${key}` with the context's value; `None` when a variable is unknown.
fn substitute<'a>(value: &'a str, context: &Context) -> Option<std::borrow::Cow<'a, str>> {
    if !value.contains("${") {
        return Some(std::borrow::Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        out.push_str(context.get(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(std::borrow::Cow::Owned(out))
}

/// Glob match: `*` any run (including `:`), `?` one character. Allocation-free, with fast paths
/// for the common shapes: a first character that differs (most patterns name another service),
/// `*`, exact patterns and `prefix*`.
#[inline]
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    match (p.first(), t.first()) {
        (Some(&a), Some(&b)) if a != b'*' && a != b'?' && !eq(a, b) => return false,
        _ => {}
    }
    if p == b"*" {
        return true;
    }
    match p.iter().position(|&c| c == b'*' || c == b'?') {
        None => return p.len() == t.len() && p.iter().zip(t).all(|(a, b)| eq(*a, *b)),
        Some(i) if i == p.len() - 1 && p[i] == b'*' => {
            return t.len() >= i && p[..i].iter().zip(t).all(|(a, b)| eq(*a, *b));
        }
        Some(_) => {}
    }
    // General case: iterative matching with one backtrack point.
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

// ---- documents: parsing, validation, serialisation ----

impl PolicyDocument {
    /// Parses and validates Spot's `policyContent` (`{"statements": [...]}`); every error names
    /// the exact field under `field`.
    pub fn from_json(value: &Value, field: &str) -> Result<PolicyDocument, Error> {
        let obj = value.as_object().ok_or_else(|| Error::validation(field, "\"policyContent\" must be an object"))?;
        let at = format!("{field}.statements");
        let list = obj
            .get("statements")
            .ok_or_else(|| Error::validation(&at, "\"statements\" is required"))?
            .as_array()
            .ok_or_else(|| Error::validation(&at, "\"statements\" must be a list"))?;
        if list.is_empty() {
            return Err(Error::validation(&at, "\"statements\" must not be empty"));
        }
        if list.len() > MAX_STATEMENTS {
            return Err(Error::validation(&at, format!("at most {MAX_STATEMENTS} statements")));
        }
        let statements = list
            .iter()
            .enumerate()
            .map(|(i, s)| parse_statement(s, &format!("{at}[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(PolicyDocument { statements })
    }

    pub fn to_json(&self) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut o = Map::new();
                o.insert("effect".into(), json!(s.effect.as_str()));
                o.insert("actions".into(), json!(s.actions));
                o.insert("resources".into(), json!(s.resources));
                if !s.conditions.is_empty() {
                    let mut ops: Map<String, Value> = Map::new();
                    for c in &s.conditions {
                        let entry = ops.entry(c.operator.as_str()).or_insert_with(|| json!({}));
                        entry[&c.key] = json!(c.values);
                    }
                    o.insert("conditions".into(), Value::Object(ops));
                }
                Value::Object(o)
            })
            .collect();
        json!({ "statements": statements })
    }
}

fn parse_statement(v: &Value, at: &str) -> Result<Statement, Error> {
    let obj = v.as_object().ok_or_else(|| Error::validation(at, "a statement must be an object"))?;
    let effect = match obj.get("effect").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("ALLOW") => Effect::Allow,
        Some("DENY") => Effect::Deny,
        _ => return Err(Error::validation(format!("{at}.effect"), "\"effect\" must be ALLOW or DENY")),
    };
    let actions = string_list(obj.get("actions"), &format!("{at}.actions"))?;
    for (i, a) in actions.iter().enumerate() {
        if !is_action_pattern(a) {
            return Err(Error::validation(
                format!("{at}.actions[{i}]"),
                "an action must look like service:action (wildcards * and ? allowed) or be *",
            ));
        }
    }
    let resources = string_list(obj.get("resources"), &format!("{at}.resources"))?;
    let conditions = match obj.get("conditions") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => parse_conditions(c, &format!("{at}.conditions"))?,
    };
    Ok(Statement::new(effect, actions, resources, conditions))
}

fn string_list(v: Option<&Value>, at: &str) -> Result<Vec<String>, Error> {
    let list =
        v.and_then(Value::as_array).ok_or_else(|| Error::validation(at, "must be a non-empty list of strings"))?;
    if list.is_empty() || list.len() > MAX_ITEMS {
        return Err(Error::validation(at, format!("must hold 1 to {MAX_ITEMS} strings")));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| match s.as_str() {
            Some(s) if !s.trim().is_empty() && s.len() <= MAX_STRING => Ok(s.trim().to_string()),
            _ => Err(Error::validation(
                format!("{at}[{i}]"),
                format!("must be a non-empty string of at most {MAX_STRING} characters"),
            )),
        })
        .collect()
}

fn is_action_pattern(a: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?' || c == '-' || c == '_')
    };
    a == "*" || a.split_once(':').is_some_and(|(svc, act)| ok(svc) && ok(act))
}

fn parse_conditions(v: &Value, at: &str) -> Result<Vec<Condition>, Error> {
    let obj = v.as_object().ok_or_else(|| Error::validation(at, "\"conditions\" must be an object of operators"))?;
    let mut out = Vec::new();
    for (op, entries) in obj {
        let here = format!("{at}.{op}");
        let operator = Operator::parse(op).ok_or_else(|| {
            Error::validation(
                &here,
                "unknown condition operator (StringEquals, StringNotEquals, StringLike, StringEqualsIgnoreCase)",
            )
        })?;
        let entries =
            entries.as_object().ok_or_else(|| Error::validation(&here, "must map condition keys to values"))?;
        for (key, values) in entries {
            let values = match values {
                Value::String(s) => vec![s.clone()],
                Value::Array(_) => string_list(Some(values), &format!("{here}.{key}"))?,
                _ => return Err(Error::validation(format!("{here}.{key}"), "must be a string or a list of strings")),
            };
            out.push(Condition { operator, key: key.clone(), values });
        }
    }
    Ok(out)
}

// ---- built-in policies and the action catalog ----

fn allow(actions: &[&str]) -> Statement {
    Statement::new(Effect::Allow, actions.iter().map(|s| s.to_string()).collect(), vec!["*".into()], vec![])
}

const READ: &[&str] = &["*:describe*", "*:list*", "*:get*"];

/// The policies every organization has. Their ids are fixed (Terraform hard-codes "3").
pub fn builtin_policies() -> &'static [Policy] {
    static BUILTINS: OnceLock<Vec<Policy>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let editor: Vec<&str> = action_catalog()
            .iter()
            .filter(|a| a.scope == PolicyType::Account)
            .map(|a| a.name)
            .chain(READ.iter().copied())
            .collect();
        let make = |id: &str, name: &str, description: &str, policy_type, statements| Policy {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            policy_type,
            builtin: true,
            document: PolicyDocument { statements },
        };
        vec![
            make(
                ADMIN_POLICY_ID,
                "Admin",
                "Full control of the organization",
                PolicyType::Organization,
                vec![allow(&["*"])],
            ),
            make(
                ACCOUNT_EDITOR_POLICY_ID,
                "Account Editor",
                "Read and change everything inside the account; no organization management",
                PolicyType::Account,
                vec![allow(&editor)],
            ),
            make(
                ACCOUNT_VIEWER_POLICY_ID,
                "Account Viewer",
                "Read-only access to the account",
                PolicyType::Account,
                vec![allow(READ)],
            ),
            make(
                MEMBER_POLICY_ID,
                "Organization Member",
                "What every member may do: see the organization and manage their own tokens",
                PolicyType::Organization,
                vec![allow(&["setup:describeOrganization", "setup:createUserToken", "setup:listUserTokens"])],
            ),
            make(
                ORGANIZATION_VIEWER_POLICY_ID,
                "Organization Viewer",
                "Read-only access to the whole organization, audit included",
                PolicyType::Organization,
                vec![allow(READ)],
            ),
        ]
    })
}

pub fn builtin(id: &str) -> Option<&'static Policy> {
    builtin_policies().iter().find(|p| p.id == id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: &'static str,
    pub service: &'static str,
    pub resource_pattern: &'static str,
    pub scope: PolicyType,
    pub category: &'static str,
}

/// Every action orgplane defines, for the policy editor and `GET /setup/access/policyAction`.
pub fn action_catalog() -> &'static [ActionInfo] {
    use PolicyType::{Account as A, Organization as O};
    const LIST: &[(&str, &str, PolicyType)] = &[
        ("setup:createOrganization", "*", O),
        ("setup:describeOrganization", "*", O),
        ("setup:updateOrganization", "*", O),
        ("setup:deleteOrganization", "*", O),
        ("setup:createAccount", "*", O),
        ("setup:listAccounts", "*", O),
        ("setup:describeAccount", "act-*", A),
        ("setup:updateAccount", "act-*", A),
        // Deleting an account is organization management: account editors may not.
        ("setup:deleteAccount", "act-*", O),
        ("setup:setAccountCredentials", "act-*", A),
        ("setup:createUser", "*", O),
        ("setup:describeUser", "u-*", O),
        ("setup:listUsers", "*", O),
        ("setup:updateUser", "u-*", O),
        ("setup:deleteUser", "u-*", O),
        ("setup:createProgrammaticUser", "*", O),
        ("setup:attachAccountUser", "act-*", A),
        ("setup:updateAccountUser", "act-*", A),
        ("setup:detachAccountUser", "act-*", A),
        ("setup:describeAccountUsers", "act-*", A),
        ("setup:createPolicy", "*", O),
        ("setup:describePolicy", "pol-*", O),
        ("setup:listPolicies", "*", O),
        ("setup:updatePolicy", "pol-*", O),
        ("setup:deletePolicy", "pol-*", O),
        ("setup:createUserGroup", "*", O),
        ("setup:describeUserGroup", "ugr-*", O),
        ("setup:listUserGroups", "*", O),
        ("setup:updateUserGroup", "ugr-*", O),
        ("setup:deleteUserGroup", "ugr-*", O),
        ("setup:createUserToken", "*", O),
        ("setup:listUserTokens", "*", O),
        ("setup:deletePersonalToken", "*", O),
        ("setup:describeAllTokens", "*", O),
        ("setup:explainAccess", "*", O),
        ("setup:describeAllAuditEvents", "*", O),
        ("elastigroup:createGroup", "sig-*", A),
        ("elastigroup:describeGroup", "sig-*", A),
        ("elastigroup:updateGroup", "sig-*", A),
        ("elastigroup:deleteGroup", "sig-*", A),
        ("ocean:createCluster", "o-*", A),
        ("ocean:describeCluster", "o-*", A),
        ("ocean:updateCluster", "o-*", A),
        ("ocean:deleteCluster", "o-*", A),
    ];
    static CATALOG: OnceLock<Vec<ActionInfo>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        LIST.iter()
            .map(|&(name, resource_pattern, scope)| {
                let (service, verb) = name.split_once(':').expect("catalog names are service:action");
                let category = if verb.starts_with("create") {
                    "CREATE"
                } else if verb.starts_with("delete") {
                    "DELETE"
                } else if crate::access::is_read_action(name) {
                    "READ"
                } else {
                    "UPDATE"
                };
                ActionInfo { name, service, resource_pattern, scope, category }
            })
            .collect()
    })
}

#[cfg(test)]
mod tests;
