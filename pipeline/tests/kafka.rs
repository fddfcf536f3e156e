//! The pipeline on a real Kafka-protocol broker: workers in one consumer
//! group share partitions, and kill -9 of a worker, of the whole group or of
//! the broker loses nothing. Each test starts its own tansu (its own port
//! and directory; SQLite storage unless it says otherwise): tests that kill
//! brokers disturb no one, and no test inherits another's groups. Volumes
//! stay small because tansu's SQLite fetch rescans a partition's whole tail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// Each test has its own topics, groups and DLQs on the shared broker.
const KAFKA_TOPOLOGY: &str = r#"
[transport]
type = "kafka"
brokers = "{brokers}"
group_id = "{id}"
replication_factor = 1
session_timeout_ms = 6000
heartbeat_interval_ms = 1000
max_poll_interval_ms = 10000
request_timeout_ms = 10000

[topics]
partitions = 6
raw_posts = "{id}.raw"
enriched_posts = "{id}.enriched"
dlq_prefix = "{id}.dlq."

[http]
listen = "127.0.0.1:${SOCIALPIPE_TEST_PORT:-0}"

[runtime]
poll_wait_ms = 50
shutdown_deadline_secs = 60

{sources}

[[stages]]
type = "entities"

[[stages]]
type = "key_counter"

[sinks.db]
type = "sqlite"
path = "{dir}/out.db"
batch_max_records = 2000
batch_timeout_ms = 100
"#;

struct Setup {
    scratch: Scratch,
    config: String,
    id: String,
}

/// One test at a time: on two cores, two brokers with two workers each make
/// group sessions time out for want of CPU, which is not what these test.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn setup(brokers: &str, sources: &str) -> Setup {
    let scratch = Scratch::new();
    let id = format!("it{:08x}", fastrand::u32(..));
    let text = KAFKA_TOPOLOGY.replace("{brokers}", brokers).replace("{id}", &id).replace("{sources}", sources);
    let config = scratch.config("kafka.toml", &text).to_str().unwrap().to_owned();
    Setup { scratch, config, id }
}

/// Writes generated posts with `socialpipe produce`; returns their ids.
fn produce(setup: &Setup, seed: u64, count: usize) -> BTreeSet<String> {
    let input = setup.scratch.path(&format!("posts-{seed}.jsonl"));
    let ids = write_posts(&input, seed, count, 0);
    let topic = format!("{}.raw", setup.id);
    let output = socialpipe()
        .args(["produce", "--config", &setup.config, &topic])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "produce: {}", String::from_utf8_lossy(&output.stderr));
    ids
}

/// A worker (`--only stages,sinks`) with its metrics on `port`.
fn worker(setup: &Setup, port: u16) -> Daemon {
    daemon(setup, port, &["--only", "stages,sinks"])
}

