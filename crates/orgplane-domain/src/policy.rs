//! The policy engine: Spot's permission-policy documents, the built-in policies, the action
//! catalog, and `evaluate`, which decides one request over the grants a user holds.
//!
//! Semantics: default deny; a matching DENY statement beats every ALLOW; `*` (any run, `:`
//! included) and `?` (one character) wildcards in actions (case-insensitive) and resources
//! (case-sensitive); conditions AND-ed across entries, values of one entry OR-ed, `${key}`
//! variables substituted from the request context. The boolean answer never depends on the order
//! of grants or statements.
//!
//! `evaluate` runs on every request, so the hot path allocates nothing (unless a condition value
//! holds a `${…}` variable) and rejects most statements without touching their strings: each
//! `Statement` carries a small inline filter over the literal prefixes of its action and
//! resource patterns (see `PrefixFilter`).

use crate::error::Error;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::OnceLock;

pub const ADMIN_POLICY_ID: &str = "1";
pub const ACCOUNT_EDITOR_POLICY_ID: &str = "2";
pub const ACCOUNT_VIEWER_POLICY_ID: &str = "3";
pub const ORGANIZATION_VIEWER_POLICY_ID: &str = "4";
pub const MEMBER_POLICY_ID: &str = "5";

/// Bounds on a document: statements per document, actions / resources / condition values per
/// list, condition entries per statement, characters per string.
pub const MAX_STATEMENTS: usize = 100;
pub const MAX_ITEMS: usize = 100;
pub const MAX_CONDITIONS: usize = 100;
pub const MAX_STRING: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// `ALLOW` / `DENY` in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Effect::Allow, Effect::Deny].into_iter().find(|e| e.as_str().eq_ignore_ascii_case(s))
    }
}

/// Condition operators. Spot also documents `StringPatternMatch` (regular expressions) and an
/// `And` wrapper; those are refused as unknown operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringEqualsIgnoreCase,
    /// The context value contains one of the values (case-sensitive). Documented by Spot.
    StringContains,
}

impl Operator {
    pub const ALL: [Operator; 5] = [
        Operator::StringEquals,
        Operator::StringNotEquals,
        Operator::StringLike,
        Operator::StringEqualsIgnoreCase,
        Operator::StringContains,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::StringEquals => "StringEquals",
            Operator::StringNotEquals => "StringNotEquals",
            Operator::StringLike => "StringLike",
            Operator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            Operator::StringContains => "StringContains",
        }
    }

    /// Exact spelling, as Spot documents it.
    pub fn parse(s: &str) -> Option<Self> {
        Operator::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub key: String,
    pub values: Vec<String>,
}

/// One statement of a policy document.
///
/// Build it with `Statement::new` (or `PolicyDocument::from_json`): it carries a private index of
/// its action and resource patterns. If you change `actions` or `resources` afterwards, call
/// `reindex()`; debug builds assert that the index is current on every evaluation.
#[derive(Debug, Clone)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    index: StatementIndex,
}

/// Equality is over the content; the index is derived from it.
impl PartialEq for Statement {
    fn eq(&self, other: &Self) -> bool {
        self.effect == other.effect
            && self.actions == other.actions
            && self.resources == other.resources
            && self.conditions == other.conditions
    }
}

impl Eq for Statement {}

impl Statement {
    /// Conditions are AND-ed, so their order carries no meaning; they are kept sorted by
    /// (operator, key), the order `from_json` produces, so documents compare and round-trip
    /// predictably.
    pub fn new(effect: Effect, actions: Vec<String>, resources: Vec<String>, mut conditions: Vec<Condition>) -> Self {
        conditions.sort_by(|a, b| (a.operator, &a.key).cmp(&(b.operator, &b.key)));
        let index = StatementIndex::of(&actions, &resources);
        Statement { effect, actions, resources, conditions, index }
    }

    /// Recomputes the index after `actions` or `resources` were changed in place.
    pub fn reindex(&mut self) {
        self.index = StatementIndex::of(&self.actions, &self.resources);
    }

    /// Whether this statement matches the request (whatever its effect).
    pub fn matches(&self, request: &Request<'_>) -> bool {
        self.matches_keyed(request, &RequestKey::new(request.action, request.resource))
    }

