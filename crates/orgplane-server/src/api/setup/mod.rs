//! Spot's `/setup` tree.

pub mod account;
pub mod organization;
