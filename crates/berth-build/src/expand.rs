//! Variable expansion and quote removal with BuildKit's rules (a port of the
//! word lexer in `moby/buildkit/frontend/dockerfile/shell/lex.go`).
//!
//! The parser leaves every expandable value raw (quotes and escapes kept), and
//! the build executor expands it at dispatch time, when the stage's ARG and
//! ENV values are known. Which instruction parts are expanded is documented on
//! each field of [`crate::Instruction`]; in short, the builder expands ADD,
//! COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG
//! defaults and the values of `--from`, `--chown`, `--chmod` and `--mount`,
//! but never RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD triggers: the
//! shell in the container sees those untouched.
//!
//! Supported forms: `$v`, `${v}`, `${v:-word}`, `${v-word}`, `${v:+word}`,
//! `${v+word}`, `${v:?msg}`, `${v?msg}` (`word` is expanded recursively),
//! `'single quotes'` (literal), `"double quotes"` (expanded, the escape
//! character escapes only `"`, `$` and itself), and the escape character
//! before any other character outside quotes. An unset variable expands to
//! the empty string; `$` not followed by a name stays `$`.

/// An expansion failed: a syntax error, or `${v:?msg}` with `v` unset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Expands one word: variables replaced, quotes and escapes removed, no
/// splitting (BuildKit `ProcessWord`). This is what every expanding
/// instruction applies to each of its words or values.
///
/// ```
/// let env = |k: &str| (k == "V").then(|| "1.0".to_string());
/// assert_eq!(berth_build::expand("app-${V}.tar", '\\', &env).unwrap(), "app-1.0.tar");
/// assert_eq!(berth_build::expand("'$V' \"$V\"", '\\', &env).unwrap(), "$V 1.0");
/// ```
pub fn expand<L>(word: &str, escape: char, lookup: &L) -> Result<String, ExpandError>
where
    L: Fn(&str) -> Option<String>,
{
    let mut lexer = Lexer::new(word, escape, lookup);
    let mut out = Words::new(false);
    lexer.process(None, &mut out)?;
    Ok(out.into_words().pop().unwrap_or_default())
}

/// Expands the body of an unquoted COPY/ADD heredoc (`COPY <<EOF /f`) the
/// way BuildKit does since moby/buildkit#2442: variables are replaced and
/// escapes processed, but quote characters are kept in the output (single
/// quotes still stop expansion of what they enclose). Quoted delimiters
/// (`<<"EOF"`) mean no expansion at all: use the body as is. RUN heredocs
/// are never expanded by the builder; the shell does it.
pub fn expand_heredoc<L>(content: &str, escape: char, lookup: &L) -> Result<String, ExpandError>
where
    L: Fn(&str) -> Option<String>,
{
    let mut lexer = Lexer::new(content, escape, lookup);
    lexer.raw_quotes = true;
    let mut out = Words::new(false);
    lexer.process(None, &mut out)?;
    Ok(out.into_words().pop().unwrap_or_default())
}

/// Expands and splits into words on unquoted whitespace, including the
/// whitespace inside the values of unquoted variables (BuildKit
/// `ProcessWords`). An empty quoted string (`""`) is kept as an empty word.
pub fn expand_words<L>(text: &str, escape: char, lookup: &L) -> Result<Vec<String>, ExpandError>
where
    L: Fn(&str) -> Option<String>,
{
    let mut lexer = Lexer::new(text, escape, lookup);
    let mut out = Words::new(true);
    lexer.process(None, &mut out)?;
    Ok(out.into_words())
}

/// Collects the output of the lexer as one word or as split words.
struct Words {
    split: bool,
    words: Vec<String>,
    current: String,
    /// A word has started (possibly empty, from `""`).
    started: bool,
}

impl Words {
    fn new(split: bool) -> Self {
        Words {
            split,
            words: Vec::new(),
            current: String::new(),
            started: !split,
        }
    }

    /// A character of the source text: unquoted whitespace ends a word.
    fn add_char(&mut self, ch: char) {
        if self.split && ch.is_whitespace() {
            self.end_word();
        } else {
            self.current.push(ch);
            self.started = true;
        }
    }

