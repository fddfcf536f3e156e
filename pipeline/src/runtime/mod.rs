//! Running a topology: the runner and its tasks, the stage chain, the
//! transports (embedded log, Kafka), telemetry and the status server.

pub mod chain;
pub mod runner;
pub mod status;
pub mod telemetry;
pub mod transport;
