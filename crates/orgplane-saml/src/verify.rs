//! Verification of a SAML `Response` (or a bare `Assertion`) from the configured IdP.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use samael::crypto::{AllowedSignatureAlgorithm, ReduceMode, decode_x509_cert};
use samael::schema::{Assertion, SubjectConfirmation};
use samael::service_provider::{Error as SamlError, ServiceProvider};

use crate::error::Rejection;
use crate::idp::IdpConfig;
use crate::scan::{self, NS_ASSERTION, NS_PROTOCOL, Scan, ScanError};
use crate::sp::SpConfig;

/// Largest `SAMLResponse` accepted, checked before base64 decoding (256 KiB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default tolerated clock difference with the IdP.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::seconds(60);
/// Default maximum age of a response/assertion `IssueInstant` (the skew is added on top).
pub const DEFAULT_MAX_ISSUE_DELAY: Duration = Duration::seconds(180);

/// The only signature algorithms accepted (no SHA-1, no DSA).
pub const ALLOWED_SIGNATURE_ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The attribute names Spot requires (case-sensitive).
pub const ATTR_EMAIL: &str = "Email";
/// See [`ATTR_EMAIL`].
pub const ATTR_FIRST_NAME: &str = "FirstName";
/// See [`ATTR_EMAIL`].
pub const ATTR_LAST_NAME: &str = "LastName";

/// How the response arrived.
#[derive(Clone, Copy, Debug)]
pub enum SamlResponse<'a> {
    /// The `SAMLResponse` form field of the HTTP-POST binding (base64 of a `samlp:Response`).
    Base64(&'a str),
    /// Raw XML: a `samlp:Response` or a bare signed `saml:Assertion` (the "exchange an assertion
    /// for a token" path).
    Xml(&'a str),
}

/// Everything [`verify_response`] needs.
#[derive(Clone, Debug)]
pub struct ResponseInput<'a> {
    pub response: SamlResponse<'a>,
    pub idp: &'a IdpConfig,
    pub sp: &'a SpConfig,
    /// `Some(ids)`: SP-initiated; `InResponseTo` must be one of `ids` (the AuthnRequest ids stored
    /// with the browser session). `None`: unsolicited (IdP-initiated).
    pub possible_request_ids: Option<Vec<String>>,
    /// Accept unsolicited responses when `possible_request_ids` is `None`. Default false.
    pub allow_idp_initiated: bool,
    /// The current time (the server's clock).
    pub now: DateTime<Utc>,
    /// Tolerated clock difference; default [`DEFAULT_CLOCK_SKEW`].
    pub clock_skew: Duration,
    /// Maximum age of `IssueInstant`; default [`DEFAULT_MAX_ISSUE_DELAY`].
    pub max_issue_delay: Duration,
}

impl<'a> ResponseInput<'a> {
    /// An input with the defaults: unsolicited responses refused, no pending request ids (so set
    /// `possible_request_ids` for SP-initiated logins), default skew and issue delay.
    pub fn new(response: SamlResponse<'a>, idp: &'a IdpConfig, sp: &'a SpConfig, now: DateTime<Utc>) -> Self {
        ResponseInput {
            response,
            idp,
            sp,
            possible_request_ids: None,
            allow_idp_initiated: false,
            now,
            clock_skew: DEFAULT_CLOCK_SKEW,
            max_issue_delay: DEFAULT_MAX_ISSUE_DELAY,
        }
    }
}

/// A verified login. Everything here comes from the signed content only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLogin {
    /// The assertion's `ID`: the server must remember it until [`VerifiedLogin::not_on_or_after`]
    /// and refuse it if seen again (replay).
    pub assertion_id: String,
    /// Until when this assertion would be accepted (earliest of Conditions/SubjectConfirmationData
    /// `NotOnOrAfter`, plus the clock skew): keep the replay-cache entry at least until then.
    pub not_on_or_after: DateTime<Utc>,
    /// The request this answers (SP-initiated), `None` for IdP-initiated logins.
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Every attribute by `Name`, all values in document order (Role, OrgAndRole,
    /// OrgAndUserGroups, AccAndRole, AccAndPolicyIds, …).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// `SessionIndex` of the first AuthnStatement, if any.
    pub session_index: Option<String>,
}

