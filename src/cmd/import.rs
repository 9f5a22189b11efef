//! `vecar import`: an archive made from another store's vectors, ids, texts and metadata.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::build::MetricArg;
use super::stores::{EsImport, QdrantImport};
use vecar::archive::build::assemble;
use vecar::input::Doc;
use vecar::ops::bridge::{self, faiss, Source};
use vecar::output::plural;

/// Arguments of `vecar import`.
#[derive(clap::Args)]
#[command(after_help = "\
The archive gets the index a default `vecar build` makes (--index auto): HNSW built on one thread
below 20,000 records, partitioned from 20,000 on, so an import gives the same root CID at any
--threads. For another index, rebuild the records:
  vecar export docs.car | vecar build - -o hnsw.car --index hnsw")]
pub struct Args {
    #[command(subcommand)]
    from: From,
}

/// The stores `vecar import` reads.
#[derive(clap::Subcommand)]
enum From {
    /// Read a FAISS index file (as `faiss.write_index` writes it).
    Faiss(FaissArgs),
    /// Read a Qdrant collection (its REST API).
    Qdrant(QdrantImport),
    /// Read an Elasticsearch or OpenSearch index.
    Elasticsearch(EsImport),
}

/// Arguments of `vecar import faiss`.
#[derive(clap::Args)]
#[command(after_help = "\
Reads IndexFlatL2 (IxF2), IndexFlatIP (IxFI), IndexHNSWFlat (IHNf, its vectors; the archive gets
its own index), IndexIVFFlat (IwFl, its inverted lists) and IndexIDMap/IndexIDMap2 (IxMp, IxM2)
around any of them; compressed types (PQ, SQ, ...) are refused, as they do not hold the vectors.
Each record's id is its FAISS id (its position in indexes without an id map); IVF lists keep no
order, so their records come ordered by id. The vectors keep their float32 bits.

With --records, each vector gets the text and metadata of the JSONL record with its id (an `id`
field; the other fields are kept as they are, `text` as the text). Every vector needs a record
and every record a vector, or nothing is written; a record's `vector`, if it has one, must be the
index's vector bit for bit.

Examples:
  vecar import faiss docs.faiss -o docs.car
  vecar import faiss docs.faiss --records docs.jsonl --metric cos -o docs.car")]
struct FaissArgs {
    /// The FAISS index file.
    index: PathBuf,
    /// JSONL records (an `id`, a `text`, any metadata) to join to the vectors by id.
    #[arg(long, value_name = "RECORDS.jsonl")]
    records: Option<PathBuf>,
    /// The archive's metric [default: the index's, ip or l2]. cos when you know the vectors are
    /// unit length (FAISS has no cosine metric; normalised vectors under ip are its cosine).
    #[arg(long, value_enum)]
    metric: Option<MetricArg>,
    /// Where to write the archive.
    #[command(flatten)]
    output: super::Output,
}

/// Runs `vecar import`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.from {
        From::Faiss(args) => {
            let mut inputs: Vec<&Path> = vec![&args.index];
            inputs.extend(args.records.as_deref());
            args.output.check(&inputs)?;
            let source = faiss::import(&args.index, args.records.as_deref(), args.metric.map(Into::into))?;
            write(source, &args.output)
        }
        From::Qdrant(args) => {
            args.output.check(&[])?;
            write(args.source()?, &args.output)
        }
        From::Elasticsearch(args) => {
            args.output.check(&[])?;
            write(args.source()?, &args.output)
        }
    }
}

/// Builds the archive of `source` and writes it where `output` says.
fn write(source: Source<impl Iterator<Item = Result<Doc>>>, output: &super::Output) -> Result<ExitCode> {
    let name = source.name.clone();
    let built = bridge::build(source)?;
    let archive = assemble(&built.rows, &built.index, &built.options)?;
    let summary = format!(
        "{} of {} dimensions from {name}",
        plural(built.rows.len() as u64, "record"),
        built.rows.dimensions
    );
    super::write_archive(&archive, output, &summary)?;
    Ok(ExitCode::SUCCESS)
}
