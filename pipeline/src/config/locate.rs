//! Turns a key path into a line of the configuration text, so every error
//! can say where to look.

use toml_edit::{Document, Item, Table, TableLike, Value};

use super::ConfigError;

/// The 1-based line of the deepest key of `path` present in `text`.
/// Path segments are keys, or `[i]` for array items.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    enum Node<'a> {
        Item(&'a Item),
        Table(&'a Table),
    }
    let doc = Document::parse(text).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut span = None;
    for segment in split(path) {
        if let Some(index) =
            segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|s| s.parse::<usize>().ok())
        {
            match node {
                Node::Item(Item::ArrayOfTables(array)) => match array.get(index) {
                    Some(table) => {
                        span = table.span().or(span);
                        node = Node::Table(table);
                    }
                    None => break,
                },
                Node::Item(Item::Value(Value::Array(array))) => {
                    span = array.get(index).and_then(Value::span).or(span);
                    break;
                }
                _ => break,
            }
            continue;
        }
        let table: &dyn TableLike = match node {
            Node::Item(item) => match item.as_table_like() {
                Some(t) => t,
                None => break,
            },
            Node::Table(t) => t,
        };
        let Some((key, value)) = table.get_key_value(&segment) else {
            break;
        };
        span = key.span().or(span);
        node = Node::Item(value);
    }
    span.map(|s| line_at(text, s.start))
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn split(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        match part.find('[') {
            Some(i) => {
                if i > 0 {
                    out.push(part[..i].to_owned());
                }
                out.extend(part[i..].split_inclusive(']').map(str::to_owned));
            }
            None => out.push(part.to_owned()),
        }
    }
    out
}

/// A TOML or serde error at `path` as a one-line error with file, line and key.
pub fn toml_error(file: &str, text: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    let mut key = path.split(".?").next().unwrap_or("").trim_end_matches('?').to_owned();
    // serde names an unknown field only in its message; make it part of the key.
    if let Some(field) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
        && key.rsplit('.').next() != Some(field)
    {
        key = if key.is_empty() { field.to_owned() } else { format!("{key}.{field}") };
    }
    // serde's span may cover a whole table; the key's own line is more precise.
    let span_line = e.span().map(|s| line_at(text, s.start));
    ConfigError::at(file, span_line.max(line_of(text, &key)), key, message)
}
