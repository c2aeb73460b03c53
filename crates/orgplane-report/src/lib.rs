//! A month's bill as documents: CSV, two SVG charts (plotters) and an A4 PDF statement (typst).
//!
//! Everything renders from [`Statement`], the domain's bill. Money stays in integer cents and is
//! formatted with [`format_cents`]; floats appear only as chart geometry (bar heights, axis
//! ticks), never in a figure a person reads as an amount.
//!
//! **The PDF.** typst (through typst-as-lib) lays out `statement.typ`, an A4 page with a header,
//! totals, the two charts and the table of lines, which breaks across pages with its header
//! repeated. typst sees exactly three in-memory files: `data.json` (every figure and every
//! user-supplied string, already formatted), `trend.svg` and `products.svg`. No file system
//! resolver and no package resolver is installed, so a template cannot read the disk or the
//! network. User-supplied strings (organization names, account ids, product names) reach typst
//! only as JSON strings read with `json()`: they are values, never markup, so a product named
//! `#panic()` or one holding `]` or `"` prints literally.
//!
//! **The font.** DejaVu Sans (regular and bold, 2.37 from Debian's `fonts-dejavu-core`) is
//! committed under `fonts/` with its licence and compiled in with `include_bytes!`, then handed
//! to typst through `.fonts()`: output never depends on the fonts of the machine, and rendering
//! works offline. We commit the TTFs rather than take fonts from `typst-assets`' `fonts`
//! feature because that bundle has no proportional DejaVu Sans (only DejaVu Sans *Mono*, with
//! Libertinus and New Computer Modern), and it would compile about 10 MB of fonts we do not use
//! into the binary; the two files here are 1.5 MB. The charts name the same family, so the SVG
//! text inside the PDF is set in it too (a browser showing the SVG falls back to `sans-serif`).
//!
//! The PDF is not tagged (see [`pdf`]): tagging multiplies the size of a long bill by fifteen.
//!
//! Rendering a PDF is CPU work (tens of milliseconds for a page, seconds for thousands of
//! lines): the API is synchronous, and the server calls [`pdf`] on a blocking thread.

use orgplane_domain::billing::{Statement, format_cents};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;
use std::sync::LazyLock;
use typst::foundations::Bytes;
use typst::text::Font;
use typst_as_lib::TypstEngine;
use typst_layout::PagedDocument;

static FONT_REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
/// The statement's layout. It reads `data.json`, `trend.svg` and `products.svg`.
const TEMPLATE: &str = include_str!("statement.typ");

/// Parsed once; `Font` is a cheap handle on the shared bytes.
static FONTS: LazyLock<Vec<Font>> =
    LazyLock::new(|| [FONT_REGULAR, FONT_BOLD].into_iter().flat_map(|bytes| Font::iter(Bytes::new(bytes))).collect());

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The template did not compile or lay out (a bug here, not bad data).
    #[error("laying out the statement: {0}")]
    Layout(String),
    /// The laid-out document could not be written as PDF.
    #[error("writing the PDF: {0}")]
    Pdf(String),
}

/// At most this many bars in the product chart; the rest are summed into "other products".
const MAX_PRODUCT_BARS: usize = 10;
/// Drawn at this size; the PDF shows the two charts side by side at about 40 % of it, so the
/// text is large.
const CHART_SIZE: (u32, u32) = (600, 360);
const BAR_COLOR: RGBColor = RGBColor(0x2f, 0x6f, 0xb3);

/// The total fee of each trend month (the six months up to the bill's), as vertical bars.
pub fn trend_chart_svg(s: &Statement) -> String {
    let caption = format!("Fee per month ({})", s.currency);
    render_svg(|root| draw_months(root, &caption, &s.trend))
}

/// The month's fee per product as horizontal bars, largest on top; past ten products the
/// smallest are summed into one "other products" bar.
pub fn product_chart_svg(s: &Statement) -> String {
    let mut bars = s.fee_by_product();
    if bars.len() > MAX_PRODUCT_BARS {
        let rest: i64 = bars[MAX_PRODUCT_BARS - 1..].iter().map(|(_, fee)| fee).sum();
        bars.truncate(MAX_PRODUCT_BARS - 1);
        bars.push(("other products".to_string(), rest));
    }
    let caption = format!("Fee per product, {} ({})", s.month, s.currency);
    render_svg(|root| draw_products(root, &caption, &bars))
}

