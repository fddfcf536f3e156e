//! Test support: sample records, unique names, and private server instances
//! (started by `scripts/services.sh` in their own run dir and port) for tests
//! that stop or stall a server.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;
use socialpipe_schemas::enrichment::{
    Ekman, EkmanScores, Embedding, Emotion, EmotionLabel, Entities, LabelSource, ModelScores, PlutchikScores,
    Probabilities, Sentiment, SentimentLabel, VaderScores,
};
use socialpipe_schemas::{Envelope, parse_raw_post};

/// A name no other test (or earlier run) uses: letters, digits and `_`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_000)
}

/// A post of `platform` as the stages leave it: entities and an embedding.
pub fn post(platform: &str, n: u32, likes: u64, version: i64) -> Envelope {
    let raw = json!({
        "platform": platform,
        "id": format!("{n}"),
        "author": {"id": format!("a{}", n % 7), "handle": format!("user{}", n % 7), "followers": 1000 + n},
        "text": format!("post {n} about #Coffee with @user{}", (n + 1) % 7),
        "created_at": format!("2026-11-{:02}T{:02}:00:00Z", 1 + n % 28, n % 24),
        "metrics": {"likes": likes, "comments": 2},
        "lang": "en",
    });
    let mut envelope = parse_raw_post(raw.to_string().as_bytes()).expect("valid sample post").into_envelope("test");
    envelope.version = version;
    envelope.set_enrichment(&Entities {
        hashtags: vec!["coffee".into()],
        mentions: vec![format!("user{}", (n + 1) % 7)],
        brands: vec!["acme".into()],
        ..Entities::default()
    });
    envelope.set_enrichment(&Embedding(vec![0.25, -0.5, 0.125, 1.0]));
    let positive = SentimentLabel::Positive;
    envelope.set_enrichment(&Sentiment {
        vader: VaderScores { neg: 0.0, neu: 0.5, pos: 0.5, compound: 0.6, label: positive },
        model: Some(ModelScores {
            label: positive,
            probabilities: Probabilities { negative: 0.05, neutral: 0.15, positive: 0.8 },
        }),
        label: positive,
        label_source: LabelSource::Model,
        reliable: true,
        unreliable_reason: None,
    });
    let (anger, disgust, fear, joy, sadness, surprise) = (0.0, 0.0, 0.0, 0.7, 0.0, 0.1);
    envelope.set_enrichment(&Emotion {
        scores: PlutchikScores { anger, anticipation: 0.2, disgust, fear, joy, sadness, surprise, trust: 0.3 },
        dominant: EmotionLabel::Joy,
        ekman: Ekman {
            scores: EkmanScores { anger, disgust, fear, joy, sadness, surprise },
            dominant: EmotionLabel::Joy,
        },
    });
    envelope
}

/// Post `n` of `platform` with its payload's `field` set to `value` (a
/// value a store may refuse).
pub fn post_with(platform: &str, n: u32, field: &str, value: serde_json::Value) -> Envelope {
    let mut envelope = post(platform, n, 1, 10);
    let mut payload: serde_json::Value = serde_json::from_str(envelope.payload.get()).expect("a post's payload");
    payload[field] = value;
    envelope.payload = Envelope::encode_payload(&payload);
    envelope
}

/// Runs a store's cleanup to its end on a thread of its own (`Drop` cannot
/// await, and may run inside a runtime); a failed cleanup leaves the test's
/// database for inspection.
pub fn clean_up(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(cleanup);
    })
    .join()
    .ok();
}

pub fn posts(platform: &str, range: std::ops::Range<u32>, version: i64) -> Vec<Envelope> {
    range.map(|n| post(platform, n, u64::from(n), version)).collect()
}

fn services_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh")
}

/// A port nothing listens on (nor on the ports at `extra` offsets from it).
fn free_port(extra: &[i32]) -> u16 {
    loop {
        let port = 20_000 + i32::from(fastrand::u16(..) % 20_000);
        let free = |p: i32| std::net::TcpListener::bind(("127.0.0.1", p as u16)).is_ok();
        if free(port) && extra.iter().all(|offset| free(port + offset)) {
            return port as u16;
        }
    }
}

/// A server of our own, stopped when dropped.
pub struct PrivateServer {
    name: &'static str,
    pub port: u16,
    run_dir: tempfile::TempDir,
}

