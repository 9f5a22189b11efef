//! Qdrant collections through its REST API: `import` reads every point with the scroll API,
//! `export` creates the collection and upserts the archive's rows in batches.
//!
//! Qdrant point ids are unsigned integers or UUIDs. An archive's unsigned integer ids stay as
//! they are; every other id (a string, a negative integer) becomes the UUIDv5 of its text in
//! [`ID_NAMESPACE`], and the original id is kept in the point's payload under the archive's id
//! field, so an import gives it back. Qdrant normalises vectors on insert into a Cosine
//! collection: a `cos` archive comes back with unit-length vectors (the same neighbours, other
//! float32 bits); Dot and Euclid collections keep the bits.
//!
//! The API key, if any, comes from `VECAR_QDRANT_API_KEY` and is sent as the `api-key` header.

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use ureq::http::Method;
use uuid::Uuid;

use super::batches::send_rows;
use super::rest::{at, segment, Body, Rest};
use super::{Exported, Source};
use crate::archive::ids::id_text;
use crate::archive::read::Archive;
use crate::http::key_from;
use crate::input::{json_type, parse_vector, Doc, Record};
use crate::params::Metric;

/// The namespace of the UUIDv5 that stands for an id Qdrant cannot take: the UUIDv5 of the name
/// `vecar` in the DNS namespace.
pub const ID_NAMESPACE: Uuid = uuid::uuid!("03412ef0-a1f8-5ecd-8c69-ca17e13f53c7");
/// The environment variable holding the API key.
const KEY_VAR: &str = "VECAR_QDRANT_API_KEY";

/// A collection at a Qdrant server.
pub struct Collection {
    rest: Rest,
    /// The collection's path, `/collections/NAME`.
    path: String,
    /// The collection's URL as messages show it.
    shown: String,
}

impl Collection {
    /// Collection `name` at the Qdrant server at `url`.
    pub fn new(url: &str, name: &str) -> Result<Collection> {
        if name.is_empty() {
            bail!("--collection is empty");
        }
        let mut rest = Rest::new(url, "--url")?;
        if let Some(key) = key_from(KEY_VAR)? {
            rest = rest.with_header("api-key", key);
        }
        let path = format!("/collections/{}", segment(name));
        let shown = format!("{}{path}", rest.shown());
        Ok(Collection { rest, path, shown })
    }

    /// The collection's vector settings (`config.params.vectors`), or `None` when it does not
    /// exist.
    fn vectors(&self) -> Result<Option<Value>> {
        let Some(info) = self.rest.call_or_missing(Method::GET, &self.path, Body::Empty)? else {
            return Ok(None);
        };
        Ok(Some(at(&info, "result/config/params/vectors", &self.shown)?.clone()))
    }

    /// The exact number of points.
    fn count(&self) -> Result<u64> {
        let answer = self.rest.call(
            Method::POST,
            &format!("{}/points/count", self.path),
            Body::Json(&json!({"exact": true})),
        )?;
        at(&answer, "result/count", &self.shown)?
            .as_u64()
            .ok_or_else(|| anyhow!("{}: the point count is not a number", self.shown))
    }
}

/// The points of the collection at `url` on their way into an archive, read `batch` at a time;
/// `vector_name` picks one of a collection's named vectors.
pub fn import(url: &str, name: &str, vector_name: Option<&str>, batch: usize) -> Result<Source<Points>> {
    let collection = Collection::new(url, name)?;
    let shown = collection.shown.clone();
    let vectors = collection
        .vectors()?
        .ok_or_else(|| anyhow!("{shown}: no such collection"))?;
    let (params, vector) = pick_vector(&vectors, vector_name).with_context(|| shown.clone())?;
    let metric = metric_of(params).with_context(|| shown.clone())?;
    let count = collection.count()?;
    Ok(Source {
        name: shown,
        metric,
        count,
        records: Points {
            collection,
            vector,
            batch,
            page: VecDeque::new(),
            next: Some(Value::Null),
        },
    })
}

/// The settings of the vector to read, and its name if the collection names its vectors.
fn pick_vector<'a>(vectors: &'a Value, wanted: Option<&str>) -> Result<(&'a Value, Option<String>)> {
    let named = vectors.as_object().filter(|v| !v.contains_key("size"));
    match (named, wanted) {
        (None, None) => Ok((vectors, None)),
        (None, Some(name)) => bail!("--vector-name {name}: the collection has one unnamed vector; leave it out"),
        (Some(named), wanted) => {
            let names = named.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            match wanted {
                Some(name) => match named.get(name) {
                    Some(params) => Ok((params, Some(name.to_string()))),
                    None => bail!("no vector named {name:?}; the collection's vectors are: {names}"),
                },
                None if named.is_empty() => bail!("the collection has no dense vectors"),
                None => bail!("the collection has named vectors; give --vector-name, one of: {names}"),
            }
        }
    }
}

