//! Kafka pass-through: topic → `passthrough` stage → topic through the
//! socialpipe runner (`socialpipe run --only stages` as this binary's
//! `worker` mode: the bench stage is not in the release binary), next to a
//! bare rdkafka consume+produce loop on the same broker and input, in one
//! invocation. Each rate is counted from the first record through to the
//! last (group formation is left out of both). The worker's RSS is sampled
//! as it drains the backlog. Meant for a fast broker (the tansu memory
//! build, docs/performance.md).
//!
//! usage: kafka_passthrough [--brokers H:P] [--records N]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use socialpipe::config::Config;
use socialpipe::runtime::runner::{self, Roles, RunOptions};
use socialpipe::runtime::transport::kafka::{KafkaConfig, KafkaTransport};
use socialpipe::runtime::transport::{Outgoing, Transport};
use socialpipe_schemas::parse_raw_post;

const PARTITIONS: u32 = 6;
/// Records per send while filling the input topic.
const FILL_BATCH: usize = 10_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Records per second from the first record to the `total`-th.
struct Rate {
    first: Option<Instant>,
    first_count: u64,
}

impl Rate {
    fn per_second(&self, total: u64) -> f64 {
        let elapsed = self.first.map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
        (total - self.first_count) as f64 / elapsed
    }
}

async fn fill(brokers: &str, topic: &str, records: usize) -> Result<()> {
    let mut config = KafkaConfig::new(brokers);
    config.replication_factor = 1;
    let kafka = KafkaTransport::connect(&config)?;
    kafka.create_topic(topic, PARTITIONS).await?;
    let mut generator = socialpipe::tools::generate::PostGenerator::new(1, 5000);
    let mut batch = Vec::with_capacity(FILL_BATCH);
    for _ in 0..records {
        let line = serde_json::to_vec(&generator.next_post())?;
        let record = parse_raw_post(&line).map_err(|e| anyhow::anyhow!("{e}"))?.into_envelope("bench");
        batch.push(Outgoing::record(&record, None));
        if batch.len() == FILL_BATCH {
            kafka.send(topic, std::mem::replace(&mut batch, Vec::with_capacity(FILL_BATCH))).await?;
        }
    }
    kafka.send(topic, batch).await?;
    Ok(())
}

/// consume → produce with nothing in between; acknowledged when delivered.
async fn bare_loop(brokers: &str, input: &str, output: &str, records: u64) -> Result<f64> {
    let mut config = KafkaConfig::new(brokers);
    config.replication_factor = 1;
    KafkaTransport::connect(&config)?.create_topic(output, PARTITIONS).await?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{input}.bare"))
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Group timeouts as socialpipe's bench config has them (a quick first assignment).
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()?;
    consumer.subscribe(&[input])?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .create()?;
    let mut rate = Rate { first: None, first_count: 0 };
    let mut pending = Vec::new();
    let mut seen = 0u64;
    while seen < records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                rate.first.get_or_insert_with(Instant::now);
                seen += 1;
                let (key, value) = (m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec());
                let record = FutureRecord::to(output).partition(m.partition()).key(&key).payload(&value);
                pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
                if pending.len() >= 10_000 {
                    for delivery in pending.drain(..) {
                        delivery.await?.map_err(|(e, _)| e)?;
                    }
                }
            }
            Some(Err(e)) => eprintln!("bare loop: {e}"),
            None => {}
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    let per_second = rate.per_second(records);
    // Leaving the group waits on the coordinator; the measurement is done.
    std::thread::spawn(move || drop(consumer));
    Ok(per_second)
}

fn metric(port: u16, sample: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    body.lines().find_map(|l| l.strip_prefix(sample)?.trim().parse::<f64>().ok()).map(|v| v as u64)
}

/// The resident set of a process, in MiB (from /proc).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// The worker's RSS as the backlog drains: a sample at each tenth of the
/// input and the largest seen.
#[derive(Default)]
struct RssTrace {
    at_tenths: Vec<(u64, f64)>,
    peak: f64,
}

