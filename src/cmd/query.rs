//! `vecar query`: the nearest records to each query, from one or several archives.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::printer::{Format, Printable, RowWriter};
use super::ProviderArgs;
use super::UsageError;
use vecar::archive::read::{Archive, Located};
use vecar::embed::Filled;
use vecar::index::filter::Filter;
use vecar::index::search::SearchOptions;
use vecar::input::{self, Lines, Query};
use vecar::ops::search::{check_compatible, check_distinct, find_id, missing_fields, Search};
use vecar::output;
use vecar::params::EmbeddingInfo;

/// Queries searched together.
const BATCH: usize = 1024;
/// Output fields when --fields is not given.
const DEFAULT_FIELDS: [&str; 8] = ["query", "rank", "id", "score", "distance", "text", "metadata", "cid"];
/// The fields every hit has; other names in --fields pick record fields.
const HIT_FIELDS: [&str; 9] = [
    "query", "rank", "id", "score", "distance", "text", "metadata", "cid", "archive",
];
/// Arguments of `vecar query`.
#[derive(clap::Args)]
#[command(after_help = "\
Queries come from stdin, one per line: {\"id\": ..., \"vector\": [...]} (id optional), a bare
array, or {\"id\": ..., \"text\": \"...\"} to embed with the archive's model (as --text does).
Each hit has: query, rank, id, score, distance, text, metadata, cid (and archive, with several
archives). score is higher-is-better for every metric; distance is the metric's own.

Filters (--filter) test record fields:  = != < <= > >=  `in [..]`  `exists`, combined with
and / or / not and parentheses; strings in quotes or bare words, dots reach nested fields:
  source = fortune           year >= 2020 and not draft = true
  lang in [en, de]           (a.b exists or score < 0.5) and id != 'doc-7'

Examples:
  vecar query docs.car < queries.jsonl
  vecar query docs.car -k 3 --vector \"$(jq -c .vector q.json)\"
  vecar query notes.car --text 'mount a disk' --model all-MiniLM-L6-v2/   # or VECAR_MODEL=DIR
  vecar query docs.car --filter 'source = fortune' --min-score 0.4 < queries.jsonl
  vecar query docs.car --like doc-00042 --format table --fields rank,id,score,text
  vecar query 2023.car 2024.car -k 5 < queries.jsonl | jq -r .archive")]
pub struct Args {
    /// The archives (files: they are read in place). Several are searched as one; the same
    /// archive twice (same root CID) is refused.
    #[arg(required = true)]
    archives: Vec<PathBuf>,
    /// Hits per query.
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    k: u64,
    /// Search breadth (HNSW ef) [default: the archive's expansion_search].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65536))]
    ef: Option<u64>,
    /// Compare against every stored vector instead of searching the index.
    #[arg(long)]
    exact: bool,
    /// Take N×k candidates from the index and keep the k closest by exact float32 distance
    /// (more recall for a quantized index, at some speed).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    rescore: u64,
    /// One query vector as a JSON array, instead of reading stdin.
    #[arg(long, value_name = "JSON", conflicts_with = "like")]
    vector: Option<String>,
    /// One query text, embedded with the model the archive records (see --model).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["vector", "like"])]
    text: Option<String>,
    /// Use the stored vector of record ID as the query, leaving that record out of the hits.
    /// With several archives, every one holding ID must hold the same vector for it.
    #[arg(long, value_name = "ID")]
    like: Option<String>,
    /// Only return records that pass this expression (see below).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Only return hits with at least this score (cos: cosine; ip: dot product; l2: −squared distance).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    min_score: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Comma-separated fields to print, in order; names other than the hit's own pick metadata fields.
    #[arg(long, value_delimiter = ',')]
    fields: Option<Vec<String>>,
    /// The provider for queries by text [default: the one the archive records; a local model's
    /// directory from --model or VECAR_MODEL].
    #[command(flatten)]
    provider: ProviderArgs,
}

/// Runs `vecar query`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    let filter = args
        .filter
        .as_deref()
        .map(Filter::parse)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    if args.archives.iter().any(|a| a == Path::new("-")) {
        let msg = "archives are read in place: give a file, not `-` (queries come from stdin)";
        return Err(UsageError(msg.into()).into());
    }
    let archives = args
        .archives
        .iter()
        .map(|path| Archive::open(path))
        .collect::<Result<Vec<_>>>()?;
    check_compatible(&archives, "searched together")?;
    check_distinct(&archives)?;
    let several = archives.len() > 1;
    let fields = match args.fields.clone() {
        Some(fields) => fields,
        None if several => DEFAULT_FIELDS
            .iter()
            .chain(&["archive"])
            .map(|f| f.to_string())
            .collect(),
        None => DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect(),
    };
    check_fields(&archives, &fields)?;
    let like = args.like.as_deref().map(|id| find_id(&archives, id)).transpose()?;
    let options = SearchOptions {
        exact: args.exact,
        ef: args.ef.map(|ef| ef as usize),
        rescore: args.rescore as usize,
    };
    let search = Search::open(
        &archives,
        options,
        filter.as_ref(),
        like.as_ref(),
        args.min_score,
        threads,
    )?;
    let k = args.k as usize;
    let m = &archives[0].manifest;
    let dims = m.dimensions as usize;
    let mut writer = RowWriter::new(output::stdout(), args.format, fields)?;
    if let Some(like) = like {
        let query = Query {
            label: Value::String(args.like.unwrap_or_default()),
            vector: like.vector,
        };
        answer(&search, &[query], k, &mut writer)?;
    } else if let Some(vector) = one_query(&args, &m.embedding, archives[0].name())? {
        if vector.len() != dims {
            let what = if args.text.is_some() {
                "--text: the model gave"
            } else {
                "--vector has"
            };
            bail!("{what} {} numbers, expected {dims}", vector.len());
        }
        let query = Query {
            label: json!(0),
            vector,
        };
        answer(&search, &[query], k, &mut writer)?;
    } else {
        let open = || args.provider.get().open_for(m.embedding.as_ref(), archives[0].name());
        let stdin = Lines::open(Path::new("-"))?;
        let mut lines = Filled::lazy(stdin, Box::new(open), &m.fields.text, &m.fields.vector);
        loop {
            let batch = input::read_queries(&mut lines, dims, &m.fields.id, &m.fields.vector, BATCH)?;
            if batch.is_empty() {
                break;
            }
            answer(&search, &batch, k, &mut writer)?;
        }
    }
    writer.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// A usage error naming the fields of `fields` that neither a hit nor any record has.
fn check_fields(archives: &[Archive], fields: &[String]) -> Result<()> {
    let asked: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| !HIT_FIELDS.contains(f))
        .collect();
    let (missing, seen) = missing_fields(archives, &asked)?;
    if missing.is_empty() {
        return Ok(());
    }
    let m = &archives[0].manifest.fields;
    let own: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|f| *f != m.id && *f != m.text && *f != m.vector)
        .collect();
    let names = missing.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    let msg = format!(
        "--fields: no hit or record has {names}; the fields are {}{}{}",
        HIT_FIELDS.join(", "),
        if own.is_empty() { "" } else { ", and the records' " },
        own.join(", ")
    );
    Err(UsageError(msg).into())
}

