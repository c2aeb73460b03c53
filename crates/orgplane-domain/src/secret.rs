//! Secrets: passwords are hashed with Argon2id; API tokens are 32 random bytes shown once and
//! stored only as a SHA-256 hash plus their last 4 characters.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Argon2id with the crate's defaults (m=19 MiB, t=2, p=1), in PHC string form. CPU-bound:
/// async callers run it on a blocking thread.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a fixed password, verified against when the user does not exist so that a
/// sign-in for an unknown email costs the same time as a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password-Aa1!"))
}

/// What kind of bearer secret a token is. The prefix makes leaked tokens recognisable to
/// secret scanners and tells at a glance what a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    /// The token of a programmatic user, minted with it.
    Programmatic,
    Temporary,
    Refresh,
    /// A web console session: held in an HttpOnly cookie, accepted only from the console.
    Session,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Programmatic => "programmatic",
            TokenKind::Temporary => "temporary",
            TokenKind::Refresh => "refresh",
            TokenKind::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "personal" => Some(TokenKind::Personal),
            "programmatic" => Some(TokenKind::Programmatic),
            "temporary" => Some(TokenKind::Temporary),
            "refresh" => Some(TokenKind::Refresh),
            "session" => Some(TokenKind::Session),
            _ => None,
        }
    }

    /// The kind a presented secret was minted as, from its prefix (`None`: not one of ours). The
    /// prefix is part of what is hashed, so it cannot be changed without making the token unknown.
    pub fn of_secret(secret: &str) -> Option<Self> {
        [TokenKind::Personal, TokenKind::Programmatic, TokenKind::Temporary, TokenKind::Refresh, TokenKind::Session]
            .into_iter()
            .find(|k| secret.starts_with(k.prefix()))
    }

    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => "opp_",
            TokenKind::Programmatic => "opu_",
            TokenKind::Temporary => "opt_",
            TokenKind::Refresh => "opr_",
            TokenKind::Session => SESSION_PREFIX,
        }
    }

    /// Temporary tokens live 2 hours, as Spot's do.
    pub const TEMPORARY_TTL_MS: i64 = 2 * 60 * 60 * 1000;
    /// A refresh token outlives its access token so a client can keep a session for a day.
    pub const REFRESH_TTL_MS: i64 = 24 * 60 * 60 * 1000;
    /// A console session ends after 12 hours without a request (product.md §5).
    pub const SESSION_IDLE_MS: i64 = 12 * 60 * 60 * 1000;
}

/// The prefix of console session secrets, so the API can tell them from bearer tokens.
pub const SESSION_PREFIX: &str = "opc_";

/// A freshly minted token: the secret (shown once), its hash and its last 4 characters.
#[derive(Debug)]
pub struct NewToken {
    pub secret: String,
    pub hash: String,
    pub last_digits: String,
}

pub fn new_token(kind: TokenKind) -> NewToken {
    random_secret(kind.prefix())
}

/// A SCIM token: authenticates an organization's IdP at `/scim/v2`, nothing else.
pub fn new_scim_token() -> NewToken {
    random_secret("ops_")
}

/// A single-use password link (reset or invitation): shown once in an email, stored hashed.
pub fn new_password_link() -> NewToken {
    random_secret("opl_")
}

/// A password reset link stays valid an hour; an invitation a week.
pub const RESET_LINK_TTL_MS: i64 = 60 * 60 * 1000;
pub const INVITATION_LINK_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

fn random_secret(prefix: &str) -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", hex::encode(bytes));
    let last_digits = secret[secret.len() - 4..].to_string();
    NewToken { hash: token_hash(&secret), secret, last_digits }
}

/// SHA-256 of any bytes, lower-case hex (certificate fingerprints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = [0u8; 64];
    // `hex::encode` builds its string a char at a time; a token is hashed on every request.
    hex::encode_to_slice(Sha256::digest(bytes), &mut out).expect("64 hex digits for 32 bytes");
    std::str::from_utf8(&out).expect("hex digits are ASCII").to_owned()
}

pub fn token_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let h = hash_password("Sup3r$ecret");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Sup3r$ecret", &h));
        assert!(!verify_password("Sup3r$ecreT", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn sha256_hex_is_the_lower_case_digest() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(token_hash("abc"), sha256_hex(b"abc"));
    }

    #[test]
    fn tokens_are_random_and_only_hash_is_kept() {
        let a = new_token(TokenKind::Personal);
        let b = new_token(TokenKind::Personal);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("opp_"));
        assert_eq!(a.secret.len(), 4 + 64);
        assert_eq!(a.hash, token_hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(a.secret.ends_with(&a.last_digits));
    }

    #[test]
    fn a_secret_tells_its_kind() {
        for kind in
            [TokenKind::Personal, TokenKind::Programmatic, TokenKind::Temporary, TokenKind::Refresh, TokenKind::Session]
        {
            assert_eq!(TokenKind::of_secret(&new_token(kind).secret), Some(kind));
        }
        assert_eq!(TokenKind::of_secret(&new_scim_token().secret), None);
        assert_eq!(TokenKind::of_secret("0123abcd"), None);
        assert_eq!(TokenKind::of_secret(""), None);
    }
}
