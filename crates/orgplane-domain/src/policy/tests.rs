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

fn st(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    Statement::new(
        effect,
        actions.iter().map(|s| s.to_string()).collect(),
        resources.iter().map(|s| s.to_string()).collect(),
        vec![],
    )
}

fn ctx() -> Context<'static> {
    let mut c = Context::new();
    c.insert("spot:userEmail", "ada@example.com");
    c
}

fn decide(grants: &[Grant<'_>], action: &str, resource: &str, account: Option<&str>) -> Decision {
    let c = ctx();
    evaluate(grants, &Request { action, resource, account_id: account, context: &c })
}

#[test]
fn initials_never_skip_a_matching_statement() {
    for (pattern, action) in [
        ("Setup:*", "setup:x"),
        ("*:describe*", "ocean:describeX"),
        ("?etup:*", "setup:x"),
        ("9x:*", "9x:y"),
        ("_a:b", "_a:b"),
    ] {
        let s = st(Effect::Allow, &[pattern], &["*"]);
        assert!(s.initials & initial_bit(action.as_bytes()[0]) != 0, "{pattern} vs {action}");
    }
}

#[test]
fn globs() {
    assert!(glob("*", "anything", false));
    assert!(glob("setup:describe*", "setup:describeAccount", true));
    assert!(glob("SETUP:DESCRIBE*", "setup:describeAccount", true));
    assert!(!glob("SETUP:*", "setup:x", false));
    assert!(glob("*:describe*", "ocean:describeCluster", true));
    assert!(glob("sig-214*", "sig-21400000", false));
    assert!(!glob("sig-214*", "sig-21500000", false));
    assert!(glob("a?c", "abc", false));
    assert!(!glob("a?c", "ac", false));
    assert!(glob("*-*-x", "a-b-c-x", false));
    assert!(!glob("exact", "exactly", false));
    assert!(glob("", "", false));
}

#[test]
fn default_deny_and_allow() {
    let p = policy("pol-1", PolicyType::Organization, vec![st(Effect::Allow, &["setup:describe*"], &["*"])]);
    let grants = [Grant { policy: &p, scope: &Scope::Organization, via: &Via::Direct }];
    let d = decide(&grants, "setup:describeAccount", "act-1", Some("act-1"));
    assert!(d.allowed);
    assert_eq!(d.decided_by.unwrap().policy_id, "pol-1");
    let d = decide(&grants, "setup:deleteAccount", "act-1", Some("act-1"));
    assert!(!d.allowed);
    assert!(d.decided_by.is_none());
    assert!(!decide(&[], "setup:describeAccount", "x", None).allowed);
}

#[test]
fn explicit_deny_wins_and_is_reported() {
    let allow = policy("pol-a", PolicyType::Organization, vec![st(Effect::Allow, &["*"], &["*"])]);
    let deny = policy(
        "pol-d",
        PolicyType::Organization,
        vec![st(Effect::Allow, &["x:y"], &["*"]), st(Effect::Deny, &["setup:delete*"], &["act-9*"])],
    );
    let grants = [
        Grant { policy: &allow, scope: &Scope::Organization, via: &Via::Role },
        Grant { policy: &deny, scope: &Scope::Organization, via: &Via::Group("ugr-1".into()) },
    ];
    let d = decide(&grants, "setup:deleteAccount", "act-99", Some("act-99"));
    assert!(!d.allowed);
    let by = d.decided_by.unwrap();
    assert_eq!(
        (by.policy_id.as_str(), by.statement_index, by.effect, by.via),
        ("pol-d", 1, Effect::Deny, Via::Group("ugr-1".into()))
    );
    assert!(decide(&grants, "setup:deleteAccount", "act-11", Some("act-11")).allowed);
}

#[test]
fn account_policies_apply_only_to_their_accounts() {
    let p = policy("pol-1", PolicyType::Account, vec![st(Effect::Allow, &["*"], &["*"])]);
    let some = [Grant { policy: &p, scope: &Scope::Accounts(vec!["act-1".into()]), via: &Via::Direct }];
    assert!(decide(&some, "setup:updateAccount", "act-1", Some("act-1")).allowed);
    assert!(!decide(&some, "setup:updateAccount", "act-2", Some("act-2")).allowed);
    assert!(!decide(&some, "setup:createAccount", "606000000001", None).allowed, "never org-level");
    let all = [Grant { policy: &p, scope: &Scope::Accounts(vec!["*".into()]), via: &Via::Direct }];
    assert!(decide(&all, "setup:updateAccount", "act-new", Some("act-new")).allowed);
    let wrong = [Grant { policy: &p, scope: &Scope::Organization, via: &Via::Direct }];
    assert!(!decide(&wrong, "setup:updateAccount", "act-1", Some("act-1")).allowed);
}

#[test]
fn conditions_and_variables() {
    let mut s = st(Effect::Allow, &["*"], &["*"]);
    s.conditions = vec![Condition {
        operator: Operator::StringEquals,
        key: "spot:userEmail".into(),
        values: vec!["x@y.z".into(), "${spot:userEmail}".into()],
    }];
    let p = policy("pol-c", PolicyType::Organization, vec![s.clone()]);
    let g = [Grant { policy: &p, scope: &Scope::Organization, via: &Via::Direct }];
    assert!(decide(&g, "a:b", "r", None).allowed, "variable substituted, values OR-ed");

    let check = |operator, key: &str, values: &[&str]| {
        let mut s = st(Effect::Allow, &["*"], &["*"]);
        s.conditions =
            vec![Condition { operator, key: key.into(), values: values.iter().map(|v| v.to_string()).collect() }];
        let p = policy("p", PolicyType::Organization, vec![s]);
        decide(&[Grant { policy: &p, scope: &Scope::Organization, via: &Via::Direct }], "a:b", "r", None).allowed
    };
    assert!(check(Operator::StringEqualsIgnoreCase, "spot:userEmail", &["ADA@EXAMPLE.COM"]));
    assert!(!check(Operator::StringEquals, "spot:userEmail", &["ADA@EXAMPLE.COM"]));
    assert!(check(Operator::StringLike, "spot:userEmail", &["*@example.com"]));
    assert!(!check(Operator::StringLike, "spot:userEmail", &["*@example.org"]));
    assert!(check(Operator::StringNotEquals, "spot:userEmail", &["bob@example.com"]));
    assert!(!check(Operator::StringNotEquals, "spot:userEmail", &["ada@example.com"]));
    assert!(!check(Operator::StringEquals, "spot:missing", &["x"]), "absent key fails positive operators");
    assert!(check(Operator::StringNotEquals, "spot:missing", &["x"]), "absent key satisfies StringNotEquals");
    assert!(!check(Operator::StringEquals, "spot:userEmail", &["${spot:unknown}"]), "unknown variable matches nothing");

    // Two entries are AND-ed.
    let mut s = st(Effect::Allow, &["*"], &["*"]);
    s.conditions = vec![
        Condition {
            operator: Operator::StringLike,
            key: "spot:userEmail".into(),
            values: vec!["*@example.com".into()],
        },
        Condition {
            operator: Operator::StringEquals,
            key: "spot:userEmail".into(),
            values: vec!["other@example.com".into()],
        },
    ];
    let p = policy("p", PolicyType::Organization, vec![s]);
    assert!(!decide(&[Grant { policy: &p, scope: &Scope::Organization, via: &Via::Direct }], "a:b", "r", None).allowed);
}

#[test]
fn documents_validate_with_exact_fields() {
    let err = |v: Value| match PolicyDocument::from_json(&v, "body.policy.policyContent") {
        Err(Error::Invalid { field, .. }) => field.unwrap(),
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(err(json!({})), "body.policy.policyContent.statements");
    assert_eq!(err(json!("x")), "body.policy.policyContent");
    assert_eq!(err(json!({"statements": []})), "body.policy.policyContent.statements");
    assert_eq!(
        err(json!({"statements": [{"effect": "PERMIT", "actions": ["a:b"], "resources": ["*"]}]})),
        "body.policy.policyContent.statements[0].effect"
    );
    assert_eq!(
        err(json!({"statements": [{"effect": "ALLOW", "actions": "a:b", "resources": ["*"]}]})),
        "body.policy.policyContent.statements[0].actions"
    );
    assert_eq!(
        err(json!({"statements": [{"effect": "ALLOW", "actions": ["a:b", ""], "resources": ["*"]}]})),
        "body.policy.policyContent.statements[0].actions[1]"
    );
    assert_eq!(
        err(json!({"statements": [{"effect": "ALLOW", "actions": ["nocolon"], "resources": ["*"]}]})),
        "body.policy.policyContent.statements[0].actions[0]"
    );
    assert_eq!(
        err(json!({"statements": [{"effect": "ALLOW", "actions": ["a:b"]}]})),
        "body.policy.policyContent.statements[0].resources"
    );
    assert_eq!(
        err(
            json!({"statements": [{"effect": "ALLOW", "actions": ["a:b"], "resources": ["*"], "conditions": {"Bogus": {"k": "v"}}}]})
        ),
        "body.policy.policyContent.statements[0].conditions.Bogus"
    );
    assert_eq!(
        err(
            json!({"statements": [{"effect": "ALLOW", "actions": ["a:b"], "resources": ["*"], "conditions": {"StringEquals": {"k": 5}}}]})
        ),
        "body.policy.policyContent.statements[0].conditions.StringEquals.k"
    );
    let ok = PolicyDocument::from_json(
        &json!({"statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"], "extra": 1}]}),
        "f",
    )
    .unwrap();
    assert_eq!(ok.statements[0].effect, Effect::Allow);
}

