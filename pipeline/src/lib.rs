//! The socialpipe runtime: configuration, topology, transports, the stage
//! runner with its delivery guarantees, dead letters, metrics and health.

pub mod admin;
pub mod analyze;
pub mod config;
pub mod http;
pub mod runner;
pub mod synth;
pub mod telemetry;
pub mod topology;
pub mod train;
pub mod transport;
