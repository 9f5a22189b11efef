//! Writing an archive's rows into an Elasticsearch index: [`export`].

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};
use ureq::http::Method;

use super::Index;
use crate::archive::ids::id_text;
use crate::archive::manifest::Manifest;
use crate::archive::read::Archive;
use crate::input::Record;
use crate::ops::bridge::batches::send_rows;
use crate::ops::bridge::rest::{at, Body};
use crate::ops::bridge::Exported;
use crate::params::Metric;

/// The most dimensions a `dense_vector` takes.
const MAX_DIMS: u64 = 4096;

/// The `dense_vector` similarity of an archive metric. `ip` is `max_inner_product`
/// (Elasticsearch 8.11 and later), as `dot_product` refuses vectors that are not unit length.
fn similarity_of(metric: Metric) -> &'static str {
    match metric {
        Metric::Cos => "cosine",
        Metric::Ip => "max_inner_product",
        Metric::L2 => "l2_norm",
    }
}

/// Writes every row of `archive` as a document of index `name` at `url`, `batch` documents a
/// `_bulk` request; creates the index when there is none, mapping the vector, the text (`text`)
/// and the id (`keyword`); metadata fields get dynamic mapping. An existing index must map the
/// archive's vector field as a `dense_vector` of its dimensions and similarity, and be empty
/// unless `upsert` (then documents with the same id are replaced).
pub fn export(archive: &Archive, url: &str, name: &str, upsert: bool, batch: usize) -> Result<Exported> {
    let index = Index::new(url, name)?;
    let shown = &index.shown;
    let m = &archive.manifest;
    let (vector_field, similarity) = (&m.fields.vector, similarity_of(m.index.params.metric));
    if m.dimensions > MAX_DIMS {
        bail!(
            "{shown}: a dense_vector has at most {MAX_DIMS} dimensions; the archive's have {}",
            m.dimensions
        );
    }
    let wanted = json!({"type": "dense_vector", "dims": m.dimensions, "index": true, "similarity": similarity});
    let before = prepare(&index, m, wanted, upsert)?;
    let bulk_path = format!("{}/_bulk", index.path);
    let (id_field, shown_index) = (&m.fields.id, shown.clone());
    let written = send_rows(
        archive,
        batch,
        "documents",
        |record, vector| bulk_lines(record, vector, id_field, vector_field),
        |lines| {
            let body: Vec<u8> = lines.concat();
            let answer = index.rest.call(Method::POST, &bulk_path, Body::Ndjson(&body))?;
            check_bulk(&answer, lines.len(), &shown_index)
        },
    )?;
    index.refresh()?;
    let held = index.count()?;
    if held < written || (before == 0 && held != written) {
        bail!("{shown} holds {held} documents after {written} were written");
    }
    Ok(Exported { written, held })
}

/// Makes `index` ready for the rows of the archive whose manifest is `m`: creates it when there
/// is none, mapping the vector field as `wanted`, the text and the id; else checks that it maps
/// the vector field as `wanted` and holds no documents unless `upsert`. Returns how many it held.
fn prepare(index: &Index, m: &Manifest, wanted: Value, upsert: bool) -> Result<u64> {
    let (shown, vector_field) = (&index.shown, &m.fields.vector);
    Ok(match index.properties()? {
        None => {
            let mut properties = Map::new();
            properties.insert(vector_field.clone(), wanted);
            properties.insert(m.fields.text.clone(), json!({"type": "text"}));
            // Ids may be strings or integers, even in one archive: keyword takes both, and
            // `_source` keeps each as it was sent.
            properties.insert(m.fields.id.clone(), json!({"type": "keyword"}));
            let body = json!({"mappings": {"properties": properties}});
            index.rest.call(Method::PUT, &index.path, Body::Json(&body))?;
            0
        }
        Some(properties) => {
            let theirs = properties.get(vector_field).unwrap_or(&Value::Null);
            let same = ["type", "dims", "similarity"]
                .iter()
                .all(|k| theirs.get(k) == wanted.get(k));
            if !same {
                bail!("{shown} maps {vector_field} as {theirs}; the archive needs {wanted}");
            }
            // Documents written since the last refresh (by an export that failed) are counted
            // only after one.
            index.refresh()?;
            let held = index.count()?;
            if held > 0 && !upsert {
                bail!("{shown} already holds {held} documents; give --upsert to write into it (documents with the same ids are replaced)");
            }
            held
        }
    })
}

/// The two `_bulk` lines of one row: the `index` action with the id as `_id`, then `_source`,
/// the record with the vector; each ends with a newline, as `_bulk` requires of every line.
fn bulk_lines(record: &Record, vector: &[f32], id_field: &str, vector_field: &str) -> Result<Vec<u8>> {
    let id = record
        .get(id_field)
        .and_then(id_text)
        .ok_or_else(|| anyhow!("a record has no {id_field:?}"))?;
    let mut lines = serde_json::to_vec(&json!({"index": {"_id": id}}))?;
    lines.push(b'\n');
    let mut source = record.clone();
    source.insert(vector_field.to_string(), json!(vector));
    serde_json::to_writer(&mut lines, &source)?;
    lines.push(b'\n');
    Ok(lines)
}

/// Checks a `_bulk` answer for `sent` documents: it answers 200 even when items failed, so every
/// item's status is read; the error names the first failed ids and why.
fn check_bulk(answer: &Value, sent: usize, shown: &str) -> Result<()> {
    let items = at(answer, "items", shown)?.as_array().map_or(&[][..], Vec::as_slice);
    let failed: Vec<String> = items
        .iter()
        .filter_map(|item| item.get("index"))
        .filter(|item| {
            !item
                .get("status")
                .and_then(Value::as_u64)
                .is_some_and(|s| (200..300).contains(&s))
        })
        .map(|item| {
            let id = item.get("_id").map_or("?".into(), Value::to_string);
            let error = item.get("error");
            let kind = error
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("error");
            let reason = error
                .and_then(|e| e.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{id}: {kind}: {reason}")
        })
        .collect();
    if !failed.is_empty() {
        let first: Vec<&str> = failed.iter().take(3).map(String::as_str).collect();
        bail!(
            "{shown}: {} of {sent} documents were refused; {}",
            failed.len(),
            first.join("; ")
        );
    }
    if items.len() != sent {
        bail!(
            "{shown}: the bulk answer has {} items for {sent} documents",
            items.len()
        );
    }
    if answer.get("errors") == Some(&Value::Bool(true)) {
        bail!("{shown}: the bulk answer says errors, but no item failed");
    }
    Ok(())
}
