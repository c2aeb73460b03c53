//! Spot's notification-center policies (N1–N6) and event subscriptions (S1–S6), checked and
//! normalized. orgplane runs no Elastigroups or Ocean clusters, so it raises no compute events
//! itself: these documents are kept, validated and served with Spot's exact shapes so that
//! tools managing them (the SDKs, Terraform) work unchanged, and are ready for a compute event
//! source to deliver through the outbox.

use crate::error::Error;
use crate::validate;
use serde_json::{Map, Value, json};

/// A partial update: `changes`' top-level fields over `current`'s (both JSON objects).
pub fn merged(current: &Value, changes: &Value) -> Value {
    let mut out = current.clone();
    if let (Some(o), Some(c)) = (out.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Compute events a policy can name, with Spot's severity.
pub const COMPUTE_EVENTS: &[(&str, &str)] = &[
    ("AWS_EC2_INSTANCE_LAUNCH", "INFO"),
    ("AWS_EC2_INSTANCE_TERMINATE", "INFO"),
    ("AWS_EC2_INSTANCE_TERMINATED", "INFO"),
    ("AWS_EC2_INSTANCE_READY_SIGNAL_TIMEOUT", "WARN"),
    ("AWS_EC2_CANT_SPIN_OD", "ERROR"),
    ("AWS_EC2_INSTANCE_UNHEALTHY_IN_ELB", "WARN"),
    ("GROUP_ROLL_FAILED", "ERROR"),
    ("GROUP_ROLL_FINISHED", "INFO"),
    ("CANT_SCALE_UP_GROUP_MAX_CAPACITY", "WARN"),
    ("GROUP_UPDATED", "INFO"),
    ("CLUSTER_ROLL_FINISHED", "INFO"),
    ("CLUSTER_ROLL_FAILED", "ERROR"),
    ("OCEAN_CANT_SCALE_UP_MAX_RESOURCES", "WARN"),
    ("OCEAN_K8S_NODE_REMOVED", "INFO"),
];

/// The `eventType` values of event subscriptions (spot-api.md §3.10).
pub const SUBSCRIPTION_EVENT_TYPES: &[&str] = &[
    "AWS_EC2_INSTANCE_TERMINATE",
    "AWS_EC2_INSTANCE_TERMINATED",
    "AWS_EC2_INSTANCE_LAUNCH",
    "AWS_EC2_INSTANCE_READY_SIGNAL_TIMEOUT",
    "SIGNAL_TIMEOUT_SHUTDOWN_SCRIPT",
    "AWS_EC2_CANT_SPIN_OD",
    "AWS_EC2_INSTANCE_UNHEALTHY_IN_ELB",
    "GROUP_ROLL_FAILED",
    "GROUP_ROLL_FINISHED",
    "CANT_SCALE_UP_GROUP_MAX_CAPACITY",
    "GROUP_UPDATED",
    "AWS_EMR_PROVISION_TIMEOUT",
    "GROUP_BEANSTALK_INIT_READY",
    "AZURE_VM_TERMINATED",
    "AZURE_VM_TERMINATE",
    "AWS_EC2_MANAGED_INSTANCE_PAUSING",
    "AWS_EC2_MANAGED_INSTANCE_RESUMING",
    "AWS_EC2_MANAGED_INSTANCE_RECYCLING",
    "AWS_EC2_MANAGED_INSTANCE_DELETING",
    "CLUSTER_ROLL_FINISHED",
    "CLUSTER_ROLL_FAILED",
    "OCEAN_CANT_SCALE_UP_MAX_RESOURCES",
    "OCEAN_LAUNCH_SPEC_CANT_SCALE_UP_MAX_INSTANCES",
    "OCEAN_K8S_NODE_REMOVED",
];

fn field_of(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

fn obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Error> {
    v.as_object().ok_or_else(|| Error::validation(field, format!("\"{field}\" must be an object")))
}

fn opt_str<'a>(o: &'a Map<String, Value>, prefix: &str, name: &str) -> Result<Option<&'a str>, Error> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::validation(field_of(prefix, name), format!("\"{name}\" must be a string"))),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, prefix: &str, name: &str) -> Result<&'a str, Error> {
    opt_str(o, prefix, name)?
        .ok_or_else(|| Error::validation(field_of(prefix, name), format!("\"{name}\" is required")))
}

fn opt_bool(o: &Map<String, Value>, prefix: &str, name: &str) -> Result<Option<bool>, Error> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::validation(field_of(prefix, name), format!("\"{name}\" must be true or false"))),
    }
}

