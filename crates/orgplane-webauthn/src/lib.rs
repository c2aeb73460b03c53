//! Security keys and passkeys (WebAuthn) as a second factor, over webauthn-rs. Everything that
//! crosses this crate's boundary is JSON (the browser's messages) or a JSON string (the
//! ceremony states and the stored credentials), so the store and the server need no
//! webauthn-rs types and the OpenSSL dependency stays here.

use orgplane_domain::Error;
use serde_json::Value;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// The relying party: this installation, as browsers see it.
pub struct Verifier {
    webauthn: Webauthn,
}

/// A ceremony begun: the options for the browser's `navigator.credentials` call, and the state
/// to keep server-side until the answer comes.
#[derive(Debug, Clone)]
pub struct Started {
    pub options: Value,
    pub state: String,
}

/// A registered credential: its id (base64url) and what to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub stored: String,
}

fn rejected(field: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid("INVALID_WEBAUTHN_RESPONSE", field, format!("the {what} was not accepted: {e}"))
}

fn stored<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, Error> {
    serde_json::from_str(s).map_err(|e| Error::internal(format!("stored {what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("webauthn types serialise")
}

fn credential_id(id: &CredentialID) -> String {
    to_json(id).trim_matches('"').to_string()
}

impl Verifier {
    /// `public_url` is where people reach the installation; its host is the relying party id,
    /// which must be a domain name (browsers refuse WebAuthn on bare IP addresses).
    pub fn new(public_url: &str) -> Result<Self, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("public_url: {e}"))?;
        let rp_id = origin.domain().ok_or("public_url must name a host by domain name for WebAuthn")?.to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("orgplane").build())
            .map_err(|e| format!("WebAuthn relying party: {e}"))?;
        Ok(Verifier { webauthn })
    }

    /// Begins registering a key for the person `user_handle` (a stable id), excluding the keys
    /// they already have so one authenticator is not registered twice.
    pub fn start_registration(
        &self,
        user_handle: &str,
        email: &str,
        display_name: &str,
        existing: &[String],
    ) -> Result<Started, Error> {
        let exclude = existing
            .iter()
            .map(|s| stored::<Passkey>(s, "credential").map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let handle = Uuid::new_v5(&Uuid::NAMESPACE_OID, user_handle.as_bytes());
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, email, display_name, Some(exclude))
            .map_err(|e| Error::internal(format!("starting WebAuthn registration: {e}")))?;
        Ok(Started { options: serde_json::to_value(options).expect("serialises"), state: to_json(&state) })
    }

    /// Checks the authenticator's answer to a registration.
    pub fn finish_registration(&self, response: &Value, state: &str) -> Result<Credential, Error> {
        let response: RegisterPublicKeyCredential = serde_json::from_value(response.clone())
            .map_err(|e| rejected("body.credential", "registration response", e))?;
        let state: PasskeyRegistration = stored(state, "registration state")?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(|e| rejected("body.credential", "registration", e))?;
        Ok(Credential { id: credential_id(passkey.cred_id()), stored: to_json(&passkey) })
    }

    /// Begins a sign-in challenge that any of the person's keys can answer.
    pub fn start_authentication(&self, keys: &[String]) -> Result<Started, Error> {
        let keys = keys.iter().map(|s| stored::<Passkey>(s, "credential")).collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::internal(format!("starting WebAuthn authentication: {e}")))?;
        Ok(Started { options: serde_json::to_value(options).expect("serialises"), state: to_json(&state) })
    }

    /// Checks a signed challenge. Returns the key that signed it, updated (signature counter)
    /// when it must be stored again. A cloned authenticator (counter gone backwards) fails.
    pub fn finish_authentication(
        &self,
        response: &Value,
        state: &str,
        keys: &[Credential],
    ) -> Result<(String, Option<String>), Error> {
        let field = "body.webauthn_response";
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|e| rejected(field, "WebAuthn response", e))?;
        let state: PasskeyAuthentication = stored(state, "authentication state")?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(|e| rejected(field, "signature", e))?;
        let id = credential_id(result.cred_id());
        let key = keys.iter().find(|k| k.id == id).ok_or_else(|| rejected(field, "key", "it is not registered"))?;
        let mut passkey: Passkey = stored(&key.stored, "credential")?;
        let updated = passkey.update_credential(&result).filter(|changed| *changed).map(|_| to_json(&passkey));
        Ok((id, updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    const ORIGIN: &str = "http://localhost:8080";

    fn register(
        v: &Verifier,
        auth: &mut WebauthnAuthenticator<SoftPasskey>,
        existing: &[String],
    ) -> Result<Credential, Error> {
        let started = v.start_registration("u-1234abcd", "a@example.com", "A", existing)?;
        let options = serde_json::from_value(started.options).unwrap();
        let answer = auth.do_registration(url::Url::parse(ORIGIN).unwrap(), options).unwrap();
        v.finish_registration(&serde_json::to_value(answer).unwrap(), &started.state)
    }

    fn sign(v: &Verifier, auth: &mut WebauthnAuthenticator<SoftPasskey>, keys: &[Credential]) -> (Value, String) {
        let stored: Vec<String> = keys.iter().map(|k| k.stored.clone()).collect();
        let started = v.start_authentication(&stored).unwrap();
        let options = serde_json::from_value(started.options).unwrap();
        let answer = auth.do_authentication(url::Url::parse(ORIGIN).unwrap(), options).unwrap();
        (serde_json::to_value(answer).unwrap(), started.state)
    }

    #[test]
    fn a_software_key_registers_and_signs_in() {
        let v = Verifier::new(ORIGIN).unwrap();
        let mut auth = WebauthnAuthenticator::new(SoftPasskey::new(true));
        let key = register(&v, &mut auth, &[]).unwrap();
        let (answer, state) = sign(&v, &mut auth, std::slice::from_ref(&key));
        let (id, _) = v.finish_authentication(&answer, &state, std::slice::from_ref(&key)).unwrap();
        assert_eq!(id, key.id);
        // A challenge answers once: replaying it against a fresh challenge fails.
        let (_, other_state) = sign(&v, &mut auth, std::slice::from_ref(&key));
        assert!(v.finish_authentication(&answer, &other_state, std::slice::from_ref(&key)).is_err());
    }

    #[test]
    fn another_persons_key_or_a_forged_answer_is_refused() {
        let v = Verifier::new(ORIGIN).unwrap();
        let mut mine = WebauthnAuthenticator::new(SoftPasskey::new(true));
        let mut theirs = WebauthnAuthenticator::new(SoftPasskey::new(true));
        let my_key = register(&v, &mut mine, &[]).unwrap();
        let their_key = register(&v, &mut theirs, &[]).unwrap();
        // A challenge for my keys, answered by their authenticator (which has no key for it).
        let stored = vec![my_key.stored.clone()];
        let started = v.start_authentication(&stored).unwrap();
        let options = serde_json::from_value(started.options).unwrap();
        assert!(theirs.do_authentication(url::Url::parse(ORIGIN).unwrap(), options).is_err());
        // Their signature for their own challenge does not pass for mine.
        let (answer, _) = sign(&v, &mut theirs, std::slice::from_ref(&their_key));
        assert!(v.finish_authentication(&answer, &started.state, &[my_key.clone()]).is_err());
        // Garbage is a precise error, not a panic.
        let err = v.finish_authentication(&serde_json::json!({"id": "x"}), &started.state, &[my_key]).unwrap_err();
        assert!(matches!(err, Error::Invalid { code: "INVALID_WEBAUTHN_RESPONSE", .. }));
    }

    #[test]
    fn an_ip_address_cannot_be_the_relying_party() {
        assert!(Verifier::new("http://127.0.0.1:8080").is_err());
    }
}
