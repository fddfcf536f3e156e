//! `${VAR}` and `${VAR:-default}` in a TOML text, before it is parsed.
//! Values are escaped for the string they land in; comments are left alone;
//! `$${` writes a literal `${`.

use super::ConfigError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Bare,
    Basic,
    MultiBasic,
    Literal,
    MultiLiteral,
    Comment,
}

/// Replaces every reference using `lookup`; a missing variable without a
/// default is an error naming the line and the key it was for.
/// The interpolated text and the values that went into it (so errors can
/// leave them out: they are often secrets).
pub struct Interpolated {
    pub text: String,
    pub values: Vec<String>,
}

/// Shows no text or value: both may hold secrets.
impl std::fmt::Debug for Interpolated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpolated").field("values", &self.values.len()).finish_non_exhaustive()
    }
}

pub fn interpolate(
    file: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Interpolated, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
    let mut context = Context::Bare;
    let mut line = 1;
    let mut table = String::new();
    let mut line_start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().expect("non-empty");
        match context {
            Context::Bare if c == '#' => context = Context::Comment,
            Context::Bare if rest.starts_with("\"\"\"") => {
                out.push_str("\"\"\"");
                i += 3;
                context = Context::MultiBasic;
                continue;
            }
            Context::Bare if rest.starts_with("'''") => {
                out.push_str("'''");
                i += 3;
                context = Context::MultiLiteral;
                continue;
            }
            Context::Bare if c == '"' => context = Context::Basic,
            Context::Bare if c == '\'' => context = Context::Literal,
            Context::Bare if c == '[' && text[line_start..i].trim().is_empty() => {
                let end = rest.find('\n').unwrap_or(rest.len());
                table = rest[..end].trim().trim_start_matches('[').split(']').next().unwrap_or("").trim().to_owned();
            }
            Context::Basic | Context::MultiBasic if c == '\\' => {
                // Copy the escape and the escaped character as they are.
                let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + escaped]);
                i += 1 + escaped;
                continue;
            }
            Context::Basic if c == '"' => context = Context::Bare,
            Context::MultiBasic if rest.starts_with("\"\"\"") => {
                out.push_str("\"\"\"");
                i += 3;
                context = Context::Bare;
                continue;
            }
            Context::Literal if c == '\'' => context = Context::Bare,
            Context::MultiLiteral if rest.starts_with("'''") => {
                out.push_str("'''");
                i += 3;
                context = Context::Bare;
                continue;
            }
            Context::Comment | Context::Basic | Context::Literal if c == '\n' => context = Context::Bare,
            _ if context != Context::Comment && rest.starts_with("$${") => {
                out.push_str("${");
                i += 3;
                continue;
            }
            _ if context != Context::Comment && rest.starts_with("${") => {
                let close = rest.find('}').ok_or_else(|| {
                    error(file, line, &table, &text[line_start..], "unclosed ${ (write $${ for a literal ${)")
                })?;
                let inner = &rest[2..close];
                let (name, default) = match inner.split_once(":-") {
                    Some((name, default)) => (name, Some(default)),
                    None => (inner, None),
                };
                if !is_var_name(name) {
                    return Err(error(
                        file,
                        line,
                        &table,
                        &text[line_start..],
                        &format!("${{{inner}}} is not a variable reference (names are letters, digits and _)"),
                    ));
                }
                let value = match (lookup(name), default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_owned(),
                    (None, None) => {
                        return Err(error(
                            file,
                            line,
                            &table,
                            &text[line_start..],
                            &format!("environment variable {name} is not set (give a default with ${{{name}:-…}})"),
                        ));
                    }
                };
                out.push_str(&escape(&value, context).map_err(|why| {
                    error(file, line, &table, &text[line_start..], &format!("value of {name} {why}"))
                })?);
                values.push(value);
                i += close + 1;
                continue;
            }
            _ => {}
        }
        if bytes[i] == b'\n' {
            line += 1;
            line_start = i + 1;
        }
        out.push(c);
        i += c.len_utf8();
    }
    Ok(Interpolated { text: out, values })
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn escape(value: &str, context: Context) -> Result<String, &'static str> {
    match context {
        Context::Basic | Context::MultiBasic => {
            let mut out = String::with_capacity(value.len());
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            Ok(out)
        }
        Context::Literal | Context::MultiLiteral if value.contains('\'') || value.contains('\n') => {
            Err("contains ' or a newline, which a 'literal string' cannot hold")
        }
        _ if value.contains('\n') => Err("contains a newline"),
        _ => Ok(value.to_owned()),
    }
}

fn error(file: &str, line: usize, table: &str, line_text: &str, message: &str) -> ConfigError {
    let key = line_text.split_once('=').map(|(k, _)| k.trim()).unwrap_or("").trim_matches('"');
    let path = match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (false, true) => table.to_owned(),
        (false, false) => format!("{table}.{key}"),
    };
    ConfigError::At { file: file.to_owned(), line, key: path, message: message.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr\"et\\".into()),
            "PORT" => Some("9000".into()),
            _ => None,
        }
    }

    #[test]
    fn replaces_references_in_strings_and_bare_values() {
        let text = "a = \"Bearer ${TOKEN}\"\nport = ${PORT}\nb = \"${MISSING:-fallback}\"\n";
        assert_eq!(
            interpolate("f", text, env).unwrap().text,
            "a = \"Bearer s3cr\\\"et\\\\\"\nport = 9000\nb = \"fallback\"\n"
        );
    }

    #[test]
    fn comments_and_escaped_references_are_left_alone() {
        let text = "# uses ${NOPE}\na = \"$${NOPE}\" # ${NOPE}\n";
        assert_eq!(interpolate("f", text, env).unwrap().text, "# uses ${NOPE}\na = \"${NOPE}\" # ${NOPE}\n");
    }

    #[test]
    fn a_missing_variable_names_file_line_and_key() {
        let text = "[http]\nlisten = \"x\"\n\n[sinks.db]\npassword = \"${DB_PASSWORD}\"\n";
        let e = interpolate("app.toml", text, env).unwrap_err().to_string();
        assert_eq!(
            e,
            "app.toml:5: sinks.db.password: environment variable DB_PASSWORD is not set (give a default with ${DB_PASSWORD:-…})"
        );
    }
}
