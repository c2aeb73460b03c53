//! Secrets that must be read back (TOTP seeds, cloud credentials) are encrypted at rest with the
//! installation's master key: AES-256-GCM, a fresh nonce per value, stored as `v1:<hex>`.

use crate::error::Error;
use aes_gcm::aead::{Aead, AeadCore, OsRng};
use aes_gcm::{Aes256Gcm, KeyInit};

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        MasterKey(key)
    }

    /// From 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode(s.trim()).map_err(|_| Error::internal("master key: not hex"))?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| Error::internal("master key: must be 32 bytes (64 hex characters)"))?;
        Ok(MasterKey(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        let cipher = Aes256Gcm::new_from_slice(&self.0).expect("32-byte key");
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(cipher.encrypt(&nonce, plaintext).expect("encryption does not fail"));
        format!("v1:{}", hex::encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<Vec<u8>, Error> {
        let bad = || Error::internal("a stored secret cannot be decrypted (wrong master key?)");
        let bytes = hex::decode(stored.strip_prefix("v1:").ok_or_else(bad)?).map_err(|_| bad())?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let cipher = Aes256Gcm::new_from_slice(&self.0).expect("32-byte key");
        cipher.decrypt(nonce.into(), ciphertext).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = MasterKey::generate();
        let sealed = key.encrypt(b"seed");
        assert_ne!(key.encrypt(b"seed"), sealed, "fresh nonce each time");
        assert_eq!(key.decrypt(&sealed).unwrap(), b"seed");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(key.decrypt(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(MasterKey::generate().decrypt(&sealed).is_err());
        assert_eq!(MasterKey::from_hex(&key.to_hex()).unwrap().decrypt(&sealed).unwrap(), b"seed");
    }
}
