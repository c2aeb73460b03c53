//! Store tests, each on SQLite and PostgreSQL.

use orgplane_domain::Error;
use orgplane_domain::access::{AccountRole, OrgRole};
use orgplane_domain::iam::AccountPermission;
use orgplane_domain::ids::AccountId;
use orgplane_store::{NewPerson, NewRegistration, Store};
use orgplane_testkit::{Backend, TestDb, both_backends, leased};

fn registration(email: &str) -> NewRegistration {
    NewRegistration {
        org_name: "Org".into(),
        division: None,
        person: NewPerson {
            first_name: "First".into(),
            last_name: "Last".into(),
            email: email.into(),
            email_key: email.to_lowercase(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        },
    }
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let Some(postgres) = TestDb::new(Backend::Postgres).await else {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: schema comparison not run");
        return;
    };
    let (s, p) = (sqlite.store.schema().await.unwrap(), postgres.store.schema().await.unwrap());
    assert!(s.iter().any(|(t, _)| t == "accounts"), "{s:?}");
    assert_eq!(s, p);
}

both_backends!(migrations_are_idempotent, |app| {
    app.store().migrate().await.unwrap();
    app.store().migrate().await.unwrap();
    app.store().ping().await.unwrap();
});

both_backends!(concurrent_signups_with_one_email_make_exactly_one_user, |app| {
    let store: Store = app.store().clone();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            // Same address in different case: one identity, case-insensitively.
            let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
            tokio::spawn(async move { store.register(&registration(email)).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Invalid { code: "EMAIL_ALREADY_EXISTS", .. }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    let creds = store.find_credentials("race@example.com").await.unwrap().unwrap();
    assert_eq!(store.list_memberships(&creds.user_id).await.unwrap().len(), 1, "losers left no organization");
});

both_backends!(concurrent_writers_all_succeed, |app| {
    let store: Store = app.store().clone();
    let (org, _, _) = store.register(&registration("writers@example.com")).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create_account(org, &format!("Account {i}")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.list_accounts(org, None).await.unwrap().len(), 25);
});

both_backends!(every_account_query_is_scoped_to_its_organization, |app| {
    let store = app.store();
    let (a, a_default, a_admin) = store.register(&registration("scope-a@example.com")).await.unwrap();
    let (b, _, _) = store.register(&registration("scope-b@example.com")).await.unwrap();
    let a_extra = store.create_account(a, "A extra").await.unwrap().id;

    assert!(store.find_account(b, &a_extra).await.unwrap().is_none());
    assert!(matches!(store.update_account(b, &a_extra, Some("x"), None).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_account(b, &a_extra).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        store
            .set_account_permission(b, &a_extra, &a_admin, &AccountPermission::Role(AccountRole::Viewer), "userId")
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.account_permissions_of(b, &a_admin).await.unwrap().is_empty());
    let b_accounts = store.list_accounts(b, None).await.unwrap();
    assert!(b_accounts.iter().all(|acc| acc.organization_id == b));
    assert!(store.find_account(a, &a_extra).await.unwrap().is_some(), "A's account untouched");
    assert_eq!(store.default_account(a).await.unwrap().id, a_default);
});

both_backends!(default_account_is_unique_and_undeletable, |app| {
    let store = app.store();
    let (org, default, _) = store.register(&registration("default@example.com")).await.unwrap();
    let err = store.delete_account(org, &default).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { code: "CANT_DELETE_DEFAULT_ACCOUNT", .. }), "{err:?}");
    let extra = store.create_account(org, "Extra").await.unwrap();
    assert!(!extra.is_default);
    let accounts = store.list_accounts(org, None).await.unwrap();
    let defaults: Vec<_> = accounts.iter().filter(|a| a.is_default).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0].id, default);
    store.delete_account(org, &extra.id).await.unwrap();
    assert!(store.find_account(org, &AccountId::parse(extra.id.as_str()).unwrap()).await.unwrap().is_none());
});

