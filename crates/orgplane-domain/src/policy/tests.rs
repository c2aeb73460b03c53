use super::*;
use proptest::prelude::*;

fn policy(id: &str, kind: PolicyType, statements: Vec<Statement>) -> Policy {
    Policy {
        id: id.into(),
        name: format!("policy {id}"),
        description: String::new(),
        policy_type: kind,
        builtin: false,
        document: PolicyDocument { statements },
    }
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

fn st(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    Statement::new(effect, strings(actions), strings(resources), vec![])
}

fn cond(operator: Operator, key: &str, values: &[&str]) -> Condition {
    Condition { operator, key: key.into(), values: strings(values) }
}

fn ctx() -> Context<'static> {
    let mut c = Context::new();
    c.insert("spot:userEmail", "ada@example.com");
    c.insert("spot:organizationId", "606000000001");
    c
}

fn decide(grants: &[Grant<'_>], action: &str, resource: &str, account: Option<&str>) -> Decision {
    let c = ctx();
    evaluate(grants, &Request { action, resource, account_id: account, context: &c })
}

const ORG: Scope = Scope::Organization;

fn org_grant(p: &Policy) -> Grant<'_> {
    Grant { policy: p, scope: &ORG, via: &Via::Direct }
}

/// One organization policy with this one statement; whether the request is allowed.
fn allows(statement: Statement, action: &str, resource: &str) -> bool {
    let p = policy("p", PolicyType::Organization, vec![statement]);
    decide(&[org_grant(&p)], action, resource, None).allowed
}

/// Whether one ALLOW `*` statement with this condition allows a request in `ctx()`.
fn holds(c: Condition) -> bool {
    allows(Statement::new(Effect::Allow, strings(&["*"]), strings(&["*"]), vec![c]), "a:b", "r")
}

// ---- matching ----

#[test]
fn globs() {
    assert!(glob("*", "anything", false));
    assert!(glob("*", "", false));
    assert!(glob("", "", false));
    assert!(!glob("", "x", false));
    assert!(glob("setup:describe*", "setup:describeAccount", true));
    assert!(glob("setup:describe*", "setup:describe", true), "* matches the empty run");
    assert!(glob("SETUP:DESCRIBE*", "setup:describeAccount", true));
    assert!(!glob("SETUP:*", "setup:x", false));
    assert!(glob("*:describe*", "ocean:describeCluster", true));
    assert!(glob("setup*account", "setup:describeAccount", true), "* crosses the colon");
    assert!(glob("sig-214*", "sig-21400000", false));
    assert!(!glob("sig-214*", "sig-21500000", false));
    assert!(glob("a?c", "abc", false));
    assert!(!glob("a?c", "ac", false));
    assert!(!glob("a?c", "abbc", false));
    assert!(glob("a?c", "aéc", false), "? is one character, not one byte");
    assert!(glob("??", "日本", false));
    assert!(!glob("?", "日本", false));
    assert!(glob("*本", "日本", false));
    assert!(glob("*-*-x", "a-b-c-x", false));
    assert!(!glob("*-*-x", "a-b-c-y", false));
    assert!(glob("*a*b", "xxaxxab", false), "backtracking to the last star");
    assert!(!glob("exact", "exactly", false));
    assert!(!glob("exactly", "exact", false));
    assert!(glob("**", "", false));
}

#[test]
fn actions_ignore_case_resources_do_not() {
    assert!(allows(st(Effect::Allow, &["SETUP:describeaccount"], &["*"]), "setup:describeAccount", "act-1"));
    assert!(allows(st(Effect::Allow, &["Elastigroup:*"], &["*"]), "elastigroup:updateGroup", "sig-1"));
    assert!(allows(st(Effect::Allow, &["*"], &["sig-1"]), "elastigroup:updateGroup", "sig-1"));
    assert!(!allows(st(Effect::Allow, &["*"], &["SIG-1"]), "elastigroup:updateGroup", "sig-1"));
    assert!(!allows(st(Effect::Allow, &["*"], &["Act-*"]), "setup:updateAccount", "act-1"));
    // Every listed pattern is tried: one action of several and one resource of several suffice.
    assert!(allows(st(Effect::Allow, &["ocean:*", "setup:update*"], &["sig-*", "act-1"]), "setup:updateX", "act-1"));
    assert!(!allows(st(Effect::Allow, &["ocean:*", "setup:update*"], &["sig-*", "act-2"]), "setup:updateX", "act-1"));
}

#[test]
fn default_deny_and_allow() {
    let p = policy("pol-1", PolicyType::Organization, vec![st(Effect::Allow, &["setup:describe*"], &["*"])]);
    let grants = [Grant { policy: &p, scope: &ORG, via: &Via::Direct }];
    let d = decide(&grants, "setup:describeAccount", "act-1", Some("act-1"));
    assert!(d.allowed);
    assert_eq!(
        d.decided_by,
        Some(Decider {
            policy_id: "pol-1".into(),
            policy_name: "policy pol-1".into(),
            statement_index: 0,
            effect: Effect::Allow,
            via: Via::Direct
        })
    );
    let d = decide(&grants, "setup:deleteAccount", "act-1", Some("act-1"));
    assert_eq!(d, Decision { allowed: false, decided_by: None });
    assert_eq!(decide(&[], "setup:describeAccount", "x", None), Decision { allowed: false, decided_by: None });
}

#[test]
fn first_matching_allow_decides() {
    let a = policy("pol-a", PolicyType::Organization, vec![st(Effect::Allow, &["x:y"], &["*"])]);
    let b = policy(
        "pol-b",
        PolicyType::Organization,
        vec![st(Effect::Allow, &["ocean:*"], &["*"]), st(Effect::Allow, &["setup:*"], &["*"])],
    );
    let c = policy("pol-c", PolicyType::Organization, vec![st(Effect::Allow, &["*"], &["*"])]);
    let grants = [org_grant(&a), org_grant(&b), org_grant(&c)];
    let by = decide(&grants, "setup:updateAccount", "act-1", Some("act-1")).decided_by.unwrap();
    assert_eq!((by.policy_id.as_str(), by.statement_index), ("pol-b", 1));
}

