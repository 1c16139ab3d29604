//! From text to [`Containerfile`]: directives, logical lines (continuations,
//! comments), heredocs, then one typed instruction per logical line.

use std::time::Duration;

use crate::ast::*;
use crate::mount::Mount;
use crate::words::{extract_flags, parse_json_array, parse_words, split_whitespace};

/// A parse failure at a line of the file.
///
/// Displays as `Containerfile:3: unknown instruction "FOOBAR"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The file name shown in the message (`Containerfile` unless given to
    /// [`parse_named`]).
    pub file: String,
    /// 1-based line of the instruction (its first line).
    pub line: usize,
    pub message: String,
}

/// Parses a Containerfile/Dockerfile. Errors name the file `Containerfile`.
pub fn parse(text: &str) -> Result<Containerfile, ParseError> {
    parse_named(text, "Containerfile")
}

/// Parses, naming the file `file` in errors (e.g. `Dockerfile.dev`).
pub fn parse_named(text: &str, file: &str) -> Result<Containerfile, ParseError> {
    Parser::new(text, file).run()
}

/// A logical line: an instruction's text with continuations joined and its
/// heredocs read.
struct Logical {
    line: usize,
    end_line: usize,
    text: String,
    heredocs: Vec<Heredoc>,
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    file: &'a str,
    escape: char,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        Parser {
            lines,
            file,
            escape: '\\',
        }
    }

    fn err(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Containerfile, ParseError> {
        let start = self.directives()?;
        let logicals = self.logical_lines(start)?;
        let mut cf = Containerfile {
            escape: self.escape,
            global_args: Vec::new(),
            stages: Vec::new(),
        };
        for l in logicals {
            let (word, rest) = split_keyword(&l.text);
            let keyword = word.to_ascii_uppercase();
            let err = |m: String| self.err(l.line, m);
            if keyword == "FROM" {
                let stage = self.from(&l, rest, cf.stages.len()).map_err(err)?;
                if let Some(name) = &stage.name {
                    if cf.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        return Err(self.err(l.line, format!("duplicate stage name {name:?}")));
                    }
                }
                cf.stages.push(stage);
                continue;
            }
            let kind = parse_instruction(&keyword, word, rest, l.line, &l.heredocs, self.escape)
                .map_err(err)?;
            let instruction = Instruction {
                line: l.line,
                end_line: l.end_line,
                original: original_text(&l),
                kind,
            };
            match cf.stages.last_mut() {
                Some(stage) => stage.instructions.push(instruction),
                None => match instruction.kind {
                    InstructionKind::Arg(args) => cf.global_args.extend(args),
                    other => {
                        return Err(self.err(
                            l.line,
                            format!(
                                "{} before the first FROM: only ARG may come before FROM",
                                other.keyword()
                            ),
                        ))
                    }
                },
            }
        }
        if cf.stages.is_empty() {
            // The last line of the file (not the empty "line" after a final newline).
            let last = self
                .lines
                .iter()
                .rposition(|l| !l.trim().is_empty())
                .map_or(1, |i| i + 1);
            return Err(self.err(
                last,
                "no FROM instruction: a build needs at least one stage",
            ));
        }
        Ok(cf)
    }

    /// Reads the parser directives at the very top (`# escape=`, `# syntax=`;
    /// others are ignored like BuildKit does). Returns the first line index
    /// after them.
    fn directives(&mut self) -> Result<usize, ParseError> {
        let mut seen: Vec<String> = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let Some((name, value)) = directive(line) else {
                return Ok(i);
            };
            if seen.contains(&name) {
                return Err(self.err(
                    i + 1,
                    format!("only one {name} parser directive can be used"),
                ));
            }
            if name == "escape" {
                self.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(self.err(
                            i + 1,
                            format!("invalid escape token {value:?}: it must be ` or \\"),
                        ))
                    }
                };
            }
            seen.push(name);
        }
        Ok(self.lines.len())
    }

    fn logical_lines(&self, start: usize) -> Result<Vec<Logical>, ParseError> {
        let mut out = Vec::new();
        let mut i = start;
        while i < self.lines.len() {
            let first = self.lines[i].trim_start();
            i += 1;
            let line_no = i;
            if first.is_empty() || first.starts_with('#') {
                continue;
            }
            let (mut text, mut done) = trim_continuation(first, self.escape);
            // BuildKit skips comment lines and blank lines inside a continuation.
            while !done && i < self.lines.len() {
                let next = self.lines[i];
                i += 1;
                let trimmed = next.trim_start();
                if trimmed.starts_with('#') || trimmed.is_empty() {
                    continue;
                }
                let (part, d) = trim_continuation(next, self.escape);
                text.push_str(&part);
                done = d;
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut logical = Logical {
                line: line_no,
                end_line: i,
                text: text.trim().to_string(),
                heredocs: Vec::new(),
            };
            let (word, rest) = split_keyword(&logical.text);
            if can_have_heredocs(word, rest) {
                for mut h in heredocs_in(rest) {
                    let mut terminated = false;
                    while i < self.lines.len() {
                        let body_line = self.lines[i];
                        i += 1;
                        let candidate = if h.strip_tabs {
                            body_line.trim_start_matches('\t')
                        } else {
                            body_line
                        };
                        if candidate == h.name {
                            terminated = true;
                            break;
                        }
                        h.content.push_str(candidate);
                        h.content.push('\n');
                    }
                    if !terminated {
                        return Err(self.err(
                            line_no,
                            format!("unterminated heredoc: no line {:?} ends it", h.name),
                        ));
                    }
                    logical.heredocs.push(h);
                }
                logical.end_line = i;
            }
            out.push(logical);
        }
        Ok(out)
    }

    fn from(&self, l: &Logical, rest: &str, index: usize) -> Result<Stage, String> {
        let (flags, rest) = extract_flags(rest);
        let flags = Flags::parse("FROM", &flags, &["platform"], &[], &[])?;
        let platform = flags.value("platform");
        let args = split_whitespace(rest);
        let name = match args.as_slice() {
            [_] => None,
            [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                let name = name.to_ascii_lowercase();
                if !valid_stage_name(&name) {
                    return Err(format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ));
                }
                Some(name)
            }
            [] => return Err("FROM requires an image or stage name".into()),
            _ => {
                return Err(
                    "FROM requires either one or three arguments (FROM image [AS name])".into(),
                )
            }
        };
        Ok(Stage {
            index,
            name,
            base: args[0].clone(),
            platform,
            line: l.line,
            original: l.text.clone(),
            instructions: Vec::new(),
        })
    }
}

