//! A component is one folder and one registry line: every component folder
//! of connectors, processors and sinks has its line in the crate's
//! `registry!`, and every line its folder; each registered type is the
//! `type` a configuration selects it by.

use std::collections::BTreeSet;
use std::path::Path;

/// The folders of each crate that are not components: what its components share.
const SHARED: &[(&str, &[&str])] =
    &[("connectors", &["api", "graph", "http", "sheets"]), ("processors", &[]), ("sinks", &[])];

/// The modules the crate's `registry!` lines name (`module => Variant(Config),`).
fn registry_lines(krate: &str) -> BTreeSet<String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../{krate}/src/lib.rs"))).unwrap();
    let block = lib.split("registry! {").nth(1).unwrap_or_else(|| panic!("{krate}: no registry! in lib.rs"));
    // To the macro's closing brace, at the start of a line.
    let block = block.split("\n}").next().unwrap_or(block);
    block
        .lines()
        .map(str::trim)
        .map(|line| line.strip_prefix("#[cfg(feature = \"testing\")]").map_or(line, str::trim))
        .filter_map(|line| line.split_once(" => ").map(|(module, _)| module.to_owned()))
        .collect()
}

fn component_folders(krate: &str, shared: &[&str]) -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../{krate}/src"));
    std::fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .filter(|name| !shared.contains(&name.as_str()))
        .collect()
}

#[test]
fn every_component_folder_has_a_registry_line_and_every_line_a_folder() {
    for (krate, shared) in SHARED {
        let (lines, folders) = (registry_lines(krate), component_folders(krate, shared));
        assert!(!lines.is_empty(), "{krate}: no registry lines found");
        let unregistered: Vec<&String> = folders.difference(&lines).collect();
        assert!(unregistered.is_empty(), "{krate}: component folders without a registry line: {unregistered:?}");
        let missing: Vec<&String> = lines.difference(&folders).collect();
        assert!(missing.is_empty(), "{krate}: registry lines without a folder: {missing:?}");
    }
}

/// `type = "<name>"` selects the variant (it may then miss required keys,
/// but it is not an unknown type).
fn selects<T: serde::de::DeserializeOwned>(name: &str) -> bool {
    match toml::from_str::<T>(&format!("type = \"{name}\"")) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown variant"),
    }
}

#[test]
fn each_registered_type_is_selected_by_its_folder_name() {
    let sources = socialpipe_connectors::SourceKind::TYPES;
    let stages = socialpipe_processors::StageKind::TYPES;
    let sinks = socialpipe_sinks::SinkKind::TYPES;
    for (krate, types) in [("connectors", sources), ("processors", stages), ("sinks", sinks)] {
        let registered: BTreeSet<String> = types.iter().map(|t| (*t).to_owned()).collect();
        assert_eq!(registered, registry_lines(krate), "{krate}");
    }
    assert!(sources.iter().all(|t| selects::<socialpipe_connectors::SourceKind>(t)), "{sources:?}");
    assert!(stages.iter().all(|t| selects::<socialpipe_processors::StageKind>(t)), "{stages:?}");
    assert!(sinks.iter().all(|t| selects::<socialpipe_sinks::SinkKind>(t)), "{sinks:?}");
    assert!(!selects::<socialpipe_sinks::SinkKind>("sqlitee"));
}