    /// Quoted or escaped text: never splits, and starts a word even if empty.
    fn add_raw(&mut self, s: &str) {
        self.current.push_str(s);
        self.started = true;
    }

    /// The value of an unquoted variable: split like source text.
    fn add_expanded(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn end_word(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.current));
            self.started = false;
        }
    }

    fn into_words(mut self) -> Vec<String> {
        if !self.split {
            return vec![self.current];
        }
        self.end_word();
        self.words
    }
}

struct Lexer<'a, L> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a L,
    /// Keep quote characters in the output (heredoc bodies).
    raw_quotes: bool,
}

impl<'a, L> Lexer<'a, L>
where
    L: Fn(&str) -> Option<String>,
{
    fn new(text: &str, escape: char, lookup: &'a L) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            escape,
            lookup,
            raw_quotes: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn process(&mut self, stop: Option<char>, out: &mut Words) -> Result<(), ExpandError> {
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(());
            }
            if ch == '\'' || ch == '"' {
                let start = self.pos;
                let quoted = if ch == '\'' {
                    self.single_quote()
                } else {
                    self.double_quote()
                };
                match quoted {
                    Ok(s) => out.add_raw(&s),
                    // In a heredoc body a lone quote (`don't`) is just text;
                    // BuildKit fails there, which we find needlessly strict.
                    Err(_) if self.raw_quotes => {
                        self.pos = start + 1;
                        out.add_raw(&ch.to_string());
                    }
                    Err(e) => return Err(e),
                }
            } else if ch == '$' {
                let s = self.dollar()?;
                out.add_expanded(&s);
            } else if ch == self.escape {
                self.next();
                if let Some(c) = self.next() {
                    out.add_raw(&c.to_string());
                }
            } else {
                self.next();
                out.add_char(ch);
            }
        }
        match stop {
            Some(c) => Err(ExpandError(format!(
                "unexpected end of statement while looking for matching {c}"
            ))),
            None => Ok(()),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut s = String::new();
        if self.raw_quotes {
            s.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
                Some('\'') => {
                    if self.raw_quotes {
                        s.push('\'');
                    }
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut s = String::new();
        if self.raw_quotes {
            s.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        s.push('"');
                    }
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) => {
                    self.next();
                    if c == self.escape {
                        if let Some(n) = self.peek() {
                            if n == '"' || n == '$' || n == self.escape {
                                self.next();
                                s.push(n);
                                continue;
                            }
                        }
                    }
                    s.push(c);
                }
            }
        }
    }

    /// A name: letters, digits and `_`; or a run of digits; or one special
    /// parameter character (BuildKit `processName`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(c) {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        self.next();
        let name = self.name();
        let value = |s: &Self| (s.lookup)(&name);
        match self.next() {
            None => Err(ExpandError(format!("missing '}}' in ${{{name}"))),
            Some('}') => {
                if name.is_empty() {
                    return Err(ExpandError("bad substitution: ${}".into()));
                }
                Ok(value(self).unwrap_or_default())
            }
            Some(c) if !name.is_empty() && matches!(c, ':' | '-' | '+' | '?') => {
                let colon = c == ':';
                let modifier = if colon { self.next() } else { Some(c) };
                let modifier = match modifier {
                    Some(m @ ('-' | '+' | '?')) => m,
                    Some(m) => {
                        return Err(ExpandError(format!(
                            "unsupported modifier ({m}) in substitution of ${{{name}}}"
                        )))
                    }
                    None => return Err(ExpandError(format!("missing '}}' in ${{{name}"))),
                };
                let mut w = Words::new(false);
                self.process(Some('}'), &mut w)
                    .map_err(|_| ExpandError(format!("missing '}}' in ${{{name}")))?;
                let word = w.into_words().pop().unwrap_or_default();
                let v = value(self);
                // With the colon, an empty value counts as unset.
                let set = match &v {
                    Some(s) => !(colon && s.is_empty()),
                    None => false,
                };
                match modifier {
                    '-' => Ok(if set { v.unwrap_or_default() } else { word }),
                    '+' => Ok(if set { word } else { String::new() }),
                    _ => {
                        if set {
                            Ok(v.unwrap_or_default())
                        } else if word.is_empty() {
                            Err(ExpandError(format!(
                                "{name}: is not allowed to be {}",
                                if colon { "unset or empty" } else { "unset" }
                            )))
                        } else {
                            Err(ExpandError(format!("{name}: {word}")))
                        }
                    }
                }
            }
            Some(c) => Err(ExpandError(format!(
                "unsupported modifier ({c}) in substitution of ${{{name}}}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("x  y".into()),
            "B_2" => Some("b2".into()),
            "1" => Some("one".into()),
            _ => None,
        }
    }

    #[test]
    fn expand_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("$A", "a"),
            ("${A}", "a"),
            ("x${A}y", "xay"),
            ("$A$A", "aa"),
            ("$B_2.txt", "b2.txt"),
            ("$UNSET", ""),
            ("pre-$UNSET-post", "pre--post"),
            ("$", "$"),
            ("a$ b", "a$ b"),
            ("$1", "one"),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${UNSET-def}", "def"),
            ("${A:-def}", "a"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${A}}", "a"),
            ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
            ("${UNSET:-a b}", "a b"),
            ("${UNSET:-\"q }\"}", "q }"),
            ("${A:?must}", "a"),
            (r"\$A", "$A"),
            (r"\${A}", "${A}"),
            (r"a\ b", "a b"),
            ("'$A'", "$A"),
            ("\"$A\"", "a"),
            (r#""\$A""#, "$A"),
            (r#""a\nb""#, r"a\nb"),
            (r#""say \"hi\"""#, r#"say "hi""#),
            ("'a\"b'", "a\"b"),
            ("\"a'b\"", "a'b"),
            ("$SP", "x  y"),
            ("${A}_${A}", "a_a"),
        ];
        for (input, want) in cases {
            assert_eq!(
                expand(input, '\\', &env).as_deref(),
                Ok(*want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn expand_backtick_escape() {
        assert_eq!(expand("`$A", '`', &env).unwrap(), "$A");
        assert_eq!(expand(r"C:\dir\$A", '`', &env).unwrap(), r"C:\dir\a");
    }

    #[test]
    fn expand_errors() {
        let cases: &[(&str, &str)] = &[
            ("${UNSET:?need it}", "UNSET: need it"),
            ("${EMPTY:?}", "EMPTY: is not allowed to be unset or empty"),
            ("${UNSET?}", "UNSET: is not allowed to be unset"),
            ("${A", "missing '}' in ${A"),
            ("${}", "bad substitution: ${}"),
            (
                "${A:=x}",
                "unsupported modifier (=) in substitution of ${A}",
            ),
            (
                "'open",
                "unexpected end of statement while looking for matching single-quote",
            ),
            (
                "\"open",
                "unexpected end of statement while looking for matching double-quote",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                expand(input, '\\', &env),
                Err(ExpandError(want.to_string())),
                "input {input:?}"
            );
        }
        // `${v?msg}` accepts an empty value.
        assert_eq!(expand("${EMPTY?x}", '\\', &env).unwrap(), "");
    }

    #[test]
    fn expand_heredoc_keeps_quotes() {
        let cases: &[(&str, &str)] = &[
            ("key=$A\n", "key=a\n"),
            ("<?xml version=\"1.0\"?>\n", "<?xml version=\"1.0\"?>\n"),
            ("\"$A\" '$A'\n", "\"a\" '$A'\n"),
            ("price: \\$5\n", "price: $5\n"),
            ("${UNSET:-none}\n", "none\n"),
            ("don't $A\n", "don't a\n"),
            ("say \"$A\n", "say \"a\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                expand_heredoc(input, '\\', &env).unwrap(),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn expand_words_table() {
        let cases: &[(&str, &[&str])] = &[
            ("a b", &["a", "b"]),
            ("  a   b  ", &["a", "b"]),
            ("$SP", &["x", "y"]),
            ("\"$SP\"", &["x  y"]),
            ("'a b' c", &["a b", "c"]),
            ("\"\" x", &["", "x"]),
            ("$UNSET x", &["x"]),
            (r"a\ b", &["a b"]),
            ("80/tcp ${A}", &["80/tcp", "a"]),
        ];
        for (input, want) in cases {
            assert_eq!(
                expand_words(input, '\\', &env).unwrap(),
                *want,
                "input {input:?}"
            );
        }
    }
}
