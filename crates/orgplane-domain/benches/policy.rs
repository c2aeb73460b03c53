//! One policy decision for a user holding 5 groups × 10 policies × 10 statements (the fixture in
//! `common/mod.rs`). Target: ≤ 2 µs per decision. Instruction counts of the same decisions:
//! `policy_callgrind` (bench/callgrind.sh).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use orgplane_domain::policy::{Effect, Grant, evaluate};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let held = common::policies();
    assert_eq!(held.iter().map(|(p, ..)| p.document.statements.len()).sum::<usize>(), 500);
    let grants: Vec<Grant<'_>> = held.iter().map(|(p, s, v)| Grant { policy: p, scope: s, via: v }).collect();
    let context = common::context();
    let request = common::allowed(&context);
    let d = evaluate(&grants, &request);
    assert!(d.allowed, "the benchmark request is allowed");
    assert_eq!(d.decided_by.map(|by| (by.policy_id, by.statement_index)), Some(("pol-00000031".into(), 9)));
    c.bench_function("evaluate 50 grants x 10 statements (allowed by the last)", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&request)))
    });

    let denied = common::denied(&context);
    assert_eq!(evaluate(&grants, &denied).decided_by.map(|by| by.effect), Some(Effect::Deny));
    c.bench_function("evaluate, explicit DENY", |b| b.iter(|| evaluate(black_box(&grants), black_box(&denied))));

    let nothing = common::unmatched(&context);
    assert_eq!(evaluate(&grants, &nothing).decided_by, None);
    c.bench_function("evaluate, implicit deny (org-level, full scan)", |b| {
        b.iter(|| evaluate(black_box(&grants), black_box(&nothing)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
