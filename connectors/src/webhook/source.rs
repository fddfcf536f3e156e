//! The webhook as a source: requests queue deliveries, `next_batch` turns
//! them into a batch whose durability answers the requests.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use socialpipe_schemas::{ComponentError, DurableCallback, Source, SourceBatch, SourceMode};
use tokio::sync::mpsc;

use super::WebhookConfig;
use super::server::{Delivery, router};

/// Longest wait for a request before an empty batch (the runner checks for shutdown).
const IDLE_STEP: Duration = Duration::from_secs(1);

pub struct WebhookSource {
    name: String,
    config: Arc<WebhookConfig>,
    /// Bound at build time, so a taken port fails start-up.
    listener: Option<std::net::TcpListener>,
    local_addr: std::net::SocketAddr,
    rx: Option<mpsc::Receiver<Delivery>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl WebhookSource {
    pub fn new(name: &str, config: WebhookConfig) -> Result<Self, ComponentError> {
        let listener = std::net::TcpListener::bind(&config.listen)
            .map_err(|e| ComponentError::fatal(format!("webhook: cannot listen on {}: {e}", config.listen)))?;
        listener.set_nonblocking(true).map_err(|e| ComponentError::fatal(format!("webhook: {e}")))?;
        let local_addr = listener.local_addr().map_err(|e| ComponentError::fatal(format!("webhook: {e}")))?;
        Ok(WebhookSource {
            name: name.to_owned(),
            config: Arc::new(config),
            listener: Some(listener),
            local_addr,
            rx: None,
            server: None,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }
}

impl Drop for WebhookSource {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

#[async_trait]
impl Source for WebhookSource {
    async fn open(&mut self, _: Option<Value>, _: SourceMode) -> Result<(), ComponentError> {
        let Some(listener) = self.listener.take() else { return Ok(()) };
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| ComponentError::fatal(format!("webhook: {e}")))?;
        let (tx, rx) = mpsc::channel(self.config.max_pending_requests);
        let app = router(Arc::clone(&self.config), tx);
        self.server = Some(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "webhook server stopped");
            }
        }));
        self.rx = Some(rx);
        tracing::info!(source = self.name.as_str(), addr = %self.local_addr, path = self.config.path.as_str(), "webhook listening");
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let rx = self.rx.as_mut().ok_or_else(|| ComponentError::fatal("webhook: next_batch before open"))?;
        let mut batch = SourceBatch::default();
        let Ok(Some(first)) = tokio::time::timeout(IDLE_STEP, rx.recv()).await else { return Ok(batch) };
        let mut next = Some(first);
        while let Some(delivery) = next.take() {
            batch.records.extend(delivery.posts.into_iter().map(|p| p.into_envelope(&self.name)));
            batch.rejected.extend(delivery.rejected);
            if let Some(ack) = delivery.ack {
                batch.on_durable.push(DurableCallback(Box::new(move || {
                    let _ = ack.send(());
                })));
            }
            if batch.records.len() < max_records {
                next = rx.try_recv().ok();
            }
        }
        Ok(batch)
    }
}
