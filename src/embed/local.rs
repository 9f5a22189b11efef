//! The local provider: a sentence-transformers model directory run in process with candle.
//! Being written on its own branch.

use std::path::Path;

use anyhow::{bail, Result};

use super::{Embedder, EmbeddingInfo};

/// A sentence-transformers model loaded from a directory.
pub struct LocalModel {}

impl LocalModel {
    /// Loads the model in `dir` (config.json, model.safetensors, tokenizer.json, modules.json,
    /// 1_Pooling/config.json).
    pub fn open(_dir: &Path) -> Result<LocalModel> {
        bail!("the local model provider is not built yet")
    }
}

impl Embedder for LocalModel {
    fn embed(&mut self, _texts: &[String]) -> Result<Vec<Vec<f32>>> {
        bail!("the local model provider is not built yet")
    }

    fn info(&self) -> EmbeddingInfo {
        unreachable!("no LocalModel can be made yet")
    }
}
