//! What the index does with its settings ([`crate::params`]): distances and scores by metric,
//! and the usearch kinds that the metric and scalar kind name.

use usearch::{MetricKind, ScalarKind};

use crate::params::{
    Dtype, IndexParams, Metric, DEFAULT_CONNECTIVITY, DEFAULT_EXPANSION_ADD, DEFAULT_EXPANSION_SEARCH,
};

impl Metric {
    /// The usearch metric of the same name.
    pub fn usearch(self) -> MetricKind {
        match self {
            Metric::Cos => MetricKind::Cos,
            Metric::L2 => MetricKind::L2sq,
            Metric::Ip => MetricKind::IP,
        }
    }

    /// How alike two vectors are, higher is closer: cos(a, b) for cos (0 when one is zero), a·b
    /// for ip, −Σ(a−b)² for l2. Every finite input gives a finite score, at any magnitude
    /// ([`sum`]); and cos of two vectors pointing the same way (identical, or one a power-of-two
    /// multiple of the other) is exactly 1.
    pub fn score(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::Cos => {
                let (aa, bb) = (dot(a, a), dot(b, b));
                if aa == 0.0 || bb == 0.0 {
                    0.0
                } else {
                    // One square root of the product: for a = b it is aa exactly, so cos is 1.
                    (dot(a, b) / (aa * bb).sqrt()).clamp(-1.0, 1.0)
                }
            }
            Metric::L2 => -sum(a, b, |x, y| (x - y) * (x - y), |x, y| (x - y) * (x - y)),
            Metric::Ip => dot(a, b),
        }
    }

    /// The metric's own distance (lower is closer, as usearch measures it) for a score: 1 − score
    /// for cos and ip, −score for l2.
    pub fn distance(self, score: f64) -> f64 {
        match self {
            Metric::Cos | Metric::Ip => 1.0 - score,
            Metric::L2 => -score,
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
    /// The settings `build` uses for `metric` when no flag says otherwise.
    pub fn default_for(metric: Metric) -> IndexParams {
        IndexParams {
            metric,
            dtype: Dtype::default_for(metric),
            connectivity: DEFAULT_CONNECTIVITY,
            expansion_add: DEFAULT_EXPANSION_ADD,
            expansion_search: DEFAULT_EXPANSION_SEARCH,
            normalized: metric == Metric::Cos,
        }
    }

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
    let norm = dot(vector, vector).sqrt();
    if norm == 0.0 {
        vector.to_vec()
    } else {
        vector.iter().map(|&x| (x as f64 / norm) as f32).collect()
    }
}

/// Σ aᵢbᵢ ([`sum`]).
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f64 {
    sum(a, b, |x, y| x * y, |x, y| x * y)
}

/// Σ f(aᵢ, bᵢ): in float32 lanes, fast; again in float64 (`exact`, where the product of two
/// float32 values is exact) when a term or the sum leaves float32's range, or the sum falls
/// below 1e-25, where float32 terms vanish. So every finite input gives a finite, accurate sum.
#[inline]
fn sum(a: &[f32], b: &[f32], fast: impl Fn(f32, f32) -> f32, exact: impl Fn(f64, f64) -> f64) -> f64 {
    let sum = lanes(a, b, fast);
    if sum.is_finite() && sum.abs() >= 1e-25 {
        sum
    } else {
        exactly(a, b, exact)
    }
}

/// [`sum`]'s rare way, kept out of its loop.
#[cold]
#[inline(never)]
fn exactly(a: &[f32], b: &[f32], exact: impl Fn(f64, f64) -> f64) -> f64 {
    lanes(a, b, |x, y| exact(x as f64, y as f64))
}

/// Σ f(aᵢ, bᵢ) over 16 lanes of `T` (so the compiler vectorises it), the lanes added in f64.
/// The order of additions is fixed, so the result is the same on every run.
#[inline(always)]
fn lanes<T>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> T) -> f64
where
    T: Copy + Default + std::ops::AddAssign + Into<f64>,
{
    const LANES: usize = 16;
    let mut acc = [T::default(); LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(&x, &y)| f(x, y).into())
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += f(x[i], y[i]);
        }
    }
    acc.iter().map(|&v| v.into()).sum::<f64>() + tail
}