#[test]
fn explicit_deny_wins_and_is_reported() {
    let allow = policy("pol-a", PolicyType::Organization, vec![st(Effect::Allow, &["*"], &["*"])]);
    let deny = policy(
        "pol-d",
        PolicyType::Organization,
        vec![st(Effect::Allow, &["x:y"], &["*"]), st(Effect::Deny, &["setup:delete*"], &["act-9*"])],
    );
    let group = Via::Group("ugr-1".into());
    let grants =
        [Grant { policy: &allow, scope: &ORG, via: &Via::Role }, Grant { policy: &deny, scope: &ORG, via: &group }];
    let d = decide(&grants, "setup:deleteAccount", "act-99", Some("act-99"));
    assert!(!d.allowed);
    let by = d.decided_by.unwrap();
    assert_eq!(
        (by.policy_id.as_str(), by.statement_index, by.effect, by.via),
        ("pol-d", 1, Effect::Deny, Via::Group("ugr-1".into()))
    );
    assert!(decide(&grants, "setup:deleteAccount", "act-11", Some("act-11")).allowed, "the DENY's resource differs");
    // The same DENY in a policy that does not apply to the request changes nothing.
    let elsewhere = policy("pol-e", PolicyType::Account, vec![st(Effect::Deny, &["*"], &["*"])]);
    let other = Scope::Accounts(vec!["act-2".into()]);
    let grants = [org_grant(&allow), Grant { policy: &elsewhere, scope: &other, via: &Via::Direct }];
    assert!(decide(&grants, "setup:deleteAccount", "act-1", Some("act-1")).allowed);
    assert!(!decide(&grants, "setup:deleteAccount", "act-2", Some("act-2")).allowed);
}

#[test]
fn account_policies_apply_only_to_their_accounts() {
    let p = policy("pol-1", PolicyType::Account, vec![st(Effect::Allow, &["*"], &["*"])]);
    let one = Scope::Accounts(vec!["act-1".into(), "act-3".into()]);
    let some = [Grant { policy: &p, scope: &one, via: &Via::Direct }];
    assert!(decide(&some, "setup:updateAccount", "act-1", Some("act-1")).allowed);
    assert!(decide(&some, "setup:updateAccount", "act-3", Some("act-3")).allowed);
    assert!(!decide(&some, "setup:updateAccount", "act-2", Some("act-2")).allowed);
    assert!(!decide(&some, "setup:createAccount", "606000000001", None).allowed, "never org-level");
    let star = Scope::Accounts(vec!["*".into()]);
    let all = [Grant { policy: &p, scope: &star, via: &Via::Direct }];
    assert!(decide(&all, "setup:updateAccount", "act-new", Some("act-new")).allowed, "* = future accounts too");
    assert!(!decide(&all, "setup:createAccount", "606000000001", None).allowed, "* is not the organization");
    let none = Scope::Accounts(vec![]);
    assert!(!decide(&[Grant { policy: &p, scope: &none, via: &Via::Direct }], "a:b", "act-1", Some("act-1")).allowed);
    let wrong = [Grant { policy: &p, scope: &ORG, via: &Via::Direct }];
    assert!(!decide(&wrong, "setup:updateAccount", "act-1", Some("act-1")).allowed);
}

#[test]
fn organization_policies_apply_everywhere() {
    let p = policy("pol-o", PolicyType::Organization, vec![st(Effect::Allow, &["setup:*"], &["*"])]);
    let accounts = Scope::Accounts(vec!["act-1".into()]);
    for scope in [&ORG, &accounts] {
        let g = [Grant { policy: &p, scope, via: &Via::Direct }];
        assert!(decide(&g, "setup:createAccount", "606000000001", None).allowed);
        assert!(decide(&g, "setup:updateAccount", "act-7", Some("act-7")).allowed, "the account list is ignored");
    }
}

#[test]
fn conditions_and_variables() {
    use Operator::*;
    // One entry: values OR-ed, variables substituted.
    assert!(holds(cond(StringEquals, "spot:userEmail", &["x@y.z", "${spot:userEmail}"])));
    assert!(holds(cond(StringEquals, "spot:userEmail", &["ada@example.com"])));
    assert!(!holds(cond(StringEquals, "spot:userEmail", &["x@y.z"])));
    assert!(!holds(cond(StringEquals, "spot:userEmail", &["ADA@EXAMPLE.COM"])), "StringEquals is case-sensitive");
    assert!(holds(cond(
        StringEquals,
        "spot:userEmail",
        &["${spot:organizationId}", "ada@${spot:x}", "ada@example.com"]
    )));
    assert!(holds(cond(StringEquals, "spot:organizationId", &["${spot:organizationId}"])));
    assert!(!holds(cond(StringEquals, "spot:userEmail", &["ada@${spot:organizationId}", "ada@example.${x}com"])));
    assert!(!holds(cond(StringEquals, "spot:userEmail", &["${spot:unknown}"])), "unknown variable matches nothing");
    assert!(!holds(cond(StringEquals, "spot:userEmail", &["${spot:userEmail"])), "unclosed variable matches nothing");
    assert!(holds(cond(StringEqualsIgnoreCase, "spot:userEmail", &["ADA@EXAMPLE.COM"])));
    assert!(!holds(cond(StringEqualsIgnoreCase, "spot:userEmail", &["ADA@EXAMPLE.ORG"])));
    assert!(holds(cond(StringLike, "spot:userEmail", &["*@example.com"])));
    assert!(holds(cond(StringLike, "spot:userEmail", &["ad?@*"])));
    assert!(!holds(cond(StringLike, "spot:userEmail", &["*@example.org"])));
    assert!(!holds(cond(StringLike, "spot:userEmail", &["*@EXAMPLE.com"])), "StringLike is case-sensitive");
    assert!(holds(cond(StringLike, "spot:userEmail", &["${spot:userEmail}"])));
    assert!(holds(cond(StringLike, "spot:userEmail", &["*@${spot:unknown}", "a*@example.com"])));
    assert!(holds(cond(StringContains, "spot:userEmail", &["@example."])));
    assert!(!holds(cond(StringContains, "spot:userEmail", &["@EXAMPLE."])));
    assert!(holds(cond(StringNotEquals, "spot:userEmail", &["bob@example.com"])));
    assert!(!holds(cond(StringNotEquals, "spot:userEmail", &["bob@example.com", "ada@example.com"])));
    assert!(!holds(cond(StringNotEquals, "spot:userEmail", &["${spot:userEmail}"])));
    assert!(holds(cond(StringNotEquals, "spot:userEmail", &["${spot:unknown}"])), "an unknown variable equals nothing");
    // Absent keys: positive operators fail, StringNotEquals holds.
    for op in [StringEquals, StringEqualsIgnoreCase, StringLike, StringContains] {
        assert!(!holds(cond(op, "spot:missing", &["*", ""])), "{op:?} on an absent key");
    }
    assert!(holds(cond(StringNotEquals, "spot:missing", &["x"])), "absent key satisfies StringNotEquals");

    // Several entries are AND-ed.
    let both = |a: Condition, b: Condition| {
        allows(Statement::new(Effect::Allow, strings(&["*"]), strings(&["*"]), vec![a, b]), "a:b", "r")
    };
    let like = || cond(StringLike, "spot:userEmail", &["*@example.com"]);
    assert!(!both(like(), cond(StringEquals, "spot:userEmail", &["other@example.com"])));
    assert!(both(like(), cond(StringEquals, "spot:organizationId", &["606000000001"])));
    assert!(!both(like(), cond(StringEquals, "spot:accountId", &["act-1"])), "absent key fails the AND");

    // A DENY whose condition fails does not deny.
    let deny = Statement::new(
        Effect::Deny,
        strings(&["*"]),
        strings(&["*"]),
        vec![cond(StringEquals, "spot:userEmail", &["bob@example.com"])],
    );
    let p = policy("p", PolicyType::Organization, vec![st(Effect::Allow, &["*"], &["*"]), deny]);
    assert!(decide(&[org_grant(&p)], "a:b", "r", None).allowed);
}