/// Verifies a SAML response; see the crate documentation for the list of checks.
pub fn verify_response(input: &ResponseInput<'_>) -> Result<VerifiedLogin, Rejection> {
    // 1. Size cap before decoding, then decode.
    let decoded;
    let (xml, bare_assertion_allowed) = match input.response {
        SamlResponse::Base64(b64) => {
            if b64.len() > MAX_RESPONSE_BYTES {
                return Err(Rejection::TooLarge { limit: MAX_RESPONSE_BYTES });
            }
            let compact: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            let bytes = B64.decode(&compact).map_err(|e| Rejection::Malformed(format!("not base64: {e}")))?;
            decoded = String::from_utf8(bytes).map_err(|_| Rejection::Malformed("not UTF-8".into()))?;
            (decoded.as_str(), false)
        }
        SamlResponse::Xml(xml) => {
            if xml.len() > MAX_RESPONSE_BYTES {
                return Err(Rejection::TooLarge { limit: MAX_RESPONSE_BYTES });
            }
            (xml, true)
        }
    };

    // 2. Pre-scan: no DTD/entities, no comments, no PI/CDATA, well-formed, one root.
    let facts = scan::scan(xml, false).map_err(|e| match e {
        ScanError::Doctype => Rejection::DoctypeForbidden,
        ScanError::Comment => Rejection::CommentInSignedContent,
        ScanError::Malformed(m) => Rejection::Malformed(m),
    })?;
    let is_response = facts.root_is(NS_PROTOCOL, "Response");
    let bare_assertion = bare_assertion_allowed && facts.root_is(NS_ASSERTION, "Assertion");
    if !(is_response || bare_assertion) {
        return Err(Rejection::Malformed("the root element is not a SAML protocol Response".into()));
    }
    if facts.encrypted {
        return Err(Rejection::EncryptedAssertionUnsupported);
    }
    // Exactly one Assertion and at most one Response anywhere in the document: every XML
    // signature wrapping shape needs a second copy of the signed element.
    if facts.assertions != 1 {
        return Err(if facts.assertions == 0 {
            Rejection::Malformed("no Assertion".into())
        } else {
            Rejection::MultipleAssertions(facts.assertions)
        });
    }
    if facts.responses > 1 {
        return Err(Rejection::Malformed("nested Response elements".into()));
    }

    // 3. Envelope checks on the (possibly unsigned) Response: these can only reject.
    if is_response {
        envelope_checks(&facts, input)?;
    }

    // 4. Signature presence and algorithms (diagnostics; samael enforces the same list).
    if facts.signatures.is_empty() {
        return Err(Rejection::SignatureMissing);
    }
    for sig in &facts.signatures {
        let method = sig.signature_method.clone().unwrap_or_default();
        if !ALLOWED_SIGNATURE_ALGORITHMS.iter().any(|a| a.signature_uri() == method) {
            return Err(Rejection::AlgorithmNotAllowed(method));
        }
        if let Some(d) =
            sig.digest_methods.iter().find(|d| !ALLOWED_SIGNATURE_ALGORITHMS.iter().any(|a| a.digest_uri() == *d))
        {
            return Err(Rejection::AlgorithmNotAllowed(d.clone()));
        }
    }

    verify_signed(xml, &facts, input)
}

/// Steps 5 and 6: samael (signature, reduction, its profile checks), then ours. `facts` is only
/// used to explain a signature failure.
pub(crate) fn verify_signed(xml: &str, facts: &Scan, input: &ResponseInput<'_>) -> Result<VerifiedLogin, Rejection> {
    // 5. samael: xmlsec verification against the pinned certificate, reduction to the signed
    //    content, then its SAML profile checks.
    let sp_initiated = input.possible_request_ids.is_some();
    let provider = ServiceProvider {
        entity_id: Some(input.sp.entity_id.clone()),
        acs_url: Some(input.sp.acs_url.clone()),
        metadata_url: None,
        slo_url: None,
        idp_metadata: input.idp.to_samael_metadata(),
        allow_idp_initiated: !sp_initiated && input.allow_idp_initiated,
        max_clock_skew: input.clock_skew,
        max_issue_delay: input.max_issue_delay + input.clock_skew,
        allowed_signature_algorithms: Some(ALLOWED_SIGNATURE_ALGORITHMS.to_vec()),
        ..ServiceProvider::default()
    };
    // Guardrail: samael skips verification entirely when the IdP metadata has no certificate.
    match provider.idp_signing_certs() {
        Ok(Some(certs)) if certs.len() == 1 && certs[0] == input.idp.pinned_cert() => {}
        Ok(_) => return Err(Rejection::IdpConfigInvalid("samael does not see exactly the pinned certificate".into())),
        Err(e) => return Err(Rejection::IdpConfigInvalid(e.to_string())),
    }
    let ids: Option<Vec<&str>> = input.possible_request_ids.as_ref().map(|v| v.iter().map(String::as_str).collect());
    // PreDigest: what samael parses is exactly the bytes xmlsec digested for the one verified
    // reference (the Response's when both it and the Assertion are signed), never a pruned copy
    // of the document. It is also the mode that leaves libxml2 nothing to leak: the pruning
    // modes make a signed Assertion the document root with libxml 0.3.3's
    // `set_root_element`, which drops the old root instead of freeing it (~2.3 KB a response).
    let assertion = provider
        .parse_xml_response_with_mode(xml, ids.as_deref(), ReduceMode::PreDigest)
        .map_err(|e| map_samael_error(e, facts, input.idp, sp_initiated))?;

    // 6. Our own checks on the verified assertion, with the caller's clock.
    assertion_checks(&assertion, input)
}

