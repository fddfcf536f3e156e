//! The kol stage on one core (`make bench-kol`): score updates per second
//! for `--posts` posts over `--authors` authors, and the memory each
//! tracked author takes. The reference run in the same invocation is
//! `key_counter`, the smallest stateful stage, on the same batches: the
//! difference is what scoring costs over keyed-state bookkeeping.
//!
//! Posts come from the synthetic generator with the enrichments the kol
//! stage reads (brand safety, VADER compound, a 384-float embedding), one
//! batch at a time (1M embeddings at once would take ~13 GB) and outside
//! the clock; each batch goes through `process_keyed`, the emitted scores
//! are taken and the state changes collected, as the runner does.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use socialpipe::tools::generate::PostGenerator;
use socialpipe_benches::pin;
use socialpipe_processors::key_counter::KeyCounterStage;
use socialpipe_processors::kol::{Brief, KolConfig, KolStage};
use socialpipe_schemas::{Envelope, KeyedState, Processor, parse_raw_post};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 500;
const DIMENSIONS: usize = 384;

/// The same posts for every run: batches made on demand.
fn batches(posts: usize, authors: usize) -> impl Iterator<Item = Vec<Envelope>> {
    let mut generator = PostGenerator::new(7, authors);
    let mut rng = fastrand::Rng::with_seed(7);
    (0..posts).step_by(BATCH).map(move |start| {
        (start..posts.min(start + BATCH))
            .map(|_| {
                let raw = generator.next_post().to_string();
                let mut e = parse_raw_post(raw.as_bytes()).expect("generated posts are valid").into_envelope("bench");
                let embedding: Vec<f32> = (0..DIMENSIONS).map(|_| rng.f32() - 0.5).collect();
                e.enrichments.insert("brand_safety".into(), json!({"safe": rng.u8(..20) != 0}));
                e.enrichments.insert("sentiment".into(), json!({"vader": {"compound": rng.f64() * 2.0 - 1.0}}));
                e.enrichments.insert("embedding".into(), json!(embedding));
                e
            })
            .collect()
    })
}

/// Runs every batch through the stage; returns the time spent in it, the
/// scores emitted and the state left.
fn run(stage: &mut dyn Processor, batches: impl Iterator<Item = Vec<Envelope>>) -> (Duration, usize, KeyedState) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut state = KeyedState::default();
    let (mut spent, mut emitted) = (Duration::ZERO, 0);
    for batch in batches {
        let started = Instant::now();
        let out = runtime.block_on(stage.process_keyed(batch, &mut state));
        emitted += stage.take_emitted().len();
        let changes = state.take_changes();
        spent += started.elapsed();
        assert!(out.iter().all(Result::is_ok) && !changes.is_empty());
    }
    let started = Instant::now();
    stage.finish(&mut state);
    emitted += stage.take_emitted().len();
    spent += started.elapsed();
    (spent, emitted, state)
}

/// Resident memory of this process, bytes.
fn rss() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}

fn main() -> Result<()> {
    let (mut posts, mut authors) = (1_000_000, 50_000);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--posts" => posts = args.next().context("--posts N")?.parse()?,
            "--authors" => authors = args.next().context("--authors N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    pin(&[0]);
    let config = KolConfig {
        briefs: [("coffee", "coffee and espresso", "coffee"), ("tech", "phones and laptops", "laptop")]
            .into_iter()
            .map(|(name, text, keyword)| {
                (name.to_owned(), Brief { text: Some(text.to_owned()), keywords: vec![keyword.to_owned()] })
            })
            .collect(),
        ..Default::default()
    };
    let briefs: Vec<Vec<f32>> =
        (0..2).map(|i| (0..DIMENSIONS).map(|d| ((d * 7 + i) % 5) as f32 - 2.0).collect()).collect();
    println!("{posts} posts over {authors} authors, batches of {BATCH}, one core");

    let (reference, _, counts) = run(&mut KeyCounterStage, batches(posts, authors));
    drop(counts);
    println!(
        "key_counter (reference)  {:>8.2} s  {:>9.0} updates/s",
        reference.as_secs_f64(),
        posts as f64 / reference.as_secs_f64()
    );

    let before = rss()?;
    let mut stage = KolStage::with_brief_vectors(&config, &briefs)?;
    let (spent, emitted, state) = run(&mut stage, batches(posts, authors));
    // The batches are gone: what stayed resident since is the state (and
    // what the allocator keeps of freed batches).
    let held = rss()?.saturating_sub(before);
    println!(
        "kol                      {:>8.2} s  {:>9.0} updates/s  ({:.1}x the reference's time), {emitted} scores emitted",
        spent.as_secs_f64(),
        posts as f64 / spent.as_secs_f64(),
        spent.as_secs_f64() / reference.as_secs_f64()
    );
    let tracked = state.len().max(1);
    println!(
        "memory per tracked author: {:.0} bytes of state text, {:.0} bytes resident ({tracked} authors, {:.1} posts each)",
        state.text_bytes() as f64 / tracked as f64,
        held as f64 / tracked as f64,
        posts as f64 / tracked as f64
    );
    Ok(())
}
