//! `socialpipe analyze`: the configured stages run in-process on standard
//! input, without transport or sinks. One JSON line out per line in, in
//! input order: the enriched envelope, or `{"error": …, "line": n}` for a
//! line that is not a valid post or that a stage refused.

use std::io::{BufRead, Write};

use chrono::Utc;
use serde_json::json;
use socialpipe_schemas::{Envelope, KeyedState, RecordKind, parse_raw_post};

use crate::config::Config;
use crate::runtime::chain::{self, Stage};

/// Lines enriched together: enough for the emotion stage to use every core,
/// few enough that output keeps up with a slow producer.
const BATCH_LINES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("stage {stage}: {reason}")]
    Stage { stage: String, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct AnalyzeCounts {
    pub enriched: u64,
    pub errors: u64,
}

/// Reads posts (JSON lines, or plain text with `text_lines`) and writes
/// one line per input line.
pub async fn analyze(
    config: &Config,
    input: impl BufRead,
    text_lines: bool,
    out: &mut impl Write,
) -> Result<AnalyzeCounts, AnalyzeError> {
    let stages = chain::build(&config.stages).map_err(|(stage, e)| AnalyzeError::Stage { stage, reason: e.reason })?;
    // Each stage with a state of its own (only those that keep one use it), for as long as the command runs.
    let mut stages: Vec<(Stage, KeyedState)> = stages.into_iter().map(|s| (s, KeyedState::default())).collect();
    let mut counts = AnalyzeCounts::default();
    let mut batch = Vec::with_capacity(BATCH_LINES);
    for (i, line) in input.lines().enumerate() {
        batch.push((i as u64 + 1, line?));
        if batch.len() == BATCH_LINES {
            run_batch(&mut stages, std::mem::take(&mut batch), text_lines, out, &mut counts).await?;
        }
    }
    run_batch(&mut stages, batch, text_lines, out, &mut counts).await?;
    out.flush()?;
    Ok(counts)
}

fn envelope(number: u64, line: &str, text_lines: bool) -> Result<Envelope, String> {
    if text_lines {
        let payload = Envelope::encode_payload(&json!({ "text": line }));
        let id = number.to_string();
        return Ok(Envelope::new(RecordKind::Post, id.clone(), id, "analyze", Utc::now(), payload));
    }
    parse_raw_post(line.as_bytes()).map(|post| post.into_envelope("analyze")).map_err(|e| e.to_string())
}

async fn run_batch(
    stages: &mut [(Stage, KeyedState)],
    lines: Vec<(u64, String)>,
    text_lines: bool,
    out: &mut impl Write,
    counts: &mut AnalyzeCounts,
) -> Result<(), AnalyzeError> {
    // Each slot ends as the record or the reason it failed.
    let mut slots: Vec<(u64, Result<Envelope, String>)> =
        lines.iter().map(|(n, line)| (*n, envelope(*n, line, text_lines))).collect();
    // A plain text has no author: stages that keep state per author (kol,
    // key_counter) have nothing to key it by, and are skipped.
    for (stage, state) in stages.iter_mut().filter(|(s, _)| !(text_lines && s.keyed)) {
        let live: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].1.is_ok()).collect();
        let records: Vec<Envelope> = live
            .iter()
            .map(|&i| std::mem::replace(&mut slots[i].1, Err(String::new())).expect("only live slots"))
            .collect();
        let outcomes = stage.process(records, Some(state)).await;
        // Records a stage makes besides its outcomes (KOL scores) are not
        // one per input line: analyze leaves them out (and holds none).
        drop(stage.processor.take_emitted());
        for (&i, outcome) in live.iter().zip(outcomes) {
            slots[i].1 = outcome.map_err(|failed| format!("stage {}: {}", stage.name, failed.error));
        }
    }
    for (number, slot) in slots {
        match slot {
            Ok(record) => {
                serde_json::to_writer(&mut *out, &record).map_err(std::io::Error::from)?;
                counts.enriched += 1;
            }
            Err(error) => {
                serde_json::to_writer(&mut *out, &json!({ "error": error, "line": number }))
                    .map_err(std::io::Error::from)?;
                counts.errors += 1;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}
