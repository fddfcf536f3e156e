//! The configuration file: one TOML document describing the topology
//! (transport, sources, stages, sinks) and the runtime's bounds. Unknown keys
//! are errors; every error names the file, the line and the key. The
//! components' own settings are their crates' config types, found through
//! their registries; the rules that span components (names, stage order,
//! inputs) are checked here.

mod interpolate;
mod locate;
pub mod reference;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use socialpipe_connectors::SourceKind;
use socialpipe_processors::StageKind;
use socialpipe_sinks::SinkKind;

use crate::routing::{PRODUCE, Routes, TopicsConfig};
use crate::runtime::transport::{TransportConfig, is_compacted};

pub use interpolate::{Interpolated, interpolate};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}:{line}: {key}: {message}")]
    At { file: String, line: usize, key: String, message: String },
    #[error("{file}: {key}: {message}")]
    Key { file: String, key: String, message: String },
}

impl ConfigError {
    /// The same error without the given values (interpolated from the
    /// environment, so possibly secrets) in its message.
    fn redacted(mut self, values: &[String]) -> Self {
        let (ConfigError::File { message, .. } | ConfigError::At { message, .. } | ConfigError::Key { message, .. }) =
            &mut self;
        for value in values.iter().filter(|v| v.len() >= 4) {
            *message = message.replace(value.as_str(), "<from the environment>");
        }
        self
    }

    /// An error at `key`, on `line` when it is known.
    pub fn at(file: &str, line: Option<usize>, key: String, message: String) -> Self {
        match line {
            Some(line) if key.is_empty() => ConfigError::File { file: format!("{file}:{line}"), message },
            Some(line) => ConfigError::At { file: file.to_owned(), line, key, message },
            None => ConfigError::Key { file: file.to_owned(), key, message },
        }
    }
}

/// One socialpipe topology: where records travel (`transport`, `topics`),
/// what reads, enriches and stores them (`sources`, `stages`, `sinks`), and
/// the runtime's bounds.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub transport: TransportConfig,
    #[serde(default)]
    pub topics: TopicsConfig,
    #[serde(default)]
    pub http: StatusServerConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Name → source. The name appears in metrics, checkpoints and `dlq.<name>`.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    /// Enrichment stages, applied in this order.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    /// Name → sink.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkSpec>,
    /// The topology's topics and groups (derived, not read).
    #[serde(skip)]
    routes: Routes,
    /// Sources whose `enabled` is false: not in `sources`, named for `validate`.
    #[serde(skip)]
    pub disabled_sources: Vec<String>,
}

/// The `[http]` section: the status server.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StatusServerConfig {
    /// Serve metrics and health.
    pub enabled: bool,
    /// Address of `/metrics`, `/health/live` and `/health/ready` (port 0: any
    /// free port, logged at start).
    pub listen: String,
}

impl Default for StatusServerConfig {
    fn default() -> Self {
        StatusServerConfig { enabled: true, listen: "127.0.0.1:9598".into() }
    }
}

/// The `[runtime]` section: the runner's bounds.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// After SIGTERM/SIGINT: how long draining may take; past it the process
    /// exits and what is not committed stays in the log for the next start.
    pub shutdown_deadline_secs: u64,
    /// Dead letters keep at most this many bytes of the original (plus its
    /// full length and sha256).
    pub max_dlq_payload_bytes: usize,
    /// Records per stage-chain batch.
    pub stage_batch_records: usize,
    /// Parallel workers of the stage chain (1 … `topics.partitions`), each
    /// owning a share of the partitions.
    pub stage_workers: u32,
    /// How long an idle consumer waits for new messages per poll (appends by
    /// this process wake it at once; by other processes, within this time).
    pub poll_wait_ms: u64,
    pub retry: RetryConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            shutdown_deadline_secs: 30,
            max_dlq_payload_bytes: 1 << 20,
            stage_batch_records: 1000,
            stage_workers: 1,
            poll_wait_ms: 200,
            retry: RetryConfig::default(),
        }
    }
}

