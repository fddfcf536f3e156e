//! The stage runner. Sources write to the log and checkpoint after the write;
//! the stage chain reads a batch, enriches it, writes the results and dead
//! letters, then commits; sinks batch, write durably, then commit. So every
//! hop is at-least-once and idempotent sinks hide redelivery. Every queue is
//! a bounded batch: a slow sink slows its consumer, never memory.

mod context;
mod control;
pub mod dead_letters;
mod sink_task;
mod source_task;
mod stage_task;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use socialpipe_schemas::ComponentError;

use crate::config::Config;
use crate::runtime::chain;
use crate::runtime::telemetry::{ComponentCounts, ComponentState, Health, Kind, Metrics};
use crate::runtime::transport::embedded::EmbeddedLog;
use crate::runtime::transport::{Membership, Opened, Transport, TransportConfig, TransportError};
pub(crate) use context::{Context, Stop, log_op};
pub use control::{Backoff, Flag, Layer};

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

/// Creates every topic the configuration writes, dead-letter topics included.
pub async fn create_topics(config: &Config, transport: &dyn Transport) -> Result<(), TransportError> {
    let routes = config.routes();
    let names = config
        .sources
        .keys()
        .cloned()
        .chain(config.stages.iter().map(|s| s.name()))
        .chain(config.sinks.keys().cloned());
    let keyed = config.stages.iter().any(|s| s.kind.component().keeps_state());
    let changelogs = keyed.then(|| routes.changelog_topic());
    let topics = routes.produced_topics().into_iter().chain(names.map(|n| routes.dlq_topic(&n))).chain(changelogs);
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
    let opened = crate::runtime::transport::open(&config.transport)?;
    run_on(config, options, opened, shutdown).await
}

