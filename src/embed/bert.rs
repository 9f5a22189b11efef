//! A BERT encoder for the local provider: weights loaded and matrix products done with
//! candle-core; the element-wise parts (embeddings, biases, layer norm, GELU, masked softmax)
//! done here in place on plain buffers, which is what makes it fast enough (candle-transformers'
//! BERT spent about half its time in those on small batches).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

/// The parts of a BERT config.json the encoder needs.
#[derive(Deserialize)]
pub(super) struct Config {
    vocab_size: usize,
    pub(super) hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
    pub(super) max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    model_type: Option<String>,
    position_embedding_type: Option<String>,
}

/// transformers' BertConfig defaults for fields a config.json may leave out.
fn default_hidden_act() -> String {
    "gelu".to_string()
}

/// See [`default_hidden_act`].
fn default_type_vocab_size() -> usize {
    2
}

/// See [`default_hidden_act`].
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl Config {
    /// Refuses what the encoder cannot run, naming config.json (at `path`).
    pub(super) fn check(&self, path: &Path) -> Result<()> {
        let path = path.display();
        if let Some(kind) = self.model_type.as_deref().filter(|k| *k != "bert") {
            bail!("{path}: model_type {kind:?} is not supported (only BERT models)");
        }
        if self.hidden_act != "gelu" {
            bail!("{path}: hidden_act {:?} is not supported (only gelu)", self.hidden_act);
        }
        if let Some(kind) = self.position_embedding_type.as_deref().filter(|k| *k != "absolute") {
            bail!("{path}: position_embedding_type {kind:?} is not supported (only absolute)");
        }
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
            || self.intermediate_size == 0
            || self.max_position_embeddings < 2
            || self.type_vocab_size == 0
            || self.vocab_size == 0
        {
            bail!(
                "{path}: malformed: hidden_size {} must be a positive multiple of num_attention_heads {}, with at least 2 positions, 1 token type and 1 word",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        Ok(())
    }
}

/// One transformer layer: matrices as (inputs, outputs) tensors, the rest as plain vectors.
struct Layer {
    qkv: Tensor,
    qkv_bias: Vec<f32>,
    attention_out: Tensor,
    attention_out_bias: Vec<f32>,
    attention_norm: (Vec<f32>, Vec<f32>),
    intermediate: Tensor,
    intermediate_bias: Vec<f32>,
    output: Tensor,
    output_bias: Vec<f32>,
    output_norm: (Vec<f32>, Vec<f32>),
}

/// A BERT encoder (post-norm, absolute positions, GELU) on the CPU.
pub(super) struct Encoder {
    hidden: usize,
    heads: usize,
    eps: f32,
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// The tensors of a safetensors file, found under an optional common prefix.
struct Weights {
    tensors: std::collections::HashMap<String, Tensor>,
    prefix: String,
}

impl Weights {
    /// The tensor `name` as float32, which must have `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full)
            .ok_or_else(|| anyhow!("tensor {full} is missing"))?;
        if tensor.dims() != shape {
            bail!("tensor {full} has shape {:?}, expected {shape:?}", tensor.dims());
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }

    /// A vector (bias or norm parameter) of length `n`.
    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>> {
        Ok(self.get(name, &[n])?.to_vec1()?)
    }

    /// A matrix flattened row by row.
    fn matrix(&self, name: &str, rows: usize, columns: usize) -> Result<Vec<f32>> {
        Ok(self.get(name, &[rows, columns])?.flatten_all()?.to_vec1()?)
    }

    /// The weights of the linear layers `names` (each (outputs, inputs)), side by side as one
    /// contiguous (inputs, sum of outputs) matrix, and their biases end to end.
    fn linear(&self, names: &[&str], inputs: usize, outputs: usize) -> Result<(Tensor, Vec<f32>)> {
        let weights = names
            .iter()
            .map(|n| self.get(&format!("{n}.weight"), &[outputs, inputs]))
            .collect::<Result<Vec<_>>>()?;
        let mut bias = Vec::with_capacity(outputs * names.len());
        for n in names {
            bias.extend(self.vector(&format!("{n}.bias"), outputs)?);
        }
        Ok((Tensor::cat(&weights, 0)?.t()?.contiguous()?, bias))
    }

    /// A layer norm's weight and bias.
    fn norm(&self, name: &str, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((
            self.vector(&format!("{name}.weight"), n)?,
            self.vector(&format!("{name}.bias"), n)?,
        ))
    }
}

impl Encoder {
    /// The encoder from the bytes of model.safetensors.
    pub(super) fn load(bytes: &[u8], config: &Config) -> Result<Encoder> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).context("malformed")?;
        let prefix = ["", "bert.", "model."]
            .into_iter()
            .find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| anyhow!("not a BERT model: no embeddings.word_embeddings.weight tensor"))?;
        let w = Weights {
            tensors,
            prefix: prefix.to_string(),
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let l = format!("encoder.layer.{n}");
                let a = format!("{l}.attention");
                let (qkv, qkv_bias) = w.linear(
                    &[
                        &format!("{a}.self.query"),
                        &format!("{a}.self.key"),
                        &format!("{a}.self.value"),
                    ],
                    h,
                    h,
                )?;
                let (attention_out, attention_out_bias) = w.linear(&[&format!("{a}.output.dense")], h, h)?;
                let (intermediate, intermediate_bias) = w.linear(&[&format!("{l}.intermediate.dense")], h, i)?;
                let (output, output_bias) = w.linear(&[&format!("{l}.output.dense")], i, h)?;
                Ok(Layer {
                    qkv,
                    qkv_bias,
                    attention_out,
                    attention_out_bias,
                    attention_norm: w.norm(&format!("{a}.output.LayerNorm"), h)?,
                    intermediate,
                    intermediate_bias,
                    output,
                    output_bias,
                    output_norm: w.norm(&format!("{l}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_types = w.matrix("embeddings.token_type_embeddings.weight", config.type_vocab_size, h)?;
        Ok(Encoder {
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            words: w.matrix("embeddings.word_embeddings.weight", config.vocab_size, h)?,
            positions: w.matrix(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings,
                h,
            )?,
            token_type: token_types[..h].to_vec(),
            embedding_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// The last hidden states of a batch of token sequences (at most as long as the position
    /// table), each padded to the longest: a (texts, width, hidden) buffer and the width.
    pub(super) fn forward(&self, batch: &[&[u32]]) -> Result<(Vec<f32>, usize)> {
        let h = self.hidden;
        let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        if width * h > self.positions.len() {
            bail!(
                "{width} tokens are more than the model's {} positions",
                self.positions.len() / h
            );
        }
        let rows = batch.len() * width;
        let mut x = vec![0f32; rows * h];
        for (b, ids) in batch.iter().enumerate() {
            for (t, position) in self.positions.chunks_exact(h).take(width).enumerate() {
                let id = ids.get(t).copied().unwrap_or(0) as usize;
                let word = self
                    .words
                    .get(id * h..(id + 1) * h)
                    .ok_or_else(|| anyhow!("token id {id} is outside the vocabulary"))?;
                let out = &mut x[(b * width + t) * h..(b * width + t + 1) * h];
                for (((o, w), p), y) in out.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                    *o = w + p + y;
                }
            }
        }
        layer_norm(&mut x, &self.embedding_norm, self.eps);
        let lengths: Vec<usize> = batch.iter().map(|ids| ids.len().max(1)).collect();
        for layer in &self.layers {
            let mut qkv = matmul(&x, rows, &layer.qkv)?;
            add_bias(&mut qkv, &layer.qkv_bias);
            let context = self.attention(&qkv, &lengths, width)?;
            let mut attended = matmul(&context, rows, &layer.attention_out)?;
            add_bias(&mut attended, &layer.attention_out_bias);
            attended.iter_mut().zip(&x).for_each(|(a, r)| *a += r);
            layer_norm(&mut attended, &layer.attention_norm, self.eps);
            let mut inner = matmul(&attended, rows, &layer.intermediate)?;
            gelu_bias(&mut inner, &layer.intermediate_bias);
            x = matmul(&inner, rows, &layer.output)?;
            add_bias(&mut x, &layer.output_bias);
            x.iter_mut().zip(&attended).for_each(|(a, r)| *a += r);
            layer_norm(&mut x, &layer.output_norm, self.eps);
        }
        Ok((x, width))
    }

    /// Multi-head self-attention over `qkv` ((texts × width, 3 × hidden) rows of query, key,
    /// value), keys past each text's length masked out; the (texts × width, hidden) context.
    fn attention(&self, qkv: &[f32], lengths: &[usize], width: usize) -> Result<Vec<f32>> {
        let (h, heads) = (self.hidden, self.heads);
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let groups = lengths.len() * heads;
        // (text, head, position, d) copies of the queries (scaled), keys and values.
        let mut split = [
            vec![0f32; groups * width * d],
            vec![0f32; groups * width * d],
            vec![0f32; groups * width * d],
        ];
        for (row, src) in qkv.chunks_exact(3 * h).enumerate() {
            let (b, t) = (row / width, row % width);
            for (part, dst) in split.iter_mut().enumerate() {
                for head in 0..heads {
                    let from = &src[part * h + head * d..part * h + (head + 1) * d];
                    let to = &mut dst[((b * heads + head) * width + t) * d..][..d];
                    to.copy_from_slice(from);
                }
            }
        }
        split[0].iter_mut().for_each(|q| *q *= scale);
        let [q, k, v] = split.map(|s| Tensor::from_vec(s, (groups, width, d), &Device::Cpu));
        let mut scores = q?.matmul(&k?.t()?)?.flatten_all()?.to_vec1::<f32>()?;
        for (g, block) in scores.chunks_exact_mut(width * width).enumerate() {
            let length = lengths[g / heads];
            for row in block.chunks_exact_mut(width) {
                softmax(row, length);
            }
        }
        let probs = Tensor::from_vec(scores, (groups, width, width), &Device::Cpu)?;
        let context = probs.matmul(&v?)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; lengths.len() * width * h];
        for (g, block) in context.chunks_exact(width * d).enumerate() {
            let (b, head) = (g / heads, g % heads);
            for (t, from) in block.chunks_exact(d).enumerate() {
                out[(b * width + t) * h + head * d..][..d].copy_from_slice(from);
            }
        }
        Ok(out)
    }
}

/// `x` ((rows, k) row by row) times the (k, n) matrix `w`.
fn matmul(x: &[f32], rows: usize, w: &Tensor) -> Result<Vec<f32>> {
    let k = x.len() / rows.max(1);
    Ok(Tensor::from_slice(x, (rows, k), &Device::Cpu)?
        .matmul(w)?
        .flatten_all()?
        .to_vec1()?)
}

/// Adds `bias` to every row of `x`.
fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
    }
}

/// Layer norm of every row of `x` with `(weight, bias)`.
fn layer_norm(x: &mut [f32], (weight, bias): &(Vec<f32>, Vec<f32>), eps: f32) {
    let n = weight.len() as f32;
    for row in x.chunks_exact_mut(weight.len()) {
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

/// Softmax of `row[..length]` in place; the rest (masked keys) becomes 0.
fn softmax(row: &mut [f32], length: usize) {
    let (kept, masked) = row.split_at_mut(length.min(row.len()));
    let max = kept.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    kept.iter_mut().for_each(|v| *v = exp(*v - max));
    let sum: f32 = kept.iter().sum();
    kept.iter_mut().for_each(|v| *v /= sum);
    masked.fill(0.0);
}

/// GELU (the exact, erf form) of `x + bias` for every row of `x`, in place.
fn gelu_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let y = *v + b;
            *v = 0.5 * y * (1.0 + erf(y * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// erf(x) to within 1.5e-7 (Abramowitz and Stegun 7.1.26), branch-free so loops vectorize.
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// e^x to about 1 ulp for x in [-87, 88] (clamped there), branch-free so loops vectorize
/// (Cephes' expf: x = n ln 2 + r, a degree-6 polynomial for e^r, 2^n from the exponent bits).
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round x / ln 2 to the nearest integer by adding and taking away 1.5 × 2^23.
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
