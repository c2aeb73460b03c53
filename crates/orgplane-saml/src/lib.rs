//! orgplane's SAML 2.0 service-provider core: a strict wrapper around
//! [samael](https://docs.rs/samael/0.0.22) 0.0.22 (libxmlsec1 through its `xmlsec` feature).
//!
//! No I/O, no HTTP types, no database, no async. Everything is synchronous and CPU-bound
//! (libxml2/xmlsec): call it inside `spawn_blocking`.
//!
//! # API
//!
//! * [`IdpConfig`]: the identity provider as an organization admin configures it (entity id,
//!   SSO URL, exactly one pinned signing certificate). Built by [`IdpConfig::from_metadata`]
//!   (uploaded `EntityDescriptor`), [`IdpConfig::from_parts`] (PEM or base64 certificate) or
//!   [`IdpConfig::from_der`]; serde (de)serializes it as
//!   `{"entity_id", "sso_url", "signing_cert": "<base64 DER>"}` and re-runs every check on
//!   deserialization. Failures are [`ConfigError`] (precise `Display` sentence, stable
//!   [`ConfigError::code`]).
//! * [`SpConfig`] `{ entity_id, acs_url }`, [`sp_metadata`] (our `EntityDescriptor`) and
//!   [`authn_request`] (unsigned HTTP-Redirect AuthnRequest with a random 160-bit `ID`).
//! * [`verify_response`] with a [`ResponseInput`] → [`VerifiedLogin`] or a [`Rejection`] whose
//!   [`Rejection::reason`] is a stable snake_case code for the audit log.
//!
//! # What `verify_response` checks, in order
//!
//! 1. Size: at most [`MAX_RESPONSE_BYTES`] (256 KiB) of base64, before decoding.
//! 2. A streaming pre-scan (quick-xml, no DTD support) before libxml2 sees anything: any
//!    `<!DOCTYPE`/`<!ENTITY` → `doctype_forbidden`; any XML comment anywhere →
//!    `comment_in_signed_content` (exc-c14n drops comments, so `user@evil.com<!---->.example.com`
//!    keeps a valid signature while naive readers see `user@evil.com`); processing instructions,
//!    CDATA, non-UTF-8 encodings, several roots, nesting deeper than 64 → `malformed`.
//!    `EncryptedAssertion`/`EncryptedID`/`EncryptedAttribute` → `encrypted_assertion_unsupported`
//!    (Spot does not support them). More than one `saml:Assertion` anywhere →
//!    `multiple_assertions`, a nested `samlp:Response` → `malformed`: every XML signature wrapping
//!    shape (XSW1–8) needs a second copy of the signed element, so they stop here; samael's own
//!    reduction is the second line (see the tests for what it does with each shape alone).
//! 3. The Response envelope, even where unsigned (these checks can only reject): top-level
//!    `StatusCode` must be Success, `Destination` (when present) must be the ACS URL, `Issuer`
//!    (when present) must be the IdP, `InResponseTo` (when present) must be a pending request.
//! 4. At least one `ds:Signature`; every SignatureMethod must be RSA-SHA256/384/512 or
//!    ECDSA-SHA256/384/512 and every DigestMethod SHA-256/384/512 (`algorithm_not_allowed`).
//! 5. samael with `allowed_signature_algorithms` set, IdP metadata that carries exactly our one
//!    pinned certificate (checked through `idp_signing_certs()` before every parse: samael skips
//!    verification when there is none), `ReduceMode::PreDigest`: xmlsec verifies every signature
//!    against the pinned key, duplicate IDs are refused, and what samael parses next is the
//!    pre-digest content of the one verified reference (the signed Response when there is one,
//!    else the signed Assertion) — the exact bytes that were digested; then samael's
//!    Destination/Issuer/Status/InResponseTo/time/Audience/Recipient checks.
//!    A failed signature is reported `wrong_certificate` when the signature embeds another
//!    certificate, else `signature_invalid` (the embedded certificate is never trusted).
//! 6. Our checks on the assertion samael returns (signed content only), with the caller's `now`
//!    and `clock_skew`: Issuer, IssueInstant age, Conditions NotBefore/NotOnOrAfter, an
//!    AudienceRestriction naming our entity id is REQUIRED (every restriction must name us), a
//!    bearer SubjectConfirmation with Recipient = ACS URL, NotOnOrAfter present and not passed,
//!    InResponseTo in `possible_request_ids` (SP-initiated) or absent (IdP-initiated, only when
//!    `allow_idp_initiated`), a non-empty NameID, and the attributes `Email`, `FirstName`,
//!    `LastName` (case-sensitive names; one distinct non-empty value each).
//!
//! samael checks times against the system clock (`Utc::now()`), our step 6 against
//! `ResponseInput::now`: both must pass.
//!
//! Replay protection is the caller's job: store [`VerifiedLogin::assertion_id`] until
//! [`VerifiedLogin::not_on_or_after`] and refuse a second use.
//!
//! # Rejection reasons
//!
//! `too_large`, `doctype_forbidden`, `comment_in_signed_content`, `malformed`,
//! `multiple_assertions`, `encrypted_assertion_unsupported`, `signature_missing`, `algorithm_not_allowed`,
//! `wrong_certificate`, `signature_invalid`, `status_not_success`, `expired`, `not_yet_valid`,
//! `wrong_audience`, `wrong_recipient`, `wrong_destination`, `wrong_issuer`, `unsolicited`,
//! `in_response_to_mismatch`, `subject_confirmation_missing`, `missing_name_id`,
//! `missing_attribute`, `ambiguous_attribute`, `idp_config_invalid`.
//!
//! # Test fixtures
//!
//! The non-default feature `testing` exports [`testing`] (only for tests of dependent crates):
//! RSA key pairs with self-signed certificates, a SAML Response template (`testing::Spec`) and
//! xmlsec signing, so other crates can sign assertions for their own tests.
//!
//! # Build
//!
//! samael's build script runs bindgen: Debian needs `libclang-dev libxmlsec1-dev libxml2-dev
//! libssl-dev pkg-config`. The whole crate is the optional piece: the server should depend on
//! it under its own default-on `saml` feature, so a build without libclang/xmlsec stays possible.
//!
//! libxmlsec1 writes its verification errors to stderr. Neither samael 0.0.22 nor the `libxml`
//! crate exposes a safe way to install an error callback, and this workspace forbids `unsafe`,
//! so they are not silenced here.

mod error;
mod idp;
mod scan;
mod sp;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod verify;

pub use chrono;
pub use error::{ConfigError, Rejection};
pub use idp::{IdpConfig, MAX_METADATA_BYTES, MIN_RSA_BITS};
pub use sp::{AuthnRequest, SpConfig, authn_request, sp_metadata};
pub use verify::{
    ALLOWED_SIGNATURE_ALGORITHMS, ATTR_EMAIL, ATTR_FIRST_NAME, ATTR_LAST_NAME, DEFAULT_CLOCK_SKEW,
    DEFAULT_MAX_ISSUE_DELAY, MAX_RESPONSE_BYTES, ResponseInput, SamlResponse, VerifiedLogin, verify_response,
};
