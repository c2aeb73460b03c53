use chrono::{Duration, SubsecRound as _, Utc};

use super::fixtures::*;
use crate::{Rejection, ResponseInput, SamlResponse, verify_response};

fn assert_alice(login: &crate::VerifiedLogin) {
    assert_eq!(login.name_id, ALICE);
    assert_eq!(login.email, ALICE);
    assert_eq!(login.first_name, "Alice");
    assert_eq!(login.last_name, "Liddell");
    assert_eq!(login.issuer, IDP_ENTITY);
}

#[test]
fn accepts_signed_assertion_sp_initiated() {
    let spec = Spec::sp_initiated();
    let login = verify_sp(&spec.signed()).expect("accepted");
    assert_alice(&login);
    assert_eq!(login.assertion_id, spec.assertion_id);
    assert_eq!(login.in_response_to.as_deref(), Some(REQUEST_ID));
    assert_eq!(login.not_on_or_after, spec.not_on_or_after.trunc_subsecs(0) + Duration::seconds(60));
    assert_eq!(login.attributes["Role"], vec!["VIEWER".to_string()]);
    assert_eq!(login.attributes["OrgAndRole"].len(), 2);
    assert_eq!(login.session_index.as_deref(), Some("_session42"));
    assert_eq!(login.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
}

#[test]
fn accepts_signed_response() {
    let spec = Spec { sign: Sign::Response, ..Spec::sp_initiated() };
    let login = verify_sp(&spec.signed()).expect("accepted");
    assert_alice(&login);
    assert_eq!(login.in_response_to.as_deref(), Some(REQUEST_ID));
}

#[test]
fn accepts_response_and_assertion_both_signed() {
    let spec = Spec { sign: Sign::Both, ..Spec::sp_initiated() };
    let xml = spec.signed();
    assert_eq!(xml.matches("<ds:SignatureValue>").count(), 2);
    assert_alice(&verify_sp(&xml).expect("accepted"));
    // RSA-SHA512 is on the allow-list too.
    let sha512 = Spec {
        algorithms: ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "http://www.w3.org/2001/04/xmlenc#sha512"),
        ..Spec::sp_initiated()
    };
    assert_alice(&verify_sp(&sha512.signed()).expect("rsa-sha512 accepted"));
    // Tampering breaks both.
    assert_eq!(reason(&verify_sp(&xml.replace(">Alice<", ">Mallory<"))), "signature_invalid");
}

#[test]
fn accepts_raw_xml_and_bare_assertion() {
    let c = ctx();
    let xml = Spec::sp_initiated().signed();
    let mut input = ResponseInput::new(SamlResponse::Xml(&xml), &c.idp, &c.sp, Utc::now());
    input.possible_request_ids = Some(vec![REQUEST_ID.into()]);
    assert_alice(&verify_response(&input).unwrap());

    // The signed Assertion alone (the "exchange an assertion for a token" path).
    let (s, e) = element(&xml, "<saml:Assertion ", "</saml:Assertion>");
    let bare = xml[s..e].replacen(
        "<saml:Assertion ",
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
        1,
    );
    let mut input = ResponseInput::new(SamlResponse::Xml(&bare), &c.idp, &c.sp, Utc::now());
    input.possible_request_ids = Some(vec![REQUEST_ID.into()]);
    assert_alice(&verify_response(&input).unwrap());
    // ...but not through the HTTP-POST form field, where a Response is required.
    let encoded = b64(&bare);
    assert_eq!(reason(&verify_response(&input_for(&encoded))), "malformed");
}

fn input_for(encoded: &str) -> ResponseInput<'_> {
    input(encoded)
}

#[test]
fn idp_initiated_only_when_allowed() {
    let xml = Spec::idp_initiated().signed();
    let encoded = b64(&xml);
    let mut i = input(&encoded);
    i.possible_request_ids = None;
    assert_eq!(reason(&verify_response(&i)), "unsolicited");
    i.allow_idp_initiated = true;
    let login = verify_response(&i).expect("accepted when allowed");
    assert_alice(&login);
    assert_eq!(login.in_response_to, None);

    // Signed Response variant too.
    let xml = Spec { sign: Sign::Response, ..Spec::idp_initiated() }.signed();
    let encoded = b64(&xml);
    let mut i = input(&encoded);
    i.possible_request_ids = None;
    assert_eq!(reason(&verify_response(&i)), "unsolicited");
    i.allow_idp_initiated = true;
    assert_alice(&verify_response(&i).unwrap());
}

