use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use samael::metadata::EntityDescriptor;

use super::fixtures::*;
use crate::{ConfigError, IdpConfig, authn_request, sp_metadata};

fn key_descriptor(use_: Option<&str>, cert_b64: &str) -> String {
    let use_attr = use_.map(|u| format!(r#" use="{u}""#)).unwrap_or_default();
    format!(
        r#"<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
    )
}

fn metadata(keys: &str, services: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by the IdP -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    {services}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

const SERVICES: &str = concat!(
    r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso/post"/>"#,
    r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso/redirect"/>"#
);

#[test]
fn good_metadata_accepted() {
    let c = ctx();
    let xml = metadata(
        &format!(
            "{}{}",
            key_descriptor(Some("signing"), &c.idp_keys.cert_b64()),
            key_descriptor(Some("encryption"), &c.attacker.cert_b64())
        ),
        SERVICES,
    );
    let idp = IdpConfig::from_metadata(&xml).expect("accepted");
    assert_eq!(idp.entity_id(), IDP_ENTITY);
    assert_eq!(idp.sso_url(), "https://idp.example.com/sso/redirect");
    assert_eq!(idp.signing_cert_der(), c.idp_keys.cert_der().as_slice());

    // Only HTTP-POST: that one. Certificate without `use`, split over lines like real metadata.
    let wrapped: String =
        c.idp_keys.cert_b64().as_bytes().chunks(64).map(|l| format!("\n{}", std::str::from_utf8(l).unwrap())).collect();
    let post_only = metadata(
        &key_descriptor(None, &wrapped),
        r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso/post"/>"#,
    );
    let idp = IdpConfig::from_metadata(&post_only).unwrap();
    assert_eq!(idp.sso_url(), "https://idp.example.com/sso/post");
    assert_eq!(
        idp,
        IdpConfig::from_der(IDP_ENTITY, "https://idp.example.com/sso/post", c.idp_keys.cert_der()).unwrap()
    );

    // The same certificate listed twice is still one certificate.
    let twice = metadata(
        &format!(
            "{}{}",
            key_descriptor(Some("signing"), &c.idp_keys.cert_b64()),
            key_descriptor(Some("signing"), &c.idp_keys.cert_b64())
        ),
        SERVICES,
    );
    assert!(IdpConfig::from_metadata(&twice).is_ok());
}

#[test]
fn metadata_without_signing_certificate_refused() {
    let xml = metadata("", SERVICES);
    let err = IdpConfig::from_metadata(&xml).unwrap_err();
    assert_eq!(err, ConfigError::NoSigningCertificate);
    assert_eq!(err.code(), "no_signing_certificate");
    // An encryption-only key is not a signing key.
    let enc_only = metadata(&key_descriptor(Some("encryption"), &ctx().idp_keys.cert_b64()), SERVICES);
    assert_eq!(IdpConfig::from_metadata(&enc_only), Err(ConfigError::NoSigningCertificate));
}

#[test]
fn metadata_with_two_signing_certificates_refused() {
    let c = ctx();
    let xml = metadata(
        &format!(
            "{}{}",
            key_descriptor(Some("signing"), &c.idp_keys.cert_b64()),
            key_descriptor(Some("signing"), &c.attacker.cert_b64())
        ),
        SERVICES,
    );
    let err = IdpConfig::from_metadata(&xml).unwrap_err();
    assert_eq!(err, ConfigError::MultipleSigningCertificates { count: 2 });
    assert!(err.to_string().contains("only one"));
}

#[test]
fn weak_rsa_key_refused() {
    let weak = KeyPair::generate("weak.example", 1024);
    let xml = metadata(&key_descriptor(Some("signing"), &weak.cert_b64()), SERVICES);
    assert_eq!(IdpConfig::from_metadata(&xml), Err(ConfigError::WeakKey { bits: 1024 }));
    assert_eq!(IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, &weak.cert_pem()), Err(ConfigError::WeakKey { bits: 1024 }));
}

#[test]
fn metadata_doctype_and_other_refusals() {
    let c = ctx();
    let good = metadata(&key_descriptor(Some("signing"), &c.idp_keys.cert_b64()), SERVICES);
    let body = strip_decl(&good);
    let with_doctype = format!(r#"<!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>{body}"#);
    assert_eq!(IdpConfig::from_metadata(&with_doctype), Err(ConfigError::DoctypeForbidden));

    let huge = format!("{body}{}", " ".repeat(crate::MAX_METADATA_BYTES));
    assert_eq!(IdpConfig::from_metadata(&huge), Err(ConfigError::TooLarge { limit: crate::MAX_METADATA_BYTES }));

    let no_sso = metadata(&key_descriptor(Some("signing"), &c.idp_keys.cert_b64()), "");
    assert_eq!(IdpConfig::from_metadata(&no_sso), Err(ConfigError::NoSsoService));

    // SP metadata instead of IdP metadata.
    let sp = sp_metadata(&c.sp).unwrap();
    assert_eq!(IdpConfig::from_metadata(&sp), Err(ConfigError::NoIdpSsoDescriptor));

    let garbage_cert = metadata(&key_descriptor(Some("signing"), "bm90IGEgY2VydGlmaWNhdGU="), SERVICES);
    assert_eq!(IdpConfig::from_metadata(&garbage_cert).unwrap_err().code(), "invalid_certificate");

    assert_eq!(IdpConfig::from_metadata("<not-xml").unwrap_err().code(), "malformed");
    let entities = r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>"#;
    assert_eq!(IdpConfig::from_metadata(entities).unwrap_err().code(), "malformed");
}

#[test]
fn from_parts_checks() {
    let c = ctx();
    let from_pem = IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, &c.idp_keys.cert_pem()).unwrap();
    let from_b64 = IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, &c.idp_keys.cert_b64()).unwrap();
    assert_eq!(from_pem, from_b64);
    assert_eq!(from_pem, c.idp);

    let garbage = "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n";
    assert_eq!(IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, garbage).unwrap_err().code(), "invalid_certificate");
    assert_eq!(IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, "%%%").unwrap_err().code(), "invalid_certificate");
    assert_eq!(IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, "").unwrap_err().code(), "invalid_certificate");
    let two = format!("{}{}", c.idp_keys.cert_pem(), c.attacker.cert_pem());
    assert_eq!(
        IdpConfig::from_parts(IDP_ENTITY, IDP_SSO, &two),
        Err(ConfigError::MultipleSigningCertificates { count: 2 })
    );
    assert_eq!(IdpConfig::from_parts("", IDP_SSO, &c.idp_keys.cert_pem()), Err(ConfigError::MissingEntityId));
    assert_eq!(
        IdpConfig::from_parts(IDP_ENTITY, "javascript:alert(1)", &c.idp_keys.cert_pem()).unwrap_err().code(),
        "invalid_sso_url"
    );
    // Trailing bytes after the DER certificate.
    let mut der = c.idp_keys.cert_der();
    der.extend_from_slice(b"xx");
    assert_eq!(IdpConfig::from_der(IDP_ENTITY, IDP_SSO, der).unwrap_err().code(), "invalid_certificate");
}

