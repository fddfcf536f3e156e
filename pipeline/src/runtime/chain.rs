//! The stage chain: the configured stages built in order, each with whether
//! it keeps keyed state, and the one way a batch goes through a stage. The
//! runner's stage task and `socialpipe analyze` both run stages through it.

use socialpipe_schemas::{ComponentError, Envelope, Failed, KeyedState, Processor};

use crate::config::StageSpec;

/// A built stage.
pub struct Stage {
    pub name: String,
    pub processor: Box<dyn Processor>,
    /// Keeps state per record key (its config says so).
    pub keyed: bool,
}

impl Stage {
    /// Runs one batch through the stage: with the keys' state when it keeps
    /// state (`state` must then be given), without otherwise.
    pub async fn process(
        &mut self,
        batch: Vec<Envelope>,
        state: Option<&mut KeyedState>,
    ) -> Vec<Result<Envelope, Failed>> {
        match state {
            Some(state) if self.keyed => self.processor.process_keyed(batch, state).await,
            _ => self.processor.process(batch).await,
        }
    }
}

/// Builds every stage, in order; an error names the stage.
pub fn build(stages: &[StageSpec]) -> Result<Vec<Stage>, (String, ComponentError)> {
    stages
        .iter()
        .map(|spec| {
            let component = spec.kind.component();
            let processor = component.build().map_err(|error| (spec.name(), error))?;
            Ok(Stage { name: spec.name(), processor, keyed: component.keeps_state() })
        })
        .collect()
}
