//! `vecar query`: the nearest records to each query, as JSON lines.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::archive::read::Archive;
use crate::index::search::Searcher;
use crate::input::{self, Lines, Query};
use crate::output;

/// Queries searched together.
const BATCH: usize = 1024;

/// Arguments of `vecar query`.
#[derive(clap::Args)]
#[command(after_help = "\
Queries come from stdin, one per line: {\"id\": ..., \"vector\": [...]} (id optional) or a bare
array. Each hit is one line: {\"query\", \"rank\", \"id\", \"score\", \"distance\", \"text\",
\"metadata\", \"cid\"}; score is higher-is-better for every metric, distance is the metric's own.

Examples:
  vecar query docs.car < queries.jsonl
  vecar query docs.car -k 3 --vector \"$(jq -c .vector q.json)\"
  vecar query docs.car --exact < queries.jsonl | jq -r .id | head -1")]
pub struct Args {
    /// The archive (a file: it is read in place).
    archive: PathBuf,
    /// Hits per query.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Search breadth (HNSW ef) [default: the archive's expansion_search].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65536))]
    ef: Option<u64>,
    /// Compare against every stored vector instead of searching the index.
    #[arg(long)]
    exact: bool,
    /// One query vector as a JSON array, instead of reading stdin.
    #[arg(long, value_name = "JSON")]
    vector: Option<String>,
}

/// Runs `vecar query`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    if args.archive == Path::new("-") && args.vector.is_none() {
        bail!("queries are read from standard input, so the archive must be a file");
    }
    let archive = Archive::open(&args.archive)?;
    let m = &archive.manifest;
    let dims = m.dimensions as usize;
    let searcher = Searcher::open(&archive, args.exact, args.ef.map(|ef| ef as usize), threads)?;
    let mut out = output::stdout();
    if let Some(text) = &args.vector {
        let value: Value = serde_json::from_str(text).context("--vector: invalid JSON")?;
        let vector = input::parse_vector(&value, "--vector").map_err(anyhow::Error::msg)?;
        if vector.len() != dims {
            bail!("--vector has {} numbers, expected {dims}", vector.len());
        }
        answer(
            &archive,
            &searcher,
            &[Query {
                label: json!(0),
                vector,
            }],
            args.k,
            &mut out,
        )?;
    } else {
        let mut lines = Lines::open(Path::new("-"))?;
        loop {
            let batch = input::read_queries(&mut lines, dims, &m.fields.id, &m.fields.vector, BATCH)?;
            if batch.is_empty() {
                break;
            }
            answer(&archive, &searcher, &batch, args.k, &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn answer(archive: &Archive, searcher: &Searcher, queries: &[Query], k: usize, out: &mut impl Write) -> Result<()> {
    let vectors: Vec<&[f32]> = queries.iter().map(|q| q.vector.as_slice()).collect();
    let results = searcher.search(&vectors, k)?;
    let rows: BTreeSet<u64> = results.iter().flatten().map(|hit| hit.row).collect();
    let records = archive.records_of(&rows)?;
    let fields = &archive.manifest.fields;
    let metric = archive.manifest.index.params.metric;
    for (query, hits) in queries.iter().zip(results) {
        for (rank, hit) in hits.iter().enumerate() {
            let located = &records[&hit.row];
            let mut metadata = located.record.clone();
            let id = metadata.remove(&fields.id).unwrap_or(Value::Null);
            let text = metadata.remove(&fields.text).unwrap_or(Value::Null);
            let line = json!({
                "query": query.label,
                "rank": rank + 1,
                "id": id,
                "score": metric.score(hit.distance),
                "distance": hit.distance,
                "text": text,
                "metadata": metadata,
                "cid": located.cid.to_string(),
            });
            output::json_line(out, &line)?;
        }
    }
    Ok(())
}
