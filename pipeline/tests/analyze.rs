//! `socialpipe analyze`: the quick start's stages in-process, one output
//! line per input line, in order.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;
use serde_json::Value;

fn analyze(args: &[&str], input: &str) -> (Vec<Value>, String, bool) {
    let mut child = socialpipe()
        .args(["analyze", "--config", "examples/quickstart.toml"])
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, String::from_utf8_lossy(&output.stderr).into_owned(), output.status.success())
}

#[test]
fn every_input_line_gives_one_output_line_in_order_with_errors_in_place() {
    let post = |id: u32, text: &str| {
        format!(
            r#"{{"platform":"x","id":"{id}","author":{{"id":"a{id}"}},"text":"{text}","created_at":"2026-11-20T10:15:00Z"}}"#
        )
    };
    let input = [
        post(1, "I love the new @acme phone!!! #tech"),
        "{not json".to_owned(),
        post(2, "Where can I buy the Acme X2? Mine broke, I want a refund"),
        String::new(),
        r#"{"platform":"x","id":"3"}"#.to_owned(),
    ]
    .join("\n");
    let (out, stderr, ok) = analyze(&[], &(input + "\n"));
    assert!(ok, "{stderr}");
    assert_eq!(out.len(), 5, "{out:?}");
    assert_eq!(out[0]["id"], "x:1");
    assert_eq!(out[2]["id"], "x:2");
    for (i, line) in [(1, 2), (3, 4), (4, 5)] {
        assert_eq!(out[i]["line"], line, "{}", out[i]);
        assert!(out[i]["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", out[i]);
    }
    assert!(stderr.contains("2 line(s) enriched, 3 with errors"), "{stderr}");
    let e = &out[0]["enrichments"];
    for key in ["language", "entities", "embedding", "sentiment", "emotion", "intent", "topics", "brand_safety", "kol"]
    {
        assert!(e.get(key).is_some(), "no {key} in {e}");
    }
    // The embedding is 384 plain floats of a unit vector in the JSON a user sees.
    let embedding: Vec<f64> = e["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(embedding.len(), 384);
    assert!((embedding.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4);
    assert_eq!(e["sentiment"]["vader"]["label"], "positive");
    assert_eq!(e["sentiment"]["model"]["label"], "positive", "{}", e["sentiment"]);
    let p = &e["sentiment"]["model"]["probabilities"];
    let total: f64 = ["negative", "neutral", "positive"].iter().map(|l| p[l].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "{p}");
    assert_eq!(e["sentiment"]["label"], "positive");
    assert!(matches!(e["sentiment"]["label_source"].as_str(), Some("model" | "vader")));
    assert!(e["emotion"]["scores"]["joy"].is_f64());
    assert_eq!(e["entities"]["brands"][0], "Acme");
    assert_eq!(e["topics"]["categories"][0], "tech");
    assert_eq!(out[2]["enrichments"]["intent"]["label"], "complaint");
}

#[test]
fn text_lines_are_posts_numbered_from_one() {
    let (out, stderr, ok) = analyze(&["--text"], "good morning\n\nthis is terrible :(\n");
    assert!(ok, "{stderr}");
    assert_eq!(out.len(), 3);
    for (i, text) in ["good morning", "", "this is terrible :("].iter().enumerate() {
        assert_eq!(out[i]["id"], (i + 1).to_string());
        assert_eq!(out[i]["payload"]["text"], *text);
    }
    let sentiment = &out[2]["enrichments"]["sentiment"];
    assert_eq!(sentiment["model"]["label"], "negative", "{sentiment}");
    assert_eq!(sentiment["label"], "negative", "{sentiment}");
    assert_eq!(out[1]["enrichments"]["sentiment"]["vader"]["compound"], 0.0);
    assert!(out[0]["enrichments"].get("kol").is_none(), "a text has no author to score");
}

#[test]
fn validate_names_the_fetch_command_when_the_emotion_model_is_missing() {
    let scratch = Scratch::new();
    let config = scratch.config(
        "emotion.toml",
        &TOPOLOGY.replace("type = \"entities\"", "type = \"emotion\"\nmodels_dir = \"{dir}/no-models\""),
    );
    let output = run(&["validate", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stages[0]") && stderr.contains("run `scripts/fetch-models.sh`"), "{stderr}");
}