/// `# name=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.strip_prefix('#')?;
    let (name, value) = body.split_once('=')?;
    let name = name.trim();
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !name.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

/// Removes a trailing escape character (and whitespace after it). Returns
/// the text and whether the logical line ends here.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(s) => (s.to_string(), false),
        None => (line.to_string(), true),
    }
}

/// Splits `KEYWORD rest`.
fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// RUN, COPY and ADD in shell/space form can open heredocs.
fn can_have_heredocs(word: &str, rest: &str) -> bool {
    let kw = word.to_ascii_uppercase();
    if !matches!(kw.as_str(), "RUN" | "COPY" | "ADD") || !rest.contains("<<") {
        return false;
    }
    let (_, args) = extract_flags(rest);
    parse_json_array(args).is_none()
}

/// The heredocs a line opens, in order, with empty bodies.
fn heredocs_in(rest: &str) -> Vec<Heredoc> {
    let (_, args) = extract_flags(rest);
    parse_words(args, '\\')
        .iter()
        .filter_map(|w| parse_heredoc_word(w))
        .collect()
}

/// Recognises `[n]<<[-]NAME` (BuildKit's `^(\d*)<<(-?)\s*([^<]*)$`). A
/// quoted name (`<<"EOF"`, `<<'EOF'`, `<<E"OF"`) turns expansion off.
pub(crate) fn parse_heredoc_word(word: &str) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let quoted = rest.contains(['"', '\'']);
    let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    if name.is_empty() {
        return None;
    }
    Some(Heredoc {
        name,
        fd: word[..digits].parse().unwrap_or(0),
        strip_tabs,
        expand: !quoted,
        content: String::new(),
    })
}

