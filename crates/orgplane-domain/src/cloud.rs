//! Cloud provider connections: the rules for AWS role ARNs and external ids.

use crate::error::Error;
use rand::Rng;

/// External ids are valid for an hour after minting (Spot's `maxValidUntil`).
pub const EXTERNAL_ID_TTL_MS: i64 = 60 * 60 * 1000;

/// A new AWS external id: `spotinst:aws:extid:` + 16 lower-case alphanumerics, Spot's format.
pub fn new_external_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("spotinst:aws:extid:{suffix}")
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path/>name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub account: String,
}

pub fn parse_role_arn(field: &str, s: &str) -> Result<RoleArn, Error> {
    let bad =
        || Error::validation(field, "\"iamRole\" must be an IAM role ARN like arn:aws:iam::123456789012:role/Name");
    let s = s.trim();
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else { return Err(bad()) };
    let name_ok = |n: &str| {
        !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    };
    let role_ok = resource.strip_prefix("role/").is_some_and(|path| {
        let mut segments: Vec<&str> = path.split('/').collect();
        let name = segments.pop().unwrap_or_default();
        name_ok(name)
            && segments
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)))
    });
    let ok = *arn == "arn"
        && ["aws", "aws-cn", "aws-us-gov"].contains(partition)
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && role_ok;
    if ok { Ok(RoleArn { arn: s.to_string(), account: account.to_string() }) } else { Err(bad()) }
}

/// The AWS account number in an assumed-role ARN (`arn:aws:sts::123456789012:assumed-role/…`).
pub fn account_of_assumed_role(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_have_spots_shape() {
        let id = new_external_id(&mut rand::thread_rng());
        let suffix = id.strip_prefix("spotinst:aws:extid:").unwrap();
        assert_eq!(suffix.len(), 16);
        assert!(suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }

    #[test]
    fn role_arns_are_checked() {
        let ok = parse_role_arn("f", "arn:aws:iam::123456789012:role/Spot-Role").unwrap();
        assert_eq!(ok.account, "123456789012");
        assert!(parse_role_arn("f", "arn:aws:iam::123456789012:role/path/to/Role_1").is_ok());
        for bad in [
            "",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:gcp:iam::123456789012:role/x",
        ] {
            assert!(parse_role_arn("f", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn assumed_role_account() {
        assert_eq!(
            account_of_assumed_role("arn:aws:sts::123456789012:assumed-role/R/s").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of_assumed_role("nonsense"), None);
    }
}

/// An Azure id (tenant, client/application, subscription): a GUID, returned lower-case.
pub fn guid(field: &str, s: &str) -> Result<String, Error> {
    let s = s.trim();
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups.iter().zip(lengths).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(Error::validation(field, format!("\"{field}\" must be a GUID (8-4-4-4-12 hex digits)")));
    }
    Ok(s.to_ascii_lowercase())
}

/// How a stored client secret is shown: its first three characters, as Spot does.
pub fn mask_secret(secret: &str) -> String {
    let shown: String = secret.chars().take(3).collect();
    format!("{shown}****")
}

/// A GCP service-account key file, with Google's snake_case names (kept verbatim, as Spot's
/// SDKs send them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceAccount {
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub client_id: String,
    #[serde(default)]
    pub auth_uri: String,
    pub token_uri: String,
    #[serde(default)]
    pub auth_provider_x509_cert_url: String,
    #[serde(default)]
    pub client_x509_cert_url: String,
}

impl ServiceAccount {
    /// Checks the fields that can be checked without the network. `field` is the object's path.
    pub fn check(&self, field: &str) -> Result<(), Error> {
        let f = |name: &str| format!("{field}.{name}");
        if self.kind != "service_account" {
            return Err(Error::validation(f("type"), "\"type\" must be service_account"));
        }
        let project_ok = (6..=30).contains(&self.project_id.len())
            && self.project_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !project_ok {
            return Err(Error::validation(f("project_id"), "\"project_id\" is not a GCP project id"));
        }
        crate::validate::email(&f("client_email"), &self.client_email)?;
        if !self.private_key.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(Error::validation(f("private_key"), "\"private_key\" must be a PEM PKCS#8 private key"));
        }
        for (name, value) in [("private_key_id", &self.private_key_id), ("client_id", &self.client_id)] {
            if value.trim().is_empty() || value.len() > 200 {
                return Err(Error::validation(f(name), format!("\"{name}\" is required")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod azure_gcp_tests {
    use super::*;

    #[test]
    fn guids_are_checked_and_lowercased() {
        assert_eq!(guid("f", "A1B2C3D4-0000-4000-8000-00000000ABCD").unwrap(), "a1b2c3d4-0000-4000-8000-00000000abcd");
        for bad in ["", "not-a-guid", "a1b2c3d4-0000-4000-8000-00000000abc", "g1b2c3d4-0000-4000-8000-00000000abcd"] {
            assert!(guid("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(mask_secret("abcdefgh"), "abc****");
        assert_eq!(mask_secret("ab"), "ab****");
    }
}
