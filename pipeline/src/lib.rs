//! The socialpipe runtime: configuration, topology, transports, the stage
//! runner with its delivery guarantees, dead letters, metrics and health.

pub mod config;
pub mod topology;
pub mod transport;