both_backends!(deleting_an_organization_keeps_people_in_their_other_organizations, |app| {
    let store = app.store();
    let (first, _, user) = store.register(&registration("multi@example.com")).await.unwrap();
    let (second, _) = store.create_org_for(&user, "Second").await.unwrap();
    store.delete_org(first).await.unwrap();
    let left = store.list_memberships(&user).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].organization.id, second);
    assert_eq!(left[0].role, OrgRole::Admin);
    assert!(store.list_accounts(first, None).await.unwrap().is_empty());
    assert!(store.find_credentials("multi@example.com").await.unwrap().is_some());
});

/// Two stores (replicas) on one PostgreSQL test database, an organization registered through
/// the first, and a personal token of its admin. `None` when PostgreSQL is not configured.
struct ReplicasWithToken {
    /// Kept alive: dropping it drops the database.
    _db: TestDb,
    a: Store,
    b: Store,
    org: orgplane_domain::ids::OrgId,
    user: orgplane_domain::ids::UserId,
    token_id: i64,
    hash: String,
}

/// A fresh PostgreSQL database, or `None` (said on stderr) when the leg is not configured.
async fn postgres_db() -> Option<TestDb> {
    let db = TestDb::new(Backend::Postgres).await;
    if db.is_none() {
        eprintln!("ORGPLANE_TEST_POSTGRES_URL is not set: replica test not run");
    }
    db
}

/// Two replicas (stores with their own pools and caches) on one fresh PostgreSQL database.
async fn postgres_replicas() -> Option<(TestDb, [Store; 2])> {
    let db = postgres_db().await?;
    let replicas = [db.store.clone(), Store::connect(&db.url).await.unwrap()];
    Some((db, replicas))
}

async fn replicas_with_token(email: &str) -> Option<ReplicasWithToken> {
    use orgplane_domain::secret::{TokenKind, new_token, token_hash};
    let (db, [a, b]) = postgres_replicas().await?;
    let (org, _, user) = a.register(&registration(email)).await.unwrap();
    let token = new_token(TokenKind::Personal);
    let info =
        a.insert_token(TokenKind::Personal, &user, org, Some("t"), &token, None, &Default::default()).await.unwrap();
    Some(ReplicasWithToken { _db: db, a, b, org, user, token_id: info.id, hash: token_hash(&token.secret) })
}

/// Two replicas on one PostgreSQL database: a revocation on one is seen by the other at its very
/// next lookup (the shared change counter clears its cache), not after the cache's 30-second bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_clears_the_other_replicas_cache() {
    let Some(ReplicasWithToken { _db, a, b, org, user, token_id, hash }) =
        replicas_with_token("replicas@example.com").await
    else {
        return;
    };
    // Warm replica A's cache.
    assert!(a.caller_for_token(&hash, None).await.unwrap().is_some());
    assert!(a.caller_for_token(&hash, None).await.unwrap().is_some());

    // Revoked through replica B: replica A refuses the token at its very next lookup.
    b.delete_token(org, token_id, Some(&user)).await.unwrap();
    assert!(a.caller_for_token(&hash, None).await.unwrap().is_none(), "replica A still accepts the token");
    b.close().await;
}

/// Within one request the cache is brought in step with the other replicas once, at its first
/// lookup (what a request must see is every change acknowledged before it arrived); the next
/// request sees what another replica changed in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_syncs_with_other_replicas_once_and_the_next_request_sees_their_changes() {
    let Some(ReplicasWithToken { _db, a, b, org, user, token_id, hash }) =
        replicas_with_token("onerequest@example.com").await
    else {
        return;
    };
    orgplane_store::one_request(async {
        assert!(a.caller_for_token(&hash, None).await.unwrap().is_some());
        b.delete_token(org, token_id, Some(&user)).await.unwrap();
        assert!(
            a.caller_for_token(&hash, None).await.unwrap().is_some(),
            "a request that began before the revocation keeps its view"
        );
    })
    .await;
    let next = orgplane_store::one_request(a.caller_for_token(&hash, None)).await.unwrap();
    assert!(next.is_none(), "the next request still accepts the revoked token");
    b.close().await;
}

