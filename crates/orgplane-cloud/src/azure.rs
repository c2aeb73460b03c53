//! Azure: proves a service principal's client secret with a client-credentials request to the
//! Microsoft identity platform, then that it can read the subscription through Azure Resource
//! Manager. Both endpoints are configurable (sovereign clouds, tests).

use orgplane_domain::Error;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// e.g. `https://management.azure.com`.
    pub management_endpoint: String,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            authority: "https://login.microsoftonline.com".into(),
            management_endpoint: "https://management.azure.com".into(),
        }
    }
}

/// What is proven: the principal of `client_id` in `tenant_id` with `client_secret`, and, when
/// given, its access to `subscription_id`.
#[derive(Debug, Clone)]
pub struct AzurePrincipal<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub subscription_id: Option<&'a str>,
}

pub struct AzureChecker {
    client: crate::LazyHttp,
    config: AzureConfig,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<i64>,
}

impl AzureChecker {
    pub fn new(config: AzureConfig) -> Self {
        AzureChecker { client: Default::default(), config }
    }

    pub async fn validate(&self, p: &AzurePrincipal<'_>) -> Result<(), Error> {
        let url = format!("{}/{}/oauth2/v2.0/token", self.config.authority.trim_end_matches('/'), p.tenant_id);
        let scope = format!("{}/.default", self.config.management_endpoint.trim_end_matches('/'));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", p.client_id),
            ("client_secret", p.client_secret),
            ("scope", scope.as_str()),
        ];
        let res = self.client.client().post(&url).form(&form).send().await.map_err(crate::unreachable("Azure AD"))?;
        let status = res.status();
        let answer: TokenAnswer = res.json().await.map_err(|e| {
            Error::invalid(
                "AZURE_TOKEN_REFUSED",
                "body.tenantId",
                format!("Azure AD answered HTTP {status} without JSON: {e}"),
            )
        })?;
        let token = match answer.access_token {
            Some(t) if status.is_success() => t,
            _ => return Err(azure_refusal(&answer)),
        };
        let Some(subscription) = p.subscription_id else { return Ok(()) };
        let url = format!(
            "{}/subscriptions/{subscription}?api-version=2022-12-01",
            self.config.management_endpoint.trim_end_matches('/')
        );
        let res = self
            .client
            .client()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(crate::unreachable("Azure Resource Manager"))?;
        if res.status().is_success() {
            return Ok(());
        }
        Err(Error::invalid(
            "AZURE_SUBSCRIPTION_NOT_ACCESSIBLE",
            "body.subscriptionId",
            format!(
                "the service principal cannot read this subscription (HTTP {}): give it a role on the subscription",
                res.status().as_u16()
            ),
        ))
    }
}

/// Names the cause from Azure AD's error codes (AADSTS…).
fn azure_refusal(a: &TokenAnswer) -> Error {
    let description = a.error_description.as_deref().unwrap_or("no description").lines().next().unwrap_or("");
    let has = |code: i64| a.error_codes.contains(&code);
    let (code, field, what) = if has(7000222) {
        ("AZURE_CLIENT_SECRET_EXPIRED", "body.clientSecret", "the client secret has expired")
    } else if has(7000215) || a.error.as_deref() == Some("invalid_client") {
        ("AZURE_INVALID_CLIENT_SECRET", "body.clientSecret", "the client secret was refused")
    } else if has(700016) {
        ("AZURE_APP_NOT_FOUND", "body.clientId", "no application with this client id in the tenant")
    } else if has(90002) {
        ("AZURE_TENANT_NOT_FOUND", "body.tenantId", "the tenant does not exist")
    } else {
        ("AZURE_TOKEN_REFUSED", "body.clientId", "Azure AD refused the token request")
    };
    Error::invalid(code, field, format!("{what}: {description}"))
}