#[test]
fn variables_in_string_like_are_literal() {
    fn run(c: &Context<'_>, operator: Operator, values: &[&str]) -> bool {
        let s =
            Statement::new(Effect::Allow, strings(&["*"]), strings(&["*"]), vec![cond(operator, "spot:owner", values)]);
        let p = policy("p", PolicyType::Organization, vec![s]);
        evaluate(&[org_grant(&p)], &Request { action: "a:b", resource: "r", account_id: None, context: c }).allowed
    }
    use Operator::{StringEquals, StringLike};
    let mut c = Context::new();
    c.insert("spot:userEmail", "*@example.com");
    c.insert("spot:owner", "ada@example.com");
    assert!(!run(&c, StringLike, &["${spot:userEmail}"]), "a * inside a variable's value is not a wildcard");
    assert!(run(&c, StringLike, &["*${spot:owner}"]), "wildcards outside the variable still work");
    assert!(run(&c, StringLike, &["ada@${spot:unknown}", "ada@*"]));
    // Escapes for literal wildcard characters.
    c.insert("spot:owner", "a*b?c$");
    assert!(run(&c, StringLike, &["a${*}b${?}c${$}"]));
    assert!(!run(&c, StringLike, &["a${*}x${?}c${$}"]));
    assert!(run(&c, StringLike, &["a${*}*"]));
    assert!(!run(&c, StringLike, &["a${*}"]));
    assert!(run(&c, StringEquals, &["a${*}b${?}c${$}"]));
}

#[test]
fn context_insert_replaces() {
    let mut c = Context::new();
    c.insert("k", "1");
    c.insert("k", String::from("2"));
    assert_eq!(c.get("k"), Some("2"));
    assert_eq!(c.get("K"), None);
}

#[test]
fn unicode_ignore_case() {
    assert!(eq_ignore_case("ÉCOLE@x.fr", "école@X.FR"));
    assert!(!eq_ignore_case("école", "ecole"));
    assert!(eq_ignore_case("", ""));
}

// ---- the action index ----

#[test]
fn index_never_skips_a_matching_statement() {
    let admits = |s: &Statement, action: &str, resource: &str| s.index.admits(&RequestKey::new(action, resource));
    let long = "x".repeat(PREFIX_CAP + 10);
    for (pattern, action) in [
        ("Setup:*", "setup:x"),
        ("*:describe*", "ocean:describeX"),
        ("?etup:*", "setup:x"),
        ("9x:*", "9x:y"),
        ("_a:b", "_a:b"),
        ("setup:Describe*", "SETUP:describeX"),
        ("setup:?escribe", "setup:describe"),
        ("*", "weird"),
        ("a*", "a:b:c"),
        ("a:b*", "a:b:c"),
        ("*:c", "a:b:c"),
        ("", ""),
        (&format!("{long}*"), &format!("{long}yz")),
        (&long, &long),
    ] {
        let s = st(Effect::Allow, &["zz:zz", pattern], &["*"]);
        assert!(glob(pattern, action, true), "{pattern} matches {action}");
        assert!(admits(&s, action, "r"), "{pattern} vs {action}");
    }
    for (pattern, resource) in [("act-1*", "act-12"), ("*", ""), ("a?c", "abc"), ("é*", "éa"), (&long, &long)] {
        let s = st(Effect::Allow, &["*"], &["sig-0", pattern]);
        assert!(glob(pattern, resource, false), "{pattern} matches {resource}");
        assert!(admits(&s, "a:b", resource), "{pattern} vs {resource}");
    }
    // And it does reject what cannot match: another service, another verb, another resource.
    let s = st(Effect::Allow, &["ocean:*", "setup:describe*"], &["act-1*", "sig-*"]);
    assert!(!admits(&s, "elastigroup:describeGroup", "act-1"));
    assert!(!admits(&s, "setup:updateAccount", "act-1"));
    assert!(!admits(&s, "setup:describeAccount", "act-2"));
    assert!(!admits(&s, "setup:describeAccount", "ACT-1"), "resources are case-sensitive");
    assert!(admits(&s, "SETUP:DESCRIBEAccount", "act-12"), "actions are not");
    assert!(admits(&s, "ocean:anything", "sig-9"));
}
#[test]
fn reindex_after_changing_actions() {
    let mut s = st(Effect::Allow, &["ocean:*"], &["*"]);
    s.actions = strings(&["setup:*"]);
    s.reindex();
    assert!(allows(s, "setup:updateAccount", "act-1"));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "without Statement::reindex")]
fn a_stale_index_is_caught_in_debug_builds() {
    let mut s = st(Effect::Allow, &["ocean:*"], &["*"]);
    s.actions = strings(&["setup:*"]);
    allows(s, "setup:updateAccount", "act-1");
}

// ---- documents ----

fn field_of(v: Value) -> String {
    match PolicyDocument::from_json(&v, "body.policy.policyContent") {
        Err(Error::Invalid { code: "ValidationError", field, .. }) => field.unwrap(),
        other => panic!("expected a validation error for {v}, got {other:?}"),
    }
}

fn one(statement: Value) -> Value {
    json!({ "statements": [statement] })
}

