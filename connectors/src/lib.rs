//! socialpipe sources. One folder per source: its config (what a user writes),
//! its reader, and its tests. The runtime registers each by its `type` name.
//! `http` holds what the HTTP API sources share (clock, secrets, rate limits);
//! `graph` what the Meta Graph API sources (facebook, instagram) share;
//! `sheets` what the spreadsheet sources (gdrive, local_xlsx) share.

pub mod facebook;
pub mod gdrive;
pub mod graph;
pub mod http;
pub mod instagram;
pub mod jsonl;
pub mod local_xlsx;
pub mod sheets;
pub mod tiktok;
pub mod twitter;
pub mod twitter_stream;
pub mod webhook;
pub mod youtube;
