//! The local provider: a sentence-transformers model directory (BERT family) run in process on
//! the CPU: tokens with the `tokenizers` crate, the encoder in [`super::bert`], pooling here.
//!
//! The directory is read as sentence-transformers reads it: `modules.json` lists a Transformer,
//! a Pooling module (its `config.json` picks CLS or mean pooling) and optionally Normalize;
//! `sentence_bert_config.json` gives the maximum sequence length. Texts are tokenized, sorted
//! by length into batches (little padding), run through the encoder batch by batch in parallel
//! on the global rayon pool, pooled over their attention mask and put back in input order.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::{Config, Encoder};
use super::{Embedder, EmbeddingInfo, TextError};
use crate::cids::{cid_for, RAW};

/// Texts per forward pass: batches are made of texts of similar length, so padding stays small.
/// 16 used less CPU time than 8, 32 or 64 on the dev set (smaller buffers, fewer page faults).
const BATCH: usize = 16;

/// How token vectors become one text vector (1_Pooling/config.json).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pooling {
    /// The first token's ([CLS]) vector.
    Cls,
    /// The mean of the vectors of the tokens the attention mask keeps.
    Mean,
}

/// A sentence-transformers model loaded from a directory.
pub struct LocalModel {
    model: Encoder,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    lowercase: bool,
    dimensions: usize,
    name: String,
    weights: String,
}

/// One entry of modules.json.
#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// sentence_bert_config.json.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// The file `name` in `dir`, which must exist.
fn file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!("{}: missing", path.display());
    }
    Ok(path)
}

/// The JSON file at `path`, parsed.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: malformed: {e}", path.display()))
}

/// The tokenizer at `path` in model folder `dir`, truncating at the sentence-transformers
/// max_seq_length (else the tokenizer's own, else `max_positions`; at most `max_positions`) and
/// not padding; and whether texts are lowercased first (sentence_bert_config.json's
/// do_lower_case).
fn open_tokenizer(dir: &Path, path: &Path, max_positions: usize) -> Result<(Tokenizer, bool)> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| anyhow!("{}: malformed: {e}", path.display()))?;
    let sbert_path = dir.join("sentence_bert_config.json");
    let sbert: Option<SentenceBertConfig> = if sbert_path.is_file() {
        Some(read_json(&sbert_path)?)
    } else {
        None
    };
    let max_length = sbert
        .as_ref()
        .and_then(|s| s.max_seq_length)
        .or_else(|| tokenizer.get_truncation().map(|t| t.max_length))
        .unwrap_or(max_positions)
        .clamp(2, max_positions);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| anyhow!("{}: cannot truncate at {max_length} tokens: {e}", path.display()))?;
    tokenizer.with_padding(None);
    Ok((tokenizer, sbert.is_some_and(|s| s.do_lower_case)))
}

/// The model folder's own name ("." or ".." are resolved first).
fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            let resolved = dir.canonicalize().ok()?;
            Some(resolved.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| dir.display().to_string())
}

impl LocalModel {
    /// Loads the model in `dir` (config.json, model.safetensors, tokenizer.json, modules.json,
    /// 1_Pooling/config.json; sentence_bert_config.json if present).
    pub fn open(dir: &Path) -> Result<LocalModel> {
        if !dir.is_dir() {
            bail!("{}: not a model directory (missing or not a folder)", dir.display());
        }
        let config_path = file(dir, "config.json")?;
        let weights_path = file(dir, "model.safetensors")?;
        let tokenizer_path = file(dir, "tokenizer.json")?;
        let modules_path = file(dir, "modules.json")?;

        let (pooling_dir, normalize) = read_modules(&modules_path)?;
        let pooling_path = file(dir, &format!("{pooling_dir}/config.json"))?;
        let (pooling, pooled_dims) = read_pooling(&pooling_path)?;

        let config: Config = read_json(&config_path)?;
        config.check(&config_path)?;
        if pooled_dims.is_some_and(|d| d != config.hidden_size) {
            bail!(
                "{}: word_embedding_dimension {} differs from hidden_size {} in config.json",
                pooling_path.display(),
                pooled_dims.unwrap_or_default(),
                config.hidden_size
            );
        }

        let (tokenizer, lowercase) = open_tokenizer(dir, &tokenizer_path, config.max_position_embeddings)?;

        let bytes = std::fs::read(&weights_path).with_context(|| format!("{}: cannot read", weights_path.display()))?;
        let weights = weights_cid(&bytes);
        let model = Encoder::load(&bytes, &config).map_err(|e| anyhow!("{}: {e:#}", weights_path.display()))?;
        Ok(LocalModel {
            model,
            tokenizer,
            pooling,
            normalize,
            lowercase,
            dimensions: config.hidden_size,
            name: folder_name(dir),
            weights,
        })
    }

