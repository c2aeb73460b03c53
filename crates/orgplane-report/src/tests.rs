use super::*;
use orgplane_domain::billing::{BillLine, Section, UsageLine};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const HOSTILE_PRODUCT: &str = "#panic(),\"x\"]";
const HOSTILE_ORG: &str = "Acme #strong[Co] \"Ltd\"";

fn line(account: &str, product: &str, milli: i64, on_demand: i64, actual: i64, fee: i64) -> BillLine {
    BillLine {
        usage: UsageLine {
            month: "2026-10".into(),
            account_id: account.into(),
            product: product.into(),
            vcpu_milli_hours: milli,
            on_demand_cost_cents: on_demand,
            actual_cost_cents: actual,
        },
        savings_cents: (on_demand - actual).max(0),
        fee_cents: fee,
    }
}

fn trend(last: i64) -> Vec<(String, i64)> {
    ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
        .iter()
        .enumerate()
        .map(|(i, m)| (m.to_string(), if i == 5 { last } else { 10_000 * i as i64 + 5 }))
        .collect()
}

fn small() -> Statement {
    let lines = vec![
        line("act-1a2b3c4d", "ocean", 12_345, 150_000, 60_000, 18_000),
        line("act-1a2b3c4d", HOSTILE_PRODUCT, 5, 1_000, 400, 120),
        line("act-99999999", "elastigroup", 100_000, 1_000, 1_500, 150),
    ];
    Statement {
        month: "2026-10".into(),
        currency: "USD",
        is_final: true,
        sections: vec![Section { organization_id: 606_079_870_001, organization_name: HOSTILE_ORG.into(), lines }],
        billed_to: None,
        trend: trend(18_270),
    }
}

fn big(n: usize) -> Statement {
    let mut s = small();
    s.is_final = false;
    s.sections[0].lines = (0..n)
        .map(|i| {
            line(
                &format!("act-{i:08x}"),
                ["ocean", "elastigroup", "eco"][i % 3],
                1_000 * i as i64,
                10_000,
                4_000,
                1_200,
            )
        })
        .collect();
    s.sections.push(Section {
        organization_id: 606_079_870_002,
        organization_name: "Child Org".into(),
        lines: vec![line("act-c0c0c0c0", "ocean", 1_000, 2_000, 1_000, 200)],
    });
    s
}

/// The tags of an SVG are balanced and its attributes quoted: a tiny well-formedness check.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        assert!(!text.contains('>'), "a stray '>' in text: {text}");
        let close = rest[open..].find('>').expect("an unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        if tag.starts_with('?') || tag.starts_with('!') {
        } else if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(rest.trim().is_empty());
}

#[test]
fn the_trend_chart_is_an_svg_of_the_six_months() {
    let svg = trend_chart_svg(&small());
    assert_well_formed(&svg);
    for month in ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"] {
        assert!(svg.contains(month), "{month} missing");
    }
    assert_eq!(svg.matches("<rect").count() - 1, 6, "a background and six bars");
    assert!(svg.contains("182.70"), "the exact amount labels the bar");
    assert!(svg.contains("DejaVu Sans"));
}

#[test]
fn the_product_chart_names_each_product_and_escapes_them() {
    let svg = product_chart_svg(&small());
    assert_well_formed(&svg);
    assert!(svg.contains("ocean") && svg.contains("elastigroup"));
    assert!(svg.contains("#panic(),&quot;x&quot;]"), "the name is escaped, not dropped");
    assert!(svg.contains("180.00") && svg.contains("1.50") && svg.contains("1.20"));
    let empty = Statement { sections: vec![], ..small() };
    let svg = product_chart_svg(&empty);
    assert_well_formed(&svg);
    assert!(svg.contains("no usage this month"));
    let many = big(40);
    let svg = product_chart_svg(&many);
    assert_well_formed(&svg);
}

#[test]
fn a_single_product_is_one_labelled_bar() {
    let mut s = small();
    s.sections[0].lines.truncate(1);
    let svg = product_chart_svg(&s);
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<rect").count(), 2, "a background and one bar");
    assert!(svg.contains("ocean") && svg.contains("180.00"), "{svg}");
}

#[test]
fn more_than_ten_products_end_in_other_products() {
    let mut s = small();
    s.sections[0].lines = (0..14).map(|i| line("act-1a2b3c4d", &format!("p{i:02}"), 0, 100, 0, 100 + i)).collect();
    let svg = product_chart_svg(&s);
    assert_well_formed(&svg);
    assert!(svg.contains("other products"));
    assert!(svg.contains("p13") && !svg.contains("p00"), "largest first, the smallest folded");
    // p00..p04 are folded: 100 + 101 + 102 + 103 + 104 cents.
    assert!(svg.contains("5.10"));
}

