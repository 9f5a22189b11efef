//! The model tests/model/fetch.sh fetches, and the helpers that read the dev slice's gzipped
//! JSONL (fixtures/dev) and compare vectors. The library's unit tests of the local model
//! (src/embed/local/tests.rs) compile this file too, so both kinds of test find the model, and
//! fail naming what to fetch, the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The decompressed contents of a gzip file.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .expect("gzip runs");
    assert!(out.status.success());
    out.stdout
}

/// The all-MiniLM-L6-v2 model directory; a test that needs it fails when it is missing.
pub fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/model/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "the model is expected at {}: run tests/model/fetch.sh first",
        dir.display()
    );
    dir
}

/// A JSON array of numbers as float32 values.
pub fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The cosine of the angle between `a` and `b`, in float64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
