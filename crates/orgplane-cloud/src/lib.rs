//! Proves cloud credentials before orgplane saves them. AWS: a real, SigV4-signed
//! `sts:AssumeRole` with the account's external id, against a configurable endpoint (AWS itself in
//! production, an emulator in tests). Azure (`azure.rs`) and GCP (`gcp.rs`): real token requests.

pub mod azure;
pub mod gcp;

pub use azure::{AzureChecker, AzureConfig, AzurePrincipal};
pub use gcp::{GcpChecker, GcpConfig};

/// The HTTP client for identity providers: bounded time, no redirects (a redirect could lead
/// the server somewhere the checks did not allow).
/// An HTTP client built on first use. Building one loads TLS roots and touches the TLS code;
/// a server that validates no cloud account while it runs should not carry that in memory.
#[derive(Default)]
struct LazyHttp(std::sync::OnceLock<reqwest::Client>);

impl LazyHttp {
    fn client(&self) -> &reqwest::Client {
        self.0.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client builds")
        })
    }
}

/// A provider that could not be reached is a 502-class fault of the path, not of the input; it is
/// still reported with the provider's name so the customer knows what failed.
fn unreachable(provider: &'static str) -> impl Fn(reqwest::Error) -> Error {
    move |e| Error::rule("CLOUD_PROVIDER_UNREACHABLE", format!("{provider} could not be reached: {e}"))
}

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use orgplane_domain::Error;

/// Where and as whom orgplane calls AWS STS.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// `None` for AWS's own endpoint for the region.
    pub sts_endpoint: Option<String>,
    pub region: String,
    /// The operator's own AWS credentials (the principal customers trust in their role).
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            sts_endpoint: None,
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        }
    }
}

/// What a successful `AssumeRole` proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    /// e.g. `arn:aws:sts::123456789012:assumed-role/Spot-Role/orgplane-validation`.
    pub arn: String,
}

pub struct AwsChecker {
    config: AwsConfig,
    /// Built on first use, like `LazyHttp`.
    client: std::sync::OnceLock<aws_sdk_sts::Client>,
}

impl AwsChecker {
    pub fn new(config: &AwsConfig) -> Self {
        AwsChecker { config: config.clone(), client: Default::default() }
    }

    fn client(&self) -> &aws_sdk_sts::Client {
        self.client.get_or_init(|| {
            let config = &self.config;
            let credentials =
                Credentials::new(&config.access_key_id, &config.secret_access_key, None, None, "orgplane");
            let mut builder = aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(config.region.clone()))
                .credentials_provider(credentials);
            if let Some(endpoint) = &config.sts_endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            aws_sdk_sts::Client::from_conf(builder.build())
        })
    }

    /// Assumes the customer's role with its external id. Each refusal is named: the role cannot
    /// be assumed (wrong external id, no trust, no such role), orgplane's own credentials are
    /// wrong, or STS cannot be reached.
    pub async fn assume_role(&self, role_arn: &str, external_id: &str) -> Result<AssumedRole, Error> {
        if self.config.access_key_id.is_empty() {
            return Err(Error::rule(
                "AWS_NOT_CONFIGURED",
                "this installation has no AWS credentials configured (aws_access_key_id)",
            ));
        }
        let result = self
            .client()
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("orgplane-validation")
            .external_id(external_id)
            .duration_seconds(900)
            .send()
            .await;
        match result {
            Ok(out) => {
                let arn = out.assumed_role_user().map(|u| u.arn().to_string()).unwrap_or_default();
                Ok(AssumedRole { arn })
            }
            Err(err) => {
                let code = err.code().map(str::to_string);
                let message = err.message().unwrap_or_default().to_string();
                tracing::info!(?code, %message, "AssumeRole refused");
                Err(match code.as_deref() {
                    Some("AccessDenied") | Some("NoSuchEntity") | Some("ValidationError") => Error::invalid(
                        "AWS_ROLE_NOT_ASSUMABLE",
                        "body.credentials.iamRole",
                        format!(
                            "the role cannot be assumed with this account's external id ({}): {message}",
                            code.unwrap_or_default()
                        ),
                    ),
                    Some(c @ ("InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken")) => Error::rule(
                        "AWS_OPERATOR_CREDENTIALS_INVALID",
                        format!("orgplane's own AWS credentials were refused ({c})"),
                    ),
                    Some(other) => Error::rule("AWS_STS_ERROR", format!("STS refused AssumeRole: {other}: {message}")),
                    None => Error::rule("AWS_STS_UNREACHABLE", "STS could not be reached to validate the role"),
                })
            }
        }
    }
}
