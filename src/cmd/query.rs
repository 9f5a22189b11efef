//! `vecar query`: the nearest records to each query, from one or several archives.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::printer::{Format, RowWriter};
use super::ProviderArgs;
use super::UsageError;
use vecar::archive::read::{Ahead, Archive};
use vecar::embed::LinesWithVectors;
use vecar::index::field_path;
use vecar::index::filter::Filter;
use vecar::index::search::SearchOptions;
use vecar::input::{self, Lines, Query};
use vecar::ops::search::{check_compatible, check_distinct, find_id, missing_fields, Search};
use vecar::params::{EmbeddingInfo, MAX_EXPANSION};
use vecar::{output, progress};

mod answer;

use answer::Answerer;

/// Output fields when --fields is not given.
const DEFAULT_FIELDS: [&str; 8] = ["query", "rank", "id", "score", "distance", "text", "metadata", "cid"];
/// Output fields of `--format table` when --fields is not given: what a person reads, with the
/// query's column only when several queries are answered (see [`Answerer::finish`]).
const TABLE_FIELDS: [&str; 5] = ["query", "rank", "id", "score", "text"];
/// Arguments of `vecar query`.
#[derive(clap::Args)]
#[command(after_help = "\
Queries come from stdin, one per line: {\"id\": ..., \"vector\": [...]}, a bare array, or
{\"id\": ..., \"text\": \"...\"} to embed with the archive's model (as --text does). Each hit's
query is its query's id; when no query has an id, its 0-based line number (a mix is refused).
Each hit has: query, rank, id, score, distance, text, metadata, cid (and archive, with several
archives). score is higher-is-better for every metric; distance is the metric's own.
Queries are answered in order, each as soon as it is found (a query typed alone is answered before
the next is read), and reading stops at the first bad line: vecar prints the answers to every
line before it, then exits 1 naming that line.

Filters (--filter) test record fields:  = != < <= > >=  `in [..]`  `exists`, combined with
and / or / not and parentheses; strings in quotes or bare words:
  source = fortune           year >= 2020 and not draft = true
  lang in [en, de]           (a.b exists or score < 0.5) and id != 'doc-7'
Field names, in --filter and --fields alike: dots reach nested fields (a.b is field b of object
a); a name in backticks is taken as written, dots and all (`a.b` is the field named \"a.b\").

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
    #[command(flatten)]
    net: super::NetworkArgs,
    /// Hits per query (beyond the number of records: all of them).
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    k: u64,
    /// Search breadth (HNSW ef) [default: the archive's expansion_search].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_EXPANSION))]
    ef: Option<u64>,
    /// Partitions to scan in a partitioned archive: more finds more of the true neighbours, at
    /// some speed [default: 32].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    nprobe: Option<u64>,
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
    /// Use the stored vector of record ID as the query, leaving that record out of the hits (ID is
    /// the id's text, as `get` takes it). With several archives, every one holding ID must hold
    /// the same vector for it.
    #[arg(long, value_name = "ID")]
    like: Option<String>,
    /// Only return records that pass this expression (see below).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Only return hits whose score, as printed, is at least X (cos: the cosine, exactly 1 for an
    /// identical vector; ip: the dot product; l2: −squared distance).
    #[arg(long, value_name = "X", allow_negative_numbers = true, value_parser = finite)]
    min_score: Option<f64>,
    /// Output format (`table`: rank, id, score and text, after the query's id or line number when
    /// several queries are answered, unless --fields says otherwise; cut to the terminal's width
    /// or $COLUMNS, text first, ids never; not cut off a terminal).
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Comma-separated fields to print, in order; names other than the hit's own pick record
    /// fields, named as in --filter.
    #[arg(long, value_name = "LIST")]
    fields: Option<String>,
    /// The provider for queries by text [default: the one the archive records; a local model's
    /// directory from --model or VECAR_MODEL].
    #[command(flatten)]
    provider: ProviderArgs,
}

impl Args {
    /// How to search, from --exact, --ef, --nprobe and --rescore.
    fn search_options(&self) -> SearchOptions {
        SearchOptions {
            exact: self.exact,
            ef: self.ef.map(|ef| ef as usize),
            nprobe: self.nprobe.map(|n| n as usize),
            rescore: self.rescore as usize,
        }
    }
}

/// Parses a number that must be finite (not NaN or infinite).
fn finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, not {text:?}")),
    }
}