fn envelope_checks(facts: &Scan, input: &ResponseInput<'_>) -> Result<(), Rejection> {
    if let Some(status) = &facts.top_status
        && status != STATUS_SUCCESS
    {
        return Err(Rejection::StatusNotSuccess(status.clone()));
    }
    if let Some(dest) = facts.root_attribute("Destination")
        && dest != input.sp.acs_url
    {
        return Err(Rejection::WrongDestination(Some(dest.to_string())));
    }
    if let Some(issuer) = &facts.root_issuer
        && issuer.trim() != input.idp.entity_id()
    {
        return Err(Rejection::WrongIssuer(Some(issuer.clone())));
    }
    match (facts.root_attribute("InResponseTo"), &input.possible_request_ids) {
        (Some(irt), Some(ids)) if !ids.iter().any(|i| i == irt) => return Err(Rejection::InResponseToMismatch),
        (Some(_), None) => return Err(unsolicited_or_mismatch(input)),
        _ => {}
    }
    Ok(())
}

/// A response carrying InResponseTo while we have no pending request.
fn unsolicited_or_mismatch(input: &ResponseInput<'_>) -> Rejection {
    if input.allow_idp_initiated { Rejection::InResponseToMismatch } else { Rejection::Unsolicited }
}

fn map_samael_error(err: SamlError, facts: &Scan, idp: &IdpConfig, sp_initiated: bool) -> Rejection {
    use SamlError as E;
    match err {
        E::FailedToValidateSignature => {
            let foreign = facts
                .signatures
                .iter()
                .flat_map(|s| s.certificates.iter())
                .any(|c| decode_x509_cert(c).map(|d| d.der_data() != idp.signing_cert_der()).unwrap_or(true));
            if foreign { Rejection::WrongCertificate } else { Rejection::SignatureInvalid }
        }
        E::DestinationValidationError { response_destination, .. } => Rejection::WrongDestination(response_destination),
        E::AssertionExpired { time }
        | E::ResponseExpired { time }
        | E::AssertionConditionExpired { time }
        | E::AssertionSubjectConfirmationExpired { time } => Rejection::Expired(time),
        E::AssertionConditionExpiredBefore { time } | E::AssertionSubjectConfirmationExpiredBefore { time } => {
            Rejection::NotYetValid(time)
        }
        E::AssertionIssuerMismatch { issuer, .. } | E::ResponseIssuerMismatch { issuer, .. } => {
            Rejection::WrongIssuer(issuer)
        }
        E::AssertionConditionAudienceRestrictionFailed { .. } => Rejection::WrongAudience,
        E::AssertionRecipientMismatch { .. } => Rejection::WrongRecipient,
        E::AssertionInResponseToInvalid { .. } | E::ResponseInResponseToInvalid { .. } => {
            if sp_initiated {
                Rejection::InResponseToMismatch
            } else {
                Rejection::Unsolicited
            }
        }
        E::ResponseBadStatusCode { code } => Rejection::StatusNotSuccess(code),
        E::EncryptedAssertionsNotYetSupported
        | E::MissingPrivateKeySP
        | E::MissingEncryptedKeyInfo
        | E::MissingEncryptedValueInfo
        | E::EncryptedAssertionKeyMethodUnsupported { .. }
        | E::EncryptedAssertionValueMethodUnsupported { .. }
        | E::EncryptedAssertionInvalid
        | E::FailedToDecryptAssertion => Rejection::EncryptedAssertionUnsupported,
        E::AssertionBearerSubjectConfirmationMissing | E::AssertionSubjectConfirmationMissing => {
            Rejection::SubjectConfirmationMissing
        }
        E::FailedToParseCert { .. } => Rejection::IdpConfigInvalid("the pinned certificate does not parse".into()),
        other => Rejection::Malformed(format!("{other}")),
    }
}

