//! Which authors are idle: the keyed state's authors per partition, ordered
//! by when they were last active in event time, so the stage finds the ones
//! idle past `evict_idle_days` without scanning every key. A partition's
//! clock is its newest post (its author is never evicted itself): a roster
//! row keeps its own author active but moves no clock, since a roster is
//! dated when its file was written, which in a backfill is long after the
//! posts. The index is derived from the state alone: rebuilt when the
//! runner restores or drops keys, it decides exactly as before the restart.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use socialpipe_schemas::{Generation, KeyedState};

use super::window::AuthorState;

/// When an author was last active (its newest post or roster row), and its
/// newest post, if it has one (ms of event time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub last: i64,
    pub post: Option<i64>,
}

pub struct IdleIndex {
    idle_ms: i64,
    /// The state generation the index describes (None: none yet).
    generation: Option<Generation>,
    /// Per partition: (last active, ms; key), oldest first.
    partitions: BTreeMap<u32, BTreeSet<(i64, String)>>,
    /// Per partition: (newest post, ms; key) of the authors with posts; the
    /// last one is the partition's clock.
    clocks: BTreeMap<u32, BTreeSet<(i64, String)>>,
}

impl IdleIndex {
    pub fn new(idle_ms: i64) -> Self {
        IdleIndex { idle_ms, generation: None, partitions: BTreeMap::new(), clocks: BTreeMap::new() }
    }

    /// Whether the runner loaded or dropped keys since the index was built.
    pub fn is_stale(&self, state: &KeyedState) -> bool {
        self.generation != Some(state.generation())
    }

    pub fn rebuild(&mut self, state: &KeyedState) {
        self.partitions.clear();
        self.clocks.clear();
        for key in state.keys() {
            // An unreadable window stays out: the stage refuses the author's
            // next record rather than emit or drop what it cannot read.
            if let Ok(Some(author)) = state.decode::<AuthorState>(key) {
                self.update(state.partition_of(key), key, None, Some(author.activity()));
            }
        }
        self.generation = Some(state.generation());
    }

    /// Moves `key`'s entries from `from` to `to` (None: not in the state).
    pub fn update(&mut self, partition: u32, key: &str, from: Option<Activity>, to: Option<Activity>) {
        if from == to {
            return;
        }
        let entries = self.partitions.entry(partition).or_default();
        if let Some(from) = from {
            entries.remove(&(from.last, key.to_owned()));
        }
        if let Some(to) = to {
            entries.insert((to.last, key.to_owned()));
        }
        let clocks = self.clocks.entry(partition).or_default();
        if let Some(post) = from.and_then(|f| f.post) {
            clocks.remove(&(post, key.to_owned()));
        }
        if let Some(post) = to.and_then(|t| t.post) {
            clocks.insert((post, key.to_owned()));
        }
    }

    /// Authors of `partition` last active before this are idle: its clock
    /// less the idle span (None: no post yet, no one is idle).
    fn idle_before(&self, partition: u32) -> Option<i64> {
        let clock = self.clocks.get(&partition)?.last()?.0;
        Some(clock.saturating_sub(self.idle_ms))
    }

    /// An author last active at `active` is idle in its partition now.
    pub fn is_idle(&self, partition: u32, active: i64) -> bool {
        self.idle_before(partition).is_some_and(|t| active < t)
    }

    /// Takes the idle authors out of the index, partition by partition,
    /// oldest first.
    pub fn take_idle(&mut self) -> Vec<String> {
        let mut idle = Vec::new();
        let partitions: Vec<u32> = self.partitions.keys().copied().collect();
        for partition in partitions {
            let Some(before) = self.idle_before(partition) else { continue };
            let entries = self.partitions.get_mut(&partition).expect("a known partition");
            let first = idle.len();
            while entries.first().is_some_and(|(active, _)| *active < before) {
                idle.extend(entries.pop_first().map(|(_, key)| key));
            }
            if idle.len() > first {
                let gone: HashSet<&String> = idle[first..].iter().collect();
                if let Some(clocks) = self.clocks.get_mut(&partition) {
                    clocks.retain(|(_, key)| !gone.contains(key));
                }
            }
        }
        idle
    }
}
