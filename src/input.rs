//! Reading JSONL input: documents for `build`, queries for `query`. Every error names the
//! file, the line and the field.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The longest line accepted: a record must fit a 1 MiB block, and its vector written as JSON
/// takes at most about 25 bytes a number.
pub const MAX_LINE_BYTES: u64 = 32 << 20;

/// A record: the input line's fields, less the vector.
pub type Record = Map<String, Value>;

/// A source of JSONL lines: a file ([`Lines`]) or lines given vectors on the way
/// ([`crate::embed::Filled`]).
pub trait LineSource {
    /// The next line that is not blank, with its 1-based number in the input.
    fn next_line(&mut self) -> Result<Option<(u64, String)>>;
    /// The input's name for messages.
    fn name(&self) -> &str;
}

/// A JSONL file (or standard input for `-`), read line by line.
pub struct Lines {
    name: String,
    reader: Box<dyn BufRead>,
    line: u64,
    buf: Vec<u8>,
}

impl Lines {
    /// Opens `path`; `-` is standard input.
    pub fn open(path: &Path) -> Result<Lines> {
        let (name, reader): (String, Box<dyn BufRead>) = if path.as_os_str() == "-" {
            (
                "<stdin>".into(),
                Box::new(BufReader::with_capacity(1 << 20, std::io::stdin())),
            )
        } else {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (
                path.display().to_string(),
                Box::new(BufReader::with_capacity(1 << 20, file)),
            )
        };
        Ok(Lines {
            name,
            reader,
            line: 0,
            buf: Vec::new(),
        })
    }
}

impl LineSource for Lines {
    fn name(&self) -> &str {
        &self.name
    }

    /// The next line that is not blank, with its 1-based number, less any CR LF.
    fn next_line(&mut self) -> Result<Option<(u64, String)>> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .with_context(|| format!("reading {}", self.name))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let (name, line) = (&self.name, self.line);
            if n as u64 > MAX_LINE_BYTES {
                bail!("{name}:{line}: line is longer than {} MiB", MAX_LINE_BYTES >> 20);
            }
            if line == 1 && self.buf.starts_with(b"\xef\xbb\xbf") {
                bail!("{name}:1: starts with a UTF-8 byte-order mark; save the file without it");
            }
            let text = std::str::from_utf8(&self.buf).map_err(|e| {
                anyhow::anyhow!(
                    "{name}:{line}: not valid UTF-8 (byte {} of the line)",
                    e.valid_up_to() + 1
                )
            })?;
            let text = text.trim_end_matches(['\n', '\r']);
            if !text.trim().is_empty() {
                return Ok(Some((self.line, text.to_string())));
            }
        }
    }
}

/// One input document: the record to store and its vector.
pub struct Doc {
    /// The line's fields less the vector.
    pub record: Record,
    /// The vector.
    pub vector: Vec<f32>,
}

/// Parses a document line. `id_field` must hold a string or integer; `vector_field` an array
/// of numbers. The error names the field, not the file (the caller adds file and line).
pub fn parse_doc(text: &str, id_field: &str, vector_field: &str) -> Result<Doc, String> {
    let mut record = parse_object(text)?;
    match record.get(id_field) {
        None | Some(Value::Null) => return Err(format!("missing {id_field}")),
        Some(Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(other) => {
            return Err(format!(
                "{id_field} must be a string or an integer, not {}",
                json_type(other)
            ))
        }
    }
    let vector = match record.remove(vector_field) {
        None | Some(Value::Null) => return Err(format!("missing {vector_field}")),
        Some(value) => parse_vector(&value, vector_field)?,
    };
    Ok(Doc { record, vector })
}

/// Parses a line as a JSON object.
pub fn parse_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a JSON object, found {}", json_type(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// Reads a JSON array of finite numbers as float32 values.
pub fn parse_vector(value: &Value, field: &str) -> Result<Vec<f32>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{field} must be an array of numbers, not {}", json_type(value)));
    };
    if items.is_empty() {
        return Err(format!("{field} is empty"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_f64() {
            Some(x) if (x as f32).is_finite() => Ok(x as f32),
            Some(x) => Err(format!("{field}[{i}] = {x:e} is out of float32 range")),
            None => Err(format!("{field}[{i}] must be a number, not {}", json_type(item))),
        })
        .collect()
}

/// A JSON value's type ("string", "array", ...), for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One query: its label in the output and its vector.
pub struct Query {
    /// The query's `id`, or its 0-based line number when it has none.
    pub label: Value,
    /// The query vector.
    pub vector: Vec<f32>,
}

/// Parses a query line: an object with a vector field (and optionally an id field), or a bare
/// array of numbers.
pub fn parse_query(text: &str, line: u64, id_field: &str, vector_field: &str) -> Result<Query, String> {
    let label = Value::from(line - 1);
    // The common case, read without a JSON value per number; anything unusual goes the slow way,
    // which says what is wrong.
    let fast = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<f64>>(text).map(|numbers| (None, Some(numbers)))
    } else {
        two_fields::<Value, Vec<f64>>(text, (id_field, vector_field))
    };
    if let Ok((id, Some(numbers))) = fast {
        let vector: Vec<f32> = numbers.iter().map(|&x| x as f32).collect();
        if !vector.is_empty() && vector.iter().all(|x| x.is_finite()) {
            let label = id.filter(|v| !v.is_null()).unwrap_or(label);
            return Ok(Query { label, vector });
        }
    }
    parse_query_slowly(text, label, id_field, vector_field)
}

