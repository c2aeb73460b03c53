//! The identity provider as an organization admin configures it: one entity id, one single
//! sign-on URL and exactly one pinned signing certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::Id as KeyId;
use openssl::x509::X509;
use samael::crypto::{CertificateDer, decode_x509_cert};
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    Endpoint, EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING, IdpSsoDescriptor, KeyDescriptor,
};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::scan::{self, NS_METADATA, ScanError};

/// Largest metadata document accepted by [`IdpConfig::from_metadata`] (512 KiB).
pub const MAX_METADATA_BYTES: usize = 512 * 1024;

/// Smallest RSA modulus accepted for the IdP signing key.
pub const MIN_RSA_BITS: u32 = 2048;

/// A validated identity-provider configuration. It can only be built through
/// [`IdpConfig::from_metadata`], [`IdpConfig::from_parts`] or deserialization, all of which run
/// the same checks, so an `IdpConfig` always pins exactly one usable signing certificate.
///
/// Serialized (serde) as `{"entity_id": …, "sso_url": …, "signing_cert": "<base64 DER>"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredIdpConfig", into = "StoredIdpConfig")]
pub struct IdpConfig {
    entity_id: String,
    sso_url: String,
    signing_cert_der: Vec<u8>,
}

impl std::fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("entity_id", &self.entity_id)
            .field("sso_url", &self.sso_url)
            .field("signing_cert_der", &format_args!("{} bytes", self.signing_cert_der.len()))
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredIdpConfig {
    entity_id: String,
    sso_url: String,
    /// Base64 (standard alphabet) of the DER certificate.
    signing_cert: String,
}

impl TryFrom<StoredIdpConfig> for IdpConfig {
    type Error = ConfigError;
    fn try_from(s: StoredIdpConfig) -> Result<Self, ConfigError> {
        IdpConfig::from_parts(&s.entity_id, &s.sso_url, &s.signing_cert)
    }
}

impl From<IdpConfig> for StoredIdpConfig {
    fn from(c: IdpConfig) -> Self {
        StoredIdpConfig { entity_id: c.entity_id, sso_url: c.sso_url, signing_cert: B64.encode(&c.signing_cert_der) }
    }
}