    /// The vectors of one batch of tokenized texts.
    fn run_batch(&self, batch: &[&tokenizers::Encoding]) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<&[u32]> = batch.iter().map(|e| e.get_ids()).collect();
        let (hidden, width) = self.model.forward(&ids)?;
        let h = self.dimensions;
        Ok(ids
            .iter()
            .enumerate()
            .map(|(row, ids)| {
                let tokens = &hidden[row * width * h..(row * width + ids.len().max(1)) * h];
                let mut pooled = match self.pooling {
                    Pooling::Cls => tokens[..h].to_vec(),
                    Pooling::Mean => {
                        let mut sum = vec![0f32; h];
                        for token in tokens.chunks_exact(h) {
                            sum.iter_mut().zip(token).for_each(|(s, x)| *s += x);
                        }
                        let n = (tokens.len() / h) as f32;
                        sum.iter_mut().for_each(|s| *s /= n);
                        sum
                    }
                };
                if self.normalize {
                    let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    pooled.iter_mut().for_each(|x| *x /= norm);
                }
                pooled
            })
            .collect())
    }
}

/// The Pooling module's folder and whether a Normalize module follows, from modules.json.
fn read_modules(path: &Path) -> Result<(String, bool)> {
    let modules: Vec<Module> = read_json(path)?;
    let mut pooling = None;
    let mut normalize = false;
    for (i, module) in modules.iter().enumerate() {
        match module.kind.rsplit('.').next().unwrap_or_default() {
            "Transformer" if i == 0 => {}
            "Pooling" if i == 1 => pooling = Some(module.path.clone()),
            "Normalize" if i == 2 => normalize = true,
            _ => bail!(
                "{}: module {i} of type {:?} is not supported (expected Transformer, Pooling, then optionally Normalize)",
                path.display(),
                module.kind
            ),
        }
    }
    match pooling {
        Some(dir) if !dir.is_empty() => Ok((dir, normalize)),
        Some(_) => Ok(("1_Pooling".to_string(), normalize)),
        None => bail!("{}: no Transformer and Pooling modules", path.display()),
    }
}

/// The pooling mode and pooled dimensions, from the Pooling module's config.json.
fn read_pooling(path: &Path) -> Result<(Pooling, Option<usize>)> {
    let config: serde_json::Map<String, Value> = read_json(path)?;
    let modes: Vec<&str> = config
        .iter()
        .filter(|(key, value)| key.starts_with("pooling_mode_") && value.as_bool() == Some(true))
        .map(|(key, _)| key.as_str())
        .collect();
    let pooling = match modes.as_slice() {
        ["pooling_mode_cls_token"] => Pooling::Cls,
        ["pooling_mode_mean_tokens"] => Pooling::Mean,
        [] => bail!("{}: no pooling mode is set", path.display()),
        other => bail!(
            "{}: pooling {} is not supported (only one of pooling_mode_cls_token, pooling_mode_mean_tokens)",
            path.display(),
            other.join(" + ")
        ),
    };
    let dims = config
        .get("word_embedding_dimension")
        .and_then(Value::as_u64)
        .map(|d| d as usize);
    Ok((pooling, dims))
}

impl Embedder for LocalModel {
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let inputs: Vec<String> = texts
            .iter()
            .map(|t| {
                if self.lowercase {
                    t.trim().to_lowercase()
                } else {
                    t.trim().to_string()
                }
            })
            .collect();
        let encodings = inputs
            .par_iter()
            .enumerate()
            .map(|(index, text)| {
                self.tokenizer.encode(text.as_str(), true).map_err(|e| TextError {
                    index,
                    message: format!("cannot tokenize the text: {e}"),
                })
            })
            .collect::<std::result::Result<Vec<_>, TextError>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let batches: Vec<Vec<usize>> = order.chunks(BATCH).map(<[usize]>::to_vec).collect();
        // Batches run side by side on the global rayon pool, each product inside them too: on 2
        // cores this is about twice as fast as batches one after the other.
        let results = batches
            .par_iter()
            .map(|batch| {
                let encodings: Vec<&tokenizers::Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
                self.run_batch(&encodings)
                    .with_context(|| format!("the local model {} failed", self.name))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut vectors = vec![Vec::new(); texts.len()];
        for (batch, result) in batches.iter().zip(results) {
            for (&i, vector) in batch.iter().zip(result) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    fn info(&self) -> EmbeddingInfo {
        EmbeddingInfo {
            provider: "local".to_string(),
            model: self.name.clone(),
            dimensions: Some(self.dimensions as u64),
            weights: Some(self.weights.clone()),
        }
    }
}

/// The weights' CID as an IPFS node names the file's bytes as one block: CIDv1, raw codec
/// (0x55), sha2-256 (0x12).
fn weights_cid(bytes: &[u8]) -> String {
    cid_for(RAW, bytes).to_string()
}

#[cfg(test)]
mod tests;