    /// The index check inline (it rejects most statements), the string matching out of line.
    #[inline(always)]
    fn matches_keyed(&self, request: &Request<'_>, key: &RequestKey) -> bool {
        debug_assert_eq!(
            self.index,
            StatementIndex::of(&self.actions, &self.resources),
            "Statement.actions or .resources changed after construction without Statement::reindex()"
        );
        self.index.admits(key) && self.matches_strings(request)
    }

    fn matches_strings(&self, request: &Request<'_>) -> bool {
        self.actions.iter().any(|p| glob(p, request.action, true))
            && self.resources.iter().any(|p| glob(p, request.resource, false))
            && self.conditions.iter().all(|c| condition_holds(c, request.context))
    }
}

// ---- the statement index ----
//
// A pattern can only match a text that starts with the pattern's literal prefix (everything
// before its first `*` or `?`). `evaluate` hashes every prefix of the request's action and
// resource once; each statement keeps, inline, per side (actions, resources):
// - `short`: the length `k` of its shortest literal prefix and a 64-bit Bloom filter of every
//   pattern's first `k` bytes — one lookup and one AND reject most statements;
// - `lens` / `bloom`: the set of its prefix lengths and a Bloom filter of the whole prefixes —
//   a few more bit tests for the statements that pass the first check.
// No pointer chasing either way. The filters over-approximate, never under-approximate: a
// pattern starting with a wildcard has the empty prefix, which every text has, and a false
// positive only costs the real `glob`.

/// Prefixes longer than this are filtered on their first `PREFIX_CAP` bytes.
const PREFIX_CAP: usize = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PrefixFilter {
    /// The shortest literal prefix's length.
    short_len: u8,
    /// One bit per pattern, from the hash of its first `short_len` bytes.
    short_bloom: u64,
    /// Bit `l` set: some pattern's literal prefix has length `l`.
    lens: u64,
    /// One bit per pattern, from the hash of its whole literal prefix and the prefix length.
    bloom: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatementIndex {
    actions: PrefixFilter,
    resources: PrefixFilter,
}

/// For each prefix length of the request's text, the Bloom bit of that prefix (0 past its end).
struct PrefixKey([u64; PREFIX_CAP + 1]);

/// The request's keys, computed once per `evaluate`.
struct RequestKey {
    action: PrefixKey,
    resource: PrefixKey,
}

const HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

#[inline]
fn hash_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
}

