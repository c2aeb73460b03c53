//! Instruction counts (callgrind, through gungraun) of the decisions the criterion bench `policy`
//! times, on the same fixture (`common/mod.rs`): counts do not move with the machine's load, so a
//! regression shows on a noisy machine. Run with bench/callgrind.sh (it installs the runner).

mod common;

use gungraun::{library_benchmark, library_benchmark_group, main};
use orgplane_domain::policy::{Context, Decision, Grant, Request, evaluate};
use std::hint::black_box;

/// The grants and one request, leaked so that the measured function frees nothing.
struct Case {
    grants: Vec<Grant<'static>>,
    request: Request<'static>,
}

fn case(which: &str) -> &'static Case {
    let held = Box::leak(Box::new(common::policies()));
    let grants = held.iter().map(|(policy, scope, via)| Grant { policy, scope, via }).collect();
    let context: &'static Context<'static> = Box::leak(Box::new(common::context()));
    let request = match which {
        "allowed" => common::allowed(context),
        "denied" => common::denied(context),
        _ => common::unmatched(context),
    };
    let case = Box::leak(Box::new(Case { grants, request }));
    // The fixture decides as the criterion bench asserts; a changed fixture fails here.
    let decision = evaluate(&case.grants, &case.request);
    assert_eq!(decision.allowed, which == "allowed", "{which}");
    case
}

#[library_benchmark]
#[bench::allowed_by_the_last_statement(args = ("allowed"), setup = case)]
#[bench::explicit_deny(args = ("denied"), setup = case)]
#[bench::implicit_deny_full_scan(args = ("unmatched"), setup = case)]
fn evaluate_50_grants_500_statements(case: &'static Case) -> Decision {
    black_box(evaluate(black_box(&case.grants), black_box(&case.request)))
}

library_benchmark_group!(name = policy; benchmarks = evaluate_50_grants_500_statements);
main!(library_benchmark_groups = policy);
