//! `vecar export`: the records back as JSONL, vectors included, in input order; or, with `--to`,
//! the archive written into another store.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::stores::{Store, StoreExport};
use super::UsageError;
use vecar::archive::read::Ahead;
use vecar::ops::bridge::faiss::{self, FaissIndex};
use vecar::output::{self, plural, WithVector};
use vecar::progress;

/// Arguments of `vecar export`.
#[derive(clap::Args)]
#[command(after_help = "\
Each line holds the input line's fields: the record's fields in DAG-CBOR key order (shorter keys
first), then the vector, whose float32 values print back bit-exact.

--to faiss writes a FAISS index file that `faiss.read_index` opens. Its ids are the archive's
row numbers: FAISS id n is line n + 1 of `vecar export` (counting from 0, the n-th record).
l2 archives give L2 indexes; ip archives inner-product ones; cos archives inner-product indexes
of the vectors scaled to unit length (normalise queries with faiss.normalize_L2). hnsw (the
default) is an IndexHNSWFlat whose graph is the archive's own HNSW graph, link for link; flat an
IndexFlatL2/IndexFlatIP, for exact search.

--to qdrant writes the collection --collection at --url (created with the archive's size and
distance: cos -> Cosine, ip -> Dot, l2 -> Euclid), --batch points a request. Unsigned integer ids
stay point ids; every other id becomes the UUIDv5 of its text in the namespace
03412ef0-a1f8-5ecd-8c69-ca17e13f53c7 (the UUIDv5 of `vecar` in the DNS namespace), with the id
kept in the payload, so `vecar import qdrant` gives it back. Qdrant normalises vectors in a
Cosine collection. The API key, if any, is read from VECAR_QDRANT_API_KEY.

--to elasticsearch writes the index --index at --url (created with a dense_vector mapping of the
archive's dimensions and similarity: cos -> cosine, ip -> max_inner_product, l2 -> l2_norm; the
text as text, the id as keyword, metadata by dynamic mapping) with _bulk, then refreshes it.
_id is the id's text; _source the record and the vector, bit-exact. Authentication:
VECAR_ES_API_KEY or user:password in the URL.

Both compare the count after writing; an existing collection or index must match the archive and
be empty unless --upsert. A failure says how far it got: re-run with --upsert to finish.

Examples:
  vecar export docs.car > docs.jsonl
  vecar export docs.car | jq -r .id | head
  vecar export docs.car --to faiss -o docs.faiss
  vecar export docs.car --to faiss --faiss-index flat -o docs-flat.faiss
  vecar export docs.car --to qdrant --url http://localhost:6333 --collection docs
  vecar export docs.car --to elasticsearch --url http://localhost:9200 --index docs")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// Write the archive into another store instead of printing JSONL.
    #[arg(long, value_enum)]
    to: Option<Target>,
    /// The file to write (--to faiss): replaced only when complete; `-` writes to standard output.
    #[arg(short, long, requires = "to")]
    output: Option<PathBuf>,
    /// The FAISS index to write (--to faiss) [default: hnsw].
    #[arg(long, value_enum)]
    faiss_index: Option<FaissIndexArg>,
    /// Where the store is (--to qdrant, elasticsearch).
    #[command(flatten)]
    store: StoreExport,
}

/// `--to`: the stores an archive can be written into.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// A FAISS index file (-o FILE); ids are the archive's row numbers.
    Faiss,
    /// A Qdrant collection (--url, --collection).
    Qdrant,
    /// An Elasticsearch or OpenSearch index (--url, --index).
    Elasticsearch,
}

/// `--faiss-index`: the choices of [`FaissIndex`].
#[derive(Clone, Copy, clap::ValueEnum)]
enum FaissIndexArg {
    /// IndexFlatL2 / IndexFlatIP: exact search over the vectors.
    Flat,
    /// IndexHNSWFlat: the archive's HNSW graph over the vectors.
    Hnsw,
}

/// Runs `vecar export`.
pub fn run(args: Args) -> Result<ExitCode> {
    if args.faiss_index.is_some() && args.to != Some(Target::Faiss) {
        return Err(UsageError("--faiss-index is for --to faiss".into()).into());
    }
    let store = match args.to {
        Some(Target::Qdrant) => Some(Store::Qdrant),
        Some(Target::Elasticsearch) => Some(Store::Elasticsearch),
        None | Some(Target::Faiss) => None,
    };
    args.store.check(store)?;
    if store.is_some() && args.output.is_some() {
        return Err(UsageError("-o is for --to faiss; a store is written over --url".into()).into());
    }
    match (args.to, store) {
        (_, Some(store)) => {
            args.store.run(&args.net.open(&args.archive, Ahead::Nothing)?, store)?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(Target::Faiss), _) => to_faiss(&args),
        _ => jsonl(&args),
    }
}

/// Prints every record as a JSON line, its vector included.
fn jsonl(args: &Args) -> Result<ExitCode> {
    let archive = args.net.open(&args.archive, Ahead::Nothing)?;
    let field = &archive.manifest.fields.vector;
    let mut out = output::stdout();
    archive.for_each_row(|_, record, vector| output::json_line(&mut out, &WithVector { record, field, vector }))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the archive as a FAISS index file.
fn to_faiss(args: &Args) -> Result<ExitCode> {
    let Some(path) = &args.output else {
        return Err(UsageError("--to faiss writes a file: give -o FILE".into()).into());
    };
    if path.as_os_str() != "-" {
        output::check_not_an_input(path, &[&args.archive])?;
    }
    let kind = match args.faiss_index {
        Some(FaissIndexArg::Flat) => FaissIndex::Flat,
        None | Some(FaissIndexArg::Hnsw) => FaissIndex::Hnsw,
    };
    let archive = args.net.open(&args.archive, Ahead::Nothing)?;
    let mut written = 0;
    output::write_to(path, |out| {
        written = faiss::export(&archive, kind, out)?;
        Ok(())
    })?;
    let name = output::name_of(path);
    progress::say(&format!(
        "wrote {name}: {}, ids the row numbers",
        plural(written, "vector")
    ));
    Ok(ExitCode::SUCCESS)
}
