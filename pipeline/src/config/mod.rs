//! The configuration file: one TOML document describing the topology
//! (transport, sources, stages, sinks) and the runtime's bounds. Unknown keys
//! are errors; every error names the file, the line and the key.

mod interpolate;
mod locate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::topology::{SinkKind, SourceKind, StageKind};
use crate::transport::embedded::EmbeddedConfig;
use crate::transport::kafka::KafkaConfig;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub transport: TransportConfig,
    #[serde(default)]
    pub topics: TopicsConfig,
    #[serde(default)]
    pub http: HttpConfig,
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
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransportConfig {
    Embedded(EmbeddedConfig),
    Kafka(KafkaConfig),
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig::Embedded(EmbeddedConfig::new("var/socialpipe/log"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Partitions of every topic socialpipe creates.
    pub partitions: u32,
    /// Where sources write raw posts.
    pub raw_posts: String,
    /// Where the stage chain writes enriched records.
    pub enriched_posts: String,
    /// Where the kol stage writes its `kol_score` records.
    pub kol_scores: String,
    /// Dead letters of component NAME go to `<dlq_prefix>NAME`.
    pub dlq_prefix: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            partitions: 4,
            raw_posts: "raw.posts".into(),
            enriched_posts: "enriched.posts".into(),
            kol_scores: "enriched.kol_scores".into(),
            dlq_prefix: "dlq.".into(),
        }
    }
}

