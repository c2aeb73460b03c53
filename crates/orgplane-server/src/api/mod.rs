//! The HTTP API. Modules mirror Spot's URL tree: `setup/organization.rs` serves
//! `/setup/organization…`, `setup/account.rs` serves `/setup/account…`. orgplane's own additions
//! (`/auth`, `/oauth`) sit beside them and use the same envelope.
//!
//! Every route is registered through `route!`, which reads the handler's `#[utoipa::path]`; a
//! route therefore cannot exist without its OpenAPI entry. The one list of routes builds either
//! the router alone (at start) or the OpenAPI document (when `/openapi.json` is first asked
//! for): building the document allocates megabytes and runs the schema code of every type,
//! which an idle server should not keep resident.

pub mod audit;
pub mod auth;
pub mod azure;
pub mod billing;
pub mod docs;
pub mod events;
pub mod gcp;
pub mod mfa;
pub mod notification_center;
pub mod notifications;
pub mod oauth;
pub mod ops;
pub mod paging;
pub mod password;
#[cfg(feature = "saml")]
pub mod saml;
pub mod scim;
pub mod setup;
pub mod webauthn;

use crate::AppState;
use axum::routing::MethodRouter;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgplane",
        description = "Self-hostable control plane for organizations and accounts, compatible with Spot's /setup API. \
                       Every response, success or error, is Spot's envelope `{request, response}`; success is always HTTP 200.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health and readiness"),
        (name = "auth", description = "Sign-up and tokens"),
        (name = "organizations", description = "Spot /setup/organization"),
        (name = "accounts", description = "Spot /setup/account"),
        (name = "users", description = "Spot /setup/user, /setup/organization/user, /setup/accountUserMapping"),
        (name = "policies", description = "Spot /setup/access/policy, policyAction, explain"),
        (name = "groups", description = "Spot /setup/access/userGroup"),
        (name = "credentials", description = "Spot /setup/credentials/aws, /azure/setup/credentials, /gcp/setup/credentials"),
        (name = "audit", description = "Spot /audit/events, export and webhook"),
        (name = "billing", description = "Plan and activation, usage, bills"),
        (name = "notifications", description = "The inbox; Spot /notificationCenter and /events"),
        (name = "sso", description = "SAML 2.0 single sign-on: SP metadata, SP- and IdP-initiated sign-in, assertion exchange"),
        (name = "scim", description = "SCIM 2.0 (RFC 7644), authenticated by an organization's SCIM token; SCIM's own wire format"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The handlers of one path, ready to be registered with their OpenAPI description
/// (`document`, utoipa's `routes!`) or without it (`serve`: the path and methods only).
pub struct Route<D, S> {
    document: D,
    serve: S,
}

/// `route!(a, b)`: the handlers of one path, for `Registry::add`.
macro_rules! route {
    // Handlers as `::`-separated identifiers, not `path` fragments: a `path` reaches utoipa's
    // `routes!` sealed, and its helper arms must take it apart.
    ($($($segment:ident)::+),+ $(,)?) => {
        Route {
            document: || routes!($($($segment)::+),+),
            serve: || {
                use utoipa_axum::PathItemExt;
                let mut paths: Vec<String> = Vec::new();
                let mut method_router = MethodRouter::new();
                $(
                    paths.push(routes!(@path [path()] of $($segment)::+));
                    let methods: Vec<utoipa::openapi::HttpMethod> = routes!(@path [methods()] of $($segment)::+);
                    method_router =
                        methods.iter().fold(method_router, |r, m| r.on(m.to_method_filter(), $($segment)::+));
                )+
                paths.sort();
                paths.dedup();
                (paths, method_router)
            },
        }
    };
}

/// What the list of routes is built into: the router that serves (`axum::Router`) or the
/// router with its document (`OpenApiRouter`).
pub trait Registry: Sized {
    fn add<D, S>(self, route: Route<D, S>) -> Self
    where
        D: FnOnce() -> UtoipaMethodRouter<AppState>,
        S: FnOnce() -> (Vec<String>, MethodRouter<AppState>);
}

impl Registry for axum::Router<AppState> {
    fn add<D, S>(self, route: Route<D, S>) -> Self
    where
        D: FnOnce() -> UtoipaMethodRouter<AppState>,
        S: FnOnce() -> (Vec<String>, MethodRouter<AppState>),
    {
        let (paths, method_router) = (route.serve)();
        // As utoipa's router does: every path of the group gets the group's methods.
        paths.iter().fold(self, |router, path| router.route(path, method_router.clone()))
    }
}

impl Registry for OpenApiRouter<AppState> {
    fn add<D, S>(self, route: Route<D, S>) -> Self
    where
        D: FnOnce() -> UtoipaMethodRouter<AppState>,
        S: FnOnce() -> (Vec<String>, MethodRouter<AppState>),
    {
        self.routes((route.document)())
    }
}

/// The API routes, to serve.
pub fn router() -> axum::Router<AppState> {
    routes(axum::Router::new())
}

/// The OpenAPI document of every route, with the answers of their extractors.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut document) = routes(OpenApiRouter::with_openapi(ApiDoc::openapi())).split_for_parts();
    document_extractor_answers(&mut document);
    document
}