#[test]
fn builtins_and_catalog() {
    let viewer = builtin("3").unwrap();
    assert_eq!(viewer.name, "Account Viewer");
    assert_eq!(viewer.policy_type, PolicyType::Account);
    let g = [Grant { policy: viewer, scope: &Scope::Accounts(vec!["act-1".into()]), via: &Via::Role }];
    assert!(decide(&g, "setup:describeAccount", "act-1", Some("act-1")).allowed);
    assert!(!decide(&g, "setup:updateAccount", "act-1", Some("act-1")).allowed);
    let editor = builtin("2").unwrap();
    let g = [Grant { policy: editor, scope: &Scope::Accounts(vec!["act-1".into()]), via: &Via::Role }];
    assert!(decide(&g, "setup:updateAccount", "act-1", Some("act-1")).allowed);
    assert!(!decide(&g, "setup:deleteOrganization", "606000000001", None).allowed);
    let admin = builtin("1").unwrap();
    let g = [Grant { policy: admin, scope: &Scope::Organization, via: &Via::Role }];
    assert!(decide(&g, "setup:deleteOrganization", "606000000001", None).allowed);
    assert!(
        action_catalog()
            .iter()
            .any(|a| a.name == "setup:createAccount" && a.category == "CREATE" && a.scope == PolicyType::Organization)
    );
    assert!(action_catalog().iter().any(|a| a.name == "setup:describeAccount" && a.category == "READ"));
    for p in builtin_policies() {
        assert_eq!(PolicyDocument::from_json(&p.document.to_json(), "f").unwrap(), p.document);
    }
}