impl TopicsConfig {
    pub fn dlq_topic(&self, component: &str) -> String {
        format!("{}{component}", self.dlq_prefix)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub enabled: bool,
    /// Address of `/metrics`, `/health/live` and `/health/ready` (port 0: any free port).
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { enabled: true, listen: "127.0.0.1:9598".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// After SIGTERM/SIGINT: how long draining may take before the process exits anyway.
    pub shutdown_deadline_secs: u64,
    /// Dead letters keep at most this many bytes of the original (plus its length and sha256).
    pub max_dlq_payload_bytes: usize,
    /// Records per stage-chain batch.
    pub stage_batch_records: usize,
    /// Parallel workers of the stage chain (each owns a share of the partitions).
    pub stage_workers: u32,
    /// How long an idle consumer waits for new messages per poll.
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Attempts for a record a stage failed on transiently before it goes to the DLQ.
    /// (Sink batches and the log retry without limit: they hold the stream back instead.)
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { initial_backoff_ms: 100, max_backoff_ms: 30_000, max_attempts: 5 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `socialpipe=debug,info`; RUST_LOG overrides it.
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SourceSpec {
    /// Topic the source writes to (default: topics.raw_posts).
    #[serde(default)]
    pub topic: Option<String>,
    /// Records per batch; a batch is written and checkpointed together.
    #[serde(default = "default_source_batch")]
    pub batch_records: usize,
    #[serde(flatten)]
    pub kind: SourceKind,
}

fn default_source_batch() -> usize {
    1000
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
pub struct SinkSpec {
    /// Topics the sink consumes (default: the stage chain's output, or the
    /// raw topic when there are no stages).
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
    /// A batch is written when it has this many records…
    #[serde(default = "default_sink_batch")]
    pub batch_max_records: usize,
    /// …or when its oldest record waited this long.
    #[serde(default = "default_sink_timeout")]
    pub batch_timeout_ms: u64,
    #[serde(flatten)]
    pub kind: SinkKind,
}

fn default_sink_batch() -> usize {
    10_000
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
        let config = parsed.map_err(|e| e.redacted(&values))?;
        config.check().map_err(|(key, message)| {
            ConfigError::at(file, locate::line_of(&text, &key), key, message).redacted(&values)
        })?;
        Ok(config)
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
        let stateful: Vec<String> = self.stages.iter().filter(|s| s.kind.keeps_state()).map(|s| s.name()).collect();
        if let (Some(stage), [_, _, ..]) = (stateful.first(), &self.stage_inputs()[..]) {
            // Keyed state lives with a partition number; two input topics could
            // put one key's records on two members.
            return Err((
                "stages".into(),
                format!(
                    "stage {stage:?} keeps state per key and needs one input topic, but sources write {}",
                    self.stage_inputs().join(", ")
                ),
            ));
        }
        if let TransportConfig::Kafka(k) = &self.transport {
            if k.brokers.trim().is_empty() {
                return Err(("transport.brokers".into(), "must name at least one broker".into()));
            }
            if k.replication_factor == 0 {
                return Err(("transport.replication_factor".into(), "must be at least 1".into()));
            }
        }
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
            if name == crate::admin::PRODUCE {
                return Err((key, format!("name {name:?} is reserved for `socialpipe produce` (dlq.{name})")));
            }
            if let Some(first) = names.insert(name.clone(), key.clone()) {
                return Err((
                    key,
                    format!("name {name:?} is already used by {first} (names must be unique: they name dlq.<name>)"),
                ));
            }
        }
        for (i, stage) in self.stages.iter().enumerate() {
            stage.kind.check().map_err(|m| (format!("stages[{i}]"), m))?;
        }
        // The sentiment head reads the embedding: an embed stage after the
        // sentiment stage would leave it unused without a word.
        let position = |wanted: &str| self.stages.iter().position(|s| s.kind.type_name() == wanted);
        if let (Some(sentiment), Some(embed)) = (position("sentiment"), position("embed"))
            && embed > sentiment
            && matches!(&self.stages[sentiment].kind, StageKind::Sentiment(c) if c.model)
        {
            return Err((
                format!("stages[{sentiment}]"),
                format!(
                    "the sentiment model reads the embedding, but the embed stage comes later (stages[{embed}]): put embed first, or set model = false"
                ),
            ));
        }
        for (name, source) in &self.sources {
            if source.batch_records == 0 {
                return Err((format!("sources.{name}.batch_records"), "must be at least 1".into()));
            }
            source.kind.check().map_err(|m| (format!("sources.{name}"), m))?;
        }
        for (name, sink) in &self.sinks {
            if sink.batch_max_records == 0 {
                return Err((format!("sinks.{name}.batch_max_records"), "must be at least 1".into()));
            }
            sink.kind.check().map_err(|m| (format!("sinks.{name}"), m))?;
            let known = self.produced_topics();
            for input in self.sink_inputs(sink) {
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

    /// Extra rules for `--once`: every source must end.
    pub fn check_once(&self) -> Result<(), String> {
        for (name, source) in &self.sources {
            if source.kind.is_unbounded() {
                return Err(format!("sources.{name}: never ends (follow/stream mode), so it cannot run with --once"));
            }
        }
        Ok(())
    }

    pub fn source_topic(&self, source: &SourceSpec) -> String {
        source.topic.clone().unwrap_or_else(|| self.topics.raw_posts.clone())
    }

    /// The topics the stage chain reads: every topic a source writes.
    pub fn stage_inputs(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.sources.values().map(|s| self.source_topic(s)).collect();
        topics.sort();
        topics.dedup();
        if topics.is_empty() {
            topics.push(self.topics.raw_posts.clone());
        }
        topics
    }

    /// A sink reads what the stage chain writes unless told otherwise.
    pub fn sink_inputs(&self, sink: &SinkSpec) -> Vec<String> {
        match &sink.inputs {
            Some(inputs) => inputs.clone(),
            None if self.stages.is_empty() => self.stage_inputs(),
            None => self.stage_outputs(),
        }
    }

    /// Topics the stage chain writes: enriched posts, and KOL scores when a kol stage runs.
    pub fn stage_outputs(&self) -> Vec<String> {
        let mut topics = vec![self.topics.enriched_posts.clone()];
        if self.stages.iter().any(|s| s.kind.emits_scores()) {
            topics.push(self.topics.kol_scores.clone());
        }
        topics
    }

    /// Where a record a stage emitted besides its outcomes goes, by kind.
    pub fn emitted_topic(&self, kind: Option<socialpipe_schemas::RecordKind>) -> String {
        match kind {
            Some(socialpipe_schemas::RecordKind::KolScore) => self.topics.kol_scores.clone(),
            _ => self.topics.enriched_posts.clone(),
        }
    }

    /// Topics written by sources or the stage chain.
    pub fn produced_topics(&self) -> Vec<String> {
        let mut topics = self.stage_inputs();
        if !self.stages.is_empty() {
            topics.extend(self.stage_outputs());
        }
        topics
    }

    /// The embedded log's directory (None on Kafka).
    pub fn transport_path(&self) -> Option<PathBuf> {
        match &self.transport {
            TransportConfig::Embedded(c) => Some(c.path.clone()),
            TransportConfig::Kafka(_) => None,
        }
    }

    /// Consumer groups are `<prefix>.stages` and `<prefix>.sink.<name>`.
    pub fn group_prefix(&self) -> &str {
        match &self.transport {
            TransportConfig::Embedded(_) => "socialpipe",
            TransportConfig::Kafka(c) => &c.group_id,
        }
    }

    pub fn stage_group(&self) -> String {
        format!("{}.stages", self.group_prefix())
    }

    pub fn sink_group(&self, sink: &str) -> String {
        format!("{}.sink.{sink}", self.group_prefix())
    }

    /// Where the stateful stages keep their changelog (compacted on Kafka,
    /// kept past retention on the embedded log).
    pub fn changelog_topic(&self) -> String {
        format!("{}.stages.changelog", self.group_prefix())
    }
}
