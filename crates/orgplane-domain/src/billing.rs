//! Pricing and bills (product.md §6): fees per plan and product, either a share of the savings
//! (on-demand cost − actual cost) or a price per vCPU-hour. All money in integer cents; rates
//! in integer units (basis points, thousandths of a cent per vCPU-hour), so no float touches a bill.

use crate::plan::Plan;

/// How a product is priced on a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    /// A share of the savings, in basis points (2500 = 25 %).
    SavingsShare { basis_points: i64 },
    /// Thousandths of a cent per vCPU-hour (1500 = 1.5 cents).
    PerVcpuHour { millicents: i64 },
}

/// The price when the operator has set none: 20 % of savings on trial and pay-as-you-go, 15 %
/// on enterprise.
pub fn default_price(plan: Plan) -> Price {
    match plan {
        Plan::Enterprise => Price::SavingsShare { basis_points: 1500 },
        Plan::Trial | Plan::Payg => Price::SavingsShare { basis_points: 2000 },
    }
}

/// Integer division rounding halves up (amounts are never negative here).
fn div_round(n: i128, d: i128) -> i64 {
    i64::try_from((n + d / 2) / d).unwrap_or(i64::MAX)
}

/// The savings of a line: on-demand minus actual, never below zero.
pub fn savings_cents(on_demand: i64, actual: i64) -> i64 {
    (on_demand - actual).max(0)
}

/// The fee of one bill line.
pub fn fee_cents(price: Price, vcpu_milli_hours: i64, savings: i64) -> i64 {
    match price {
        Price::SavingsShare { basis_points } => div_round(i128::from(savings) * i128::from(basis_points), 10_000),
        Price::PerVcpuHour { millicents } => {
            div_round(i128::from(vcpu_milli_hours) * i128::from(millicents), 1_000_000)
        }
    }
}

/// Whether a month's bill is final: from the 15th of the next month.
pub fn is_final(month: &str, today: &str) -> bool {
    let (Some(y), Some(m)) =
        (month.get(..4).and_then(|y| y.parse::<i32>().ok()), month.get(5..7).and_then(|m| m.parse::<u32>().ok()))
    else {
        return false;
    };
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    today >= format!("{ny:04}-{nm:02}-15").as_str()
}

/// A `YYYY-MM` month that has begun (`today` is `YYYY-MM-DD`); `None` when malformed or future.
pub fn check_month(month: &str, today: &str) -> Option<String> {
    let b = month.as_bytes();
    let shaped = b.len() == 7 && b[4] == b'-' && month.bytes().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit());
    let m: u32 = month.get(5..7)?.parse().ok()?;
    (shaped && (1..=12).contains(&m) && month <= &today[..7]).then(|| month.to_string())
}

/// The `n` months up to and including `month`, oldest first.
pub fn months_back(month: &str, n: u32) -> Vec<String> {
    let y: i32 = month[..4].parse().unwrap_or(1970);
    let m: i32 = month[5..7].parse().unwrap_or(1);
    let index = y * 12 + (m - 1);
    (0..n as i32).rev().map(|k| index - k).map(|i| format!("{:04}-{:02}", i / 12, i % 12 + 1)).collect()
}

/// One month's usage of one account and product, summed (what the store aggregates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLine {
    pub month: String,
    pub account_id: String,
    pub product: String,
    pub vcpu_milli_hours: i64,
    pub on_demand_cost_cents: i64,
    pub actual_cost_cents: i64,
}

/// A priced bill line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub usage: UsageLine,
    pub savings_cents: i64,
    pub fee_cents: i64,
}

/// The bill of `month`: its priced lines, and the total fee of each of `months` (the trend).
fn bill(
    month: &str,
    months: &[String],
    usage: Vec<UsageLine>,
    price_of: impl Fn(&str) -> Price,
) -> (Vec<BillLine>, Vec<(String, i64)>) {
    let mut trend: Vec<(String, i64)> = months.iter().map(|m| (m.clone(), 0)).collect();
    let mut lines = Vec::new();
    for u in usage {
        let savings = savings_cents(u.on_demand_cost_cents, u.actual_cost_cents);
        let fee = fee_cents(price_of(&u.product), u.vcpu_milli_hours, savings);
        if let Some(point) = trend.iter_mut().find(|(m, _)| *m == u.month) {
            point.1 += fee;
        }
        if u.month == month {
            lines.push(BillLine { usage: u, savings_cents: savings, fee_cents: fee });
        }
    }
    (lines, trend)
}

/// What the store gathers of one organization for a bill: its usage over the months of the
/// bill and its trend, and the prices of its plan.
#[derive(Debug, Clone)]
pub struct SectionUsage {
    pub organization_id: i64,
    pub organization_name: String,
    pub plan: Plan,
    /// The operator's prices for the plan, by product; other products take [`default_price`].
    pub prices: Vec<(String, Price)>,
    pub usage: Vec<UsageLine>,
}