#[test]
fn sp_initiated_response_without_pending_request_is_refused() {
    let encoded = b64(&Spec::sp_initiated().signed());
    let mut i = input(&encoded);
    i.possible_request_ids = None;
    assert_eq!(reason(&verify_response(&i)), "unsolicited");
    // Even where IdP-initiated logins are allowed, a response to someone else's request is not one.
    i.allow_idp_initiated = true;
    assert_eq!(reason(&verify_response(&i)), "in_response_to_mismatch");
}

#[test]
fn in_response_to_mismatch() {
    let encoded = b64(&Spec::sp_initiated().signed());
    let mut i = input(&encoded);
    i.possible_request_ids = Some(vec!["_another_request".into()]);
    assert_eq!(reason(&verify_response(&i)), "in_response_to_mismatch");

    // Only the (signed) SubjectConfirmationData carries it: samael's and our check.
    let xml = Spec { response_in_response_to: None, ..Spec::sp_initiated() }.signed();
    let encoded = b64(&xml);
    let mut i = input(&encoded);
    i.possible_request_ids = Some(vec!["_another_request".into()]);
    assert_eq!(reason(&verify_response(&i)), "in_response_to_mismatch");
    // IdP-initiated response (no InResponseTo at all) while a request is pending.
    assert_eq!(reason(&verify_sp(&Spec::idp_initiated().signed())), "in_response_to_mismatch");
}

#[test]
fn signature_removed() {
    let xml = Spec::sp_initiated().signed();
    let (s, e) = element(&xml, "<ds:Signature", "</ds:Signature>");
    let stripped = format!("{}{}", &xml[..s], &xml[e..]);
    assert_eq!(reason(&verify_sp(&stripped)), "signature_missing");
    // Also with the Response-signed variant.
    let xml = Spec { sign: Sign::Response, ..Spec::sp_initiated() }.signed();
    let (s, e) = element(&xml, "<ds:Signature", "</ds:Signature>");
    assert_eq!(reason(&verify_sp(&format!("{}{}", &xml[..s], &xml[e..]))), "signature_missing");
}

#[test]
fn altered_after_signing() {
    let xml = Spec::sp_initiated().signed();
    assert!(verify_sp(&xml).is_ok());
    let changed_attr = xml.replace(">Alice<", ">Mallory<");
    assert_ne!(changed_attr, xml);
    assert_eq!(reason(&verify_sp(&changed_attr)), "signature_invalid");
    let changed_name_id =
        xml.replacen(&format!(">{ALICE}</saml:NameID>"), &format!(">{ATTACKER_EMAIL}</saml:NameID>"), 1);
    assert_ne!(changed_name_id, xml);
    assert_eq!(reason(&verify_sp(&changed_name_id)), "signature_invalid");
    let changed_role = xml.replace(">VIEWER<", ">ADMIN<");
    assert_eq!(reason(&verify_sp(&changed_role)), "signature_invalid");

    // Response-signed: changing the assertion inside it breaks the Response signature.
    let xml = Spec { sign: Sign::Response, ..Spec::sp_initiated() }.signed();
    assert_eq!(reason(&verify_sp(&xml.replace(">Alice<", ">Mallory<"))), "signature_invalid");
}

#[test]
fn signed_by_attacker() {
    let c = ctx();
    let xml = Spec::sp_initiated().signed_by(&c.attacker);
    assert_eq!(reason(&verify_sp(&xml)), "wrong_certificate");
    // The attacker's signature with the real IdP certificate copied into KeyInfo.
    let template = Spec::sp_initiated().template(&c.idp_keys.cert_b64());
    assert_eq!(reason(&verify_sp(&sign_xml(&template, &c.attacker))), "signature_invalid");
    let xml = Spec { sign: Sign::Response, ..Spec::sp_initiated() }.signed_by(&c.attacker);
    assert_eq!(reason(&verify_sp(&xml)), "wrong_certificate");
}

