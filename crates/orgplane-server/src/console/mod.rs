//! The web console: server-rendered pages (askama) made lively with htmx, with no JavaScript
//! build step and every asset served by this binary. It is a client of the API in this same
//! process (see `client`): pages read through API routes and forms write through them, so a
//! person can do in the console exactly what their policies let them do through the API.
//!
//! Modules follow the console's menu: `auth` (sign-up, sign-in, MFA step, SSO, reset),
//! `home` (welcome, switchers, settings, new organization/account), `iam` (users, groups,
//! policies, API tokens), `security` (password, MFA, security keys, organization security,
//! identity provider, SCIM), `billing` (plan, bills, linked organizations), `cloud`
//! (connection wizards), `audit`, `notifications`.

/// The frame of a signed-in page (`layout::Nav`), or the answer that ends the handler (an
/// ended session goes back to sign-in).
macro_rules! nav {
    ($state:expr, $api:expr, $s:expr, $section:expr) => {
        match $crate::console::layout::Nav::load($state, $api, $s, $section).await {
            Ok(nav) => nav,
            Err(res) => return res,
        }
    };
}

pub mod assets;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod client;
pub mod cloud;
pub mod home;
pub mod iam;
pub mod layout;
pub mod notifications;
pub mod security;
pub mod session;

use crate::AppState;
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

/// The console's routes, under `/console`; `api` is the API router it calls in-process.
pub fn router(api: Router) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/console/") }))
        .route("/console", get(|| async { axum::response::Redirect::to("/console/") }))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/signin", get(auth::signin_page).post(auth::signin))
        .route("/console/signin/key", post(auth::key_challenge))
        .route("/console/signup", get(auth::signup_page).post(auth::signup))
        .route("/console/sso", get(auth::sso_page))
        .route("/console/sso/choose", post(auth::sso_choose))
        .route("/console/reset", get(auth::reset_page).post(auth::reset_request))
        .route("/console/reset/confirm", get(auth::reset_confirm_page).post(auth::reset_confirm))
        .route("/console/signout", post(auth::signout))
        .route("/console/", get(home::dashboard))
        .route("/console/welcome", get(home::welcome))
        .route("/console/switch/organization", post(home::switch_organization))
        .route("/console/switch/account", post(home::switch_account))
        .route("/console/organizations/new", get(home::new_organization_page).post(home::new_organization))
        .route("/console/accounts/new", get(home::new_account_page).post(home::new_account))
        .route("/console/settings", get(home::settings).post(home::update_settings))
        .route("/console/users", get(iam::users))
        .route("/console/users.csv", get(iam::users_csv))
        .route("/console/users/new", get(iam::new_user_page).post(iam::new_user))
        .route("/console/users/{userId}", get(iam::user))
        .route("/console/users/{userId}/accounts", post(iam::attach_user))
        .route("/console/users/{userId}/groups", post(iam::set_user_groups))
        .route("/console/users/{userId}/delete", post(iam::delete_user))
        .route("/console/users/{userId}/mfa/reset", post(iam::reset_mfa))
        .route("/console/groups", get(iam::groups).post(iam::create_group))
        .route("/console/groups/{groupId}", get(iam::group).post(iam::update_group))
        .route("/console/groups/{groupId}/delete", post(iam::delete_group))
        .route("/console/policies", get(iam::policies))
        .route("/console/policies/new", get(iam::new_policy_page).post(iam::save_policy))
        .route("/console/policies/{policyId}", get(iam::policy).post(iam::save_policy_id))
        .route("/console/policies/{policyId}/delete", post(iam::delete_policy))
        .route("/console/tokens", get(iam::tokens).post(iam::create_token))
        .route("/console/tokens/{tokenId}/delete", post(iam::delete_token))
        .route("/console/security", get(security::security))
        .route("/console/security/password", post(security::change_password))
        .route("/console/security/totp", post(security::totp_start))
        .route("/console/security/totp/confirm", post(security::totp_confirm))
        .route("/console/security/totp/disable", post(security::totp_disable))
        .route("/console/security/keys/start", post(security::key_start))
        .route("/console/security/keys/finish", post(security::key_finish))
        .route("/console/security/keys/{keyId}/delete", post(security::key_delete))
        .route("/console/security/organization", post(security::org_security))
        .route("/console/identity-providers", get(security::identity_providers).post(security::save_identity_provider))
        .route("/console/identity-providers/delete", post(security::delete_identity_provider))
        .route("/console/scim", get(security::scim))
        .route("/console/scim/token", post(security::create_scim_token))
        .route("/console/scim/token/{tokenId}/delete", post(security::delete_scim_token))
        .route("/console/billing", get(billing::billing))
        .route("/console/billing/activate", post(billing::activate))
        .route("/console/billing/{file}", get(billing::download))
        .route("/console/linked", get(billing::linked).post(billing::linked_action))
        .route("/console/cloud", get(cloud::overview))
        .route("/console/cloud/{provider}", get(cloud::provider).post(cloud::step))
        .route("/console/audit", get(audit::audit))
        .route("/console/audit/export", get(audit::export))
        .route("/console/notifications", get(notifications::notifications))
        .route("/console/notifications/settings", post(notifications::save))
        .route("/console/notifications/test", post(notifications::test))
        .route("/console/notifications/{notificationId}/read", post(notifications::mark_read))
        .route("/reset-password", get(auth::reset_confirm_page))
        .layer(middleware::from_fn(session::csrf))
        .layer(axum::Extension(client::ApiClient(api)))
}
