//! The bridge from a handler to the policy engine: load the caller's grants (cached by the
//! store) and ask the domain.

use crate::AppState;
use orgplane_domain::Error;
use orgplane_domain::access::{self, Action, Caller, Target};

/// Fails with 403 unless `caller` may perform `action` on `target`.
pub async fn check(state: &AppState, caller: &Caller, action: Action, target: Target<'_>) -> Result<(), Error> {
    let grants = state.store.grants(caller.org_id, &caller.user_id).await?;
    access::authorize(caller, &grants, action, target)
}

/// Fails with 403 unless `caller` may perform an organization-level `action`.
pub async fn check_org(state: &AppState, caller: &Caller, action: Action) -> Result<(), Error> {
    let org = caller.org_id.to_string();
    check(state, caller, action, Target { resource: &org, account_id: None }).await
}
