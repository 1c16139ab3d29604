//! Low-level splitting of an instruction's arguments, ported from BuildKit's
//! `parser/line_parsers.go` so that quoting quirks match Docker exactly.

/// Splits on unquoted whitespace, keeping quotes and escape characters in the
/// words (BuildKit `parseWords`). Used by ENV, LABEL and ARG: the values are
/// unquoted later by [`crate::expand()`].
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if !in_word && quote.is_none() {
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            in_word = true;
        }
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            } else if ch == escape && q != '\'' {
                if i + 1 == chars.len() {
                    // An escape at the very end is dropped.
                    quote = None;
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                word.push(chars[i]);
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            continue;
        }
        if ch.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            blank_ok = false;
            in_word = false;
            i += 1;
            continue;
        }
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        }
        if ch == escape {
            if i + 1 == chars.len() {
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            word.push(chars[i]);
            i += 1;
            continue;
        }
        word.push(ch);
        i += 1;
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Splits off the leading `--flag[=value]` words of an instruction (BuildKit
/// `extractBuilderFlags`): quotes in flag values are removed, a lone `--`
/// ends the flags. Returns the flags and the rest of the line.
pub(crate) fn extract_flags(line: &str) -> (Vec<String>, &str) {
    let bytes = line.as_bytes();
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos + 1 >= bytes.len() || bytes[pos] != b'-' || bytes[pos + 1] != b'-' {
            return (flags, &line[pos.min(line.len())..]);
        }
        let mut word: Vec<u8> = Vec::new();
        let mut quote: Option<u8> = None;
        while pos < bytes.len() {
            let ch = bytes[pos];
            match quote {
                None if ch.is_ascii_whitespace() => break,
                None if ch == b'\'' || ch == b'"' => quote = Some(ch),
                Some(q) if ch == q => quote = None,
                _ if ch == b'\\' => {
                    if pos + 1 < bytes.len() {
                        pos += 1;
                        word.push(bytes[pos]);
                    }
                }
                _ => word.push(ch),
            }
            pos += 1;
        }
        let word = String::from_utf8_lossy(&word).into_owned();
        if word == "--" {
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            return (flags, &line[pos..]);
        }
        flags.push(word);
    }
}

/// Parses a JSON array of strings (the exec form). `None` when `rest` is not
/// one, in which case BuildKit falls back to the shell form.
pub(crate) fn parse_json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Splits on whitespace, no quoting (BuildKit `parseStringsWhitespaceDelimited`).
pub(crate) fn split_whitespace(rest: &str) -> Vec<String> {
    rest.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_words_keeps_quotes() {
        let cases: &[(&str, char, &[&str])] = &[
            ("a b  c", '\\', &["a", "b", "c"]),
            (r#"k="v 1" x='y z'"#, '\\', &[r#"k="v 1""#, "x='y z'"]),
            (r"a\ b c", '\\', &[r"a\ b", "c"]),
            ("a` b c", '`', &["a` b", "c"]),
            (r#""" x"#, '\\', &[r#""""#, "x"]),
            (r#"k="a\"b""#, '\\', &[r#"k="a\"b""#]),
        ];
        for (input, esc, want) in cases {
            assert_eq!(parse_words(input, *esc), *want, "input {input:?}");
        }
    }

    #[test]
    fn extract_flags_cases() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("--from=a b c", &["--from=a"], "b c"),
            (
                "  --link --chown=\"1 2\" x y",
                &["--link", "--chown=1 2"],
                "x y",
            ),
            ("-- --notflag x", &[], "--notflag x"),
            ("x --from=a", &[], "x --from=a"),
            ("--a", &["--a"], ""),
        ];
        for (input, want_flags, want_rest) in cases {
            let (f, r) = extract_flags(input);
            assert_eq!(f, *want_flags, "input {input:?}");
            assert_eq!(r, *want_rest, "input {input:?}");
        }
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            parse_json_array(r#" ["a", "b c"] "#),
            Some(vec!["a".into(), "b c".into()])
        );
        assert_eq!(parse_json_array("[a, b]"), None);
        assert_eq!(parse_json_array("echo [x]"), None);
        assert_eq!(parse_json_array(r#"["a", 1]"#), None);
    }
}
