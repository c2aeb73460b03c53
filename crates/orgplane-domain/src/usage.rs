//! Usage records (product.md §6): per account, day and product, vCPU-hours and costs. Checked
//! here, so a batch is taken whole or refused with the index of the first bad record.

use crate::error::Error;
use serde::Deserialize;

/// The most records one batch may carry.
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageInput {
    pub account_id: String,
    pub date: String,
    pub product: String,
    pub vcpu_hours: f64,
    pub on_demand_cost_cents: i64,
    pub actual_cost_cents: i64,
}

/// A checked record: vCPU-hours in thousandths, so that sums are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsageRecord {
    pub account_id: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub product: String,
    pub vcpu_milli_hours: i64,
    pub on_demand_cost_cents: i64,
    pub actual_cost_cents: i64,
}

fn bad(i: usize, name: &str, message: impl Into<String>) -> Error {
    Error::validation(format!("body.records[{i}].{name}"), message)
}

/// Checks record `i`; `today` is `YYYY-MM-DD` (days after it are refused).
pub fn check_record(i: usize, r: &UsageInput, today: &str) -> Result<UsageRecord, Error> {
    let d = r.date.as_bytes();
    let shaped = d.len() == 10
        && d[4] == b'-'
        && d[7] == b'-'
        && r.date.bytes().enumerate().all(|(k, b)| k == 4 || k == 7 || b.is_ascii_digit());
    let valid = shaped && {
        let year: i32 = r.date[..4].parse().unwrap_or(0);
        let month: u8 = r.date[5..7].parse().unwrap_or(0);
        let day: u8 = r.date[8..].parse().unwrap_or(0);
        time::Month::try_from(month).ok().and_then(|m| time::Date::from_calendar_date(year, m, day).ok()).is_some()
    };
    if !valid {
        return Err(bad(i, "date", "\"date\" must be a calendar day, YYYY-MM-DD"));
    }
    if r.date.as_str() > today {
        return Err(bad(i, "date", "usage cannot be recorded for a day that has not happened"));
    }
    let product = r.product.trim();
    let product_ok = (2..=40).contains(&product.len())
        && product.starts_with(|c: char| c.is_ascii_lowercase())
        && product.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !product_ok {
        return Err(bad(i, "product", "\"product\" must be a lower-case name such as elastigroup, ocean or eco"));
    }
    if !r.vcpu_hours.is_finite() || r.vcpu_hours < 0.0 || r.vcpu_hours > 1e12 {
        return Err(bad(i, "vcpuHours", "\"vcpuHours\" must be a number from 0"));
    }
    for (name, v) in [("onDemandCostCents", r.on_demand_cost_cents), ("actualCostCents", r.actual_cost_cents)] {
        if v < 0 {
            return Err(bad(i, name, format!("\"{name}\" must not be negative")));
        }
    }
    Ok(UsageRecord {
        account_id: r.account_id.clone(),
        day: r.date.clone(),
        product: product.to_string(),
        vcpu_milli_hours: (r.vcpu_hours * 1000.0).round() as i64,
        on_demand_cost_cents: r.on_demand_cost_cents,
        actual_cost_cents: r.actual_cost_cents,
    })
}

/// A stable digest of a batch's content, to tell a true repeat from a reused key.
pub fn content_hash(records: &[UsageRecord]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for r in records {
        h.update(format!(
            "{}|{}|{}|{}|{}|{}\n",
            r.account_id, r.day, r.product, r.vcpu_milli_hours, r.on_demand_cost_cents, r.actual_cost_cents
        ));
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(date: &str, vcpu: f64, cents: i64) -> UsageInput {
        UsageInput {
            account_id: "act-12345678".into(),
            date: date.into(),
            product: "ocean".into(),
            vcpu_hours: vcpu,
            on_demand_cost_cents: cents,
            actual_cost_cents: 10,
        }
    }

    #[test]
    fn records_are_checked_with_their_index() {
        let today = "2026-12-01";
        assert_eq!(check_record(0, &input("2026-11-30", 1.2345, 100), today).unwrap().vcpu_milli_hours, 1235);
        for (r, field) in [
            (input("2026-12-02", 1.0, 1), "body.records[3].date"),
            (input("2026-02-30", 1.0, 1), "body.records[3].date"),
            (input("30/11/2026", 1.0, 1), "body.records[3].date"),
            (input("2026-11-30", -1.0, 1), "body.records[3].vcpuHours"),
            (input("2026-11-30", 1.0, -1), "body.records[3].onDemandCostCents"),
        ] {
            match check_record(3, &r, today).unwrap_err() {
                Error::Invalid { field: Some(f), .. } => assert_eq!(f, field),
                e => panic!("{e:?}"),
            }
        }
    }
}
