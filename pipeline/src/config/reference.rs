//! The configuration's JSON Schema and its Markdown reference, both from
//! the config types themselves (their doc comments, defaults and serde
//! attributes): `socialpipe config schema`, and docs/configuration.md
//! (`socialpipe config reference`; a test fails when the file is stale).

use std::fmt::Write;

use serde_json::Value;

use super::Config;

/// The JSON Schema (draft 2020-12) of a configuration file. A component's
/// keys sit beside the runner's (`topic`, `inputs`, …) in one table, so the
/// specs say `unevaluatedProperties: false`: an unknown key is an error, as
/// it is for the parser.
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema serialises");
    for spec in ["SourceSpec", "StageSpec", "SinkSpec"] {
        if let Some(spec) = schema["$defs"].get_mut(spec).and_then(Value::as_object_mut) {
            spec.insert("unevaluatedProperties".into(), Value::Bool(false));
        }
    }
    schema
}

/// The reference as Markdown.
pub fn markdown() -> String {
    Reference { defs: schema()["$defs"].clone() }.render()
}

const INTRO: &str = "# Configuration reference

Generated from the configuration types (their doc comments, defaults and
checks) by `socialpipe config reference`; `make config-docs` rewrites this
file and a test fails when it is stale. `socialpipe config schema` prints
the same as a JSON Schema, which editors with a TOML language server use
to complete and check keys (e.g. `#:schema ./socialpipe.schema.json` at the
top of the file for Taplo / Even Better TOML).

One TOML file describes a topology. `${VAR}` and `${VAR:-default}` are
replaced from the environment in values (escaped for the string they land
in; not in comments; `$${` is a literal `${`). Unknown keys are errors;
every error names the file, the line and the key, e.g.
`app.toml:18: stages[0].colour: unknown field `colour``. Relative paths
resolve against the working directory. `socialpipe validate --config F`
checks a file without running it.
";

struct Reference {
    defs: Value,
}

/// One row of a table.
struct Row {
    key: String,
    kind: String,
    default: String,
    meaning: String,
}

impl Reference {
    fn render(&self) -> String {
        let mut out = String::from(INTRO);
        let sections = [
            ("[transport]", "TransportConfig"),
            ("[topics]", "TopicsConfig"),
            ("[http]", "StatusServerConfig"),
            ("[runtime]", "RuntimeConfig"),
            ("[log]", "LogConfig"),
            ("[sources.NAME]", "SourceSpec"),
            ("[[stages]]", "StageSpec"),
            ("[sinks.NAME]", "SinkSpec"),
        ];
        for (heading, def) in sections {
            let schema = &self.defs[def];
            let _ = write!(out, "\n## `{heading}`\n\n");
            if let Some(text) = description(schema) {
                let _ = writeln!(out, "{text}\n");
            }
            if schema.get("properties").is_some() {
                self.table(&mut out, &self.rows("", schema));
            }
            for variant in schema["oneOf"].as_array().into_iter().flatten() {
                self.variant(&mut out, variant);
            }
        }
        out
    }

    /// A `type = "…"` choice: its description and keys.
    fn variant(&self, out: &mut String, variant: &Value) {
        let Some(name) = variant["properties"]["type"]["const"].as_str() else { return };
        let _ = write!(out, "### `type = \"{name}\"`\n\n");
        if let Some(text) = description(variant) {
            let _ = writeln!(out, "{text}\n");
        }
        let rows: Vec<Row> = self.rows("", variant).into_iter().filter(|r| r.key != "type").collect();
        if rows.is_empty() {
            out.push_str("No settings.\n\n");
        } else {
            self.table(out, &rows);
        }
    }

    fn table(&self, out: &mut String, rows: &[Row]) {
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        for row in rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                row.key,
                cell(&row.kind),
                cell(&row.default),
                cell(&row.meaning)
            );
        }
        out.push('\n');
    }

    /// Follows a `$ref` to its definition.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => &self.defs[name],
            None => schema,
        }
    }

    /// The rows of an object's properties; a nested table's keys become
    /// dotted rows of their own (`retry.max_attempts`).
    fn rows(&self, prefix: &str, schema: &Value) -> Vec<Row> {
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut rows = Vec::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let key = format!("{prefix}{name}");
            let target = self.resolve(property);
            let meaning = description(property).or_else(|| description(target)).unwrap_or_default();
            let default = match (property.get("default"), required.contains(&name.as_str())) {
                (Some(value), _) => default_text(value),
                (None, true) => "required".to_owned(),
                (None, false) => String::new(),
            };
            if target.get("properties").is_some() && target.get("oneOf").is_none() {
                // A nested table: its keys, each with its own default.
                if !meaning.is_empty() {
                    rows.push(Row { key: format!("{key}.*"), kind: "table".into(), default: String::new(), meaning });
                }
                rows.extend(self.rows(&format!("{key}."), target));
                continue;
            }
            // An array of tables, or a table of named tables: the keys of each.
            let items = self.resolve(&target["items"]);
            let values = self.resolve(&target["additionalProperties"]);
            let nested = match (items.get("properties"), values.get("properties")) {
                (Some(_), _) => Some(self.rows(&format!("{key}[]."), items)),
                (None, Some(_)) => Some(self.rows(&format!("{key}.NAME."), values)),
                _ => None,
            };
            rows.push(Row { key, kind: self.kind(property), default, meaning });
            rows.extend(nested.into_iter().flatten());
        }
        rows
    }

    /// A value's type as a person writes it.
    fn kind(&self, schema: &Value) -> String {
        let target = self.resolve(schema);
        if let Some(values) = enum_values(target) {
            return values.join(" | ");
        }
        if target.get("properties").is_some() {
            return "table".into();
        }
        let types: Vec<&str> = match &target["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => Vec::new(),
        };
        match types.first().copied() {
            Some("array") => format!("[{}]", self.kind(&target["items"])),
            Some("object") => match target.get("additionalProperties") {
                Some(values) if values.is_object() => format!("table of name → {}", self.kind(values)),
                _ => "table".into(),
            },
            Some(t) => t.to_owned(),
            None => "any".into(),
        }
    }
}

