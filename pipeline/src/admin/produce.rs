//! `socialpipe produce TOPIC < posts.jsonl`: validates raw posts like the
//! jsonl source, writes them in batches; invalid lines go to `dlq.produce`.

use std::io::{BufRead, IsTerminal};

use socialpipe_schemas::{Rejected, parse_raw_post, sha256_hex};

use super::{AdminError, require_topic};
use crate::config::Config;
use crate::runner::dead_letters::{dlq_topic, rejected_dead_letter};
use crate::runner::open_transport;
use crate::transport::{Outgoing, Transport};

/// The component name of records and dead letters `produce` writes.
pub const PRODUCE: &str = "produce";
const BATCH: usize = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Produced {
    pub written: u64,
    pub rejected: u64,
}

pub async fn produce(
    config: &Config,
    topic: &str,
    input: impl BufRead,
    max_line_bytes: usize,
) -> Result<Produced, AdminError> {
    let log = open_transport(config)?;
    require_topic(&*log, topic).await?;
    let dlq = dlq_topic(PRODUCE);
    log.create_topic(&dlq, config.topics.partitions).await?;
    let progress = std::io::stderr().is_terminal();
    let mut counts = Produced::default();
    let (mut records, mut letters) = (Vec::new(), Vec::new());
    for (number, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let location = Some(format!("stdin:{}", number + 1));
        let reject = |reason: String| {
            let sha256 = sha256_hex(&line);
            Rejected {
                prefix: line[..line.len().min(max_line_bytes)].to_vec(),
                length: line.len() as u64,
                sha256,
                reason,
                location: location.clone(),
            }
        };
        if line.len() > max_line_bytes {
            letters.push(reject(format!(
                "line: {} bytes > max_line_bytes {max_line_bytes}",
                line.len()
            )));
        } else {
            match parse_raw_post(&line) {
                Ok(post) => records.push(post.into_envelope(PRODUCE)),
                Err(e) => letters.push(reject(e.to_string())),
            }
        }
        if records.len() + letters.len() >= BATCH {
            flush(
                &*log,
                config,
                topic,
                &dlq,
                &mut records,
                &mut letters,
                &mut counts,
            )
            .await?;
            if progress {
                eprint!("\r{} written, {} rejected", counts.written, counts.rejected);
            }
        }
    }
    flush(
        &*log,
        config,
        topic,
        &dlq,
        &mut records,
        &mut letters,
        &mut counts,
    )
    .await?;
    if progress {
        eprintln!("\r{} written, {} rejected", counts.written, counts.rejected);
    }
    Ok(counts)
}

async fn flush(
    log: &dyn Transport,
    config: &Config,
    topic: &str,
    dlq: &str,
    records: &mut Vec<socialpipe_schemas::Envelope>,
    letters: &mut Vec<Rejected>,
    counts: &mut Produced,
) -> Result<(), AdminError> {
    let messages: Vec<Outgoing> = records
        .drain(..)
        .map(|r| Outgoing {
            key: r.key.clone(),
            value: r.to_bytes(),
        })
        .collect();
    counts.written += messages.len() as u64;
    log.send(topic, messages).await?;
    let dead: Vec<Outgoing> = letters
        .drain(..)
        .map(|r| rejected_dead_letter(PRODUCE, r, topic, config.runtime.max_dlq_payload_bytes))
        .collect();
    counts.rejected += dead.len() as u64;
    log.send(dlq, dead).await?;
    Ok(())
}