/// The bill of `month` (`today` is `YYYY-MM-DD`): each organization's lines priced at its own
/// plan's prices, and the six-month trend over all of them.
pub fn statement(month: &str, today: &str, billed_to: Option<i64>, sections: Vec<SectionUsage>) -> Statement {
    let months = months_back(month, 6);
    let mut trend: Vec<(String, i64)> = months.iter().map(|m| (m.clone(), 0)).collect();
    let sections = sections
        .into_iter()
        .map(|s| {
            let price_of = |product: &str| {
                s.prices.iter().find(|(p, _)| p == product).map_or(default_price(s.plan), |(_, price)| *price)
            };
            let (lines, part) = bill(month, &months, s.usage, price_of);
            for (total, (_, fee)) in trend.iter_mut().zip(part) {
                total.1 += fee;
            }
            Section { organization_id: s.organization_id, organization_name: s.organization_name, lines }
        })
        .collect();
    Statement {
        month: month.to_string(),
        currency: "USD",
        is_final: is_final(month, today),
        sections,
        billed_to,
        trend,
    }
}

/// One organization's part of a bill: the organization itself, or a child whose billing is
/// shared with its parent (product.md §6, linked organizations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub organization_id: i64,
    pub organization_name: String,
    pub lines: Vec<BillLine>,
}

impl Section {
    pub fn savings_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.savings_cents).sum()
    }

    pub fn fee_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.fee_cents).sum()
    }
}

/// A month's bill as every output renders it (JSON, CSV, PDF, charts): the paying
/// organization's section first, then one per child with shared billing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub month: String,
    pub currency: &'static str,
    /// Final from the 15th of the next month; before that it can still change.
    pub is_final: bool,
    pub sections: Vec<Section>,
    /// The ancestor that pays this bill when the organization shares its billing with its
    /// parent; `None` when it pays for itself.
    pub billed_to: Option<i64>,
    /// Total fee of each of the six months up to `month`, oldest first, over all sections.
    pub trend: Vec<(String, i64)>,
}

impl Statement {
    pub fn lines(&self) -> impl Iterator<Item = (&Section, &BillLine)> {
        self.sections.iter().flat_map(|s| s.lines.iter().map(move |l| (s, l)))
    }

    pub fn total_savings_cents(&self) -> i64 {
        self.sections.iter().map(Section::savings_cents).sum()
    }

    pub fn total_fee_cents(&self) -> i64 {
        self.sections.iter().map(Section::fee_cents).sum()
    }

    /// Fee per product over all sections, largest first (the cost-per-product chart).
    pub fn fee_by_product(&self) -> Vec<(String, i64)> {
        let mut by: Vec<(String, i64)> = Vec::new();
        for (_, l) in self.lines() {
            match by.iter_mut().find(|(p, _)| *p == l.usage.product) {
                Some(entry) => entry.1 += l.fee_cents,
                None => by.push((l.usage.product.clone(), l.fee_cents)),
            }
        }
        by.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by
    }
}

/// Cents as dollars for people (`123456` → `1,234.56`); files keep the integer cents.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let whole = (cents.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", cents.unsigned_abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_exact_integers() {
        assert_eq!(fee_cents(Price::SavingsShare { basis_points: 2500 }, 0, 1001), 250);
        assert_eq!(fee_cents(Price::SavingsShare { basis_points: 2500 }, 0, 1002), 251);
        assert_eq!(fee_cents(Price::PerVcpuHour { millicents: 1500 }, 10_500, 0), 16);
        assert_eq!(savings_cents(100, 300), 0);
    }

    #[test]
    fn months_and_finality() {
        assert!(is_final("2026-10", "2026-11-15"));
        assert!(!is_final("2026-10", "2026-11-14"));
        assert!(is_final("2025-12", "2026-01-15"));
        assert_eq!(check_month("2026-11", "2026-12-01").as_deref(), Some("2026-11"));
        assert!(check_month("2027-01", "2026-12-01").is_none());
        assert!(check_month("2026-13", "2026-12-01").is_none());
        assert_eq!(months_back("2026-02", 3), vec!["2025-12", "2026-01", "2026-02"]);
    }

    #[test]
    fn a_statement_prices_each_section_at_its_own_plan_and_sums_the_trend() {
        let usage = |month: &str, od: i64| UsageLine {
            month: month.into(),
            account_id: "act-00000001".into(),
            product: "ocean".into(),
            vcpu_milli_hours: 1000,
            on_demand_cost_cents: od,
            actual_cost_cents: 0,
        };
        let section = |id: i64, plan: Plan, prices: Vec<(String, Price)>, usage: Vec<UsageLine>| SectionUsage {
            organization_id: id,
            organization_name: format!("org {id}"),
            plan,
            prices,
            usage,
        };
        let s = statement(
            "2026-10",
            "2026-11-20",
            None,
            vec![
                section(1, Plan::Payg, vec![], vec![usage("2026-09", 1_000), usage("2026-10", 10_000)]),
                section(
                    2,
                    Plan::Enterprise,
                    vec![("ocean".into(), Price::SavingsShare { basis_points: 1000 })],
                    vec![usage("2026-10", 10_000)],
                ),
            ],
        );
        assert!(s.is_final);
        assert_eq!(s.sections[0].fee_cents(), 2_000, "20 % by default on payg");
        assert_eq!(s.sections[1].fee_cents(), 1_000, "the operator's 10 %");
        assert_eq!(s.total_fee_cents(), 3_000);
        assert_eq!(s.trend.len(), 6);
        assert_eq!(&s.trend[4..], &[("2026-09".to_string(), 200), ("2026-10".to_string(), 3_000)]);
    }

    #[test]
    fn cents_for_people() {
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(123_456), "1,234.56");
        assert_eq!(format_cents(100_000_000), "1,000,000.00");
        assert_eq!(format_cents(-250), "-2.50");
    }
}
