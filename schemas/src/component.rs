//! The component traits. Sources produce envelopes with a resume checkpoint;
//! processors map a batch to a batch with per-record errors; sinks write a
//! batch durably and idempotently (upsert by id) before they return.

use std::collections::{HashMap, HashSet};
use std::fmt;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::envelope::{Envelope, RecordKind};
use crate::error::ComponentError;
use crate::kol::{AuthorRef, KolScoreRecord};

/// Whether a source stops when it has caught up (`--once`) or waits for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Process the input available at start, then report `caught_up`.
    Once,
    /// Keep following new input.
    Continuous,
}

/// Input a source could not turn into a record.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The first bytes of the input (sources bound what they hold).
    pub prefix: Vec<u8>,
    pub length: u64,
    pub sha256: String,
    pub reason: String,
    /// Where the input was, e.g. `posts.jsonl:1234`.
    pub location: Option<String>,
}

/// What one call to [`Source::next_batch`] produced.
#[derive(Debug, Default)]
pub struct SourceBatch {
    pub records: Vec<Envelope>,
    pub rejected: Vec<Rejected>,
    /// Resume state covering everything in this batch; persisted only after
    /// the records and rejects are durable downstream.
    pub checkpoint: Option<Value>,
    /// In `Once` mode: the input available at start is exhausted.
    pub caught_up: bool,
    /// Called once the batch's records and rejects are durable (e.g. a
    /// webhook answers its caller only then).
    pub on_durable: Vec<DurableCallback>,
}

/// A callback run when a batch is durable.
pub struct DurableCallback(pub Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for DurableCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DurableCallback")
    }
}

#[async_trait]
pub trait Source: Send {
    /// Prepares to read from `checkpoint` (None: from the beginning).
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError>;

    /// Returns the next batch of at most `max_records` records. In continuous
    /// mode it returns an empty batch after a short idle wait, so the runner
    /// can check for shutdown between calls.
    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError>;
}

/// A record a processor could not handle, with why.
#[derive(Debug, Clone)]
pub struct Failed {
    /// Boxed: a failure is rare, and keeps the `Ok` path's results small.
    pub record: Box<Envelope>,
    pub error: ComponentError,
}

impl Failed {
    pub fn new(record: Envelope, error: ComponentError) -> Self {
        Failed { record: Box::new(record), error }
    }
}

#[async_trait]
pub trait Processor: Send {
    /// Enriches a batch: one outcome per input record, in order.
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>>;

    /// Like `process`, with the state of every key of the batch at hand: the
    /// runner calls it for a stage whose config [`StageConfig::keeps_state`].
    async fn process_keyed(&mut self, batch: Vec<Envelope>, state: &mut KeyedState) -> Vec<Result<Envelope, Failed>> {
        let _ = state;
        self.process(batch).await
    }

    /// Records the stage made besides its outcomes since the last call (a
    /// KOL stage's scores). The runner takes them after every batch and
    /// writes them, with the batch, to the topic of their kind.
    fn take_emitted(&mut self) -> Vec<Envelope> {
        Vec::new()
    }

    /// The input is done (the end of a `--once` run, or a shutdown): a
    /// stateful stage emits what it was holding back (`take_emitted` then
    /// returns it) and records that in `state`.
    fn finish(&mut self, state: &mut KeyedState) {
        let _ = state;
    }
}

/// A stateful stage's values by record key, each kept as the JSON text the
/// stage wrote (compact in memory, and what the changelog stores). The
/// runner loads the keys of a partition when the partition is assigned,
/// drops them when it is revoked, and persists what changed after each batch
/// (so the state a restarted or rebalanced worker sees reflects exactly the
/// records whose output is durable).
#[derive(Debug, Default)]
pub struct KeyedState {
    values: HashMap<String, Box<RawValue>>,
    changed: HashSet<String>,
}