#[test]
fn sha1_signature_refused() {
    let xml = Spec { algorithms: RSA_SHA1, ..Spec::sp_initiated() }.signed();
    assert_eq!(reason(&verify_sp(&xml)), "algorithm_not_allowed");
    // samael alone (past our pre-scan) refuses it too, through allowed_signature_algorithms.
    let c = ctx();
    let i = ResponseInput {
        possible_request_ids: Some(vec![REQUEST_ID.into()]),
        ..ResponseInput::new(SamlResponse::Xml(&xml), &c.idp, &c.sp, Utc::now())
    };
    let r = crate::verify::verify_signed(&xml, &Default::default(), &i);
    assert_eq!(reason(&r), "signature_invalid");
}

#[test]
fn expired_and_not_yet_valid() {
    let now = Utc::now();
    let expired = Spec {
        issue_instant: now - Duration::minutes(10),
        not_before: now - Duration::minutes(10),
        not_on_or_after: now - Duration::minutes(5),
        ..Spec::sp_initiated()
    };
    assert_eq!(reason(&verify_sp(&expired.signed())), "expired");
    let future = Spec {
        issue_instant: now + Duration::minutes(10),
        not_before: now + Duration::minutes(10),
        not_on_or_after: now + Duration::minutes(15),
        ..Spec::sp_initiated()
    };
    assert_eq!(reason(&verify_sp(&future.signed())), "not_yet_valid");

    // Our own clock checks use the caller's `now`: a fresh response checked "an hour later".
    let encoded = b64(&Spec::sp_initiated().signed());
    let mut i = input(&encoded);
    i.now = now + Duration::hours(1);
    assert_eq!(reason(&verify_response(&i)), "expired");
    i.now = now - Duration::hours(1);
    assert_eq!(reason(&verify_response(&i)), "not_yet_valid");
    // Within the skew: still fine.
    i.now = now + Duration::seconds(30);
    assert!(verify_response(&i).is_ok());
}

#[test]
fn wrong_audience_recipient_destination_issuer() {
    let s = Spec::sp_initiated();
    let wrong_aud = Spec { audience: "https://other-sp.example/metadata".into(), ..s.clone() };
    assert_eq!(reason(&verify_sp(&wrong_aud.signed())), "wrong_audience");
    let wrong_rcpt = Spec { recipient: "https://other-sp.example/acs".into(), ..s.clone() };
    assert_eq!(reason(&verify_sp(&wrong_rcpt.signed())), "wrong_recipient");
    let wrong_dest = Spec { destination: Some("https://other-sp.example/acs".into()), ..s.clone() };
    assert_eq!(reason(&verify_sp(&wrong_dest.signed())), "wrong_destination");
    let wrong_dest_signed =
        Spec { destination: Some("https://other-sp.example/acs".into()), sign: Sign::Response, ..s.clone() };
    assert_eq!(reason(&verify_sp(&wrong_dest_signed.signed())), "wrong_destination");
    let wrong_issuer = Spec {
        response_issuer: Some("https://evil-idp.example".into()),
        assertion_issuer: "https://evil-idp.example".into(),
        ..s.clone()
    };
    assert_eq!(reason(&verify_sp(&wrong_issuer.signed())), "wrong_issuer");
    // Only the signed assertion names another issuer.
    let wrong_assertion_issuer =
        Spec { response_issuer: None, assertion_issuer: "https://evil-idp.example".into(), ..s };
    assert_eq!(reason(&verify_sp(&wrong_assertion_issuer.signed())), "wrong_issuer");
}

#[test]
fn missing_audience_restriction_is_refused() {
    let template = Spec::sp_initiated().template(&ctx().idp_keys.cert_b64());
    let (s, e) = element(&template, "<saml:AudienceRestriction>", "</saml:AudienceRestriction>");
    let without = format!("{}{}", &template[..s], &template[e..]);
    assert_eq!(reason(&verify_sp(&sign_xml(&without, &ctx().idp_keys))), "wrong_audience");
}

