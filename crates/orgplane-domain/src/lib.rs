//! The rules of orgplane, with no I/O: identifiers, validation, roles, who may do what, and the
//! secret handling (password hashes, token hashes). Storage and HTTP live in other crates and
//! call in here; nothing in here knows about SQL or status codes.

pub mod access;
pub mod audit;
pub mod billing;
pub mod cloud;
pub mod error;
pub mod family;
pub mod iam;
pub mod ids;
pub mod mfa;
pub mod model;
pub mod notification_center;
pub mod notify;
pub mod outbox;
pub mod plan;
pub mod policy;
pub mod scim;
pub mod secret;
pub mod secretbox;
pub mod sso;
pub mod throttle;
pub mod timefmt;
pub mod usage;
pub mod validate;

pub use error::{Error, Result};
