//! Record ids and the one rule that matches them. An id is a string or an integer, known by its
//! text: a string as it is, an integer in decimal. So `"1"` and `1` are one id (`build` refuses
//! an input holding both, `add` replaces one with the other), and an id typed on a command line
//! (`get`, `rm`, `query --like`) finds the record whose id has exactly that text.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use serde_json::Value;

use super::read::Archive;
use crate::input::Record;

/// The text of an id: a string id as it is, an integer id in decimal; `None` for anything else.
pub fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The text of an id from its key, the id written as JSON (`"doc-1"`, `42`).
pub fn key_text(key: &str) -> Cow<'_, str> {
    if key.starts_with('"') {
        serde_json::from_str(key).map_or(Cow::Borrowed(key), Cow::Owned)
    } else {
        Cow::Borrowed(key)
    }
}

/// The row and record of each id of `texts` that `archive` holds, reading every record once.
/// An archive written before ids equal as text were refused may hold two such records: asking
/// for that id is then an error.
pub fn find(archive: &Archive, texts: &HashSet<&str>) -> Result<HashMap<String, (u64, Record)>> {
    let id_field = &archive.manifest.fields.id;
    let mut found: HashMap<String, (u64, Record)> = HashMap::new();
    archive.for_each_record(|row, record| {
        let Some(text) = record.get(id_field).and_then(id_text) else {
            return Ok(());
        };
        if !texts.contains(text.as_str()) {
            return Ok(());
        }
        if let Some((_, earlier)) = found.get(&text) {
            bail!(
                "{}: the id {text} names two records ({} and {}); rebuild the archive, as ids equal as text are one id",
                archive.name(),
                earlier[id_field],
                record[id_field]
            );
        }
        found.insert(text, (row, record.clone()));
        Ok(())
    })?;
    Ok(found)
}
