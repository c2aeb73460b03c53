//! Typed errors: [`ConfigError`] for refused IdP configurations, [`Rejection`] for refused
//! responses. Both carry a stable snake_case code for audit logs and a human message.

use thiserror::Error;

/// Why an identity-provider configuration (metadata upload or manual entry) was refused.
///
/// `Display` is a precise sentence suitable for an API error message; [`ConfigError::code`] is
/// a stable snake_case code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the metadata document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the metadata document contains a DOCTYPE or ENTITY declaration, which is not accepted")]
    DoctypeForbidden,
    #[error("the metadata document contains XML comments, which are not accepted")]
    CommentForbidden,
    #[error("the metadata document could not be read: {0}")]
    Malformed(String),
    #[error("the metadata has no entityID")]
    MissingEntityId,
    #[error("the metadata has no IDPSSODescriptor (is this an identity provider's metadata?)")]
    NoIdpSsoDescriptor,
    #[error("the metadata has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")]
    NoSsoService,
    #[error("the single sign-on URL is not an absolute http(s) URL: {0}")]
    InvalidSsoUrl(String),
    #[error("the metadata has no signing certificate (KeyDescriptor with an X509Certificate)")]
    NoSigningCertificate,
    #[error(
        "the metadata holds {count} different signing certificates; only one is accepted (remove the old certificate from the identity provider before rotating)"
    )]
    MultipleSigningCertificates { count: usize },
    #[error("the signing certificate is not a valid X.509 certificate: {0}")]
    InvalidCertificate(String),
    #[error("the signing certificate's RSA key has {bits} bits; at least 2048 are required")]
    WeakKey { bits: u32 },
    #[error("the signing certificate's key type is not supported (RSA of 2048 bits or more, or ECDSA, is required)")]
    UnsupportedKeyType,
}

impl ConfigError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::TooLarge { .. } => "too_large",
            ConfigError::DoctypeForbidden => "doctype_forbidden",
            ConfigError::CommentForbidden => "comment_forbidden",
            ConfigError::Malformed(_) => "malformed",
            ConfigError::MissingEntityId => "missing_entity_id",
            ConfigError::NoIdpSsoDescriptor => "no_idp_sso_descriptor",
            ConfigError::NoSsoService => "no_sso_service",
            ConfigError::InvalidSsoUrl(_) => "invalid_sso_url",
            ConfigError::NoSigningCertificate => "no_signing_certificate",
            ConfigError::MultipleSigningCertificates { .. } => "multiple_signing_certificates",
            ConfigError::InvalidCertificate(_) => "invalid_certificate",
            ConfigError::WeakKey { .. } => "weak_key",
            ConfigError::UnsupportedKeyType => "unsupported_key_type",
        }
    }
}

/// Why a SAML response was refused. [`Rejection::reason`] is a stable snake_case code for the
/// audit log; `Display` adds detail (never show it to the end user verbatim if you prefer a
/// generic "sign-in failed").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("the SAMLResponse is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the response contains a DOCTYPE or ENTITY declaration")]
    DoctypeForbidden,
    #[error("the response contains an XML comment")]
    CommentInSignedContent,
    #[error("the response could not be read: {0}")]
    Malformed(String),
    #[error("the document holds {0} assertions; exactly one is accepted")]
    MultipleAssertions(usize),
    #[error("encrypted assertions are not supported")]
    EncryptedAssertionUnsupported,
    #[error("the response is not signed")]
    SignatureMissing,
    #[error("signature or digest algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
    #[error("the response is signed with a certificate other than the configured one")]
    WrongCertificate,
    #[error("the signature does not verify against the configured certificate")]
    SignatureInvalid,
    #[error("the identity provider reported status {0}")]
    StatusNotSuccess(String),
    #[error("the assertion has expired: {0}")]
    Expired(String),
    #[error("the assertion is not valid yet: {0}")]
    NotYetValid(String),
    #[error("the assertion is not meant for this service provider (audience)")]
    WrongAudience,
    #[error("the subject confirmation's Recipient is not this service provider's ACS URL")]
    WrongRecipient,
    #[error("the response's Destination is not this service provider's ACS URL: {0:?}")]
    WrongDestination(Option<String>),
    #[error("the issuer is not the configured identity provider: {0:?}")]
    WrongIssuer(Option<String>),
    #[error("unsolicited (IdP-initiated) responses are not allowed")]
    Unsolicited,
    #[error("InResponseTo does not match a pending authentication request")]
    InResponseToMismatch,
    #[error("the assertion has no usable bearer SubjectConfirmation")]
    SubjectConfirmationMissing,
    #[error("the assertion has no NameID")]
    MissingNameId,
    #[error("required attribute {0} is missing or empty")]
    MissingAttribute(&'static str),
    #[error("attribute {0} has several different values")]
    AmbiguousAttribute(&'static str),
    #[error("the identity-provider configuration is unusable: {0}")]
    IdpConfigInvalid(String),
}

impl Rejection {
    /// Stable snake_case reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::DoctypeForbidden => "doctype_forbidden",
            Rejection::CommentInSignedContent => "comment_in_signed_content",
            Rejection::Malformed(_) => "malformed",
            Rejection::MultipleAssertions(_) => "multiple_assertions",
            Rejection::EncryptedAssertionUnsupported => "encrypted_assertion_unsupported",
            Rejection::SignatureMissing => "signature_missing",
            Rejection::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Rejection::WrongCertificate => "wrong_certificate",
            Rejection::SignatureInvalid => "signature_invalid",
            Rejection::StatusNotSuccess(_) => "status_not_success",
            Rejection::Expired(_) => "expired",
            Rejection::NotYetValid(_) => "not_yet_valid",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::WrongRecipient => "wrong_recipient",
            Rejection::WrongDestination(_) => "wrong_destination",
            Rejection::WrongIssuer(_) => "wrong_issuer",
            Rejection::Unsolicited => "unsolicited",
            Rejection::InResponseToMismatch => "in_response_to_mismatch",
            Rejection::SubjectConfirmationMissing => "subject_confirmation_missing",
            Rejection::MissingNameId => "missing_name_id",
            Rejection::MissingAttribute(_) => "missing_attribute",
            Rejection::AmbiguousAttribute(_) => "ambiguous_attribute",
            Rejection::IdpConfigInvalid(_) => "idp_config_invalid",
        }
    }
}