#[test]
fn idp_config_serde_round_trip_revalidates() {
    let c = ctx();
    let json = serde_json::to_string(&c.idp).unwrap();
    assert!(json.contains(r#""signing_cert":""#));
    let back: IdpConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.idp);

    let weak = KeyPair::generate("weak.example", 1024);
    let tampered = serde_json::json!({"entity_id": IDP_ENTITY, "sso_url": IDP_SSO, "signing_cert": weak.cert_b64()});
    let err = serde_json::from_value::<IdpConfig>(tampered).unwrap_err();
    assert!(err.to_string().contains("2048"), "{err}");
    let no_cert = serde_json::json!({"entity_id": IDP_ENTITY, "sso_url": IDP_SSO, "signing_cert": ""});
    assert!(serde_json::from_value::<IdpConfig>(no_cert).is_err());
}

#[test]
fn sp_metadata_parses_back() {
    let c = ctx();
    let xml = sp_metadata(&c.sp).unwrap();
    let ed: EntityDescriptor = xml.parse().expect("our metadata parses");
    assert_eq!(ed.entity_id.as_deref(), Some(SP_ENTITY));
    let sp = &ed.sp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(sp.assertion_consumer_services[0].location, ACS);
    assert_eq!(sp.assertion_consumer_services[0].binding, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    assert_eq!(sp.want_assertions_signed, Some(true));
    assert_eq!(sp.authn_requests_signed, Some(false));
    assert_eq!(
        sp.name_id_formats.as_deref(),
        Some(&["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_string()][..])
    );
    assert!(xml.contains(r#"WantAssertionsSigned="true""#) && xml.contains(r#"AuthnRequestsSigned="false""#));
}

#[test]
fn authn_request_redirect_decodes() {
    let c = ctx();
    let org_id = "606079870000";
    let req = authn_request(&c.sp, &c.idp, org_id, Utc::now()).unwrap();
    assert!(req.id.starts_with('_') && req.id.len() == 41, "{}", req.id);
    let other = authn_request(&c.sp, &c.idp, org_id, Utc::now()).unwrap();
    assert_ne!(req.id, other.id);

    let url = url::Url::parse(&req.redirect_url).unwrap();
    assert!(req.redirect_url.starts_with(IDP_SSO));
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["RelayState"], org_id);
    let deflated = B64.decode(&params["SAMLRequest"]).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..]).read_to_string(&mut xml).unwrap();
    let parsed: samael::schema::AuthnRequest = xml.parse().expect("AuthnRequest parses");
    assert_eq!(parsed.id, req.id);
    assert_eq!(parsed.destination.as_deref(), Some(IDP_SSO));
    assert_eq!(parsed.assertion_consumer_service_url.as_deref(), Some(ACS));
    assert_eq!(parsed.issuer.and_then(|i| i.value).as_deref(), Some(SP_ENTITY));
    assert!(parsed.signature.is_none());
    assert!(xml.contains("nameid-format:emailAddress"), "{xml}");
}