/// Reads two fields of a JSON object line, named by `names`, as `A` and `B` (`None` when absent),
/// skipping every other field without building a value for it; an error for anything but one
/// JSON object.
pub fn two_fields<A: DeserializeOwned, B: DeserializeOwned>(
    text: &str,
    names: (&str, &str),
) -> serde_json::Result<(Option<A>, Option<B>)> {
    let mut json = serde_json::Deserializer::from_str(text);
    let found = json.deserialize_map(TwoFields::<A, B> {
        names,
        kinds: PhantomData,
    })?;
    json.end()?;
    Ok(found)
}

/// The visitor behind [`two_fields`].
struct TwoFields<'a, A, B> {
    names: (&'a str, &'a str),
    kinds: PhantomData<(A, B)>,
}

impl<'de, A: DeserializeOwned, B: DeserializeOwned> Visitor<'de> for TwoFields<'_, A, B> {
    type Value = (Option<A>, Option<B>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut a, mut b) = (None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
            if key == self.names.0 {
                a = Some(map.next_value()?);
            } else if key == self.names.1 {
                b = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((a, b))
    }
}

/// [`parse_query`] through a JSON value, with a precise message for every problem.
fn parse_query_slowly(text: &str, label: Value, id_field: &str, vector_field: &str) -> Result<Query, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    match value {
        Value::Array(_) => Ok(Query {
            label,
            vector: parse_vector(&value, "query")?,
        }),
        Value::Object(map) => {
            let vector = match map.get(vector_field) {
                None | Some(Value::Null) => return Err(format!("missing {vector_field}")),
                Some(v) => parse_vector(v, vector_field)?,
            };
            let label = map.get(id_field).filter(|v| !v.is_null()).cloned().unwrap_or(label);
            Ok(Query { label, vector })
        }
        other => Err(format!("expected a JSON object or array, found {}", json_type(&other))),
    }
}

/// Lines of queries held at once while parsing (so a batch keeps floats, not its JSON text).
const PARSE_LINES: usize = 128;

/// Appends up to `max` queries from `lines` (parsed in parallel) to `queries`, checking each has
/// `dimensions` values; none at the end. At a line that is not a query, returns its error and
/// keeps the queries before it, so that they can be answered first.
pub fn read_queries(
    lines: &mut impl LineSource,
    dimensions: usize,
    id_field: &str,
    vector_field: &str,
    max: usize,
    queries: &mut Vec<Query>,
) -> Result<()> {
    let mut batch = Vec::with_capacity(PARSE_LINES);
    while queries.len() < max {
        batch.clear();
        while batch.len() < PARSE_LINES.min(max - queries.len()) {
            let Some(line) = lines.next_line()? else {
                break;
            };
            batch.push(line);
        }
        if batch.is_empty() {
            break;
        }
        let parsed: Vec<_> = batch
            .par_iter()
            .map(|(line, text)| parse_query(text, *line, id_field, vector_field))
            .collect();
        for ((line, _), query) in batch.iter().zip(parsed) {
            let query = query.map_err(|e| anyhow::anyhow!("{}:{line}: {e}", lines.name()))?;
            if query.vector.len() != dimensions {
                bail!(
                    "{}:{line}: {vector_field} has {} numbers, expected {dimensions}",
                    lines.name(),
                    query.vector.len()
                );
            }
            queries.push(query);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<Query, String> {
        parse_query(text, 5, "id", "vector")
    }

    #[test]
    fn queries_read_fast_equal_those_read_slowly() {
        for text in [
            r#"{"id": "q", "vector": [1, 2.5, -0.0], "x": {"y": [1]}}"#,
            r#"{"vector": [1e-3], "id": null}"#,
            r#"{"id": 1, "vector": [9], "vector": [1, 2]}"#,
            "[0.25, 3]",
        ] {
            let (fast, slow) = (
                query(text).unwrap(),
                parse_query_slowly(text, Value::from(4), "id", "vector").unwrap(),
            );
            assert_eq!((&fast.label, &fast.vector), (&slow.label, &slow.vector), "{text}");
        }
    }

    #[test]
    fn odd_queries_get_the_careful_message() {
        assert_eq!(query("[1, 2] x").err().unwrap().split(':').next(), Some("invalid JSON"));
        assert_eq!(
            query(r#"{"vector": [1, "a"]}"#).err().unwrap(),
            "vector[1] must be a number, not a string"
        );
        assert_eq!(
            query(r#"{"vector": [1e300]}"#).err().unwrap(),
            "vector[0] = 1e300 is out of float32 range"
        );
        assert_eq!(query(r#"{"vector": []}"#).err().unwrap(), "vector is empty");
        assert_eq!(query(r#"{"id": 3}"#).err().unwrap(), "missing vector");
    }
}
