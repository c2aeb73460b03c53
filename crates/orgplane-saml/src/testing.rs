//! Test fixtures (crate tests, and other crates' tests through the non-default `testing`
//! feature): RSA key pairs with self-signed certificates, a SAML Response template ([`Spec`])
//! signed by libxmlsec, and IdP metadata ([`idp_metadata`]). Panics on any failure: tests only.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use samael::crypto::{Crypto, CryptoProvider};

use crate::{IdpConfig, ResponseInput, SamlResponse, SpConfig};

pub const IDP_ENTITY: &str = "https://idp.example.com/metadata";
pub const IDP_SSO: &str = "https://idp.example.com/sso/redirect";
pub const SP_ENTITY: &str = "https://orgplane.example/saml/metadata";
pub const ACS: &str = "https://orgplane.example/auth/saml";
pub const REQUEST_ID: &str = "_req0123456789abcdef";
pub const ALICE: &str = "alice@idp.example";
pub const ATTACKER_EMAIL: &str = "admin@victim.example";

pub const RSA_SHA256: (&str, &str) =
    ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256");
pub const RSA_SHA1: (&str, &str) =
    ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1");

pub struct KeyPair {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl KeyPair {
    pub fn generate(cn: &str, bits: u32) -> KeyPair {
        let key = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand_u32()).unwrap().to_asn1_integer().unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(365).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        KeyPair { key, cert: b.build() }
    }
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap()
    }
    pub fn cert_b64(&self) -> String {
        B64.encode(self.cert_der())
    }
    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap()).unwrap()
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_le_bytes(b) >> 1
}

pub struct Ctx {
    pub idp_keys: KeyPair,
    pub attacker: KeyPair,
    pub idp: IdpConfig,
    pub sp: SpConfig,
}

