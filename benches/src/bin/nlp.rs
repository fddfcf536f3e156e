//! The text stages against their Python references, in one run on the same
//! sentences (`make bench-nlp`):
//! - VADER: this port vs vaderSentiment 3.3.2, one core each;
//! - emotion: this port (one thread, then every core) vs nade 0.3.1's batch call;
//! - every text stage but emotion on one core (posts/s), then with emotion.
//!
//! The sentences are the committed VADER reference corpus, repeated up to
//! `--sentences`. Python runs through scripts/reference/venv.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use socialpipe_benches::pin;
use socialpipe_processors::TextEnricher;
use socialpipe_processors::brand_safety::{BrandSafetyConfig, BrandSafetyStage};
use socialpipe_processors::emotion::{EmotionConfig, EmotionStage, Nade};
use socialpipe_processors::entities::{EntitiesConfig, EntitiesStage};
use socialpipe_processors::intent::{IntentConfig, IntentStage};
use socialpipe_processors::language::{LanguageConfig, LanguageStage};
use socialpipe_processors::sentiment::{SentimentConfig, SentimentStage, Vader};
use socialpipe_processors::topics::{TopicsConfig, TopicsStage};

// As in the socialpipe binary: the stages allocate small strings per word.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sentences(count: usize) -> Result<Vec<String>> {
    let corpus = std::fs::read_to_string(root().join("processors/src/sentiment/testdata/vader-3.3.2.jsonl"))?;
    let texts: Vec<String> = corpus
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).map(|v| v["text"].as_str().unwrap_or_default().to_owned()))
        .collect::<Result<_, _>>()?;
    Ok(texts.iter().cycle().take(count).cloned().collect())
}

/// The best of `runs` timings of `f`.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

const PYTHON: &str = r#"
import json, sys, time
which, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = [json.loads(l) for l in open(path, encoding="utf-8")]
if which == "vader":
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    a = SentimentIntensityAnalyzer()
    run = lambda: [a.polarity_scores(t) for t in texts]
else:
    import warnings; warnings.simplefilter("ignore")
    from nade import Nade
    n = Nade()
    run = lambda: n.predict(texts)
