//! Where the last sweep of a newest-first, time-ordered listing ended: a
//! time and the ids read at it, so the next sweep skips exactly those
//! (the APIs' time filters are inclusive, and several items can share a
//! second).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The newest time read (the source's unit: seconds or milliseconds).
    pub at: Option<i64>,
    /// The ids read at that time.
    #[serde(default)]
    pub ids: Vec<String>,
}

impl Seen {
    /// Read already: older than the bound, or at it and listed.
    pub fn covers(&self, at: i64, id: &str) -> bool {
        self.at.is_some_and(|bound| at < bound || (at == bound && self.ids.iter().any(|i| i == id)))
    }

    /// Notes an item a sweep read, keeping the newest time and its ids.
    pub fn note(&mut self, at: i64, id: &str) {
        match self.at {
            Some(newest) if at < newest => {}
            Some(newest) if at == newest => self.ids.push(id.to_owned()),
            _ => (self.at, self.ids) = (Some(at), vec![id.to_owned()]),
        }
    }

    /// A finished sweep's newest becomes the bound (merged when it is the same time).
    pub fn advance(&mut self, sweep: Seen) {
        match (self.at, sweep.at) {
            (_, None) => {}
            (Some(bound), Some(at)) if bound == at => self.ids.extend(sweep.ids),
            _ => *self = sweep,
        }
    }
}

/// Where a paged, newest-first listing stands, committed with durable
/// output: what earlier sweeps read (the next sweep's lower bound) and the
/// sweep in progress (the token of its next page, and what it has read).
/// A restart continues the sweep; the next one skips what was read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepCursor {
    pub read: Seen,
    sweep: Option<SweepPage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SweepPage {
    /// The next page's token (Graph's `after` cursor, as its checkpoints named it).
    #[serde(alias = "after")]
    page_token: String,
    read: Seen,
}

impl SweepCursor {
    pub fn in_sweep(&self) -> bool {
        self.sweep.is_some()
    }

    /// The page to ask for, within a sweep.
    pub fn page_token(&self) -> Option<&str> {
        self.sweep.as_ref().map(|s| s.page_token.as_str())
    }

    /// What the sweep in progress has read (nothing at its start).
    pub fn sweep_read(&self) -> Seen {
        self.sweep.as_ref().map(|s| s.read.clone()).unwrap_or_default()
    }

    /// A page is taken, the sweep having read `read` so far: it goes on at
    /// `next`, or without one it ends and what it read becomes the bound.
    pub fn turn(&mut self, next: Option<&str>, read: Seen) {
        match next {
            Some(token) => self.sweep = Some(SweepPage { page_token: token.to_owned(), read }),
            None => {
                self.read.advance(read);
                self.sweep = None;
            }
        }
    }
}

/// When a daemon's next sweep may start.
#[derive(Debug, Default)]
pub(crate) struct Pause {
    next_sweep_at: i64,
}

/// Longest idle wait between calls, so the runner sees a shutdown.
const IDLE_STEP: std::time::Duration = std::time::Duration::from_secs(1);

impl Pause {
    /// A sweep ended: the next one starts `interval_secs` later.
    pub fn after_sweep(&mut self, clock: &dyn crate::http::Clock, interval_secs: u64) {
        self.next_sweep_at = clock.now_unix() + interval_secs as i64;
    }

    /// Waits (at most a second) while the next sweep is not due; true when it waited.
    pub async fn wait(&self, clock: &dyn crate::http::Clock) -> bool {
        let wait = self.next_sweep_at - clock.now_unix();
        if wait > 0 {
            clock.sleep(std::time::Duration::from_secs(wait as u64).min(IDLE_STEP)).await;
        }
        wait > 0
    }
}

/// A source's checkpoint, or its start when there is none.
pub fn decode_checkpoint<T: serde::de::DeserializeOwned + Default>(
    provider: &str,
    checkpoint: Option<serde_json::Value>,
) -> Result<T, socialpipe_schemas::ComponentError> {
    match checkpoint {
        Some(value) => serde_json::from_value(value)
            .map_err(|e| socialpipe_schemas::ComponentError::fatal(format!("{provider}: unreadable checkpoint: {e}"))),
        None => Ok(T::default()),
    }
}
