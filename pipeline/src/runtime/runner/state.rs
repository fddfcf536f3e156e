//! Keyed state of a chain's stateful stages. It follows the input
//! partitions: a partition's keys are restored from the changelog when the
//! worker first sees the partition and dropped when the group takes it away.
//!
//! After each batch (once its output is durable, before the input commit)
//! the changelog gets, per input partition, the changed keys and then a
//! marker with the input offset the batch reached. Restoring applies entries
//! only up to the last marker (a batch cut short by a crash counts as not
//! done), and the worker then skips input below the marker: its output is
//! durable, its effect on state is restored, only the commit was lost.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use socialpipe_schemas::KeyedState;

use super::{Context, Stop, log_op};
use crate::runtime::chain::Stage;
use crate::runtime::transport::{Message, Outgoing, Position, partition_for};

/// Messages per changelog read.
const RESTORE_BATCH: usize = 10_000;

/// A changelog message: a key's value in a stage (`value: null` removes
/// it), or a marker: input of this partition before `done` is processed and
/// its state is above. One flat shape (not an untagged enum), so a value
/// stays the stage's JSON text, never parsed by the runner.
#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<u64>,
}

pub(crate) struct ChainState {
    /// Per stage of the chain: its name and state, when it keeps one.
    stages: Vec<Option<(String, KeyedState)>>,
    /// Per stage: the size last added to the metrics (keys, bytes), so that
    /// the chain workers of a process add up.
    published: Vec<(i64, i64)>,
    changelog: String,
    partitions: u32,
    /// Loaded input partitions and the input offset their last marker says is done.
    loaded: HashMap<u32, u64>,
}

impl ChainState {
    pub fn new(ctx: &Context, chain: &[Stage]) -> Self {
        let partitions = ctx.config.topics.partitions;
        // A stage may keep per-partition bookkeeping (the kol stage's idle
        // clock): it learns a key's partition as the runner computes it.
        let state = || KeyedState::partitioned(move |key| partition_for(key, partitions));
        let stages: Vec<_> = chain.iter().map(|s| s.keyed.then(|| (s.name.clone(), state()))).collect();
        ChainState {
            published: vec![(0, 0); stages.len()],
            stages,
            changelog: ctx.config.routes().changelog_topic(),
            partitions: ctx.config.topics.partitions,
            loaded: HashMap::new(),
        }
    }

    fn is_stateless(&self) -> bool {
        self.stages.iter().all(Option::is_none)
    }

    pub fn of(&mut self, stage: usize) -> Option<&mut KeyedState> {
        self.stages[stage].as_mut().map(|(_, state)| state)
    }

    /// Forgets partitions the group moved to another member.
    pub fn unload(&mut self, revoked: &[(String, u32)]) {
        for (_, partition) in revoked {
            if self.loaded.remove(partition).is_none() {
                continue;
            }
            let partitions = self.partitions;
            for (_, state) in self.stages.iter_mut().flatten() {
                state.unload(|key| partition_for(key, partitions) == *partition);
            }
        }
    }

    /// Restores the partitions of `messages` seen for the first time, then
    /// drops messages their previous owner already finished.
    pub async fn load_and_skip_done(&mut self, ctx: &Context, messages: &mut Vec<Message>) -> Result<(), Stop> {
        if self.is_stateless() {
            return Ok(());
        }
        // The first offset seen per new partition: where the group's commit stands.
        let mut new: BTreeMap<u32, u64> = BTreeMap::new();
        for m in messages.iter().filter(|m| !self.loaded.contains_key(&m.partition)) {
            let first = new.entry(m.partition).or_insert(m.offset);
            *first = (*first).min(m.offset);
        }
        self.load(ctx, new).await?;
        let before = messages.len();
        messages.retain(|m| m.offset >= self.loaded[&m.partition]);
        if messages.len() < before {
            tracing::info!(
                skipped = before - messages.len(),
                "skipped input a previous owner finished but did not commit"
            );
        }
        Ok(())
    }

    /// Loads the partitions the worker owns (`owned`: its read positions, as
    /// `Consumer::lag` gives them) but has not loaded: no message of theirs
    /// came since they moved here. At the end of input, so `finish` emits
    /// what their authors held back.
    pub async fn load_owned(&mut self, ctx: &Context, owned: &[(Position, u64)]) -> Result<(), Stop> {
        if self.is_stateless() {
            return Ok(());
        }
        let mut new: BTreeMap<u32, u64> = BTreeMap::new();
        for (position, _) in owned.iter().filter(|(p, _)| !self.loaded.contains_key(&p.partition)) {
            new.entry(position.partition).or_insert(position.next_offset);
        }
        self.load(ctx, new).await
    }

    /// Restores each partition of `new` (partition -> the group's committed offset).
    async fn load(&mut self, ctx: &Context, new: BTreeMap<u32, u64>) -> Result<(), Stop> {
        for (partition, committed) in new {
            let done = self.restore(ctx, partition, committed).await?;
            self.loaded.insert(partition, done);
        }
        Ok(())
    }

