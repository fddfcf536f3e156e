//! The one HTTP port: `/metrics` (Prometheus text), `/health/live`,
//! `/health/ready` (503 with the reasons when a component failed).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::runtime::telemetry::{Health, Metrics};

#[derive(Clone)]
struct Telemetry {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds `listen` and serves until the returned task is aborted.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .with_state(Telemetry { metrics, health });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok((addr, task))
}

async fn metrics_text(State(t): State<Telemetry>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], t.metrics.render()).into_response()
}

async fn ready(State(t): State<Telemetry>) -> Response {
    let body = serde_json::to_string(&t.health.snapshot()).expect("json");
    let status = if t.health.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