/// The values of an enum of strings: an `enum`, or a `oneOf` of consts
/// and enums (variants with doc comments are listed apart).
fn enum_values(schema: &Value) -> Option<Vec<String>> {
    let quoted = |v: &Value| v.as_str().map(|s| format!("`\"{s}\"`"));
    let of = |schema: &Value| -> Option<Vec<String>> {
        match (schema["enum"].as_array(), schema.get("const")) {
            (Some(values), _) => Some(values.iter().filter_map(quoted).collect()),
            (None, Some(value)) => quoted(value).map(|v| vec![v]),
            (None, None) => None,
        }
    };
    match schema["oneOf"].as_array() {
        Some(variants) => variants.iter().map(of).collect::<Option<Vec<_>>>().map(|v| v.concat()),
        None => of(schema),
    }
}

/// A description on one line.
fn description(schema: &Value) -> Option<String> {
    let text = schema["description"].as_str()?;
    Some(text.split('\n').map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned())
}

/// A default as it would be written in TOML.
fn default_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Object(map) if map.is_empty() => "`{}`".into(),
        other => format!("`{}`", toml_value(other)),
    }
}

fn toml_value(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k} = {}", toml_value(v))).collect();
            format!("{{{}}}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

/// Text safe in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == markdown(), "docs/configuration.md is stale: run `make config-docs`");
    }

    #[test]
    fn every_component_and_section_is_in_the_reference() {
        let text = markdown();
        let types = socialpipe_connectors::SourceKind::TYPES
            .iter()
            .chain(socialpipe_processors::StageKind::TYPES)
            .chain(socialpipe_sinks::SinkKind::TYPES)
            .filter(|t| !["key_counter", "passthrough", "fault"].contains(t));
        for name in types {
            assert!(text.contains(&format!("### `type = \"{name}\"`")), "{name} is not in the reference");
        }
        for key in ["`retry.max_attempts`", "`retention_hours`", "`batch_max_records`", "`weights.engagement`"] {
            assert!(text.contains(key), "{key} is not in the reference");
        }
        assert!(!text.contains("key_counter"), "test stages are not production types");
    }

    /// The production types of a spec, as the schema (and the release
    /// binary) has them: test stages are not among them.
    fn types(schema: &Value, spec: &str) -> Vec<String> {
        let variants = schema["$defs"][spec]["oneOf"].as_array().unwrap();
        variants.iter().filter_map(|v| v["properties"]["type"]["const"].as_str().map(str::to_owned)).collect()
    }

    // The tests are built with the test stages, so `validate` in a test
    // would accept an example that the release binary refuses.
    #[test]
    fn the_examples_use_production_types_only() {
        let schema = schema();
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for entry in std::fs::read_dir(examples).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // The examples' variables all have defaults.
            let text = super::super::interpolate::interpolate("example", &text, |_| None).unwrap().text;
            let example: toml::Table = toml::from_str(&text).unwrap();
            let of = |value: Option<&toml::Value>| -> Vec<String> {
                let specs: Vec<&toml::Value> = match value {
                    Some(toml::Value::Array(items)) => items.iter().collect(),
                    Some(toml::Value::Table(named)) => named.values().collect(),
                    _ => Vec::new(),
                };
                specs.iter().filter_map(|s| s.get("type").and_then(toml::Value::as_str).map(str::to_owned)).collect()
            };
            for (key, spec) in [("sources", "SourceSpec"), ("stages", "StageSpec"), ("sinks", "SinkSpec")] {
                let known = types(&schema, spec);
                for kind in of(example.get(key)) {
                    assert!(known.contains(&kind), "{}: {key}: {kind} is not a production type", path.display());
                }
            }
        }
    }

    #[test]
    fn the_schema_describes_every_key_and_refuses_unknown_ones() {
        let schema = schema();
        assert_eq!(schema["$defs"]["SinkSpec"]["unevaluatedProperties"], false);
        assert!(schema["properties"]["transport"].is_object());
        let jsonl = schema["$defs"]["SourceSpec"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["type"]["const"] == "jsonl")
            .unwrap();
        assert_eq!(jsonl["properties"]["max_line_bytes"]["default"], 1 << 20);
    }
}
