//! What every task of the runner shares (the configuration, the transport,
//! metrics, health, the abort flag), how a task ends, and `log_op!`, which
//! retries a log operation while the log is busy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use socialpipe_schemas::ComponentError;

use super::dead_letters::Limits;
use super::{Backoff, Flag};
use crate::config::Config;
use crate::runtime::telemetry::{ComponentState, Health, Kind, Metrics};
use crate::runtime::transport::{Consumer, Outgoing, Position, Transport};

/// Runs a log operation (an expression yielding a future), retrying it while
/// the log is busy or unavailable (another process's transaction, a full
/// disk, brokers away), with the task's components `retrying` meanwhile;
/// other errors stop the task. A macro so the operation may borrow a
/// consumer mutably each time.
macro_rules! log_op {
    ($ctx:expr, $what:expr, $op:expr) => {{
        let mut backoff = $crate::runtime::runner::Backoff::new(&$ctx.config.runtime.retry);
        let mut abort = $ctx.abort.clone();
        // The components' states before the first retry, put back after.
        let mut before = None;
        loop {
            match $op.await {
                Ok(value) => {
                    if let Some(before) = before {
                        $ctx.recovered(before);
                    }
                    break Ok(value);
                }
                Err(e) if e.domain() == socialpipe_schemas::ErrorDomain::Transient => {
                    tracing::warn!(operation = $what, error = %e, "log unavailable; retrying");
                    before.get_or_insert_with(|| $ctx.states());
                    $ctx.retrying(&format!("{}: {e}", $what));
                    if !backoff.wait(&mut abort).await {
                        break Err($crate::runtime::runner::Stop::Aborted);
                    }
                }
                Err(e) => break Err($crate::runtime::runner::Stop::Failed(format!("{}: {e}", $what))),
            }
        }
    }};
}
pub(crate) use log_op;

/// How often a busy consumer publishes its lag (an idle one checks it on every poll).
const LAG_INTERVAL: Duration = Duration::from_secs(1);

/// Why a task ended early.
#[derive(Clone)]
pub(crate) enum Stop {
    /// The shutdown deadline passed; uncommitted work stays in the log.
    Aborted,
    /// A fatal error: this component stops, the others run on.
    Failed(String),
}

/// What every task shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub config: Arc<Config>,
    pub transport: Arc<dyn Transport>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub abort: Flag,
    /// The components of the task holding this context (a chain has several):
    /// their readiness says when the task's log operations are retried.
    pub components: Arc<[String]>,
}

impl Context {
    /// A context of its own on `transport`, for tests of one task.
    #[cfg(test)]
    pub fn for_test(config: Config, transport: impl Transport + 'static) -> Context {
        Context {
            config: Arc::new(config),
            transport: Arc::new(transport),
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::default()),
            abort: Flag::new().1,
            components: Arc::from([]),
        }
    }

    /// This context for the task running `components`.
    pub fn for_components(&self, components: impl IntoIterator<Item = String>) -> Context {
        Context { components: components.into_iter().collect(), ..self.clone() }
    }

    /// A transient failure is being retried: not ready meanwhile.
    pub fn retrying(&self, reason: &str) {
        for component in self.components.iter() {
            self.health.set(component, ComponentState::Retrying(reason.to_owned()));
        }
    }

    /// The states of this task's components.
    pub fn states(&self) -> Vec<ComponentState> {
        let all = self.health.snapshot();
        self.components.iter().map(|c| all.get(c).cloned().unwrap_or(ComponentState::Starting)).collect()
    }

    /// The retried operation succeeded: the components are as they were
    /// before (unless something else changed them meanwhile).
    pub fn recovered(&self, before: Vec<ComponentState>) {
        for (component, state) in self.components.iter().zip(before) {
            self.health.replace_retrying(component, state);
        }
    }

    /// How large dead letters may grow (see `Limits`).
    pub fn dead_letter_limits(&self) -> Limits {
        Limits { original: self.config.runtime.max_dlq_payload_bytes, message: self.transport.max_message_bytes() }
    }

    /// Appends durably (see `log_op!`).
    pub async fn send(&self, topic: &str, messages: Vec<Outgoing>) -> Result<(), Stop> {
        log_op!(self, "writing to the log", self.transport.send(topic, messages.clone()))
    }

    /// Reads a consumer's lag, publishes it per partition, returns the total.
    /// (On Kafka this asks the brokers: callers do it when idle.)
    pub async fn observe_lag(&self, group: &str, consumer: &mut dyn Consumer) -> Result<u64, Stop> {
        let lag = log_op!(self, "reading lag", consumer.lag())?;
        Ok(self.set_lag(group, &lag))
    }

    /// After each poll: publishes the lag the consumer knows without asking the
    /// brokers, when `LAG_INTERVAL` has passed since `last`.
    pub async fn publish_lag(&self, group: &str, consumer: &mut dyn Consumer, last: &mut Instant) -> Result<(), Stop> {
        if last.elapsed() >= LAG_INTERVAL {
            let lag = log_op!(self, "reading lag", consumer.recent_lag())?;
            self.set_lag(group, &lag);
            *last = Instant::now();
        }
        Ok(())
    }

    fn set_lag(&self, group: &str, lag: &[(Position, u64)]) -> u64 {
        for (position, lag) in lag {
            let partition = position.partition.to_string();
            self.metrics.lag.with_label_values(&[group, &position.topic, &partition]).set(*lag as i64);
        }
        lag.iter().map(|(_, l)| l).sum()
    }

    /// Counts and logs a transient failure of a component, then waits out
    /// the backoff; false when the shutdown deadline passed meanwhile.
    pub async fn back_off(&self, component: &str, kind: Kind, error: &ComponentError, backoff: &mut Backoff) -> bool {
        self.metrics.errors.with_label_values(&[component, kind.as_str(), "transient"]).inc();
        tracing::warn!(component, kind = kind.as_str(), error = %error.reason, "transient failure; retrying");
        backoff.wait(&mut self.abort.clone()).await
    }

    /// Records how a task ended in health (and the log).
    pub fn finish(&self, component: &str, kind: Kind, result: Result<(), Stop>) {
        match result {
            Ok(()) | Err(Stop::Aborted) => self.health.set(component, ComponentState::Finished),
            Err(Stop::Failed(reason)) => {
                tracing::error!(component, kind = kind.as_str(), %reason, "component stopped");
                self.metrics.errors.with_label_values(&[component, kind.as_str(), "fatal"]).inc();
                self.health.set(component, ComponentState::Failed(reason));
            }
        }
    }
}
