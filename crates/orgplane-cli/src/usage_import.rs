//! `orgplane usage import FILE.csv`: streams a usage file of any size to a running server's
//! `POST /billing/usage`, in batches, with a progress bar and a summary.
//!
//! All or nothing for malformed lines: a first pass reads the whole file and, if any line is
//! malformed, reports them with their line numbers and imports nothing. The second pass sends
//! batches whose keys derive from the file's digest and the batch's position, so running the
//! same import again (after an interruption, say) sends nothing twice.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

const COLUMNS: [&str; 6] = ["accountId", "date", "product", "vcpuHours", "onDemandCostCents", "actualCostCents"];
const MAX_REPORTED: usize = 20;

/// One data line, checked for shape (the server checks the rest).
fn parse_line(line: &str) -> Result<Value, String> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    if cells.len() != COLUMNS.len() {
        return Err(format!("expected {} fields, found {}", COLUMNS.len(), cells.len()));
    }
    let vcpu: f64 = cells[3].parse().map_err(|_| format!("vcpuHours {:?} is not a number", cells[3]))?;
    let cents = |i: usize| -> Result<i64, String> {
        cells[i].parse().map_err(|_| format!("{} {:?} is not a whole number of cents", COLUMNS[i], cells[i]))
    };
    Ok(json!({
        "accountId": cells[0], "date": cells[1], "product": cells[2], "vcpuHours": vcpu,
        "onDemandCostCents": cents(4)?, "actualCostCents": cents(5)?,
    }))
}

fn lines(path: &Path) -> anyhow::Result<impl Iterator<Item = std::io::Result<String>>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::new(file).lines())
}

/// The header must name the columns, in order.
fn check_header(first: Option<std::io::Result<String>>) -> anyhow::Result<()> {
    let header = first.transpose()?.unwrap_or_default();
    let names: Vec<&str> = header.trim_start_matches('\u{feff}').split(',').map(str::trim).collect();
    if names != COLUMNS {
        bail!("line 1: the header must be {}", COLUMNS.join(","));
    }
    Ok(())
}

pub async fn run(path: &Path, url: &str, token: &str, batch_size: usize) -> anyhow::Result<()> {
    // Pass 1: shape of every line, and the file's digest.
    let mut digest = Sha256::new();
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let total_bytes = file.metadata()?.len();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
    }
    let file_id = hex::encode(&digest.finalize()[..8]);
    let mut it = lines(path)?;
    check_header(it.next())?;
    let mut errors = Vec::new();
    let mut records = 0usize;
    for (i, line) in it.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok(_) => records += 1,
            Err(e) => errors.push(format!("line {}: {e}", i + 2)),
        }
    }
    if !errors.is_empty() {
        for e in errors.iter().take(MAX_REPORTED) {
            eprintln!("{e}");
        }
        if errors.len() > MAX_REPORTED {
            eprintln!("… and {} more", errors.len() - MAX_REPORTED);
        }
        bail!("{} malformed line(s): nothing was imported", errors.len());
    }

    // Pass 2: send batches.
    let client = reqwest::Client::new();
    let endpoint = format!("{}/billing/usage", url.trim_end_matches('/'));
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}").expect("a valid template"));
    let started = std::time::Instant::now();
    let (mut sent, mut duplicates, mut batches) = (0usize, 0usize, 0usize);
    let mut it = lines(path)?;
    it.next();
    let mut batch: Vec<(usize, Value)> = Vec::with_capacity(batch_size);
    let mut line_no = 1;
    let mut read_bytes = 0u64;
    loop {
        let next = it.next().transpose()?;
        if let Some(line) = &next {
            line_no += 1;
            read_bytes += line.len() as u64 + 1;
            if !line.trim().is_empty() {
                batch.push((line_no, parse_line(line).expect("checked in pass 1")));
            }
        }
        if batch.len() == batch_size || (next.is_none() && !batch.is_empty()) {
            let key = format!("import-{file_id}-{batches}");
            let body = json!({"batchKey": key, "records": batch.iter().map(|(_, r)| r).collect::<Vec<_>>()});
            let res = client.post(&endpoint).bearer_auth(token).json(&body).send().await.context("sending a batch")?;
            let status = res.status();
            let answer: Value = res.json().await.context("reading the server's answer")?;
            if !status.is_success() {
                let error = &answer["response"]["errors"][0];
                let field = error["field"].as_str().unwrap_or("");
                // `body.records[i].…` names the line.
                let line = field
                    .strip_prefix("body.records[")
                    .and_then(|r| r.split(']').next())
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| batch.get(i))
                    .map(|(l, _)| format!("line {l}: "))
                    .unwrap_or_default();
                bar.abandon();
                bail!(
                    "{line}{} ({}); the {sent} records before it were imported, and running the import again resumes",
                    error["message"].as_str().unwrap_or("refused"),
                    error["code"].as_str().unwrap_or("error")
                );
            }
            let item = &answer["response"]["items"][0];
            if item["duplicate"] == true {
                duplicates += batch.len();
            } else {
                sent += batch.len();
            }
            batches += 1;
            batch.clear();
            bar.set_position(read_bytes.min(total_bytes));
            bar.set_message(format!("{} records", sent + duplicates));
        }
        if next.is_none() {
            break;
        }
    }
    bar.finish_and_clear();
    println!(
        "imported {sent} of {records} records in {batches} batches ({duplicates} already imported) from {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_or_explained() {
        let ok = parse_line("act-12345678, 2026-11-30, ocean, 1.5, 100, 40").unwrap();
        assert_eq!(ok["vcpuHours"], 1.5);
        assert!(parse_line("act-12345678,2026-11-30,ocean,1.5,100").unwrap_err().contains("expected 6"));
        assert!(parse_line("act-12345678,2026-11-30,ocean,x,100,40").unwrap_err().contains("vcpuHours"));
        assert!(parse_line("act-12345678,2026-11-30,ocean,1,1.5,40").unwrap_err().contains("onDemandCostCents"));
    }
}