/// The query vector given by --vector, or made from --text with the archive's model.
fn one_query(args: &Args, recorded: &Option<EmbeddingInfo>, archive: &str) -> Result<Option<Vec<f32>>> {
    if let Some(text) = &args.vector {
        let value: Value = serde_json::from_str(text).context("--vector: invalid JSON")?;
        let vector = input::parse_vector(&value, "--vector").map_err(anyhow::Error::msg)?;
        return Ok(Some(vector));
    }
    let Some(text) = &args.text else {
        return Ok(None);
    };
    let mut embedder = args.provider.get().open_for(recorded.as_ref(), archive)?;
    let vector = embedder.embed(std::slice::from_ref(text)).context("--text")?.pop();
    Ok(vector)
}

/// Answers `queries` and prints their hits.
fn answer(search: &Search, queries: &[Query], k: usize, writer: &mut RowWriter<impl Write>) -> Result<()> {
    let vectors: Vec<&[f32]> = queries.iter().map(|q| q.vector.as_slice()).collect();
    let answers = search.answer(&vectors, k)?;
    let rows: Vec<HitRow> = queries
        .iter()
        .zip(&answers.hits)
        .flat_map(|(query, hits)| {
            let answers = &answers;
            hits.iter().enumerate().map(move |(rank, found)| HitRow {
                query,
                rank: rank + 1,
                distance: found.hit.distance,
                located: answers.record(found),
                archive: answers.archive(found),
            })
        })
        .collect();
    writer.write_rows(&rows)
}

/// One hit as an output row, borrowing its record.
struct HitRow<'a> {
    query: &'a Query,
    rank: usize,
    distance: f64,
    located: &'a Located,
    archive: &'a Archive,
}

impl Printable for HitRow<'_> {
    /// The hit's own fields by their names; any other name picks a metadata field.
    fn get(&self, field: &str) -> Option<Cow<'_, Value>> {
        let manifest = &self.archive.manifest;
        let (fields, record) = (&manifest.fields, &self.located.record);
        let made = |value: Value| Some(Cow::Owned(value));
        match field {
            "query" => Some(Cow::Borrowed(&self.query.label)),
            "rank" => made(json!(self.rank)),
            "id" => record.get(&fields.id).map(Cow::Borrowed),
            "score" => made(json!(manifest.index.params.metric.score(self.distance))),
            "distance" => made(json!(self.distance)),
            "text" => record.get(&fields.text).map(Cow::Borrowed),
            "cid" => made(json!(self.located.cid.to_string())),
            "archive" => made(json!(self.archive.name())),
            "metadata" => {
                let metadata = record
                    .iter()
                    .filter(|(name, _)| **name != fields.id && **name != fields.text);
                made(Value::Object(metadata.map(|(n, v)| (n.clone(), v.clone())).collect()))
            }
            name if name == fields.id || name == fields.text => None,
            name => record.get(name).map(Cow::Borrowed),
        }
    }
}
