//! The stage runner. Sources write to the log and checkpoint after the write;
//! the stage chain reads a batch, enriches it, writes the results and dead
//! letters, then commits; sinks batch, write durably, then commit. So every
//! hop is at-least-once and idempotent sinks hide redelivery. Every queue is
//! a bounded batch: a slow sink slows its consumer, never memory.

/// Runs a log operation (an expression yielding a future), retrying it while
/// the log is busy (another process's transaction); other errors stop the
/// task. A macro so the operation may borrow a consumer mutably each time.
macro_rules! log_op {
    ($ctx:expr, $what:expr, $op:expr) => {{
        let mut backoff = $crate::runner::Backoff::new(&$ctx.config.runtime.retry);
        let mut abort = $ctx.abort.clone();
        loop {
            match $op.await {
                Ok(value) => break Ok(value),
                Err(e) if e.domain() == socialpipe_schemas::ErrorDomain::Transient => {
                    tracing::warn!(operation = $what, error = %e, "log busy; retrying");
                    if !backoff.wait(&mut abort).await {
                        break Err($crate::runner::Stop::Aborted);
                    }
                }
                Err(e) => break Err($crate::runner::Stop::Failed(format!("{}: {e}", $what))),
            }
        }
    }};
}

mod control;
pub mod dead_letters;
mod sink_task;
mod source_task;
mod stage_task;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use socialpipe_schemas::ComponentError;

use crate::config::{Config, TransportConfig};
use crate::telemetry::{ComponentCounts, ComponentState, Health, Kind, Metrics};
use crate::transport::embedded::EmbeddedLog;
use crate::transport::kafka::KafkaTransport;
use crate::transport::{Consumer, Outgoing, Transport, TransportError};
pub use control::{Backoff, Flag, Tier};

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Process the input available at start, flush, commit, exit.
    pub once: bool,
    /// Which parts of the topology this process runs (all by default).
    pub only: Roles,
}

/// Parts of a topology, so ingest and workers can scale separately
/// (`run --only sources` on one machine, `--only stages,sinks` on many).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub sources: bool,
    pub stages: bool,
    pub sinks: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles { sources: true, stages: true, sinks: true }
    }
}

impl std::str::FromStr for Roles {
    type Err = String;

    /// A comma-separated list of `sources`, `stages`, `sinks`.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut roles = Roles { sources: false, stages: false, sinks: false };
        for part in text.split(',').map(str::trim) {
            match part {
                "sources" => roles.sources = true,
                "stages" => roles.stages = true,
                "sinks" => roles.sinks = true,
                other => return Err(format!("unknown part {other:?} (expected sources, stages, sinks)")),
            }
        }
        Ok(roles)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Counters per component, by name.
    pub components: BTreeMap<String, ComponentCounts>,
    /// Components that stopped on a fatal error, with the reason.
    pub failures: Vec<(String, String)>,
    /// False when the shutdown deadline cut draining short (the rest stays in the log).
    pub drained: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("{component}: {error}")]
    Component { component: String, error: ComponentError },
    #[error("http: cannot listen on {listen}: {error}")]
    Http { listen: String, error: std::io::Error },
}

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
}

impl Context {
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

