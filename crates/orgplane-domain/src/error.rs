//! The one error type of orgplane. Every crate returns it; the server maps it to Spot's error
//! envelope in exactly one place (`orgplane_server::error`).

use std::fmt;

/// What went wrong, in the vocabulary of the API. Each variant carries the Spot error `code`
/// (upper snake case, except the not-found codes Terraform matches literally), a human message,
/// and, where one field is at fault, a locator such as `body.user.email` or `query.accountId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request is malformed or breaks a rule (400).
    Invalid { code: &'static str, message: String, field: Option<String> },
    /// No credentials, or unknown, expired or revoked ones (401, no `errors` array).
    Unauthenticated,
    /// Authenticated, but this caller may not do this (403).
    Forbidden { code: &'static str, message: String },
    /// The thing does not exist, or exists in another organization (404).
    NotFound { code: &'static str, message: String, field: Option<String> },
    /// The request body is larger than the server accepts (413).
    PayloadTooLarge,
    /// Too many requests (429): `RATE_LIMIT_EXCEEDED` for the API limit, `TOO_MANY_ATTEMPTS`
    /// for sign-in throttling.
    RateLimited { code: &'static str, message: String, retry_after_secs: u64 },
    /// No route for this path (404) or method (405).
    NoRoute { method_known: bool },
    /// Something failed on our side (500). The text is logged, never sent.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { code: "ValidationError", message: message.into(), field: Some(field.into()) }
    }

    pub fn invalid(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { code, message: message.into(), field: Some(field.into()) }
    }

    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { code, message: message.into(), field: None }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden { code: "FORBIDDEN", message: message.into() }
    }

    pub fn not_found(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::NotFound { code, message: message.into(), field: Some(field.into()) }
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    /// Prefix the field locator, so a validator that knows only `email` can report
    /// `body.user.email`.
    pub fn in_field(self, prefix: &str) -> Self {
        let join = |f: Option<String>| match f {
            Some(f) => Some(format!("{prefix}.{f}")),
            None => Some(prefix.to_string()),
        };
        match self {
            Error::Invalid { code, message, field } => Error::Invalid { code, message, field: join(field) },
            Error::NotFound { code, message, field } => Error::NotFound { code, message, field: join(field) },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid { code, message, .. }
            | Error::Forbidden { code, message }
            | Error::NotFound { code, message, .. } => write!(f, "{code}: {message}"),
            Error::Unauthenticated => f.write_str("unauthenticated"),
            Error::PayloadTooLarge => f.write_str("payload too large"),
            Error::RateLimited { .. } => f.write_str("rate limited"),
            Error::NoRoute { .. } => f.write_str("no such route"),
            Error::Internal(cause) => write!(f, "internal error: {cause}"),
        }
    }
}

impl std::error::Error for Error {}