#[test]
fn the_csv_is_exact() {
    let mut s = small();
    s.sections.push(Section {
        organization_id: 606_079_870_002,
        organization_name: "Child".into(),
        lines: vec![line("act-c0c0c0c0", "eco", 1_000_001, 0, 0, 7)],
    });
    assert_eq!(
        csv(&s),
        "month,organizationId,accountId,product,vcpuHours,onDemandCostCents,actualCostCents,savingsCents,feeCents\r\n\
         2026-10,606079870001,act-1a2b3c4d,ocean,12.345,150000,60000,90000,18000\r\n\
         2026-10,606079870001,act-1a2b3c4d,\"#panic(),\"\"x\"\"]\",0.005,1000,400,600,120\r\n\
         2026-10,606079870001,act-99999999,elastigroup,100.000,1000,1500,0,150\r\n\
         2026-10,606079870002,act-c0c0c0c0,eco,1000.001,0,0,0,7\r\n\
         2026-10,,TOTAL,,,,,90600,18277\r\n"
    );
    let empty = Statement { sections: vec![], ..small() };
    assert_eq!(
        csv(&empty),
        "month,organizationId,accountId,product,vcpuHours,onDemandCostCents,actualCostCents,savingsCents,feeCents\r\n\
         2026-10,,TOTAL,,,,,0,0\r\n"
    );
}

/// Runs a poppler tool on a PDF (written to a temporary file: pdfinfo cannot read a pipe);
/// poppler-utils is part of the test setup (scripts/test.sh).
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "orgplane-report-{}-{}.pdf",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, pdf).expect("writing the PDF");
    let out =
        Command::new(tool).args(args).arg(&path).args(if tool == "pdftotext" { &["-"][..] } else { &[] }).output();
    let _ = std::fs::remove_file(&path);
    let out = out.unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install poppler-utils (apt-get install -y poppler-utils)")
    });
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn pages(pdf: &[u8]) -> usize {
    let info = poppler("pdfinfo", &[], pdf);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in {info}"))
}

#[test]
fn the_pdf_shows_the_bill_with_user_strings_as_text() {
    let pdf = pdf(&small()).expect("a PDF");
    assert!(pdf.starts_with(b"%PDF-"));
    let text = poppler("pdftotext", &["-layout"], &pdf);
    assert!(text.contains(HOSTILE_ORG), "the organization's name, literally: {text}");
    assert!(text.contains("act-1a2b3c4d") && text.contains("act-99999999"), "{text}");
    assert!(text.contains("USD 182.70"), "the total fee: {text}");
    assert!(text.contains("USD 906.00"), "the total savings: {text}");
    assert!(text.contains(HOSTILE_PRODUCT), "the product's name, literally: {text}");
    assert!(text.contains("12.345") && text.contains("1,500.00"), "{text}");
    assert!(text.contains("Bill for 2026-10 · final"), "{text}");
    assert_eq!(pages(&pdf), 1);
}

#[test]
fn a_long_bill_breaks_across_pages_with_a_part_per_organization() {
    let s = big(2_000);
    let started = std::time::Instant::now();
    let pdf = pdf(&s).expect("a PDF");
    eprintln!("2,001 lines: {} bytes in {:?}", pdf.len(), started.elapsed());
    let n = pages(&pdf);
    assert!(n > 20, "2,000 lines on {n} pages");
    let text = poppler("pdftotext", &["-layout"], &pdf);
    assert!(text.contains("provisional"));
    assert!(text.contains("act-000007cf"), "the last line of the first organization");
    assert!(text.contains("Child Org (606079870002)") && text.contains("act-c0c0c0c0"));
    // Subtotals: 2,000 × 12.00 fee; the child's 2.00.
    assert!(text.contains("24,000.00") && text.contains("Subtotal"), "{}", &text[text.len() - 2000..]);
    assert!(text.contains(&format!("USD {}", format_cents(s.total_fee_cents()))));
    // The table header is repeated on every page.
    assert!(text.matches("vCPU-hours").count() >= n, "a header per page");
}

#[test]
fn an_empty_month_still_renders() {
    let s = Statement { sections: vec![Section { lines: vec![], ..small().sections[0].clone() }], ..small() };
    let pdf = pdf(&s).expect("a PDF");
    let text = poppler("pdftotext", &[], &pdf);
    assert!(text.contains("No usage this month") && text.contains("USD 0.00"), "{text}");
}