#[test]
fn documents_validate_with_exact_fields() {
    const F: &str = "body.policy.policyContent";
    let s0 = |rest: &str| format!("{F}.statements[0]{rest}");
    let long = "a".repeat(MAX_STRING + 1);
    let ok = json!({"effect": "ALLOW", "actions": ["a:b"], "resources": ["*"]});
    let with = |key: &str, v: Value| {
        let mut s = ok.clone();
        s[key] = v;
        one(s)
    };
    let bad_third = json!({"effect": "PERMIT", "actions": ["a:b"], "resources": ["*"]});
    let too_many_statements = vec![ok.clone(); MAX_STATEMENTS + 1];
    let too_many_actions = vec!["a:b"; MAX_ITEMS + 1];
    let too_many_conditions: Map<String, Value> = (0..=MAX_CONDITIONS).map(|i| (format!("k{i}"), json!("v"))).collect();
    let mut long_key = Map::new();
    long_key.insert(long.clone(), json!("v"));
    let cases: Vec<(Value, String)> = vec![
        (json!("x"), F.to_string()),
        (json!(null), F.to_string()),
        (json!({}), format!("{F}.statements")),
        (json!({"statements": {}}), format!("{F}.statements")),
        (json!({"statements": []}), format!("{F}.statements")),
        (json!({ "statements": too_many_statements }), format!("{F}.statements")),
        (json!({"statements": [ok.clone(), ok.clone(), 5]}), format!("{F}.statements[2]")),
        (json!({"statements": [ok.clone(), ok.clone(), bad_third]}), format!("{F}.statements[2].effect")),
        (with("effect", json!(null)), s0(".effect")),
        (with("effect", json!(true)), s0(".effect")),
        (one(json!({"actions": ["a:b"], "resources": ["*"]})), s0(".effect")),
        (with("actions", json!("a:b")), s0(".actions")),
        (with("actions", json!(null)), s0(".actions")),
        (with("actions", json!([])), s0(".actions")),
        (with("actions", json!(too_many_actions)), s0(".actions")),
        (with("actions", json!(["a:b", ""])), s0(".actions[1]")),
        (with("actions", json!(["a:b", "  "])), s0(".actions[1]")),
        (with("actions", json!(["a:b", 7])), s0(".actions[1]")),
        (with("actions", json!(["nocolon"])), s0(".actions[0]")),
        (with("actions", json!(["a:b:c"])), s0(".actions[0]")),
        (with("actions", json!([":b"])), s0(".actions[0]")),
        (with("actions", json!(["a:"])), s0(".actions[0]")),
        (with("actions", json!(["a b:c"])), s0(".actions[0]")),
        (with("actions", json!([format!("a:{long}")])), s0(".actions[0]")),
        (one(json!({"effect": "ALLOW", "actions": ["a:b"]})), s0(".resources")),
        (with("resources", json!("*")), s0(".resources")),
        (with("resources", json!([])), s0(".resources")),
        (with("resources", json!(["*", ""])), s0(".resources[1]")),
        (with("resources", json!([long.clone()])), s0(".resources[0]")),
        (with("conditions", json!([])), s0(".conditions")),
        (with("conditions", json!({"Bogus": {"k": "v"}})), s0(".conditions.Bogus")),
        (with("conditions", json!({"stringequals": {"k": "v"}})), s0(".conditions.stringequals")),
        (with("conditions", json!({"StringPatternMatch": {"k": "v"}})), s0(".conditions.StringPatternMatch")),
        (with("conditions", json!({"StringEquals": "k"})), s0(".conditions.StringEquals")),
        (with("conditions", json!({"StringEquals": {"k": 5}})), s0(".conditions.StringEquals.k")),
        (with("conditions", json!({"StringEquals": {"k": null}})), s0(".conditions.StringEquals.k")),
        (with("conditions", json!({"StringEquals": {"k": []}})), s0(".conditions.StringEquals.k")),
        (with("conditions", json!({"StringEquals": {"k": ["v", 5]}})), s0(".conditions.StringEquals.k[1]")),
        (with("conditions", json!({"StringEquals": {"k": long.clone()}})), s0(".conditions.StringEquals.k")),
        (with("conditions", json!({"StringEquals": {"k": ["v", long.clone()]}})), s0(".conditions.StringEquals.k[1]")),
        (with("conditions", json!({"StringLike": {"": "v"}})), s0(".conditions.StringLike.")),
        (with("conditions", json!({ "StringLike": long_key })), s0(&format!(".conditions.StringLike.{long}"))),
        (with("conditions", json!({ "StringEquals": too_many_conditions })), s0(".conditions")),
    ];
    for (doc, field) in cases {
        assert_eq!(field_of(doc.clone()), field, "for {doc}");
    }
}

#[test]
fn documents_accept_and_normalise() {
    let doc = PolicyDocument::from_json(
        &json!({"statements": [
            {
                "effect": "allow",
                "actions": [" setup:describe* ", "*", "ocean-cd:get_x?"],
                "resources": [" * "],
                "extra": 1,
                "conditions": {
                    "StringLike": {"spot:userEmail": "*@example.com"},
                    "StringEquals": {"spot:b": [" x ", ""], "spot:a": "y"}
                }
            },
            {"effect": "Deny", "actions": ["SETUP:DELETE*"], "resources": ["act-1"], "conditions": null},
        ], "version": "2024"}),
        "f",
    )
    .unwrap();
    let s = &doc.statements;
    assert_eq!(s[0].effect, Effect::Allow);
    assert_eq!(s[0].actions, strings(&["setup:describe*", "*", "ocean-cd:get_x?"]));
    assert_eq!(s[0].resources, strings(&["*"]));
    assert_eq!(
        s[0].conditions,
        vec![
            cond(Operator::StringEquals, "spot:a", &["y"]),
            cond(Operator::StringEquals, "spot:b", &[" x ", ""]),
            cond(Operator::StringLike, "spot:userEmail", &["*@example.com"]),
        ],
        "single strings become lists, values are kept verbatim, conditions sorted by (operator, key)"
    );
    assert_eq!(s[1].effect, Effect::Deny);
    assert!(s[1].conditions.is_empty());
    // Bounds are inclusive.
    let widest = json!({"effect": "DENY", "actions": vec!["a:b"; MAX_ITEMS], "resources": ["x".repeat(MAX_STRING)]});
    let full = json!({ "statements": vec![widest; MAX_STATEMENTS] });
    assert_eq!(PolicyDocument::from_json(&full, "f").unwrap().statements.len(), MAX_STATEMENTS);
    let unicode = one(json!({"effect": "ALLOW", "actions": ["a:b"], "resources": ["é".repeat(MAX_STRING)]}));
    assert!(PolicyDocument::from_json(&unicode, "f").is_ok(), "the bound counts characters, not bytes");
}