run()
best = min((lambda s: (run(), time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(runs))
print(best)
"#;

/// Seconds of the Python reference's best run.
fn python(which: &str, texts_file: &Path, runs: usize, cores: Option<&str>) -> Result<f64> {
    let venv = Command::new(root().join("scripts/reference/venv.sh")).output().context("scripts/reference/venv.sh")?;
    if !venv.status.success() {
        bail!("scripts/reference/venv.sh failed: {}", String::from_utf8_lossy(&venv.stderr));
    }
    let python = String::from_utf8(venv.stdout)?.trim().to_owned();
    let mut command = match cores {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus, &python]);
            c
        }
        None => Command::new(&python),
    };
    let out = command.args(["-c", PYTHON, which]).arg(texts_file).arg(runs.to_string()).output()?;
    if !out.status.success() {
        bail!("python {which}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn main() -> Result<()> {
    let mut count = 10_000;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sentences" => count = args.next().context("--sentences N")?.parse()?,
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let texts = sentences(count)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir()?;
    let texts_file = dir.path().join("texts.jsonl");
    std::fs::write(&texts_file, texts.iter().map(|t| json!(t).to_string() + "\n").collect::<String>())?;
    let models = root().join("models/nade");
    let per_s = |d: Duration| count as f64 / d.as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{count} sentences, best of {runs} runs, {cores} cores");

    // VADER, one core each.
    pin(&[0]);
    let vader = Vader::shared();
    let rust_vader = best_of(runs, || refs.iter().map(|t| vader.polarity_scores(t).compound).sum::<f64>());
    let py_vader = python("vader", &texts_file, runs, Some("0"))?;
    println!(
        "vader    rust {:>9.0}/s  python {:>8.0}/s  ratio {:>6.1}x (one core each)",
        per_s(rust_vader),
        count as f64 / py_vader,
        py_vader / rust_vader.as_secs_f64()
    );

    // Emotion: one thread, then every core, against nade's batch call (all cores).
    let nade = Nade::load(&models).context("the nade model (run scripts/fetch-models.sh)")?;
    let rust_emotion_1 = best_of(runs, || nade.predict(&refs));
    pin(&(0..cores).collect::<Vec<_>>());
    let stage = EmotionStage::new(&EmotionConfig { models_dir: models.clone(), ..EmotionConfig::default() })?;
    let empty = Map::new();
    let empties = vec![&empty; refs.len()];
    let rust_emotion_n = best_of(runs, || stage.0.enrich_all(&refs, &empties));
    let py_emotion = python("nade", &texts_file, runs, None)?;
    println!(
        "emotion  rust {:>9.0}/s (1 thread) {:>8.0}/s ({cores} threads)  python {:>8.0}/s  ratio {:>5.1}x",
        per_s(rust_emotion_1),
        per_s(rust_emotion_n),
        count as f64 / py_emotion,
        py_emotion / rust_emotion_n.as_secs_f64()
    );

    // Every text stage but emotion, one core, as the pipeline chains them.
    pin(&[0]);
    let language = LanguageStage::new(&LanguageConfig::default());
    let entities = EntitiesStage::new(EntitiesConfig::default()).map_err(anyhow::Error::msg)?;
    let sentiment = SentimentStage::new(&SentimentConfig::default())?;
    let intent = IntentStage::new(&IntentConfig::default());
    let topics = TopicsStage::new(&TopicsConfig::default()).map_err(anyhow::Error::msg)?;
    let safety = BrandSafetyStage::new(&BrandSafetyConfig::default()).map_err(anyhow::Error::msg)?;
    let chain = |with_emotion: bool| {
        let mut done = 0;
        for t in &refs {
            // As the stages write them: each value stored in the record's enrichments.
            let mut e = Map::new();
            language.0.enrich_into(t, &mut e);
            entities.0.enrich_into(t, &mut e);
            sentiment.0.enrich_into(t, &mut e);
            intent.0.enrich_into(t, &mut e);
            topics.0.enrich_into(t, &mut e);
            safety.0.enrich_into(t, &mut e);
            if with_emotion {
                stage.0.enrich_into(t, &mut e);
            }
            done += e.len();
        }
        done
    };
    // Each stage alone (sentiment given the language, as in the chain).
    let detected: Vec<Map<String, Value>> = refs
        .iter()
        .map(|t| {
            let mut e = Map::new();
            language.0.enrich_into(t, &mut e);
            e
        })
        .collect();
    // Each value as the stage stores it (JSON).
    let alone = |enricher: &dyn Fn(&str, &Map<String, Value>) -> Value| {
        best_of(runs, || refs.iter().zip(&detected).map(|(t, e)| enricher(t, e)).collect::<Vec<_>>())
    };
    macro_rules! stored {
        ($stage:expr) => {
            alone(&|t, e| serde_json::to_value($stage.0.enrich(t, e)).expect("enrichments serialise"))
        };
    }
    let each: [(&str, Duration); 6] = [
        ("language", stored!(language)),
        ("entities", stored!(entities)),
        ("sentiment", stored!(sentiment)),
        ("intent", stored!(intent)),
        ("topics", stored!(topics)),
        ("brand_safety", stored!(safety)),
    ];
    for (name, d) in each {
        println!("  {name:<13} {:>9.0} posts/s  {:>6.2} µs/post", per_s(d), d.as_secs_f64() * 1e6 / count as f64);
    }
    let text_stages = best_of(runs, || chain(false));
    let with_emotion = best_of(runs, || chain(true));
    println!(
        "stages   {:>9.0} posts/s without emotion, {:>8.0} posts/s with it (one core)",
        per_s(text_stages),
        per_s(with_emotion)
    );
    Ok(())
}
