//! Time for the API sources, injectable: rate-limit and backoff tests run
//! against a clock that advances when slept on, without waiting (a paused
//! tokio clock does not mix with real sockets).

use std::time::Duration;

#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
    async fn sleep(&self, duration: Duration);
}

/// The wall clock and tokio's timer.
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// A test clock: sleeping advances it at once and is recorded.
#[cfg(test)]
pub struct ManualClock {
    now_ms: std::sync::atomic::AtomicI64,
    pub slept: std::sync::Mutex<Vec<Duration>>,
}

#[cfg(test)]
impl ManualClock {
    pub fn at(unix: i64) -> Self {
        ManualClock { now_ms: std::sync::atomic::AtomicI64::new(unix * 1000), slept: Default::default() }
    }

    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }
}

#[cfg(test)]
#[async_trait::async_trait]
impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        self.slept.lock().unwrap().push(duration);
        self.now_ms.fetch_add(duration.as_millis() as i64, std::sync::atomic::Ordering::SeqCst);
    }
}