type Root<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn render_svg(draw: impl FnOnce(&Root<'_>) -> Drawn) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        // Drawing into a String cannot fail: the errors are those of other backends' I/O.
        let _ = root.fill(&WHITE).and_then(|()| draw(&root)).and_then(|()| root.present());
    }
    svg
}

/// A label fit for a chart: no control characters, at most 18 characters.
fn label(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 18 { clean.chars().take(17).chain(['…']).collect() } else { clean }
}

/// An axis tick in whole dollars where it is one (`$1,200`, `$2.50`).
fn dollars_tick(v: &f64) -> String {
    let cents = format_cents((v * 100.0).round() as i64);
    format!("${}", cents.strip_suffix(".00").unwrap_or(&cents))
}

/// The axis end: the largest amount (at least a dollar) with room for its label. Geometry only:
/// the labels are exact.
fn axis_end(bars: &[(String, i64)], room: f64) -> f64 {
    bars.iter().map(|(_, c)| *c).max().unwrap_or(0).max(100) as f64 / 100.0 * room
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FontFamily::Name("DejaVu Sans, sans-serif"), size).into_font())
}

// The category axis is continuous: bar `i` is centred on `i`, and the axis runs from -0.5 to
// n - 0.5. (plotters' segmented integer coordinates cannot hold a single bar.) Category labels are
// drawn here, next to the axis, rather than as plotters' ticks.

/// Half the width of a bar, in category units.
const HALF_BAR: f64 = 0.36;

fn draw_months(root: &Root<'_>, caption: &str, bars: &[(String, i64)]) -> Drawn {
    let n = bars.len().max(1) as f64;
    let top = axis_end(bars, 1.15);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, font(24))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(96)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&dollars_tick)
        .y_label_style(font(16))
        .bold_line_style(RGBColor(0xe4, 0xe8, 0xee))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let value = font(15).pos(Pos::new(HPos::Center, VPos::Bottom));
    let name = font(16).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, (month, cents)) in bars.iter().enumerate() {
        let (x, y) = (i as f64, *cents as f64 / 100.0);
        chart.draw_series([Rectangle::new([(x - HALF_BAR, 0.0), (x + HALF_BAR, y)], BAR_COLOR.filled())])?;
        chart.draw_series([EmptyElement::at((x, y)) + Text::new(format_cents(*cents), (0, -4), value.clone())])?;
        chart.draw_series([EmptyElement::at((x, 0.0)) + Text::new(label(month), (0, 8), name.clone())])?;
    }
    Ok(())
}

fn draw_products(root: &Root<'_>, caption: &str, bars: &[(String, i64)]) -> Drawn {
    if bars.is_empty() {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new(caption, (w as i32 / 2, 14), font(24).pos(Pos::new(HPos::Center, VPos::Top))))?;
        let centre = font(20).color(&RGBColor(0x61, 0x6e, 0x7c)).pos(Pos::new(HPos::Center, VPos::Center));
        return root.draw(&Text::new("no usage this month", (w as i32 / 2, h as i32 / 2), centre));
    }
    let n = bars.len() as f64;
    let right = axis_end(bars, 1.3);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, font(24))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(180)
        // Room for at least three bars, so that one or two are not slabs; bars fill from the top.
        .build_cartesian_2d(0f64..right, n - 0.5 - n.max(3.0)..n - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(5)
        .x_label_formatter(&dollars_tick)
        .x_label_style(font(16))
        .bold_line_style(RGBColor(0xe4, 0xe8, 0xee))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let size = if bars.len() > 6 { 13 } else { 15 };
    let value = font(size).pos(Pos::new(HPos::Left, VPos::Center));
    let name = font(size + 1).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (product, cents)) in bars.iter().enumerate() {
        // The largest (first) bar on top.
        let (x, y) = (*cents as f64 / 100.0, n - 1.0 - i as f64);
        chart.draw_series([Rectangle::new([(0.0, y - HALF_BAR), (x, y + HALF_BAR)], BAR_COLOR.filled())])?;
        chart.draw_series([EmptyElement::at((x, y)) + Text::new(format_cents(*cents), (6, 0), value.clone())])?;
        chart.draw_series([EmptyElement::at((0.0, y)) + Text::new(label(product), (-8, 0), name.clone())])?;
    }
    Ok(())
}