/// All API routes. Each `route!` groups the handlers of one path.
fn routes<R: Registry>(registry: R) -> R {
    with_saml(registry)
        .add(route!(ops::healthz))
        .add(route!(ops::readyz))
        .add(route!(auth::register))
        .add(route!(auth::create_token, auth::list_tokens))
        .add(route!(auth::delete_token))
        .add(route!(oauth::token))
        .add(route!(mfa::enrol, mfa::disable))
        .add(route!(mfa::confirm))
        .add(route!(webauthn::register))
        .add(route!(webauthn::confirm))
        .add(route!(webauthn::list))
        .add(route!(webauthn::delete))
        .add(route!(webauthn::challenge))
        .add(route!(password::change))
        .add(route!(password::request_reset))
        .add(route!(password::confirm_reset))
        .add(route!(setup::organization::create, setup::organization::list))
        .add(route!(setup::organization::get, setup::organization::update, setup::organization::delete))
        .add(route!(setup::organization::users))
        .add(route!(setup::organization::security))
        .add(route!(setup::children::list, setup::children::create))
        .add(route!(setup::children::update, setup::children::unlink))
        .add(route!(setup::children::invite, setup::children::invitations))
        .add(route!(setup::children::accept))
        .add(route!(setup::children::delete_invitation))
        .add(route!(setup::scim::get, setup::scim::put))
        .add(route!(setup::scim::create_token))
        .add(route!(setup::scim::delete_token))
        .add(route!(scim::service_provider_config))
        .add(route!(scim::schemas))
        .add(route!(scim::resource_types))
        .add(route!(scim::list_users, scim::create_user))
        .add(route!(scim::get_user, scim::replace_user, scim::patch_user, scim::delete_user))
        .add(route!(scim::list_groups, scim::create_group))
        .add(route!(scim::get_group, scim::replace_group, scim::patch_group, scim::delete_group))
        .add(route!(scim::bulk))
        .add(route!(setup::user::reset_mfa))
        .add(route!(setup::organization::tokens))
        .add(route!(setup::organization::delete_token))
        .add(route!(setup::account::create, setup::account::list))
        .add(route!(setup::account::get, setup::account::update, setup::account::delete))
        .add(route!(setup::notifications::get, setup::notifications::put))
        .add(route!(setup::notifications::test))
        .add(route!(
            setup::account_user_mapping::attach,
            setup::account_user_mapping::update,
            setup::account_user_mapping::detach
        ))
        .add(route!(setup::account_user_mapping::get, setup::account_user_mapping::post))
        .add(route!(setup::user::create, setup::user::list))
        .add(route!(setup::user::create_programmatic))
        .add(route!(setup::user::get, setup::user::delete))
        .add(route!(setup::user::user_group_mapping))
        .add(route!(setup::user::policy_mapping))
        .add(route!(setup::user::policy_mapping_java))
        .add(route!(setup::access::policy::create, setup::access::policy::list_account))
        .add(route!(setup::access::policy::update, setup::access::policy::delete))
        .add(route!(setup::access::policy::list_org))
        .add(route!(setup::access::policy_action::list))
        .add(route!(setup::access::user_group::create, setup::access::user_group::list))
        .add(route!(
            setup::access::user_group::get,
            setup::access::user_group::update,
            setup::access::user_group::delete
        ))
        .add(route!(setup::access::user_group::user_mapping))
        .add(route!(setup::access::user_group::policy_mapping))
        .add(route!(setup::access::user_group::policy_mapping_java))
        .add(route!(setup::access::explain::explain))
        .add(route!(setup::credentials::mint_external_id))
        .add(route!(setup::credentials::get_external_id))
        .add(route!(setup::credentials::set_aws, setup::credentials::get_aws))
        .add(route!(azure::set, azure::get))
        .add(route!(azure::validate_credentials))
        .add(route!(azure::set_tenant))
        .add(route!(azure::validate_tenant))
        .add(route!(gcp::set, gcp::get))
        .add(route!(gcp::validate_credentials))
        .add(route!(notification_center::create, notification_center::list))
        .add(route!(notification_center::get, notification_center::update, notification_center::delete))
        .add(route!(notification_center::resources))
        .add(route!(notification_center::events))
        .add(route!(events::create, events::list))
        .add(route!(events::get, events::update, events::delete))
        .add(route!(events::get_account_policy, events::put_account_policy))
        .add(route!(billing::get))
        .add(route!(billing::activate))
        .add(route!(billing::ingest_usage))
        .add(route!(billing::bill))
        .add(route!(billing::trend_chart))
        .add(route!(billing::product_chart))
        .add(route!(notifications::list))
        .add(route!(notifications::count))
        .add(route!(notifications::mark_read))
        .add(route!(notifications::mark_all_read))
        .add(route!(audit::list))
        .add(route!(audit::export))
        .add(route!(audit::set_webhook, audit::get_webhook, audit::delete_webhook))
}

