//! The socialpipe runtime and its command-line tools. `config` reads the
//! configuration file; `routing` says which topic each record kind goes to
//! and which groups read them; `runtime` runs a topology (runner, stage
//! chain, transports, telemetry, status server); `tools` are the commands
//! around it (admin, analyze, generate). The runtime knows no particular
//! source, stage, sink or store: components register in their own crates.

pub mod config;
pub mod routing;
pub mod runtime;
pub mod tools;
