//! Helpers for the end-to-end tests: a scratch directory with input, a
//! config, the real `socialpipe` binary, and read-only views of the sink.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use socialpipe::tools::generate::PostGenerator;

/// The repository's root (examples/, models/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

/// The standard test topology: jsonl → log → entities → sqlite, no HTTP.
pub const TOPOLOGY: &str = r#"
[transport]
type = "embedded"
path = "{dir}/log"

[http]
enabled = false

[runtime]
poll_wait_ms = 50
shutdown_deadline_secs = 60

[sources.posts]
type = "jsonl"
path = "{dir}/posts.jsonl"

[[stages]]
type = "entities"

[sinks.db]
type = "sqlite"
path = "{dir}/out.db"
batch_max_records = 2000
batch_timeout_ms = 100
"#;

impl Scratch {
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config; `{dir}` stands for the scratch directory.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text.replace("{dir}", self.dir.path().to_str().expect("utf-8 path")))
            .expect("write config");
        path
    }

    pub fn db(&self) -> PathBuf {
        self.path("out.db")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.path("log")
    }
}

/// Appends `count` generated posts (plus `duplicates` repeated lines) to
/// `path`; returns the distinct record ids written.
pub fn write_posts(path: &Path, seed: u64, count: usize, duplicates: usize) -> BTreeSet<String> {
    let mut generator = PostGenerator::new(seed, 500);
    let mut out =
        std::io::BufWriter::new(std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open input"));
    let mut ids = BTreeSet::new();
    let mut lines = Vec::new();
    for i in 0..count {
        let post = generator.next_post();
        ids.insert(format!("{}:{}", post["platform"].as_str().unwrap(), post["id"].as_str().unwrap()));
        let line = serde_json::to_string(&post).unwrap();
        writeln!(out, "{line}").unwrap();
        if duplicates > 0 && i % (count / duplicates).max(1) == 0 && lines.len() < duplicates {
            lines.push(line);
        }
    }
    for line in lines {
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    ids
}

pub fn socialpipe() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_socialpipe"));
    command.env("RUST_LOG", "warn");
    command
}

pub fn run(args: &[&str]) -> Output {
    socialpipe().args(args).output().expect("run socialpipe")
}

/// Runs socialpipe and requires success (its stderr is the failure message).
pub fn run_ok(args: &[&str]) -> Output {
    let output = run(args);
    assert!(output.status.success(), "socialpipe {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// A running socialpipe. Dropped without being waited for (a failing test),
/// it is killed, so no daemon outlives its test.
pub struct Daemon(Option<Child>);

impl From<Child> for Daemon {
    fn from(child: Child) -> Self {
        Daemon(Some(child))
    }
}

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a running process")
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a running process")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn spawn(args: &[&str]) -> Daemon {
    Daemon::from(
        socialpipe().args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn socialpipe"),
    )
}

/// Sink rows: 0 before the sink created its table.
pub fn post_count(db: &Path) -> u64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM posts", [], |r| r.get(0)).unwrap_or(0)
}

pub fn post_ids(db: &Path) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM posts").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

pub fn deliveries(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT coalesce(sum(deliveries), 0) FROM posts", [], |r| r.get(0)).unwrap()
}

/// Polls `condition` until it holds; fails after `limit` or if `child` exits first.
pub fn wait_until(what: &str, limit: Duration, mut child: Option<&mut Daemon>, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.try_wait().unwrap()
        {
            panic!("socialpipe exited ({status}) before {what}");
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for the process to exit; its status and what it wrote to stderr.
pub fn stderr_of(mut daemon: Daemon) -> (std::process::ExitStatus, String) {
    let output = daemon.0.take().expect("a running process").wait_with_output().unwrap();
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A free local port for a daemon's HTTP server.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over plain HTTP/1.1; returns (status, body). None while nothing listens.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], b"")
}

/// A request over plain HTTP/1.1 with extra headers and a body; returns
/// (status, body). None while nothing listens.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n", body.len()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// The value of one Prometheus sample, e.g. `component_errors_total{component="db",domain="transient",kind="sink"}`.
pub fn metric(port: u16, sample: &str) -> u64 {
    let Some((_, body)) = http_get(port, "/metrics") else {
        return 0;
    };
    body.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse::<f64>().ok())).map_or(0, |v| v as u64)
}

pub fn sigterm(child: &Daemon) {
    signal(child, "TERM");
}

/// Sends the named signal (`TERM`, `STOP`, ...) to the process.
pub fn signal(child: &Daemon, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -{name}");
}

/// A MongoDB-wire server of the test's own (`scripts/services.sh` in a
/// private run directory), so stopping it disturbs no other test.
pub struct PrivateMongo {
    run_dir: tempfile::TempDir,
    port: u16,
    pid: i32,
}

impl PrivateMongo {
    pub fn start() -> PrivateMongo {
        let run_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let services = |command: &str| {
            let output = Command::new(root().join("scripts/services.sh"))
                .args([command, "mongodb"])
                .env("SOCIALPIPE_RUN_DIR", run_dir.path())
                .env("SOCIALPIPE_MONGODB_PORT", port.to_string())
                .output()
                .unwrap();
            assert!(output.status.success(), "services.sh {command}: {}", String::from_utf8_lossy(&output.stderr));
        };
        services("start");
        let pid = std::fs::read_to_string(run_dir.path().join("mongodb/server.pid")).unwrap().trim().parse().unwrap();
        PrivateMongo { run_dir, port, pid }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.pid.to_string()]).status();
        assert!(status.unwrap().success(), "kill -{name}");
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/private?directConnection=true", self.port)
    }

    pub fn post_ids(&self) -> BTreeSet<String> {
        use futures_util::TryStreamExt as _;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = mongodb::Client::with_uri_str(self.uri()).await.unwrap();
            let posts = client.database("private").collection::<mongodb::bson::Document>("posts");
            let found: Vec<mongodb::bson::Document> =
                posts.find(mongodb::bson::doc! {}).await.unwrap().try_collect().await.unwrap();
            found.iter().map(|d| d.get_str("_id").unwrap().to_owned()).collect()
        })
    }
}

impl Drop for PrivateMongo {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
    }
}
