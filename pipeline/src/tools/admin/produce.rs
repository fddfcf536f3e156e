//! `socialpipe produce TOPIC < posts.jsonl`: validates raw posts like the
//! jsonl source, writes them in batches; invalid lines go to `dlq.produce`.

use std::io::{BufRead, IsTerminal};

use socialpipe_schemas::{Envelope, Rejected, parse_raw_post, sha256_hex};

use super::open_transport;
use super::{AdminError, require_topic};
use crate::config::Config;
use crate::routing::PRODUCE;
use crate::runtime::runner::dead_letters::{Limits, fitting_or_dead, rejected_dead_letter};
use crate::runtime::transport::{Outgoing, Transport, new_trace_id};

const BATCH: usize = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Produced {
    pub written: u64,
    pub rejected: u64,
}

/// Records and rejects waiting to be written, and what was written so far.
struct Pending<'a> {
    log: &'a dyn Transport,
    topic: &'a str,
    dlq: String,
    max_dlq_payload_bytes: usize,
    records: Vec<Envelope>,
    letters: Vec<Rejected>,
    counts: Produced,
}

impl Pending<'_> {
    fn len(&self) -> usize {
        self.records.len() + self.letters.len()
    }

    async fn flush(&mut self) -> Result<(), AdminError> {
        let limits = Limits { original: self.max_dlq_payload_bytes, message: self.log.max_message_bytes() };
        let topic = self.topic;
        let messages: Vec<Outgoing> = self.records.iter().map(|r| Outgoing::record(r, Some(&new_trace_id()))).collect();
        let (messages, mut dead) = fitting_or_dead(PRODUCE, topic, &self.records, messages, limits);
        self.records.clear();
        self.counts.written += messages.len() as u64;
        self.log.send(topic, messages).await?;
        dead.extend(self.letters.drain(..).map(|r| rejected_dead_letter(PRODUCE, r, topic, limits)));
        self.counts.rejected += dead.len() as u64;
        self.log.send(&self.dlq, dead).await?;
        Ok(())
    }
}

pub async fn produce(
    config: &Config,
    topic: &str,
    input: impl BufRead,
    max_line_bytes: usize,
) -> Result<Produced, AdminError> {
    let log = open_transport(config)?;
    // The topology's own topics are created as `run` would; others must exist.
    if config.routes().produced_topics().iter().any(|t| t == topic) {
        crate::runtime::runner::create_topics(config, &*log).await?;
    } else {
        require_topic(&*log, topic).await?;
    }
    let dlq = config.routes().dlq_topic(PRODUCE);
    log.create_topic(&dlq, config.topics.partitions).await?;
    let progress = std::io::stderr().is_terminal();
    let mut pending = Pending {
        log: &*log,
        topic,
        dlq,
        max_dlq_payload_bytes: config.runtime.max_dlq_payload_bytes,
        records: Vec::new(),
        letters: Vec::new(),
        counts: Produced::default(),
    };
    for (number, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let location = Some(format!("stdin:{}", number + 1));
        let reject = |reason: String| Rejected {
            prefix: line[..line.len().min(max_line_bytes)].to_vec(),
            length: line.len() as u64,
            sha256: sha256_hex(&line),
            reason,
            location: location.clone(),
        };
        if line.len() > max_line_bytes {
            pending.letters.push(reject(format!("line: {} bytes > max_line_bytes {max_line_bytes}", line.len())));
        } else {
            match parse_raw_post(&line) {
                Ok(post) => pending.records.push(post.into_envelope(PRODUCE)),
                Err(e) => pending.letters.push(reject(e.to_string())),
            }
        }
        if pending.len() >= BATCH {
            pending.flush().await?;
            if progress {
                eprint!("\r{} written, {} rejected", pending.counts.written, pending.counts.rejected);
            }
        }
    }
    pending.flush().await?;
    if progress {
        eprintln!("\r{} written, {} rejected", pending.counts.written, pending.counts.rejected);
    }
    Ok(pending.counts)
}
