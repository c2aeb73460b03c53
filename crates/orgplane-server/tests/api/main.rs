//! API tests: one integration binary (one link step), every test on SQLite and PostgreSQL.

mod access;
mod accounts;
mod audit;
mod bad_input;
mod billing;
mod children;
mod cloud;
mod console;
mod credentials;
mod envelope;
mod mfa;
mod notification_center;
mod notifications;
mod openapi;
mod organizations;
mod paging;
mod password;
mod replicas;
mod scim;
mod signup;
mod sso;
mod tenancy;
mod throttle;
mod tokens;
mod users;
mod webauthn;

use orgplane_domain::access::OrgRole;
use orgplane_domain::ids::{OrgId, UserId};
use orgplane_testkit::orgplane_store::Store;
use orgplane_testkit::{Tenant, TestApp};

/// Makes `member` (signed up in their own organization) a plain member of `org`, attached to
/// nothing, and returns their token for `org`.
pub async fn add_member(app: &TestApp, org: &Tenant, member: &Tenant) -> String {
    let store: &Store = app.store();
    store
        .add_member(OrgId::parse(&org.org_id).unwrap(), &UserId::parse(&member.user_id).unwrap(), OrgRole::Member)
        .await
        .unwrap();
    app.password_token(&member.email, Some(&org.org_id)).await
}
