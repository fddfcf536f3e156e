//! The `socialpipe` binary: runs a topology and administers its log.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use socialpipe::config::{Config, LogFormat};
use socialpipe::runtime::runner;
use socialpipe::tools::{admin, analyze, generate};
use socialpipe_schemas::AuthorRef;

// Records are many small JSON allocations freed on other threads: mimalloc
// handles that far better than glibc malloc (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "socialpipe", version, about = "Stream processing for social-media intelligence")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline described by the configuration.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Process the input available at start, flush, commit and exit.
        #[arg(long)]
        once: bool,
        /// Write the final per-component counts as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Run only these parts, comma-separated: sources, stages, sinks
        /// (e.g. `--only stages,sinks` for a worker that scales out).
        #[arg(long, default_value = "sources,stages,sinks")]
        only: runner::Roles,
    },
    /// Create or upgrade every sink's tables, collections, indexes and
    /// constraints (idempotent; sinks also do it on start unless told not to).
    Migrate {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this sink.
        #[arg(long)]
        sink: Option<String>,
    },
    /// Run the configured stages on posts from standard input, without
    /// transport or sinks: one enriched envelope (or error) per line, as JSON.
    Analyze {
        #[arg(long, short)]
        config: PathBuf,
        /// Each input line is a plain text, not a JSON post.
        #[arg(long)]
        text: bool,
    },
    /// Fit the learned sentiment head on labelled sentences (JSON lines
    /// {"text", "label", "split"}; `make train-sentiment` makes them) and
    /// write it as JSON with its provenance and held-out scores.
    TrainSentiment {
        /// The labelled sentences.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the head.
        #[arg(long)]
        out: PathBuf,
        /// The all-MiniLM-L6-v2 files (scripts/fetch-models.sh).
        #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
        models_dir: PathBuf,
    },
    /// The configuration's JSON Schema and reference, from the config types.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check a configuration without running it.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
        /// Also check that every source can run with --once.
        #[arg(long)]
        once: bool,
    },
    /// Topics, partitions, end offsets and consumer-group lag.
    Topics {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a topic's envelopes as JSON lines.
    Tail {
        #[arg(long, short)]
        config: PathBuf,
        topic: String,
        /// Keep printing new messages.
        #[arg(long, short)]
        follow: bool,
        #[arg(long, short = 'n')]
        limit: Option<u64>,
    },
    /// Validate raw posts from standard input and write them to a topic.
    Produce {
        #[arg(long, short)]
        config: PathBuf,
        topic: String,
        /// Longer lines go to the DLQ.
        #[arg(long, default_value_t = 1 << 20)]
        max_line_bytes: usize,
    },
    /// Inspect and replay dead letters.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// KOL scores.
    Kol {
        #[command(subcommand)]
        command: KolCommand,
    },
    /// Write synthetic raw posts as JSON lines to standard output.
    Generate {
        #[arg(long, default_value_t = 2000)]
        count: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 300)]
        authors: usize,
        /// Mix in a few malformed lines (they must end in the DLQ).
        #[arg(long)]
        malformed: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the JSON Schema of the configuration (for editors' TOML
    /// language servers: they complete and check keys with it).
    Schema,
    /// Print the configuration reference as Markdown (docs/configuration.md).
    Reference,
}

#[derive(Subcommand)]
enum KolCommand {
    /// An author's latest score with its factors and why.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// `platform:id` (e.g. twitter:42) or `platform:@handle` (e.g. twitter:@alice).
        author: AuthorRef,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// DLQ topics with stored and pending counts.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Dead letters of a component as JSON lines.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// The component (source, stage or sink name).
        stage: String,
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u64,
        /// Print only the original bytes (to fix and `produce` again).
        #[arg(long)]
        raw: bool,
    },
    /// Re-inject a component's dead letters into the topic they came from.
    Replay {
        #[arg(long, short)]
        config: PathBuf,
        stage: String,
    },
}

