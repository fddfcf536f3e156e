//! socialpipe sources. One folder per source: its config (what a user writes),
//! its reader, and its tests. The runtime registers each by its `type` name.
//! `http` holds what the HTTP API sources share (clock, secrets, rate limits).

pub mod facebook;
pub mod http;
pub mod jsonl;
pub mod tiktok;
pub mod twitter;
pub mod webhook;
pub mod youtube;