#[test]
fn to_json_has_spots_shape() {
    let doc = PolicyDocument {
        statements: vec![
            Statement::new(
                Effect::Allow,
                strings(&["setup:*"]),
                strings(&["*"]),
                vec![cond(Operator::StringEquals, "spot:userEmail", &["a@b.c"])],
            ),
            st(Effect::Deny, &["setup:deleteAccount"], &["act-1"]),
        ],
    };
    assert_eq!(
        doc.to_json(),
        json!({"statements": [
            {
                "effect": "ALLOW",
                "actions": ["setup:*"],
                "resources": ["*"],
                "conditions": {"StringEquals": {"spot:userEmail": ["a@b.c"]}}
            },
            {"effect": "DENY", "actions": ["setup:deleteAccount"], "resources": ["act-1"]},
        ]})
    );
    assert_eq!(PolicyDocument::from_json(&doc.to_json(), "f").unwrap(), doc);
}

// ---- built-ins and the catalog ----

fn on_account(p: &Policy, action: &str) -> bool {
    let scope = Scope::Accounts(vec!["act-1".into()]);
    decide(&[Grant { policy: p, scope: &scope, via: &Via::Role }], action, "act-1", Some("act-1")).allowed
}

fn org_level(p: &Policy, action: &str) -> bool {
    let scope = Scope::Accounts(vec!["*".into()]);
    decide(&[Grant { policy: p, scope: &scope, via: &Via::Role }], action, "606000000001", None).allowed
}

/// describe…, list… or get…
fn is_read_verb(action: &str) -> bool {
    matches!(action.split_once(':').unwrap().1.get(..3), Some("des" | "lis" | "get"))
}

#[test]
fn builtins_have_fixed_ids() {
    let ids: Vec<_> = builtin_policies().iter().map(|p| (p.id.as_str(), p.name.as_str(), p.policy_type)).collect();
    assert_eq!(
        ids,
        [
            ("1", "Admin", PolicyType::Organization),
            ("2", "Account Editor", PolicyType::Account),
            ("3", "Account Viewer", PolicyType::Account),
            ("4", "Organization Viewer", PolicyType::Organization),
            ("5", "Organization Member", PolicyType::Organization),
        ]
    );
    assert!(builtin_policies().iter().all(|p| p.builtin));
    assert_eq!(builtin("3").unwrap().type_name(), "SPOT_MANAGED_ACCOUNT");
    assert_eq!(builtin("1").unwrap().type_name(), "SPOT_MANAGED_ORGANIZATION");
    assert!(builtin("6").is_none() && builtin("pol-1").is_none());
    for p in builtin_policies() {
        assert_eq!(PolicyDocument::from_json(&p.document.to_json(), "f").unwrap(), p.document, "{}", p.name);
    }
}

#[test]
fn account_viewer_3_is_read_only() {
    let viewer = builtin("3").unwrap();
    assert_eq!((viewer.name.as_str(), viewer.policy_type), ("Account Viewer", PolicyType::Account));
    for a in action_catalog() {
        assert_eq!(on_account(viewer, a.name), is_read_verb(a.name), "{} in an account", a.name);
        assert!(!org_level(viewer, a.name), "{} at organization level", a.name);
    }
    assert!(on_account(viewer, "emr:listClusters"), "reads of any service");
    assert!(!on_account(viewer, "emr:scale"));
}

#[test]
fn account_editor_2_edits_accounts_but_not_the_organization() {
    let editor = builtin("2").unwrap();
    assert_eq!(editor.policy_type, PolicyType::Account);
    for a in action_catalog() {
        if a.scope == PolicyType::Account {
            assert!(on_account(editor, a.name), "{}", a.name);
        }
        if a.scope == PolicyType::Organization && a.category != "READ" {
            assert!(!on_account(editor, a.name), "{} is organization management", a.name);
        }
        assert!(!org_level(editor, a.name), "{} at organization level", a.name);
        if on_account(builtin("3").unwrap(), a.name) {
            assert!(on_account(editor, a.name), "the editor can do what the viewer can: {}", a.name);
        }
    }
}

#[test]
fn organization_viewer_4_member_5_and_admin_1() {
    let viewer = builtin("4").unwrap();
    assert_eq!(viewer.policy_type, PolicyType::Organization);
    assert!(org_level(viewer, "setup:describeAllAuditEvents"));
    let admin = builtin("1").unwrap();
    for a in action_catalog() {
        assert_eq!(org_level(viewer, a.name), is_read_verb(a.name), "{}", a.name);
        assert_eq!(on_account(viewer, a.name), is_read_verb(a.name), "{}", a.name);
        assert!(org_level(admin, a.name) && on_account(admin, a.name), "{}", a.name);
    }
    let member = builtin("5").unwrap();
    assert!(org_level(member, "setup:describeOrganization") && org_level(member, "setup:createUserToken"));
    assert!(!org_level(member, "setup:listUsers"));
}