pub fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| {
        let idp_keys = KeyPair::generate("idp.example.com", 2048);
        let attacker = KeyPair::generate("idp.example.com", 2048);
        let idp = IdpConfig::from_der(IDP_ENTITY, IDP_SSO, idp_keys.cert_der()).unwrap();
        let sp = SpConfig { entity_id: SP_ENTITY.to_string(), acs_url: ACS.to_string() };
        Ctx { idp_keys, attacker, idp, sp }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    Assertion,
    Response,
    /// Assertion signed, then the Response around it (what Okta does when both are enabled).
    Both,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub response_id: String,
    pub assertion_id: String,
    pub response_issuer: Option<String>,
    pub assertion_issuer: String,
    pub destination: Option<String>,
    pub response_in_response_to: Option<String>,
    pub scd_in_response_to: Option<String>,
    pub recipient: String,
    pub audience: String,
    pub name_id: String,
    pub attributes: Vec<(String, Vec<String>)>,
    pub issue_instant: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub status: String,
    pub sign: Sign,
    pub algorithms: (&'static str, &'static str),
    /// Replace the Assertion by an EncryptedAssertion.
    pub encrypted: bool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Spec {
    /// A good SP-initiated response for Alice, assertion signed.
    pub fn sp_initiated() -> Spec {
        let now = Utc::now();
        Spec {
            response_id: "_resp7f3a1c".into(),
            assertion_id: "_assert9d2e4b".into(),
            response_issuer: Some(IDP_ENTITY.into()),
            assertion_issuer: IDP_ENTITY.into(),
            destination: Some(ACS.into()),
            response_in_response_to: Some(REQUEST_ID.into()),
            scd_in_response_to: Some(REQUEST_ID.into()),
            recipient: ACS.into(),
            audience: SP_ENTITY.into(),
            name_id: ALICE.into(),
            attributes: vec![
                ("Email".into(), vec![ALICE.into()]),
                ("FirstName".into(), vec!["Alice".into()]),
                ("LastName".into(), vec!["Liddell".into()]),
                ("Role".into(), vec!["VIEWER".into()]),
                (
                    "OrgAndRole".into(),
                    vec!["SPOTINST-606079870000-VIEWER".into(), "SPOTINST-606079870001-ADMIN".into()],
                ),
            ],
            issue_instant: now - Duration::seconds(5),
            not_before: now - Duration::seconds(5),
            not_on_or_after: now + Duration::minutes(5),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            sign: Sign::Assertion,
            algorithms: RSA_SHA256,
            encrypted: false,
        }
    }

    pub fn idp_initiated() -> Spec {
        Spec { response_in_response_to: None, scd_in_response_to: None, ..Spec::sp_initiated() }
    }

    fn signature_template(&self, id: &str, cert_b64: &str) -> String {
        let (sig, digest) = self.algorithms;
        format!(
            concat!(
                r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
                r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
                r##"<ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms>"##,
                r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
                r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>"#,
                r#"<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference>"#,
                r#"</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"#,
                r#"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#
            ),
            sig = sig,
            digest = digest,
            id = id,
            cert = cert_b64
        )
    }

    /// The response with a signature template (empty DigestValue/SignatureValue) where `sign` says.
    pub fn template(&self, cert_b64: &str) -> String {
        let response_sig = if self.sign == Sign::Response {
            self.signature_template(&self.response_id, cert_b64)
        } else {
            String::new()
        };
        let assertion_sig = if self.sign == Sign::Assertion {
            self.signature_template(&self.assertion_id, cert_b64)
        } else {
            String::new()
        };
        let mut attrs = String::new();
        for (name, values) in &self.attributes {
            attrs.push_str(&format!(
                r#"<saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">"#
            ));
            for v in values {
                attrs.push_str(&format!(r#"<saml:AttributeValue xsi:type="xs:string">{v}</saml:AttributeValue>"#));
            }
            attrs.push_str("</saml:Attribute>");
        }
        let scd_irt = self.scd_in_response_to.as_ref().map(|i| format!(r#" InResponseTo="{i}""#)).unwrap_or_default();
        let assertion = if self.encrypted {
            concat!(
                r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" "#,
                r#"Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:CipherData><xenc:CipherValue>AAAA"#,
                r#"</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#
            )
            .to_string()
        } else {
            format!(
                concat!(
                    r#"<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" "#,
                    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" Version="2.0" IssueInstant="{ii}">"#,
                    r#"<saml:Issuer>{aissuer}</saml:Issuer>{asig}<saml:Subject>"#,
                    r#"<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID>"#,
                    r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
                    r#"<saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{recipient}"{scd_irt}/>"#,
                    r#"</saml:SubjectConfirmation></saml:Subject>"#,
                    r#"<saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction>"#,
                    r#"<saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
                    r#"<saml:AuthnStatement AuthnInstant="{ii}" SessionIndex="_session42"><saml:AuthnContext>"#,
                    r#"<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"#,
                    r#"</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
                    r#"<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"#
                ),
                aid = self.assertion_id,
                ii = ts(self.issue_instant),
                aissuer = self.assertion_issuer,
                asig = assertion_sig,
                name_id = self.name_id,
                noa = ts(self.not_on_or_after),
                nb = ts(self.not_before),
                recipient = self.recipient,
                scd_irt = scd_irt,
                audience = self.audience,
                attrs = attrs,
            )
        };
        let destination = self.destination.as_ref().map(|d| format!(r#" Destination="{d}""#)).unwrap_or_default();
        let irt = self.response_in_response_to.as_ref().map(|i| format!(r#" InResponseTo="{i}""#)).unwrap_or_default();
        let issuer =
            self.response_issuer.as_ref().map(|i| format!("<saml:Issuer>{i}</saml:Issuer>")).unwrap_or_default();
        format!(
            concat!(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
                r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" "#,
                r#"IssueInstant="{ii}"{destination}{irt}>{issuer}{rsig}<samlp:Status>"#,
                r#"<samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#
            ),
            rid = self.response_id,
            ii = ts(self.issue_instant),
            destination = destination,
            irt = irt,
            issuer = issuer,
            rsig = response_sig,
            status = self.status,
            assertion = assertion,
        )
    }

    /// The response signed by `keys` (its certificate goes in KeyInfo).
    pub fn signed_by(&self, keys: &KeyPair) -> String {
        if self.sign != Sign::Both {
            return sign_xml(&self.template(&keys.cert_b64()), keys);
        }
        let inner = sign_xml(&Spec { sign: Sign::Assertion, ..self.clone() }.template(&keys.cert_b64()), keys);
        // The Response template goes before Status, i.e. before the already signed Assertion, so
        // it is the first ds:Signature xmlsec finds.
        let outer_template = self.signature_template(&self.response_id, &keys.cert_b64());
        let with_outer = strip_decl(&inner).replacen("<samlp:Status>", &format!("{outer_template}<samlp:Status>"), 1);
        sign_xml(&with_outer, keys)
    }

    /// The response signed by the real IdP.
    pub fn signed(&self) -> String {
        self.signed_by(&ctx().idp_keys)
    }
}

/// Signs the first `ds:Signature` template in `xml` with libxmlsec (through samael).
pub fn sign_xml(xml: &str, keys: &KeyPair) -> String {
    let der = keys.key.private_key_to_der().unwrap();
    let out = Crypto::sign_xml(xml, &der).expect("xmlsec signing failed");
    // libxml2 prepends an XML declaration; keep it (real IdPs send one too).
    assert!(out.contains("<ds:SignatureValue>") && !out.contains("<ds:SignatureValue></ds:SignatureValue>"));
    out
}

pub fn b64(xml: &str) -> String {
    B64.encode(xml.as_bytes())
}

/// Verification input for an SP-initiated login expecting REQUEST_ID.
pub fn input(b64_response: &str) -> ResponseInput<'_> {
    let c = ctx();
    let mut i = ResponseInput::new(SamlResponse::Base64(b64_response), &c.idp, &c.sp, Utc::now());
    i.possible_request_ids = Some(vec![REQUEST_ID.to_string()]);
    i
}

/// Verifies an SP-initiated response given as XML (base64-encoded on the way, like a form post).
pub fn verify_sp(xml: &str) -> Result<crate::VerifiedLogin, crate::Rejection> {
    let encoded = b64(xml);
    crate::verify_response(&input(&encoded))
}

/// The reason of a rejection, or "accepted".
pub fn reason(r: &Result<crate::VerifiedLogin, crate::Rejection>) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(e) => e.reason(),
    }
}

/// Byte range of the first element starting with `open` (e.g. `<saml:Assertion `) up to and
/// including its matching `close` tag (no nesting of the same element assumed).
pub fn element(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let start = xml.find(open).unwrap_or_else(|| panic!("{open} not found"));
    let end = xml[start..].find(close).unwrap_or_else(|| panic!("{close} not found")) + start + close.len();
    (start, end)
}

/// The document without its leading XML declaration.
pub fn strip_decl(xml: &str) -> &str {
    let t = xml.trim_start();
    if t.starts_with("<?xml") { t[t.find("?>").unwrap() + 2..].trim_start() } else { t }
}

/// An IdP `EntityDescriptor` with one signing certificate and an HTTP-Redirect SSO endpoint.
pub fn idp_metadata(entity_id: &str, sso_url: &str, cert_b64: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" "#,
            r#"xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">"#,
            r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" "#,
            r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}"#,
            r#"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"#,
            r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" "#,
            r#"Location="{sso}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
        entity = entity_id,
        cert = cert_b64,
        sso = sso_url
    )
}
