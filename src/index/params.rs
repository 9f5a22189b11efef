//! The index's settings: distance metric, scalar kind and HNSW parameters.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use usearch::{MetricKind, ScalarKind};

/// Distance metric between vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine: distance = 1 − cos(a, b); score = cos(a, b).
    Cos,
    /// Squared Euclidean: distance = Σ(a−b)²; score = −distance.
    L2,
    /// Inner product: distance = 1 − a·b; score = a·b.
    Ip,
}

impl Metric {
    /// The usearch metric of the same name.
    pub fn usearch(self) -> MetricKind {
        match self {
            Metric::Cos => MetricKind::Cos,
            Metric::L2 => MetricKind::L2sq,
            Metric::Ip => MetricKind::IP,
        }
    }

    /// The metric's distance between two vectors (lower is closer), computed in f64.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        let (mut dot, mut aa, mut bb, mut l2) = (0f64, 0f64, 0f64, 0f64);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64, y as f64);
            dot += x * y;
            aa += x * x;
            bb += y * y;
            l2 += (x - y) * (x - y);
        }
        match self {
            Metric::Cos if aa == 0.0 || bb == 0.0 => 1.0,
            Metric::Cos => 1.0 - dot / (aa.sqrt() * bb.sqrt()),
            Metric::L2 => l2,
            Metric::Ip => 1.0 - dot,
        }
    }

    /// Turns a distance into a score where higher is better.
    pub fn score(self, distance: f64) -> f64 {
        match self {
            Metric::Cos | Metric::Ip => 1.0 - distance,
            Metric::L2 => -distance,
        }
    }

    /// The metric's name as written in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cos => "cos",
            Metric::L2 => "l2",
            Metric::Ip => "ip",
        }
    }
}

/// Scalar kind the index stores its copy of the vectors in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats: exact, largest.
    F32,
    /// IEEE half precision: half the size; values beyond ±65504 overflow.
    F16,
    /// bfloat16: half the size, float32's range (the default).
    Bf16,
    /// 8-bit integers: a quarter of the size, lower recall.
    I8,
}

impl Dtype {
    /// The usearch scalar kind of the same name.
    pub fn usearch(self) -> ScalarKind {
        match self {
            Dtype::F32 => ScalarKind::F32,
            Dtype::F16 => ScalarKind::F16,
            Dtype::Bf16 => ScalarKind::BF16,
            Dtype::I8 => ScalarKind::I8,
        }
    }

    /// The kind's name as written in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
            Dtype::I8 => "i8",
        }
    }
}

/// Everything that shapes an HNSW index, as recorded in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexParams {
    /// Distance metric.
    pub metric: Metric,
    /// Scalar kind of the index's vectors.
    pub dtype: Dtype,
    /// HNSW M: links per node.
    pub connectivity: u64,
    /// HNSW ef_construction.
    pub expansion_add: u64,
    /// HNSW ef_search used when a query gives no --ef.
    pub expansion_search: u64,
}
