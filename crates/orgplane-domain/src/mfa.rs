//! Second factors: TOTP (RFC 6238, SHA-1, 6 digits, 30 s, one step of skew) with an `otpauth://`
//! URI and an SVG QR code, and single-use recovery codes (stored hashed).

use crate::error::Error;
use rand::RngCore;
use totp_rs::{Builder, Secret, Totp};

pub const RECOVERY_CODES: usize = 10;

/// 160 random bits, the size RFC 4226 recommends.
pub fn new_totp_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, Error> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some("orgplane"))
        .build()
        .map_err(|e| Error::internal(format!("totp: {e:?}")))
}

/// What an authenticator app needs: the secret in base32, the `otpauth://` URI, and that URI as an
/// SVG QR code.
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], account: &str) -> Result<Enrolment, Error> {
    let t = totp(secret, account)?;
    let uri = t.to_url().map_err(|e| Error::internal(format!("otpauth uri: {e:?}")))?;
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::internal(format!("qr: {e}")))?;
    let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
    Ok(Enrolment { secret_base32: Secret::from(secret.to_vec()).to_base32(), otpauth_uri: uri, qr_svg: svg })
}

/// The time step a code is valid for at `now_secs`, if it is valid (the caller refuses a step it
/// has already accepted, so a code works once).
pub fn check_code(secret: &[u8], code: &str, now_secs: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, "x").ok()?.check(code, now_secs)
}

/// The code an authenticator shows at `now_secs` (tests play the authenticator with it).
pub fn code_at(secret: &[u8], now_secs: u64) -> String {
    totp(secret, "x").map(|t| t.generate(now_secs).to_string()).unwrap_or_default()
}

/// The code for a base32 secret (as shown at enrolment) at `now_secs`: what an authenticator app
/// computes. Tests play the authenticator with it.
pub fn code_for_base32(secret_base32: &str, now_secs: u64) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let t = Builder::new().with_secret(secret).build().ok()?;
    Some(t.generate(now_secs).to_string())
}

/// Ten fresh recovery codes like `k3m9-x2pq`.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let c: String = bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
            format!("{}-{}", &c[..4], &c[4..])
        })
        .collect()
}

/// A recovery code as typed (any case, spaces) in the form it is hashed.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_in_their_window_only() {
        let secret = new_totp_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        assert_eq!(check_code(&secret, &code, now), Some(now / 30));
        assert!(check_code(&secret, &code, now + 30).is_some(), "one step of skew");
        assert!(check_code(&secret, &code, now + 120).is_none());
        assert!(check_code(&secret, "12345", now).is_none());
        assert!(check_code(&secret, "abcdef", now).is_none());
        assert!(check_code(&new_totp_secret(), &code, now).is_none(), "another user's secret");
    }

    #[test]
    fn enrolment_has_uri_and_svg() {
        let seed = new_totp_secret();
        let e = enrolment(&seed, "ada@example.com").unwrap();
        assert_eq!(code_for_base32(&e.secret_base32, 1_800_000_000).unwrap(), code_at(&seed, 1_800_000_000));
        assert!(e.otpauth_uri.starts_with("otpauth://totp/orgplane:ada%40example.com?"), "{}", e.otpauth_uri);
        assert!(e.otpauth_uri.contains(&format!("secret={}", e.secret_base32)));
        assert!(e.qr_svg.contains("<svg"));
    }

    #[test]
    fn recovery_codes_are_distinct() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(normalize_recovery_code(" K3M9-X2PQ "), "k3m9-x2pq");
    }
}
