//! Answering `vecar query`'s queries in batches and printing each hit as a row.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cmd::printer::{Printable, RowWriter};
use vecar::archive::read::{Archive, Located};
use vecar::index::field_path;
use vecar::input::{self, Labels, LineSource, Query};
use vecar::ops::search::{Search, BATCH};

/// Hits held at once, at most, unless one query has more (then a batch is one query). A batch
/// also holds at most [`Search::batch`] queries.
const BATCH_HITS: usize = 1 << 16;

/// Answers queries and prints their hits.
pub(super) struct Answerer<'a, W: Write> {
    search: &'a Search<'a>,
    /// The record path of each output field that is not one of the hit's own.
    paths: &'a HashMap<String, Vec<String>>,
    k: usize,
    writer: RowWriter<W>,
    /// Queries answered so far.
    answered: usize,
    /// Whether the table's query column is shown only when several queries are answered.
    query_column_if_several: bool,
}

impl<'a, W: Write> Answerer<'a, W> {
    /// An answerer printing to `writer`; `table_defaults` when it prints a table of the default
    /// fields, whose query column is then shown only if several queries are answered.
    pub(super) fn new(
        search: &'a Search<'a>,
        paths: &'a HashMap<String, Vec<String>>,
        k: usize,
        writer: RowWriter<W>,
        table_defaults: bool,
    ) -> Self {
        Answerer {
            search,
            paths,
            k,
            writer,
            answered: 0,
            query_column_if_several: table_defaults,
        }
    }

    /// Reads every query from `lines` and answers them in batches, in order, then finishes.
    /// At a bad line, prints the answers to the lines before it, whole, then returns its error.
    pub(super) fn answer_all(mut self, lines: &mut impl LineSource, dims: usize, fields: (&str, &str)) -> Result<()> {
        let most = (BATCH_HITS / self.k.max(1)).clamp(1, BATCH);
        let mut labels = Labels::default();
        let mut batch = Vec::new();
        loop {
            batch.clear();
            let read = input::read_queries(lines, dims, fields, most, &mut labels, &mut batch);
            if !batch.is_empty() {
                self.answer(&batch)?;
                self.writer.flush()?; // each answer as soon as it is found
            }
            if let Err(e) = read {
                self.finish()?; // the answers before the bad line, whole
                return Err(e);
            }
            if batch.is_empty() {
                return self.finish();
            }
        }
    }

    /// Answers `queries` and prints their hits, picking record fields by their paths.
    pub(super) fn answer(&mut self, queries: &[Query]) -> Result<()> {
        let vectors: Vec<&[f32]> = queries.iter().map(|q| q.vector.as_slice()).collect();
        let answers = self.search.answer(&vectors, self.k)?;
        let paths = self.paths;
        let rows: Vec<HitRow> = queries
            .iter()
            .zip(&answers.hits)
            .flat_map(|(query, hits)| {
                let answers = &answers;
                hits.iter().enumerate().map(move |(rank, found)| HitRow {
                    query,
                    rank: rank + 1,
                    score: found.hit.score,
                    located: answers.record(found),
                    archive: answers.archive(found),
                    paths,
                })
            })
            .collect();
        self.answered += queries.len();
        self.writer.write_rows(&rows)
    }

    /// Ends the output. A table shows which query each hit answers, as grep shows file names,
    /// only when there is more than one: rank 1 starting over is all that separates queries.
    pub(super) fn finish(mut self) -> Result<()> {
        if self.query_column_if_several && self.answered < 2 {
            self.writer.drop_table_column("query");
        }
        self.writer.finish()
    }
}

/// One hit as an output row, borrowing its record.
struct HitRow<'a> {
    query: &'a Query,
    rank: usize,
    score: f64,
    located: &'a Located,
    archive: &'a Archive,
    paths: &'a HashMap<String, Vec<String>>,
}

impl Printable for HitRow<'_> {
    /// The hit's own fields by their names; any other name picks a record field by its path.
    fn get(&self, field: &str) -> Option<Cow<'_, Value>> {
        let manifest = &self.archive.manifest;
        let (fields, record) = (&manifest.fields, &self.located.record);
        let made = |value: Value| Some(Cow::Owned(value));
        match field {
            "query" => Some(Cow::Borrowed(&self.query.label)),
            "rank" => made(json!(self.rank)),
            "id" => record.get(&fields.id).map(Cow::Borrowed),
            "score" => made(json!(self.score)),
            "distance" => made(json!(manifest.index.params.metric.distance(self.score))),
            "text" => record.get(&fields.text).map(Cow::Borrowed),
            "cid" => made(json!(self.located.cid.to_string())),
            "archive" => made(json!(self.archive.name())),
            "metadata" => {
                let metadata = record
                    .iter()
                    .filter(|(name, _)| **name != fields.id && **name != fields.text);
                made(Value::Object(metadata.map(|(n, v)| (n.clone(), v.clone())).collect()))
            }
            name => self
                .paths
                .get(name)
                .and_then(|path| field_path::lookup(record, path))
                .map(Cow::Borrowed),
        }
    }
}
