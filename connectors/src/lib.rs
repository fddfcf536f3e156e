//! socialpipe sources. One folder per source: its config (what a user writes),
//! its reader, and its tests. The runtime registers each by its `type` name.

pub mod jsonl;
