//! The contracts of socialpipe: the record envelope every topic carries, the
//! record types inside it, their validation, the enrichment contract, the
//! error domains, the component traits (`Source`, `Processor`, `Sink`)
//! every component implements and the registry traits of their configs.
//! Components depend on this crate only, never on each other or the runtime.

pub mod component;
pub mod dead_letter;
pub mod enrichment;
pub mod envelope;
pub mod error;
pub mod kol;
pub mod post;
pub mod secret;
pub mod sheet;

pub use component::{
    DurableCallback, Failed, Generation, KeyedState, KolScoreStore, Processor, Rejected, Sink, SinkConfig, SinkReport,
    Source, SourceBatch, SourceConfig, SourceMode, StageConfig,
};
pub use dead_letter::{DeadLetter, OriginalBytes, OriginalKind, sha256_hex};
pub use enrichment::Enrichment;
pub use envelope::{Envelope, EnvelopeError, RecordKind};
pub use error::{ComponentError, ErrorDomain};
pub use kol::{AuthorRef, KolFactor, KolScoreRecord};
pub use post::{Author, Metrics, PostPayload, Profile, RawPostError, parse_raw_post, validate_raw_post};
pub use secret::Secret;
pub use sheet::{AuthorSnapshot, SheetRowRecord};
