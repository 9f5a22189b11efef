//! Elasticsearch (and OpenSearch) indexes through their REST API: `import` reads every document
//! with the scroll API, `export` creates the index with a `dense_vector` mapping and writes the
//! archive's rows with `_bulk`.
//!
//! Why scroll and not point-in-time + `search_after`: scroll (`POST /INDEX/_search?scroll=5m`,
//! then `POST /_search/scroll`) is answered the same way by Elasticsearch 7, 8 and 9 and by every
//! OpenSearch 2 release, while point-in-time is opened with `POST /INDEX/_pit` in Elasticsearch
//! but `POST /INDEX/_search/point_in_time` in OpenSearch, which has it only since 2.4. Pages are
//! sorted by `_doc`, the cheapest order.
//!
//! Documents keep the archive's record in `_source`, the id field included (so an integer id
//! comes back an integer; `_id` is always a string), and the vector as float32 values written in
//! their shortest form, which `_source` keeps verbatim: the bits come back exact. Authentication:
//! `VECAR_ES_API_KEY` (sent as `Authorization: ApiKey KEY`) or `user:password@` in the URL.

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use ureq::http::Method;

use super::rest::{at, segment, Body, Rest};
use super::Source;
use crate::archive::ids::id_text;
use crate::http::key_from;
use crate::input::{parse_vector, Doc};
use crate::params::Metric;

mod write;

pub use write::export;

/// The environment variable holding the API key.
const KEY_VAR: &str = "VECAR_ES_API_KEY";
/// How long the server keeps a scroll between two pages.
const KEEP_ALIVE: &str = "5m";

/// An index at an Elasticsearch or OpenSearch server.
pub struct Index {
    rest: Rest,
    /// The index's path, `/NAME`.
    path: String,
    /// The index's URL as messages show it.
    shown: String,
}

impl Index {
    /// Index `name` at the server at `url`.
    pub fn new(url: &str, name: &str) -> Result<Index> {
        if name.is_empty() {
            bail!("--index is empty");
        }
        let mut rest = Rest::new(url, "--url")?;
        if let Some(key) = key_from(KEY_VAR)? {
            rest = rest.with_header("authorization", format!("ApiKey {key}"));
        }
        let path = format!("/{}", segment(name));
        let shown = format!("{}{path}", rest.shown());
        Ok(Index { rest, path, shown })
    }

    /// The index's field mappings (`properties`), or `None` when it does not exist.
    fn properties(&self) -> Result<Option<Map<String, Value>>> {
        let path = format!("{}/_mapping", self.path);
        let Some(answer) = self.rest.call_or_missing(Method::GET, &path, Body::Empty)? else {
            return Ok(None);
        };
        // Keyed by the index's own name (an alias's target): the one entry.
        let mappings = answer
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|m| m.pointer("/mappings/properties"));
        match mappings {
            Some(Value::Object(properties)) => Ok(Some(properties.clone())),
            _ => Ok(Some(Map::new())),
        }
    }

    /// Makes every document written so far visible to searches and counts.
    fn refresh(&self) -> Result<()> {
        let path = format!("{}/_refresh", self.path);
        self.rest.call(Method::POST, &path, Body::Empty).map(drop)
    }

    /// The number of documents searches see.
    fn count(&self) -> Result<u64> {
        let answer = self
            .rest
            .call(Method::GET, &format!("{}/_count", self.path), Body::Empty)?;
        at(&answer, "count", &self.shown)?
            .as_u64()
            .ok_or_else(|| anyhow!("{}: the count is not a number", self.shown))
    }
}

/// The documents of index `name` at `url` on their way into an archive, read `batch` at a time;
/// `vector_field` picks the vector field when the mapping has several.
pub fn import(url: &str, name: &str, vector_field: Option<&str>, batch: usize) -> Result<Source<Hits>> {
    let index = Index::new(url, name)?;
    let shown = index.shown.clone();
    let properties = index.properties()?.ok_or_else(|| anyhow!("{shown}: no such index"))?;
    let (field, metric) = pick_vector(&properties, vector_field).with_context(|| shown.clone())?;
    let count = index.count()?;
    Ok(Source {
        name: shown,
        metric,
        count,
        records: Hits {
            index,
            field,
            batch,
            page: VecDeque::new(),
            scroll: None,
            done: false,
        },
    })
}

/// The vector field to read and its metric: `wanted`, or the mapping's only `dense_vector` or
/// `knn_vector` field.
fn pick_vector(properties: &Map<String, Value>, wanted: Option<&str>) -> Result<(String, Metric)> {
    let is_vector = |m: &Value| {
        matches!(
            m.get("type").and_then(Value::as_str),
            Some("dense_vector" | "knn_vector")
        )
    };
    let vectors: Vec<&String> = properties
        .iter()
        .filter(|(_, m)| is_vector(m))
        .map(|(k, _)| k)
        .collect();
    let names = vectors.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let field = match wanted {
        Some(name) if vectors.iter().any(|v| *v == name) => name.to_string(),
        Some(name) => {
            bail!("--vector-field {name} is not a dense_vector or knn_vector field; the mapping's are: {names}")
        }
        None if vectors.len() == 1 => vectors[0].clone(),
        None if vectors.is_empty() => bail!("the mapping has no dense_vector or knn_vector field"),
        None => bail!("the mapping has several vector fields; give --vector-field, one of: {names}"),
    };
    let metric = metric_of(&properties[&field]).with_context(|| format!("field {field}"))?;
    Ok((field, metric))
}