fn load(path: &std::path::Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

fn init_logging(config: Option<&Config>, default_level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let level = config.and_then(|c| c.log.level.clone()).unwrap_or_else(|| default_level.to_owned());
    // The drivers' own chatter (pool connects, server NOTICEs) only from
    // warnings up, unless RUST_LOG asks for it.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},neo4rs=warn,tokio_postgres=warn,mongodb=warn")));
    let format = config.map(|c| c.log.format).unwrap_or_default();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn main_inner(cli: Cli) -> Result<ExitCode> {
    let stdout = &mut std::io::stdout().lock();
    if !matches!(cli.command, Command::Run { .. }) {
        // Admin commands say only what went wrong (librdkafka's warnings included).
        init_logging(None, "warn");
    }
    match cli.command {
        Command::Run { config, once, report, only } => {
            let config = load(&config)?;
            init_logging(Some(&config), "info");
            let result = runner::run(config, runner::RunOptions { once, only }, shutdown_signal()).await?;
            for (name, counts) in &result.components {
                tracing::info!(
                    component = name,
                    received = counts.received,
                    sent = counts.sent,
                    errors = counts.errors,
                    dead_letters = counts.dead_letters,
                    "final counts"
                );
            }
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_vec_pretty(&result)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            for (component, reason) in &result.failures {
                eprintln!("error: {component} stopped: {reason}");
            }
            if !result.drained {
                eprintln!(
                    "error: the shutdown deadline passed before everything was written; \
                     what was not committed stays in the log for the next start"
                );
            }
            let clean = result.failures.is_empty() && result.drained;
            return Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Validate { config, once } => {
            let config = load(&config)?;
            if once {
                config.check_once().map_err(anyhow::Error::msg)?;
            }
            writeln!(
                stdout,
                "ok: {} source(s), {} stage(s), {} sink(s)",
                config.sources.len(),
                config.stages.len(),
                config.sinks.len()
            )?;
            if !config.disabled_sources.is_empty() {
                writeln!(stdout, "off: {} (their `enabled` is false)", config.disabled_sources.join(", "))?;
            }
        }
        Command::Migrate { config, sink } => {
            let config = load(&config)?;
            if let Some(name) = &sink {
                anyhow::ensure!(config.sinks.contains_key(name), "no sink named {name:?} in the configuration");
            }
            for (name, spec) in config.sinks.iter().filter(|(n, _)| sink.as_ref().is_none_or(|s| s == *n)) {
                match spec.kind.component().migrate().await.map_err(|e| anyhow::anyhow!("sink {name}: {}", e.reason))? {
                    Some(applied) if applied.is_empty() => writeln!(stdout, "{name}: up to date")?,
                    Some(applied) => writeln!(stdout, "{name}: applied migrations {applied:?}")?,
                    None => writeln!(stdout, "{name}: nothing to migrate")?,
                }
            }
        }
        Command::TrainSentiment { data, out, models_dir } => {
            let scores = socialpipe_processors::sentiment::train::train_file(&data, &out, &models_dir)?;
            writeln!(stdout, "{}", serde_json::to_string_pretty(&scores)?)?;
        }
        Command::Analyze { config, text } => {
            let config = load(&config)?;
            let mut out = std::io::BufWriter::new(stdout);
            let counts = analyze::analyze(&config, std::io::stdin().lock(), text, &mut out).await?;
            if counts.errors > 0 {
                eprintln!("{} line(s) enriched, {} with errors", counts.enriched, counts.errors);
            }
        }
        Command::Config { command: ConfigCommand::Schema } => {
            writeln!(stdout, "{}", serde_json::to_string_pretty(&socialpipe::config::reference::schema())?)?
        }
        Command::Config { command: ConfigCommand::Reference } => {
            write!(stdout, "{}", socialpipe::config::reference::markdown())?
        }
        Command::Topics { config } => admin::topics(&load(&config)?, stdout).await?,
        Command::Tail { config, topic, follow, limit } => {
            admin::tail(&load(&config)?, &topic, follow, limit, stdout).await?
        }
        Command::Produce { config, topic, max_line_bytes } => {
            let config = load(&config)?;
            let counts = admin::produce(&config, &topic, std::io::stdin().lock(), max_line_bytes).await?;
            writeln!(
                stdout,
                "{} written to {topic}, {} rejected to {}",
                counts.written,
                counts.rejected,
                config.routes().dlq_topic(socialpipe::routing::PRODUCE)
            )?;
        }
        Command::Dlq { command } => match command {
            DlqCommand::List { config } => admin::dlq_list(&load(&config)?, stdout).await?,
            DlqCommand::Show { config, stage, limit, raw } => {
                admin::dlq_show(&load(&config)?, &stage, limit, raw, stdout).await?
            }
            DlqCommand::Replay { config, stage } => {
                let config = load(&config)?;
                let r = admin::dlq_replay(&config, &stage).await?;
                let dlq = config.routes().dlq_topic(&stage);
                write!(stdout, "{} replayed, {} failed again (back in {dlq})", r.replayed, r.failed_again)?;
                if r.unreadable.is_empty() {
                    writeln!(stdout)?;
                } else {
                    writeln!(stdout, ", {} unreadable (left in place)", r.unreadable.len())?;
                    for what in &r.unreadable {
                        eprintln!("error: {what}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
            }
        },
        Command::Kol { command: KolCommand::Show { config, author } } => {
            admin::kol_show(&load(&config)?, &author, stdout).await?
        }
        Command::Generate { count, seed, authors, malformed } => {
            let mut out = std::io::BufWriter::new(stdout);
            generate::write_posts(&mut out, seed, count, authors, malformed)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet.
    unsafe { socialpipe_processors::set_process_defaults() };
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let outcome = runtime.block_on(main_inner(cli));
    // A store call stuck past the shutdown deadline may hold a blocking
    // thread: the process does not wait for it (nothing it does is committed).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            // One line: the chain of causes, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