#[inline]
fn bloom_bit(h: u64, len: usize) -> u64 {
    1 << ((h ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// A pattern's bytes before its first wildcard (at most `PREFIX_CAP`), ASCII-lowercased if `fold`.
fn literal_prefix(pattern: &str, fold: bool) -> impl Iterator<Item = u8> + '_ {
    let bytes = pattern.as_bytes().iter().take_while(|&&b| b != b'*' && b != b'?').take(PREFIX_CAP);
    bytes.map(move |&b| if fold { b.to_ascii_lowercase() } else { b })
}

/// The Bloom bit of a prefix (as `PrefixKey` computes it for the request's prefixes).
fn prefix_bit(bytes: impl Iterator<Item = u8>) -> u64 {
    let (h, len) = bytes.fold((HASH_SEED, 0), |(h, len), b| (hash_step(h, b), len + 1));
    bloom_bit(h, len)
}

impl PrefixFilter {
    /// `fold`: ASCII case-insensitive, as action matching is.
    fn of(patterns: &[String], fold: bool) -> Self {
        let short_len = patterns.iter().map(|p| literal_prefix(p, fold).count()).min().unwrap_or(0);
        let mut f = PrefixFilter { short_len: short_len as u8, short_bloom: 0, lens: 0, bloom: 0 };
        for p in patterns {
            f.short_bloom |= prefix_bit(literal_prefix(p, fold).take(short_len));
            f.lens |= 1 << literal_prefix(p, fold).count();
            f.bloom |= prefix_bit(literal_prefix(p, fold));
        }
        f
    }

    #[inline(always)]
    fn admits(self, key: &PrefixKey) -> bool {
        if key.0[usize::from(self.short_len)] & self.short_bloom == 0 {
            return false;
        }
        let mut lens = self.lens;
        while lens != 0 {
            if key.0[lens.trailing_zeros() as usize] & self.bloom != 0 {
                return true;
            }
            lens &= lens - 1;
        }
        false
    }
}

impl PrefixKey {
    fn of(text: &str, fold: bool) -> Self {
        let mut bits = [0; PREFIX_CAP + 1];
        let mut h = HASH_SEED;
        bits[0] = bloom_bit(h, 0);
        for (i, &b) in text.as_bytes().iter().take(PREFIX_CAP).enumerate() {
            h = hash_step(h, if fold { b.to_ascii_lowercase() } else { b });
            bits[i + 1] = bloom_bit(h, i + 1);
        }
        PrefixKey(bits)
    }
}

impl StatementIndex {
    fn of(actions: &[String], resources: &[String]) -> Self {
        StatementIndex { actions: PrefixFilter::of(actions, true), resources: PrefixFilter::of(resources, false) }
    }

    #[inline(always)]
    fn admits(self, key: &RequestKey) -> bool {
        self.actions.admits(&key.action) && self.resources.admits(&key.resource)
    }
}

impl RequestKey {
    fn new(action: &str, resource: &str) -> Self {
        RequestKey { action: PrefixKey::of(action, true), resource: PrefixKey::of(resource, false) }
    }
}

// ---- documents and policies ----

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

impl PolicyType {
    /// `ACCOUNT` / `ORGANIZATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Account => "ACCOUNT",
            PolicyType::Organization => "ORGANIZATION",
        }
    }

    /// `ACCOUNT` / `ORGANIZATION` in any case; the `SPOT_MANAGED_` forms are accepted too.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.get(..13).filter(|p| p.eq_ignore_ascii_case("SPOT_MANAGED_")).map_or(s, |_| &s[13..]);
        [PolicyType::Account, PolicyType::Organization].into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
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

impl Policy {
    /// The `type` Spot shows: `ACCOUNT`, `ORGANIZATION`, `SPOT_MANAGED_ACCOUNT` or
    /// `SPOT_MANAGED_ORGANIZATION`.
    pub fn type_name(&self) -> &'static str {
        match (self.builtin, self.policy_type) {
            (false, t) => t.as_str(),
            (true, PolicyType::Account) => "SPOT_MANAGED_ACCOUNT",
            (true, PolicyType::Organization) => "SPOT_MANAGED_ORGANIZATION",
        }
    }
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

/// A policy as one user holds it. Borrowed, so building the grant list for a request costs one
/// small vector and no copies (`iam::OwnedGrant::as_grant`).
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub policy: &'a Policy,
    pub scope: &'a Scope,
    pub via: &'a Via,
}

