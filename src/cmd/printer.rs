//! Printing hits in the format asked for: JSON lines, one JSON array, TSV, or an aligned table
//! that fits the terminal.

use std::borrow::Cow;
use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use rayon::prelude::*;
use serde_json::Value;

/// Output formats of `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    Json,
    /// Tab-separated values with a header line.
    Tsv,
    /// Aligned columns, text cut to the terminal's width.
    Table,
}

/// A row to print: the value of each field it has, by name.
pub trait Printable {
    /// The value of `field`; `None` if the row lacks it (printed as null or empty).
    fn get(&self, field: &str) -> Option<Cow<'_, Value>>;
}

/// Writes rows (JSON objects whose keys are the chosen fields) in a format.
pub struct RowWriter<W: Write> {
    out: W,
    format: Format,
    fields: Vec<String>,
    rows: usize,
    table: Vec<Vec<String>>,
}

impl<W: Write> RowWriter<W> {
    /// A writer of `fields`, in this order (a field named twice is written once).
    pub fn new(out: W, format: Format, mut fields: Vec<String>) -> Result<RowWriter<W>> {
        let mut seen = std::collections::HashSet::new();
        fields.retain(|f| seen.insert(f.clone()));
        let mut writer = RowWriter {
            out,
            format,
            fields,
            rows: 0,
            table: Vec::new(),
        };
        match format {
            Format::Json => writer.out.write_all(b"[")?,
            Format::Tsv => {
                let names: Vec<String> = writer.fields.iter().map(|f| escape_tsv(f)).collect();
                writeln!(writer.out, "{}", names.join("\t"))?
            }
            Format::Table => writer.table.push(writer.fields.iter().map(|f| one_line(f)).collect()),
            Format::Jsonl => {}
        }
        Ok(writer)
    }

    /// Writes rows in order, formatting them on all threads first.
    pub fn write_rows(&mut self, rows: &[impl Printable + Sync]) -> Result<()> {
        let (format, fields) = (self.format, &self.fields);
        let rendered: Vec<Rendered> = rows
            .par_iter()
            .map(|row| render(format, fields, row))
            .collect::<Result<_>>()?;
        for row in rendered {
            match row {
                Rendered::Text(bytes) => {
                    if self.format == Format::Json && self.rows > 0 {
                        self.out.write_all(b",")?;
                    }
                    self.out.write_all(&bytes)?;
                }
                Rendered::Cells(cells) => self.table.push(cells),
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// Leaves the column `field` out of a table, which is laid out only by
    /// [`RowWriter::finish`]; the other formats have printed it already, row by row.
    pub fn drop_table_column(&mut self, field: &str) {
        let Some(column) = self.fields.iter().position(|f| f == field) else {
            return;
        };
        if self.format == Format::Table {
            self.fields.remove(column);
            for row in &mut self.table {
                row.remove(column);
            }
        }
    }

    /// Sends the rows written so far on (a table waits for [`RowWriter::finish`]).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }

    /// Ends the output (closes the JSON array, lays out the table) and flushes.
    pub fn finish(mut self) -> Result<()> {
        match self.format {
            Format::Json => self.out.write_all(b"]\n")?,
            Format::Table => {
                let give: Vec<Option<u8>> = self.fields.iter().map(|f| gives_way(f)).collect();
                let widths = fit(&self.table, &give, table_width());
                for row in &self.table {
                    let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, &w)| pad(cell, w)).collect();
                    writeln!(self.out, "{}", cells.join("  ").trim_end())?;
                }
            }
            Format::Jsonl | Format::Tsv => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

/// A row in its format: text to write as it is, or the cells of a table row.
enum Rendered {
    Text(Vec<u8>),
    Cells(Vec<String>),
}

/// `row`'s `fields` in `format`.
fn render(format: Format, fields: &[String], row: &impl Printable) -> Result<Rendered> {
    let cells: Vec<Cow<Value>> = fields
        .iter()
        .map(|f| row.get(f).unwrap_or(Cow::Owned(Value::Null)))
        .collect();
    let cells = cells.iter().map(|cell| cell.as_ref());
    Ok(match format {
        Format::Jsonl | Format::Json => {
            let mut text = serde_json::to_vec(&Object(fields.iter().zip(cells)))?;
            if format == Format::Jsonl {
                text.push(b'\n');
            }
            Rendered::Text(text)
        }
        Format::Tsv => {
            let line: Vec<String> = cells.map(|v| escape_tsv(&plain(v))).collect();
            Rendered::Text(format!("{}\n", line.join("\t")).into_bytes())
        }
        Format::Table => Rendered::Cells(cells.map(|v| one_line(&table_cell(v))).collect()),
    })
}

/// Serializes as a JSON object the (name, value) pairs an iterator gives.
struct Object<I>(I);

impl<'a, I: Iterator<Item = (&'a String, &'a Value)> + Clone> serde::Serialize for Object<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.clone())
    }
}

/// A value as plain text: strings unquoted, null empty, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn table_cell(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or_default()),
        other => plain(other),
    }
}

fn escape_tsv(text: &str) -> String {
    let text = text
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    escape_controls(&text)
}

fn one_line(text: &str) -> String {
    escape_controls(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `text` with every control character written as an escape (`\x1b`, `\u009b`), so that what
/// an archive holds cannot move the cursor, retitle or clear the terminal it is printed on.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            0x80..=0x9f => out.push_str(&format!("\\u{:04x}", c as u32)),
            code if c.is_control() => out.push_str(&format!("\\x{code:02x}")),
            _ => out.push(c),
        }
    }
    out
}

/// How readily a table column gives way when the table is too wide: text, metadata and record
/// fields first (0), then the hit's other fields (1); the ids, the hit's and its query's, never
/// (`None`), since a cut id names nothing.
fn gives_way(field: &str) -> Option<u8> {
    match field {
        "id" | "query" => None,
        "rank" | "score" | "distance" | "cid" | "archive" => Some(1),
        _ => Some(0),
    }
}

/// Column widths that fit `total` columns: columns give way in the order `give` says (the
/// widest first among equals), none below 8; a table that still does not fit is left wider.
fn fit(table: &[Vec<String>], give: &[Option<u8>], total: usize) -> Vec<usize> {
    let columns = table.first().map_or(0, Vec::len);
    let mut widths: Vec<usize> = (0..columns)
        .map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let gaps = 2 * columns.saturating_sub(1);
    for level in [0, 1] {
        while let Some(over) = (widths.iter().sum::<usize>() + gaps)
            .checked_sub(total)
            .filter(|&o| o > 0)
        {
            let widest = (0..columns)
                .filter(|&c| give[c] == Some(level) && widths[c] > 8)
                .max_by_key(|&c| widths[c]);
            let Some(c) = widest else { break };
            widths[c] = widths[c].saturating_sub(over).max(8).max(widths[c] / 2);
        }
    }
    widths
}

fn pad(cell: &str, width: usize) -> String {
    let length = cell.chars().count();
    if length <= width {
        format!("{cell}{}", " ".repeat(width - length))
    } else {
        format!("{}…", cell.chars().take(width - 1).collect::<String>())
    }
}

/// The width a table must fit: `$COLUMNS` if set, else the terminal's; off a terminal, none.
fn table_width() -> usize {
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    let terminal = || {
        console::Term::stdout()
            .size_checked()
            .map(|(_, columns)| columns as usize)
    };
    columns.or_else(terminal).unwrap_or(usize::MAX)
}
