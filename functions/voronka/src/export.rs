//! `voronka export`: the CSV files of the export contract
//! (`docs/metrics.md` §9) and an XLSX workbook with the same sheets.
//!
//! The CSVs are the contract (exact decimals as text). In the workbook,
//! money and ratios are numeric cells so that Excel can sum them; XLSX
//! stores numbers as binary floating point, which represents every value
//! with 2 (money) or 4 (ratio) decimals exactly enough to show it
//! unchanged — the text CSVs remain the exact record.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook};
use std::path::Path;
use voronka_core::metrics::{Marts, export};

/// The contract's files for `from..=to`, as (file name, CSV text).
pub fn csv_files(marts: &Marts, from: NaiveDate, to: NaiveDate) -> Vec<(&'static str, String)> {
    vec![
        ("channels.csv", export::channels_csv(marts, from, to)),
        ("cash.csv", export::cash_csv(marts, from, to)),
        ("managers.csv", export::managers_csv(marts, from, to)),
        ("cohorts.csv", export::cohorts_csv(marts)),
        ("checks.csv", export::checks_csv(marts)),
    ]
}

/// Columns holding money (2 decimals) or ratios (4 decimals) by header.
fn numeric_format(header: &str) -> Option<&'static str> {
    match header {
        "spend" | "revenue1" | "revenue2" | "revenue" | "prepayments" | "surcharges"
        | "refunds" | "avg_check1" | "avg_check2" | "plan_revenue" | "remaining"
        | "forecast_revenue" => Some("#,##0.00"),
        "impressions" | "clicks" | "sessions" | "leads" | "attendees" | "applications"
        | "sales" | "customers" | "age" => Some("0"),
        _ => None,
    }
}

/// The workbook: one sheet per CSV, header bold, numbers numeric.
pub fn workbook(files: &[(&'static str, String)]) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for (name, text) in files {
        let sheet = book.add_worksheet();
        sheet.set_name(name.trim_end_matches(".csv"))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
        for (c, h) in headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
        }
        let formats: Vec<Option<Format>> = headers
            .iter()
            .map(|h| numeric_format(h).map(|f| Format::new().set_num_format(f)))
            .collect();
        for (r, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("{name} row {}", r + 2))?;
            for (c, cell) in record.iter().enumerate() {
                let (row, col) = (r as u32 + 1, c as u16);
                match (&formats[c], cell.parse::<f64>()) {
                    (Some(f), Ok(v)) if !cell.is_empty() => {
                        sheet.write_number_with_format(row, col, v, f)?;
                    }
                    _ => {
                        sheet.write_string(row, col, cell)?;
                    }
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofit();
    }
    Ok(book.save_to_buffer()?)
}

/// Writes the CSVs and `voronka-export.xlsx` into `out`.
pub fn write(marts: &Marts, from: NaiveDate, to: NaiveDate, out: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let files = csv_files(marts, from, to);
    let mut written = Vec::new();
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(name.to_string());
    }
    let path = out.join("voronka-export.xlsx");
    std::fs::write(&path, workbook(&files)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push("voronka-export.xlsx".to_string());
    Ok(written)
}