/// The archive metric of a vector's settings (`{"size": N, "distance": D}`).
fn metric_of(params: &Value) -> Result<Metric> {
    if params.get("multivector_config").is_some_and(|m| !m.is_null()) {
        bail!("its vectors are multivectors, which an archive cannot hold");
    }
    match params.get("distance").and_then(Value::as_str) {
        Some("Cosine") => Ok(Metric::Cos),
        Some("Dot") => Ok(Metric::Ip),
        Some("Euclid") => Ok(Metric::L2),
        Some(other) => bail!("its distance {other} has no vecar metric (cos, ip, l2)"),
        None => bail!("its vectors have no distance"),
    }
}

/// The Qdrant distance of an archive metric (vecar's l2 is squared Euclidean, which ranks as
/// Euclid does).
fn distance_of(metric: Metric) -> &'static str {
    match metric {
        Metric::Cos => "Cosine",
        Metric::Ip => "Dot",
        Metric::L2 => "Euclid",
    }
}

/// A collection's points read page by page with the scroll API, as documents.
pub struct Points {
    collection: Collection,
    /// The named vector to read, if the collection names its vectors.
    vector: Option<String>,
    batch: usize,
    page: VecDeque<Value>,
    /// The offset of the next page (`null` for the first), `None` after the last.
    next: Option<Value>,
}

impl Points {
    /// Reads the next page into `page`.
    fn fetch(&mut self, offset: Value) -> Result<()> {
        let c = &self.collection;
        let with_vector = match &self.vector {
            Some(name) => json!([name]),
            None => json!(true),
        };
        let mut body = json!({"limit": self.batch, "with_payload": true, "with_vector": with_vector});
        if !offset.is_null() {
            body["offset"] = offset;
        }
        let path = format!("{}/points/scroll", c.path);
        let mut answer = c.rest.call(Method::POST, &path, Body::Json(&body))?;
        let Some(Value::Array(points)) = answer.pointer_mut("/result/points").map(Value::take) else {
            bail!("{}: the scroll answer has no array of points", c.shown);
        };
        let next = answer
            .pointer("/result/next_page_offset")
            .cloned()
            .unwrap_or(Value::Null);
        self.next = (!next.is_null()).then_some(next);
        self.page.extend(points);
        Ok(())
    }

    /// The document of one point.
    fn doc(&self, point: Value) -> Result<Doc> {
        let Value::Object(mut point) = point else {
            bail!(
                "{}: a point is {}, not an object",
                self.collection.shown,
                json_type(&point)
            );
        };
        let id = point.remove("id").unwrap_or(Value::Null);
        let at = |message: String| anyhow!("{}: point {id}: {message}", self.collection.shown);
        let vector = match (point.remove("vector"), &self.vector) {
            (Some(Value::Object(mut named)), Some(name)) => named.remove(name),
            (vector, None) => vector,
            (_, Some(name)) => return Err(at(format!("has no vector {name:?}"))),
        };
        let vector = parse_vector(&vector.unwrap_or(Value::Null), "its vector").map_err(at)?;
        let mut record = match point.remove("payload") {
            Some(Value::Object(payload)) => payload,
            None | Some(Value::Null) => Map::new(),
            Some(other) => return Err(at(format!("its payload is {}", json_type(&other)))),
        };
        let id = original_id(&id, record.remove("id")).map_err(at)?;
        if record.contains_key("vector") {
            return Err(at(
                "its payload has a field \"vector\", the name an archive keeps the vector under".into(),
            ));
        }
        record.insert("id".into(), id);
        Ok(Doc { record, vector })
    }
}

impl Iterator for Points {
    type Item = Result<Doc>;

    fn next(&mut self) -> Option<Result<Doc>> {
        while self.page.is_empty() {
            let offset = self.next.take()?;
            if let Err(e) = self.fetch(offset) {
                return Some(Err(e));
            }
        }
        let point = self.page.pop_front()?;
        Some(self.doc(point))
    }
}

