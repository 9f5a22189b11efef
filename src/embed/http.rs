//! The OpenAI-compatible HTTP provider (`POST /v1/embeddings`). Being written on its own branch.

use anyhow::{bail, Result};

use super::{Embedder, EmbeddingInfo};

/// An OpenAI-compatible embeddings endpoint.
pub struct Endpoint {}

impl Endpoint {
    /// The endpoint at `url` (a base ending in `/v1` or the full `/v1/embeddings` URL), asking
    /// for `model`; the API key comes from VECAR_API_KEY.
    pub fn new(_url: &str, _model: &str) -> Result<Endpoint> {
        bail!("the HTTP provider is not built yet")
    }
}

impl Embedder for Endpoint {
    fn embed(&mut self, _texts: &[String]) -> Result<Vec<Vec<f32>>> {
        bail!("the HTTP provider is not built yet")
    }

    fn info(&self) -> EmbeddingInfo {
        unreachable!("no Endpoint can be made yet")
    }
}