/// The single sign-on routes (feature `saml`, on by default).
#[cfg(feature = "saml")]
fn with_saml<R: Registry>(registry: R) -> R {
    registry
        .add(route!(setup::sso::get, setup::sso::put, setup::sso::delete))
        .add(route!(saml::metadata))
        .add(route!(saml::login_org))
        .add(route!(saml::login_email))
        .add(route!(saml::acs))
        .add(route!(saml::select))
        .add(route!(saml::saml_token))
}

/// Documents, on every operation, the answers its extractors give whatever the handler does,
/// so the document promises every status code the server can send:
/// - a token is required (`Auth`, `ScimAuth`): 401 (no, unknown, expired or revoked token), 403
///   (MFA enrolment required, trial ended, or not allowed) and 429 (the API rate limit);
/// - parameters or a body are read (`Query`, `PathParam`, `Body`): 400 naming the field;
/// - a body is read: 413 over 1 MiB.
///
/// SCIM answers in its own media type, `application/scim+json` (RFC 7644 §3.1), errors included.
fn document_extractor_answers(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder};
    const SCIM: &str = "application/scim+json";
    for (path, item) in openapi.paths.paths.iter_mut() {
        let scim = path.starts_with("/scim/");
        for op in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let reads_input = has_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let answers = [
                (secured, "401", "No token, or an unknown, expired or revoked one"),
                (
                    secured,
                    "403",
                    "Not allowed; or the organization requires MFA enrolment first, or its trial has ended",
                ),
                (secured, "429", "Over the organization's rate limit for this route (see Retry-After)"),
                (reads_input, "400", "A parameter or the body is malformed; `field` names it"),
                (has_body, "413", "The body is larger than 1 MiB"),
            ];
            for (applies, status, description) in answers {
                if !applies || op.responses.responses.contains_key(status) {
                    continue;
                }
                let content = if scim {
                    (SCIM, ContentBuilder::new().schema(Some(ObjectBuilder::new())).build())
                } else {
                    ("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Failure"))).build())
                };
                let response = ResponseBuilder::new().description(description).content(content.0, content.1).build();
                op.responses.responses.insert(status.to_string(), RefOr::T(response));
            }
            if scim {
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = response
                        && let Some(json) = r.content.shift_remove("application/json")
                    {
                        r.content.insert(SCIM.to_string(), json);
                    }
                }
            }
        }
    }
}

#[cfg(not(feature = "saml"))]
fn with_saml<R: Registry>(registry: R) -> R {
    registry
}

// ---- Envelope shapes, for the OpenAPI document only (`crate::envelope` renders them). ----

/// The `request` half of every response.
#[derive(Serialize, ToSchema)]
pub struct RequestInfo {
    /// UUID of this request, also sent as `X-Request-Id`.
    pub id: String,
    /// Path and query of the request.
    pub url: String,
    pub method: String,
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Equal to the HTTP status.
    pub code: u16,
    /// The reason phrase, e.g. `OK`.
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ItemsResponse<T> {
    pub status: Status,
    /// A `spotinst:…` type tag for the items.
    pub kind: String,
    pub items: Vec<T>,
    /// Number of items.
    pub count: usize,
    /// Paged listings only (`limit`/`cursor`), while more pages follow.
    #[serde(rename = "paginationInfo", skip_serializing_if = "Option::is_none")]
    pub pagination_info: Option<PaginationInfo>,
}

/// Where the next page starts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginationInfo {
    /// Pass it as `cursor` to get the next page.
    pub next_cursor: String,
}

/// A successful response carrying items.
#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    pub request: RequestInfo,
    pub response: ItemsResponse<T>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: Status,
}

/// A successful action response (update, delete): the status alone.
#[derive(Serialize, ToSchema)]
pub struct Done {
    pub request: RequestInfo,
    pub response: StatusResponse,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorItem {
    /// Machine-readable code, e.g. `ValidationError`, `Account_DOESNT_EXIST`.
    pub code: String,
    pub message: String,
    /// Where the fault is, e.g. `body.account.name` or `query.accountId`.
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub status: Status,
    /// Absent on 401.
    pub errors: Option<Vec<ErrorItem>>,
}

/// Any error: 400, 401, 403, 404, 405, 413 or 500.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    pub request: RequestInfo,
    pub response: ErrorResponse,
}
