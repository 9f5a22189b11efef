//! `vecar embed`: JSONL in, the same lines out with a vector made from each line's text.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::ProviderArgs;
use super::UsageError;
use vecar::embed::LinesWithVectors;
use vecar::input::{LineSource, Lines};
use vecar::output;

/// Arguments of `vecar embed`.
#[derive(clap::Args)]
#[command(after_help = "\
Every line that has a text and no vector gets the vector of its text, appended as its last field;
every other line (blank lines aside) is written unchanged, in order. The API key of an endpoint
is read from the environment variable VECAR_API_KEY.

Examples:
  vecar embed notes.jsonl --model all-MiniLM-L6-v2/ > notes-with-vectors.jsonl
  vecar embed notes.jsonl --endpoint http://localhost:11434/v1 --model nomic-embed-text > out.jsonl
  vecar embed notes.jsonl --embed-cmd 'python3 embed.py' | vecar build - -o notes.car")]
pub struct Args {
    /// JSONL input; `-` reads standard input.
    input: PathBuf,
    /// Field holding each line's text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Field to write each vector to.
    #[arg(long, default_value = "vector")]
    vector_field: String,
    /// The provider.
    #[command(flatten)]
    provider: ProviderArgs,
}

/// Runs `vecar embed`.
pub fn run(args: Args) -> Result<ExitCode> {
    let Some(embedder) = args.provider.get().open()? else {
        let msg = "give a provider: --model DIR, --endpoint URL --model NAME, or --embed-cmd CMD";
        return Err(UsageError(msg.into()).into());
    };
    let lines = Lines::open(&args.input)?;
    let mut filled = LinesWithVectors::new(lines, embedder, &args.text_field, &args.vector_field);
    let mut out = output::stdout();
    while let Some((_, line)) = filled.next_line()? {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
