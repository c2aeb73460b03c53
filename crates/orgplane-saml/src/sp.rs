//! Our side: the service provider's metadata and the SP-initiated AuthnRequest.

use chrono::{DateTime, Utc};
use samael::metadata::{EntityDescriptor, HTTP_POST_BINDING, IndexedEndpoint, NameIdFormat, SpSsoDescriptor};
use samael::service_provider::ServiceProvider;
use samael::traits::ToXml;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::idp::IdpConfig;

/// This service provider (one per organization or per deployment, as the server decides).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpConfig {
    /// SP entity id; also the `Audience` the assertions must name.
    pub entity_id: String,
    /// Assertion Consumer Service URL (HTTP-POST); the expected `Destination` and `Recipient`.
    pub acs_url: String,
}

/// An SP-initiated authentication request, ready for the HTTP-Redirect binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnRequest {
    /// The request's `ID`: store it with the browser session and pass it back as
    /// `possible_request_ids` when the response arrives.
    pub id: String,
    /// The IdP's SSO URL with `SAMLRequest` (deflate + base64) and `RelayState` query parameters.
    pub redirect_url: String,
}

/// A fresh, unpredictable xs:ID: `_` followed by 160 random bits in hex.
pub(crate) fn random_id() -> Result<String, ConfigError> {
    let mut bytes = [0u8; 20];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| ConfigError::Malformed(format!("no randomness: {e}")))?;
    let mut id = String::with_capacity(41);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// The SP metadata document (an `EntityDescriptor` with one `SPSSODescriptor`):
/// AssertionConsumerService HTTP-POST at `acs_url`, `WantAssertionsSigned="true"`,
/// `AuthnRequestsSigned="false"`, NameIDFormat emailAddress. No signing/encryption key (we do not
/// sign requests and do not accept encrypted assertions), no SingleLogoutService (none in Spot).
pub fn sp_metadata(sp: &SpConfig) -> Result<String, ConfigError> {
    let descriptor = EntityDescriptor {
        entity_id: Some(sp.entity_id.clone()),
        sp_sso_descriptors: Some(vec![SpSsoDescriptor {
            protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_string()),
            authn_requests_signed: Some(false),
            want_assertions_signed: Some(true),
            name_id_formats: Some(vec![NameIdFormat::EmailAddressNameIDFormat.value().to_string()]),
            assertion_consumer_services: vec![IndexedEndpoint {
                binding: HTTP_POST_BINDING.to_string(),
                location: sp.acs_url.clone(),
                index: 0,
                is_default: Some(true),
                ..IndexedEndpoint::default()
            }],
            ..SpSsoDescriptor::default()
        }]),
        ..EntityDescriptor::default()
    };
    descriptor.to_string().map_err(|e| ConfigError::Malformed(format!("cannot write SP metadata: {e}")))
}

/// Builds an unsigned AuthnRequest (HTTP-Redirect binding) for `idp`, asking for an
/// emailAddress NameID and an HTTP-POST response to `sp.acs_url`. `relay_state` is sent as the
/// `RelayState` parameter (Spot: the organization id); `now` becomes `IssueInstant`.
pub fn authn_request(
    sp: &SpConfig,
    idp: &IdpConfig,
    relay_state: &str,
    now: DateTime<Utc>,
) -> Result<AuthnRequest, ConfigError> {
    let provider = ServiceProvider {
        entity_id: Some(sp.entity_id.clone()),
        acs_url: Some(sp.acs_url.clone()),
        metadata_url: None,
        slo_url: None,
        authn_name_id_format: Some(NameIdFormat::EmailAddressNameIDFormat.value().to_string()),
        idp_metadata: idp.to_samael_metadata(),
        ..ServiceProvider::default()
    };
    let mut request = provider
        .make_authentication_request(idp.sso_url())
        .map_err(|e| ConfigError::Malformed(format!("cannot build the AuthnRequest: {e}")))?;
    request.id = random_id()?;
    request.issue_instant = now;
    let url = request
        .redirect(relay_state)
        .map_err(|e| ConfigError::Malformed(format!("cannot encode the AuthnRequest: {e}")))?
        .ok_or_else(|| ConfigError::InvalidSsoUrl(idp.sso_url().to_string()))?;
    Ok(AuthnRequest { id: request.id, redirect_url: url.to_string() })
}