// ---- properties ----

fn arb_statement() -> impl Strategy<Value = Statement> {
    let action = prop::sample::select(vec![
        "*",
        "setup:*",
        "setup:describe*",
        "setup:updateAccount",
        "ocean:*",
        "*:list*",
        "setup:delete?ccount",
    ]);
    let resource = prop::sample::select(vec!["*", "act-1", "act-*", "act-2", "u-*"]);
    (any::<bool>(), prop::collection::vec(action, 1..3), prop::collection::vec(resource, 1..3)).prop_map(
        |(deny, a, r)| {
            Statement::new(
                if deny { Effect::Deny } else { Effect::Allow },
                a.into_iter().map(String::from).collect(),
                r.into_iter().map(String::from).collect(),
                vec![],
            )
        },
    )
}

fn arb_policies() -> impl Strategy<Value = Vec<(Policy, Scope)>> {
    let one = (
        prop::collection::vec(arb_statement(), 1..4),
        any::<bool>(),
        prop::sample::select(vec!["act-1", "act-2", "*"]),
    )
        .prop_map(|(statements, org, account)| {
            let kind = if org { PolicyType::Organization } else { PolicyType::Account };
            let scope = if org { Scope::Organization } else { Scope::Accounts(vec![account.to_string()]) };
            (policy("p", kind, statements), scope)
        });
    prop::collection::vec(one, 0..5)
}

fn arb_request() -> impl Strategy<Value = (&'static str, &'static str, Option<&'static str>)> {
    (
        prop::sample::select(vec![
            "setup:updateAccount",
            "setup:describeAccount",
            "setup:deleteAccount",
            "ocean:listClusters",
            "setup:createAccount",
        ]),
        prop::sample::select(vec![("act-1", Some("act-1")), ("act-2", Some("act-2")), ("606000000001", None)]),
    )
        .prop_map(|(a, (r, acc))| (a, r, acc))
}

fn run(ps: &[(Policy, Scope)], (a, r, acc): (&str, &str, Option<&str>)) -> bool {
    let grants: Vec<_> = ps.iter().map(|(p, s)| Grant { policy: p, scope: s, via: &Via::Direct }).collect();
    decide(&grants, a, r, acc).allowed
}

proptest! {
    #[test]
    fn deny_dominates(ps in arb_policies(), req in arb_request()) {
        let mut ps = ps;
        ps.push((policy("deny", PolicyType::Organization, vec![st(Effect::Deny, &["*"], &["*"])]), Scope::Organization));
        prop_assert!(!run(&ps, req));
    }

    #[test]
    fn adding_an_allow_never_removes_access(ps in arb_policies(), extra in arb_statement(), req in arb_request()) {
        let before = run(&ps, req);
        let mut more = ps.clone();
        let allow = Statement::new(Effect::Allow, extra.actions, extra.resources, extra.conditions);
        more.push((policy("more", PolicyType::Organization, vec![allow]), Scope::Organization));
        prop_assert!(!before || run(&more, req));
    }

    #[test]
    fn order_does_not_matter(ps in arb_policies(), req in arb_request(), seed in any::<u64>()) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut shuffled = ps.clone();
        shuffled.shuffle(&mut rng);
        for (p, _) in &mut shuffled {
            p.document.statements.shuffle(&mut rng);
        }
        prop_assert_eq!(run(&ps, req), run(&shuffled, req));
    }

    #[test]
    fn documents_round_trip(statements in prop::collection::vec(arb_statement(), 1..5)) {
        let doc = PolicyDocument { statements };
        prop_assert_eq!(PolicyDocument::from_json(&doc.to_json(), "f").unwrap(), doc);
    }
}
