//! One policy decision for a user holding 5 groups × 10 policies × 10 statements: 50 grants,
//! 500 statements of realistic shapes — many naming `setup:` actions, so the first-character
//! filter alone cannot skip them, some with conditions — half the policies account-type. The
//! allowing statement is the last one of the last policy, and one DENY whose action matches (but
//! whose resource does not) sits in the middle. Target: ≤ 2 µs per decision.

use criterion::{Criterion, criterion_group, criterion_main};
use orgplane_domain::policy::{
    Condition, Context, Effect, Grant, Operator, Policy, PolicyDocument, PolicyType, Request, Scope, Statement, Via,
    evaluate,
};
use std::hint::black_box;

fn statement(effect: Effect, actions: &[&str], resources: &[&str], conditions: Vec<Condition>) -> Statement {
    let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
    Statement::new(effect, strings(actions), strings(resources), conditions)
}

fn email_is(pattern: &str) -> Vec<Condition> {
    vec![Condition { operator: Operator::StringLike, key: "spot:userEmail".into(), values: vec![pattern.into()] }]
}

/// Statement `s` of policy `n`: the five shapes Spot policies are mostly made of.
fn typical(n: usize, s: usize) -> Statement {
    let own = |prefix: &str| format!("{prefix}-{:08x}", n * 10 + s);
    match s % 5 {
        0 => statement(
            Effect::Allow,
            &["elastigroup:describe*", "elastigroup:updateGroup", "elastigroup:scaleUp"],
            &[&own("sig"), "sig-214*"],
            vec![],
        ),
        1 => statement(Effect::Allow, &["ocean:*", "emr:list*"], &["o-*"], email_is("*@example.com")),
        2 => statement(Effect::Allow, &["setup:describe*", "setup:list*", "setup:get*"], &["*"], vec![]),
        3 => statement(
            Effect::Allow,
            &["setup:updateUser", "setup:attachAccountUser", "setup:createUserGroup"],
            &[&own("u"), &own("ugr")],
            vec![],
        ),
        // The request's action, on someone else's account: action matches, resource does not.
        _ => statement(Effect::Allow, &["setup:updateAccount", "emr:*"], &[&own("act")], email_is("ada@*")),
    }
}

fn policies() -> Vec<(Policy, Scope, Via)> {
    let mut out = Vec::new();
    for g in 0..5 {
        for p in 0..10 {
            let n = g * 10 + p;
            let mut statements: Vec<Statement> = (0..10).map(|s| typical(n, s)).collect();
            if g == 2 && p == 3 {
                statements[7] =
                    statement(Effect::Deny, &["setup:delete*", "setup:updateAccount"], &["act-99999999"], vec![]);
            }
            if g == 4 && p == 9 {
                statements[9] = statement(Effect::Allow, &["setup:update*"], &["act-*"], email_is("*@example.com"));
            }
            let kind = if p % 2 == 0 { PolicyType::Account } else { PolicyType::Organization };
            let policy = Policy {
                id: format!("pol-{n:08x}"),
                name: format!("policy {g}/{p}"),
                description: String::new(),
                policy_type: kind,
                builtin: false,
                document: PolicyDocument { statements },
            };
            let scope = match (kind, p % 4) {
                (PolicyType::Organization, _) => Scope::Organization,
                (_, 0) => Scope::Accounts(vec!["act-11111111".into(), "act-12345678".into()]),
                _ => Scope::Accounts(vec!["act-11111111".into(), "act-22222222".into(), "*".into()]),
            };
            out.push((policy, scope, Via::Group(format!("ugr-{g:08x}"))));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let held = policies();
    assert_eq!(held.iter().map(|(p, ..)| p.document.statements.len()).sum::<usize>(), 500);
    let grants: Vec<Grant<'_>> = held.iter().map(|(p, s, v)| Grant { policy: p, scope: s, via: v }).collect();
    let mut context = Context::new();
    context.insert("spot:userEmail", "ada@example.com");
    context.insert("spot:organizationId", "606000000001");
    context.insert("spot:accountId", "act-12345678");
    let request = Request {
        action: "setup:updateAccount",
        resource: "act-12345678",
        account_id: Some("act-12345678"),
        context: &context,
    };
    let d = evaluate(&grants, &request);
    assert!(d.allowed, "the benchmark request is allowed");
    assert_eq!(d.decided_by.map(|by| (by.policy_id, by.statement_index)), Some(("pol-00000031".into(), 9)));
    c.bench_function("evaluate 50 grants x 10 statements (allowed by the last)", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&request)))
    });

    let denied = Request { resource: "act-99999999", account_id: Some("act-99999999"), ..request };
    assert_eq!(evaluate(&grants, &denied).decided_by.map(|by| by.effect), Some(Effect::Deny));
    c.bench_function("evaluate, explicit DENY", |b| b.iter(|| evaluate(black_box(&grants), black_box(&denied))));

    let nothing =
        Request { action: "setup:deleteOrganization", resource: "606000000001", account_id: None, context: &context };
    assert_eq!(evaluate(&grants, &nothing).decided_by, None);
    c.bench_function("evaluate, implicit deny (org-level, full scan)", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&nothing)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