fn opt_array<'a>(o: &'a Map<String, Value>, prefix: &str, name: &str) -> Result<&'a [Value], Error> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(Error::validation(field_of(prefix, name), format!("\"{name}\" must be a list"))),
    }
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), Error> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Error::validation(field, format!("\"{value}\" is not one of {}", allowed.join(", "))))
    }
}

/// Checks an endpoint for its delivery type (`email`, `webhook`/`web`/`http(s)`, `slack`, SNS).
fn endpoint(field: &str, kind: &str, endpoint: &str) -> Result<String, Error> {
    match kind {
        "email" | "email-json" => validate::email(field, endpoint).map(|e| e.display),
        "slack" => validate::slack_webhook_url(field, endpoint),
        "sns" | "aws-sns" => {
            let ok = endpoint.starts_with("arn:aws:sns:") && endpoint.split(':').count() == 6 && endpoint.len() <= 500;
            if ok {
                Ok(endpoint.to_string())
            } else {
                Err(Error::validation(field, "an SNS topic ARN (arn:aws:sns:…) is expected"))
            }
        }
        _ => validate::webhook_url(field, endpoint),
    }
}

/// One `computePolicyConfig`: events, and exactly one way of choosing resources.
fn compute_config(v: &Value, prefix: &str) -> Result<Value, Error> {
    let o = obj(v, prefix)?;
    let events = opt_array(o, prefix, "events")?;
    if events.is_empty() {
        return Err(Error::validation(field_of(prefix, "events"), "at least one event is required"));
    }
    let mut checked_events = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let p = format!("{prefix}.events[{i}]");
        let eo = obj(e, &p)?;
        let name = req_str(eo, &p, "event")?;
        validate::label(&field_of(&p, "event"), name)?;
        let severity = req_str(eo, &p, "type")?;
        one_of(&field_of(&p, "type"), severity, &["INFO", "WARN", "ERROR"])?;
        checked_events.push(json!({"event": name, "type": severity}));
    }
    let all = opt_bool(o, prefix, "shouldIncludeAllResources")?.unwrap_or(false);
    let mut resource_ids = Vec::new();
    for (i, r) in opt_array(o, prefix, "resourceIds")?.iter().enumerate() {
        let f = format!("{prefix}.resourceIds[{i}]");
        let id = r.as_str().ok_or_else(|| Error::validation(&f, "a resource id is expected"))?;
        resource_ids.push(Value::String(validate::label(&f, id)?));
    }
    let mut rules = Vec::new();
    for (i, rule) in opt_array(o, prefix, "dynamicRules")?.iter().enumerate() {
        let p = format!("{prefix}.dynamicRules[{i}]");
        let ro = obj(rule, &p)?;
        let mut conditions = Vec::new();
        for (j, c) in opt_array(ro, &p, "filterConditions")?.iter().enumerate() {
            let cp = format!("{p}.filterConditions[{j}]");
            let co = obj(c, &cp)?;
            conditions.push(json!({
                "identifier": validate::label(&field_of(&cp, "identifier"), req_str(co, &cp, "identifier")?)?,
                "operator": validate::label(&field_of(&cp, "operator"), req_str(co, &cp, "operator")?)?,
                "expression": req_str(co, &cp, "expression")?.chars().take(500).collect::<String>(),
            }));
        }
        if conditions.is_empty() {
            return Err(Error::validation(field_of(&p, "filterConditions"), "at least one condition is required"));
        }
        rules.push(json!({ "filterConditions": conditions }));
    }
    let styles = usize::from(all) + usize::from(!resource_ids.is_empty()) + usize::from(!rules.is_empty());
    if styles != 1 {
        return Err(Error::validation(
            prefix,
            "choose resources in exactly one way: shouldIncludeAllResources, resourceIds or dynamicRules",
        ));
    }
    Ok(json!({
        "events": checked_events,
        "shouldIncludeAllResources": all,
        "resourceIds": resource_ids,
        "dynamicRules": rules,
    }))
}

/// A checked notification-center policy: the document to store (Spot's field names), and
/// the emails of its registered users (checked against the organization by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPolicy {
    pub document: Value,
    pub registered_emails: Vec<String>,
}