/// Runs `vecar query`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    let filter = args
        .filter
        .as_deref()
        .map(Filter::parse)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let archives = open_archives(&args)?;
    let several = archives.len() > 1;
    let fields = output_fields(args.fields.as_deref(), args.format, several);
    let paths = record_paths(&fields).map_err(|e| UsageError(format!("--fields: {e}")))?;
    check_fields(&archives, &paths)?;
    let like = args.like.as_deref().map(|id| find_id(&archives, id)).transpose()?;
    let search = Search::open(
        &archives,
        args.search_options(),
        filter.as_ref(),
        like.as_ref(),
        args.min_score,
        threads,
    )?;
    search.hint().into_iter().for_each(progress::say);
    let m = &archives[0].manifest;
    let dims = m.dimensions as usize;
    // More hits than records is all records: memory follows the archives, not the argument.
    let k = usize::try_from(args.k)
        .unwrap_or(usize::MAX)
        .min(archives.iter().map(|a| a.manifest.count as usize).sum());
    let writer = RowWriter::new(output::stdout(), args.format, fields)?;
    let table_defaults = args.format == Format::Table && args.fields.is_none();
    let mut answerer = Answerer::new(&search, &paths, k, writer, table_defaults);
    if let Some(like) = like {
        let query = Query {
            label: Value::String(args.like.unwrap_or_default()),
            vector: like.vector,
        };
        answerer.answer(&[query])?;
    } else if let Some(vector) = one_query(&args, &m.embedding, archives[0].name(), dims)? {
        let query = Query {
            label: json!(0),
            vector,
        };
        answerer.answer(&[query])?;
    } else {
        let open = || args.provider.get().open_for(m.embedding.as_ref(), archives[0].name());
        if std::io::stdin().is_terminal() {
            progress::say("reading queries from stdin (one JSON per line; Ctrl-D to end)");
        }
        let stdin = Lines::open(Path::new("-"))?;
        let mut lines = LinesWithVectors::lazy(stdin, Box::new(open), &m.fields.text, &m.fields.vector);
        let fields = (m.fields.id.as_str(), m.fields.vector.as_str());
        answerer.answer_all(&mut lines, dims, fields)?;
        return Ok(ExitCode::SUCCESS);
    }
    answerer.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// The archives to search, opened in place (files) or through the network: no `-`, none given
/// twice, all with the same dimensions and metric.
fn open_archives(args: &Args) -> Result<Vec<Archive>> {
    if args.archives.iter().any(|a| a == Path::new("-")) {
        let msg = "archives are read in place: give a file, not `-` (queries come from stdin)";
        return Err(UsageError(msg.into()).into());
    }
    // An exact search reads every vector, and no centroid.
    let ahead = if args.exact { Ahead::Nothing } else { Ahead::Centroids };
    let archives = args
        .archives
        .iter()
        .map(|path| args.net.open(path, ahead))
        .collect::<Result<Vec<_>>>()?;
    check_compatible(&archives, "searched together")?;
    check_distinct(&archives)?;
    Ok(archives)
}

/// A usage error naming the fields of `fields` that neither a hit nor any record has.
fn check_fields(archives: &[Archive], paths: &HashMap<String, Vec<String>>) -> Result<()> {
    let mut asked: Vec<&str> = paths.values().map(|path| path[0].as_str()).collect();
    asked.sort_unstable();
    asked.dedup();
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
        OWN_FIELDS.join(", "),
        if own.is_empty() { "" } else { ", and the records' " },
        own.join(", ")
    );
    Err(UsageError(msg).into())
}

/// The query vector given by --vector, or made from --text with the archive's model; an error
/// unless it has `dims` numbers.
fn one_query(args: &Args, recorded: &Option<EmbeddingInfo>, archive: &str, dims: usize) -> Result<Option<Vec<f32>>> {
    let (vector, what) = if let Some(text) = &args.vector {
        let value: Value = serde_json::from_str(text).context("--vector: invalid JSON")?;
        let vector = input::parse_vector(&value, "--vector").map_err(anyhow::Error::msg)?;
        (vector, "--vector has")
    } else if let Some(text) = &args.text {
        let mut embedder = args.provider.get().open_for(recorded.as_ref(), archive)?;
        let Some(vector) = embedder.embed(std::slice::from_ref(text)).context("--text")?.pop() else {
            return Ok(None);
        };
        (vector, "--text: the model gave")
    } else {
        return Ok(None);
    };
    if vector.len() != dims {
        bail!("{what} {} numbers, expected {dims}", vector.len());
    }
    Ok(Some(vector))
}

/// The hit's own output fields; any other name is a path into the record.
const OWN_FIELDS: [&str; 9] = [
    "query", "rank", "id", "score", "distance", "text", "metadata", "cid", "archive",
];

/// The record path of each of `fields` that is not one of the hit's own.
fn record_paths(fields: &[String]) -> Result<HashMap<String, Vec<String>>, String> {
    fields
        .iter()
        .filter(|f| !OWN_FIELDS.contains(&f.as_str()))
        .map(|f| Ok((f.clone(), field_path::parse(f)?)))
        .collect()
}

/// The output fields: `list` (--fields) split, else the defaults of `format`, plus `archive`
/// when `several` archives are searched.
fn output_fields(list: Option<&str>, format: Format, several: bool) -> Vec<String> {
    if let Some(list) = list {
        return field_path::split_list(list).into_iter().map(String::from).collect();
    }
    let default = match format {
        Format::Table => &TABLE_FIELDS[..],
        _ => &DEFAULT_FIELDS[..],
    };
    let archive = several.then_some("archive");
    default.iter().copied().chain(archive).map(String::from).collect()
}