/// Requests counted at once through two replicas against one rate-limit budget: exactly the cap
/// is let through, and the counted requests saw the counts 1..=cap once each, however the
/// requests were batched into admission statements. Three organizations with different caps
/// are counted at the same time, so batches hold several keys. The caps are within 64, where
/// nothing is counted ahead (each request is counted once, whichever replica it reaches, and
/// counts reserved by one replica could be left unused when its requests end first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_counts_through_two_replicas_let_exactly_the_cap_through() {
    use orgplane_domain::ids::OrgId;
    use orgplane_store::RateQuery;
    let Some((_db, replicas)) = postgres_replicas().await else { return };
    let orgs = [("606000000123", 60), ("606000000124", 50), ("606000000125", 1)]
        .map(|(id, cap)| (OrgId::parse(id).unwrap(), cap));
    // A window ahead of the clock: no other test's pruning reaches it.
    let (route, window) = (7, orgplane_store::now_ms() / 60_000 + 1_000);
    let tasks: Vec<_> = (0..900)
        .map(|i| {
            let store = replicas[i % 2].clone();
            let (org, cap) = orgs[i % 3];
            tokio::spawn(async move {
                let count = store.count_request(org, RateQuery { route, window, cap: move |_| cap }).await.unwrap();
                (org, count)
            })
        })
        .collect();
    let mut seen: std::collections::HashMap<OrgId, Vec<i64>> = Default::default();
    for t in tasks {
        let (org, count) = t.await.unwrap();
        let cap = orgs.iter().find(|(o, _)| *o == org).unwrap().1;
        if count.counted {
            seen.entry(org).or_default().push(count.current);
        } else {
            assert_eq!(count.current, cap, "a refused request saw a full window: {count:?}");
        }
    }
    for (org, cap) in orgs {
        let mut counts = seen.remove(&org).unwrap_or_default();
        counts.sort_unstable();
        assert_eq!(counts, (1..=cap).collect::<Vec<_>>(), "organization {org}");
        let after = replicas[1].count_request(org, RateQuery { route, window, cap: |_| cap }).await.unwrap();
        assert!(!after.counted);
    }
    // The next window starts from zero and knows the previous one's count.
    let (org, cap) = orgs[0];
    let next = replicas[0]
        .count_request(org, RateQuery { route, window: window + 1, cap: |previous| previous + 1 })
        .await
        .unwrap();
    assert_eq!((next.previous, next.current, next.counted), (cap, 1, true));
    replicas[1].close().await;
}

/// `authenticate` takes a token from the read cache at once and lets the admission statement
/// (which counts the request) confirm it: a token revoked through another replica is refused by
/// the very next request, though this replica's cache still held it, and a request refused that
/// way was still counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_revoked_on_another_replica_is_refused_by_the_next_request() {
    use orgplane_store::RateQuery;
    let Some(ReplicasWithToken { _db, a, b, org, user, token_id, hash }) =
        replicas_with_token("admitted@example.com").await
    else {
        return;
    };
    let (route, window) = (11, orgplane_store::now_ms() / 60_000 + 2_000);
    let request = |store: Store| {
        let hash = hash.clone();
        orgplane_store::one_request(async move {
            store.authenticate(&hash, None, Some(RateQuery { route, window, cap: |_| 100 })).await.unwrap()
        })
    };
    // Two requests: the first fills the cache, the second is served from it.
    for n in 1..=2 {
        let (caller, count) = request(a.clone()).await.expect("the token authenticates");
        assert_eq!(caller.org_id, org);
        let count = count.expect("counted");
        assert_eq!((count.counted, count.current), (true, n));
    }
    // Without a rate query nothing is counted, and the token still authenticates.
    let unlimited = orgplane_store::one_request(a.authenticate(&hash, None, None::<RateQuery<fn(i64) -> i64>>));
    assert!(unlimited.await.unwrap().is_some_and(|(_, count)| count.is_none()));
    b.delete_token(org, token_id, Some(&user)).await.unwrap();
    assert!(request(a.clone()).await.is_none(), "replica A still accepts the revoked token");
    // The refused request was counted: the next count is the fourth.
    let count = a.count_request(org, RateQuery { route, window, cap: |_| 100 }).await.unwrap();
    assert_eq!(count.current, 4);
    b.close().await;
}