/// Checks a policy body (N1, or N4 merged over the stored one). `computePolicyConfig` may be
/// one object (Go) or a list (the spec, Python); it is stored as given.
pub fn check_policy(body: &Value) -> Result<CheckedPolicy, Error> {
    let prefix = "body";
    let o = obj(body, prefix)?;
    let name = validate::entity_name("body.name", req_str(o, prefix, "name")?)?;
    let description = opt_str(o, prefix, "description")?.unwrap_or_default().chars().take(1000).collect::<String>();
    let privacy = req_str(o, prefix, "privacyLevel")?;
    one_of("body.privacyLevel", privacy, &["public", "private"])?;
    let is_active = opt_bool(o, prefix, "isActive")?.unwrap_or(true);
    let mut subscriptions = Vec::new();
    for (i, s) in opt_array(o, prefix, "subscriptions")?.iter().enumerate() {
        let p = format!("body.subscriptions[{i}]");
        let so = obj(s, &p)?;
        let kind = req_str(so, &p, "type")?;
        one_of(&field_of(&p, "type"), kind, &["email", "webhook", "slack", "sns"])?;
        let target = endpoint(&field_of(&p, "endpoint"), kind, req_str(so, &p, "endpoint")?)?;
        subscriptions.push(json!({"type": kind, "endpoint": target}));
    }
    let mut registered = Vec::new();
    let mut registered_emails = Vec::new();
    for (i, r) in opt_array(o, prefix, "registeredUsers")?.iter().enumerate() {
        let p = format!("body.registeredUsers[{i}]");
        let ro = obj(r, &p)?;
        let email = validate::email(&field_of(&p, "userEmail"), req_str(ro, &p, "userEmail")?)?;
        let mut types = Vec::new();
        for (j, t) in opt_array(ro, &p, "subscriptionTypes")?.iter().enumerate() {
            let f = format!("{p}.subscriptionTypes[{j}]");
            let t = t.as_str().ok_or_else(|| Error::validation(&f, "a subscription type is expected"))?;
            one_of(&f, t, &["email", "console"])?;
            types.push(t.to_string());
        }
        registered_emails.push(email.display.clone());
        registered.push(json!({"userEmail": email.display, "subscriptionTypes": types}));
    }
    let config = match o.get("computePolicyConfig") {
        None | Some(Value::Null) => {
            return Err(Error::validation("body.computePolicyConfig", "\"computePolicyConfig\" is required"));
        }
        Some(Value::Array(list)) if !list.is_empty() => Value::Array(
            list.iter()
                .enumerate()
                .map(|(i, c)| compute_config(c, &format!("body.computePolicyConfig[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Some(Value::Array(_)) => {
            return Err(Error::validation("body.computePolicyConfig", "at least one configuration is required"));
        }
        Some(single) => compute_config(single, "body.computePolicyConfig")?,
    };
    Ok(CheckedPolicy {
        document: json!({
            "name": name,
            "description": description,
            "privacyLevel": privacy,
            "isActive": is_active,
            "subscriptions": subscriptions,
            "registeredUsers": registered,
            "type": "compute",
            "computePolicyConfig": config,
        }),
        registered_emails,
    })
}

/// A checked event subscription (S1, or S4 merged over the stored one).
pub fn check_subscription(body: &Value) -> Result<Value, Error> {
    let prefix = "body.subscription";
    let o = obj(body, prefix)?;
    let resource = validate::label(&field_of(prefix, "resourceId"), req_str(o, prefix, "resourceId")?)?;
    let known_prefix = ["sig-", "o-", "ssn-", "smi-", "ols-"].iter().any(|p| resource.starts_with(p));
    if !known_prefix {
        return Err(Error::validation(
            field_of(prefix, "resourceId"),
            "\"resourceId\" must name an Elastigroup (sig-…), Ocean cluster (o-…) or stateful node (ssn-…)",
        ));
    }
    let protocol = req_str(o, prefix, "protocol")?;
    one_of(&field_of(prefix, "protocol"), protocol, &["aws-sns", "email", "email-json", "web", "http", "https"])?;
    let target = endpoint(&field_of(prefix, "endpoint"), protocol, req_str(o, prefix, "endpoint")?)?;
    let event_type = req_str(o, prefix, "eventType")?;
    one_of(&field_of(prefix, "eventType"), event_type, SUBSCRIPTION_EVENT_TYPES)?;
    let format = match o.get("eventFormat") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(f)) if f.len() <= 50 => Value::Object(f.clone()),
        Some(_) => {
            return Err(Error::validation(
                field_of(prefix, "eventFormat"),
                "\"eventFormat\" must be an object of at most 50 keys",
            ));
        }
    };
    Ok(json!({
        "resourceId": resource,
        "protocol": protocol,
        "endpoint": target,
        "eventType": event_type,
        "eventFormat": format,
    }))
}

/// A checked account notification policy (S6): email and Slack statements.
pub fn check_account_policy(body: &Value) -> Result<Value, Error> {
    let prefix = "body.accountPolicy";
    let root = obj(body, "body")?;
    let o = obj(root.get("accountPolicy").unwrap_or(&Value::Null), prefix)?;
    let mut out = Map::new();
    for part in ["emailPolicy", "slackPolicy"] {
        let p = field_of(prefix, part);
        let statements = match o.get(part) {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                let po = obj(v, &p)?;
                let mut list = Vec::new();
                for (i, s) in opt_array(po, &p, "statements")?.iter().enumerate() {
                    let sp = format!("{p}.statements[{i}]");
                    let so = obj(s, &sp)?;
                    let ids = |name: &str| -> Result<Vec<Value>, Error> {
                        opt_array(so, &sp, name)?
                            .iter()
                            .enumerate()
                            .map(|(k, r)| {
                                let f = format!("{sp}.{name}[{k}]");
                                let ro = obj(r, &f)?;
                                Ok(json!({"id": validate::label(&field_of(&f, "id"), req_str(ro, &f, "id")?)?}))
                            })
                            .collect()
                    };
                    list.push(json!({
                        "category": validate::label(&field_of(&sp, "category"), req_str(so, &sp, "category")?)?,
                        "subCategory": opt_str(so, &sp, "subCategory")?,
                        "isEnabled": opt_bool(so, &sp, "isEnabled")?.unwrap_or(true),
                        "applyOnFutureResources": opt_bool(so, &sp, "applyOnFutureResources")?.unwrap_or(true),
                        "allowedResources": ids("allowedResources")?,
                        "deniedResources": ids("deniedResources")?,
                    }));
                }
                list
            }
        };
        out.insert(part.into(), json!({ "statements": statements }));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Value {
        json!({
            "name": "Prod alerts", "privacyLevel": "public", "isActive": true,
            "subscriptions": [{"type": "email", "endpoint": "ops@example.com"}, {"type": "slack", "endpoint": "https://hooks.slack.com/services/T/B/x"}],
            "registeredUsers": [{"userEmail": "ada@example.com", "subscriptionTypes": ["email", "console"]}],
            "computePolicyConfig": {"events": [{"event": "GROUP_ROLL_FAILED", "type": "ERROR"}], "shouldIncludeAllResources": true}
        })
    }

    fn field_of_err(r: Result<CheckedPolicy, Error>) -> String {
        match r.unwrap_err() {
            Error::Invalid { field: Some(field), .. } => field,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_policy_is_normalized() {
        let c = check_policy(&policy()).unwrap();
        assert_eq!(c.registered_emails, vec!["ada@example.com"]);
        assert_eq!(c.document["computePolicyConfig"]["events"][0]["event"], "GROUP_ROLL_FAILED");
        assert_eq!(c.document["type"], "compute");
    }

    #[test]
    fn bad_policies_name_the_field() {
        let mut p = policy();
        p["computePolicyConfig"]["resourceIds"] = json!(["sig-1"]);
        assert_eq!(field_of_err(check_policy(&p)), "body.computePolicyConfig");
        let mut p = policy();
        p["subscriptions"][1]["endpoint"] = json!("http://hooks.slack.com/x");
        assert_eq!(field_of_err(check_policy(&p)), "body.subscriptions[1].endpoint");
        let mut p = policy();
        p["privacyLevel"] = json!("secret");
        assert_eq!(field_of_err(check_policy(&p)), "body.privacyLevel");
        let mut p = policy();
        p["computePolicyConfig"] =
            json!([{"events": [{"event": "X", "type": "LOUD"}], "shouldIncludeAllResources": true}]);
        assert_eq!(field_of_err(check_policy(&p)), "body.computePolicyConfig[0].events[0].type");
        let mut p = policy();
        p.as_object_mut().unwrap().remove("computePolicyConfig");
        assert_eq!(field_of_err(check_policy(&p)), "body.computePolicyConfig");
    }

    #[test]
    fn subscriptions_check_protocol_endpoint_and_event() {
        let ok = json!({"resourceId": "sig-12345678", "protocol": "email", "endpoint": "ops@example.com", "eventType": "GROUP_UPDATED"});
        assert_eq!(check_subscription(&ok).unwrap()["eventFormat"], Value::Null);
        for (k, v) in
            [("resourceId", "i-123"), ("protocol", "fax"), ("eventType", "NOPE"), ("endpoint", "not-an-email")]
        {
            let mut bad = ok.clone();
            bad[k] = json!(v);
            assert!(check_subscription(&bad).is_err(), "{k}");
        }
    }
}
