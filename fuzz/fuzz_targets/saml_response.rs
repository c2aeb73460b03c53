//! SAML responses as an attacker would send them to the ACS, through the public entry point
//! `verify_response`: the size cap, base64 decoding, the streaming pre-scan (DOCTYPE/ENTITY,
//! comments, PI/CDATA, depth, one root, assertion/response counts, encrypted parts), the envelope
//! checks and, for what passes them, samael/xmlsec verification against the pinned certificate.
//! The IdP metadata parser (an admin's upload) gets the same bytes.
//!
//! The first byte picks how the rest is used:
//! - 0: raw XML (`SamlResponse::Xml`, bare assertions allowed);
//! - 1: the form field (`SamlResponse::Base64`);
//! - 2: spliced into a freshly signed, valid response at an offset read from the next two bytes
//!   (signature wrapping, injected elements, broken markup around real signed content);
//! - 3: IdP metadata.
//!
//! Properties: nothing panics; an oversized input is refused before parsing; and whatever is
//! accepted is the signed login — Alice, with the signed assertion's id — never anything the
//! input made up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgplane_saml::chrono::{DateTime, Utc};
use orgplane_saml::testing::{ALICE, REQUEST_ID, Spec, ctx};
use orgplane_saml::{IdpConfig, MAX_RESPONSE_BYTES, Rejection, ResponseInput, SamlResponse, verify_response};
use std::sync::Mutex;

/// A valid signed response, re-signed before it expires (it is good for five minutes).
fn signed() -> (String, String) {
    static SIGNED: Mutex<Option<(DateTime<Utc>, String, String)>> = Mutex::new(None);
    let mut slot = SIGNED.lock().unwrap();
    let now = Utc::now();
    if slot.as_ref().is_none_or(|(at, _, _)| (now - *at).num_seconds() > 180) {
        let spec = Spec::sp_initiated();
        *slot = Some((now, spec.signed(), spec.assertion_id.clone()));
    }
    let (_, xml, id) = slot.as_ref().unwrap();
    (xml.clone(), id.clone())
}

fn verify(response: SamlResponse<'_>) -> Result<orgplane_saml::VerifiedLogin, Rejection> {
    let c = ctx();
    let mut input = ResponseInput::new(response, &c.idp, &c.sp, Utc::now());
    input.possible_request_ids = Some(vec![REQUEST_ID.to_string()]);
    verify_response(&input)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (result, expected_assertion) = match mode % 4 {
        0 | 1 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let response = if mode % 4 == 0 { SamlResponse::Xml(text) } else { SamlResponse::Base64(text) };
            let result = verify(response);
            if text.len() > MAX_RESPONSE_BYTES {
                assert!(matches!(result, Err(Rejection::TooLarge { .. })), "{result:?}");
            }
            (result, None)
        }
        2 => {
            let [a, b, tail @ ..] = rest else { return };
            let Ok(insert) = std::str::from_utf8(tail) else { return };
            let (mut xml, assertion_id) = signed();
            let mut at = usize::from(u16::from_le_bytes([*a, *b])) % (xml.len() + 1);
            while !xml.is_char_boundary(at) {
                at -= 1;
            }
            xml.insert_str(at, insert);
            (verify(SamlResponse::Xml(&xml)), Some(assertion_id))
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let _ = IdpConfig::from_metadata(text);
            return;
        }
    };
    if let Ok(login) = result {
        // Only the signed content can be accepted, and only a fuzzer that kept it intact gets here.
        assert_eq!(login.email, ALICE, "accepted a login for someone the IdP did not sign");
        assert_eq!(login.name_id, ALICE);
        assert_eq!(Some(&login.assertion_id), expected_assertion.as_ref(), "accepted an unsigned assertion id");
    }
});
