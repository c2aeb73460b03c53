//! Policy documents (Spot's `policyContent`) from arbitrary JSON: parsing never panics; a refusal
//! is a validation error naming a field under the document's locator; an accepted document
//! serialises to JSON that parses back to an equal document; and the engine's decisions under it
//! agree with a plain reading of its statements:
//! - a statement without conditions matches exactly when one action pattern and one resource
//!   pattern glob-match (the prefix index never hides or invents a match);
//! - `evaluate` allows exactly when the policy applies, some ALLOW statement matches and no DENY
//!   statement does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgplane_domain::Error;
use orgplane_domain::policy::{
    Context, Effect, Grant, Policy, PolicyDocument, PolicyType, Request, Scope, Via, applies, evaluate, glob,
};
use serde_json::Value;

const FIELD: &str = "body.policy.policyContent";
const ACCOUNT: &str = "act-1a2b3c4d";

/// A concrete string a pattern matches (or nearly: the fuzzer's patterns may be anything).
fn instance(pattern: &str) -> String {
    pattern.replace('*', "x").replace('?', "y")
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let doc = match PolicyDocument::from_json(&value, FIELD) {
        Ok(doc) => doc,
        Err(Error::Invalid { field: Some(field), message, .. }) => {
            assert!(field.starts_with(FIELD), "error field {field:?} outside the document");
            assert!(!message.is_empty());
            return;
        }
        Err(other) => panic!("a document is refused only as invalid input naming its field, not {other:?}"),
    };
    let again = PolicyDocument::from_json(&doc.to_json(), FIELD).expect("to_json reads back");
    assert_eq!(again, doc, "round trip through to_json");

    let mut actions = vec!["setup:createAccount".to_string(), "setup:listUsers".to_string()];
    let mut resources = vec!["*".to_string(), ACCOUNT.to_string()];
    for s in &doc.statements {
        actions.extend(s.actions.iter().take(2).map(|a| instance(a)));
        resources.extend(s.resources.iter().take(2).map(|r| instance(r)));
    }
    let mut context = Context::new();
    context.insert("spot:userEmail", "ada@example.com");
    context.insert("spot:organizationId", "606000000001");
    context.insert("spot:accountId", ACCOUNT);
    let via = Via::Direct;
    for (policy_type, scope) in [
        (PolicyType::Organization, Scope::Organization),
        (PolicyType::Account, Scope::Accounts(vec![ACCOUNT.to_string()])),
    ] {
        let policy = Policy {
            id: "p-fuzz".into(),
            name: "fuzz".into(),
            description: String::new(),
            policy_type,
            builtin: false,
            document: doc.clone(),
        };
        let grants = [Grant { policy: &policy, scope: &scope, via: &via }];
        for action in actions.iter().take(8) {
            for resource in resources.iter().take(8) {
                for account_id in [None, Some(ACCOUNT)] {
                    let request = Request { action, resource, account_id, context: &context };
                    let mut allow = false;
                    let mut deny = false;
                    for s in &policy.document.statements {
                        let matched = s.matches(&request);
                        if s.conditions.is_empty() {
                            let plain = s.actions.iter().any(|p| glob(p, action, true))
                                && s.resources.iter().any(|p| glob(p, resource, false));
                            assert_eq!(matched, plain, "index and globs disagree on {action} {resource}: {s:?}");
                        }
                        match s.effect {
                            Effect::Allow => allow |= matched,
                            Effect::Deny => deny |= matched,
                        }
                    }
                    let applies = applies(&grants[0], &request);
                    let decision = evaluate(&grants, &request);
                    assert_eq!(decision.allowed, applies && allow && !deny, "{action} {resource} {account_id:?}");
                    if let Some(d) = &decision.decided_by {
                        assert!(applies);
                        let s = &policy.document.statements[d.statement_index];
                        assert_eq!(s.effect, d.effect);
                        assert!(s.matches(&request));
                    } else {
                        assert!(!applies || (!allow && !deny));
                    }
                }
            }
        }
    }
});