impl PrivateServer {
    /// `name` as in `scripts/services.sh`; `companions` are port offsets the
    /// server also listens on (ClickHouse: native and interserver; Bolt: http).
    pub fn start(name: &'static str, companions: &[i32]) -> PrivateServer {
        let server = PrivateServer { name, port: free_port(companions), run_dir: tempfile::tempdir().unwrap() };
        server.run("start");
        server
    }

    fn run(&self, command: &str) {
        let port_var = format!("SOCIALPIPE_{}_PORT", self.name.to_uppercase());
        let out = Command::new("bash")
            .arg(services_script())
            .args([command, self.name])
            .env("SOCIALPIPE_RUN_DIR", self.run_dir.path())
            .env(port_var, self.port.to_string())
            .output()
            .expect("running scripts/services.sh");
        assert!(
            out.status.success(),
            "services.sh {command} {} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server and waits for it to exit (data stays).
    pub fn stop(&self) {
        self.run("stop");
    }

    /// Starts it again on the same data and port; returns when it is ready.
    pub fn restart(&self) {
        self.run("start");
    }

    /// Stops the server's processes (SIGSTOP to the one `services.sh`
    /// started and all it forked: PostgreSQL's backends are sessions of
    /// their own) as a hung or blackholed server behaves: connections stay
    /// open and nothing answers. Returns once every thread is stopped; they
    /// continue when the guard is dropped, also when the test fails.
    pub fn stall(&self) -> Stalled {
        let pid_file = self.run_dir.path().join(self.name).join("server.pid");
        let root: u32 = std::fs::read_to_string(pid_file).expect("the server's pid file").trim().parse().unwrap();
        let mut stalled = Stalled(Vec::new());
        // Parents first: a stopped process forks no child we would miss.
        let mut pending = vec![root];
        while let Some(pid) = pending.pop() {
            // A child may exit meanwhile (e.g. an autovacuum worker): only
            // the server itself must stop.
            if !signal(pid, "STOP") {
                assert!(pid != root, "kill -STOP {pid} of the {} server failed", self.name);
                continue;
            }
            stalled.0.push(pid);
            wait_stopped(pid);
            pending.extend(children(pid));
        }
        stalled
    }
}

/// Sends `signal` (a name, e.g. `STOP`) to process `pid`; says whether that succeeded.
fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().is_ok_and(|s| s.success())
}

/// The state letter and the parent of a process or thread, from its `stat`
/// file (`pid (command) state ppid …`; the command may hold spaces and
/// parentheses).
fn state_and_parent(stat_file: &str) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(stat_file).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let (_, ppid) = state_and_parent(&format!("/proc/{pid}/stat"))?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// Waits until every thread of `pid` is stopped (or it is gone): SIGSTOP wakes one thread,
/// which stops the others, and until it runs (on a busy machine, a while)
/// the others still serve requests.
fn wait_stopped(pid: u32) {
    let started = std::time::Instant::now();
    loop {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return };
        let running = threads.filter_map(|t| {
            let stat = format!("/proc/{pid}/task/{}/stat", t.ok()?.file_name().to_str()?);
            state_and_parent(&stat).filter(|(state, _)| !matches!(state, 'T' | 'Z' | 'X'))
        });
        if running.count() == 0 {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "process {pid} did not stop");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A stalled server's processes; continued when dropped.
pub struct Stalled(Vec<u32>);

impl Drop for Stalled {
    fn drop(&mut self) {
        // No panic here (it may run while a failed test unwinds): a server
        // left stopped is still ended by its own drop (SIGKILL after the
        // SIGTERM wait).
        for pid in &self.0 {
            if !signal(*pid, "CONT") {
                eprintln!("kill -CONT {pid} failed");
            }
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.run("stop");
    }
}

/// A KOL score of author `<platform>:a1` at `computed_at`, and its envelope.
pub fn kol_score(platform: &str, computed_at: &str, score: f64) -> (socialpipe_schemas::KolScoreRecord, Envelope) {
    let computed_at = computed_at.parse().expect("an RFC 3339 time");
    let score = socialpipe_schemas::KolScoreRecord {
        author_id: format!("{platform}:a1"),
        platform: platform.to_owned(),
        handle: Some("ann".into()),
        score,
        tier: "micro".into(),
        followers: Some(12_000),
        posts: 3,
        factors: vec![],
        computed_at,
        emitted_at: computed_at,
    };
    let envelope = Envelope::new(
        socialpipe_schemas::RecordKind::KolScore,
        score.record_id(),
        score.author_id.clone(),
        "kol",
        computed_at,
        Envelope::encode_payload(&score),
    );
    (score, envelope)
}
