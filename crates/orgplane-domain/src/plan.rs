//! Plans (product.md §6): a trial of 30 days from sign-up, then pay-as-you-go once an admin
//! activates the organization with a billing contact and a payment method (or invoice billing);
//! enterprise is set by the operator. An expired, unactivated trial makes the organization
//! read-only until it is activated. Payment methods are references only: a card number is
//! refused outright, never stored.

use crate::error::Error;
use crate::validate;
use serde::{Deserialize, Serialize};

pub const TRIAL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Trial-expiring notices go out this long before the end.
pub const TRIAL_REMINDER_MS: i64 = 7 * 24 * 60 * 60 * 1000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Trial,
    Payg,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::Payg => "payg",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        [Plan::Trial, Plan::Payg, Plan::Enterprise].into_iter().find(|p| p.as_str() == s)
    }
}

/// Where an organization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// A trial with whole days left (rounded up).
    Trial {
        days_left: i64,
    },
    /// The trial ended without activation: read-only.
    Expired,
    Active,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Trial { .. } => "trial",
            PlanStatus::Expired => "expired",
            PlanStatus::Active => "active",
        }
    }
}

/// The status of an organization on `plan` whose trial ends at `trial_ends_at`.
pub fn status(plan: Plan, trial_ends_at: i64, now: i64) -> PlanStatus {
    match plan {
        Plan::Payg | Plan::Enterprise => PlanStatus::Active,
        Plan::Trial if now >= trial_ends_at => PlanStatus::Expired,
        Plan::Trial => PlanStatus::Trial { days_left: (trial_ends_at - now + DAY_MS - 1) / DAY_MS },
    }
}

/// Who receives the bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingContact {
    pub name: String,
    pub email: String,
}

/// How the organization pays: a reference to a card kept by a payment provider, or invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PaymentMethod {
    #[serde(rename = "card", rename_all = "camelCase")]
    Card { brand: String, last4: String, exp_month: u8, exp_year: u16 },
    #[serde(rename = "invoice")]
    Invoice,
}

/// True when `s` holds a run of 12 or more digits (spaces and dashes ignored): a card number.
fn looks_like_card_number(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 12 {
                return true;
            }
        } else if c != ' ' && c != '-' {
            run = 0;
        }
    }
    false
}

/// Refuses anything in the activation body that could be a card number, wherever it is.
pub fn refuse_card_numbers(body: &serde_json::Value, field: &str) -> Result<(), Error> {
    let refuse = || {
        Error::invalid(
            "CARD_NUMBER_REFUSED",
            field,
            "never send a card number: give the brand, the last 4 digits and the expiry of a card held by your payment provider",
        )
    };
    match body {
        serde_json::Value::String(s) if looks_like_card_number(s) => Err(refuse()),
        serde_json::Value::Number(n) if looks_like_card_number(&n.to_string()) => Err(refuse()),
        serde_json::Value::Object(o) => o.iter().try_for_each(|(k, v)| refuse_card_numbers(v, &format!("{field}.{k}"))),
        serde_json::Value::Array(a) => {
            a.iter().enumerate().try_for_each(|(i, v)| refuse_card_numbers(v, &format!("{field}[{i}]")))
        }
        _ => Ok(()),
    }
}

/// Checks the activation inputs; `now_year_month` is (year, month) today.
pub fn check_activation(
    contact: &BillingContact,
    payment: &PaymentMethod,
    now_year_month: (u16, u8),
) -> Result<(BillingContact, PaymentMethod), Error> {
    let contact = BillingContact {
        name: validate::person_name("body.billingContact.name", &contact.name)?,
        email: validate::email("body.billingContact.email", &contact.email)?.display,
    };
    let payment = match payment {
        PaymentMethod::Invoice => PaymentMethod::Invoice,
        PaymentMethod::Card { brand, last4, exp_month, exp_year } => {
            let brand = brand.trim().to_ascii_lowercase();
            let known = ["visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay"];
            if !known.contains(&brand.as_str()) {
                return Err(Error::validation(
                    "body.paymentMethod.brand",
                    format!("\"brand\" must be one of {}", known.join(", ")),
                ));
            }
            if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::validation("body.paymentMethod.last4", "\"last4\" must be exactly 4 digits"));
            }
            if !(1..=12).contains(exp_month) {
                return Err(Error::validation("body.paymentMethod.expMonth", "\"expMonth\" must be 1 to 12"));
            }
            if (*exp_year, *exp_month) < now_year_month || *exp_year > now_year_month.0 + 20 {
                return Err(Error::invalid("CARD_EXPIRED", "body.paymentMethod.expYear", "the card has expired"));
            }
            PaymentMethod::Card { brand, last4: last4.clone(), exp_month: *exp_month, exp_year: *exp_year }
        }
    };
    Ok((contact, payment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trial_status_counts_days_up() {
        let ends = 100 * DAY_MS;
        assert_eq!(status(Plan::Trial, ends, ends - DAY_MS - 1), PlanStatus::Trial { days_left: 2 });
        assert_eq!(status(Plan::Trial, ends, ends - 1), PlanStatus::Trial { days_left: 1 });
        assert_eq!(status(Plan::Trial, ends, ends), PlanStatus::Expired);
        assert_eq!(status(Plan::Payg, ends, ends * 2), PlanStatus::Active);
    }

    #[test]
    fn card_numbers_are_refused_anywhere() {
        assert!(refuse_card_numbers(&json!({"a": {"b": "4111 1111 1111 1111"}}), "body").is_err());
        assert!(refuse_card_numbers(&json!({"n": 4111111111111111_u64}), "body").is_err());
        assert!(refuse_card_numbers(&json!({"last4": "1111", "year": 2030}), "body").is_ok());
        let err =
            refuse_card_numbers(&json!({"paymentMethod": {"number": "4111-1111-1111-1111"}}), "body").unwrap_err();
        assert!(
            matches!(err, Error::Invalid { code: "CARD_NUMBER_REFUSED", field: Some(f), .. } if f == "body.paymentMethod.number")
        );
    }

    #[test]
    fn activation_inputs_are_checked() {
        let contact = BillingContact { name: "Ada Lovelace".into(), email: "billing@example.com".into() };
        let card = |last4: &str, m: u8, y: u16| PaymentMethod::Card {
            brand: "Visa".into(),
            last4: last4.into(),
            exp_month: m,
            exp_year: y,
        };
        assert!(check_activation(&contact, &card("4242", 12, 2030), (2026, 12)).is_ok());
        assert!(check_activation(&contact, &card("42", 12, 2030), (2026, 12)).is_err());
        assert!(check_activation(&contact, &card("4242", 11, 2026), (2026, 12)).is_err());
        assert!(check_activation(&contact, &PaymentMethod::Invoice, (2026, 12)).is_ok());
    }
}