both_backends!(cached_account_lists_follow_every_change, |app| {
    let store = app.store();
    let (org, _, user) = store.register(&registration("cachelist@example.com")).await.unwrap();
    assert_eq!(store.list_accounts(org, None).await.unwrap().len(), 1);
    let extra = store.create_account(org, "Extra").await.unwrap();
    assert_eq!(store.list_accounts(org, None).await.unwrap().len(), 2);
    store.update_account(org, &extra.id, Some("Renamed"), None).await.unwrap();
    let names: Vec<_> = store.list_accounts(org, None).await.unwrap().iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, vec!["Default".to_string(), "Renamed".to_string()]);
    // Grants are cached too, and follow permission changes.
    let before = store.grants(org, &user).await.unwrap().len();
    store
        .set_account_permission(org, &extra.id, &user, &AccountPermission::Role(AccountRole::Viewer), "userId")
        .await
        .unwrap();
    assert_eq!(store.grants(org, &user).await.unwrap().len(), before + 1);
    store.delete_account(org, &extra.id).await.unwrap();
    assert_eq!(store.list_accounts(org, None).await.unwrap().len(), 1);
    assert_eq!(store.grants(org, &user).await.unwrap().len(), before, "the permission went with the account");
});

// Two admins removing each other at the same moment: one succeeds, the other is refused, and
// the organization keeps an admin (PostgreSQL locks the organization row; SQLite serialises
// writers).
both_backends!(the_last_admin_survives_concurrent_removals, |app| {
    use orgplane_domain::access::OrgRole;
    use orgplane_store::NewUserRole;
    let store: Store = app.store().clone();
    for round in 0..5 {
        let (org, _, first) = store.register(&registration(&format!("admin-a{round}@example.com"))).await.unwrap();
        let second_person = registration(&format!("admin-b{round}@example.com")).person;
        let (second, _) = store.add_person(org, &second_person, NewUserRole::Admin).await.unwrap();
        let (s1, s2) = (store.clone(), store.clone());
        let (f, s) = (first.clone(), second.clone());
        let a = tokio::spawn(async move { s1.remove_user(org, &s).await });
        let b = tokio::spawn(async move { s2.set_org_role(org, &f, OrgRole::Member).await });
        let results = [a.await.unwrap(), b.await.unwrap()];
        let admins = store.list_org_users(org).await.unwrap().iter().filter(|u| u.role == OrgRole::Admin).count();
        assert_eq!(admins, 1, "round {round}: {results:?}");
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(Error::Invalid { code: "LAST_ADMIN", .. }))));
    }
});

both_backends!(a_users_permission_on_an_account_is_one_row, |app| {
    let store = app.store();
    let (org, account, user) = store.register(&registration("onerow@example.com")).await.unwrap();
    for role in [AccountRole::Viewer, AccountRole::Editor, AccountRole::Viewer] {
        store.set_account_permission(org, &account, &user, &AccountPermission::Role(role), "userId").await.unwrap();
    }
    store
        .set_account_permission(org, &account, &user, &AccountPermission::Policies(vec!["3".into()]), "userId")
        .await
        .unwrap();
    let rows = store.account_permissions_of(org, &user).await.unwrap();
    assert_eq!(rows, vec![(account, AccountPermission::Policies(vec!["3".into()]))]);
});

