//! The component traits. Sources produce envelopes with a resume checkpoint;
//! processors map a batch to a batch with per-record errors; sinks write a
//! batch durably and idempotently (upsert by id) before they return.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

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
///
/// Its size is cheap to ask at any time ([`len`](Self::len),
/// [`text_bytes`](Self::text_bytes)): the runner publishes it as metrics.
#[derive(Debug, Default)]
pub struct KeyedState {
    values: HashMap<String, Box<RawValue>>,
    changed: HashSet<String>,
    /// Of the keys and values held, kept up to date as they change.
    text_bytes: usize,
    partitioner: Option<Partitioner>,
    generation: Generation,
}

/// The runner's partition of a key.
struct Partitioner(Box<dyn Fn(&str) -> u32 + Send + Sync>);

impl fmt::Debug for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Partitioner")
    }
}

/// Names what a [`KeyedState`] holds as far as its stage knows: a new one
/// for every state, and whenever the runner loads or drops keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl Default for Generation {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Generation(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl KeyedState {
    /// A state whose keys the runner spreads over partitions with
    /// `partition_of` (the input's partitioner): a stage that keeps a clock
    /// per partition sees the runner's partitions through
    /// [`partition_of`](Self::partition_of).
    pub fn partitioned(partition_of: impl Fn(&str) -> u32 + Send + Sync + 'static) -> Self {
        KeyedState { partitioner: Some(Partitioner(Box::new(partition_of))), ..Default::default() }
    }

    /// The runner's partition of `key` (0 for every key of a state made
    /// without [`partitioned`](Self::partitioned)). A partition's records
    /// reach the stage in their input order, whatever the batches, and its
    /// keys are restored and dropped together: what a stage derives from one
    /// partition alone is the same however partitions interleave in batches
    /// or move between workers.
    pub fn partition_of(&self, key: &str) -> u32 {
        self.partitioner.as_ref().map_or(0, |p| (p.0)(key))
    }

    /// Changes when keys come or go other than through `set`, `encode` or
    /// `remove` (the runner restored or dropped a partition's keys), and
    /// differs between two states: a stage that keeps an index over its
    /// state rebuilds it when this is not what it last saw.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.values.get(key).map(|v| &**v)
    }

    /// The key's value decoded as `T` (None: the key has no value).
    pub fn decode<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        self.get(key).map(|raw| serde_json::from_str(raw.get())).transpose()
    }

    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        self.changed.insert(key.to_owned());
        self.put(key.to_owned(), value);
    }

    /// Stores `value` as JSON.
    pub fn encode(&mut self, key: &str, value: &impl Serialize) {
        self.set(key, serde_json::value::to_raw_value(value).expect("state values always serialise"));
    }

    /// Forgets the key; the changes then say it was removed (`None`), so a
    /// restore does not bring it back.
    pub fn remove(&mut self, key: &str) {
        if self.take(key) {
            self.changed.insert(key.to_owned());
        }
    }

    /// Restores a value (not a change).
    pub fn load(&mut self, key: String, value: Option<Box<RawValue>>) {
        match value {
            Some(value) => self.put(key, value),
            None => {
                self.take(&key);
            }
        }
        self.generation = Generation::default();
    }

    /// Forgets the keys `drop` selects (their partition moved elsewhere).
    pub fn unload(&mut self, mut drop: impl FnMut(&str) -> bool) {
        let mut dropped = 0;
        self.values.retain(|key, value| {
            let keep = !drop(key);
            if !keep {
                dropped += key.len() + value.get().len();
            }
            keep
        });
        self.text_bytes -= dropped;
        self.changed.retain(|key| !drop(key));
        self.generation = Generation::default();
    }

    fn put(&mut self, key: String, value: Box<RawValue>) {
        let key_len = key.len();
        self.text_bytes += key_len + value.get().len();
        if let Some(old) = self.values.insert(key, value) {
            self.text_bytes -= key_len + old.get().len();
        }
    }

    /// Removes the key's value; whether it had one.
    fn take(&mut self, key: &str) -> bool {
        let Some(old) = self.values.remove(key) else { return false };
        self.text_bytes -= key.len() + old.get().len();
        true
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

    /// Bytes of JSON text held, keys and values: what the changelog holds
    /// for them. Resident memory is larger by the map and the allocator's
    /// share (decision 007 measured 4.9 KB resident for 1.9 KB of text).
    /// Kept as values change, so asking costs nothing.
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// The number of keys held.
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

#[cfg(test)]
mod tests {
    use serde_json::value::to_raw_value;

    use super::*;

    #[test]
    fn keyed_state_reports_its_keys_and_text_bytes_as_values_come_change_and_go() {
        let mut state = KeyedState::default();
        state.encode("ann", &"x".repeat(10)); // "xxxxxxxxxx": 12 bytes of JSON
        state.encode("bo", &[1, 2]); // [1,2]: 5
        assert_eq!((state.len(), state.text_bytes()), (2, 3 + 12 + 2 + 5));
        state.encode("bo", &7);
        assert_eq!((state.len(), state.text_bytes()), (2, 3 + 12 + 2 + 1));
        state.remove("ann");
        state.remove("nobody");
        assert_eq!((state.len(), state.text_bytes()), (1, 2 + 1));
        state.load("cy".into(), Some(to_raw_value(&true).unwrap()));
        state.load("bo".into(), None);
        assert_eq!((state.len(), state.text_bytes()), (1, 2 + 4));
        state.unload(|key| key == "cy");
        assert_eq!((state.len(), state.text_bytes()), (0, 0));
        let all: usize = state.keys().map(|k| k.len() + state.get(k).unwrap().get().len()).sum();
        assert_eq!(all, state.text_bytes());
    }

    #[test]
    fn keyed_state_tells_a_keys_partition_and_when_the_runner_loaded_or_dropped_keys() {
        let mut state = KeyedState::partitioned(|key| key.len() as u32 % 3);
        assert_eq!((state.partition_of("ab"), state.partition_of("abcd")), (2, 1));
        assert_eq!(KeyedState::default().partition_of("ab"), 0, "one partition unless told");
        assert_ne!(KeyedState::default().generation(), KeyedState::default().generation());

        let seen = state.generation();
        state.encode("ab", &1);
        state.remove("ab");
        state.take_changes();
        assert_eq!(state.generation(), seen, "the stage's own changes");
        state.load("ab".into(), Some(to_raw_value(&1).unwrap()));
        let loaded = state.generation();
        assert_ne!(loaded, seen);
        state.unload(|_| true);
        assert_ne!(state.generation(), loaded);
    }
}