#[test]
fn comment_injection_in_name_id_is_refused() {
    let victim = "user@evil.com.example.com";
    let spec = Spec {
        name_id: victim.into(),
        attributes: vec![
            ("Email".into(), vec![victim.into()]),
            ("FirstName".into(), vec!["Eve".into()]),
            ("LastName".into(), vec!["Evil".into()]),
        ],
        ..Spec::sp_initiated()
    };
    let xml = spec.signed();
    assert_eq!(verify_sp(&xml).unwrap().email, victim);
    let injected = xml.replace(victim, "user@evil.com<!---->.example.com");
    assert_ne!(injected, xml);
    let r = verify_sp(&injected);
    assert_eq!(reason(&r), "comment_in_signed_content");
    // What samael alone makes of it (past our pre-scan): the signature still verifies (exc-c14n
    // drops comments); whatever it returns must not be the truncated identity.
    let c = ctx();
    let i = ResponseInput {
        possible_request_ids: Some(vec![REQUEST_ID.into()]),
        ..ResponseInput::new(SamlResponse::Xml(&injected), &c.idp, &c.sp, Utc::now())
    };
    // samael alone, in the PreDigest mode we use, parses the bytes xmlsec digested: the
    // canonical form, comments dropped, so the identity is the whole signed one, never the
    // truncated `user@evil.com`. (The pruning modes refused it as a signature failure.)
    let login = crate::verify::verify_signed(&injected, &Default::default(), &i).expect("verified pre-digest content");
    assert_eq!(login.name_id, victim);
    assert_eq!(login.email, victim);
}

#[test]
fn doctype_and_entity_expansion_refused() {
    let xml = Spec::sp_initiated().signed();
    let body = strip_decl(&xml);
    let laughs = concat!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">"#,
        r#"<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">"#,
        r#"<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>"#
    );
    let bomb = format!("{laughs}{}", body.replacen(">Alice<", ">&lol3;<", 1));
    assert_eq!(reason(&verify_sp(&bomb)), "doctype_forbidden");
    // Lower-case and no internal subset.
    assert_eq!(reason(&verify_sp(&format!("<!doctype x>{body}"))), "doctype_forbidden");
    // An ENTITY declaration smuggled without DOCTYPE keyword is refused by the byte check as well.
    assert_eq!(reason(&verify_sp(&format!("<!ENTITY x \"y\">{body}"))), "doctype_forbidden");
}

#[test]
fn oversized_body_refused_before_decoding() {
    let huge = "A".repeat(crate::MAX_RESPONSE_BYTES + 4);
    assert_eq!(reason(&verify_response(&input(&huge))), "too_large");
    let c = ctx();
    let xml = format!("<x>{}</x>", " ".repeat(crate::MAX_RESPONSE_BYTES));
    let i = ResponseInput::new(SamlResponse::Xml(&xml), &c.idp, &c.sp, Utc::now());
    assert_eq!(reason(&verify_response(&i)), "too_large");
    assert_eq!(reason(&verify_response(&input("not base64 !!"))), "malformed");
}

#[test]
fn encrypted_assertion_refused() {
    let spec = Spec { encrypted: true, sign: Sign::Response, ..Spec::sp_initiated() };
    assert_eq!(reason(&verify_sp(&spec.signed())), "encrypted_assertion_unsupported");
}