/// vCPU-hours with three decimals, from integer thousandths.
fn vcpu_hours(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", milli.unsigned_abs() / 1000, milli.unsigned_abs() % 1000)
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The bill as CSV (RFC 4180, CRLF line ends): a line per organization, account and product,
/// amounts in integer cents, then a `TOTAL` line.
pub fn csv(s: &Statement) -> String {
    let mut out = String::from(
        "month,organizationId,accountId,product,vcpuHours,onDemandCostCents,actualCostCents,savingsCents,feeCents\r\n",
    );
    for (section, l) in s.lines() {
        let u = &l.usage;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            field(&s.month),
            section.organization_id,
            field(&u.account_id),
            field(&u.product),
            vcpu_hours(u.vcpu_milli_hours),
            u.on_demand_cost_cents,
            u.actual_cost_cents,
            l.savings_cents,
            l.fee_cents
        ));
    }
    out.push_str(&format!("{},,TOTAL,,,,,{},{}\r\n", field(&s.month), s.total_savings_cents(), s.total_fee_cents()));
    out
}

/// What the template reads from `data.json`: every figure already formatted.
#[derive(Serialize)]
struct Data<'a> {
    organization: &'a str,
    month: &'a str,
    status: &'static str,
    currency: &'a str,
    total_fee: String,
    total_savings: String,
    line_count: String,
    sections: Vec<SectionData<'a>>,
}

#[derive(Serialize)]
struct SectionData<'a> {
    id: String,
    name: &'a str,
    fee: String,
    savings: String,
    /// Account, product, vCPU-hours, on-demand, actual, savings, fee.
    lines: Vec<[String; 7]>,
}

fn data(s: &Statement) -> Data<'_> {
    Data {
        organization: s.sections.first().map(|sec| sec.organization_name.as_str()).unwrap_or(""),
        month: &s.month,
        status: if s.is_final { "final" } else { "provisional" },
        currency: s.currency,
        total_fee: format_cents(s.total_fee_cents()),
        total_savings: format_cents(s.total_savings_cents()),
        line_count: s.sections.iter().map(|sec| sec.lines.len()).sum::<usize>().to_string(),
        sections: s
            .sections
            .iter()
            .map(|sec| SectionData {
                id: sec.organization_id.to_string(),
                name: &sec.organization_name,
                fee: format_cents(sec.fee_cents()),
                savings: format_cents(sec.savings_cents()),
                lines: sec
                    .lines
                    .iter()
                    .map(|l| {
                        [
                            l.usage.account_id.clone(),
                            l.usage.product.clone(),
                            vcpu_hours(l.usage.vcpu_milli_hours),
                            format_cents(l.usage.on_demand_cost_cents),
                            format_cents(l.usage.actual_cost_cents),
                            format_cents(l.savings_cents),
                            format_cents(l.fee_cents),
                        ]
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The bill as an A4 PDF: heading (the paying organization, the month, final or provisional),
/// totals, the two charts, and the lines — one part per organization with its subtotal when the
/// bill covers several.
pub fn pdf(s: &Statement) -> Result<Vec<u8>, ReportError> {
    let json = serde_json::to_vec(&data(s)).map_err(|e| ReportError::Layout(e.to_string()))?;
    let engine = TypstEngine::builder()
        .main_file(("main.typ", TEMPLATE))
        .fonts(FONTS.iter().cloned())
        .with_static_file_resolver([
            ("data.json", json),
            ("trend.svg", trend_chart_svg(s).into_bytes()),
            ("products.svg", product_chart_svg(s).into_bytes()),
        ])
        .build();
    let doc: PagedDocument = engine.compile().output.map_err(|e| ReportError::Layout(describe(&e)))?;
    // Untagged: the structure tree of a tagged PDF grows a 2,000-line bill from 0.19 MB to 2.9 MB.
    // The text stays real text (selectable, searchable, extracted by pdftotext).
    typst_pdf::pdf(&doc, &typst_pdf::PdfOptions { tagged: false, ..Default::default() }).map_err(|diagnostics| {
        ReportError::Pdf(diagnostics.iter().map(|d| d.message.to_string()).collect::<Vec<_>>().join("; "))
    })
}

fn describe(e: &typst_as_lib::TypstAsLibError) -> String {
    match e {
        typst_as_lib::TypstAsLibError::TypstSource(diagnostics) => {
            diagnostics.iter().map(|d| d.message.to_string()).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
