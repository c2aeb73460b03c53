//! Tests. Fixtures are built at test time: RSA keys and self-signed certificates from openssl,
//! SAML responses from string templates, signatures by libxmlsec through samael's
//! `CryptoProvider::sign_xml` (enveloped, exc-c14n).

mod config;
mod verify;
mod xsw;

/// The fixtures live in `crate::testing` (also exported under the `testing` feature).
mod fixtures {
    pub use crate::testing::*;
}