#[test]
fn missing_required_attributes() {
    let base = Spec::sp_initiated();
    for missing in ["Email", "FirstName", "LastName"] {
        let spec = Spec {
            attributes: base.attributes.iter().filter(|(n, _)| n != missing).cloned().collect(),
            ..base.clone()
        };
        let r = verify_sp(&spec.signed());
        assert_eq!(
            r,
            Err(Rejection::MissingAttribute(match missing {
                "Email" => "Email",
                "FirstName" => "FirstName",
                _ => "LastName",
            }))
        );
        assert!(r.unwrap_err().to_string().contains(missing));
    }
    // Names are case-sensitive.
    let spec = Spec {
        attributes: base
            .attributes
            .iter()
            .map(|(n, v)| (if n == "Email" { "email".to_string() } else { n.clone() }, v.clone()))
            .collect(),
        ..base.clone()
    };
    assert_eq!(verify_sp(&spec.signed()), Err(Rejection::MissingAttribute("Email")));
    // Two different emails: ambiguous.
    let spec = Spec {
        attributes: base
            .attributes
            .iter()
            .map(|(n, v)| {
                if n == "Email" {
                    (n.clone(), vec![ALICE.into(), ATTACKER_EMAIL.into()])
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect(),
        ..base
    };
    assert_eq!(reason(&verify_sp(&spec.signed())), "ambiguous_attribute");
}

#[test]
fn status_not_success() {
    let requester = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    let spec = Spec { status: requester.into(), ..Spec::sp_initiated() };
    assert_eq!(verify_sp(&spec.signed()), Err(Rejection::StatusNotSuccess(requester.into())));
    let spec = Spec { status: requester.into(), sign: Sign::Response, ..Spec::sp_initiated() };
    assert_eq!(reason(&verify_sp(&spec.signed())), "status_not_success");
    // Unsigned error response (what IdPs typically send on failure).
    let xml = spec.template("");
    let (s, e) = element(&xml, "<ds:Signature", "</ds:Signature>");
    assert_eq!(reason(&verify_sp(&format!("{}{}", &xml[..s], &xml[e..]))), "status_not_success");
}

#[test]
fn unsigned_sibling_content_is_ignored() {
    // Assertion-signed response with an unsigned Extensions block carrying an extra attribute:
    // only the signed Assertion is consumed.
    let xml = Spec::sp_initiated().signed();
    let extra = concat!(
        r#"<samlp:Extensions><saml:Attribute Name="Role"><saml:AttributeValue>ADMIN</saml:AttributeValue>"#,
        r#"</saml:Attribute></samlp:Extensions>"#
    );
    let with_extra = xml.replacen("<samlp:Status>", &format!("{extra}<samlp:Status>"), 1);
    assert_ne!(with_extra, xml);
    let login = verify_sp(&with_extra).expect("accepted");
    assert_eq!(login.attributes["Role"], vec!["VIEWER".to_string()]);

    // An unsigned attribute added inside the signed assertion breaks the signature.
    let injected = xml.replacen(
        "<saml:AttributeStatement>",
        r#"<saml:AttributeStatement><saml:Attribute Name="Role"><saml:AttributeValue>ADMIN</saml:AttributeValue></saml:Attribute>"#,
        1,
    );
    assert_eq!(reason(&verify_sp(&injected)), "signature_invalid");
}

#[test]
fn processing_instructions_and_cdata_refused() {
    let xml = Spec::sp_initiated().signed();
    let pi = xml.replacen(">Alice<", "><?evil x?>Alice<", 1);
    assert_eq!(reason(&verify_sp(&pi)), "malformed");
    let cdata = xml.replacen(">Alice<", "><![CDATA[Alice]]><", 1);
    assert_eq!(reason(&verify_sp(&cdata)), "malformed");
}

#[test]
fn every_reason_is_distinct_snake_case() {
    let all = [
        Rejection::TooLarge { limit: 1 },
        Rejection::DoctypeForbidden,
        Rejection::CommentInSignedContent,
        Rejection::Malformed(String::new()),
        Rejection::MultipleAssertions(2),
        Rejection::EncryptedAssertionUnsupported,
        Rejection::SignatureMissing,
        Rejection::AlgorithmNotAllowed(String::new()),
        Rejection::WrongCertificate,
        Rejection::SignatureInvalid,
        Rejection::StatusNotSuccess(String::new()),
        Rejection::Expired(String::new()),
        Rejection::NotYetValid(String::new()),
        Rejection::WrongAudience,
        Rejection::WrongRecipient,
        Rejection::WrongDestination(None),
        Rejection::WrongIssuer(None),
        Rejection::Unsolicited,
        Rejection::InResponseToMismatch,
        Rejection::SubjectConfirmationMissing,
        Rejection::MissingNameId,
        Rejection::MissingAttribute("Email"),
        Rejection::AmbiguousAttribute("Email"),
        Rejection::IdpConfigInvalid(String::new()),
    ];
    let mut reasons: Vec<&str> = all.iter().map(Rejection::reason).collect();
    assert!(reasons.iter().all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len());
}
