//! `vecar build`: JSONL records in, a CAR archive out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::ProviderArgs;
use vecar::archive::build::{assemble, BuildOptions};
use vecar::archive::manifest::Fields;
use vecar::archive::rows::Rows;
use vecar::archive::tree::DEFAULT_MAX_LINKS;
use vecar::embed::{self, LinesWithVectors};
use vecar::index::hnsw;
use vecar::input::{LineSource, Lines};
use vecar::ops::build::{read_docs, IndexChoice, AUTO_PARTITIONED_FROM};
use vecar::output::plural;
use vecar::params::{Dtype, EmbeddingInfo, IndexParams, Metric};
use vecar::params::{
    DEFAULT_CONNECTIVITY, DEFAULT_EXPANSION_ADD, DEFAULT_EXPANSION_SEARCH, MAX_CONNECTIVITY, MAX_EXPANSION,
};

/// Arguments of `vecar build`.
#[derive(clap::Args)]
#[command(after_help = "\
Each input line is a JSON object with an id (string or integer, unique), a vector (array of
numbers, the same length on every line), an optional text, and any other fields, kept as metadata.
With a provider (--model, --endpoint, --embed-cmd), lines without a vector get one made from their
text, and the manifest records the provider, so `vecar query --text` uses the same model.
The root CID is printed on stdout.

Examples:
  vecar build docs.jsonl -o docs.car     # the same root CID at any --threads
  zcat docs.jsonl.gz | vecar build - -o docs.car
  vecar build docs.jsonl -o docs.car --metric ip --dtype f32 --id-field doc_id
  vecar build notes.jsonl --model all-MiniLM-L6-v2/ -o notes.car   # texts only: embed them
  vecar build big.jsonl -o big.car --index hnsw      # HNSW at any size, built on every core
  vecar build docs.jsonl -o docs.car --partitions 64   # partitioned at any size")]
pub struct Args {
    /// JSONL input; `-` reads standard input.
    input: PathBuf,
    /// Where to write the archive.
    #[command(flatten)]
    output: super::Output,
    /// Distance metric.
    #[arg(long, value_enum, default_value_t = MetricArg::Cos)]
    metric: MetricArg,
    /// The index: an HNSW graph (read whole by every query), or k-means partitions, of which a
    /// query reads the few nearest (for big archives, and archives queried over a network); auto
    /// picks by size.
    ///
    /// auto, the default, builds HNSW on one thread below 20,000 records and a partitioned index
    /// from 20,000 on, so a default build gives the same root CID at any --threads (usearch
    /// writes the same graph only from one thread). Measured on real MiniLM vectors
    /// (bench/auto-results.md): below 20,000, HNSW finds more of the true neighbours (recall@10
    /// 0.98-0.99 against 0.95-0.96) and one thread builds it in seconds; from 20,000 on, partitions build 4-6x faster than HNSW on one thread, match its
    /// recall by 50,000, and a cold query reads a few of them instead of the whole graph.
    /// --index hnsw builds on --threads threads (a new graph each run unless one).
    #[arg(long, value_enum, default_value_t = IndexArg::Auto)]
    index: IndexArg,
    /// Partitions of a partitioned index [default: about √records]; with --index auto, it builds
    /// a partitioned index at any size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    partitions: Option<u64>,
    /// Scalar kind of the index's copy of the vectors (the archive also keeps exact float32)
    /// [default: i8 for cos, bf16 otherwise]. i8 only with cos: it suits unit vectors, and with
    /// l2 or ip its recall falls, so it is refused.
    #[arg(long, value_enum)]
    dtype: Option<DtypeArg>,
    /// HNSW links per node (M).
    #[arg(long, default_value_t = DEFAULT_CONNECTIVITY, value_parser = clap::value_parser!(u64).range(2..=MAX_CONNECTIVITY))]
    connectivity: u64,
    /// HNSW breadth while building (ef_construction).
    #[arg(long, default_value_t = DEFAULT_EXPANSION_ADD, value_parser = clap::value_parser!(u64).range(1..=MAX_EXPANSION))]
    expansion_add: u64,
    /// HNSW breadth while searching (ef), stored as the archive's default.
    #[arg(long, default_value_t = DEFAULT_EXPANSION_SEARCH, value_parser = clap::value_parser!(u64).range(1..=MAX_EXPANSION))]
    expansion_search: u64,
    /// Field holding each record's unique id.
    #[arg(long, default_value = "id")]
    id_field: String,
    /// Field holding each record's vector.
    #[arg(long, default_value = "vector")]
    vector_field: String,
    /// Field holding each record's text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Links per link node (for testing link trees).
    #[arg(long, default_value_t = DEFAULT_MAX_LINKS as u64, hide = true, value_parser = clap::value_parser!(u64).range(2..=(DEFAULT_MAX_LINKS as u64)))]
    max_links: u64,
    /// How to embed the texts of lines without a vector.
    #[command(flatten)]
    provider: ProviderArgs,
}

/// `--metric`: the choices of [`Metric`].
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum MetricArg {
    /// Cosine: distance = 1 − cos(a, b); score = cos(a, b).
    Cos,
    /// Squared Euclidean: distance = Σ(a−b)²; score = −distance.
    L2,
    /// Inner product: distance = 1 − a·b; score = a·b.
    Ip,
}

impl From<MetricArg> for Metric {
    fn from(arg: MetricArg) -> Metric {
        match arg {
            MetricArg::Cos => Metric::Cos,
            MetricArg::L2 => Metric::L2,
            MetricArg::Ip => Metric::Ip,
        }
    }
}

