//! Output for people (tables) and programs (JSON, Go templates), as Podman prints them.

use anyhow::{anyhow, Result};
use gotmpl::Value as T;
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;

/// JSON indented as Podman indents it; the width differs by command (inspect: 5 spaces,
/// images: 4, ps: 2), so callers say which.
pub fn json_indent<S: Serialize>(v: &S, indent: usize) -> String {
    let mut buf = Vec::new();
    let spaces = " ".repeat(indent);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

/// Converts a template value back to JSON (for the `json` template function).
fn to_json(v: &T) -> Value {
    match v {
        T::Nil => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::Int(i) => Value::from(*i),
        T::Uint(u) => Value::from(*u),
        T::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        T::String(s) => Value::String(s.to_string()),
        T::List(l) => Value::Array(l.iter().map(to_json).collect()),
        T::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        _ => Value::Null,
    }
}

fn str_arg(args: &[T]) -> String {
    match args.first() {
        Some(T::String(s)) => s.to_string(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// A template with Podman's extra functions (json, upper, lower, title, join, truncate, ...).
pub fn template(src: &str) -> Result<gotmpl::Template> {
    let t = gotmpl::Template::new("format")
        .func("json", |a| {
            let v = a.first().map(to_json).unwrap_or(Value::Null);
            Ok(T::String(Arc::from(
                serde_json::to_string(&v).unwrap_or_default(),
            )))
        })
        .func("upper", |a| {
            Ok(T::String(Arc::from(str_arg(a).to_uppercase())))
        })
        .func("lower", |a| {
            Ok(T::String(Arc::from(str_arg(a).to_lowercase())))
        })
        .func("title", |a| {
            let s = str_arg(a);
            let mut out = String::new();
            let mut up = true;
            for c in s.chars() {
                if up {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                up = c.is_whitespace();
            }
            Ok(T::String(Arc::from(out)))
        })
        .func("join", |a| {
            let sep = a
                .get(1)
                .map(|s| str_arg(std::slice::from_ref(s)))
                .unwrap_or_default();
            let items: Vec<String> = match a.first() {
                Some(T::List(l)) => l.iter().map(|x| str_arg(std::slice::from_ref(x))).collect(),
                Some(v) => vec![v.to_string()],
                None => vec![],
            };
            Ok(T::String(Arc::from(items.join(&sep))))
        })
        .func("split", |a| {
            let s = str_arg(a);
            let sep = a
                .get(1)
                .map(|s| str_arg(std::slice::from_ref(s)))
                .unwrap_or_default();
            Ok(T::List(
                s.split(sep.as_str())
                    .map(|x| T::String(Arc::from(x)))
                    .collect(),
            ))
        })
        .func("truncate", |a| {
            let s = str_arg(a);
            let n = match a.get(1) {
                Some(T::Int(i)) => *i as usize,
                Some(T::Uint(u)) => *u as usize,
                _ => s.len(),
            };
            Ok(T::String(Arc::from(s.chars().take(n).collect::<String>())))
        })
        // Go's index on a map yields the element type's zero value for a missing key: with
        // Podman's map[string]string (labels, annotations) that is "", not "<no value>".
        .func("index", |a| {
            if a.len() < 2 {
                return Err(gotmpl::TemplateError::Exec(
                    "wrong number of args for index: want at least 1 got 0".into(),
                ));
            }
            let mut val = a[0].clone();
            for idx in &a[1..] {
                val = match (&val, idx) {
                    (T::Nil, _) => T::String(Arc::from("")),
                    (T::Map(m), T::String(k)) if !m.contains_key(k.as_ref()) => {
                        T::String(Arc::from(""))
                    }
                    _ => val.index(idx)?,
                };
            }
            Ok(val)
        })
        .func("pad", |a| {
            let s = str_arg(a);
            let n = match a.get(1) {
                Some(T::Int(i)) => *i as usize,
                _ => 0,
            };
            Ok(T::String(Arc::from(format!("{s:<n$}"))))
        });
    // Podman users write `{{.Field}}` with a newline escape as "\n" in shells.
    let src = src.replace("\\t", "\t").replace("\\n", "\n");
    t.parse(&src)
        .map_err(|e| anyhow!("template parsing error: {e}"))
}

fn tvalue(v: &Value) -> Result<T> {
    gotmpl::to_value(v).map_err(|e| anyhow!("{e}"))
}

/// Renders `tmpl` for one value.
pub fn render(t: &gotmpl::Template, v: &Value) -> Result<String> {
    t.execute_to_string(&tvalue(v)?)
        .map_err(|e| anyhow!("template: {e}"))
}

/// Splits CamelCase into an upper-case header: `CreatedHuman` -> `CREATED HUMAN`.
fn default_header(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if i > 0
            && c.is_uppercase()
            && (chars[i - 1].is_lowercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
        {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// A table format's spaces outside `{{...}}` become column breaks, as in Podman.
fn tabs_between_fields(body: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                depth += 1;
                out.push(c);
                out.push(chars.next().unwrap_or('{'));
            }
            '}' if depth > 0 && chars.peek() == Some(&'}') => {
                depth -= 1;
                out.push(c);
                out.push(chars.next().unwrap_or('}'));
            }
            ' ' if depth == 0 => out.push('\t'),
            _ => out.push(c),
        }
    }
    out
}

/// Prints rows through a format: "json", a Go template, or "table ..." with headers.
/// `headers` maps a field name to its column header.
pub fn print_rows(
    format: &str,
    rows: &[Value],
    headers: &dyn Fn(&str) -> Option<&'static str>,
    noheading: bool,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if format == "json" || format == "{{json .}}" && rows.is_empty() {
        writeln!(out, "{}", json_indent(&rows, 4))?;
        return Ok(());
    }
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, tabs_between_fields(rest.trim_start())),
        None => (false, format.to_string()),
    };
    let body = body.as_str();
    let t = template(body)?;
    if !is_table {
        for r in rows {
            let mut s = render(&t, r)?;
            if !s.ends_with('\n') {
                s.push('\n');
            }
            out.write_all(s.as_bytes())?;
        }
        return Ok(());
    }
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        // Go's tabwriter (minwidth 12 including the padding of 2) as Podman uses it.
        .minwidth(10)
        .padding(2);
    if !noheading {
        // The header row: the template with each {{.Field}} replaced by its header.
        let mut header = String::new();
        let mut rest = body.replace("\\t", "\t");
        while let Some(i) = rest.find("{{") {
            header.push_str(&rest[..i]);
            let Some(j) = rest[i..].find("}}") else { break };
            let inner = rest[i + 2..i + j]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            let field = inner
                .split_whitespace()
                .find(|w| w.starts_with('.'))
                .map(|w| w.trim_start_matches('.').to_string())
                .unwrap_or_default();
            let h = headers(&field)
                .map(str::to_string)
                .unwrap_or_else(|| default_header(&field));
            header.push_str(&h);
            rest = rest[i + j + 2..].to_string();
        }
        header.push_str(&rest);
        writeln!(tw, "{}", header.trim_end_matches('\n'))?;
    }
    for r in rows {
        let s = render(&t, r)?;
        writeln!(tw, "{}", s.trim_end_matches('\n'))?;
    }
    tw.flush()?;
    out.write_all(&tw.into_inner().map_err(|e| anyhow!("{e}"))?)?;
    Ok(())
}

/// Prints one object per line through a template (inspect --format).
pub fn print_each(format: &str, items: &[Value]) -> Result<()> {
    let t = template(format)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for v in items {
        let mut s = render(&t, v)?;
        if !s.ends_with('\n') {
            s.push('\n');
        }
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn podman_style_templates() {
        let v = json!({"Names": "web", "Config": {"Labels": {"k": "v"}, "Cmd": ["sh"]}, "Mounts": [{"Destination": "/a"}, {"Destination": "/b"}]});
        let r = |f: &str| render(&template(f).unwrap(), &v).unwrap();
        assert_eq!(r("{{.Names}}"), "web");
        assert_eq!(r("{{upper .Names}}"), "WEB");
        assert_eq!(r(r#"{{index .Config.Labels "k"}}"#), "v");
        assert_eq!(r("{{range .Mounts}}{{.Destination}} {{end}}"), "/a /b ");
        assert_eq!(r("{{json .Config.Cmd}}"), r#"["sh"]"#);
        assert_eq!(r(r#"{{index .Config.Labels "nokey"}}|"#), "|");
        assert_eq!(r(r#"{{index .Config.Nothing "k"}}|"#), "|");
        assert_eq!(r(r#"{{index .Config.Cmd 0}}"#), "sh");
    }

    #[test]
    fn headers_split_camel_case() {
        assert_eq!(default_header("CreatedHuman"), "CREATED HUMAN");
        assert_eq!(default_header("ID"), "ID");
    }
}
