//! What the index does with its settings ([`crate::params`]): distances and scores by metric,
//! and the usearch kinds that the metric and scalar kind name.

use usearch::{MetricKind, ScalarKind};

use crate::params::{Dtype, IndexParams, Metric};

impl Metric {
    /// The usearch metric of the same name.
    pub fn usearch(self) -> MetricKind {
        match self {
            Metric::Cos => MetricKind::Cos,
            Metric::L2 => MetricKind::L2sq,
            Metric::Ip => MetricKind::IP,
        }
    }

    /// The metric's distance between two vectors (lower is closer).
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::Cos => {
                let (aa, bb) = (sum(a, a, |x, y| x * y), sum(b, b, |x, y| x * y));
                if aa == 0.0 || bb == 0.0 {
                    1.0
                } else {
                    1.0 - sum(a, b, |x, y| x * y) / (aa.sqrt() * bb.sqrt())
                }
            }
            Metric::L2 => sum(a, b, |x, y| (x - y) * (x - y)),
            Metric::Ip => 1.0 - sum(a, b, |x, y| x * y),
        }
    }

    /// Turns a distance into a score where higher is better. A cosine is kept within [−1, 1]:
    /// float32 rounding can put a vector's cosine with itself a few 1e-8 above 1.
    pub fn score(self, distance: f64) -> f64 {
        match self {
            Metric::Cos => (1.0 - distance).clamp(-1.0, 1.0),
            Metric::Ip => 1.0 - distance,
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

impl Dtype {
    /// The default for `metric`: i8 for cos (usearch scales each vector to unit length before
    /// quantizing, and queries re-rank 2k candidates by exact distance, so recall holds), bf16
    /// for ip and l2, whose vectors may have any length.
    pub fn default_for(metric: Metric) -> Dtype {
        match metric {
            Metric::Cos => Dtype::I8,
            Metric::Ip | Metric::L2 => Dtype::Bf16,
        }
    }

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

impl IndexParams {
    /// The metric usearch computes.
    pub fn usearch_metric(&self) -> MetricKind {
        if self.normalized {
            MetricKind::IP
        } else {
            self.metric.usearch()
        }
    }
}

/// `vector` scaled to unit length (a zero vector stays as it is).
pub fn unit(vector: &[f32]) -> Vec<f32> {
    let norm = sum(vector, vector, |x, y| x * y).sqrt();
    if norm == 0.0 {
        vector.to_vec()
    } else {
        vector.iter().map(|&x| (x as f64 / norm) as f32).collect()
    }
}

/// Σ f(aᵢ, bᵢ) over 16 float32 lanes (so the compiler vectorises it), the lanes added in f64.
/// The order of additions is fixed, so the result is the same on every run.
fn sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(&x, &y)| f(x, y) as f64)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += f(x[i], y[i]);
        }
    }
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail
}
