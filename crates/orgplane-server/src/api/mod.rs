//! The HTTP API. Modules mirror Spot's URL tree: `setup/organization.rs` serves
//! `/setup/organization…`, `setup/account.rs` serves `/setup/account…`. orgplane's own additions
//! (`/auth`, `/oauth`) sit beside them and use the same envelope.
//!
//! Every route is registered through `routes!`, which reads the handler's `#[utoipa::path]`; a
//! route therefore cannot exist without its OpenAPI entry.

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
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
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

/// All API routes with their OpenAPI description. Each `routes!` call groups the handlers of
/// one path.
pub fn router() -> OpenApiRouter<AppState> {
    with_saml(OpenApiRouter::with_openapi(ApiDoc::openapi()))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(auth::register))
        .routes(routes!(auth::create_token, auth::list_tokens))
        .routes(routes!(auth::delete_token))
        .routes(routes!(oauth::token))
        .routes(routes!(mfa::enrol, mfa::disable))
        .routes(routes!(mfa::confirm))
        .routes(routes!(webauthn::register))
        .routes(routes!(webauthn::confirm))
        .routes(routes!(webauthn::list))
        .routes(routes!(webauthn::delete))
        .routes(routes!(webauthn::challenge))
        .routes(routes!(password::change))
        .routes(routes!(password::request_reset))
        .routes(routes!(password::confirm_reset))
        .routes(routes!(setup::organization::create, setup::organization::list))
        .routes(routes!(setup::organization::get, setup::organization::update, setup::organization::delete))
        .routes(routes!(setup::organization::users))
        .routes(routes!(setup::organization::security))
        .routes(routes!(setup::children::list, setup::children::create))
        .routes(routes!(setup::children::update, setup::children::unlink))
        .routes(routes!(setup::children::invite, setup::children::invitations))
        .routes(routes!(setup::children::accept))
        .routes(routes!(setup::children::delete_invitation))
        .routes(routes!(setup::scim::get, setup::scim::put))
        .routes(routes!(setup::scim::create_token))
        .routes(routes!(setup::scim::delete_token))
        .routes(routes!(scim::service_provider_config))
        .routes(routes!(scim::schemas))
        .routes(routes!(scim::resource_types))
        .routes(routes!(scim::list_users, scim::create_user))
        .routes(routes!(scim::get_user, scim::replace_user, scim::patch_user, scim::delete_user))
        .routes(routes!(scim::list_groups, scim::create_group))
        .routes(routes!(scim::get_group, scim::replace_group, scim::patch_group, scim::delete_group))
        .routes(routes!(scim::bulk))
        .routes(routes!(setup::user::reset_mfa))
        .routes(routes!(setup::organization::tokens))
        .routes(routes!(setup::organization::delete_token))
        .routes(routes!(setup::account::create, setup::account::list))
        .routes(routes!(setup::account::get, setup::account::update, setup::account::delete))
        .routes(routes!(setup::notifications::get, setup::notifications::put))
        .routes(routes!(setup::notifications::test))
        .routes(routes!(
            setup::account_user_mapping::attach,
            setup::account_user_mapping::update,
            setup::account_user_mapping::detach
        ))
        .routes(routes!(setup::account_user_mapping::get, setup::account_user_mapping::post))
        .routes(routes!(setup::user::create, setup::user::list))
        .routes(routes!(setup::user::create_programmatic))
        .routes(routes!(setup::user::get, setup::user::delete))
        .routes(routes!(setup::user::user_group_mapping))
        .routes(routes!(setup::user::policy_mapping))
        .routes(routes!(setup::user::policy_mapping_java))
        .routes(routes!(setup::access::policy::create, setup::access::policy::list_account))
        .routes(routes!(setup::access::policy::update, setup::access::policy::delete))
        .routes(routes!(setup::access::policy::list_org))
        .routes(routes!(setup::access::policy_action::list))
        .routes(routes!(setup::access::user_group::create, setup::access::user_group::list))
        .routes(routes!(
            setup::access::user_group::get,
            setup::access::user_group::update,
            setup::access::user_group::delete
        ))
        .routes(routes!(setup::access::user_group::user_mapping))
        .routes(routes!(setup::access::user_group::policy_mapping))
        .routes(routes!(setup::access::user_group::policy_mapping_java))
        .routes(routes!(setup::access::explain::explain))
        .routes(routes!(setup::credentials::mint_external_id))
        .routes(routes!(setup::credentials::get_external_id))
        .routes(routes!(setup::credentials::set_aws, setup::credentials::get_aws))
        .routes(routes!(azure::set, azure::get))
        .routes(routes!(azure::validate_credentials))
        .routes(routes!(azure::set_tenant))
        .routes(routes!(azure::validate_tenant))
        .routes(routes!(gcp::set, gcp::get))
        .routes(routes!(gcp::validate_credentials))
        .routes(routes!(notification_center::create, notification_center::list))
        .routes(routes!(notification_center::get, notification_center::update, notification_center::delete))
        .routes(routes!(notification_center::resources))
        .routes(routes!(notification_center::events))
        .routes(routes!(events::create, events::list))
        .routes(routes!(events::get, events::update, events::delete))
        .routes(routes!(events::get_account_policy, events::put_account_policy))
        .routes(routes!(billing::get))
        .routes(routes!(billing::activate))
        .routes(routes!(billing::ingest_usage))
        .routes(routes!(billing::bill))
        .routes(routes!(billing::trend_chart))
        .routes(routes!(billing::product_chart))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::count))
        .routes(routes!(notifications::mark_read))
        .routes(routes!(notifications::mark_all_read))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::set_webhook, audit::get_webhook, audit::delete_webhook))
}

/// The single sign-on routes (feature `saml`, on by default).
#[cfg(feature = "saml")]
fn with_saml(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(setup::sso::get, setup::sso::put, setup::sso::delete))
        .routes(routes!(saml::metadata))
        .routes(routes!(saml::login_org))
        .routes(routes!(saml::login_email))
        .routes(routes!(saml::acs))
        .routes(routes!(saml::select))
        .routes(routes!(saml::saml_token))
}

/// Documents, on every operation, the answers its extractors give whatever the handler does,
/// so the document promises every status code the server can send:
/// - a token is required (`Auth`, `ScimAuth`): 401 (no, unknown, expired or revoked token), 403
///   (MFA enrolment required, trial ended, or not allowed) and 429 (the API rate limit);
/// - parameters or a body are read (`Query`, `PathParam`, `Body`): 400 naming the field;
/// - a body is read: 413 over 1 MiB.
///
/// SCIM answers in its own media type, `application/scim+json` (RFC 7644 §3.1), errors included.
pub fn document_extractor_answers(openapi: &mut utoipa::openapi::OpenApi) {
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
fn with_saml(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
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