fn original_text(l: &Logical) -> String {
    let mut s = l.text.clone();
    for h in &l.heredocs {
        s.push('\n');
        s.push_str(&h.content);
        s.push_str(&h.name);
    }
    s
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Parses one instruction other than FROM. `word` is the keyword as written
/// (for the unknown-instruction message).
fn parse_instruction(
    keyword: &str,
    word: &str,
    rest: &str,
    line: usize,
    heredocs: &[Heredoc],
    escape: char,
) -> Result<InstructionKind, String> {
    let needs_args = |what: &str| -> Result<(), String> {
        if rest.trim().is_empty() {
            Err(format!("{keyword} requires {what}"))
        } else {
            Ok(())
        }
    };
    Ok(match keyword {
        "RUN" => {
            let (flags, args) = extract_flags(rest);
            let flags = Flags::parse(keyword, &flags, &["network", "security"], &[], &["mount"])?;
            let mounts = flags
                .values("mount")
                .iter()
                .map(|m| Mount::parse(m))
                .collect::<Result<Vec<_>, _>>()?;
            if args.trim().is_empty() {
                return Err("RUN requires a command".into());
            }
            let network = flags.value("network");
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!(
                        "unsupported network mode {n:?} (default, none or host)"
                    ));
                }
            }
            let security = flags.value("security");
            if let Some(s) = &security {
                if !matches!(s.as_str(), "sandbox" | "insecure") {
                    return Err(format!(
                        "unsupported security mode {s:?} (sandbox or insecure)"
                    ));
                }
            }
            InstructionKind::Run(Run {
                mounts,
                network,
                security,
                command: command_form(args),
                heredocs: heredocs.to_vec(),
            })
        }
        "CMD" => {
            needs_args("a command")?;
            InstructionKind::Cmd(command_form(rest))
        }
        "ENTRYPOINT" => {
            needs_args("a command")?;
            InstructionKind::Entrypoint(command_form(rest))
        }
        "SHELL" => match parse_json_array(rest) {
            Some(v) if !v.is_empty() => InstructionKind::Shell(v),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "COPY" | "ADD" => {
            let copy = parse_copy(keyword, rest, heredocs)?;
            if keyword == "COPY" {
                InstructionKind::Copy(copy)
            } else {
                InstructionKind::Add(copy)
            }
        }
        "ENV" | "LABEL" => {
            needs_args("at least one argument")?;
            let pairs = parse_name_val(keyword, rest, escape)?;
            if keyword == "ENV" {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        "ARG" => {
            needs_args("at least one argument")?;
            let mut args = Vec::new();
            for w in parse_words(rest, escape) {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w.clone(), None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                args.push(ArgDecl {
                    name,
                    default,
                    line,
                });
            }
            InstructionKind::Arg(args)
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
            needs_args("exactly one argument")?;
            let v = rest.trim().to_string();
            match keyword {
                "WORKDIR" => InstructionKind::Workdir(v),
                "USER" => InstructionKind::User(v),
                "STOPSIGNAL" => InstructionKind::StopSignal(v),
                _ => InstructionKind::Maintainer(v),
            }
        }
        "EXPOSE" => {
            needs_args("at least one port")?;
            InstructionKind::Expose(split_whitespace(rest))
        }
        "VOLUME" => {
            needs_args("at least one path")?;
            let paths = parse_json_array(rest).unwrap_or_else(|| split_whitespace(rest));
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            InstructionKind::Volume(paths)
        }
        "HEALTHCHECK" => InstructionKind::Healthcheck(parse_healthcheck(rest)?),
        "ONBUILD" => {
            let (inner_word, inner_rest) = split_keyword(rest);
            let inner = inner_word.to_ascii_uppercase();
            match inner.as_str() {
                "" => return Err("ONBUILD requires an instruction".into()),
                "ONBUILD" => return Err("ONBUILD ONBUILD is not allowed".into()),
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{inner} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let kind = parse_instruction(&inner, inner_word, inner_rest, line, &[], escape)?;
            InstructionKind::Onbuild(Box::new(Instruction {
                line,
                end_line: line,
                original: rest.trim().to_string(),
                kind,
            }))
        }
        _ => return Err(format!("unknown instruction {word:?}")),
    })
}

fn command_form(args: &str) -> CommandForm {
    match parse_json_array(args) {
        Some(v) => CommandForm::Exec(v),
        None => CommandForm::Shell(args.trim().to_string()),
    }
}

fn parse_copy(keyword: &str, rest: &str, heredocs: &[Heredoc]) -> Result<Copy, String> {
    let (flags, args) = extract_flags(rest);
    let (values, bools): (&[&str], &[&str]) = if keyword == "COPY" {
        (&["from", "chown", "chmod"], &["link", "parents"])
    } else {
        (
            &["from", "chown", "chmod", "checksum"],
            &["link", "parents", "keep-git-dir"],
        )
    };
    let flags = Flags::parse(keyword, &flags, values, bools, &["exclude"])?;
    let (words, json) = match parse_json_array(args) {
        Some(v) => (v, true),
        None => (split_whitespace(args), false),
    };
    if words.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments (sources and a destination)"
        ));
    }
    let mut heredocs = heredocs.iter();
    let (dest, srcs) = words.split_last().expect("len >= 2");
    let sources = srcs
        .iter()
        .map(|w| {
            if !json && parse_heredoc_word(w).is_some() {
                if let Some(h) = heredocs.next() {
                    return CopySource::Heredoc(h.clone());
                }
            }
            CopySource::Path(w.clone())
        })
        .collect();
    Ok(Copy {
        from: flags.value("from"),
        chown: flags.value("chown"),
        chmod: flags.value("chmod"),
        link: flags.bool("link")?,
        parents: flags.bool("parents")?,
        excludes: flags.values("exclude"),
        checksum: flags.value("checksum"),
        keep_git_dir: flags.bool("keep-git-dir")?,
        sources,
        dest: dest.clone(),
        json,
    })
}

