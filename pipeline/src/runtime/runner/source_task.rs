//! A source's loop: read a batch, append records and dead letters, then
//! checkpoint. A crash between append and checkpoint re-reads the batch
//! (duplicates the sinks absorb), never skips it.

use std::time::Instant;

use socialpipe_schemas::{Envelope, ErrorDomain, Source, SourceBatch, SourceMode};

use super::dead_letters::{fitting_or_dead, rejected_dead_letter};
use super::{Backoff, Context, Flag, Stop, log_op, panic_message};
use crate::runtime::telemetry::{ComponentState, Kind};
use crate::runtime::transport::{Outgoing, new_trace_id};

pub(crate) fn checkpoint_name(source: &str) -> String {
    format!("source.{source}")
}

/// Issues a source's record versions: `max(ingest time in ms, last issued + 1)`.
/// A ceiling a minute above the last issued is persisted before the records
/// it covers are written (so a checkpoint is not written per batch); after
/// a restart versions start above it. A wall clock that steps back (NTP, a
/// VM restored) can then never make a newer record of this source lose to
/// an older one, and reprocessing issues fresh versions. A source emitting
/// more than 1,000 records a second runs its versions ahead of the clock
/// (docs/record-schema.md says what that means).
struct Versions {
    last: i64,
    ceiling: i64,
}

/// How far above the last issued version the persisted ceiling is.
const VERSION_HEADROOM: i64 = 60_000;

impl Versions {
    fn checkpoint(source: &str) -> String {
        format!("versions.{source}")
    }

    async fn load(ctx: &Context, source: &str) -> Result<Versions, Stop> {
        let stored =
            log_op!(ctx, "reading the last version", ctx.transport.read_checkpoint(&Self::checkpoint(source)))?;
        let ceiling =
            stored.map(|v| v.parse()).transpose().map_err(|e| Stop::Failed(format!("unreadable last version: {e}")))?;
        let ceiling = ceiling.unwrap_or(0);
        Ok(Versions { last: ceiling, ceiling })
    }

    /// Stamps the records; returns the ceiling to persist before they are
    /// written, when they pass the last one.
    fn stamp(&mut self, records: &mut [Envelope]) -> Option<i64> {
        for record in records.iter_mut() {
            record.version = record.ingest_time.timestamp_millis().max(self.last + 1);
            self.last = record.version;
        }
        (self.last > self.ceiling).then(|| {
            self.ceiling = self.last + VERSION_HEADROOM;
            self.ceiling
        })
    }

    async fn save(ctx: &Context, source: &str, ceiling: i64) -> Result<(), Stop> {
        log_op!(
            ctx,
            "writing the version ceiling",
            ctx.transport.write_checkpoint(&Self::checkpoint(source), &ceiling.to_string())
        )
    }
}