    fn set_lag(&self, group: &str, lag: &[(crate::transport::Position, u64)]) -> u64 {
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

/// The configured transport.
pub struct Opened {
    pub transport: Arc<dyn Transport>,
    /// The embedded log itself when it is one (retention runs on it).
    pub embedded: Option<Arc<EmbeddedLog>>,
}

pub fn open_transport(config: &Config) -> Result<Opened, TransportError> {
    Ok(match &config.transport {
        TransportConfig::Embedded(c) => {
            let log = Arc::new(EmbeddedLog::open(c)?);
            Opened { transport: log.clone(), embedded: Some(log) }
        }
        TransportConfig::Kafka(c) => Opened { transport: Arc::new(KafkaTransport::connect(c)?), embedded: None },
    })
}

/// Creates every topic the configuration writes, dead-letter topics included.
pub async fn create_topics(config: &Config, transport: &dyn Transport) -> Result<(), TransportError> {
    let names = config
        .sources
        .keys()
        .cloned()
        .chain(config.stages.iter().map(|s| s.name()))
        .chain(config.sinks.keys().cloned());
    let changelogs = config.stages.iter().any(|s| s.kind.keeps_state()).then(|| config.changelog_topic());
    let topics =
        config.produced_topics().into_iter().chain(names.map(|n| config.topics.dlq_topic(&n))).chain(changelogs);
    for topic in topics {
        transport.create_topic(&topic, config.topics.partitions).await?;
    }
    Ok(())
}

/// Runs the topology until the input is done (`--once`) or `shutdown`
/// completes, then drains within the configured deadline.
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<RunReport, RunError> {
    if options.once {
        config.check_once().map_err(RunError::Config)?;
    }
    let Opened { transport, embedded } = open_transport(&config)?;
    create_topics(&config, &*transport).await?;
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let (stop_tx, stop_sources) = Flag::new();
    let (abort_tx, abort) = Flag::new();
    let ctx = Context {
        config: Arc::clone(&config),
        transport,
        metrics: Arc::clone(&metrics),
        health: Arc::clone(&health),
        abort,
    };

    // Build everything before starting anything: a bad component fails start-up.
    let only = options.only;
    let mut sources = Vec::new();
    for (name, spec) in config.sources.iter().filter(|_| only.sources) {
        let source = spec.kind.build(name).map_err(|error| RunError::Component { component: name.clone(), error })?;
        sources.push((name.clone(), config.source_topic(spec), spec.batch_records, source));
    }
    let mut workers = Vec::new();
    for _ in 0..if config.stages.is_empty() || !only.stages { 0 } else { config.runtime.stage_workers } {
        let mut chain = Vec::new();
        for stage in &config.stages {
            let processor =
                stage.kind.build().map_err(|error| RunError::Component { component: stage.name(), error })?;
            chain.push((stage.name(), processor));
        }
        workers.push(chain);
    }
    let mut sinks = Vec::new();
    for (name, spec) in config.sinks.iter().filter(|_| only.sinks) {
        let sink = match spec.kind.build().await {
            Ok(sink) => Some(sink),
            Err(e) if e.domain == socialpipe_schemas::ErrorDomain::Transient => {
                tracing::warn!(sink = name.as_str(), error = %e.reason, "sink not available yet; it will be retried");
                None
            }
            Err(error) => {
                return Err(RunError::Component { component: name.clone(), error });
            }
        };
        sinks.push((name.clone(), spec.clone(), sink));
    }

    let http_task = match config.http.enabled {
        true => {
            let (addr, task) = crate::http::serve(&config.http.listen, Arc::clone(&metrics), Arc::clone(&health))
                .await
                .map_err(|error| RunError::Http { listen: config.http.listen.clone(), error })?;
            tracing::info!(%addr, "serving /metrics, /health/live, /health/ready");
            Some(task)
        }
        false => None,
    };
    let retention = embedded.and_then(|log| spawn_retention(&config, log));

    // A daemon's stages and sinks drain only on shutdown, even when its
    // sources have ended: `produce` and `dlq replay` may still write.
    let source_tier = Tier::new(sources.len() + usize::from(!options.once));
    let mut daemon_hold = (!options.once).then(|| source_tier.member());
    let stage_tier = if workers.is_empty() { Arc::clone(&source_tier) } else { Tier::new(workers.len()) };
    let mut tasks = tokio::task::JoinSet::new();
    for (name, topic, batch, source) in sources {
        health.set(&name, ComponentState::Starting);
        let member = source_tier.member();
        let ctx = ctx.clone();
        let stop = stop_sources.clone();
        tasks.spawn(async move {
            let _member = member;
            let result = source_task::run(&ctx, &name, &topic, batch, source, options.once, stop).await;
            ctx.finish(&name, Kind::Source, result);
        });
    }
    let worker_count = workers.len() as u32;
    for (index, chain) in workers.into_iter().enumerate() {
        for (name, _) in &chain {
            health.set(name, ComponentState::Starting);
        }
        let member = stage_tier.member();
        let (ctx, upstream) = (ctx.clone(), Arc::clone(&source_tier));
        let membership = crate::transport::Membership { member: index as u32, members: worker_count };
        tasks.spawn(async move {
            let _member = member;
            let names: Vec<String> = chain.iter().map(|(n, _)| n.clone()).collect();
            let result = stage_task::run(&ctx, chain, membership, upstream).await;
            // A chain stops as a whole: each of its stages reports how it
            // ended (a failure reason names the stage that failed).
            for name in &names {
                ctx.finish(name, Kind::Stage, result.clone());
            }
        });
    }
    for (name, spec, sink) in sinks {
        health.set(&name, ComponentState::Starting);
        let (ctx, upstream) = (ctx.clone(), Arc::clone(&stage_tier));
        tasks.spawn(async move {
            let result = sink_task::run(&ctx, &name, &spec, sink, upstream).await;
            ctx.finish(&name, Kind::Sink, result);
        });
    }

    let deadline = Duration::from_secs(config.runtime.shutdown_deadline_secs);
    let mut drained = true;
    tokio::pin!(shutdown);
    let mut shutdown_seen = false;
    // Armed when shutdown begins.
    let deadline_timer = tokio::time::sleep(Duration::from_secs(u32::MAX as u64));
    tokio::pin!(deadline_timer);
    while !tasks.is_empty() {
        tokio::select! {
            joined = tasks.join_next() => {
                if let Some(Err(e)) = joined {
                    tracing::error!(error = %e, "a pipeline task panicked");
                }
            }
            _ = &mut shutdown, if !shutdown_seen => {
                shutdown_seen = true;
                tracing::info!(deadline_secs = deadline.as_secs(), "shutting down: stopping sources, draining stages and sinks");
                stop_tx.send_replace(true);
                drop(daemon_hold.take());
                deadline_timer.as_mut().reset(tokio::time::Instant::now() + deadline);
            }
            _ = &mut deadline_timer, if shutdown_seen && drained => {
                tracing::warn!("shutdown deadline reached; what is not yet committed stays in the log for the next start");
                drained = false;
                abort_tx.send_replace(true);
            }
        }
    }
    if let Some(task) = retention {
        task.abort();
    }
    if let Some(task) = &http_task {
        task.abort();
    }

    let mut components = BTreeMap::new();
    for name in config.sources.keys().filter(|_| only.sources) {
        components.insert(name.clone(), metrics.counts(name, Kind::Source));
    }
    for stage in config.stages.iter().filter(|_| only.stages) {
        components.insert(stage.name(), metrics.counts(&stage.name(), Kind::Stage));
    }
    for name in config.sinks.keys().filter(|_| only.sinks) {
        components.insert(name.clone(), metrics.counts(name, Kind::Sink));
    }
    Ok(RunReport { components, failures: health.failures(), drained })
}

/// Deletes log messages past retention, hourly.
fn spawn_retention(config: &Config, log: Arc<EmbeddedLog>) -> Option<tokio::task::JoinHandle<()>> {
    let TransportConfig::Embedded(c) = &config.transport else { return None };
    let hours = c.retention_hours;
    (hours > 0).then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let cutoff = chrono::Utc::now().timestamp_millis() - (hours as i64) * 3_600_000;
                match log.delete_before(cutoff).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, retention_hours = hours, "deleted messages past retention"),
                    Err(e) => {
                        tracing::warn!(error = %e, "retention cleanup failed; retrying in an hour")
                    }
                }
            }
        })
    })
}
