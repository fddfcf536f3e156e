//! Error domains: what a failure means for the record and the pipeline.

use serde::{Deserialize, Serialize};

/// How the runtime treats a failure (README.md, "Operations": errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorDomain {
    /// Bad input: never retried, the record goes to the stage's DLQ with the reason.
    Invalid,
    /// Network, 5xx, 429, a busy store: retried with backoff while consumption pauses.
    Transient,
    /// Misconfiguration or revoked credentials: the component stops and says why.
    Fatal,
}

impl ErrorDomain {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorDomain::Invalid => "invalid",
            ErrorDomain::Transient => "transient",
            ErrorDomain::Fatal => "fatal",
        }
    }
}

impl std::fmt::Display for ErrorDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component's failure: its domain and a reason a person can act on.
/// Reasons never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{domain}: {reason}")]
pub struct ComponentError {
    pub domain: ErrorDomain,
    pub reason: String,
}

impl ComponentError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self { domain: ErrorDomain::Invalid, reason: reason.into() }
    }
    pub fn transient(reason: impl Into<String>) -> Self {
        Self { domain: ErrorDomain::Transient, reason: reason.into() }
    }
    pub fn fatal(reason: impl Into<String>) -> Self {
        Self { domain: ErrorDomain::Fatal, reason: reason.into() }
    }
}