/// Facts about the request that conditions and variables refer to (`spot:userEmail`,
/// `spot:organizationId`, `spot:accountId`, …). A few entries, so a vector beats a map.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    values: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Context<'a> {
    pub fn new() -> Self {
        Context::default()
    }

    /// Sets `key`, replacing an earlier value.
    pub fn insert(&mut self, key: &'a str, value: impl Into<Cow<'a, str>>) {
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
    /// The account the request acts in; `None` for organization-level requests, which
    /// account-type policies never cover.
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

// ---- evaluation ----

/// Decides one request. The first matching DENY (in grant, then statement order) ends the search
/// and decides; otherwise the first matching ALLOW decides; otherwise implicit deny.
pub fn evaluate(grants: &[Grant<'_>], request: &Request<'_>) -> Decision {
    let key = RequestKey::new(request.action, request.resource);
    let mut allow: Option<(&Grant<'_>, usize)> = None;
    for grant in grants {
        if !applies(grant, request) {
            continue;
        }
        for (i, statement) in grant.policy.document.statements.iter().enumerate() {
            // Once allowed, only a DENY can change the answer.
            if statement.effect == Effect::Allow && allow.is_some() {
                continue;
            }
            if statement.matches_keyed(request, &key) {
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
/// requests in one of their accounts (never to organization-level requests).
pub fn applies(grant: &Grant<'_>, request: &Request<'_>) -> bool {
    match (grant.policy.policy_type, grant.scope) {
        (PolicyType::Organization, _) => true,
        (PolicyType::Account, Scope::Accounts(ids)) => {
            request.account_id.is_some_and(|a| ids.iter().any(|id| id == "*" || same_id(id, a)))
        }
        (PolicyType::Account, Scope::Organization) => false,
    }
}

/// String equality for ids, inline and from the end, where ids of one shape differ.
#[inline]
fn same_id(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().rev().zip(b.bytes().rev()).all(|(x, y)| x == y)
}

/// Positive operators need the key; `StringNotEquals` holds when it is absent, and otherwise when
/// the value equals none of the listed values. A value whose variable is unknown matches nothing.
fn condition_holds(c: &Condition, context: &Context<'_>) -> bool {
    let Some(actual) = context.get(&c.key) else {
        return c.operator == Operator::StringNotEquals;
    };
    let any = |f: fn(&str, &str) -> bool| {
        c.values.iter().any(|v| {
            if v.contains("${") { substitute(v, context).is_some_and(|v| f(&v, actual)) } else { f(v, actual) }
        })
    };
    match c.operator {
        Operator::StringEquals => any(|v, a| v == a),
        Operator::StringNotEquals => !any(|v, a| v == a),
        Operator::StringEqualsIgnoreCase => any(eq_ignore_case),
        Operator::StringContains => any(|v, a| a.contains(v)),
        Operator::StringLike => c
            .values
            .iter()
            .any(|v| if v.contains("${") { like_with_variables(v, actual, context) } else { glob(v, actual, false) }),
    }
}

/// Unicode case-insensitive equality without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || (!(a.is_ascii() && b.is_ascii())
            && a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase)))
}

/// The next `${…}` in `s`: (text before, variable name, rest after `}`); `Err` for an unclosed
/// `${`.
fn next_variable(s: &str) -> Option<Result<(&str, &str, &str), ()>> {
    let start = s.find("${")?;
    let after = &s[start + 2..];
    Some(after.find('}').map(|end| (&s[..start], &after[..end], &after[end + 1..])).ok_or(()))
}

/// A variable's value: the context's, or a literal for the escapes `${*}`, `${?}` and `${$}`.
fn variable<'c>(name: &str, context: &'c Context<'_>) -> Option<&'c str> {
    match name {
        "*" => Some("*"),
        "?" => Some("?"),
        "$" => Some("$"),
        _ => context.get(name),
    }
}

/// Replaces `${key}` with the context's value; `None` when a variable is unknown or unclosed.
fn substitute(value: &str, context: &Context<'_>) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(next) = next_variable(rest) {
        let (before, name, after) = next.ok()?;
        out.push_str(before);
        out.push_str(variable(name, context)?);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

/// `StringLike` with variables: what a variable (or escape) stands for is matched literally, so
/// a `*` in someone's email address is not a wildcard.
fn like_with_variables(pattern: &str, text: &str, context: &Context<'_>) -> bool {
    let mut tokens = Vec::with_capacity(pattern.len() + 32);
    let mut rest = pattern;
    let pattern_tokens = |s: &str, tokens: &mut Vec<Tok>| tokens.extend(s.bytes().map(Tok::of));
    while let Some(next) = next_variable(rest) {
        let Ok((before, name, after)) = next else { return false };
        let Some(value) = variable(name, context) else { return false };
        pattern_tokens(before, &mut tokens);
        tokens.extend(value.bytes().map(Tok::Lit));
        rest = after;
    }
    pattern_tokens(rest, &mut tokens);
    glob_tokens(tokens.len(), |i| tokens[i], text.as_bytes(), false)
}

// ---- glob matching ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

impl Tok {
    #[inline]
    fn of(b: u8) -> Tok {
        match b {
            b'*' => Tok::Star,
            b'?' => Tok::One,
            b => Tok::Lit(b),
        }
    }
}

/// The length of the UTF-8 character starting with byte `b`.
#[inline]
fn char_len(b: u8) -> usize {
    match b {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Glob match: `*` any run of characters (including `:`), `?` exactly one character; ASCII case
/// folded when `ignore_case`. Allocation-free, with fast paths for the common shapes: a first
/// character that differs (most patterns name another service), `*`, exact patterns and
/// `prefix*`.
#[inline]
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: &[u8], b: &[u8]| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    if let (Some(&a), Some(&b)) = (p.first(), t.first())
        && a != b'*'
        && a != b'?'
        && !eq(&[a], &[b])
    {
        return false;
    }
    if p == b"*" {
        return true;
    }
    match p.iter().position(|&c| c == b'*' || c == b'?') {
        None => eq(p, t),
        Some(i) if i == p.len() - 1 && p[i] == b'*' => t.len() >= i && eq(&p[..i], &t[..i]),
        Some(_) => glob_tokens(p.len(), |i| Tok::of(p[i]), t, ignore_case),
    }
}

/// The general case: iterative matching with one backtrack point (the last `*`). Positions in
/// the text stay on character boundaries: `?` and backtracking step whole UTF-8 characters, and
/// literal bytes only ever match whole characters.
fn glob_tokens(len: usize, tok: impl Fn(usize) -> Tok, t: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        match (pi < len).then(|| tok(pi)) {
            Some(Tok::One) => {
                pi += 1;
                ti = (ti + char_len(t[ti])).min(t.len());
                continue;
            }
            Some(Tok::Lit(c)) if eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(Tok::Star) => {
                star = Some(pi);
                mark = ti;
                pi += 1;
                continue;
            }
            _ => {}
        }
        let Some(s) = star else { return false };
        pi = s + 1;
        mark = (mark + char_len(t[mark])).min(t.len());
        ti = mark;
    }
    (pi..len).all(|i| tok(i) == Tok::Star)
}

// ---- documents: parsing, validation, serialisation ----

impl PolicyDocument {
    /// Parses and validates Spot's `policyContent`:
    /// `{"statements":[{"effect":"ALLOW","actions":["setup:*"],"resources":["*"],
    /// "conditions":{"StringEquals":{"spot:userEmail":["a@b.c"]}}}]}`.
    ///
    /// `field` is the value's locator (`body.policy.policyContent`); every error names the exact
    /// field under it (`…statements[2].effect`, `…statements[0].actions[1]`,
    /// `…statements[0].conditions.StringLike.spot:userEmail[0]`). Unknown fields are ignored;
    /// `effect` is accepted in any case; actions and resources are trimmed.
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

    /// Spot's JSON form; `from_json` reads it back to an equal document. (Two conditions with the
    /// same operator and key cannot both be written — JSON objects have unique keys — so the last
    /// one wins; `from_json` never produces such a pair.)
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
    let effect = obj
        .get("effect")
        .and_then(Value::as_str)
        .and_then(Effect::parse)
        .ok_or_else(|| Error::validation(format!("{at}.effect"), "\"effect\" must be ALLOW or DENY"))?;
    let actions = string_list(obj.get("actions"), &format!("{at}.actions"), true)?;
    for (i, a) in actions.iter().enumerate() {
        if !is_action_pattern(a) {
            return Err(Error::validation(
                format!("{at}.actions[{i}]"),
                "an action must look like service:action (letters, digits, wildcards * and ?) or be *",
            ));
        }
    }
    let resources = string_list(obj.get("resources"), &format!("{at}.resources"), true)?;
    let conditions = match obj.get("conditions") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => parse_conditions(c, &format!("{at}.conditions"))?,
    };
    Ok(Statement::new(effect, actions, resources, conditions))
}

/// A list of 1 to `MAX_ITEMS` strings of at most `MAX_STRING` characters. Actions and resources
/// (`trim`) are trimmed and must not be blank; condition values are kept as given.
fn string_list(v: Option<&Value>, at: &str, trim: bool) -> Result<Vec<String>, Error> {
    let list = match v {
        None | Some(Value::Null) => return Err(Error::validation(at, "required: a non-empty list of strings")),
        Some(v) => v.as_array().ok_or_else(|| Error::validation(at, "must be a list of strings"))?,
    };
    if list.is_empty() || list.len() > MAX_ITEMS {
        return Err(Error::validation(at, format!("must hold 1 to {MAX_ITEMS} strings")));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_str().map(|s| if trim { s.trim() } else { s });
            match s {
                Some(s) if !(trim && s.is_empty()) && s.chars().count() <= MAX_STRING => Ok(s.to_string()),
                _ => Err(Error::validation(
                    format!("{at}[{i}]"),
                    format!("must be a non-empty string of at most {MAX_STRING} characters"),
                )),
            }
        })
        .collect()
}

/// `*`, or `service:action` where both parts hold letters, digits, `-`, `_` and the wildcards.
fn is_action_pattern(a: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'*' | b'?' | b'-' | b'_'))
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
                "unknown condition operator (StringEquals, StringNotEquals, StringLike, StringEqualsIgnoreCase, \
                 StringContains)",
            )
        })?;
        let entries =
            entries.as_object().ok_or_else(|| Error::validation(&here, "must map condition keys to values"))?;
        for (key, values) in entries {
            let kat = format!("{here}.{key}");
            if key.trim().is_empty() || key.chars().count() > MAX_STRING {
                return Err(Error::validation(
                    &kat,
                    format!("a condition key must be a non-empty string of at most {MAX_STRING} characters"),
                ));
            }
            let values = match values {
                Value::String(s) if s.chars().count() <= MAX_STRING => vec![s.clone()],
                Value::String(_) => {
                    return Err(Error::validation(&kat, format!("must be at most {MAX_STRING} characters")));
                }
                Value::Array(_) => string_list(Some(values), &kat, false)?,
                _ => return Err(Error::validation(&kat, "must be a string or a list of strings")),
            };
            out.push(Condition { operator, key: key.clone(), values });
            if out.len() > MAX_CONDITIONS {
                return Err(Error::validation(at, format!("at most {MAX_CONDITIONS} conditions")));
            }
        }
    }
    Ok(out)
}