fn assertion_checks(assertion: &Assertion, input: &ResponseInput<'_>) -> Result<VerifiedLogin, Rejection> {
    let now = input.now;
    let skew = input.clock_skew;
    let issuer = assertion.issuer.value.clone().unwrap_or_default();
    if issuer != input.idp.entity_id() {
        return Err(Rejection::WrongIssuer(assertion.issuer.value.clone()));
    }
    if assertion.issue_instant > now + skew {
        return Err(Rejection::NotYetValid(format!("IssueInstant {}", assertion.issue_instant)));
    }
    if assertion.issue_instant + input.max_issue_delay + skew < now {
        return Err(Rejection::Expired(format!("IssueInstant {}", assertion.issue_instant)));
    }

    // Conditions: the audience restriction is mandatory here (samael only checks it when present),
    // and every AudienceRestriction element must name us (SAML core 2.5.1.4).
    let conditions = assertion.conditions.as_ref().ok_or(Rejection::WrongAudience)?;
    if let Some(nb) = conditions.not_before
        && now + skew < nb
    {
        return Err(Rejection::NotYetValid(format!("Conditions NotBefore {nb}")));
    }
    if let Some(noa) = conditions.not_on_or_after
        && now >= noa + skew
    {
        return Err(Rejection::Expired(format!("Conditions NotOnOrAfter {noa}")));
    }
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or_default();
    if restrictions.is_empty() || !restrictions.iter().all(|r| r.audience.contains(&input.sp.entity_id)) {
        return Err(Rejection::WrongAudience);
    }

    // Subject and its bearer confirmation.
    let subject = assertion.subject.as_ref().ok_or(Rejection::MissingNameId)?;
    let bearers: Vec<&SubjectConfirmation> =
        subject.subject_confirmations.iter().flatten().filter(|c| c.method.as_deref() == Some(BEARER)).collect();
    let mut first_error = None;
    let mut accepted = None;
    for bearer in bearers {
        match check_bearer(bearer, input) {
            Ok(ok) => {
                accepted = Some(ok);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let (scd_not_on_or_after, in_response_to) =
        accepted.ok_or_else(|| first_error.unwrap_or(Rejection::SubjectConfirmationMissing))?;

    let name_id = subject.name_id.as_ref().ok_or(Rejection::MissingNameId)?;
    let name_id_value = name_id.value.trim().to_string();
    if name_id_value.is_empty() {
        return Err(Rejection::MissingNameId);
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let Some(name) = attribute.name.clone() else { continue };
            let values = attributes.entry(name).or_default();
            values.extend(attribute.values.iter().filter_map(|v| v.value.clone()));
        }
    }
    let email = single_value(&attributes, ATTR_EMAIL)?;
    let first_name = single_value(&attributes, ATTR_FIRST_NAME)?;
    let last_name = single_value(&attributes, ATTR_LAST_NAME)?;

    let expiry = match conditions.not_on_or_after {
        Some(c) => c.min(scd_not_on_or_after),
        None => scd_not_on_or_after,
    };
    Ok(VerifiedLogin {
        assertion_id: assertion.id.clone(),
        not_on_or_after: expiry + skew,
        in_response_to,
        issuer,
        name_id: name_id_value,
        name_id_format: name_id.format.clone(),
        email,
        first_name,
        last_name,
        attributes,
        session_index: assertion.authn_statements.iter().flatten().find_map(|s| s.session_index.clone()),
    })
}

/// One bearer SubjectConfirmation: returns its NotOnOrAfter and InResponseTo when acceptable.
fn check_bearer(
    bearer: &SubjectConfirmation,
    input: &ResponseInput<'_>,
) -> Result<(DateTime<Utc>, Option<String>), Rejection> {
    let data = bearer.subject_confirmation_data.as_ref().ok_or(Rejection::SubjectConfirmationMissing)?;
    if data.recipient.as_deref() != Some(input.sp.acs_url.as_str()) {
        return Err(Rejection::WrongRecipient);
    }
    if let Some(nb) = data.not_before
        && input.now + input.clock_skew < nb
    {
        return Err(Rejection::NotYetValid(format!("SubjectConfirmationData NotBefore {nb}")));
    }
    let noa = data.not_on_or_after.ok_or(Rejection::SubjectConfirmationMissing)?;
    if input.now >= noa + input.clock_skew {
        return Err(Rejection::Expired(format!("SubjectConfirmationData NotOnOrAfter {noa}")));
    }
    match (&input.possible_request_ids, &data.in_response_to) {
        (Some(ids), Some(irt)) if ids.iter().any(|i| i == irt) => Ok((noa, Some(irt.clone()))),
        (Some(_), _) => Err(Rejection::InResponseToMismatch),
        (None, None) if input.allow_idp_initiated => Ok((noa, None)),
        (None, Some(_)) => Err(unsolicited_or_mismatch(input)),
        (None, None) => Err(Rejection::Unsolicited),
    }
}

fn single_value(attributes: &BTreeMap<String, Vec<String>>, name: &'static str) -> Result<String, Rejection> {
    let values: Vec<&str> =
        attributes.get(name).into_iter().flatten().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
    let first = values.first().ok_or(Rejection::MissingAttribute(name))?;
    if values.iter().any(|v| v != first) {
        return Err(Rejection::AmbiguousAttribute(name));
    }
    Ok(first.to_string())
}
