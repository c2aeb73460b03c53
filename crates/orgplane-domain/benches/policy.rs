//! One policy decision for a user holding 5 groups × 10 policies × 10 statements (issue #3's
//! shape): 50 grants, 500 statements, realistic patterns, the allowing statement near the end and
//! a DENY that does not match this request. Target: ≤ 2 µs per decision.

use criterion::{Criterion, criterion_group, criterion_main};
use orgplane_domain::policy::{
    Context, Effect, Grant, Policy, PolicyDocument, PolicyType, Request, Scope, Statement, Via, evaluate,
};
use std::hint::black_box;

fn statement(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    Statement::new(
        effect,
        actions.iter().map(|s| s.to_string()).collect(),
        resources.iter().map(|s| s.to_string()).collect(),
        vec![],
    )
}

fn policies() -> Vec<(Policy, Scope, Via)> {
    let mut out = Vec::new();
    for g in 0..5 {
        for p in 0..10 {
            let mut statements = Vec::new();
            for s in 0..10 {
                let n = g * 100 + p * 10 + s;
                statements.push(statement(
                    Effect::Allow,
                    &[&format!("elastigroup:describeGroup{n}"), &format!("ocean:update{n}*"), "emr:list*"],
                    &[&format!("sig-{n:08x}"), "o-*"],
                ));
            }
            if g == 2 && p == 3 {
                statements[4] = statement(Effect::Deny, &["setup:delete*"], &["act-99999999"]);
            }
            if g == 4 && p == 9 {
                statements[9] = statement(Effect::Allow, &["setup:update*"], &["act-*"]);
            }
            let kind = if p % 2 == 0 { PolicyType::Account } else { PolicyType::Organization };
            let policy = Policy {
                id: format!("pol-{g}{p:07}"),
                name: format!("policy {g}/{p}"),
                description: String::new(),
                policy_type: kind,
                builtin: false,
                document: PolicyDocument { statements },
            };
            let scope = if kind == PolicyType::Account {
                Scope::Accounts(vec!["act-11111111".into(), "*".into()])
            } else {
                Scope::Organization
            };
            out.push((policy, scope, Via::Group(format!("ugr-0000000{g}"))));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let held = policies();
    let grants: Vec<Grant<'_>> = held.iter().map(|(p, s, v)| Grant { policy: p, scope: s, via: v }).collect();
    let mut context = Context::new();
    context.insert("spot:userEmail", "ada@example.com");
    context.insert("spot:organizationId", "606000000001");
    let request = Request {
        action: "setup:updateAccount",
        resource: "act-12345678",
        account_id: Some("act-12345678"),
        context: &context,
    };
    assert!(evaluate(&grants, &request).allowed, "the benchmark request is allowed by the last policy");
    c.bench_function("evaluate 50 grants x 10 statements", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&request)))
    });
    let denied =
        Request { action: "setup:deleteOrganization", resource: "606000000001", account_id: None, context: &context };
    c.bench_function("evaluate, implicit deny (full scan)", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&denied)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