// ---- built-in policies ----

fn allow(actions: &[&str]) -> Statement {
    Statement::new(Effect::Allow, actions.iter().map(|s| s.to_string()).collect(), vec!["*".into()], vec![])
}

/// What "read-only" means in a policy: every describe, list and get action of every service.
const READ: &[&str] = &["*:describe*", "*:list*", "*:get*"];

/// The policies every organization has, in id order. Their ids are fixed (Terraform hard-codes
/// "3" as Account Viewer).
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
                ORGANIZATION_VIEWER_POLICY_ID,
                "Organization Viewer",
                "Read-only access to the whole organization, audit included",
                PolicyType::Organization,
                vec![allow(READ)],
            ),
            make(
                MEMBER_POLICY_ID,
                "Organization Member",
                "What every member may do: see the organization and manage their own tokens",
                PolicyType::Organization,
                vec![allow(&["setup:describeOrganization", "setup:createUserToken", "setup:listUserTokens"])],
            ),
        ]
    })
}

pub fn builtin(id: &str) -> Option<&'static Policy> {
    builtin_policies().iter().find(|p| p.id == id)
}

// ---- the action catalog ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: &'static str,
    pub service: &'static str,
    pub resource_pattern: &'static str,
    pub scope: PolicyType,
    /// `CREATE`, `READ`, `UPDATE` or `DELETE`, from the verb.
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
        ("setup:createChildOrganization", "*", O),
        ("setup:listChildOrganizations", "*", O),
        ("setup:linkOrganization", "*", O),
        ("setup:unlinkOrganization", "*", O),
        ("setup:describeScim", "*", O),
        ("setup:manageScim", "*", O),
        ("setup:describeSsoMetaData", "*", O),
        ("setup:createSsoMetaData", "*", O),
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
                ActionInfo { name, service, resource_pattern, scope, category: category_of(verb) }
            })
            .collect()
    })
}

/// create → CREATE; delete → DELETE; describe, list, get (and explain, which changes nothing) →
/// READ; everything else (update, attach, detach, set) → UPDATE.
fn category_of(verb: &str) -> &'static str {
    let starts = |ps: &[&str]| ps.iter().any(|p| verb.starts_with(p));
    if starts(&["create"]) {
        "CREATE"
    } else if starts(&["delete"]) {
        "DELETE"
    } else if starts(&["describe", "list", "get", "explain"]) {
        "READ"
    } else {
        "UPDATE"
    }
}

/// The catalog entry for an action name (case-insensitive).
pub fn action_info(name: &str) -> Option<&'static ActionInfo> {
    action_catalog().iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether an action pattern means something: `*`, a pattern matching at least one catalog
/// action (`setup:describe*`), or a well-formed whole-service pattern (`emr:*`). Spot policies
/// name many services orgplane does not serve, so `from_json` does not require this; it is for
/// warnings and editors.
pub fn is_known_action_pattern(p: &str) -> bool {
    is_action_pattern(p)
        && (p.split_once(':').is_some_and(|(_, verb)| verb == "*")
            || action_catalog().iter().any(|a| glob(p, a.name, true)))
}

#[cfg(test)]
mod tests;
