//! GCP: proves a service-account key by signing an RS256 JWT with it and exchanging it for an
//! access token at the key's `token_uri` (RFC 7523). The URI comes from the customer, so its host
//! must be on the operator's allow-list: otherwise the server could be made to call anything.

use orgplane_domain::Error;
use orgplane_domain::cloud::ServiceAccount;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct GcpConfig {
    /// Hosts (`host` or `host:port`) a key's `token_uri` may name.
    pub token_hosts: Vec<String>,
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig { token_hosts: vec!["oauth2.googleapis.com".into()] }
    }
}

pub struct GcpChecker {
    client: crate::LazyHttp,
    config: GcpConfig,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

const FIELD: &str = "body.serviceAccount";

impl GcpChecker {
    pub fn new(config: GcpConfig) -> Self {
        GcpChecker { client: Default::default(), config }
    }

    /// Refuses a `token_uri` whose host is not allowed (or that is not https, unless the operator
    /// allowed that exact host and port).
    pub fn check_token_uri(&self, token_uri: &str) -> Result<reqwest::Url, Error> {
        let field = format!("{FIELD}.token_uri");
        let url = reqwest::Url::parse(token_uri)
            .map_err(|_| Error::validation(field.clone(), "\"token_uri\" is not a URL"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let with_port = url.port().map(|p| format!("{host}:{p}"));
        let allowed = self.config.token_hosts.iter().any(|h| {
            h.eq_ignore_ascii_case(&host) && url.scheme() == "https" || Some(h.to_ascii_lowercase()) == with_port
        });
        if !allowed || !matches!(url.scheme(), "https" | "http") {
            return Err(Error::invalid(
                "GCP_TOKEN_URI_NOT_ALLOWED",
                field,
                format!("token_uri must be an https URL on an allowed host ({})", self.config.token_hosts.join(", ")),
            ));
        }
        Ok(url)
    }

    pub async fn validate(&self, sa: &ServiceAccount) -> Result<(), Error> {
        let url = self.check_token_uri(&sa.token_uri)?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(sa.private_key.as_bytes()).map_err(|e| {
            Error::invalid(
                "GCP_INVALID_PRIVATE_KEY",
                format!("{FIELD}.private_key"),
                format!("the private key cannot be read: {e}"),
            )
        })?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let claims = Claims {
            iss: &sa.client_email,
            scope: "https://www.googleapis.com/auth/cloud-platform",
            aud: &sa.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(sa.private_key_id.clone());
        let assertion = jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
            Error::invalid(
                "GCP_INVALID_PRIVATE_KEY",
                format!("{FIELD}.private_key"),
                format!("signing with the key failed: {e}"),
            )
        })?;
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let res = self
            .client
            .client()
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(crate::unreachable("the GCP token endpoint"))?;
        let status = res.status();
        let answer: TokenAnswer = res.json().await.map_err(|e| {
            Error::invalid(
                "GCP_TOKEN_REFUSED",
                format!("{FIELD}.token_uri"),
                format!("the token endpoint answered HTTP {status} without JSON: {e}"),
            )
        })?;
        match answer.access_token {
            Some(_) if status.is_success() => Ok(()),
            _ => Err(Error::invalid(
                "GCP_TOKEN_REFUSED",
                format!("{FIELD}.private_key"),
                format!(
                    "the token endpoint refused the key: {} ({})",
                    answer.error.as_deref().unwrap_or("no error"),
                    answer.error_description.as_deref().unwrap_or("no description")
                ),
            )),
        }
    }
}