/// `socialpipe run` on the setup's config. Its log goes to
/// `$SOCIALPIPE_TEST_LOG_DIR/<id>-<port>.log` when that is set (for diagnosis).
fn daemon(setup: &Setup, port: u16, args: &[&str]) -> Daemon {
    let stderr = match std::env::var_os("SOCIALPIPE_TEST_LOG_DIR") {
        Some(dir) => {
            Stdio::from(std::fs::File::create(Path::new(&dir).join(format!("{}-{port}.log", setup.id))).unwrap())
        }
        None => Stdio::null(),
    };
    Daemon::from(
        socialpipe()
            .args(["run", "--config", &setup.config])
            .args(args)
            .env("SOCIALPIPE_TEST_PORT", port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

fn stage_received(port: u16) -> u64 {
    metric(port, r#"component_received_events_total{component="entities",kind="stage"}"#)
}

fn sink_received(port: u16) -> u64 {
    metric(port, r#"component_received_events_total{component="db",kind="sink"}"#)
}

/// The `consumer_lag` a worker has published per partition of `group`: for
/// every partition it was assigned and read from at some point (the value
/// of one it no longer owns is the last it saw).
fn lag_by_partition(port: u16, group: &str) -> BTreeMap<String, u64> {
    let Some((_, body)) = http_get(port, "/metrics") else { return BTreeMap::new() };
    let group = format!(r#"group="{group}""#);
    body.lines()
        .filter(|l| l.starts_with("consumer_lag{") && l.contains(&group))
        .filter_map(|l| {
            let partition = l.split(r#"partition=""#).nth(1)?.split('"').next()?.to_owned();
            Some((partition, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

fn partitions_with_lag(port: u16, group: &str) -> BTreeSet<String> {
    lag_by_partition(port, group).into_keys().collect()
}

/// Every key's `key_counter` counts must be exactly 1..=n: none skipped, none twice.
fn assert_counts_are_exact(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt =
        conn.prepare("SELECT author_id, json_extract(enrichments, '$.key_counter.count') FROM posts").unwrap();
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))).unwrap() {
        let (author, count) = row.unwrap();
        counts.entry(author).or_default().push(count);
    }
    assert!(!counts.is_empty());
    for (author, mut seen) in counts {
        seen.sort_unstable();
        let expected: Vec<u64> = (1..=seen.len() as u64).collect();
        assert_eq!(seen, expected, "counts of {author} are 1..n exactly once each");
    }
}

fn assert_sink_holds_exactly(db: &Path, ids: &BTreeSet<String>) {
    let stored = post_ids(db);
    let missing = ids.difference(&stored).count();
    let extra = stored.difference(ids).count();
    assert!(missing == 0 && extra == 0, "sink: {missing} ids missing, {extra} unexpected");
}

fn kill_when_between_10_and_90_percent(db: &Path, total: u64, workers: [&mut Daemon; 2]) {
    wait_until("10 % of the input in the sink", Duration::from_secs(300), None, || post_count(db) * 10 >= total);
    for worker in workers {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    let at_kill = post_count(db);
    eprintln!("killed at {at_kill} of {total} ({} %)", at_kill * 100 / total);
    assert!(at_kill * 10 <= total * 9, "the kill came after 90 % ({at_kill}/{total})");
}

/// Two workers in one group on a 6-partition topic, one killed with kill -9
/// mid-stream: the survivor takes its partitions and the sink ends exact.
fn the_survivor_of_a_kill_9_finishes_exactly(broker: Broker, posts: usize) {
    // See the two tests below for why each broker checks what it checks.
    let (exact_state, observed_takeover) = match broker.storage {
        Storage::Sqlite => (true, false),
        Storage::Memory => (false, true),
    };
    let setup = setup(&broker.address(), "");
    let db = setup.scratch.db();
    let mut ids = produce(&setup, 21, posts / 10);
    let sink_group = format!("{}.sink.db", setup.id);
    let (port_a, port_b) = (free_port(), free_port());
    // The victim joins first and owns every partition until the survivor
    // joins: partitions the survivor reads beyond its share were moved to it.
    let mut a = worker(&setup, port_a);
    wait_until("the first worker to receive records", Duration::from_secs(120), Some(&mut a), || {
        stage_received(port_a) > 0 && sink_received(port_a) > 0
    });
    let mut b = worker(&setup, port_b);
    // Most of the input arrives as the group takes the survivor in, so both
    // are busy when the victim dies.
    ids.extend(produce(&setup, 22, posts - posts / 10));
    wait_until("both workers to receive records and 10 % stored", Duration::from_secs(120), Some(&mut b), || {
        stage_received(port_b) > 0 && sink_received(port_b) > 0 && post_count(&db) * 10 >= posts as u64
    });
    if observed_takeover {
        // The survivor's lag gauges (published about once a second) name
        // the partitions it reads; it joined second and never lost one, so
        // the victim owns the rest.
        wait_until("the survivor's lag gauges", Duration::from_secs(60), Some(&mut b), || {
            !partitions_with_lag(port_b, &sink_group).is_empty()
        });
        let share = partitions_with_lag(port_b, &sink_group);
        assert!(share.len() < 6, "the survivor reads only its share before the kill: {share:?}");
        // The memory build serves the victim faster than a test can watch
        // its partitions drain, so it is frozen (SIGSTOP) and records are
        // added to every partition (~100 each) before the kill: a stopped
        // process does nothing, so this is a kill -9 at the instant of the
        // stop, with unread records of its own that only a takeover can
        // deliver. (tansu-SQLite reads so slowly that its victim always has
        // some.)
        signal(&a, "STOP");
        ids.extend(produce(&setup, 23, 600));
    }
    let total = ids.len() as u64;
    a.kill().unwrap();
    a.wait().unwrap();
    let at_kill = post_count(&db);
    eprintln!("killed at {at_kill} of {total} ({} %)", at_kill * 100 / total);
    assert!(at_kill < total, "the victim died mid-stream ({at_kill}/{total})");
    wait_until("the survivor to store everything", Duration::from_secs(300), Some(&mut b), || post_count(&db) >= total);
    if observed_takeover {
        wait_until("the survivor to read every partition", Duration::from_secs(60), Some(&mut b), || {
            partitions_with_lag(port_b, &sink_group).len() == 6
        });
    }
    assert_sink_holds_exactly(&db, &ids);
    if exact_state {
        assert_counts_are_exact(&db);
    }
    // The group's lag reaches zero (the last commit follows the last write).
    wait_until("the stage group's lag to reach 0", Duration::from_secs(60), Some(&mut b), || {
        group_lag(&setup, &format!("{}.stages", setup.id)) == Some(0)
    });
}

/// On the tansu memory build: its group coordinator handles a member's
/// death reliably, and this test restarts no broker (its storage would not
/// survive that; broker crashes are tested on SQLite storage below). Its
/// end offsets lag behind acknowledged writes (SERVICES.md), which shortens
/// the survivor's read of the state changelog, so keyed-state counts are
/// checked on SQLite storage (here in the soak variant, and in every
/// restart test below), not on this broker.
#[test]
fn two_workers_share_the_partitions_and_the_survivor_of_a_kill_9_finishes_exactly() {
    let _serial = serial();
    the_survivor_of_a_kill_9_finishes_exactly(Broker::start_in_memory(), 100_000);
}

/// The same on SQLite storage, with exact keyed-state counts, behind `make
/// test-kafka-soak` (feature `broker-soak`): in about one run in four tansu
/// 0.6's SQLite group coordinator never completes the sink group's
/// rebalance after the kill, or panics (docs/decisions/003). The takeover is
/// not observed here: this broker hands a worker a partition's whole tail
/// per fetch, so whether the survivor fetches from every partition depends
/// on what the victim had committed.
#[cfg(feature = "broker-soak")]
#[test]
fn on_sqlite_storage_the_survivor_of_a_kill_9_finishes_exactly() {
    let _serial = serial();
    the_survivor_of_a_kill_9_finishes_exactly(Broker::start_fresh(), 3_000);
}

/// The `LAG` column of a group in `socialpipe topics` (summed over topics).
fn group_lag(setup: &Setup, group: &str) -> Option<u64> {
    let output = run_ok(&["topics", "--config", &setup.config]);
    let text = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<u64> = text
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(group))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    (!rows.is_empty()).then(|| rows.iter().sum())
}

#[test]
fn restarting_the_whole_group_mid_stream_loses_nothing() {
    let _serial = serial();
    let broker = Broker::start_fresh();
    let setup = setup(&broker.address(), "");
    let ids = produce(&setup, 22, 3_000);
    let total = ids.len() as u64;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = worker(&setup, port_a);
    let mut b = worker(&setup, port_b);
    kill_when_between_10_and_90_percent(&setup.scratch.db(), total, [&mut a, &mut b]);
    let mut a = worker(&setup, port_a);
    let _b = worker(&setup, port_b);
    wait_until("the restarted group to store everything", Duration::from_secs(300), Some(&mut a), || {
        post_count(&setup.scratch.db()) >= total
    });
    assert_sink_holds_exactly(&setup.scratch.db(), &ids);
    assert_counts_are_exact(&setup.scratch.db());
}

/// A broker of the test's own: its port, its storage (kept across a restart).
struct Broker {
    process: Child,
    port: u16,
    dir: tempfile::TempDir,
    storage: Storage,
}

#[derive(Clone, Copy)]
enum Storage {
    /// tansu with SQLite storage (`scripts/services.sh which kafka`).
    Sqlite,
    /// The tansu memory build (`scripts/services.sh which kafka-bench`).
    Memory,
}

impl Storage {
    fn binary(self) -> String {
        let (variable, server) = match self {
            Storage::Sqlite => ("SOCIALPIPE_TANSU", "kafka"),
            Storage::Memory => ("SOCIALPIPE_TANSU_MEMORY", "kafka-bench"),
        };
        if let Ok(path) = std::env::var(variable) {
            return path;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let output = Command::new(root.join("scripts/services.sh")).args(["which", server]).output().unwrap();
        assert!(output.status.success(), "no tansu: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn url(self) -> &'static str {
        match self {
            Storage::Sqlite => "sqlite://tansu.db",
            Storage::Memory => "memory://tansu/",
        }
    }
}

impl Broker {
    fn start_fresh() -> Broker {
        Broker::start(Storage::Sqlite)
    }

    fn start_in_memory() -> Broker {
        Broker::start(Storage::Memory)
    }

    fn start(storage: Storage) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let process = Broker::spawn(dir.path(), port, storage);
        Broker { process, port, dir, storage }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts tansu on `dir`'s storage and waits until it accepts connections.
    fn spawn(dir: &Path, port: u16, storage: Storage) -> Child {
        let url = format!("tcp://127.0.0.1:{port}");
        let log_dir = std::env::var_os("SOCIALPIPE_TEST_LOG_DIR").map_or_else(|| dir.to_owned(), Into::into);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join(format!("tansu-{port}.log")));
        let log = log.unwrap();
        let mut process = Command::new(storage.binary())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", storage.url()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_until("the broker to listen", Duration::from_secs(30), None, || {
            assert!(process.try_wait().unwrap().is_none(), "the broker exited");
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        process
    }

    fn kill_and_restart(&mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
        self.process = Broker::spawn(self.dir.path(), self.port, self.storage);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn a_broker_killed_and_restarted_mid_stream_loses_nothing() {
    let _serial = serial();
    let mut broker = Broker::start_fresh();
    let sources = "[sources.posts]\ntype = \"jsonl\"\npath = \"{dir}/posts.jsonl\"\n";
    let setup = setup(&broker.address(), sources);
    let ids = write_posts(&setup.scratch.path("posts.jsonl"), 23, 3_000, 0);
    let total = ids.len() as u64;
    // The whole topology in one process: its source produces, its stages
    // consume and produce, its sink consumes, all through the broker.
    let mut daemon = daemon(&setup, free_port(), &[]);
    wait_until("20 % of the input in the sink", Duration::from_secs(300), Some(&mut daemon), || {
        post_count(&setup.scratch.db()) * 5 >= total
    });
    broker.kill_and_restart();
    let at_kill = post_count(&setup.scratch.db());
    eprintln!("broker killed at {at_kill} of {total}");
    assert!(at_kill < total, "the broker was killed mid-stream");
    wait_until("everything in the sink after the broker restart", Duration::from_secs(300), Some(&mut daemon), || {
        post_count(&setup.scratch.db()) >= total
    });
    assert_sink_holds_exactly(&setup.scratch.db(), &ids);
    assert_counts_are_exact(&setup.scratch.db());
}

#[test]
fn a_poison_record_goes_to_the_dlq_and_its_partition_keeps_flowing() {
    let _serial = serial();
    use socialpipe::runtime::transport::kafka::{KafkaConfig, KafkaTransport};
    use socialpipe::runtime::transport::{Outgoing, Transport};

    let broker = Broker::start_fresh();
    let setup = setup(&broker.address(), "");
    let ids = produce(&setup, 24, 1_000);
    // Not an envelope; every partition, its own included, gets valid posts after it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut config = KafkaConfig::new(broker.address());
        config.group_id = setup.id.clone();
        config.replication_factor = 1;
        let kafka = KafkaTransport::connect(&config).unwrap();
        let poison = Outgoing::new("poison", b"{not an envelope".to_vec());
        kafka.send(&format!("{}.raw", setup.id), vec![poison]).await.unwrap();
    });
    let later = produce(&setup, 25, 1_000);
    let all: BTreeSet<String> = ids.union(&later).cloned().collect();
    let port = free_port();
    let mut w = worker(&setup, port);
    wait_until("every valid post in the sink", Duration::from_secs(120), Some(&mut w), || {
        post_count(&setup.scratch.db()) >= all.len() as u64
    });
    assert_sink_holds_exactly(&setup.scratch.db(), &all);
    wait_until("the dead letter", Duration::from_secs(60), Some(&mut w), || {
        metric(port, r#"dlq_events_total{component="entities"}"#) == 1
    });
    let shown = run_ok(&["dlq", "show", "--config", &setup.config, "entities"]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.contains(&format!("{}.raw", setup.id)), "the letter names its input topic: {shown}");
    assert!(shown.contains("invalid"), "the letter says why: {shown}");
}

/// The shared test broker (`scripts/services.sh start kafka`): for tests
/// that do not stop or restart it.
fn shared_broker() -> String {
    std::env::var("SOCIALPIPE_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// librdkafka refuses a message over `message.max.bytes` (1,000,000 by
/// default). A line over that, and a post that only its enrichments push
/// over it, become dead letters that fit; nothing stops.
#[test]
fn records_over_the_brokers_message_size_become_dead_letters() {
    let _serial = serial();
    let sources = "[sources.posts]\ntype = \"jsonl\"\npath = \"{dir}/posts.jsonl\"\n";
    let setup = setup(&shared_broker(), sources);
    let input = setup.scratch.path("posts.jsonl");
    let mut ids = write_posts(&input, 26, 200, 0);
    let post = |id: &str, text: &str, attachment: &str| {
        serde_json::json!({"platform": "twitter", "id": id, "author": {"id": "1"}, "text": text,
                           "created_at": "2026-11-20T10:00:00Z", "attachment": attachment})
        .to_string()
    };
    let long_line = post("long", "a long line", &"z".repeat(1_200_000));
    // ~990 KB fits (most of it a field the source keeps as it is); its
    // entities (5,000 distinct hashtags of its 40 KB text) add ~50 KB.
    let hashtags: String = (0..5_000).map(|i| format!("#t{i:05} ")).collect();
    let grows = post("grows", &hashtags, &"z".repeat(950_000));
    assert!((990_000..999_000).contains(&grows.len()), "{}", grows.len());
    let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
    writeln!(f, "{long_line}\n{grows}").unwrap();
    drop(f);
    ids.extend(write_posts(&input, 27, 200, 0));
    let port = free_port();
    let mut daemon = daemon(&setup, port, &[]);
    wait_until("every fitting post in the sink", Duration::from_secs(120), Some(&mut daemon), || {
        post_count(&setup.scratch.db()) >= ids.len() as u64
    });
    assert_sink_holds_exactly(&setup.scratch.db(), &ids);
    wait_until("both dead letters", Duration::from_secs(60), Some(&mut daemon), || {
        metric(port, r#"dlq_events_total{component="posts"}"#) == 1
            && metric(port, r#"dlq_events_total{component="key_counter"}"#) == 1
    });
    let (status, body) = http_get(port, "/health/ready").expect("status server");
    assert_eq!(status, 200, "every component still runs: {body}");
    let letters = |component: &str| -> Vec<serde_json::Value> {
        let shown = run_ok(&["dlq", "show", "--config", &setup.config, component]).stdout;
        shown.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    };
    let line = letters("posts");
    assert_eq!(line.len(), 1);
    assert_eq!(line[0]["reason"], format!("line: {} bytes > max_line_bytes 1048576", long_line.len()));
    assert_eq!(line[0]["original"]["truncated"], true);
    let enriched = letters("key_counter");
    assert_eq!(enriched.len(), 1);
    let reason = enriched[0]["reason"].as_str().unwrap();
    assert!(reason.contains("exceeds the transport's limit of 1000000 bytes"), "{reason}");
    assert_eq!(enriched[0]["record_id"], "twitter:grows");
    assert_eq!(enriched[0]["original"]["truncated"], false, "the input record fits whole: replay can re-run it");

    // `produce` dead-letters such a record too, and writes the rest.
    let produced = setup.scratch.path("produced.jsonl");
    let too_large = post("produced", "a record over the limit", &"z".repeat(1_010_000));
    std::fs::write(&produced, format!("{too_large}\n{}\n", post("fits", "small", "z"))).unwrap();
    let output = socialpipe()
        .args(["produce", "--config", &setup.config, &format!("{}.raw", setup.id)])
        .stdin(std::fs::File::open(&produced).unwrap())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}{}", String::from_utf8_lossy(&output.stderr));
    assert!(said.starts_with(&format!("1 written to {}.raw, 1 rejected", setup.id)), "{said}");
    let rejected = letters("produce");
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0]["reason"].as_str().unwrap().contains("exceeds the transport's limit of 1000000 bytes"));
}

/// A sink stuck longer than `max_poll_interval_ms` (here its database
/// locked by another writer) while records flow leaves its group; released,
/// it rejoins and gets its partitions back. Nothing it was handed before or
/// after may go missing.
#[test]
fn a_sink_stuck_past_the_poll_interval_loses_nothing() {
    let _serial = serial();
    let setup = setup(&shared_broker(), "");
    let mut ids = produce(&setup, 28, 1_000);
    let mut w = worker(&setup, free_port());
    wait_until("the first posts in the sink", Duration::from_secs(120), Some(&mut w), || {
        post_count(&setup.scratch.db()) > 0
    });
    let lock = rusqlite::Connection::open(setup.scratch.db()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    ids.extend(produce(&setup, 29, 1_000));
    // The fault itself: held past the test config's max_poll_interval_ms (10 s).
    std::thread::sleep(Duration::from_secs(15));
    lock.execute_batch("COMMIT").unwrap();
    wait_until("everything in the sink", Duration::from_secs(120), Some(&mut w), || {
        post_count(&setup.scratch.db()) >= ids.len() as u64
    });
    assert_sink_holds_exactly(&setup.scratch.db(), &ids);
    assert_counts_are_exact(&setup.scratch.db());
}

/// examples/production.toml with one API source turned on from the
/// environment, against a local server answering as X's API does: its
/// tweets reach the raw topic (on a broker of the test's own), and
/// `validate` names the sources that stay off.
#[test]
fn the_production_config_runs_an_api_source_its_environment_turns_on() {
    use serde_json::json;
    use socialpipe_connectors::http::fixture::{FixtureServer, Reply};

    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FixtureServer::start());
    let tweets = json!({
        "data": [{"id": "7", "text": "espresso time", "author_id": "12", "created_at": "2026-11-15T19:08:05.000Z"},
                 {"id": "6", "text": "latte art", "author_id": "12", "created_at": "2026-11-15T19:07:05.000Z"}],
        "includes": {"users": [{"id": "12", "name": "Bean", "username": "bean"}]},
        "meta": {"newest_id": "7", "oldest_id": "6", "result_count": 2}
    });
    server.reply("/2/tweets/search/recent", [Reply::json(tweets)]);
    let broker = Broker::start_fresh();
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("inbox")).unwrap();
    let port = free_port();
    let root = root();
    let env = [
        ("KAFKA_BROKERS", broker.address()),
        ("SOCIALPIPE_GROUP", format!("prod{:08x}", fastrand::u32(..))),
        ("SOCIALPIPE_HTTP", format!("127.0.0.1:{port}")),
        ("SOCIALPIPE_INBOX", scratch.path("inbox").display().to_string()),
        ("SOCIALPIPE_ROSTERS", root.join("examples/data/rosters").display().to_string()),
        ("SOCIALPIPE_MODELS", root.join("models").display().to_string()),
        ("TWITTER_ENABLED", "true".into()),
        ("TWITTER_BASE_URL", server.base_url.clone()),
        ("X_BEARER_TOKEN", "prod-bearer".into()),
    ];
    let config = root.join("examples/production.toml");
    let config = config.to_str().unwrap();
    let validate = socialpipe().args(["validate", "--config", config]).envs(env.clone()).output().unwrap();
    let said = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success(), "{said}{}", String::from_utf8_lossy(&validate.stderr));
    assert!(said.contains("off: facebook, gdrive, instagram, tiktok, webhook, youtube"), "{said}");
    let mut ingest = Daemon::from(
        socialpipe()
            .args(["run", "--config", config, "--only", "sources"])
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("the tweets in the raw topic", Duration::from_secs(120), Some(&mut ingest), || {
        metric(port, r#"component_sent_events_total{component="twitter",kind="source"}"#) == 2
    });
    let seen = server.seen();
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer prod-bearer"));
}
