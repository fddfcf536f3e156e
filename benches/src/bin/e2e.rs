//! End-to-end throughput and memory of the real `socialpipe` binary.
//! Each scenario runs `socialpipe run --once` on generated posts in a fresh
//! directory and reports records/s and the child's peak RSS (from wait4).
//! The scenarios run in one invocation so they compare against each other:
//! `produce` (raw append to the log) and the blackhole pipeline are the
//! references for the sqlite pipeline; RSS is measured at three input sizes
//! to show it stays flat as input grows.
//!
//! usage: e2e [--records N] [--bin path/to/socialpipe]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

struct Measured {
    seconds: f64,
    peak_rss_mib: f64,
}

/// Runs a command to completion; returns wall time and peak RSS of the child.
fn measure(command: &mut Command) -> Result<Measured> {
    let started = Instant::now();
    let child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().context("spawning socialpipe")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; both pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("socialpipe failed (status {status})");
    }
    Ok(Measured { seconds, peak_rss_mib: usage.ru_maxrss as f64 / 1024.0 })
}

fn config(dir: &Path, input: &Path, stages: bool, sink: &str) -> Result<PathBuf> {
    let sink = match sink {
        "sqlite" => format!("type = \"sqlite\"\npath = \"{}/out.db\"", dir.display()),
        other => format!("type = \"{other}\""),
    };
    let text = format!(
        r#"
[transport]
type = "embedded"
path = "{dir}/log"
[http]
enabled = false
[log]
level = "warn"
[sources.posts]
type = "jsonl"
path = "{input}"
{stages}
[sinks.out]
{sink}
"#,
        dir = dir.display(),
        input = input.display(),
        stages = if stages { "[[stages]]\ntype = \"entities\"" } else { "" }
    );
    let path = dir.join("config.toml");
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, text)?;
    Ok(path)
}

fn generate(bin: &Path, dir: &Path, records: usize) -> Result<()> {
    let out = std::fs::File::create(dir.join("posts.jsonl"))?;
    let status = Command::new(bin)
        .args(["generate", "--count", &records.to_string(), "--seed", "7", "--authors", "5000"])
        .stdout(out)
        .status()?;
    anyhow::ensure!(status.success(), "generate failed");
    Ok(())
}

fn report(name: &str, records: usize, m: &Measured) {
    println!(
        "{name:<44} {records:>9} records  {:>8.2} s  {:>10.0} records/s  peak RSS {:>7.1} MiB",
        m.seconds,
        records as f64 / m.seconds,
        m.peak_rss_mib
    );
}

fn main() -> Result<()> {
    let mut records = 1_000_000usize;
    let mut bin =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release/socialpipe");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().context("--records N")?.parse()?,
            "--bin" => bin = args.next().context("--bin PATH")?.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(bin.exists(), "{} not found: build it with `cargo build --release -p socialpipe`", bin.display());
    let work = tempfile::tempdir()?;
    println!("socialpipe end-to-end benchmark, {} ({} cores)", bin.display(), std::thread::available_parallelism()?);

    for size in [records / 4, records / 2, records] {
        let dir = work.path().join(format!("n{size}"));
        std::fs::create_dir_all(&dir)?;
        generate(&bin, &dir, size)?;
        let input = dir.join("posts.jsonl");
        println!(
            "-- {size} posts, {:.0} MiB of JSON lines",
            std::fs::metadata(&input)?.len() as f64 / (1 << 20) as f64
        );

        // Reference: validating and appending raw posts to the log, nothing else.
        // A run over an empty input creates the topics first.
        let empty = dir.join("empty.jsonl");
        std::fs::write(&empty, "")?;
        let produce_config = config(&dir.join("produce"), &empty, false, "blackhole")?;
        measure(Command::new(&bin).args(["run", "--once", "--config"]).arg(&produce_config))?;
        let m = measure(
            Command::new(&bin)
                .args(["produce", "raw.posts", "--config"])
                .arg(&produce_config)
                .stdin(std::fs::File::open(&input)?),
        )?;
        report("produce: jsonl -> log (append only)", size, &m);

        let scenarios = [
            ("run: jsonl -> log -> blackhole", false, "blackhole"),
            ("run: jsonl -> log -> entities -> log -> blackhole", true, "blackhole"),
            ("run: jsonl -> log -> entities -> log -> sqlite", true, "sqlite"),
        ];
        for (index, (name, stages, sink)) in scenarios.into_iter().enumerate() {
            let config = config(&dir.join(format!("s{index}")), &input, stages, sink)?;
            let m = measure(Command::new(&bin).args(["run", "--once", "--config"]).arg(&config))?;
            report(name, size, &m);
        }
    }
    Ok(())
}
