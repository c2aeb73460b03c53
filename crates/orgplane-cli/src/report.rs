//! `orgplane report billing`: downloads a month's bill from a running server
//! (`GET /billing/bills?format=…`) into a file, streaming it to disk with a progress bar.
//!
//! The body is written to `FILE.part` and renamed when complete, so an interrupted download
//! never leaves a truncated bill under the real name. A refusal from the server (Spot's error
//! envelope) is shown as its message and code, and the command exits non-zero.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `pdf`, `csv` or `json`: the server's `format` and the file's extension.
pub const FORMATS: [&str; 3] = ["pdf", "csv", "json"];

/// The file a bill is saved to when `--output` is not given.
pub fn default_output(month: &str, format: &str) -> PathBuf {
    PathBuf::from(format!("bill-{month}.{format}"))
}

/// What the server said when it refused: `message (CODE, field)`.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &json["response"]["errors"][0];
    match (error["message"].as_str(), error["code"].as_str()) {
        (Some(message), code) => {
            let mut detail = vec![code.unwrap_or("error").to_string()];
            if let Some(field) = error["field"].as_str() {
                detail.push(field.to_string());
            }
            format!("{message} ({})", detail.join(", "))
        }
        _ if status == reqwest::StatusCode::UNAUTHORIZED => {
            "the server did not accept the token (401): check ORGPLANE_TOKEN or --token".to_string()
        }
        _ => format!("the server answered {status}"),
    }
}

pub async fn billing(url: &str, token: &str, month: &str, format: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let output = output.map(Path::to_path_buf).unwrap_or_else(|| default_output(month, format));
    let endpoint = format!("{}/billing/bills", url.trim_end_matches('/'));
    let mut res = reqwest::Client::new()
        .get(&endpoint)
        .query(&[("month", month), ("format", format)])
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("requesting {endpoint}"))?;
    let status = res.status();
    if !status.is_success() {
        let body = res.bytes().await.unwrap_or_default();
        bail!("{}", refusal(status, &body));
    }

    let bar = match res.content_length() {
        Some(total) => {
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes}").expect("a valid template"));
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {bytes}").expect("a valid template"));
            bar
        }
    };
    let mut part = output.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let written = async {
        let mut file = std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        let mut bytes = 0u64;
        while let Some(chunk) = res.chunk().await.context("reading the bill from the server")? {
            file.write_all(&chunk).with_context(|| format!("writing {}", part.display()))?;
            bytes += chunk.len() as u64;
            bar.set_position(bytes);
        }
        file.sync_all()?;
        std::fs::rename(&part, &output).with_context(|| format!("renaming to {}", output.display()))?;
        anyhow::Ok(bytes)
    }
    .await;
    bar.finish_and_clear();
    match written {
        Ok(bytes) => {
            println!("wrote {} ({bytes} bytes)", output.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_in_words() {
        let body = br#"{"response": {"errors": [{"code": "ValidationError", "message": "\"month\" must be a month that has begun, YYYY-MM", "field": "query.month"}]}}"#;
        assert_eq!(
            refusal(reqwest::StatusCode::BAD_REQUEST, body),
            "\"month\" must be a month that has begun, YYYY-MM (ValidationError, query.month)"
        );
        assert!(refusal(reqwest::StatusCode::UNAUTHORIZED, b"{}").contains("token"));
        assert_eq!(refusal(reqwest::StatusCode::BAD_GATEWAY, b"<html>"), "the server answered 502 Bad Gateway");
        assert_eq!(default_output("2026-10", "pdf"), PathBuf::from("bill-2026-10.pdf"));
    }
}
