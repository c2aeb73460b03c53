//! Tests. Fixtures are built at test time: RSA keys and self-signed certificates from openssl,
//! SAML responses from string templates, signatures by libxmlsec through samael's
//! `CryptoProvider::sign_xml` (enveloped, exc-c14n).

mod config;
mod fixtures;
mod verify;
mod xsw;