both_backends!(seeding_fills_one_organization_and_its_pages_walk_it_in_order, |app| {
    let store: Store = app.store().clone();
    let (org, _, admin) = store.register(&registration("seed@example.com")).await.unwrap();
    let (other, _, _) = store.register(&registration("seed-other@example.com")).await.unwrap();
    let progress = std::sync::atomic::AtomicU64::new(0);
    let seeded = store
        .seed_directory(org, 1_234, 567, |n| progress.store(n, std::sync::atomic::Ordering::Relaxed))
        .await
        .unwrap();
    assert_eq!(seeded, orgplane_store::Seeded { users: 1_234, accounts: 567 });
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), 1_234 + 567);
    // Seeding again adds, never clashes.
    store.seed_directory(org, 10, 3, |_| {}).await.unwrap();
    let users = store.list_org_users(org).await.unwrap();
    assert_eq!(users.len(), 1 + 1_234 + 10);
    assert_eq!(users.iter().filter(|u| u.role == OrgRole::Admin).map(|u| &u.user_id).collect::<Vec<_>>(), [&admin]);
    assert!(users.windows(2).all(|w| (w[0].created_at, &w[0].user_id) < (w[1].created_at, &w[1].user_id)));
    let accounts = store.list_accounts(org, None).await.unwrap();
    assert_eq!(accounts.len(), 1 + 567 + 3);
    assert!(accounts[0].is_default);
    // Nothing reached the other organization.
    assert_eq!(store.list_org_users(other).await.unwrap().len(), 1);
    assert_eq!(store.list_accounts(other, None).await.unwrap().len(), 1);
    // Keyset pages walk both lists exactly, in the unpaged order.
    let mut walked = Vec::new();
    let mut after: Option<(i64, orgplane_domain::ids::UserId)> = None;
    loop {
        let page = store.org_users_page(org, after.as_ref().map(|(at, id)| (*at, id)), 400).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.user_id.clone()));
        walked.extend(page.into_iter().map(|u| u.user_id));
    }
    assert_eq!(walked, users.iter().map(|u| u.user_id.clone()).collect::<Vec<_>>());
    let mut walked = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let page =
            store.accounts_page(org, None, after.as_ref().map(|(at, id)| (*at, id.as_str())), 250).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(if last.is_default { (i64::MIN, String::new()) } else { (last.created_at, last.id.to_string()) });
        walked.extend(page.into_iter().map(|a| a.id));
    }
    assert_eq!(walked, accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>());
    // An organization that does not exist is refused.
    let missing = orgplane_domain::ids::OrgId::parse("606000000099").unwrap();
    assert!(store.seed_directory(missing, 1, 1, |_| {}).await.is_err());
});

/// Writes `n` personal tokens for `user` at once through `replicas` (in turn), each inside a
/// recorded request as the API makes them; returns each token's id with its request's draft.
async fn write_tokens_at_once(
    replicas: &[Store],
    org: orgplane_domain::ids::OrgId,
    user: &orgplane_domain::ids::UserId,
    n: usize,
) -> Vec<(i64, orgplane_store::audit::Draft)> {
    use orgplane_domain::secret::{TokenKind, new_token, token_hash};
    use orgplane_store::audit::{Draft, recording};
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (store, user) = (replicas[i % replicas.len()].clone(), user.clone());
            tokio::spawn(async move {
                let token = new_token(TokenKind::Personal);
                let draft = Draft {
                    kind: orgplane_domain::audit::kind_for("POST", "/auth/tokens"),
                    org: Some(org),
                    user_id: Some(user.to_string()),
                    url: "/auth/tokens".into(),
                    ..Default::default()
                };
                let (name, scope) = (format!("token {i}"), Default::default());
                let insert = store.insert_token(TokenKind::Personal, &user, org, Some(&name), &token, None, &scope);
                let (info, draft) = recording(draft, insert).await;
                let info = info.unwrap();
                let caller = store.caller_for_token(&token_hash(&token.secret), None).await.unwrap();
                assert_eq!(caller.map(|c| c.token_id), Some(info.id), "the token works as written");
                (info.id, draft)
            })
        })
        .collect();
    let mut written = Vec::new();
    for t in tasks {
        written.push(t.await.unwrap());
    }
    written
}

