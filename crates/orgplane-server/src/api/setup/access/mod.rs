//! `/setup/access/…`: access policies, the action catalog, user groups, and explain.

pub mod explain;
pub mod policy;
pub mod policy_action;
pub mod user_group;
