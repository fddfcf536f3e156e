//! Keyed-state restore on the embedded log (`make bench-restore`): how long
//! reading back a changelog takes after `--updates` score updates over
//! `--authors` authors, as a worker does when it first sees a partition.
//! The reference run in the same invocation writes the same messages to a
//! topic that is not compacted (the changelog before compaction: restore
//! read its whole history); the changelog (`*.changelog`) is compacted as
//! the runner does at start and hourly, keeping each key's last entry and
//! the last marker.
//!
//! Entries have the changelog's shape (`{"stage","key","value"}`, then a
//! `{"done"}` marker per batch) with a KOL-sized value (~300 bytes).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use socialpipe::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};
use socialpipe::runtime::transport::{Outgoing, Transport};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1_000;
const READ: usize = 10_000;

async fn write(log: &EmbeddedLog, topic: &str, updates: usize, authors: usize) -> Result<Duration> {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(11);
    for start in (0..updates).step_by(BATCH) {
        let end = updates.min(start + BATCH);
        let mut batch: Vec<Outgoing> = (start..end)
            .map(|i| {
                let author = format!("x:{}", rng.usize(..authors));
                let value = format!(
                    r#"{{"stage":"kol","key":"{author}","value":{{"posts":{i},"engagement":{:.4},"followers":{},"window":[{}]}}}}"#,
                    rng.f64(),
                    rng.u32(..1_000_000),
                    (0..20).map(|_| rng.u16(..1000).to_string()).collect::<Vec<_>>().join(",")
                );
                Outgoing { partition: Some(0), ..Outgoing::new(format!("kol/{author}"), value.into_bytes()) }
            })
            .collect();
        let marker = format!(r#"{{"done":{end}}}"#).into_bytes();
        batch.push(Outgoing { partition: Some(0), ..Outgoing::new("done", marker) });
        log.send(topic, batch).await?;
    }
    Ok(started.elapsed())
}

/// Reads the whole partition as a restore does; returns the time and the message count.
async fn restore(log: &EmbeddedLog, topic: &str) -> Result<(Duration, usize)> {
    let started = Instant::now();
    let (mut offset, mut read) = (0, 0);
    loop {
        let messages = log.read(topic, 0, offset, READ).await?;
        let Some(last) = messages.last() else { break };
        offset = last.offset + 1;
        for m in &messages {
            let _: serde_json::Value = serde_json::from_slice(&m.value)?;
        }
        read += messages.len();
    }
    Ok((started.elapsed(), read))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let (mut updates, mut authors) = (1_000_000, 50_000);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--updates" => updates = args.next().context("--updates N")?.parse()?,
            "--authors" => authors = args.next().context("--authors N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    println!("{updates} score updates over {authors} authors, batches of {BATCH} with a marker each");
    for (label, topic) in [("history (reference)", "bench.history"), ("compacted changelog", "bench.stages.changelog")]
    {
        let dir = tempfile::tempdir()?;
        let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path()))?;
        log.create_topic(topic, 1).await?;
        let wrote = write(&log, topic, updates, authors).await?;
        let started = Instant::now();
        let deleted = log.compact().await?;
        let compacted = started.elapsed();
        let (took, read) = restore(&log, topic).await?;
        println!(
            "{label:<22} write {:>6.2} s   compact {:>6.2} s ({deleted:>7} deleted)   restore {:>7.3} s   {read:>8} messages read",
            wrote.as_secs_f64(),
            compacted.as_secs_f64(),
            took.as_secs_f64()
        );
    }
    Ok(())
}
