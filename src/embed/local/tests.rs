//! The local model provider on the real all-MiniLM-L6-v2 directory that tests/model/fetch.sh
//! places at tests/model/all-MiniLM-L6-v2: its vectors against the dev slice's (fixtures/dev),
//! which sentence-transformers made with the same weights; what it records about itself; its
//! errors on broken directories; and hostile texts. (`build --model` and `query --text` with it
//! are tested on the binary, in tests/cli/embed_local.rs.)

use std::path::Path;

use serde_json::Value;

use super::LocalModel;
use crate::cids::{cid_for, RAW};
use crate::embed::Embedder;
use data::{cosine, floats, gunzip, model_dir};

#[path = "../../../tests/cli/data.rs"]
mod data;

fn open() -> LocalModel {
    LocalModel::open(&model_dir()).expect("the model opens")
}

/// The dev slice's first 200 documents and every 10th after them: (id, text, reference vector).
fn dev_sample() -> Vec<(String, String, Vec<f32>)> {
    let slice = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dev/docs.jsonl.gz");
    let docs = String::from_utf8(gunzip(&slice)).unwrap();
    docs.lines()
        .enumerate()
        .filter(|(i, _)| *i < 200 || i % 10 == 0)
        .map(|(_, line)| {
            let doc: Value = serde_json::from_str(line).unwrap();
            let vector = floats(&doc["vector"]);
            (
                doc["id"].as_str().unwrap().to_string(),
                doc["text"].as_str().unwrap().to_string(),
                vector,
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn vectors_match_sentence_transformers_on_dev_texts() {
    let sample = dev_sample();
    assert!(sample.len() > 350);
    let texts: Vec<String> = sample.iter().map(|(_, text, _)| text.clone()).collect();
    let vectors = open().embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    let (worst_id, worst) = sample
        .iter()
        .zip(&vectors)
        .map(|((id, _, reference), vector)| (id, cosine(reference, vector)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    eprintln!("worst cosine against sentence-transformers: {worst:.10} ({worst_id})");
    assert!(
        worst >= 0.999,
        "{worst_id}: cosine {worst} against sentence-transformers"
    );
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn a_text_gets_the_same_vector_alone_or_in_a_batch() {
    let sample = dev_sample();
    let texts: Vec<String> = sample.iter().take(70).map(|(_, text, _)| text.clone()).collect();
    let mut model = open();
    let together = model.embed(&texts).unwrap();
    for i in [0, 33, 69] {
        let alone = model.embed(&texts[i..=i]).unwrap();
        assert!(cosine(&alone[0], &together[i]) > 0.99999, "text {i}");
    }
    assert!(model.embed(&[]).unwrap().is_empty());
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn info_names_the_model_its_dimensions_and_the_weights_cid() {
    let info = open().info();
    assert_eq!(info.provider, "local");
    assert_eq!(info.model, "all-MiniLM-L6-v2");
    assert_eq!(info.dimensions, Some(384));
    let weights = std::fs::read(model_dir().join("model.safetensors")).unwrap();
    assert_eq!(info.weights, Some(cid_for(RAW, &weights).to_string()));
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn hostile_texts_give_unit_vectors_without_panicking() {
    let long = "lorem ipsum dolor sit amet ".repeat(20_000);
    let texts: Vec<String> = vec![
        String::new(),
        "   \n\t ".to_string(),
        long.clone(),
        "\u{0}\u{1}\u{7f}\u{feff}\u{fffd}\u{ffff} 🙂👩‍👩‍👧 ﷽ e\u{301} 漢字 ∑".to_string(),
        "\u{200b}".repeat(5_000),
        "x".repeat(100_000),
    ];
    let vectors = open().embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(v.len(), 384, "text {i}");
        assert!(v.iter().all(|x| x.is_finite()), "text {i}");
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i}: norm {norm}");
    }
    // Truncation at 256 tokens: the long text reads as its first 254 word pieces.
    let prefix = "lorem ipsum dolor sit amet ".repeat(100);
    let short = open().embed(&[prefix]).unwrap();
    assert!(cosine(&short[0], &vectors[2]) > 0.9999);
}

/// A folder of symbolic links to the model's files, without `left_out`.
fn model_without(left_out: &str) -> tempfile::TempDir {
    let model = model_dir();
    let dir = tempfile::tempdir().expect("a temporary folder");
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
    ] {
        if name != left_out {
            std::os::unix::fs::symlink(model.join(name), dir.path().join(name)).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    if left_out != "1_Pooling/config.json" {
        std::fs::copy(
            model.join("1_Pooling/config.json"),
            dir.path().join("1_Pooling/config.json"),
        )
        .unwrap();
    }
    dir
}

fn open_error(dir: &Path) -> String {
    match LocalModel::open(dir) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn a_missing_file_is_named() {
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        let dir = model_without(name);
        let message = open_error(dir.path());
        assert!(message.contains(&format!("{name}: missing")), "{name}: {message}");
    }
    let message = open_error(Path::new("/nonexistent/model"));
    assert!(message.contains("/nonexistent/model"), "{message}");
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn malformed_files_and_unsupported_models_are_named() {
    let config = std::fs::read_to_string(model_dir().join("config.json")).unwrap();
    let t5 = config.replace(r#""model_type": "bert""#, r#""model_type": "t5""#);
    let cases: [(&str, &str, &str); 6] = [
        ("config.json", "{", "config.json: malformed"),
        ("config.json", &t5, "model_type \"t5\" is not supported"),
        ("config.json", r#"{"hidden_size": 384}"#, "config.json: malformed"),
        ("modules.json", "[]", "modules.json: no Transformer and Pooling"),
        (
            "1_Pooling/config.json",
            r#"{"pooling_mode_max_tokens": true}"#,
            "pooling_mode_max_tokens is not supported",
        ),
        ("model.safetensors", "not safetensors", "model.safetensors: malformed"),
    ];
    for (name, content, expected) in cases {
        let dir = model_without(name);
        std::fs::write(dir.path().join(name), content).unwrap();
        let message = open_error(dir.path());
        assert!(message.contains(expected), "{name}: {message}");
        assert!(message.contains(name), "{name}: {message}");
    }
}