/// `run` on a transport the caller opened (and may keep a handle on).
pub async fn run_on(
    config: Config,
    options: RunOptions,
    opened: Opened,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<RunReport, RunError> {
    if options.once {
        config.check_once().map_err(RunError::Config)?;
    }
    let Opened { transport, embedded } = opened;
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
        components: Arc::from([]),
    };
    let only = options.only;
    let names = config
        .sources
        .keys()
        .filter(|_| only.sources)
        .chain(config.sinks.keys().filter(|_| only.sinks))
        .cloned()
        .chain(config.stages.iter().filter(|_| only.stages).map(|s| s.name()));
    for name in names {
        health.set(&name, ComponentState::Starting);
    }
    // Served while components start: loading models or migrating a store
    // may take long, and a liveness probe must not kill the process meanwhile.
    let _http_task = match config.http.enabled {
        true => {
            let (addr, task) =
                crate::runtime::status::serve(&config.http.listen, Arc::clone(&metrics), Arc::clone(&health))
                    .await
                    .map_err(|error| RunError::Http { listen: config.http.listen.clone(), error })?;
            tracing::info!(%addr, "serving /metrics, /health/live, /health/ready");
            Some(AbortOnDrop(task))
        }
        false => None,
    };

    // Build everything before starting anything: a bad component fails start-up.
    let mut sources = Vec::new();
    for (name, spec) in config.sources.iter().filter(|_| only.sources) {
        let source = spec
            .kind
            .component()
            .build(name)
            .map_err(|error| RunError::Component { component: name.clone(), error })?;
        sources.push((name.clone(), config.routes().source_topic(spec.topic.as_ref()), spec.batch_records, source));
    }
    let mut workers = Vec::new();
    for _ in 0..if config.stages.is_empty() || !only.stages { 0 } else { config.runtime.stage_workers } {
        let stages =
            chain::build(&config.stages).map_err(|(component, error)| RunError::Component { component, error })?;
        workers.push(stages);
    }
    let mut sinks = Vec::new();
    for (name, spec) in config.sinks.iter().filter(|_| only.sinks) {
        let sink = match spec.kind.component().build().await {
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

    let _housekeeping = embedded.and_then(|log| spawn_housekeeping(&config, log)).map(AbortOnDrop);

    // A daemon's stages and sinks drain only on shutdown, even when its
    // sources have ended: `produce` and `dlq replay` may still write.
    let source_layer = Layer::new(sources.len() + usize::from(!options.once));
    let mut daemon_hold = (!options.once).then(|| source_layer.member());
    let stage_layer = if workers.is_empty() { Arc::clone(&source_layer) } else { Layer::new(workers.len()) };
    let mut tasks = Tasks::default();
    for (name, topic, batch, source) in sources {
        let member = source_layer.member();
        let ctx = ctx.for_components([name.clone()]);
        let stop = stop_sources.clone();
        tasks.spawn(Kind::Source, ctx.clone(), async move {
            let _member = member;
            let result = source_task::run(&ctx, &name, &topic, batch, source, options.once, stop).await;
            ctx.finish(&name, Kind::Source, result);
        });
    }
    let worker_count = workers.len() as u32;
    for (index, stages) in workers.into_iter().enumerate() {
        let member = stage_layer.member();
        let ctx = ctx.for_components(stages.iter().map(|s| s.name.clone()));
        let upstream = Arc::clone(&source_layer);
        let membership = Membership { member: index as u32, members: worker_count };
        tasks.spawn(Kind::Stage, ctx.clone(), async move {
            let _member = member;
            let result = stage_task::run(&ctx, stages, membership, upstream).await;
            // A chain stops as a whole: each of its stages reports how it
            // ended (a failure reason names the stage that failed).
            for name in ctx.components.iter() {
                ctx.finish(name, Kind::Stage, result.clone());
            }
        });
    }
    for (name, spec, sink) in sinks {
        let ctx = ctx.for_components([name.clone()]);
        let upstream = Arc::clone(&stage_layer);
        tasks.spawn(Kind::Sink, ctx.clone(), async move {
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
    while !tasks.set.is_empty() {
        tokio::select! {
            joined = tasks.set.join_next_with_id() => match joined {
                Some(Ok((id, ()))) => drop(tasks.running.remove(&id)),
                Some(Err(e)) => tasks.ended_abnormally(e),
                None => {}
            },
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
                // A task stuck in a call that never returns (a store that
                // stopped answering) would hold the exit: it is dropped, and
                // what it had not committed is redelivered on the next start.
                tasks.set.abort_all();
            }
        }
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

/// The runner's tasks, with what each runs.
#[derive(Default)]
struct Tasks {
    set: tokio::task::JoinSet<()>,
    running: HashMap<tokio::task::Id, (Kind, Context)>,
}

impl Tasks {
    fn spawn(&mut self, kind: Kind, ctx: Context, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let id = self.set.spawn(task).id();
        self.running.insert(id, (kind, ctx));
    }

    /// A panic fails the task's components (readiness names them, the run
    /// exits non-zero); a task dropped at the shutdown deadline is left as it was.
    fn ended_abnormally(&mut self, error: tokio::task::JoinError) {
        let Some((kind, ctx)) = self.running.remove(&error.id()) else { return };
        if let Ok(panic) = error.try_into_panic() {
            let message = panic_message(panic);
            for name in ctx.components.iter() {
                ctx.finish(name, kind, Err(Stop::Failed(format!("panicked: {message}"))));
            }
        }
    }
}

/// What a panic said.
pub(crate) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Aborts a background task (the status server, housekeeping) when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The embedded log's housekeeping: compacts state changelogs at start and
/// hourly (restore reads live keys, not their history), and deletes
/// messages past retention hourly.
fn spawn_housekeeping(config: &Config, log: Arc<EmbeddedLog>) -> Option<tokio::task::JoinHandle<()>> {
    let TransportConfig::Embedded(c) = &config.transport else { return None };
    let hours = c.retention_hours;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match log.compact().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "compacted state changelogs"),
                Err(e) => tracing::warn!(error = %e, "compacting state changelogs failed; retrying in an hour"),
            }
            if hours == 0 {
                continue;
            }
            let cutoff = chrono::Utc::now().timestamp_millis() - (hours as i64) * 3_600_000;
            match log.delete_before(cutoff).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, retention_hours = hours, "deleted messages past retention"),
                Err(e) => {
                    tracing::warn!(error = %e, "retention cleanup failed; retrying in an hour")
                }
            }
        }
    }))
}
