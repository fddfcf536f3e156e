//! socialpipe enrichment stages. One folder per stage: its config, its logic
//! and its tests. A stage writes its result under `enrichments.<stage type>`.

pub mod entities;
pub mod key_counter;
pub mod passthrough;