impl KeyedState {
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.values.get(key).map(|v| &**v)
    }

    /// The key's value decoded as `T` (None: the key has no value).
    pub fn decode<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        self.get(key).map(|raw| serde_json::from_str(raw.get())).transpose()
    }

    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        self.changed.insert(key.to_owned());
        self.values.insert(key.to_owned(), value);
    }

    /// Stores `value` as JSON.
    pub fn encode(&mut self, key: &str, value: &impl Serialize) {
        self.set(key, serde_json::value::to_raw_value(value).expect("state values always serialise"));
    }

    pub fn remove(&mut self, key: &str) {
        if self.values.remove(key).is_some() {
            self.changed.insert(key.to_owned());
        }
    }

    /// Restores a value (not a change).
    pub fn load(&mut self, key: String, value: Option<Box<RawValue>>) {
        match value {
            Some(value) => self.values.insert(key, value),
            None => self.values.remove(&key),
        };
    }

    /// Forgets the keys `drop` selects (their partition moved elsewhere).
    pub fn unload(&mut self, mut drop: impl FnMut(&str) -> bool) {
        self.values.retain(|key, _| !drop(key));
        self.changed.retain(|key| !drop(key));
    }

    /// The changes since the last call: key and new value (None: removed).
    pub fn take_changes(&mut self) -> Vec<(String, Option<Box<RawValue>>)> {
        let mut changes: Vec<(String, Option<Box<RawValue>>)> =
            self.changed.drain().map(|key| (key.clone(), self.values.get(&key).cloned())).collect();
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        changes
    }

    /// Every key with a value, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Bytes of JSON text held (keys and values), for memory reports.
    pub fn text_bytes(&self) -> usize {
        self.values.iter().map(|(k, v)| k.len() + v.get().len()).sum()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Records of a batch a sink refused for good (e.g. a constraint violation):
/// the rest of the batch is durably written.
#[derive(Debug, Default)]
pub struct SinkReport {
    /// (index in the batch, why)
    pub rejected: Vec<(usize, ComponentError)>,
}

#[async_trait]
pub trait Sink: Send {
    /// Writes the batch durably; returns only when it is (or with an error
    /// for the whole batch: transient → retried, fatal → the sink stops).
    async fn write(&mut self, batch: &[Envelope]) -> Result<SinkReport, ComponentError>;
}

/// What the runtime asks of a source's configuration. Each source registers
/// its config type with `registry!`; the runtime knows no source by name.
pub trait SourceConfig: Send + Sync + fmt::Debug {
    /// Checks what can be checked before anything runs.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError>;

    /// Never ends (follow or stream mode): cannot run with `--once`.
    fn unbounded(&self) -> bool {
        false
    }
}

/// What the runtime asks of a stage's configuration.
pub trait StageConfig: Send + Sync + fmt::Debug {
    /// Checks the settings (a dictionary that does not build, a threshold
    /// out of range, a missing model file) before anything runs.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError>;

    /// Keeps state per record key: the runner then calls
    /// [`Processor::process_keyed`], keeps the state in a changelog and moves
    /// it with the key's partition when the consumer group rebalances.
    fn keeps_state(&self) -> bool {
        false
    }

    /// The enrichment keys it reads, when an earlier stage wrote them (it
    /// works without them): a stage that writes one must come before it.
    fn reads(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// The setting that stops it reading `key`, when there is one: the
    /// other way out of a stage order error (`model = false`).
    fn setting_without(&self, _key: &str) -> Option<&'static str> {
        None
    }

    /// The enrichment keys it writes.
    fn writes(&self) -> Vec<&'static str>;

    /// The kinds of the records it emits besides its outcomes
    /// ([`Processor::take_emitted`]): each goes to its kind's topic.
    fn emits(&self) -> Vec<RecordKind> {
        Vec::new()
    }
}

/// What the runtime asks of a sink's configuration.
#[async_trait]
pub trait SinkConfig: Send + Sync + fmt::Debug {
    /// Checks what can be checked without the store (URLs, names).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Connects (and, when configured, migrates): a bad URL or bad
    /// credentials fail here, before anything is consumed; an unreachable
    /// store is a transient error the runner retries.
    async fn build(&self) -> Result<Box<dyn Sink>, ComponentError>;

    /// Creates or upgrades the store's tables, collections, indexes and
    /// constraints; returns the versions of the migrations applied (None:
    /// the sink has no store).
    async fn migrate(&self) -> Result<Option<Vec<i64>>, ComponentError> {
        Ok(None)
    }

    /// The store's KOL scores, when analysts' tools can read them from it.
    fn kol_scores(&self) -> Option<&dyn KolScoreStore> {
        None
    }
}

/// A store that answers for the KOL scores a sink wrote.
#[async_trait]
pub trait KolScoreStore: Send + Sync {
    /// The author's newest score (None: the store holds none).
    async fn latest_kol_score(&self, author: &AuthorRef) -> Result<Option<KolScoreRecord>, ComponentError>;
}

/// Declares a crate's components, one line each:
/// `module => Variant(ConfigType),` (optionally behind `#[cfg(...)]`).
/// Each line declares `pub mod module;` (the component's folder) and a
/// variant of the generated enum, which a configuration's `type =
/// "module"` selects (serde-tagged, `deny_unknown_fields` on the config
/// types themselves); `component()` gives the variant's config as the
/// registry trait, `type_name()` its `type`.
#[macro_export]
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub enum $kind:ident: dyn $config_trait:path {
            $($(#[cfg($cfg:meta)])? $module:ident => $variant:ident($config:ident),)+
        }
    ) => {
        $($(#[cfg($cfg)])? pub mod $module;)+

        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum $kind {
            // A component behind a feature (tests' and benches' stages) is
            // not a production type: the configuration's schema leaves it out.
            $($(#[cfg($cfg)] #[schemars(skip)])? $variant(Box<$module::$config>),)+
        }

        impl $kind {
            /// The `type` of every registered component, in registry order.
            pub const TYPES: &'static [&'static str] = &[$($(#[cfg($cfg)])? stringify!($module),)+];

            /// This component's `type`.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($(#[cfg($cfg)])? $kind::$variant(_) => stringify!($module),)+
                }
            }

            /// This component's configuration, as the runtime uses it.
            pub fn component(&self) -> &dyn $config_trait {
                match self {
                    $($(#[cfg($cfg)])? $kind::$variant(config) => config.as_ref(),)+
                }
            }
        }
    };
}
