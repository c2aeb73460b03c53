//! Instruction counts (callgrind, through gungraun) of the envelope encoder: a handler's items
//! turned into Spot's `{request, response}` JSON body — one account, a page of 100 accounts, a
//! page of 1,000 users — and an error envelope. Counts do not move with the machine's load, so a
//! regression shows on a noisy machine. Run with bench/callgrind.sh (it installs the runner).

use axum::response::{IntoResponse, Response};
use gungraun::{library_benchmark, library_benchmark_group, main};
use orgplane_domain::Error;
use orgplane_domain::access::OrgRole;
use orgplane_domain::ids::{AccountId, OrgId, UserId};
use orgplane_domain::model::Account;
use orgplane_server::api::setup::account::AccountItem;
use orgplane_server::api::setup::organization::OrgUserItem;
use orgplane_server::envelope::{Reply, RequestContext, answering};
use orgplane_server::error::ApiError;
use orgplane_store::OrgUser;
use std::hint::black_box;

fn request() -> RequestContext {
    RequestContext {
        id: "e593ff58-067d-4340-92f9-8b1c0bad70d7".into(),
        url: "/setup/account?limit=100".into(),
        method: "GET".into(),
        timestamp: "2026-12-01T11:35:01.745Z".into(),
        rate: Default::default(),
    }
}

fn accounts(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| Account {
            id: AccountId::from_stored(format!("act-{i:08x}")),
            organization_id: OrgId::from_i64(606_000_000_001),
            name: format!("Production {i}"),
            is_default: i == 0,
            cloud_provider: (i % 3 == 0).then(|| "AWS".to_string()),
            provider_external_id: (i % 3 == 0).then(|| format!("{:012}", 123_456_789_000u64 + i as u64)),
            slack_channels: vec![],
            created_at: 1_764_000_000_000 + i as i64,
        })
        .collect()
}

fn users(n: usize) -> Vec<OrgUser> {
    (0..n)
        .map(|i| OrgUser {
            user_id: UserId::from_stored(format!("u-{i:08x}")),
            programmatic: false,
            first_name: "Person".into(),
            last_name: i.to_string(),
            email: Some(format!("person{i}@example.com")),
            description: None,
            role: OrgRole::Member,
            created_at: 1_764_000_000_000 + i as i64,
            group_names: if i % 4 == 0 { vec!["Engineers".into()] } else { vec![] },
            mfa: i % 2 == 0,
        })
        .collect()
}

fn encode<T: serde::Serialize>(kind: &'static str, items: Vec<T>) -> Response {
    answering(request(), || Reply::items(kind, items).into_response())
}

#[library_benchmark]
#[bench::one_account(args = (1), setup = accounts)]
#[bench::page_of_100_accounts(args = (100), setup = accounts)]
fn account_items(accounts: Vec<Account>) -> Response {
    let items = black_box(&accounts).iter().map(AccountItem::from).collect();
    black_box(encode("spotinst:setup:account", items))
}

#[library_benchmark]
#[bench::page_of_1000_users(args = (1000), setup = users)]
fn user_items(users: Vec<OrgUser>) -> Response {
    let items = black_box(&users).iter().map(OrgUserItem::from).collect();
    black_box(encode("spotinst:setup:organization:user", items))
}

#[library_benchmark]
fn validation_error() -> Response {
    let error = Error::validation("query.cursor", "\"cursor\" is not a cursor of this listing");
    black_box(answering(request(), || ApiError(black_box(error)).into_response()))
}

library_benchmark_group!(name = envelope; benchmarks = account_items, user_items, validation_error);
main!(library_benchmark_groups = envelope);