/// The organization's events, oldest first.
async fn events_of(store: &Store, org: orgplane_domain::ids::OrgId) -> Vec<orgplane_domain::audit::Event> {
    let filter = orgplane_store::audit::AuditFilter {
        org,
        from_ms: 0,
        to_ms: i64::MAX,
        account_id: None,
        success_only: false,
        user: None,
        action: None,
        resource_type: None,
        resource_id: None,
    };
    let mut events = store.audit_events(&filter, None, 10_000).await.unwrap();
    events.reverse();
    events
}

// Concurrent token writes are batched into shared transactions: each token still lands with
// exactly its own event, the events form one unbroken chain, and each request learns that its
// event was written (so it is not recorded twice).
both_backends!(concurrent_token_writes_each_land_with_their_own_event, |app| {
    let store: Store = app.store().clone();
    let (org, _, user) = store.register(&registration("batch@example.com")).await.unwrap();
    let written = write_tokens_at_once(std::slice::from_ref(&store), org, &user, 60).await;
    let mut ids: Vec<i64> = written.iter().map(|(id, _)| *id).collect();
    for (id, draft) in &written {
        assert!(draft.recorded, "the request's event was written with its token");
        assert_eq!(draft.resource_id, Some(id.to_string()));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    let events = events_of(&store, org).await;
    let mut named: Vec<i64> = events.iter().map(|e| e.resource_id.as_deref().unwrap().parse().unwrap()).collect();
    named.sort_unstable();
    assert_eq!(named, ids, "one event per token, naming it");
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>());
    let chains = store.verify_audit().await.unwrap();
    assert!(chains.iter().all(|c| c.result.is_ok()), "{chains:?}");
    // A request that writes a second token (a sign-in's refresh token) is not recorded twice.
    let again = write_tokens_at_once(std::slice::from_ref(&store), org, &user, 1).await;
    assert_eq!(events_of(&store, org).await.len(), 61, "{again:?}");
});

/// Batches from two replicas append to one organization's chain at once: no event is lost or
/// numbered twice and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_batches_from_two_replicas_keep_one_unbroken_chain() {
    let Some((_db, replicas)) = postgres_replicas().await else { return };
    let (org, _, user) = replicas[0].register(&registration("batch2@example.com")).await.unwrap();
    let written = write_tokens_at_once(&replicas, org, &user, 80).await;
    assert!(written.iter().all(|(_, d)| d.recorded));
    let events = events_of(&replicas[1], org).await;
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=80).collect::<Vec<_>>());
    let chains = replicas[1].verify_audit().await.unwrap();
    assert!(chains.iter().all(|c| c.result.is_ok()), "{chains:?}");
    replicas[1].close().await;
}

// A row that cannot be written (its user is gone) fails its own request only, not the
// requests batched with it.
both_backends!(a_token_that_cannot_be_written_fails_alone, |app| {
    use orgplane_domain::ids::UserId;
    use orgplane_domain::secret::{TokenKind, new_token};
    let store: Store = app.store().clone();
    let (org, _, user) = store.register(&registration("poison@example.com")).await.unwrap();
    let gone = UserId::from_stored("usr-doesnotexist".into());
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = store.clone();
            let owner = if i == 7 { gone.clone() } else { user.clone() };
            tokio::spawn(async move {
                let token = new_token(TokenKind::Temporary);
                store.insert_token(TokenKind::Temporary, &owner, org, None, &token, None, &Default::default()).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), i == 7, "token {i}: {result:?}");
    }
});