#[test]
fn catalog() {
    use PolicyType::{Account as A, Organization as O};
    let cat = action_catalog();
    let mut names: Vec<_> = cat.iter().map(|a| a.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cat.len(), "names are unique");
    for a in cat {
        assert!(is_action_pattern(a.name) && a.name.starts_with(&format!("{}:", a.service)), "{}", a.name);
        assert!(["CREATE", "READ", "UPDATE", "DELETE"].contains(&a.category), "{}", a.name);
        assert_eq!(action_info(&a.name.to_uppercase()), Some(a));
    }
    let expect = [
        ("setup:createOrganization", O, "CREATE", "*"),
        ("setup:describeOrganization", O, "READ", "*"),
        ("setup:updateOrganization", O, "UPDATE", "*"),
        ("setup:deleteOrganization", O, "DELETE", "*"),
        ("setup:createAccount", O, "CREATE", "*"),
        ("setup:listAccounts", O, "READ", "*"),
        ("setup:describeAccount", A, "READ", "act-*"),
        ("setup:updateAccount", A, "UPDATE", "act-*"),
        ("setup:deleteAccount", O, "DELETE", "act-*"),
        ("setup:setAccountCredentials", A, "UPDATE", "act-*"),
        ("setup:createUser", O, "CREATE", "*"),
        ("setup:describeUser", O, "READ", "u-*"),
        ("setup:listUsers", O, "READ", "*"),
        ("setup:updateUser", O, "UPDATE", "u-*"),
        ("setup:deleteUser", O, "DELETE", "u-*"),
        ("setup:createProgrammaticUser", O, "CREATE", "*"),
        ("setup:attachAccountUser", A, "UPDATE", "act-*"),
        ("setup:updateAccountUser", A, "UPDATE", "act-*"),
        ("setup:detachAccountUser", A, "UPDATE", "act-*"),
        ("setup:describeAccountUsers", A, "READ", "act-*"),
        ("setup:createPolicy", O, "CREATE", "*"),
        ("setup:describePolicy", O, "READ", "pol-*"),
        ("setup:listPolicies", O, "READ", "*"),
        ("setup:updatePolicy", O, "UPDATE", "pol-*"),
        ("setup:deletePolicy", O, "DELETE", "pol-*"),
        ("setup:createUserGroup", O, "CREATE", "*"),
        ("setup:describeUserGroup", O, "READ", "ugr-*"),
        ("setup:listUserGroups", O, "READ", "*"),
        ("setup:updateUserGroup", O, "UPDATE", "ugr-*"),
        ("setup:deleteUserGroup", O, "DELETE", "ugr-*"),
        ("setup:createUserToken", O, "CREATE", "*"),
        ("setup:listUserTokens", O, "READ", "*"),
        ("setup:deletePersonalToken", O, "DELETE", "*"),
        ("setup:describeAllTokens", O, "READ", "*"),
        ("setup:explainAccess", O, "READ", "*"),
        ("setup:describeAllAuditEvents", O, "READ", "*"),
        ("setup:createChildOrganization", O, "CREATE", "*"),
        ("setup:listChildOrganizations", O, "READ", "*"),
        ("setup:linkOrganization", O, "UPDATE", "*"),
        ("setup:unlinkOrganization", O, "UPDATE", "*"),
        ("setup:describeScim", O, "READ", "*"),
        ("setup:manageScim", O, "UPDATE", "*"),
        ("setup:describeSsoMetaData", O, "READ", "*"),
        ("setup:createSsoMetaData", O, "CREATE", "*"),
        ("elastigroup:createGroup", A, "CREATE", "sig-*"),
        ("elastigroup:describeGroup", A, "READ", "sig-*"),
        ("elastigroup:updateGroup", A, "UPDATE", "sig-*"),
        ("elastigroup:deleteGroup", A, "DELETE", "sig-*"),
        ("ocean:createCluster", A, "CREATE", "o-*"),
        ("ocean:describeCluster", A, "READ", "o-*"),
        ("ocean:updateCluster", A, "UPDATE", "o-*"),
        ("ocean:deleteCluster", A, "DELETE", "o-*"),
    ];
    assert_eq!(expect.len(), cat.len(), "every catalog entry is pinned here");
    for (name, scope, category, resource_pattern) in expect {
        let a = action_info(name).unwrap_or_else(|| panic!("{name} is in the catalog"));
        assert_eq!((a.scope, a.category, a.resource_pattern), (scope, category, resource_pattern), "{name}");
    }
}

#[test]
fn every_route_action_is_in_the_catalog() {
    use crate::access::Action;
    // `Action` has no iterator; a new variant shows up here through `name()`'s exhaustive match
    // only if listed, so list them all.
    let all = [
        Action::CreateOrganization,
        Action::DescribeOrganization,
        Action::UpdateOrganization,
        Action::DeleteOrganization,
        Action::CreateAccount,
        Action::ListAccounts,
        Action::DescribeAccount,
        Action::UpdateAccount,
        Action::DeleteAccount,
        Action::SetAccountCredentials,
        Action::CreateUser,
        Action::CreateProgrammaticUser,
        Action::ListUsers,
        Action::DescribeUser,
        Action::UpdateUser,
        Action::DeleteUser,
        Action::AttachAccountUser,
        Action::UpdateAccountUser,
        Action::DetachAccountUser,
        Action::DescribeAccountUsers,
        Action::CreatePolicy,
        Action::ListPolicies,
        Action::DescribePolicy,
        Action::UpdatePolicy,
        Action::DeletePolicy,
        Action::CreateUserGroup,
        Action::ListUserGroups,
        Action::DescribeUserGroup,
        Action::UpdateUserGroup,
        Action::DeleteUserGroup,
        Action::DescribeAllTokens,
        Action::DeletePersonalToken,
        Action::ExplainAccess,
    ];
    for a in all {
        let info = action_info(a.name()).unwrap_or_else(|| panic!("{} is in the catalog", a.name()));
        assert_eq!(info.category == "READ", a.is_read(), "{}: catalog category vs Action::is_read", a.name());
    }
}

#[test]
fn known_action_patterns() {
    for p in ["*", "setup:*", "setup:describe*", "SETUP:DescribeAccount", "*:list*", "emr:*", "ocean:?escribeCluster"] {
        assert!(is_known_action_pattern(p), "{p}");
    }
    for p in ["setup:bogus", "emr:scale", "nocolon", "", "setup:", "a:b:c", "*:frobnicate*"] {
        assert!(!is_known_action_pattern(p), "{p}");
    }
}

#[test]
fn type_names_parse() {
    for (s, t) in [
        ("ACCOUNT", PolicyType::Account),
        ("organization", PolicyType::Organization),
        ("SPOT_MANAGED_ACCOUNT", PolicyType::Account),
        ("spot_managed_organization", PolicyType::Organization),
    ] {
        assert_eq!(PolicyType::parse(s), Some(t), "{s}");
    }
    assert_eq!(PolicyType::parse("SPOT_MANAGED_"), None);
    assert_eq!(PolicyType::parse("ORG"), None);
    assert_eq!(Effect::parse("deny"), Some(Effect::Deny));
    assert_eq!(Effect::parse("DENIED"), None);
}

// ---- properties ----

/// A naive glob over characters, the specification `glob` is checked against.
fn reference_glob(p: &[char], t: &[char], ignore_case: bool) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|k| reference_glob(rest, &t[k..], ignore_case)),
        Some(('?', rest)) => !t.is_empty() && reference_glob(rest, &t[1..], ignore_case),
        Some((c, rest)) => {
            t.first().is_some_and(|d| if ignore_case { c.eq_ignore_ascii_case(d) } else { c == d })
                && reference_glob(rest, &t[1..], ignore_case)
        }
    }
}