pub(crate) async fn run(
    ctx: &Context,
    name: &str,
    topic: &str,
    batch_records: usize,
    mut source: Box<dyn Source>,
    once: bool,
    stop: Flag,
) -> Result<(), Stop> {
    let labels = [name, Kind::Source.as_str()];
    let checkpoint = log_op!(ctx, "reading the checkpoint", ctx.transport.read_checkpoint(&checkpoint_name(name)))?;
    let checkpoint = checkpoint
        .map(|c| serde_json::from_str(&c))
        .transpose()
        .map_err(|e| Stop::Failed(format!("unreadable checkpoint: {e}")))?;
    let mode = if once { SourceMode::Once } else { SourceMode::Continuous };
    let mut backoff = Backoff::new(&ctx.config.runtime.retry);
    loop {
        match source.open(checkpoint.clone(), mode).await {
            Ok(()) => break,
            Err(e) if e.domain == ErrorDomain::Transient => {
                if stop.is_set() || !ctx.back_off(name, Kind::Source, &e, &mut backoff).await {
                    return Ok(());
                }
            }
            Err(e) => return Err(Stop::Failed(e.reason)),
        }
    }
    ctx.health.set(name, ComponentState::Running);
    // Reading (and encoding) the next batch overlaps with writing this one;
    // the channel holds one batch, so memory stays bounded.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let versions = Versions::load(ctx, name).await?;
    let reader = tokio::spawn(read_ahead(ctx.clone(), name.to_owned(), source, versions, batch_records, stop, tx));
    let dlq = ctx.config.routes().dlq_topic(name);
    let result = async {
        while let Some(read) = rx.recv().await {
            let (batch, messages, ceiling): (SourceBatch, Vec<Outgoing>, Option<i64>) = read?;
            let started = Instant::now();
            if let Some(ceiling) = ceiling {
                Versions::save(ctx, name, ceiling).await?;
            }
            let received = (batch.records.len() + batch.rejected.len()) as u64;
            ctx.metrics.received.with_label_values(&labels).inc_by(received);
            let (messages, mut letters) =
                fitting_or_dead(name, topic, &batch.records, messages, ctx.dead_letter_limits());
            let records = messages.len() as u64;
            ctx.send(topic, messages).await?;
            letters.extend(
                batch.rejected.into_iter().map(|r| rejected_dead_letter(name, r, topic, ctx.dead_letter_limits())),
            );
            if !letters.is_empty() {
                let refused = letters.len() as u64;
                ctx.send(&dlq, letters).await?;
                ctx.metrics.errors.with_label_values(&[name, Kind::Source.as_str(), "invalid"]).inc_by(refused);
                ctx.metrics.dlq.with_label_values(&[name]).inc_by(refused);
            }
            if let Some(checkpoint) = batch.checkpoint {
                let text = serde_json::to_string(&checkpoint).expect("json");
                log_op!(ctx, "writing the checkpoint", ctx.transport.write_checkpoint(&checkpoint_name(name), &text))?;
            }
            for callback in batch.on_durable {
                (callback.0)();
            }
            ctx.metrics.sent.with_label_values(&labels).inc_by(records);
            if received > 0 {
                ctx.metrics.processing.with_label_values(&labels).observe(started.elapsed().as_secs_f64());
            }
            if batch.caught_up {
                tracing::info!(source = name, "caught up with the input present at start");
            }
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        reader.abort();
        return result;
    }
    // The reader closed the channel: after its last batch, or by a panic.
    match reader.await {
        Err(e) if e.is_panic() => Err(Stop::Failed(format!("panicked: {}", panic_message(e.into_panic())))),
        _ => result,
    }
}

/// A batch, its records as messages, and the version ceiling to persist first.
type ReadBatch = Result<(SourceBatch, Vec<Outgoing>, Option<i64>), Stop>;

/// Reads batches until the input is done (`--once`), `stop`, or a fatal error.
async fn read_ahead(
    ctx: Context,
    name: String,
    mut source: Box<dyn Source>,
    mut versions: Versions,
    batch_records: usize,
    stop: Flag,
    tx: tokio::sync::mpsc::Sender<ReadBatch>,
) {
    let mut backoff = Backoff::new(&ctx.config.runtime.retry);
    while !stop.is_set() {
        let read = match source.next_batch(batch_records).await {
            Ok(mut batch) => {
                backoff.reset();
                let ceiling = versions.stamp(&mut batch.records);
                let messages = batch.records.iter().map(|r| Outgoing::record(r, Some(&new_trace_id()))).collect();
                Ok((batch, messages, ceiling))
            }
            Err(e) if e.domain == ErrorDomain::Transient => {
                if ctx.back_off(&name, Kind::Source, &e, &mut backoff).await {
                    continue;
                }
                Err(Stop::Aborted)
            }
            Err(e) => Err(Stop::Failed(e.reason)),
        };
        let last = read.as_ref().map_or(true, |(batch, _, _)| batch.caught_up);
        if tx.send(read).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {

    use async_trait::async_trait;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::Value;
    use socialpipe_schemas::{ComponentError, Envelope, Source, SourceBatch, SourceMode, parse_raw_post};

    use super::run;
    use crate::config::Config;
    use crate::runtime::runner::{Context, Flag, Stop};
    use crate::runtime::transport::Transport;
    use crate::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};

    /// A source whose records carry the ingest times of a scripted wall
    /// clock (as `Envelope::new` stamps them), one batch per entry.
    struct SteppingClock {
        batches: Vec<Vec<DateTime<Utc>>>,
        next_id: usize,
    }

    #[async_trait]
    impl Source for SteppingClock {
        async fn open(&mut self, _: Option<Value>, _: SourceMode) -> Result<(), ComponentError> {
            Ok(())
        }

        async fn next_batch(&mut self, _: usize) -> Result<SourceBatch, ComponentError> {
            let times = self.batches.remove(0);
            let records = times
                .into_iter()
                .map(|ingest| {
                    self.next_id += 1;
                    let raw = format!(
                        r#"{{"platform":"x","id":"{}","author":{{"id":"1"}},"text":"t","created_at":"2026-11-20T10:00:00Z"}}"#,
                        self.next_id
                    );
                    let mut record: Envelope = parse_raw_post(raw.as_bytes()).unwrap().into_envelope("clock");
                    (record.ingest_time, record.version) = (ingest, ingest.timestamp_millis());
                    record
                })
                .collect();
            let caught_up = self.batches.is_empty();
            Ok(SourceBatch { records, caught_up, ..SourceBatch::default() })
        }
    }

    async fn run_source(ctx: &Context, batches: Vec<Vec<DateTime<Utc>>>) {
        let source = Box::new(SteppingClock { batches, next_id: 0 });
        let (_, stop) = Flag::new();
        assert!(run(ctx, "clock", "raw.posts", 100, source, true, stop).await.is_ok());
    }

    #[tokio::test]
    async fn versions_keep_rising_when_the_wall_clock_steps_back_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
        for topic in ["raw.posts", "dlq.clock"] {
            log.create_topic(topic, 1).await.unwrap();
        }
        let config = Config::parse("test.toml", "", |_| None).unwrap();
        let ctx = Context::for_test(config, log);
        let now: DateTime<Utc> = "2026-12-04T10:00:00Z".parse().unwrap();
        // Two records in one millisecond, then the clock steps back a minute.
        run_source(&ctx, vec![vec![now, now], vec![now - Duration::minutes(1)]]).await;
        // A restart, the clock now an hour behind.
        run_source(&ctx, vec![vec![now - Duration::hours(1)]]).await;
        let versions: Vec<i64> = ctx
            .transport
            .read("raw.posts", 0, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| Envelope::from_bytes(&m.value).unwrap().version)
            .collect();
        let start = now.timestamp_millis();
        // After the restart versions start above the persisted ceiling: a
        // minute above the first batch's last version (the second batch,
        // below it, persisted nothing).
        assert_eq!(
            versions,
            [start, start + 1, start + 2, start + 1 + super::VERSION_HEADROOM + 1],
            "each version above every one issued before"
        );
    }

    /// Panics on its first batch.
    struct Panicking;

    #[async_trait]
    impl Source for Panicking {
        async fn open(&mut self, _: Option<Value>, _: SourceMode) -> Result<(), ComponentError> {
            Ok(())
        }

        async fn next_batch(&mut self, _: usize) -> Result<SourceBatch, ComponentError> {
            panic!("the reader broke")
        }
    }

    #[tokio::test]
    async fn a_source_that_panics_while_reading_fails_rather_than_finishing() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
        log.create_topic("raw.posts", 1).await.unwrap();
        let ctx = Context::for_test(Config::parse("test.toml", "", |_| None).unwrap(), log);
        let (_, stop) = Flag::new();
        match run(&ctx, "broken", "raw.posts", 100, Box::new(Panicking), true, stop).await {
            Err(Stop::Failed(reason)) => assert_eq!(reason, "panicked: the reader broke"),
            Err(Stop::Aborted) => panic!("aborted"),
            Ok(()) => panic!("a panicking source finished"),
        }
    }
}
