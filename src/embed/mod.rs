//! Turning text into vectors: one interface ([`Embedder`]) over three providers — a local
//! sentence-transformers model run in process ([`local`]), an OpenAI-compatible HTTP endpoint
//! ([`http`]) and an external command ([`command`]) — and [`LinesWithVectors`], which gives JSONL lines
//! that lack a vector one made from their text.

mod bert;
pub mod command;
pub mod fill;
pub mod http;
pub mod local;

use std::path::Path;

use anyhow::{bail, Result};

pub use fill::LinesWithVectors;

use crate::params::EmbeddingInfo;

/// A provider of vectors for texts.
pub trait Embedder {
    /// One vector per text, in order. Providers split `texts` into their own batches.
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    /// Provider, model, dimensions (as known so far) and weights.
    fn info(&self) -> EmbeddingInfo;
}

/// Which provider to use, as the command line names it: a local model's directory, an
/// endpoint and its model name, or a command.
#[derive(Clone, Debug, Default)]
pub struct Provider {
    /// A local model's directory; with `endpoint`, the model name to ask for.
    pub model: Option<String>,
    /// An OpenAI-compatible embeddings endpoint.
    pub endpoint: Option<String>,
    /// A command (run by `sh -c`) that embeds `{"text": ...}` lines.
    pub embed_cmd: Option<String>,
}

impl Provider {
    /// The kind of provider named: "local", "http" or "command".
    fn kind(&self) -> Option<&'static str> {
        match (&self.endpoint, &self.embed_cmd, &self.model) {
            (Some(_), _, _) => Some("http"),
            (None, Some(_), _) => Some("command"),
            (None, None, Some(_)) => Some("local"),
            (None, None, None) => None,
        }
    }

    /// Opens the provider named, if any.
    pub fn open(&self) -> Result<Option<Box<dyn Embedder>>> {
        Ok(match (&self.endpoint, &self.embed_cmd, &self.model) {
            (Some(url), _, Some(model)) => Some(Box::new(http::Endpoint::new(url, model)?)),
            (Some(_), _, None) => bail!("--endpoint needs --model NAME"),
            (None, Some(cmd), _) => Some(Box::new(command::Command::new(cmd)?)),
            (None, None, Some(dir)) => Some(Box::new(local::LocalModel::open(Path::new(dir))?)),
            (None, None, None) => None,
        })
    }

    /// Opens the provider for queries by text against an archive embedded as `recorded`: the
    /// flags if given, else the recorded provider (a local model from VECAR_MODEL; an endpoint's
    /// recorded model name with --endpoint), else, for an archive that records none, a local
    /// model from VECAR_MODEL. A command is never taken from the archive, which may be hostile.
    /// A provider whose kind, model, weights or dimensions differ from the recorded ones is
    /// refused.
    pub fn open_for(&self, recorded: Option<&EmbeddingInfo>, archive: &str) -> Result<Box<dyn Embedder>> {
        let mut args = self.clone();
        let from_env = || std::env::var("VECAR_MODEL").ok().filter(|dir| !dir.is_empty());
        if let Some(info) = recorded {
            match info.provider.as_str() {
                "local" if args.kind().is_none() => match from_env() {
                    Some(dir) => args.model = Some(dir),
                    None => bail!(
                        "{archive} was embedded with the local model {:?}: give its directory with --model DIR or VECAR_MODEL",
                        info.model
                    ),
                },
                "http" if args.endpoint.is_some() && args.model.is_none() => args.model = Some(info.model.clone()),
                "http" if args.kind().is_none() => bail!(
                    "{archive} was embedded by an endpoint with model {:?}: give it with --endpoint URL",
                    info.model
                ),
                "command" if args.kind().is_none() => bail!(
                    "{archive} was embedded by the command {:?}: give it with --embed-cmd (vecar never runs a command an archive names)",
                    info.model
                ),
                _ => {}
            }
        } else if args.kind().is_none() {
            args.model = from_env();
        }
        if let (Some(info), Some(kind)) = (recorded, args.kind()) {
            if info.provider != kind {
                bail!(
                    "{archive} was embedded by a {} provider ({:?}), not a {kind} one",
                    info.provider,
                    info.model
                );
            }
        }
        let Some(embedder) = args.open()? else {
            bail!(
                "{archive} records no embedding model: to query it by text, give the model its vectors were made \
                 with: --model DIR or VECAR_MODEL=DIR for a local sentence-transformers model, --endpoint URL \
                 --model NAME, or --embed-cmd CMD. vecar's fixtures were made with all-MiniLM-L6-v2: \
                 tests/model/fetch.sh, in vecar's repository, puts it at tests/model/all-MiniLM-L6-v2"
            );
        };
        if let Some(info) = recorded {
            check_same(info, &embedder.info(), archive)?;
        }
        Ok(embedder)
    }
}

/// What a manifest records about `embedder` for vectors of `dimensions` numbers; an error when
/// the provider makes vectors of another length.
pub fn recorded(embedder: &dyn Embedder, dimensions: usize) -> Result<EmbeddingInfo> {
    let mut info = embedder.info();
    match info.dimensions {
        Some(d) if d != dimensions as u64 => {
            bail!("the model makes {d}-dimensional vectors, but the records' vectors have {dimensions} numbers")
        }
        _ => info.dimensions = Some(dimensions as u64),
    }
    Ok(info)
}

/// Refuses a provider that would not give the vectors the archive was built with.
fn check_same(recorded: &EmbeddingInfo, found: &EmbeddingInfo, archive: &str) -> Result<()> {
    if recorded.weights.is_some() && recorded.weights != found.weights {
        bail!(
            "the model's weights differ from those {archive} was embedded with (weights CID {}, this model's {})",
            recorded.weights.as_deref().unwrap_or("?"),
            found.weights.as_deref().unwrap_or("none")
        );
    }
    if recorded.provider == "http" && recorded.model != found.model {
        bail!(
            "{archive} was embedded with model {:?}, not {:?}",
            recorded.model,
            found.model
        );
    }
    if let (Some(a), Some(b)) = (recorded.dimensions, found.dimensions) {
        if a != b {
            bail!("the model makes {b}-dimensional vectors, but {archive} holds {a}-dimensional ones");
        }
    }
    Ok(())
}

/// A provider's complaint about one text of a batch (its 0-based place in the `texts` given to
/// [`Embedder::embed`]), so the caller can name the input line.
#[derive(Debug)]
pub struct TextError {
    /// Which text.
    pub index: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TextError {}