/// The archive metric of a vector field's mapping: Elasticsearch's `similarity` (cosine when
/// absent, its default) or OpenSearch's `method.space_type` (l2 when absent, its default).
fn metric_of(mapping: &Value) -> Result<Metric> {
    if mapping.get("type").and_then(Value::as_str) == Some("knn_vector") {
        let space = mapping.pointer("/method/space_type").and_then(Value::as_str);
        return match space.unwrap_or("l2") {
            "l2" => Ok(Metric::L2),
            "cosinesimil" => Ok(Metric::Cos),
            "innerproduct" => Ok(Metric::Ip),
            other => bail!("space_type {other} has no vecar metric (cos, ip, l2)"),
        };
    }
    if let Some(kind) = mapping
        .get("element_type")
        .and_then(Value::as_str)
        .filter(|k| *k != "float")
    {
        bail!("its element_type is {kind}; vecar reads float vectors");
    }
    match mapping.get("similarity").and_then(Value::as_str).unwrap_or("cosine") {
        "cosine" => Ok(Metric::Cos),
        "dot_product" | "max_inner_product" => Ok(Metric::Ip),
        "l2_norm" => Ok(Metric::L2),
        other => bail!("similarity {other} has no vecar metric (cos, ip, l2)"),
    }
}

/// An index's documents read page by page with the scroll API, as documents of an archive.
///
/// A page asked for again after a failed connection may be one the server had already served
/// (scrolling is not idempotent): the records then fall short, and the count check stops the
/// import.
pub struct Hits {
    index: Index,
    /// The vector field.
    field: String,
    batch: usize,
    page: VecDeque<Value>,
    /// The scroll id of the pages after the first.
    scroll: Option<String>,
    done: bool,
}

impl Hits {
    /// Reads the next page into `page`; at the end, clears the scroll.
    fn fetch(&mut self) -> Result<()> {
        let ix = &self.index;
        let mut answer = match &self.scroll {
            None => {
                let body = json!({"size": self.batch, "sort": ["_doc"]});
                let path = format!("{}/_search?scroll={KEEP_ALIVE}", ix.path);
                ix.rest.call(Method::POST, &path, Body::Json(&body))?
            }
            Some(id) => {
                let body = json!({"scroll": KEEP_ALIVE, "scroll_id": id});
                ix.rest.call(Method::POST, "/_search/scroll", Body::Json(&body))?
            }
        };
        self.scroll = answer.get("_scroll_id").and_then(Value::as_str).map(str::to_string);
        let Some(Value::Array(hits)) = answer.pointer_mut("/hits/hits").map(Value::take) else {
            bail!("{}: the search answer has no array of hits", ix.shown);
        };
        if hits.is_empty() {
            self.done = true;
            if let Some(id) = self.scroll.take() {
                let body = json!({ "scroll_id": [id] });
                ix.rest.call(Method::DELETE, "/_search/scroll", Body::Json(&body))?;
            }
        }
        self.page.extend(hits);
        Ok(())
    }

    /// The document of one hit.
    fn doc(&self, mut hit: Value) -> Result<Doc> {
        let id = hit.get("_id").cloned().unwrap_or(Value::Null);
        let at = |message: String| anyhow!("{}: document {id}: {message}", self.index.shown);
        let Some(Value::String(doc_id)) = hit.get_mut("_id").map(Value::take) else {
            return Err(at("has no _id".into()));
        };
        let mut record = match hit.get_mut("_source").map(Value::take) {
            Some(Value::Object(source)) => source,
            _ => return Err(at("has no _source (is it disabled in the mapping?)".into())),
        };
        let vector = record.remove(&self.field).unwrap_or(Value::Null);
        let vector = parse_vector(&vector, &self.field).map_err(at)?;
        if record.contains_key("vector") {
            return Err(at(
                "its _source has a field \"vector\", the name an archive keeps the vector under".into(),
            ));
        }
        let id = match record.remove("id") {
            None => Value::String(doc_id),
            Some(kept) if id_text(&kept).as_deref() == Some(doc_id.as_str()) => kept,
            Some(kept) => {
                return Err(at(format!(
                    "its _source's \"id\" ({kept}) is not its _id; vecar keeps a document's id under \"id\""
                )))
            }
        };
        record.insert("id".into(), id);
        Ok(Doc { record, vector })
    }
}

impl Iterator for Hits {
    type Item = Result<Doc>;

    fn next(&mut self) -> Option<Result<Doc>> {
        while self.page.is_empty() {
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        let hit = self.page.pop_front()?;
        Some(self.doc(hit))
    }
}