    /// Applies the partition's changelog up to its last marker and returns
    /// the input offset that marker says is done. Input up to `committed`
    /// was committed after its marker was written, so a marker short of it
    /// means the changelog read was incomplete: said loudly, not hidden.
    async fn restore(&mut self, ctx: &Context, partition: u32, committed: u64) -> Result<u64, Stop> {
        let mut done = 0;
        let mut pending: Vec<(String, String, Option<Box<RawValue>>)> = Vec::new();
        let mut offset = 0;
        let mut restored = 0usize;
        loop {
            let messages = log_op!(
                ctx,
                "reading the state changelog",
                ctx.transport.read(&self.changelog, partition, offset, RESTORE_BATCH)
            )?;
            let Some(last) = messages.last() else { break };
            offset = last.offset + 1;
            for m in &messages {
                match serde_json::from_slice::<Entry>(&m.value) {
                    Ok(Entry { stage: Some(stage), key: Some(key), value, done: None }) => {
                        pending.push((stage, key, value))
                    }
                    Ok(Entry { stage: None, key: None, value: None, done: Some(marker) }) => {
                        for (stage, key, value) in pending.drain(..) {
                            if let Some((_, state)) = self.stages.iter_mut().flatten().find(|(name, _)| *name == stage)
                            {
                                state.load(key, value);
                                restored += 1;
                            }
                        }
                        done = marker;
                    }
                    Ok(_) => {
                        return Err(Stop::Failed(format!(
                            "state changelog {}[{partition}] offset {}: neither a value nor a marker",
                            self.changelog, m.offset
                        )));
                    }
                    Err(e) => {
                        return Err(Stop::Failed(format!(
                            "state changelog {}[{partition}] offset {}: {e}",
                            self.changelog, m.offset
                        )));
                    }
                }
            }
        }
        if done < committed {
            tracing::warn!(
                partition,
                done,
                committed,
                "the state changelog ends before the committed input (the broker reported a short end offset, \
                 or the stage was added after input was committed): state misses what came in between"
            );
        }
        tracing::info!(partition, restored, done, committed, "restored keyed state");
        Ok(done)
    }

    /// Publishes how much state each stateful stage holds.
    pub fn publish_size(&mut self, ctx: &Context) {
        for ((name, state), published) in
            self.stages.iter().zip(&mut self.published).filter_map(|(s, p)| Some((s.as_ref()?, p)))
        {
            let now = (state.len() as i64, state.text_bytes() as i64);
            ctx.metrics.state_keys.with_label_values(&[name]).add(now.0 - published.0);
            ctx.metrics.state_bytes.with_label_values(&[name]).add(now.1 - published.1);
            *published = now;
        }
    }

    /// Appends what the batch changed, then per partition a marker at `positions`.
    pub async fn persist(&mut self, ctx: &Context, positions: &[Position]) -> Result<(), Stop> {
        if self.is_stateless() {
            return Ok(());
        }
        for p in positions {
            self.loaded.insert(p.partition, p.next_offset);
        }
        let markers: Vec<(u32, u64)> = positions.iter().map(|p| (p.partition, p.next_offset)).collect();
        self.write_changes(ctx, &markers).await
    }

    /// The input is done: each stateful stage emits what it held back and
    /// records that; the changes go to the changelog under a marker that
    /// repeats where each loaded partition stands (no new input is done).
    pub fn finish(&mut self, chain: &mut [Stage]) -> Vec<socialpipe_schemas::Envelope> {
        let mut emitted = Vec::new();
        for (stage, state) in chain.iter_mut().zip(&mut self.stages) {
            if let Some((_, state)) = state {
                stage.processor.finish(state);
                emitted.extend(stage.processor.take_emitted());
            }
        }
        emitted
    }

    /// Writes the changes of `finish` (after its records are durable).
    pub async fn persist_finish(&mut self, ctx: &Context) -> Result<(), Stop> {
        if self.is_stateless() {
            return Ok(());
        }
        let markers: Vec<(u32, u64)> = self.loaded.iter().map(|(&p, &done)| (p, done)).collect();
        self.write_changes(ctx, &markers).await
    }

    async fn write_changes(&mut self, ctx: &Context, markers: &[(u32, u64)]) -> Result<(), Stop> {
        let mut by_partition: BTreeMap<u32, Vec<Outgoing>> = BTreeMap::new();
        for (stage, state) in self.stages.iter_mut().flatten() {
            for (key, value) in state.take_changes() {
                let partition = partition_for(&key, self.partitions);
                let message = Outgoing {
                    partition: Some(partition),
                    ..Outgoing::new(format!("{stage}/{key}"), changelog_bytes(Some(stage), Some(key), value, None))
                };
                by_partition.entry(partition).or_default().push(message);
            }
        }
        for &(partition, done) in markers {
            let marker = Outgoing {
                partition: Some(partition),
                ..Outgoing::new("done".to_owned(), changelog_bytes(None, None, None, Some(done)))
            };
            by_partition.entry(partition).or_default().push(marker);
        }
        ctx.send(&self.changelog, by_partition.into_values().flatten().collect()).await
    }
}

fn changelog_bytes(
    stage: Option<&str>,
    key: Option<String>,
    value: Option<Box<RawValue>>,
    done: Option<u64>,
) -> Vec<u8> {
    let entry = Entry { stage: stage.map(str::to_owned), key, value, done };
    serde_json::to_vec(&entry).expect("json")
}
