//! Which authors are idle: the keyed state's authors per partition, ordered
//! by when they were last active in event time, so the stage finds the ones
//! idle past `evict_idle_days` without scanning every key. A partition's
//! clock is its most recently active author (never evicted itself), so the
//! index is derived from the state alone: rebuilt when the runner restores
//! or drops keys, it decides exactly as before the restart.

use std::collections::{BTreeMap, BTreeSet};

use socialpipe_schemas::{Generation, KeyedState};

use super::window::AuthorState;

pub struct IdleIndex {
    idle_ms: i64,
    /// The state generation the index describes (None: none yet).
    generation: Option<Generation>,
    /// Per partition: (last active, ms; key), oldest first.
    partitions: BTreeMap<u32, BTreeSet<(i64, String)>>,
}

impl IdleIndex {
    pub fn new(idle_ms: i64) -> Self {
        IdleIndex { idle_ms, generation: None, partitions: BTreeMap::new() }
    }

    /// Whether the runner loaded or dropped keys since the index was built.
    pub fn is_stale(&self, state: &KeyedState) -> bool {
        self.generation != Some(state.generation())
    }

    pub fn rebuild(&mut self, state: &KeyedState) {
        self.partitions.clear();
        for key in state.keys() {
            // An unreadable window stays out: the stage refuses the author's
            // next record rather than emit or drop what it cannot read.
            if let Ok(Some(author)) = state.decode::<AuthorState>(key) {
                self.update(state.partition_of(key), key, None, Some(author.last_active()));
            }
        }
        self.generation = Some(state.generation());
    }

    /// Moves `key`'s entry from `from` to `to` (None: not in the state).
    pub fn update(&mut self, partition: u32, key: &str, from: Option<i64>, to: Option<i64>) {
        if from == to {
            return;
        }
        let entries = self.partitions.entry(partition).or_default();
        if let Some(from) = from {
            entries.remove(&(from, key.to_owned()));
        }
        if let Some(to) = to {
            entries.insert((to, key.to_owned()));
        }
    }

    /// An author last active at `active` is idle in its partition now.
    pub fn is_idle(&self, partition: u32, active: i64) -> bool {
        self.partitions.get(&partition).and_then(|entries| idle_before(entries, self.idle_ms)).is_some_and(|t| active < t)
    }

    /// Takes the idle authors out of the index, partition by partition,
    /// oldest first.
    pub fn take_idle(&mut self) -> Vec<String> {
        let mut idle = Vec::new();
        for entries in self.partitions.values_mut() {
            let Some(before) = idle_before(entries, self.idle_ms) else { continue };
            while entries.first().is_some_and(|(active, _)| *active < before) {
                idle.extend(entries.pop_first().map(|(_, key)| key));
            }
        }
        idle
    }
}

/// Authors of a partition last active before this are idle: the clock (the
/// latest activity) less the idle span.
fn idle_before(entries: &BTreeSet<(i64, String)>, idle_ms: i64) -> Option<i64> {
    entries.last().map(|(clock, _)| clock.saturating_sub(idle_ms))
}
