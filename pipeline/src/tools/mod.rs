//! The commands around a running topology: administering its log and
//! groups (`admin`), running its stages on standard input (`analyze`), and
//! writing synthetic posts (`generate`).

pub mod admin;
pub mod analyze;
pub mod generate;
