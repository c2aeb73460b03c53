//! orgplane's configuration, layered with figment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub listen: String,
    /// `postgres://…` to use PostgreSQL; unset for embedded SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Where the embedded SQLite database lives.
    pub data_dir: PathBuf,
    /// `open` (anyone may sign up) or `closed`.
    pub signup: Signup,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `orgplane_server=debug` (RUST_LOG overrides it).
    pub log_level: String,
    /// API requests per organization × route × method per 60 s; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// STS endpoint used to validate customers' AWS roles (AWS's own when unset).
    pub aws_sts_endpoint: Option<String>,
    pub aws_region: String,
    /// orgplane's own AWS credentials: the principal customers' roles trust.
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
    /// SMTP relay for outgoing mail; unset keeps mail queued (nothing is lost).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub smtp_security: SmtpSecurity,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_from: String,
    /// Where people reach this installation (links in emails).
    pub public_url: String,
    /// 64 hex characters encrypting stored secrets. Unset: kept in `<data_dir>/master.key`, made
    /// on first start (several replicas must share one key: set it).
    pub master_key: Option<String>,
    /// Lets audit webhooks reach loopback and private addresses (off: an organization admin
    /// could otherwise make the server call internal services).
    pub webhook_allow_private_addresses: bool,
    /// Where Azure service principals are proven (the identity platform and Resource Manager).
    pub azure_authority: String,
    pub azure_management_endpoint: String,
    /// Comma-separated hosts (`host` or `host:port`) a GCP key's `token_uri` may name.
    pub gcp_token_hosts: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            data_dir: PathBuf::from("./orgplane-data"),
            signup: Signup::Open,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            rate_limit_per_minute: 1000,
            aws_sts_endpoint: None,
            aws_region: "us-east-1".into(),
            aws_access_key_id: String::new(),
            aws_secret_access_key: String::new(),
            smtp_host: None,
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: "orgplane <no-reply@localhost>".into(),
            public_url: "http://localhost:8080".into(),
            master_key: None,
            webhook_allow_private_addresses: false,
            azure_authority: "https://login.microsoftonline.com".into(),
            azure_management_endpoint: "https://management.azure.com".into(),
            gcp_token_hosts: "oauth2.googleapis.com".into(),
        }
    }
}

/// The keys read from `ORGPLANE_*` variables. Other `ORGPLANE_` variables (the config file's
/// path, test settings) are not configuration; unknown keys in the file are still refused.
const ENV_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "data_dir",
    "signup",
    "log_format",
    "log_level",
    "rate_limit_per_minute",
    "aws_sts_endpoint",
    "aws_region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password",
    "smtp_from",
    "public_url",
    "master_key",
    "webhook_allow_private_addresses",
    "azure_authority",
    "azure_management_endpoint",
    "gcp_token_hosts",
];

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ORGPLANE_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("orgplane.toml")).filter(|p| p.exists()));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &file {
            anyhow::ensure!(file.exists(), "configuration file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("ORGPLANE_").only(ENV_KEYS));
        Ok(figment.extract()?)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => orgplane_store::sqlite_url(&self.data_dir),
        }
    }

    /// The SMTP relay, when one is configured.
    pub fn smtp(&self) -> Option<orgplane_notify::SmtpConfig> {
        let host = self.smtp_host.clone().filter(|h| !h.is_empty())?;
        Some(orgplane_notify::SmtpConfig {
            host,
            port: self.smtp_port,
            security: match self.smtp_security {
                SmtpSecurity::None => orgplane_notify::SmtpSecurity::None,
                SmtpSecurity::Starttls => orgplane_notify::SmtpSecurity::StartTls,
                SmtpSecurity::Tls => orgplane_notify::SmtpSecurity::Tls,
            },
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from: self.smtp_from.clone(),
        })
    }

    /// The master key: configured, or read from (made on first start in) the data directory.
    pub fn master_key(&self) -> anyhow::Result<orgplane_domain::secretbox::MasterKey> {
        use orgplane_domain::secretbox::MasterKey;
        if let Some(hex) = self.master_key.as_deref().filter(|k| !k.is_empty()) {
            return MasterKey::from_hex(hex).map_err(|e| anyhow::anyhow!("master_key: {e}"));
        }
        let path = self.data_dir.join("master.key");
        if let Ok(hex) = std::fs::read_to_string(&path) {
            return MasterKey::from_hex(&hex).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let key = MasterKey::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&path)?, key.to_hex().as_bytes())?;
        tracing::warn!(path = %path.display(), "generated a new master key; back it up (secrets cannot be read without it)");
        Ok(key)
    }

    pub fn server(&self) -> anyhow::Result<orgplane_server::ServerConfig> {
        Ok(orgplane_server::ServerConfig {
            signup_open: self.signup == Signup::Open,
            rate_limit_per_minute: self.rate_limit_per_minute,
            public_url: self.public_url.trim_end_matches('/').to_string(),
            master_key: self.master_key()?,
            aws: orgplane_cloud::AwsConfig {
                sts_endpoint: self.aws_sts_endpoint.clone().filter(|e| !e.is_empty()),
                region: self.aws_region.clone(),
                access_key_id: self.aws_access_key_id.clone(),
                secret_access_key: self.aws_secret_access_key.clone(),
            },
            azure: orgplane_cloud::AzureConfig {
                authority: self.azure_authority.clone(),
                management_endpoint: self.azure_management_endpoint.clone(),
            },
            gcp: orgplane_cloud::GcpConfig {
                token_hosts: self
                    .gcp_token_hosts
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
        })
    }
}

pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
