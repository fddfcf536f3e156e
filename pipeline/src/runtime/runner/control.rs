//! Shutdown and completion signals shared by the runner's tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::RetryConfig;

/// Set once and never cleared: "sources stop now", "give up draining now".
#[derive(Clone)]
pub struct Flag(watch::Receiver<bool>);

impl Flag {
    pub fn new() -> (watch::Sender<bool>, Flag) {
        let (tx, rx) = watch::channel(false);
        (tx, Flag(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait(&mut self) {
        // A flag whose setter is gone can never be set: wait forever.
        if self.0.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Counts down as the members of one layer of the topology (its sources,
/// its stage workers) finish; the next layer drains and stops once it is done.
pub struct Layer {
    remaining: AtomicUsize,
    done: watch::Sender<bool>,
}

impl Layer {
    pub fn new(members: usize) -> Arc<Layer> {
        let (done, _) = watch::channel(members == 0);
        Arc::new(Layer { remaining: AtomicUsize::new(members), done })
    }

    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    /// A guard that marks one member finished when dropped (even by a panic).
    pub fn member(self: &Arc<Self>) -> LayerMember {
        LayerMember(Arc::clone(self))
    }
}

pub struct LayerMember(Arc<Layer>);

impl Drop for LayerMember {
    fn drop(&mut self) {
        if self.0.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.send_replace(true);
        }
    }
}

/// Exponential backoff with jitter (each delay is uniformly in [d/2, d]).
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: &RetryConfig) -> Self {
        Backoff {
            initial: Duration::from_millis(config.initial_backoff_ms.max(1)),
            max: Duration::from_millis(config.max_backoff_ms.max(1)),
            attempt: 0,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        self.attempt += 1;
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        half + Duration::from_nanos(fastrand::u64(0..=(full - half).as_nanos() as u64))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Waits the next delay; false when `abort` was set meanwhile.
    pub async fn wait(&mut self, abort: &mut Flag) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => !abort.is_set(),
            _ = abort.wait() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(&RetryConfig { initial_backoff_ms: 100, max_backoff_ms: 1000, max_attempts: 3 });
        let delays: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        for (delay, full) in delays.iter().zip([100, 200, 400, 800, 1000, 1000]) {
            assert!((full / 2..=full).contains(delay), "{delays:?}");
        }
        b.reset();
        assert!(b.next_delay().as_millis() <= 100);
    }

    #[test]
    fn a_layer_is_done_when_its_last_member_finishes() {
        let layer = Layer::new(2);
        let (a, b) = (layer.member(), layer.member());
        drop(a);
        assert!(!layer.is_done());
        drop(b);
        assert!(layer.is_done());
        assert!(Layer::new(0).is_done());
    }
}
