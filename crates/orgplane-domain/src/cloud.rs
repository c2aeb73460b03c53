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