/// Retries of the runner: exponential backoff with jitter.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First retry delay; doubles with jitter.
    pub initial_backoff_ms: u64,
    /// Longest retry delay.
    pub max_backoff_ms: u64,
    /// Attempts for a record a stage failed on transiently before it goes to
    /// the DLQ. Sink batches and log writes retry without limit instead: they
    /// hold the stream back, nothing is dropped.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { initial_backoff_ms: 100, max_backoff_ms: 30_000, max_attempts: 5 }
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` is pretty on a terminal, JSON otherwise (logs go to stderr).
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `socialpipe=debug,warn` (default
    /// `info`); `RUST_LOG` overrides it.
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Pretty,
}

/// A source: its `type` with that type's settings, and the runner's.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct SourceSpec {
    /// Whether the source runs. One that is off is parsed (unknown keys are
    /// still errors) but neither checked nor built; `validate` lists it. Set
    /// it from the environment with a bare reference:
    /// `enabled = ${TWITTER_ENABLED:-false}` (the variable says true or false).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Topic the source writes to (default: `topics.raw_posts`).
    #[serde(default)]
    pub topic: Option<String>,
    /// Records per batch; a batch is written and checkpointed together.
    #[serde(default = "default_source_batch")]
    pub batch_records: usize,
    #[serde(flatten)]
    pub kind: SourceKind,
}

fn enabled() -> bool {
    true
}

fn default_source_batch() -> usize {
    1000
}

/// A stage: its `type` with that type's settings. Stages run in the order
/// listed; a text stage reads a post's `text` (a post without one goes to
/// the stage's DLQ) and writes its enrichment (docs/record-schema.md); a
/// stage that writes what another reads must come before it (`validate`
/// says which), and a reader works without it when no stage writes it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct StageSpec {
    /// Defaults to the type; names must be unique (they name `dlq.<name>`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub kind: StageKind,
}

impl StageSpec {
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.kind.type_name().to_owned())
    }
}

/// A sink: its `type` with that type's settings, and the runner's. Every
/// sink writes a batch idempotently (upsert by record id, the highest
/// version wins) and acknowledges it only once the store has it; a record
/// the store refuses for good (a constraint, a validator, a value the column
/// cannot hold) goes to `dlq.NAME` with the store's message while the rest
/// is written; a store that is down is retried with backoff and nothing
/// more is consumed meanwhile. At start a networked sink connects and
/// authenticates: bad credentials stop the run before anything is consumed,
/// an unreachable server is retried (`/health/ready` says so).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct SinkSpec {
    /// Topics the sink consumes (default: what the stage chain writes, or
    /// what sources write when there are no stages).
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
    /// A batch is written when it has this many records…
    #[serde(default = "default_sink_batch")]
    pub batch_max_records: usize,
    /// …or this many bytes of encoded records (a record larger than this is
    /// written alone; the records read beyond it wait for the next batch)…
    #[serde(default = "default_sink_batch_bytes")]
    pub batch_max_bytes: usize,
    /// …or when its oldest record waited this long.
    #[serde(default = "default_sink_timeout")]
    pub batch_timeout_ms: u64,
    #[serde(flatten)]
    pub kind: SinkKind,
}

fn default_sink_batch() -> usize {
    10_000
}

/// What a store takes in one batch without strain, and a bound on the
/// memory a batch takes once decoded.
fn default_sink_batch_bytes() -> usize {
    16 << 20
}

fn default_sink_timeout() -> u64 {
    1_000
}

impl Config {
    /// Reads, interpolates (from the process environment) and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File { file: file.clone(), message: e.to_string() })?;
        Config::parse(&file, &text, |name| std::env::var(name).ok())
    }

    pub fn parse(file: &str, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let Interpolated { text, values } = interpolate(file, text, env)?;
        let parsed =
            toml::Deserializer::parse(&text).map_err(|e| locate::toml_error(file, &text, "", &e)).and_then(|de| {
                serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
                    let path = e.path().to_string();
                    locate::toml_error(file, &text, if path == "." { "" } else { &path }, e.inner())
                })
            });
        let mut config = parsed.map_err(|e| e.redacted(&values))?;
        config.disabled_sources = config.sources.iter().filter(|(_, s)| !s.enabled).map(|(n, _)| n.clone()).collect();
        config.sources.retain(|_, s| s.enabled);
        config.routes = Routes::new(
            &config.topics,
            config.sources.values().map(|s| s.topic.clone()),
            config.stages.len(),
            config.stages.iter().flat_map(|s| s.kind.component().emits()),
            config.transport.group_prefix(),
        );
        config.check().map_err(|(key, message)| {
            ConfigError::at(file, locate::line_of(&text, &key), key, message).redacted(&values)
        })?;
        Ok(config)
    }

    /// The topology's topics and groups.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Rules that span keys; returns (key path, message).
    fn check(&self) -> Result<(), (String, String)> {
        if self.topics.partitions == 0 {
            return Err(("topics.partitions".into(), "must be at least 1".into()));
        }
        if self.runtime.stage_workers == 0 || self.runtime.stage_workers > self.topics.partitions {
            return Err((
                "runtime.stage_workers".into(),
                format!("must be between 1 and topics.partitions ({})", self.topics.partitions),
            ));
        }
        for (key, value) in [
            ("runtime.stage_batch_records", self.runtime.stage_batch_records),
            ("runtime.max_dlq_payload_bytes", self.runtime.max_dlq_payload_bytes),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        let inputs = self.routes.stage_inputs();
        let stateful = self.stages.iter().find(|s| s.kind.component().keeps_state());
        if let (Some(stage), [_, _, ..]) = (stateful, inputs) {
            // Keyed state lives with a partition number; two input topics could
            // put one key's records on two members.
            return Err((
                "stages".into(),
                format!(
                    "stage {:?} keeps state per key and needs one input topic, but sources write {}",
                    stage.name(),
                    inputs.join(", ")
                ),
            ));
        }
        self.transport.check().map_err(|(key, message)| (format!("transport.{key}"), message))?;
        self.check_names()?;
        self.check_topic_names()?;
        for (i, stage) in self.stages.iter().enumerate() {
            stage.kind.component().check().map_err(|m| (format!("stages[{i}]"), m))?;
        }
        self.check_stage_order()?;
        for (name, source) in &self.sources {
            if source.batch_records == 0 {
                return Err((format!("sources.{name}.batch_records"), "must be at least 1".into()));
            }
            source.kind.component().check().map_err(|m| (format!("sources.{name}"), m))?;
        }
        let known = self.routes.produced_topics();
        for (name, sink) in &self.sinks {
            for (key, value) in
                [("batch_max_records", sink.batch_max_records), ("batch_max_bytes", sink.batch_max_bytes)]
            {
                if value == 0 {
                    return Err((format!("sinks.{name}.{key}"), "must be at least 1".into()));
                }
            }
            sink.kind.component().check().map_err(|m| (format!("sinks.{name}"), m))?;
            for input in self.routes.sink_inputs(sink.inputs.as_ref()) {
                if !known.contains(&input) {
                    return Err((
                        format!("sinks.{name}.inputs"),
                        format!("no source or stage writes topic {input:?} (written: {})", known.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Names are unique over sources, stages and sinks (they name `dlq.<name>`).
    fn check_names(&self) -> Result<(), (String, String)> {
        let mut names = BTreeMap::new();
        let stage_names: Vec<(String, String)> =
            self.stages.iter().enumerate().map(|(i, s)| (format!("stages[{i}]"), s.name())).collect();
        let all = self
            .sources
            .keys()
            .map(|n| (format!("sources.{n}"), n.clone()))
            .chain(stage_names)
            .chain(self.sinks.keys().map(|n| (format!("sinks.{n}"), n.clone())));
        for (key, name) in all {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
                return Err((key, format!("name {name:?} must be letters, digits, '_' or '-'")));
            }
            if name == PRODUCE {
                return Err((key, format!("name {name:?} is reserved for `socialpipe produce` (dlq.{name})")));
            }
            if is_compacted(&format!(".{name}")) {
                return Err((
                    key,
                    format!(
                        "name {name:?} is reserved: dlq.{name} would be a compacted topic, keeping one dead letter per key"
                    ),
                ));
            }
            if let Some(first) = names.insert(name.clone(), key.clone()) {
                return Err((
                    key,
                    format!("name {name:?} is already used by {first} (names must be unique: they name dlq.<name>)"),
                ));
            }
        }
        Ok(())
    }

    /// Topics of records and dead letters keep every message: a name that
    /// marks a compacted topic (state changelogs, checkpoints) is refused.
    fn check_topic_names(&self) -> Result<(), (String, String)> {
        let t = &self.topics;
        let configured =
            [("raw_posts", &t.raw_posts), ("enriched_posts", &t.enriched_posts), ("kol_scores", &t.kol_scores)]
                .map(|(key, topic)| (format!("topics.{key}"), topic));
        let of_sources =
            self.sources.iter().filter_map(|(name, s)| Some((format!("sources.{name}.topic"), s.topic.as_ref()?)));
        for (key, topic) in configured.into_iter().chain(of_sources) {
            if is_compacted(topic) {
                let suffix = &topic[topic.rfind('.').unwrap_or(0)..];
                return Err((
                    key,
                    format!(
                        "{topic:?} ends in {suffix}, which is for compacted topics (state changelogs, checkpoints) that keep one message per key"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A stage reads what earlier stages wrote: a stage that writes an
    /// enrichment another reads must come before it (when no stage writes
    /// it, the reader works without it).
    fn check_stage_order(&self) -> Result<(), (String, String)> {
        for (i, reader) in self.stages.iter().enumerate() {
            for key in reader.kind.component().reads() {
                let later = self.stages.iter().enumerate().skip(i + 1);
                let writer = later.into_iter().find(|(_, s)| s.kind.component().writes().contains(&key));
                if let Some((j, writer)) = writer {
                    let or = match reader.kind.component().setting_without(key) {
                        Some(setting) => format!(", or set {setting}"),
                        None => String::new(),
                    };
                    let (reader, writer) = (reader.name(), writer.name());
                    return Err((
                        format!("stages[{i}]"),
                        format!(
                            "stage {reader:?} reads enrichments.{key}, which stage {writer:?} (stages[{j}]) writes after it: put {writer} first{or}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Extra rules for `--once`: every source must end.
    pub fn check_once(&self) -> Result<(), String> {
        for (name, source) in &self.sources {
            if source.kind.component().unbounded() {
                return Err(format!("sources.{name}: never ends (follow/stream mode), so it cannot run with --once"));
            }
        }
        Ok(())
    }
}
