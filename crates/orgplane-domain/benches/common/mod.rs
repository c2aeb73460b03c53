#![allow(dead_code)] // each bench uses a part of the fixture

//! The policy benchmarks' fixture (criterion's `policy` and callgrind's `policy_callgrind`): a
//! user holding 5 groups × 10 policies × 10 statements — 50 grants, 500 statements of realistic
//! shapes, many naming `setup:` actions so the first-character filter alone cannot skip them,
//! some with conditions, half the policies account-type. The allowing statement is the last one
//! of the last policy; one DENY whose action matches (but whose resource does not) sits in the
//! middle.

use orgplane_domain::policy::{
    Condition, Context, Effect, Operator, Policy, PolicyDocument, PolicyType, Request, Scope, Statement, Via,
};

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

pub fn policies() -> Vec<(Policy, Scope, Via)> {
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

/// The context of the benchmark's requests: Ada at example.com in account act-12345678.
pub fn context() -> Context<'static> {
    let mut context = Context::new();
    context.insert("spot:userEmail", "ada@example.com");
    context.insert("spot:organizationId", "606000000001");
    context.insert("spot:accountId", "act-12345678");
    context
}

/// Allowed by the last statement of the last policy.
pub fn allowed<'a>(context: &'a Context<'a>) -> Request<'a> {
    Request { action: "setup:updateAccount", resource: "act-12345678", account_id: Some("act-12345678"), context }
}

/// Denied by the DENY statement in the middle.
pub fn denied<'a>(context: &'a Context<'a>) -> Request<'a> {
    Request { resource: "act-99999999", account_id: Some("act-99999999"), ..allowed(context) }
}

/// Matched by nothing: an organization-level action, every statement scanned.
pub fn unmatched<'a>(context: &'a Context<'a>) -> Request<'a> {
    Request { action: "setup:deleteOrganization", resource: "606000000001", account_id: None, context }
}
