use super::{Config, ConfigError};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse("app.toml", text, |name| (name == "DB").then(|| "var/x.db".to_owned()))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const GOOD: &str = r#"
[transport]
type = "embedded"
path = "var/log"

[sources.posts]
type = "jsonl"
path = "Cargo.toml"

[[stages]]
type = "entities"

[sinks.db]
type = "sqlite"
path = "${DB}"
batch_max_records = 500
"#;

#[test]
fn a_full_config_parses_with_defaults() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.topics.partitions, 4);
    assert_eq!(config.stages[0].name(), "entities");
    assert_eq!(config.sinks["db"].batch_max_records, 500);
    assert_eq!(config.routes().sink_inputs(config.sinks["db"].inputs.as_ref()), ["enriched.posts"]);
    match &config.sinks["db"].kind {
        socialpipe_sinks::SinkKind::Sqlite(c) => assert_eq!(c.path.to_str(), Some("var/x.db")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_top_level_key_names_line_and_key() {
    assert_eq!(
        error("[http]\nlisten = \"127.0.0.1:0\"\nlsten = 3\n"),
        "app.toml:3: http.lsten: unknown field `lsten`, expected `enabled` or `listen`"
    );
}

#[test]
fn an_unknown_component_key_names_line_and_key() {
    let e = error(&GOOD.replace("path = \"Cargo.toml\"", "path = \"Cargo.toml\"\npathh = 1"));
    assert!(e.starts_with("app.toml:9: sources.posts.pathh: unknown field `pathh`"), "{e}");
}

#[test]
fn a_bad_type_names_line_and_key() {
    let e = error(&GOOD.replace("batch_max_records = 500", "batch_max_records = \"many\""));
    assert!(e.starts_with("app.toml:16: sinks.db.batch_max_records: invalid type: string \"many\""), "{e}");
}

#[test]
fn an_unknown_component_type_is_named() {
    let e = error(&GOOD.replace("type = \"entities\"", "type = \"entitys\""));
    assert!(e.starts_with("app.toml:") && e.contains("unknown variant `entitys`, expected"), "{e}");
    assert!(e.contains("`entities`"), "the known types are listed: {e}");
}

#[test]
fn a_missing_env_var_names_line_and_key() {
    let e = error(&GOOD.replace("${DB}", "${NOT_SET_ANYWHERE}"));
    assert_eq!(
        e,
        "app.toml:15: sinks.db.path: environment variable NOT_SET_ANYWHERE is not set (give a default with ${NOT_SET_ANYWHERE:-…})"
    );
}

#[test]
fn duplicate_component_names_are_rejected() {
    let e = error(&GOOD.replace("[sinks.db]", "[sinks.entities]"));
    assert!(e.contains("sinks.entities: name \"entities\" is already used by stages[0]"), "{e}");
}

#[test]
fn a_sink_input_nobody_writes_is_rejected() {
    let e = error(&GOOD.replace("batch_max_records = 500", "inputs = [\"nowhere\"]"));
    assert!(e.starts_with("app.toml:16: sinks.db.inputs: no source or stage writes topic \"nowhere\""), "{e}");
}

#[test]
fn once_mode_rejects_sources_that_never_end() {
    let config = parse(&GOOD.replace("path = \"Cargo.toml\"", "path = \"Cargo.toml\"\nfollow = true")).unwrap();
    assert_eq!(
        config.check_once().unwrap_err(),
        "sources.posts: never ends (follow/stream mode), so it cannot run with --once"
    );
}

#[test]
fn values_from_the_environment_never_appear_in_errors() {
    let text = "[runtime]\npoll_wait_ms = \"${TOKEN}\"\n";
    let e = Config::parse("app.toml", text, |name| (name == "TOKEN").then(|| "sk-live-123456".to_owned())).unwrap_err();
    let e = e.to_string();
    assert!(e.starts_with("app.toml:2: runtime.poll_wait_ms: invalid type: string"), "{e}");
    assert!(!e.contains("sk-live-123456"), "{e}");
}

#[test]
fn a_sentiment_model_before_the_embed_stage_it_reads_is_an_error() {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2");
    let stages = |first: &str, second: &str| {
        GOOD.replace("[[stages]]\ntype = \"entities\"", &format!("[[stages]]\n{first}\n[[stages]]\n{second}"))
    };
    let embed = format!("type = \"embed\"\nmodels_dir = \"{models}\"");
    let e = error(&stages("type = \"sentiment\"", &embed));
    assert!(e.contains("stages[0]") && e.ends_with("put embed first, or set model = false"), "{e}");
    parse(&stages(&embed, "type = \"sentiment\"")).unwrap();
    parse(&stages("type = \"sentiment\"\nmodel = false", &embed)).unwrap();
}

/// The rule is the stages' declared reads and writes, not a list of names:
/// any reader before its writer is refused, naming both.
#[test]
fn any_stage_that_reads_what_a_later_stage_writes_is_an_error() {
    let stages = |first: &str, second: &str| {
        GOOD.replace("[[stages]]\ntype = \"entities\"", &format!("[[stages]]\n{first}\n[[stages]]\n{second}"))
    };
    let (topics, entities) = ("type = \"topics\"", "type = \"entities\"");
    let e = error(&stages(topics, entities));
    assert!(
        e.contains("stages[0]: stage \"topics\" reads enrichments.entities, which stage \"entities\" (stages[1]) writes after it: put entities first"),
        "{e}"
    );
    let (sentiment, language) = ("type = \"sentiment\"\nmodel = false", "type = \"language\"");
    let e = error(&stages(sentiment, language));
    assert!(e.contains("stage \"sentiment\" reads enrichments.language") && e.contains("put language first"), "{e}");
    parse(&stages(entities, topics)).unwrap();
    parse(&stages(language, sentiment)).unwrap();
}

/// `.changelog` and `.checkpoints` topics are compacted (only a key's last
/// message is kept): a DLQ or data topic with such a name would lose records.
#[test]
fn names_that_would_make_a_dlq_or_data_topic_compacted_are_rejected() {
    for name in ["changelog", "checkpoints"] {
        let e = error(&GOOD.replace("[sinks.db]", &format!("[sinks.{name}]")));
        assert!(e.contains(&format!("sinks.{name}: name {name:?} is reserved")), "{e}");
    }
    let e = error(&GOOD.replace("[transport]", "[topics]\nenriched_posts = \"posts.changelog\"\n\n[transport]"));
    assert!(e.contains("topics.enriched_posts: \"posts.changelog\" ends in .changelog, which is for compacted"), "{e}");
}

/// A source that is off (from the environment, as examples/production.toml
/// does) is parsed but neither checked nor run; `validate` names it.
#[test]
fn a_source_that_is_off_is_parsed_but_not_checked_nor_run() {
    let off = GOOD.replace(
        "[[stages]]",
        "[sources.x]\ntype = \"twitter\"\nenabled = ${X_ON:-false}\nquery = \"q\"\nbearer_token = \"\"\n\n[[stages]]",
    );
    let config = parse(&off).unwrap();
    assert_eq!(config.sources.keys().collect::<Vec<_>>(), ["posts"]);
    assert_eq!(config.disabled_sources, ["x"]);
    let on = Config::parse("app.toml", &off, |name| (name == "X_ON" || name == "DB").then(|| "true".to_owned()));
    let e = on.unwrap_err().to_string();
    assert!(e.contains("sources.x"), "an enabled source is checked: {e}");
    let e = error(&off.replace("query = \"q\"", "query = \"q\"\nmystery = 1"));
    assert!(e.contains("mystery"), "unknown keys of a source that is off are still errors: {e}");
}
