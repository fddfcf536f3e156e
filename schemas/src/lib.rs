//! The contracts of socialpipe: the record envelope every topic carries, the
//! record types inside it, their validation, the error domains, and the
//! component traits (`Source`, `Processor`, `Sink`) every component implements.
//! Components depend on this crate only, never on each other or the runtime.

pub mod component;
pub mod dead_letter;
pub mod envelope;
pub mod error;
pub mod kol;
pub mod post;
pub mod sheet;

pub use component::{
    DurableCallback, Failed, KeyedState, Processor, Rejected, Sink, SinkReport, Source, SourceBatch, SourceMode,
};
pub use dead_letter::{DeadLetter, OriginalBytes, OriginalKind, sha256_hex};
pub use envelope::{Envelope, EnvelopeError, RecordKind};
pub use error::{ComponentError, ErrorDomain};
pub use kol::{KolFactor, KolScoreRecord};
pub use post::{Author, Metrics, PostPayload, RawPostError, parse_raw_post, validate_raw_post};
pub use sheet::{AuthorSnapshot, SheetRowRecord};
