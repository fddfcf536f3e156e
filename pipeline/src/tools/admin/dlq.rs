//! `socialpipe dlq list|show|replay`. Replay re-injects dead letters into the
//! topic they came from (raw posts are validated again); what fails again
//! goes back to the DLQ with one more attempt. Replay progress is a
//! checkpoint, so each dead letter is replayed once.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::Utc;
use socialpipe_schemas::{DeadLetter, Envelope, OriginalKind, parse_raw_post};

use super::open_transport;
use super::{AdminError, require_topic};
use crate::config::Config;
use crate::runtime::runner::dead_letters::to_outgoing;
use crate::runtime::transport::{Message, Outgoing, Transport, new_trace_id};

const READ_BATCH: usize = 1000;

fn replay_checkpoint(stage: &str) -> String {
    format!("dlq-replay.{stage}")
}

async fn replayed_upto(log: &dyn Transport, stage: &str) -> Result<BTreeMap<u32, u64>, AdminError> {
    Ok(log
        .read_checkpoint(&replay_checkpoint(stage))
        .await?
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default())
}

/// DLQ topics with how many dead letters they hold and how many await replay.
pub async fn dlq_list(config: &Config, out: &mut impl Write) -> Result<(), AdminError> {
    let log = open_transport(config)?;
    writeln!(out, "{:<32} {:>10} {:>10}", "DLQ", "STORED", "PENDING")?;
    let prefix = &config.topics.dlq_prefix;
    for topic in log.topics().await?.into_iter().filter(|t| t.name.starts_with(prefix.as_str())) {
        let stage = &topic.name[prefix.len()..];
        let done = replayed_upto(&*log, stage).await?;
        let pending: u64 = topic
            .partitions
            .iter()
            .map(|p| p.end_offset - done.get(&p.partition).copied().unwrap_or(0).clamp(p.start_offset, p.end_offset))
            .sum();
        writeln!(out, "{:<32} {:>10} {:>10}", topic.name, topic.len(), pending)?;
    }
    Ok(())
}

/// Dead letters of one component as JSON lines (the dead-letter payloads),
/// or with `raw` only the original bytes, one per line, to fix and `produce` again.
pub async fn dlq_show(
    config: &Config,
    stage: &str,
    limit: u64,
    raw: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let log = open_transport(config)?;
    let topic = config.routes().dlq_topic(stage);
    let info = require_topic(&*log, &topic).await?;
    let mut shown = 0;
    for p in &info.partitions {
        let mut offset = p.start_offset;
        while shown < limit {
            let messages = log.read(&topic, p.partition, offset, READ_BATCH.min((limit - shown) as usize)).await?;
            if messages.is_empty() {
                break;
            }
            for m in messages {
                offset = m.offset + 1;
                let envelope = Envelope::from_bytes(&m.value)
                    .map_err(|e| AdminError::Usage(format!("{topic} offset {}: {e}", m.offset)))?;
                match DeadLetter::from_envelope(&envelope) {
                    Ok(letter) if raw => out.write_all(&letter.original.bytes())?,
                    _ => out.write_all(envelope.payload.get().as_bytes())?,
                }
                writeln!(out)?;
                shown += 1;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: u64,
    pub failed_again: u64,
    /// Messages of the DLQ that are not dead letters, each with where it is
    /// and why: left in place (replay cannot know what they stood for).
    pub unreadable: Vec<String>,
}

pub async fn dlq_replay(config: &Config, stage: &str) -> Result<Replayed, AdminError> {
    let log = open_transport(config)?;
    let topic = config.routes().dlq_topic(stage);
    let info = require_topic(&*log, &topic).await?;
    let mut done = replayed_upto(&*log, stage).await?;
    let mut result = Replayed::default();
    // Stop at the ends seen now: letters that fail again are appended behind them.
    for p in &info.partitions {
        let mut offset = done.get(&p.partition).copied().unwrap_or(0).max(p.start_offset);
        while offset < p.end_offset {
            let want = READ_BATCH.min((p.end_offset - offset) as usize);
            let messages = log.read(&topic, p.partition, offset, want).await?;
            if messages.is_empty() {
                break;
            }
            let mut replays: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
            let mut again = Vec::new();
            for m in &messages {
                let letter = Envelope::from_bytes(&m.value)
                    .map_err(|e| e.to_string())
                    .and_then(|e| DeadLetter::from_envelope(&e).map_err(|e| e.to_string()));
                let letter = match letter {
                    Ok(letter) => letter,
                    Err(e) => {
                        result
                            .unreadable
                            .push(format!("{topic}[{}] offset {}: not a dead letter: {e}", m.partition, m.offset));
                        continue;
                    }
                };
                match revive(&letter) {
                    Ok(record) => replays
                        .entry(letter.input_topic.clone())
                        .or_default()
                        .push(Outgoing::record(&record, Some(&trace_id(m)))),
                    Err(reason) => {
                        let key = letter.record_id.clone();
                        again.push(to_outgoing(
                            DeadLetter { reason, attempts: letter.attempts + 1, last_failure: Utc::now(), ..letter },
                            key,
                            Some(&trace_id(m)),
                        ));
                    }
                }
            }
            for (input, records) in replays {
                result.replayed += records.len() as u64;
                log.send(&input, records).await?;
            }
            result.failed_again += again.len() as u64;
            log.send(&topic, again).await?;
            offset = messages.last().map_or(offset, |m| m.offset + 1);
            done.insert(p.partition, offset);
            log.write_checkpoint(&replay_checkpoint(stage), &serde_json::to_string(&done).expect("json")).await?;
        }
    }
    Ok(result)
}

/// The record a dead letter stood for, or why it still cannot be replayed.
fn revive(letter: &DeadLetter) -> Result<Envelope, String> {
    if letter.original.truncated {
        return Err(format!(
            "cannot replay: only the first {} of {} bytes were kept",
            letter.original.data.len(),
            letter.original.length
        ));
    }
    let bytes = letter.original.bytes();
    match letter.original_kind {
        OriginalKind::RawPost => {
            parse_raw_post(&bytes).map(|post| post.into_envelope(&letter.stage)).map_err(|e| e.to_string())
        }
        OriginalKind::Envelope => Envelope::from_bytes(&bytes).map_err(|e| e.to_string()),
    }
}

/// A replayed record keeps the trace of the letter it came from, when it had one.
fn trace_id(m: &Message) -> String {
    m.headers.trace_id.clone().unwrap_or_else(new_trace_id)
}
