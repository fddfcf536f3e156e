//! One telemetry vocabulary for every component (Prometheus), and the health
//! every component reports. `/metrics`, `/health/live` and `/health/ready`
//! serve these.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use serde::Serialize;

pub struct Metrics {
    pub registry: Registry,
    /// Records a component took in (a source: records and rejects it read).
    pub received: IntCounterVec,
    /// Records a component passed on durably.
    pub sent: IntCounterVec,
    pub errors: IntCounterVec,
    /// Dead letters written, per component.
    pub dlq: IntCounterVec,
    /// Seconds a component spent on one batch.
    pub processing: HistogramVec,
    /// Messages after a consumer's position, per partition.
    pub lag: IntGaugeVec,
    /// Keys a stateful stage holds (over the process's chain workers).
    pub state_keys: IntGaugeVec,
    /// Bytes of the keys and values' JSON a stateful stage holds (resident
    /// memory is about 2.5 times that).
    pub state_bytes: IntGaugeVec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Source,
    Stage,
    Sink,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Stage => "stage",
            Kind::Sink => "sink",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let received =
            counter("component_received_events_total", "Records a component received.", &["component", "kind"]);
        let sent =
            counter("component_sent_events_total", "Records a component passed on durably.", &["component", "kind"]);
        let errors =
            counter("component_errors_total", "Errors per component and domain.", &["component", "kind", "domain"]);
        let dlq = counter("dlq_events_total", "Dead letters written per component.", &["component"]);
        let processing = HistogramVec::new(
            HistogramOpts::new("processing_seconds", "Seconds spent on one batch.")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("buckets")),
            &["component", "kind"],
        )
        .expect("valid metric");
        registry.register(Box::new(processing.clone())).expect("unique metric");
        let lag = IntGaugeVec::new(
            Opts::new("consumer_lag", "Messages after a consumer's position."),
            &["group", "topic", "partition"],
        )
        .expect("valid metric");
        registry.register(Box::new(lag.clone())).expect("unique metric");
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["component"]).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let state_keys = gauge("keyed_state_keys", "Keys a stateful stage holds.");
        let state_bytes = gauge("keyed_state_bytes", "Bytes of keys and values a stateful stage holds.");
        Metrics { registry, received, sent, errors, dlq, processing, lag, state_keys, state_bytes }
    }

    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).expect("text encoding")
    }

    /// Counters of one component, for the end-of-run report.
    pub fn counts(&self, component: &str, kind: Kind) -> ComponentCounts {
        let labels = [component, kind.as_str()];
        ComponentCounts {
            received: self.received.with_label_values(&labels).get(),
            sent: self.sent.with_label_values(&labels).get(),
            errors: ["invalid", "transient", "fatal"]
                .iter()
                .map(|d| self.errors.with_label_values(&[component, kind.as_str(), d]).get())
                .sum(),
            dead_letters: self.dlq.with_label_values(&[component]).get(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ComponentCounts {
    pub received: u64,
    pub sent: u64,
    pub errors: u64,
    pub dead_letters: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum ComponentState {
    Starting,
    Running,
    /// Not ready for now: a transient error is being retried.
    Retrying(String),
    Finished,
    Failed(String),
}

/// What `/health/ready` reports: ready while every component runs (or has
/// finished its input); a failed component makes it unready, with the reason.
#[derive(Default)]
pub struct Health {
    components: Mutex<BTreeMap<String, ComponentState>>,
}

impl Health {
    pub fn set(&self, component: &str, state: ComponentState) {
        self.components.lock().expect("health lock").insert(component.to_owned(), state);
    }

    /// Sets `state` if the component is `retrying` (a retry that succeeded
    /// leaves other states, such as `failed`, alone).
    pub fn replace_retrying(&self, component: &str, state: ComponentState) {
        let mut components = self.components.lock().expect("health lock");
        if let Some(current @ ComponentState::Retrying(_)) = components.get_mut(component) {
            *current = state;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, ComponentState> {
        self.components.lock().expect("health lock").clone()
    }

    pub fn ready(&self) -> bool {
        self.components
            .lock()
            .expect("health lock")
            .values()
            .all(|s| matches!(s, ComponentState::Running | ComponentState::Finished))
    }

    pub fn failures(&self) -> Vec<(String, String)> {
        self.snapshot()
            .into_iter()
            .filter_map(|(name, state)| match state {
                ComponentState::Failed(reason) => Some((name, reason)),
                _ => None,
            })
            .collect()
    }
}