// Two organizations' token writes at once share batches but not chains: each organization's
// events are its own, numbered 1..=n, and every chain verifies.
both_backends!(batched_token_writes_keep_each_organization_to_its_own_chain, |app| {
    let store: Store = app.store().clone();
    let (org_a, _, user_a) = store.register(&registration("batch-a@example.com")).await.unwrap();
    let (org_b, _, user_b) = store.register(&registration("batch-b@example.com")).await.unwrap();
    let stores = std::slice::from_ref(&store);
    let (a, b) = tokio::join!(
        write_tokens_at_once(stores, org_a, &user_a, 30),
        write_tokens_at_once(stores, org_b, &user_b, 30)
    );
    for (org, user, written) in [(org_a, &user_a, a), (org_b, &user_b, b)] {
        let events = events_of(&store, org).await;
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=30).collect::<Vec<_>>());
        assert!(events.iter().all(|e| e.organization_id == org.as_i64()));
        assert!(events.iter().all(|e| e.user_id.as_deref() == Some(user.as_str())), "{events:?}");
        let mut named: Vec<String> = events.iter().filter_map(|e| e.resource_id.clone()).collect();
        let mut ids: Vec<String> = written.iter().map(|(id, _)| id.to_string()).collect();
        named.sort();
        ids.sort();
        assert_eq!(named, ids, "each organization's events name its own tokens");
    }
    let chains = store.verify_audit().await.unwrap();
    assert!(chains.iter().all(|c| c.result.is_ok()), "{chains:?}");
});

/// Two replicas holding leases serve from their caches without reading the change counter, yet
/// a revocation through either is refused by the other's very next request: the change is not
/// acknowledged until the other has cleared its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_replicas_skip_the_counter_and_still_see_each_others_changes_at_once() {
    use orgplane_domain::secret::{TokenKind, new_token, token_hash};
    let Some(ReplicasWithToken { _db, a, b, org, user, .. }) = replicas_with_token("leased@example.com").await else {
        return;
    };
    tokio::join!(leased(&a), leased(&b));
    for round in 0..20 {
        let (writer, reader) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let token = new_token(TokenKind::Personal);
        let info = writer
            .insert_token(TokenKind::Personal, &user, org, Some("leased"), &token, None, &Default::default())
            .await
            .unwrap();
        let hash = token_hash(&token.secret);
        // Warm the reader's cache; while its lease holds, these reads make no admission statement.
        let statements = reader.admission_statements();
        for _ in 0..3 {
            assert!(orgplane_store::one_request(reader.caller_for_token(&hash, None)).await.unwrap().is_some());
        }
        assert!(reader.lease_holds());
        assert_eq!(reader.admission_statements(), statements, "a leased replica read the change counter");
        writer.delete_token(org, info.id, Some(&user)).await.unwrap();
        let next = orgplane_store::one_request(reader.caller_for_token(&hash, None)).await.unwrap();
        assert!(next.is_none(), "round {round}: the other replica still accepts the revoked token");
    }
    b.close().await;
}

/// A replica that stops without giving up its lease (killed) holds up changes through the
/// others only until it can no longer trust its cache; one that closes does not hold them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_replica_delays_changes_only_until_its_trust_runs_out() {
    use std::time::{Duration, Instant};
    let Some(ReplicasWithToken { _db: db, a, b, org, .. }) = replicas_with_token("vanished@example.com").await else {
        return;
    };
    tokio::join!(leased(&a), leased(&b));
    let started = Instant::now();
    a.create_account(org, "While both listen").await.unwrap();
    let both_listening = started.elapsed();
    // Dropped without closing: its lease row stays, and nobody acknowledges changes for it.
    drop(b);
    let started = Instant::now();
    a.create_account(org, "After one vanished").await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "a change did not wait for a replica that may trust its cache ({waited:?})"
    );
    assert!(waited < Duration::from_secs(10), "a change waited {waited:?} for a vanished replica");
    // Its lease (two seconds from its last renewal) has run out after this: the next change
    // does not wait for it, nor for a replica that closed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = Store::connect(&db.url).await.unwrap();
    leased(&c).await;
    c.close().await;
    let started = Instant::now();
    a.create_account(org, "After one closed").await.unwrap();
    let after_close = started.elapsed();
    assert!(
        after_close < Duration::from_millis(1000),
        "a change waited {after_close:?} for a closed replica (both listening: {both_listening:?})"
    );
}

