//! `vecar info`: what an archive holds.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::printer::escape_controls;
use vecar::archive::manifest::Manifest;
use vecar::archive::read::Ahead;
use vecar::index::search::DEFAULT_NPROBE;
use vecar::ops::open::{open, Network};
use vecar::output;

/// Arguments of `vecar info`.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  vecar info docs.car
  vecar info docs.car --json | jq .count
  vecar info *.car --json | jq -r '[.file, .count] | @tsv'

An HNSW archive shows its graph's settings (connectivity, expansion_add, expansion_search); a
partitioned one its partitions (count, and the rows of the smallest, median and largest) and
nprobe, the partitions a query scans without --nprobe (32, or all when fewer).

With several archives, each one's description starts with its `file` and ends with a blank line
(--json: one line per archive).")]
pub struct Args {
    /// The archives; `-` reads standard input.
    #[arg(required = true, value_name = "ARCHIVE")]
    archives: Vec<PathBuf>,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vecar info`.
pub fn run(args: Args) -> Result<ExitCode> {
    let several = args.archives.len() > 1;
    let mut out = output::stdout();
    let network = args.net.get()?;
    super::each_archive(
        &args.archives,
        |path| describe(path, &network),
        |path, described| {
            let mut info = Map::new();
            if several {
                info.insert("file".into(), json!(path.display().to_string()));
            }
            info.extend(described);
            print(&mut out, &info, args.json)?;
            if several && !args.json {
                writeln!(out)?;
            }
            Ok(out.flush()?)
        },
    )
}

/// What the archive at `path` (a file, `ipfs://CID`, a URL) holds. A remote archive's blocks are
/// counted from its link nodes; their sizes are not known without fetching every one.
fn describe(path: &Path, network: &Network) -> Result<Map<String, Value>> {
    let opened = open(path, network, Ahead::Nothing)?;
    let archive = &opened.archive;
    let m = &archive.manifest;
    let p = &m.index.params;
    let mut info = json!({
        "root": archive.root.to_string(),
        "format": format!("{} v{}", m.format, m.version),
        "count": m.count,
        "dimensions": m.dimensions,
        "metric": p.metric.name(),
        "index": if m.index.partitions.is_some() { "partitioned" } else { "hnsw" },
        "dtype": p.dtype.name(),
    });
    let extra = info.as_object_mut().expect("an object");
    extra.extend(index_settings(m));
    extra.insert(
        "engine".into(),
        json!(format!("{} {}", m.index.engine, m.index.engine_version)),
    );
    extra.insert("fields".into(), json!(m.fields));
    extra.insert("embedding".into(), json!(m.embedding));
    if let Some(car) = &opened.car {
        extra.insert("car".into(), json!(car.kind()));
        extra.insert("file_bytes".into(), json!(car.file_len()));
    }
    match opened.file() {
        Some(_) => {
            let mut by_role: BTreeMap<_, (u64, u64)> = BTreeMap::new();
            for block in opened.listing()? {
                let entry = by_role.entry(block.role).or_default();
                entry.0 += 1;
                entry.1 += block.size;
            }
            extra.insert("blocks".into(), json!(by_role.values().map(|r| r.0).sum::<u64>()));
            extra.insert("block_bytes".into(), json!(by_role.values().map(|r| r.1).sum::<u64>()));
            let by_role = by_role
                .iter()
                .map(|(role, (n, bytes))| (role.name().to_string(), json!({"blocks": n, "bytes": bytes})));
            extra.insert("by_role".into(), Value::Object(by_role.collect()));
        }
        None => {
            extra.insert("source".into(), json!(archive.name()));
            extra.insert("blocks".into(), json!(archive.block_count()?));
        }
    }
    Ok(serde_json::from_value(info)?)
}

/// What shapes a search of the archive's index: an HNSW graph's settings; a partitioned index's
/// partitions (see [`balance`]) and how many of them a query scans without `--nprobe`. A
/// partitioned archive's manifest also holds HNSW settings, which nothing reads.
fn index_settings(m: &Manifest) -> Map<String, Value> {
    let p = &m.index.params;
    let settings = match &m.index.partitions {
        None => json!({
            "connectivity": p.connectivity,
            "expansion_add": p.expansion_add,
            "expansion_search": p.expansion_search,
        }),
        Some(partitions) => json!({
            "partitions": balance(&partitions.sizes),
            "nprobe": DEFAULT_NPROBE.min(partitions.sizes.len()),
        }),
    };
    serde_json::from_value(settings).expect("an object")
}

/// How many partitions there are and how evenly they hold the rows: the smallest, median and
/// largest partition.
fn balance(sizes: &[u64]) -> Value {
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    json!({
        "count": sorted.len(),
        "rows_min": sorted[0],
        "rows_median": sorted[sorted.len() / 2],
        "rows_max": sorted[sorted.len() - 1],
    })
}

/// Writes `info` as one JSON line or as aligned lines.
fn print(out: &mut impl Write, info: &Map<String, Value>, json: bool) -> Result<()> {
    if json {
        output::json_line(out, info)?;
    } else {
        for (key, value) in info {
            match value {
                Value::Object(map) if key == "by_role" => {
                    for (role, v) in map {
                        let count = |key: &str| v[key].as_u64().unwrap_or_default();
                        let blocks = output::plural(count("blocks"), "block");
                        writeln!(out, "  {role:<17} {blocks}, {} bytes", output::grouped(count("bytes")))?;
                    }
                }
                Value::Object(map) => {
                    let pairs: Vec<String> = map
                        .iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => format!("{k}={s}"),
                            other => format!("{k}={other}"),
                        })
                        .collect();
                    writeln!(out, "{key:<18}{}", escape_controls(&pairs.join(" ")))?;
                }
                Value::String(s) => writeln!(out, "{key:<18}{}", escape_controls(s))?,
                Value::Null => writeln!(out, "{key:<18}none")?,
                other => writeln!(out, "{key:<18}{other}")?,
            }
        }
    }
    Ok(())
}