/// ENV and LABEL (BuildKit `parseNameVal`): `k=v k2="v 2"`, or the legacy
/// `k the rest of the line`.
fn parse_name_val(keyword: &str, rest: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    if !words[0].contains('=') {
        let (key, value) = split_keyword(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        }]);
    }
    words
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                format!("syntax error - can't find = in {w:?}. Must be of the form: name=value")
            })?;
            if k.is_empty() {
                return Err(format!("{keyword} names can not be blank"));
            }
            Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            })
        })
        .collect()
}

fn parse_healthcheck(rest: &str) -> Result<Healthcheck, String> {
    let (flags, args) = extract_flags(rest);
    let (kind, cmd) = split_keyword(args);
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !flags.is_empty() || !cmd.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            let flags = Flags::parse(
                "HEALTHCHECK",
                &flags,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
                &[],
                &[],
            )?;
            if cmd.trim().is_empty() {
                return Err("missing command after HEALTHCHECK CMD".into());
            }
            let duration = |f: &Flags, name: &str| -> Result<Option<Duration>, String> {
                let Some(v) = f.value(name) else {
                    return Ok(None);
                };
                let d = parse_go_duration(&v)
                    .ok_or_else(|| format!("invalid duration {v:?} for --{name}"))?;
                if !d.is_zero() && d < Duration::from_millis(1) {
                    return Err(format!("--{name} cannot be less than 1ms"));
                }
                Ok(Some(d))
            };
            let retries = match flags.value("retries") {
                None => None,
                Some(v) => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| format!("invalid number {v:?} for --retries"))?;
                    if n < 0 {
                        return Err("--retries cannot be negative".into());
                    }
                    Some(n as u32)
                }
            };
            Ok(Healthcheck::Cmd {
                interval: duration(&flags, "interval")?,
                timeout: duration(&flags, "timeout")?,
                start_period: duration(&flags, "start-period")?,
                start_interval: duration(&flags, "start-interval")?,
                retries,
                command: command_form(cmd),
            })
        }
        "" => Err("HEALTHCHECK requires CMD or NONE".into()),
        other => Err(format!("unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
}

/// Go's `time.ParseDuration`: `1h2m3.5s`, `300ms`, `1us`; a bare `0`.
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * secs;
    }
    Some(Duration::from_nanos((total * 1e9).round() as u64))
}

/// The `--flags` of one instruction, checked against what it accepts.
struct Flags {
    values: Vec<(String, Option<String>)>,
}

impl Flags {
    /// `values` flags take `=value` and may appear once, `bools` are
    /// `--name` or `--name=true|false`, `multi` ones take a value and repeat.
    /// Unknown flags are errors, as in BuildKit.
    fn parse(
        keyword: &str,
        words: &[String],
        values: &[&str],
        bools: &[&str],
        multi: &[&str],
    ) -> Result<Flags, String> {
        let mut seen: Vec<(String, Option<String>)> = Vec::new();
        for w in words {
            let body = w.trim_start_matches('-');
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_string())),
                None => (body.to_ascii_lowercase(), None),
            };
            let is = |list: &[&str]| list.contains(&name.as_str());
            if !is(values) && !is(bools) && !is(multi) {
                return Err(format!("unknown flag {w:?} for {keyword}"));
            }
            if !is(bools) && value.is_none() {
                return Err(format!("missing a value on flag --{name}"));
            }
            if !is(multi) && seen.iter().any(|(n, _)| *n == name) {
                return Err(format!("duplicate flag --{name} for {keyword}"));
            }
            seen.push((name, value));
        }
        Ok(Flags { values: seen })
    }

    /// A value flag.
    fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    fn bool(&self, name: &str) -> Result<bool, String> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("invalid boolean {v:?} for --{name}")),
            },
        }
    }
}