/// The semantics written out plainly, with no index and no early exits: whether allowed, and the
/// deciding (grant, statement, effect) — the first matching DENY, else the first matching ALLOW.
fn reference_evaluate(grants: &[Grant<'_>], r: &Request<'_>) -> (bool, Option<(usize, usize, Effect)>) {
    let chars = |s: &str| s.chars().collect::<Vec<_>>();
    let mut matching = Vec::new();
    for (g, grant) in grants.iter().enumerate() {
        let applies = match grant.policy.policy_type {
            PolicyType::Organization => true,
            PolicyType::Account => match (grant.scope, r.account_id) {
                (Scope::Accounts(ids), Some(a)) => ids.iter().any(|id| id == "*" || id == a),
                _ => false,
            },
        };
        for (i, s) in grant.policy.document.statements.iter().enumerate() {
            if applies
                && s.actions.iter().any(|p| reference_glob(&chars(p), &chars(r.action), true))
                && s.resources.iter().any(|p| reference_glob(&chars(p), &chars(r.resource), false))
                && s.conditions.iter().all(|c| condition_holds(c, r.context))
            {
                matching.push((g, i, s.effect));
            }
        }
    }
    let first = |e| matching.iter().copied().find(|m| m.2 == e);
    match (first(Effect::Deny), first(Effect::Allow)) {
        (Some(deny), _) => (false, Some(deny)),
        (None, Some(allow)) => (true, Some(allow)),
        (None, None) => (false, None),
    }
}

const ACTIONS: &[&str] = &[
    "setup:updateAccount",
    "setup:describeAccount",
    "setup:deleteAccount",
    "setup:createAccount",
    "SETUP:UpdateAccount",
    "ocean:listClusters",
    "ocean:describeCluster",
    "elastigroup:updateGroup",
    "emr:scale",
    // Odd shapes the index must not get wrong.
    "setup",
    "setup:",
    "a:b:describeX",
    ":describeX",
    "",
];

fn arb_action_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "*",
            "setup:*",
            "setup:describe*",
            "SETUP:UPDATE*",
            "setup:updateAccount",
            "setup:delete?ccount",
            "ocean:*",
            "*:list*",
            "*:describe*",
            "elastigroup:*Group",
            "*Account",
            "?etup:*",
            "emr:scale",
        ])
        .prop_map(String::from),
        "[a-zA-Z:*?]{0,8}",
    ]
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    (
        prop::sample::select(Operator::ALL.to_vec()),
        prop::sample::select(vec!["spot:userEmail", "spot:accountId", "spot:missing"]),
        prop::collection::vec(
            prop::sample::select(vec![
                "ada@example.com",
                "*@example.com",
                "${spot:userEmail}",
                "${spot:unknown}",
                "act-1",
                "act-*",
                "example",
                "",
            ]),
            1..3,
        ),
    )
        .prop_map(|(operator, key, values)| Condition { operator, key: key.into(), values: strings(&values) })
}

fn arb_statement() -> impl Strategy<Value = Statement> {
    let resource = prop::sample::select(vec!["*", "act-1", "act-*", "act-2", "u-*", "ACT-1", "act-?"]);
    (
        any::<bool>(),
        prop::collection::vec(arb_action_pattern(), 1..4),
        prop::collection::vec(resource, 1..3),
        prop::collection::vec(arb_condition(), 0..2),
    )
        .prop_map(|(deny, a, r, c)| Statement::new(if deny { Effect::Deny } else { Effect::Allow }, a, strings(&r), c))
}

fn arb_held() -> impl Strategy<Value = (Policy, Scope)> {
    (
        prop::collection::vec(arb_statement(), 1..4),
        0..4u8,
        prop::collection::vec(prop::sample::select(vec!["act-1", "act-2", "*"]), 0..3),
    )
        .prop_map(|(statements, kind, accounts)| match kind {
            0 => (policy("p", PolicyType::Organization, statements), Scope::Organization),
            1 => (policy("p", PolicyType::Organization, statements), Scope::Accounts(strings(&accounts))),
            2 => (policy("p", PolicyType::Account, statements), Scope::Organization),
            _ => (policy("p", PolicyType::Account, statements), Scope::Accounts(strings(&accounts))),
        })
}

fn arb_policies() -> impl Strategy<Value = Vec<(Policy, Scope)>> {
    prop::collection::vec(arb_held(), 0..6)
}

type Req = (&'static str, &'static str, Option<&'static str>);

fn arb_request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(ACTIONS.to_vec()),
        prop::sample::select(vec![
            ("act-1", Some("act-1")),
            ("act-2", Some("act-2")),
            ("u-1", Some("act-1")),
            ("606000000001", None),
        ]),
    )
        .prop_map(|(a, (r, acc))| (a, r, acc))
}

fn run_full(ps: &[(Policy, Scope)], (action, resource, account): Req) -> Decision {
    let grants: Vec<_> = ps.iter().map(|(p, s)| Grant { policy: p, scope: s, via: &Via::Direct }).collect();
    let mut c = ctx();
    if let Some(a) = account {
        c.insert("spot:accountId", a);
    }
    evaluate(&grants, &Request { action, resource, account_id: account, context: &c })
}

fn run(ps: &[(Policy, Scope)], req: Req) -> bool {
    run_full(ps, req).allowed
}

/// A statement of `effect` that matches `req`: its action, resource and conditions are drawn
/// from shapes that hold for it.
fn arb_matching(effect: Effect, req: Req) -> impl Strategy<Value = Statement> {
    let (action, resource, _) = req;
    let actions = vec![
        action.to_string(),
        action.to_uppercase(),
        "*".to_string(),
        format!("{}*", &action[..action.len() / 2]),
        format!("*{}", &action[action.len() / 2..]),
    ];
    let resources = vec![resource.to_string(), "*".to_string(), format!("{}*", &resource[..1])];
    let conditions = vec![
        vec![],
        vec![cond(Operator::StringEquals, "spot:userEmail", &["${spot:userEmail}"])],
        vec![cond(Operator::StringNotEquals, "spot:missing", &["x"])],
        vec![cond(Operator::StringLike, "spot:userEmail", &["nobody", "*@example.com"])],
    ];
    (prop::sample::select(actions), prop::sample::select(resources), prop::sample::select(conditions))
        .prop_map(move |(a, r, c)| Statement::new(effect, vec![a], vec![r], c))
}

/// Inserts `statement` into a new organization-wide grant at position `at` (modulo the length),
/// or, when `into_existing` and some grant applies to `req`, into that grant's statements at
/// position `at`.
fn insert(ps: &mut Vec<(Policy, Scope)>, statement: Statement, req: Req, at: usize, into_existing: bool) {
    let (action, resource, account_id) = req;
    let context = Context::new();
    let r = Request { action, resource, account_id, context: &context };
    let applicable = ps.iter().position(|(p, s)| applies(&Grant { policy: p, scope: s, via: &Via::Direct }, &r));
    match applicable.filter(|_| into_existing) {
        Some(i) => {
            let statements = &mut ps[i].0.document.statements;
            statements.insert(at % (statements.len() + 1), statement);
        }
        None => {
            let p = policy("added", PolicyType::Organization, vec![statement]);
            ps.insert(at % (ps.len() + 1), (p, Scope::Organization));
        }
    }
}