/// Far from its cap a replica counts ahead and gives the counts to its next requests without a
/// statement; the counts stay consecutive and the cap holds. Near the cap nothing is reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_taken_ahead_are_given_in_order_without_statements_and_the_cap_holds() {
    use orgplane_domain::ids::OrgId;
    use orgplane_store::RateQuery;
    let Some(db) = postgres_db().await else { return };
    let store = db.store.clone();
    // Leased: the counts need no statement to be in step with other replicas either.
    leased(&store).await;
    let org = OrgId::parse("606000000126").unwrap();
    let (route, window, cap) = (13, orgplane_store::now_ms() / 60_000 + 3_000, 1_000);
    let count = || store.count_request(org, RateQuery { route, window, cap: move |_| cap });
    let before = store.admission_statements();
    let mut counts = Vec::new();
    loop {
        let c = count().await.unwrap();
        if !c.counted {
            assert_eq!(c.current, cap, "refused before the window was full: {c:?}");
            break;
        }
        counts.push(c.current);
    }
    assert_eq!(counts, (1..=cap).collect::<Vec<_>>(), "one replica's counts are consecutive and reach the cap");
    let statements = store.admission_statements() - before;
    // 1,000 counts: the first alone, reservations of an eighth of the room while it is ≥ 64
    // (about 16 of them), then one statement per count for the last ~70.
    assert!(statements < 120, "{statements} statements for {cap} counts");
    assert!(statements > 60, "only {statements} statements: counts near the cap must each be exact");
}

/// Two replicas counting at once with reservations: the counts granted are distinct and within
/// the cap, and what reservations leave unused is a small part of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_counting_ahead_never_exceed_the_cap() {
    use orgplane_domain::ids::OrgId;
    use orgplane_store::RateQuery;
    let Some((_db, replicas)) = postgres_replicas().await else { return };
    let org = OrgId::parse("606000000127").unwrap();
    let (route, window, cap) = (17, orgplane_store::now_ms() / 60_000 + 4_000, 2_000);
    // Eight clients per replica, each counting until refused twice.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = replicas[i % 2].clone();
            tokio::spawn(async move {
                let (mut granted, mut refused) = (Vec::new(), 0);
                while refused < 2 {
                    let c = store.count_request(org, RateQuery { route, window, cap: move |_| cap }).await.unwrap();
                    if c.counted { granted.push(c.current) } else { refused += 1 }
                }
                granted
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a count was granted twice");
    assert!(all.iter().all(|c| (1..=cap).contains(c)), "a count beyond the cap");
    // A client is refused only once its replica's reserved room is spent and the window is full,
    // so with clients on both replicas to the end nothing reserved is left unused.
    assert_eq!(n as i64, cap, "granted {n} of {cap}");
    replicas[1].close().await;
}

/// A server restarted on the same data directory after a crash takes its lease over under the
/// identity kept there, so changes through the other replicas do not wait for the old lease to
/// run out; a second live process on the same directory takes an identity of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarted_on_its_directory_takes_its_lease_over() {
    use std::time::{Duration, Instant};
    let Some(ReplicasWithToken { _db: db, a, b, org, .. }) = replicas_with_token("restarted@example.com").await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("orgplane-replica-{}", rand_suffix()));
    b.serve_as_replica_in(&dir);
    tokio::join!(leased(&a), leased(&b));
    let id = b.replica_id().unwrap().to_string();
    // Another live process on the same directory cannot use that identity.
    let twin = Store::connect(&db.url).await.unwrap();
    twin.serve_as_replica_in(&dir);
    assert_ne!(twin.replica_id().unwrap(), id);
    twin.close().await;
    // Killed (dropped without closing), then started again on its directory.
    drop(b);
    let restarted = Store::connect(&db.url).await.unwrap();
    restarted.serve_as_replica_in(&dir);
    leased(&restarted).await;
    assert_eq!(restarted.replica_id().unwrap(), id, "the restarted replica took a new identity");
    let started = Instant::now();
    a.create_account(org, "After the restart").await.unwrap();
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1000), "a change waited {waited:?} for the killed replica's lease");
    restarted.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    format!("{}-{}", std::process::id(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos())
}
