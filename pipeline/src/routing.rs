//! Where records go: sources write raw posts to their topics, the stage
//! chain reads those and writes each record by its kind (posts and sheet
//! rows to `enriched_posts`, KOL scores to `kol_scores`), dead letters of
//! component NAME go to `<dlq_prefix>NAME`, and sinks read what the chain
//! writes unless told otherwise. Consumer groups and the keyed-state
//! changelog are named from the group prefix. Nothing here knows a stage by name.

use serde::Deserialize;
use socialpipe_schemas::RecordKind;

/// The component name `socialpipe produce` writes dead letters as (`dlq.produce`).
pub const PRODUCE: &str = "produce";

/// The `[topics]` section.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Partitions of every topic socialpipe creates.
    pub partitions: u32,
    /// Where sources write raw posts.
    pub raw_posts: String,
    /// Where the stage chain writes enriched records.
    pub enriched_posts: String,
    /// Where stages write the `kol_score` records they emit (sinks read it by
    /// default when a stage emits them).
    pub kol_scores: String,
    /// Dead letters of component NAME go to `<dlq_prefix>NAME`.
    pub dlq_prefix: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            partitions: 4,
            raw_posts: "raw.posts".into(),
            enriched_posts: "enriched.posts".into(),
            kol_scores: "enriched.kol_scores".into(),
            dlq_prefix: "dlq.".into(),
        }
    }
}

/// The topics and groups of one topology.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    topics: TopicsConfig,
    /// Every topic a source writes, sorted (the raw topic when none does).
    stage_inputs: Vec<String>,
    has_stages: bool,
    /// The kinds the stages emit besides their outcomes.
    emitted: Vec<RecordKind>,
    group_prefix: String,
}

impl Routes {
    /// `source_topics`: the topic each source writes (None: the raw topic).
    pub fn new(
        topics: &TopicsConfig,
        source_topics: impl IntoIterator<Item = Option<String>>,
        stages: usize,
        emitted: impl IntoIterator<Item = RecordKind>,
        group_prefix: &str,
    ) -> Routes {
        let mut stage_inputs: Vec<String> =
            source_topics.into_iter().map(|t| t.unwrap_or_else(|| topics.raw_posts.clone())).collect();
        stage_inputs.sort();
        stage_inputs.dedup();
        if stage_inputs.is_empty() {
            stage_inputs.push(topics.raw_posts.clone());
        }
        let mut emitted: Vec<RecordKind> = emitted.into_iter().collect();
        emitted.dedup();
        Routes {
            topics: topics.clone(),
            stage_inputs,
            has_stages: stages > 0,
            emitted,
            group_prefix: group_prefix.to_owned(),
        }
    }

    pub fn topics(&self) -> &TopicsConfig {
        &self.topics
    }

    /// Where a source writes.
    pub fn source_topic(&self, topic: Option<&String>) -> String {
        topic.cloned().unwrap_or_else(|| self.topics.raw_posts.clone())
    }

    /// The topics the stage chain reads: every topic a source writes.
    pub fn stage_inputs(&self) -> &[String] {
        &self.stage_inputs
    }

    /// Where a record of this kind goes when a stage emits it or passes it on.
    pub fn topic_of(&self, kind: Option<RecordKind>) -> &str {
        match kind {
            Some(RecordKind::KolScore) => &self.topics.kol_scores,
            _ => &self.topics.enriched_posts,
        }
    }

    /// Topics the stage chain writes: enriched records, and the topic of
    /// every kind a stage emits.
    pub fn stage_outputs(&self) -> Vec<String> {
        let mut topics = vec![self.topics.enriched_posts.clone()];
        for kind in &self.emitted {
            let topic = self.topic_of(Some(*kind)).to_owned();
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        topics
    }

    /// A sink reads what the stage chain writes (or, without stages, what
    /// sources write) unless its `inputs` say otherwise.
    pub fn sink_inputs(&self, inputs: Option<&Vec<String>>) -> Vec<String> {
        match inputs {
            Some(inputs) => inputs.clone(),
            None if !self.has_stages => self.stage_inputs.clone(),
            None => self.stage_outputs(),
        }
    }

    /// Topics written by sources or the stage chain.
    pub fn produced_topics(&self) -> Vec<String> {
        let mut topics = self.stage_inputs.clone();
        if self.has_stages {
            topics.extend(self.stage_outputs());
        }
        topics
    }

    pub fn dlq_topic(&self, component: &str) -> String {
        format!("{}{component}", self.topics.dlq_prefix)
    }

    pub fn stage_group(&self) -> String {
        format!("{}.stages", self.group_prefix)
    }

    pub fn sink_group(&self, sink: &str) -> String {
        format!("{}.sink.{sink}", self.group_prefix)
    }

    /// Where the stateful stages keep their changelog (compacted on Kafka,
    /// kept past retention on the embedded log).
    pub fn changelog_topic(&self) -> String {
        format!("{}.stages.changelog", self.group_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(sources: &[Option<&str>], stages: usize, emitted: &[RecordKind]) -> Routes {
        let sources = sources.iter().map(|t| t.map(str::to_owned));
        Routes::new(&TopicsConfig::default(), sources, stages, emitted.iter().copied(), "sp")
    }

    #[test]
    fn records_go_to_the_topic_of_their_kind() {
        let r = routes(&[None], 2, &[RecordKind::KolScore]);
        assert_eq!(r.topic_of(Some(RecordKind::KolScore)), "enriched.kol_scores");
        assert_eq!(r.topic_of(Some(RecordKind::Post)), "enriched.posts");
        assert_eq!(r.topic_of(Some(RecordKind::SheetRow)), "enriched.posts");
        assert_eq!(r.stage_outputs(), ["enriched.posts", "enriched.kol_scores"]);
        assert_eq!(r.sink_inputs(None), ["enriched.posts", "enriched.kol_scores"]);
        let plain = routes(&[None], 1, &[]);
        assert_eq!(plain.sink_inputs(None), ["enriched.posts"], "no stage emits scores: sinks do not read their topic");
    }

    #[test]
    fn without_stages_sinks_read_what_sources_write() {
        let r = routes(&[Some("b"), None, Some("b")], 0, &[]);
        assert_eq!(r.stage_inputs(), ["b", "raw.posts"]);
        assert_eq!(r.sink_inputs(None), ["b", "raw.posts"]);
        assert_eq!(r.produced_topics(), ["b", "raw.posts"]);
        assert_eq!(r.sink_inputs(Some(&vec!["x".to_owned()])), ["x"]);
    }

    #[test]
    fn groups_dead_letters_and_the_changelog_are_named_from_the_prefix() {
        let r = routes(&[], 1, &[]);
        assert_eq!((r.stage_group(), r.sink_group("db")), ("sp.stages".into(), "sp.sink.db".into()));
        assert_eq!((r.changelog_topic(), r.dlq_topic("posts")), ("sp.stages.changelog".into(), "dlq.posts".into()));
    }
}
