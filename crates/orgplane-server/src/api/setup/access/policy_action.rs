//! `GET /setup/access/policyAction` (AP6): the catalog of every action orgplane defines.

use super::super::super::{Failure, Items};
use crate::envelope::Reply;
use crate::error::ApiResult;
use crate::extract::{Auth, Query, QueryParams};
use orgplane_domain::policy::{PolicyType, action_catalog};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActionFilters {
    pub name: Option<String>,
    pub service: Option<String>,
    pub resource_pattern: Option<String>,
    pub scope: Option<String>,
    pub category: Option<String>,
}

impl QueryParams for ActionFilters {
    const ALLOWED: &'static [&'static str] = &["name", "service", "resourcePattern", "scope", "category"];
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyActionItem {
    pub name: &'static str,
    pub service: &'static str,
    pub resource_pattern: &'static str,
    /// `ACCOUNT` or `ORGANIZATION`.
    pub scope: &'static str,
    /// `CREATE`, `READ`, `UPDATE` or `DELETE`.
    pub category: &'static str,
}

/// The action catalog, optionally filtered (each filter compared case-insensitively).
#[utoipa::path(get, path = "/setup/access/policyAction", tag = "policies", security(("bearer" = [])),
    params(("name" = Option<String>, Query), ("service" = Option<String>, Query), ("resourcePattern" = Option<String>, Query),
           ("scope" = Option<String>, Query), ("category" = Option<String>, Query)),
    responses((status = 200, body = Items<PolicyActionItem>), (status = 400, body = Failure), (status = 401, body = Failure)))]
pub async fn list(Auth(_caller): Auth, q: Query<ActionFilters>) -> ApiResult<Reply> {
    let f = &q.params;
    let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f.eq_ignore_ascii_case(value));
    let items = action_catalog()
        .iter()
        .map(|a| PolicyActionItem {
            name: a.name,
            service: a.service,
            resource_pattern: a.resource_pattern,
            scope: match a.scope {
                PolicyType::Account => "ACCOUNT",
                PolicyType::Organization => "ORGANIZATION",
            },
            category: a.category,
        })
        .filter(|a| {
            eq(&f.name, a.name)
                && eq(&f.service, a.service)
                && eq(&f.resource_pattern, a.resource_pattern)
                && eq(&f.scope, a.scope)
                && eq(&f.category, a.category)
        });
    Ok(Reply::items("spotinst:setup:policyAction", items))
}