/// The archive id of a point: the id its payload keeps (`kept`) when the point's id stands for
/// it, else the point's own id.
fn original_id(point: &Value, kept: Option<Value>) -> Result<Value, String> {
    let Some(kept) = kept else {
        return match point {
            Value::Number(n) if n.is_u64() => Ok(point.clone()),
            Value::String(_) => Ok(point.clone()),
            other => Err(format!("its id is {}, not an integer or a UUID", json_type(other))),
        };
    };
    let stands_for = |text: &str| point_id_of_text(text) == *point || id_text(point).as_deref() == Some(text);
    match id_text(&kept) {
        Some(text) if stands_for(&text) => Ok(kept),
        _ => Err(format!(
            "its payload's \"id\" ({kept}) is not this point's id; vecar keeps a point's id under \"id\""
        )),
    }
}

/// The Qdrant point id of an archive id: an unsigned integer as it is, anything else the UUIDv5
/// of its text.
fn point_id(id: &Value) -> Result<(Value, bool)> {
    match id {
        Value::Number(n) if n.is_u64() => Ok((id.clone(), false)),
        _ => {
            let text = id_text(id).ok_or_else(|| anyhow!("an id is {}, not a string or an integer", json_type(id)))?;
            Ok((point_id_of_text(&text), true))
        }
    }
}

/// The UUIDv5 that stands for the id whose text is `text`.
fn point_id_of_text(text: &str) -> Value {
    Value::String(Uuid::new_v5(&ID_NAMESPACE, text.as_bytes()).to_string())
}

/// Writes every row of `archive` as a point of the collection `name` at `url`, `batch` points a
/// request; creates the collection when there is none. An existing collection must have the
/// archive's size and distance, and be empty unless `upsert` (then points with the same id are
/// replaced).
pub fn export(archive: &Archive, url: &str, name: &str, upsert: bool, batch: usize) -> Result<Exported> {
    let collection = Collection::new(url, name)?;
    let shown = &collection.shown;
    let m = &archive.manifest;
    let distance = distance_of(m.index.params.metric);
    let before = match collection.vectors()? {
        None => {
            let body = json!({"vectors": {"size": m.dimensions, "distance": distance}});
            collection.rest.call(Method::PUT, &collection.path, Body::Json(&body))?;
            0
        }
        Some(vectors) => {
            let size = vectors.get("size").and_then(Value::as_u64);
            let theirs = vectors.get("distance").and_then(Value::as_str);
            if size != Some(m.dimensions) || theirs != Some(distance) {
                bail!(
                    "{shown} holds vectors of {} (size {}), the archive {distance} vectors of {} dimensions",
                    theirs.unwrap_or("named or unknown distances"),
                    size.map_or("?".into(), |s| s.to_string()),
                    m.dimensions
                );
            }
            let held = collection.count()?;
            if held > 0 && !upsert {
                bail!(
                    "{shown} already holds {held} points; give --upsert to write into it (points with the same ids are replaced)"
                );
            }
            held
        }
    };
    let (id_field, upsert_path) = (&m.fields.id, format!("{}/points?wait=true", collection.path));
    let written = send_rows(
        archive,
        batch,
        "points",
        |record, vector| point(record, vector, id_field),
        |points| {
            let body = json!({ "points": points });
            collection
                .rest
                .call(Method::PUT, &upsert_path, Body::Json(&body))
                .map(drop)
        },
    )?;
    let held = collection.count()?;
    if held < written || (before == 0 && held != written) {
        bail!("{shown} holds {held} points after {written} were written");
    }
    Ok(Exported { written, held })
}

/// The point of one row: its id, its vector, and its record as the payload (the id in it only
/// when the point's id is a UUID standing for it).
fn point(record: &Record, vector: &[f32], id_field: &str) -> Result<Value> {
    let id = record
        .get(id_field)
        .ok_or_else(|| anyhow!("a record has no {id_field:?}"))?;
    let (point_id, keep_id) = point_id(id)?;
    let mut payload = record.clone();
    if !keep_id {
        payload.remove(id_field);
    }
    Ok(json!({"id": point_id, "vector": vector, "payload": payload}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_namespace_is_the_uuid_of_vecar_in_dns() {
        assert_eq!(ID_NAMESPACE, Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"vecar"));
    }

    #[test]
    fn ids_qdrant_cannot_take_become_uuids_and_come_back() {
        assert_eq!(point_id(&json!(7)).unwrap(), (json!(7), false));
        for id in [json!("doc-1"), json!(-3), json!("7")] {
            let (uuid, kept) = point_id(&id).unwrap();
            assert!(kept);
            assert_eq!(original_id(&uuid, Some(id.clone())).unwrap(), id);
        }
        assert_eq!(original_id(&json!(7), None).unwrap(), json!(7));
        assert_eq!(original_id(&json!(7), Some(json!("7"))).unwrap(), json!("7"));
        assert!(original_id(&json!(7), Some(json!("other"))).is_err());
    }
}