/// `--index`: the kinds of index.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IndexArg {
    /// HNSW built on one thread below 20,000 records, partitioned from 20,000 on.
    Auto,
    /// A usearch HNSW graph over every vector, built on --threads threads.
    Hnsw,
    /// k-means centroids and partitions of 8-bit vectors, each partition in its own blocks.
    Partitioned,
}

/// `--dtype`: the choices of [`Dtype`].
#[derive(Clone, Copy, clap::ValueEnum)]
enum DtypeArg {
    /// 32-bit floats: exact, largest.
    F32,
    /// IEEE half precision: half the size; values beyond ±65504 overflow.
    F16,
    /// bfloat16: half the size, float32's range.
    Bf16,
    /// 8-bit integers: a quarter of the size; usearch normalises for cos, so it suits cos.
    I8,
}

impl From<DtypeArg> for Dtype {
    fn from(arg: DtypeArg) -> Dtype {
        match arg {
            DtypeArg::F32 => Dtype::F32,
            DtypeArg::F16 => Dtype::F16,
            DtypeArg::Bf16 => Dtype::Bf16,
            DtypeArg::I8 => Dtype::I8,
        }
    }
}

impl Args {
    /// Refuses index flags that do not go together (usage errors): `--dtype i8` without cos,
    /// `--dtype` with a partitioned index (`--partitions` asks for one), `--partitions` with
    /// `--index hnsw`.
    fn check_index_flags(&self) -> Result<()> {
        let metric = Metric::from(self.metric);
        let partitioned = self.index == IndexArg::Partitioned || self.partitions.is_some();
        let message = if self.dtype.map(Dtype::from) == Some(Dtype::I8) && metric != Metric::Cos {
            format!(
                "--dtype i8 is for --metric cos only (it quantizes unit vectors); for {} use bf16, f16 or f32",
                metric.name()
            )
        } else if partitioned && self.dtype.is_some() {
            "--dtype is for --index hnsw; a partitioned index keeps 8-bit copies".to_string()
        } else if self.index == IndexArg::Hnsw && self.partitions.is_some() {
            "--partitions is for a partitioned index, not --index hnsw".to_string()
        } else {
            return Ok(());
        };
        Err(super::UsageError(message).into())
    }

    /// The index to build over `rows` records: `--index auto` decides by their number
    /// ([`IndexChoice::auto`]) unless `--partitions` asks for partitions, and refuses `--dtype`
    /// where it decides on partitions (a usage error).
    fn index_choice(&self, rows: usize, threads: usize) -> Result<IndexChoice> {
        let partitions = self.partitions.map(|n| n as usize);
        let choice = match self.index {
            IndexArg::Hnsw => IndexChoice::Hnsw { threads },
            IndexArg::Partitioned => IndexChoice::Partitioned { partitions },
            IndexArg::Auto if partitions.is_some() => IndexChoice::Partitioned { partitions },
            IndexArg::Auto => IndexChoice::auto(rows),
        };
        if self.dtype.is_some() && matches!(choice, IndexChoice::Partitioned { .. }) {
            let message = format!(
                "--dtype is for an HNSW index, and --index auto builds a partitioned one for {} \
                 (from {AUTO_PARTITIONED_FROM} on): give --index hnsw, or drop --dtype",
                plural(rows as u64, "record")
            );
            return Err(super::UsageError(message).into());
        }
        Ok(choice)
    }
}

/// Runs `vecar build`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    args.output.check(&[&args.input])?;
    args.check_index_flags()?;
    let metric = Metric::from(args.metric);
    let fields = Fields {
        id: args.id_field.clone(),
        vector: args.vector_field.clone(),
        text: args.text_field.clone(),
    };
    let (rows, embedding) = read_rows(&args, &fields)?;
    let choice = args.index_choice(rows.len(), threads)?;
    let options = BuildOptions {
        fields,
        params: IndexParams {
            metric,
            dtype: choice.dtype(args.dtype.map_or(Dtype::default_for(metric), Dtype::from)),
            connectivity: args.connectivity,
            expansion_add: args.expansion_add,
            expansion_search: args.expansion_search,
            normalized: metric == Metric::Cos,
        },
        max_links: args.max_links as usize,
        embedding,
        engine_version: hnsw::version().into(),
    };
    let index = choice.build(&rows, &options.params)?;
    let archive = assemble(&rows, &index, &options)?;
    let summary = format!(
        "{} of {} dimensions",
        plural(rows.len() as u64, "record"),
        rows.dimensions
    );
    super::write_archive(&archive, &args.output, &summary)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the input's records, embedding the texts of lines without a vector when a provider is
/// given; the rows, and what the manifest records of the provider.
fn read_rows(args: &Args, fields: &Fields) -> Result<(Rows, Option<EmbeddingInfo>)> {
    let mut lines = Lines::open(&args.input)?;
    let name = lines.name().to_string();
    let (rows, embedding) = match args.provider.get().open()? {
        None => (read_docs(&mut lines, fields, None)?, None),
        Some(embedder) => {
            let mut filled = LinesWithVectors::new(lines, embedder, &fields.text, &fields.vector);
            let rows = read_docs(&mut filled, fields, None)?;
            let embedder = filled.embedder().expect("given");
            let info = embed::recorded(embedder, rows.dimensions).with_context(|| name.clone())?;
            (rows, Some(info))
        }
    };
    if rows.is_empty() {
        bail!("{name}: no records (the input is empty or only blank lines)");
    }
    Ok((rows, embedding))
}