/// Statements `from_json` can produce: valid action patterns, non-blank trimmed resources,
/// conditions with distinct (operator, key) and arbitrary values.
fn arb_round_trip_statement() -> impl Strategy<Value = Statement> {
    let resource = "[a-zA-Z0-9*?:/ é-]{0,10}".prop_map(|s| format!("r{}x", s.trim()));
    let conditions = prop::collection::btree_map(
        (prop::sample::select(Operator::ALL.to_vec()), "[a-z:/]{1,12}"),
        prop::collection::vec(".{0,12}", 1..3),
        0..4,
    )
    .prop_map(|m| m.into_iter().map(|((operator, key), values)| Condition { operator, key, values }).collect());
    (
        any::<bool>(),
        prop::collection::vec(
            arb_action_pattern().prop_filter("a valid action pattern", |a| is_action_pattern(a)),
            1..4,
        ),
        prop::collection::vec(resource, 1..4),
        conditions,
    )
        .prop_map(|(deny, a, r, c)| Statement::new(if deny { Effect::Deny } else { Effect::Allow }, a, r, c))
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec!["ALLOW", "deny", "*", "a:b", "StringEquals", "", "x"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "effect",
                    "actions",
                    "resources",
                    "conditions",
                    "statements",
                    "StringLike",
                    "spot:userEmail",
                ])
                .prop_map(String::from),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn glob_agrees_with_the_reference(p in "[aAbé:*?]{0,7}", t in "[aAbBé:]{0,8}", ignore_case in any::<bool>()) {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        prop_assert_eq!(glob(&p, &t, ignore_case), reference_glob(&chars(&p), &chars(&t), ignore_case));
    }

    /// The statement index admits every text its patterns match, long prefixes included.
    #[test]
    fn index_admits_every_match(
        patterns in prop::collection::vec("[aAbé:*?-]{0,80}", 1..4),
        which in any::<prop::sample::Index>(),
        fill in "[a-z]{0,3}",
        upper in any::<bool>(),
    ) {
        let p = which.get(&patterns);
        let text = p.replace('*', &fill).replace('?', "é");
        prop_assert!(glob(p, &text, false));
        let s = Statement::new(Effect::Allow, patterns.clone(), patterns.clone(), vec![]);
        prop_assert!(s.index.admits(&RequestKey::new(&text, &text)));
        let shouted = if upper { text.to_ascii_uppercase() } else { text.clone() };
        prop_assert!(s.index.actions.admits(&PrefixKey::of(&shouted, true)), "actions fold case");
    }

    #[test]
    fn evaluate_agrees_with_the_reference(ps in arb_policies(), req in arb_request()) {
        let mut ps = ps;
        for (i, (p, _)) in ps.iter_mut().enumerate() {
            p.id = format!("p{i}");
        }
        let grants: Vec<_> = ps.iter().map(|(p, s)| Grant { policy: p, scope: s, via: &Via::Direct }).collect();
        let mut c = ctx();
        if let Some(a) = req.2 {
            c.insert("spot:accountId", a);
        }
        let r = Request { action: req.0, resource: req.1, account_id: req.2, context: &c };
        let d = evaluate(&grants, &r);
        let (allowed, by) = reference_evaluate(&grants, &r);
        prop_assert_eq!(d.allowed, allowed);
        prop_assert_eq!(
            d.decided_by.map(|by| (by.policy_id, by.statement_index, by.effect)),
            by.map(|(g, i, e)| (format!("p{g}"), i, e))
        );
    }

    /// (1) Adding a matching DENY statement to any grant set denies.
    #[test]
    fn deny_dominates(
        (ps, req, deny) in (arb_policies(), arb_request())
            .prop_flat_map(|(ps, req)| (Just(ps), Just(req), arb_matching(Effect::Deny, req))),
        at in any::<usize>(),
        into_existing in any::<bool>(),
    ) {
        let mut ps = ps;
        insert(&mut ps, deny, req, at, into_existing);
        let d = run_full(&ps, req);
        prop_assert!(!d.allowed);
        prop_assert_eq!(d.decided_by.map(|by| by.effect), Some(Effect::Deny));
    }

    /// (2) Adding an ALLOW statement or grant never turns allowed into denied.
    #[test]
    fn adding_an_allow_never_removes_access(
        ps in arb_policies(),
        extra in arb_statement(),
        req in arb_request(),
        at in any::<usize>(),
        into_existing in any::<bool>(),
    ) {
        let before = run(&ps, req);
        let allow = Statement::new(Effect::Allow, extra.actions, extra.resources, extra.conditions);
        let mut more = ps.clone();
        insert(&mut more, allow, req, at, into_existing);
        prop_assert!(!before || run(&more, req));
    }

    /// A matching ALLOW allows unless a DENY matches.
    #[test]
    fn a_matching_allow_grants_unless_denied(
        (ps, req, allow) in (arb_policies(), arb_request())
            .prop_flat_map(|(ps, req)| (Just(ps), Just(req), arb_matching(Effect::Allow, req))),
        at in any::<usize>(),
    ) {
        let denied = run_full(&ps, req).decided_by.is_some_and(|by| by.effect == Effect::Deny);
        let mut more = ps.clone();
        insert(&mut more, allow, req, at, false);
        prop_assert_eq!(run(&more, req), !denied);
    }

    /// (3) Permuting grants and statements never changes the answer (nor the deciding effect).
    #[test]
    fn order_does_not_matter(ps in arb_policies(), req in arb_request(), seed in any::<u64>()) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut shuffled = ps.clone();
        shuffled.shuffle(&mut rng);
        for (p, _) in &mut shuffled {
            p.document.statements.shuffle(&mut rng);
        }
        let (a, b) = (run_full(&ps, req), run_full(&shuffled, req));
        prop_assert_eq!(a.allowed, b.allowed);
        prop_assert_eq!(a.decided_by.map(|d| d.effect), b.decided_by.map(|d| d.effect));
    }

    /// (4) from_json(to_json(doc)) == doc, also through text.
    #[test]
    fn documents_round_trip(statements in prop::collection::vec(arb_round_trip_statement(), 1..5)) {
        let doc = PolicyDocument { statements };
        prop_assert_eq!(&PolicyDocument::from_json(&doc.to_json(), "f").unwrap(), &doc);
        let text = serde_json::to_string(&doc.to_json()).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(PolicyDocument::from_json(&back, "f").unwrap(), doc);
    }

    #[test]
    fn from_json_never_panics(v in arb_json()) {
        let _ = PolicyDocument::from_json(&json!({"statements": [v.clone()]}), "f");
        let _ = PolicyDocument::from_json(&json!({ "statements": v.clone() }), "f");
        let _ = PolicyDocument::from_json(&v, "f");
    }
}
