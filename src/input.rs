//! Reading JSONL input: documents for `build`, queries for `query`. Every error names the
//! file, the line and the field. [`Lines`] (in `lines`) reads the lines; this module parses them.

use anyhow::{bail, Result};
use rayon::prelude::*;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::json;

mod lines;

pub use lines::{LineSource, Lines, MAX_LINE_BYTES};

/// A record: the input line's fields, less the vector.
pub type Record = Map<String, Value>;

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
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) => {
            return Err(format!(
                "{id_field} -0 is negative zero, which JSON reads as a float, not an integer: \
                 write 0, or \"-0\" for a string id"
            ))
        }
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

/// Parses a line as a JSON object, strictly ([`json::parse`]: no key twice, no integer
/// beyond 64 bits).
pub fn parse_object(text: &str) -> Result<Map<String, Value>, String> {
    match json::parse(text)? {
        Value::Object(map) => Ok(map),
        other => Err(format!("expected a JSON object, found {}", json_type(&other))),
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
    /// The query's `id`, or its 0-based line number when it has none ([`Labels`]).
    pub label: Value,
    /// The query vector.
    pub vector: Vec<f32>,
}

/// How queries are labelled in the output: by their ids when they have ids, by their 0-based
/// line numbers when none has one. A mix is refused, so no label can stand for two queries.
#[derive(Default)]
pub struct Labels {
    by_id: Option<bool>,
}

impl Labels {
    /// The label of the query on `line` with `id` (`None`: absent or null).
    fn label(&mut self, id: Option<Value>, line: u64) -> Result<Value, String> {
        let by_id = *self.by_id.get_or_insert(id.is_some());
        let (has, before) = match (by_id, id) {
            (true, Some(id)) => return Ok(id),
            (false, None) => return Ok(Value::from(line - 1)),
            (true, None) => ("no id", "have"),
            (false, Some(_)) => ("an id", "have none"),
        };
        Err(format!(
            "this query has {has}, and the ones before it {before}: give every query an id, or none"
        ))
    }
}

/// Parses a query line: an object with a vector field (and optionally an id field), or a bare
/// array of numbers. Gives the id (`None` when absent or null) and the vector.
pub fn parse_query(text: &str, id_field: &str, vector_field: &str) -> Result<(Option<Value>, Vec<f32>), String> {
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
            return Ok((id.filter(|v| !v.is_null()), vector));
        }
    }
    parse_query_slowly(text, id_field, vector_field)
}

/// Reads two fields of a JSON object line, named by `names`, as `A` and `B` (`None` when absent),
/// skipping every other field without building a value for it; an error for anything but one
/// JSON object, and for either field given twice.
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
            if (key == self.names.0 && a.is_some()) || (key == self.names.1 && b.is_some()) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            } else if key == self.names.0 {
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

/// [`parse_query`] through a strictly read JSON value, with a precise message for every
/// problem.
fn parse_query_slowly(text: &str, id_field: &str, vector_field: &str) -> Result<(Option<Value>, Vec<f32>), String> {
    let value = json::parse(text)?;
    match value {
        Value::Array(_) => Ok((None, parse_vector(&value, "query")?)),
        Value::Object(map) => {
            let vector = match map.get(vector_field) {
                None | Some(Value::Null) => return Err(format!("missing {vector_field}")),
                Some(v) => parse_vector(v, vector_field)?,
            };
            Ok((map.get(id_field).filter(|v| !v.is_null()).cloned(), vector))
        }
        other => Err(format!("expected a JSON object or array, found {}", json_type(&other))),
    }
}

/// Lines of queries held at once while parsing (so a batch keeps floats, not its JSON text).
const PARSE_LINES: usize = 128;

/// Appends up to `max` queries from `lines` (parsed in parallel) to `queries`, checking each has
/// `dimensions` values and labelling them by `labels`, which holds across calls; none at the
/// end. After the first line it takes only lines that are there (see [`LineSource::ready`]),
/// so a query typed alone is answered at once. At a line that is not a query, or that cannot
/// be read, returns its error and keeps the queries before it, so that they can be answered
/// first.
pub fn read_queries(
    lines: &mut impl LineSource,
    dimensions: usize,
    (id_field, vector_field): (&str, &str),
    max: usize,
    labels: &mut Labels,
    queries: &mut Vec<Query>,
) -> Result<()> {
    let mut batch = Vec::with_capacity(PARSE_LINES);
    let (mut more, mut failed) = (true, None);
    while more && queries.len() < max {
        batch.clear();
        while batch.len() < PARSE_LINES.min(max - queries.len()) {
            if (!queries.is_empty() || !batch.is_empty()) && !lines.ready() {
                more = false;
                break;
            }
            match lines.next_line() {
                Ok(Some(line)) => batch.push(line),
                Ok(None) => more = false,
                Err(e) => (more, failed) = (false, Some(e)),
            }
            if !more {
                break;
            }
        }
        let parsed: Vec<_> = batch
            .par_iter()
            .map(|(_, text)| parse_query(text, id_field, vector_field))
            .collect();
        for ((line, _), query) in batch.iter().zip(parsed) {
            let at = |e: String| anyhow::anyhow!("{}:{line}: {e}", lines.name());
            let (id, vector) = query.map_err(at)?;
            if vector.len() != dimensions {
                bail!(
                    "{}:{line}: {vector_field} has {} numbers, expected {dimensions}",
                    lines.name(),
                    vector.len()
                );
            }
            let label = labels.label(id, *line).map_err(at)?;
            queries.push(Query { label, vector });
        }
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<(Option<Value>, Vec<f32>), String> {
        parse_query(text, "id", "vector")
    }

    #[test]
    fn queries_read_fast_equal_those_read_slowly() {
        for text in [
            r#"{"id": "q", "vector": [1, 2.5, -0.0], "x": {"y": [1]}}"#,
            r#"{"vector": [1e-3], "id": null}"#,
            "[0.25, 3]",
        ] {
            assert_eq!(
                query(text).unwrap(),
                parse_query_slowly(text, "id", "vector").unwrap(),
                "{text}"
            );
        }
        let twice = r#"{"id": 1, "vector": [9], "vector": [1, 2]}"#;
        assert_eq!(query(twice).unwrap_err(), r#"duplicate key "vector""#);
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
