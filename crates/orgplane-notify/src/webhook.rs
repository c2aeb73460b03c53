//! Delivers audit events to organizations' webhooks: an HTTPS (or HTTP) POST of the event as
//! JSON, signed with the organization's secret. Organization admins choose the URL, so by
//! default nothing is sent to loopback, private, link-local or other internal addresses — not
//! even through a DNS name or a redirect — unless the operator allows it.

use orgplane_domain::audit::webhook_signature;
use orgplane_domain::secretbox::MasterKey;
use orgplane_store::audit::WebhookDelivery;
use orgplane_store::notifications::SlackDelivery;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The header that carries `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "x-orgplane-signature";

pub struct WebhookSender {
    /// Built on the first delivery: building one loads TLS roots, memory an idle server whose
    /// organizations have no webhook or Slack channel should not carry.
    client: std::sync::OnceLock<reqwest::Client>,
    timeout: Duration,
    master_key: MasterKey,
    allow_private: bool,
}

/// Addresses a webhook must not reach unless the operator allows internal targets.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Carrier-grade NAT, 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Resolves names with the system resolver and drops internal addresses, so the connection
/// can only go where the check allowed (no window for DNS rebinding).
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

impl WebhookSender {
    /// A sender whose requests give up after 10 seconds.
    pub fn new(master_key: MasterKey, allow_private: bool) -> Self {
        Self::with_timeout(master_key, allow_private, Duration::from_secs(10))
    }

    /// A receiver that does not answer within `timeout` counts as a failed attempt (retried).
    pub fn with_timeout(master_key: MasterKey, allow_private: bool, timeout: Duration) -> Self {
        WebhookSender { client: Default::default(), timeout, master_key, allow_private }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("orgplane/", env!("CARGO_PKG_VERSION")));
        if !self.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let built = builder.build().map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(self.client.get_or_init(|| built))
    }

    /// Posts a Slack message. Slack's refusals that will not change (`no_service`,
    /// `channel_is_archived`, `invalid_token`, a malformed payload) end the message at once.
    pub async fn send_slack(&self, payload: &str) -> Result<(), crate::Failure> {
        use crate::Failure;
        let delivery: SlackDelivery =
            serde_json::from_str(payload).map_err(|e| Failure::Permanent(format!("stored Slack message: {e}")))?;
        let url = self.checked_url(&delivery.url).map_err(Failure::Permanent)?;
        let res = self
            .client()
            .map_err(Failure::Retry)?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(delivery.body)
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("Slack request: {e}")))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let said = res.text().await.unwrap_or_default().chars().take(200).collect::<String>();
        let error = format!("Slack answered HTTP {}: {said}", status.as_u16());
        match status.as_u16() {
            400 | 403 | 404 | 410 => Err(Failure::Permanent(error)),
            _ => Err(Failure::Retry(error)),
        }
    }

    /// Parses a delivery URL and refuses internal addresses written in it (names are checked
    /// by the resolver).
    fn checked_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("URL: {e}"))?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.allow_private && literal.is_some_and(is_internal) {
            return Err(format!("refusing to deliver to the internal address {}", url.host_str().unwrap_or("")));
        }
        Ok(url)
    }

    pub async fn send(&self, payload: &str) -> Result<(), String> {
        let delivery: WebhookDelivery = serde_json::from_str(payload).map_err(|e| format!("stored delivery: {e}"))?;
        let url = self.checked_url(&delivery.url)?;
        let secret = self.master_key.decrypt(&delivery.secret).map_err(|e| format!("webhook secret: {e}"))?;
        let secret = String::from_utf8(secret).map_err(|_| "webhook secret is not text".to_string())?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let signature = webhook_signature(&secret, i64::try_from(now).unwrap_or(i64::MAX), delivery.body.as_bytes());
        let res = self
            .client()?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.body)
            .send()
            .await
            .map_err(|e| format!("webhook request: {e}"))?;
        if res.status().is_success() { Ok(()) } else { Err(format!("webhook answered HTTP {}", res.status().as_u16())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
