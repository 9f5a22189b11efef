//! Times the local model provider on a JSONL file of texts (bench/embed.sh gives it the dev set):
//! `embed MODEL_DIR DOCS.jsonl` embeds every line's `text` in one call and prints one JSON line
//! with texts/s (model loading excluded) and, when the lines carry a reference `vector`, the
//! worst cosine against it.

use std::time::Instant;

use serde_json::Value;
use vecar::embed::local::LocalModel;
use vecar::embed::Embedder;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, docs] = args.as_slice() else {
        anyhow::bail!("usage: embed MODEL_DIR DOCS.jsonl");
    };
    let mut texts = Vec::new();
    let mut references = Vec::new();
    for line in std::fs::read_to_string(docs)?.lines() {
        let doc: Value = serde_json::from_str(line)?;
        texts.push(doc["text"].as_str().unwrap_or_default().to_string());
        let reference: Option<Vec<f32>> = doc["vector"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_f64).map(|x| x as f32).collect());
        references.push(reference);
    }
    let mut model = LocalModel::open(std::path::Path::new(model))?;
    let start = Instant::now();
    let vectors = model.embed(&texts)?;
    let seconds = start.elapsed().as_secs_f64();
    let worst = vectors
        .iter()
        .zip(&references)
        .filter_map(|(v, r)| r.as_ref().map(|r| cosine(v, r)))
        .fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        serde_json::json!({
            "impl": "vecar",
            "texts": texts.len(),
            "seconds": seconds,
            "texts_per_s": texts.len() as f64 / seconds,
            "worst_cosine": if worst.is_finite() { Some(worst) } else { None },
        })
    );
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