impl RssTrace {
    fn sample(&mut self, pid: u32, sent: u64, records: u64) {
        let Some(rss) = rss_mib(pid) else { return };
        self.peak = self.peak.max(rss);
        let tenth = sent * 10 / records.max(1);
        if tenth > self.at_tenths.last().map_or(0, |(t, _)| *t) {
            self.at_tenths.push((tenth, rss));
        }
    }

    fn report(&self) -> String {
        let tenths: Vec<String> = self.at_tenths.iter().map(|(t, rss)| format!("{}%:{rss:.0}", t * 10)).collect();
        format!("RSS MiB by share of the backlog drained {}; peak {:.0}", tenths.join(" "), self.peak)
    }
}

// As the socialpipe binary: records are many small allocations freed on other threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `worker --config F`: the runner, stages only, as `socialpipe run --only stages` runs it.
fn worker() -> Result<()> {
    let config = Config::load(std::path::Path::new(&arg("--config").context("worker needs --config")?))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let options = RunOptions { once: false, only: Roles { sources: false, stages: true, sinks: false } };
    runtime.block_on(runner::run(config, options, std::future::pending()))?;
    Ok(())
}

/// This binary's worker, with the `passthrough` stage.
fn socialpipe_run(brokers: &str, input: &str, records: u64) -> Result<(f64, RssTrace)> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[transport]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ngroup_id = \"{input}\"\nreplication_factor = 1\n\n\
             [topics]\npartitions = {PARTITIONS}\nraw_posts = \"{input}\"\nenriched_posts = \"{input}.out\"\n\
             dlq_prefix = \"{input}.dlq.\"\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [runtime]\nstage_batch_records = 5000\n\n[[stages]]\ntype = \"passthrough\"\n"
        ),
    )?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["worker", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("spawning the worker")?;
    let sample = r#"component_sent_events_total{component="passthrough",kind="stage"}"#;
    let mut rate = Rate { first: None, first_count: 0 };
    let mut rss = RssTrace::default();
    let started = Instant::now();
    // Far more than the slowest run seen (5k records/s), so only a stuck run hits it.
    let limit = Duration::from_secs(900.max(records / 5_000));
    loop {
        let sent = metric(port, sample).unwrap_or(0);
        if sent > 0 && rate.first.is_none() {
            rate = Rate { first: Some(Instant::now()), first_count: sent };
        }
        rss.sample(child.id(), sent, records);
        if sent >= records {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            bail!("socialpipe passed {sent} of {records} in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let per_second = rate.per_second(records);
    child.kill()?;
    child.wait()?;
    Ok((per_second, rss))
}

fn main() -> Result<()> {
    // SAFETY: no other thread exists yet.
    unsafe { socialpipe_processors::set_process_defaults() };
    if std::env::args().nth(1).as_deref() == Some("worker") {
        return worker();
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench())
}

async fn bench() -> Result<()> {
    let brokers = arg("--brokers").unwrap_or_else(|| "127.0.0.1:9093".into());
    let records: u64 = arg("--records").map_or(Ok(500_000), |r| r.parse())?;
    let run = format!("bench{}", std::process::id());
    let input = format!("{run}.in");
    let started = Instant::now();
    eprintln!("writing {records} envelopes to {input} on {brokers}");
    fill(&brokers, &input, records as usize).await?;
    eprintln!("[{:.0?}] written; bare loop", started.elapsed());
    let bare = bare_loop(&brokers, &input, &format!("{run}.bare"), records).await?;
    eprintln!("[{:.0?}] bare loop done; socialpipe", started.elapsed());
    let (ours, rss) = tokio::task::block_in_place(|| socialpipe_run(&brokers, &input, records))?;
    eprintln!("[{:.0?}] socialpipe done", started.elapsed());
    println!("bare rdkafka consume+produce: {bare:>10.0} records/s");
    println!("socialpipe passthrough stage: {ours:>10.0} records/s ({:.0} % of bare)", ours / bare * 100.0);
    println!("socialpipe worker, {records}-record backlog: {}", rss.report());
    Ok(())
}