impl IdpConfig {
    /// Reads an IdP `EntityDescriptor` metadata document (the file an admin uploads).
    ///
    /// Refused: larger than [`MAX_METADATA_BYTES`]; any DOCTYPE/ENTITY; not an `EntityDescriptor`
    /// root; no entityID; no `IDPSSODescriptor`; no `SingleSignOnService` with the HTTP-Redirect
    /// (preferred) or HTTP-POST binding; no signing certificate; more than one distinct signing
    /// certificate; a certificate that is not X.509; an RSA key under 2048 bits.
    /// Certificates are taken from `KeyDescriptor use="signing"` and from KeyDescriptors without
    /// `use` (encryption-only ones are ignored). Comments are tolerated in metadata (IdPs write
    /// them); they are refused in responses.
    pub fn from_metadata(xml: &str) -> Result<Self, ConfigError> {
        if xml.len() > MAX_METADATA_BYTES {
            return Err(ConfigError::TooLarge { limit: MAX_METADATA_BYTES });
        }
        let facts = match scan::scan(xml, true) {
            Ok(f) => f,
            Err(ScanError::Doctype) => return Err(ConfigError::DoctypeForbidden),
            Err(ScanError::Comment) => return Err(ConfigError::CommentForbidden),
            Err(ScanError::Malformed(m)) => return Err(ConfigError::Malformed(m)),
        };
        if !facts.root_is(NS_METADATA, "EntityDescriptor") {
            let found = facts.root.map(|(_, l)| l).unwrap_or_default();
            return Err(ConfigError::Malformed(format!(
                "expected a SAML metadata EntityDescriptor root element, found {found}"
            )));
        }
        let descriptor: EntityDescriptor = xml.parse().map_err(|e| ConfigError::Malformed(format!("{e}")))?;
        let entity_id =
            descriptor.entity_id.clone().filter(|e| !e.trim().is_empty()).ok_or(ConfigError::MissingEntityId)?;
        let idps = descriptor.idp_sso_descriptors.as_deref().unwrap_or_default();
        if idps.is_empty() {
            return Err(ConfigError::NoIdpSsoDescriptor);
        }
        let sso_url = [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
            .iter()
            .find_map(|binding| {
                idps.iter().flat_map(|d| d.single_sign_on_services.iter()).find(|s| s.binding == *binding)
            })
            .map(|s| s.location.clone())
            .ok_or(ConfigError::NoSsoService)?;

        // Same selection rule as samael's ServiceProvider::idp_signing_certs: signing keys, or
        // (only when there are none) keys without a declared use.
        let keys: Vec<&KeyDescriptor> = idps.iter().flat_map(|d| d.key_descriptors.iter()).collect();
        let mut chosen: Vec<&KeyDescriptor> = keys.iter().copied().filter(|k| k.is_signing()).collect();
        if chosen.is_empty() {
            chosen = keys.iter().copied().filter(|k| k.key_use.as_deref().is_none_or(str::is_empty)).collect();
        }
        let mut certs: Vec<Vec<u8>> = Vec::new();
        for key in chosen {
            for text in key.key_info.x509_data.iter().flat_map(|d| d.certificates.iter()) {
                let der = decode_x509_cert(text)
                    .map_err(|e| ConfigError::InvalidCertificate(format!("not base64: {e}")))?
                    .der_data()
                    .to_vec();
                if !certs.contains(&der) {
                    certs.push(der);
                }
            }
        }
        match certs.len() {
            0 => Err(ConfigError::NoSigningCertificate),
            1 => Self::from_der(&entity_id, &sso_url, certs.remove(0)),
            count => Err(ConfigError::MultipleSigningCertificates { count }),
        }
    }

    /// Builds a configuration from parts typed in by an admin. `certificate` is either PEM
    /// (exactly one `CERTIFICATE` block) or the bare base64 of the DER certificate (as found in
    /// metadata). Same checks as [`IdpConfig::from_metadata`].
    pub fn from_parts(entity_id: &str, sso_url: &str, certificate: &str) -> Result<Self, ConfigError> {
        let text = certificate.trim();
        let der = if text.starts_with("-----BEGIN") {
            let mut stack = X509::stack_from_pem(text.as_bytes())
                .map_err(|e| ConfigError::InvalidCertificate(format!("bad PEM: {e}")))?;
            match stack.len() {
                0 => return Err(ConfigError::InvalidCertificate("no CERTIFICATE block in the PEM text".into())),
                1 => stack
                    .remove(0)
                    .to_der()
                    .map_err(|e| ConfigError::InvalidCertificate(format!("cannot re-encode: {e}")))?,
                count => return Err(ConfigError::MultipleSigningCertificates { count }),
            }
        } else {
            decode_x509_cert(text)
                .map_err(|e| ConfigError::InvalidCertificate(format!("neither PEM nor base64 DER: {e}")))?
                .der_data()
                .to_vec()
        };
        Self::from_der(entity_id, sso_url, der)
    }

    /// Builds a configuration from a DER certificate. Same checks as [`IdpConfig::from_parts`].
    pub fn from_der(entity_id: &str, sso_url: &str, signing_cert_der: Vec<u8>) -> Result<Self, ConfigError> {
        let entity_id = entity_id.trim();
        if entity_id.is_empty() || entity_id.len() > 1024 || entity_id.chars().any(char::is_control) {
            return Err(ConfigError::MissingEntityId);
        }
        let sso_url = sso_url.trim();
        match url::Url::parse(sso_url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.has_host() => {}
            _ => return Err(ConfigError::InvalidSsoUrl(sso_url.to_string())),
        }
        check_certificate(&signing_cert_der)?;
        Ok(IdpConfig { entity_id: entity_id.to_string(), sso_url: sso_url.to_string(), signing_cert_der })
    }

    /// The IdP's entity id (expected `Issuer`).
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// Where AuthnRequests are sent (HTTP-Redirect binding location when the metadata had one).
    pub fn sso_url(&self) -> &str {
        &self.sso_url
    }

    /// The one pinned signing certificate, DER.
    pub fn signing_cert_der(&self) -> &[u8] {
        &self.signing_cert_der
    }

    /// samael's view of this IdP: an EntityDescriptor with one IDPSSODescriptor carrying exactly
    /// our one pinned signing certificate.
    pub(crate) fn to_samael_metadata(&self) -> EntityDescriptor {
        EntityDescriptor {
            entity_id: Some(self.entity_id.clone()),
            idp_sso_descriptors: Some(vec![IdpSsoDescriptor {
                id: None,
                valid_until: None,
                cache_duration: None,
                error_url: None,
                signature: None,
                organization: None,
                contact_people: Vec::new(),
                artifact_resolution_service: Vec::new(),
                single_logout_services: Vec::new(),
                manage_name_id_services: Vec::new(),
                name_id_formats: Vec::new(),
                want_authn_requests_signed: None,
                name_id_mapping_services: Vec::new(),
                assertion_id_request_services: Vec::new(),
                attribute_profiles: Vec::new(),
                attributes: Vec::new(),
                protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_string()),
                key_descriptors: vec![KeyDescriptor {
                    key_use: Some("signing".to_string()),
                    key_info: KeyInfo {
                        id: None,
                        x509_data: Some(X509Data { certificates: vec![B64.encode(&self.signing_cert_der)] }),
                    },
                    encryption_methods: None,
                }],
                single_sign_on_services: vec![Endpoint {
                    binding: HTTP_REDIRECT_BINDING.to_string(),
                    location: self.sso_url.clone(),
                    response_location: None,
                }],
            }]),
            ..EntityDescriptor::default()
        }
    }

    pub(crate) fn pinned_cert(&self) -> CertificateDer {
        CertificateDer::from(self.signing_cert_der.clone())
    }
}

fn check_certificate(der: &[u8]) -> Result<(), ConfigError> {
    let cert = X509::from_der(der).map_err(|e| ConfigError::InvalidCertificate(e.to_string()))?;
    // Refuse trailing bytes or a non-canonical encoding: what we pin is exactly what we parsed.
    if cert.to_der().map_err(|e| ConfigError::InvalidCertificate(e.to_string()))? != der {
        return Err(ConfigError::InvalidCertificate("trailing or non-DER data".into()));
    }
    let key = cert.public_key().map_err(|e| ConfigError::InvalidCertificate(format!("unreadable public key: {e}")))?;
    match key.id() {
        KeyId::RSA => {
            if key.bits() < MIN_RSA_BITS {
                return Err(ConfigError::WeakKey { bits: key.bits() });
            }
        }
        KeyId::EC => {
            if key.bits() < 256 {
                return Err(ConfigError::UnsupportedKeyType);
            }
        }
        _ => return Err(ConfigError::UnsupportedKeyType),
    }
    Ok(())
}
