//! `build --model` and `query --text` with the local all-MiniLM-L6-v2 model that
//! tests/model/fetch.sh places at tests/model/all-MiniLM-L6-v2: the archive records the model and
//! its weights' CID, its texts find their records, and a model whose weights differ is refused.
//! (The provider itself is tested beside it, in src/embed/local/tests.rs.)

use serde_json::Value;

use crate::common::*;
use crate::data::{cosine, floats, model_dir};

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn cli_builds_from_text_and_queries_by_text_with_the_recorded_model() {
    let model = model_dir();
    let dir = tempdir();
    let (car, docs) = build_texts(dir.path(), "notes.car", 60, &["--model", s(&model)]);

    let info = &vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
    let weights = cid_of(0x55, &std::fs::read(model.join("model.safetensors")).unwrap());
    let embedding = &info["embedding"];
    assert_eq!(
        (&embedding["provider"], &embedding["dimensions"], &embedding["model"]),
        (
            &Value::from("local"),
            &Value::from(384),
            &Value::from("all-MiniLM-L6-v2")
        )
    );
    assert_eq!(embedding["weights"], weights.to_string());

    // The stored vectors are the model's, which match the fixture's (made by sentence-transformers).
    for (doc, exported) in docs.iter().zip(vecar(&["export", s(&car)]).ok().json_lines()) {
        let (given, made) = (floats(&doc["vector"]), floats(&exported["vector"]));
        assert!(cosine(&given, &made) >= 0.999, "{}", doc["id"]);
    }

    // A record's own text finds it first, with --model or VECAR_MODEL.
    let text = docs[17]["text"].as_str().unwrap();
    let hits = vecar(&["query", s(&car), "-k", "1", "--text", text, "--model", s(&model)])
        .ok()
        .json_lines();
    assert_eq!(hits[0]["id"], docs[17]["id"]);
    let env = [("VECAR_MODEL", s(&model))];
    let stdin = format!("{}\n", serde_json::json!({"text": docs[29]["text"]}));
    let hits = vecar_with_env(&["query", s(&car), "-k", "1"], stdin.as_bytes(), &env)
        .ok()
        .json_lines();
    assert_eq!(hits[0]["id"], docs[29]["id"]);
    vecar_with_env(&["query", s(&car), "--text", "x"], b"", &[("VECAR_MODEL", "")]).fails_with(
        "was embedded with the local model \"all-MiniLM-L6-v2\": give its directory with --model DIR or VECAR_MODEL",
    );
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn the_tour_queries_the_fixture_by_text_with_the_model_it_was_made_with() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let docs = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let doc: Value = serde_json::from_str(docs.lines().nth(7).unwrap()).unwrap();
    let text = doc["text"].as_str().unwrap();
    let model = model_dir();
    let given = vecar(&["query", s(&car), "-k", "1", "--text", text, "--model", s(&model)]).ok();
    let from_env = vecar_with_env(
        &["query", s(&car), "-k", "1", "--text", text],
        b"",
        &[("VECAR_MODEL", s(&model))],
    )
    .ok();
    for run in [given, from_env] {
        assert_eq!(run.json_lines()[0]["id"], doc["id"]);
    }
}

#[test]
#[ignore = "needs the model: tests/model/fetch.sh"]
fn cli_refuses_a_model_whose_weights_differ() {
    let model = model_dir();
    let dir = tempdir();
    let (car, _) = build_texts(dir.path(), "notes.car", 5, &["--model", s(&model)]);
    // The same model with one weight's last byte changed: it loads, but its CID differs.
    let other = dir.path().join("all-MiniLM-L6-v2");
    std::fs::create_dir_all(other.join("1_Pooling")).unwrap();
    for file in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
    ] {
        if model.join(file).exists() {
            std::fs::copy(model.join(file), other.join(file)).unwrap();
        }
    }
    let mut weights = std::fs::read(model.join("model.safetensors")).unwrap();
    *weights.last_mut().unwrap() ^= 1;
    std::fs::write(other.join("model.safetensors"), weights).unwrap();
    vecar(&["query", s(&car), "--text", "x", "--model", s(&other)]).fails_with("the model's weights differ from those");
}
