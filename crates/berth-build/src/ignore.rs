//! `.containerignore` / `.dockerignore`: Docker's pattern semantics (a port
//! of `moby/patternmatcher` and its `ignorefile` reader), and the lookup of
//! the Containerfile and ignore file in a build context as Podman does it.

use std::path::{Path, PathBuf};

use crate::parser::ParseError;

/// The exclusion rules of one ignore file.
///
/// * One pattern per line; a line starting with `#` is a comment; blank
///   lines are skipped; surrounding whitespace is trimmed.
/// * Patterns are cleaned like Go's `filepath.Clean` (`./a` → `a`,
///   `a/../b` → `b`, `a/` → `a`) and a leading `/` is dropped: everything is
///   relative to the context root. A trailing `/` therefore has no
///   "directories only" meaning, unlike `.gitignore`.
/// * `*` matches any run of characters except `/`, `?` one character except
///   `/`, `**` any number of directories (including none), `[a-z]`/`[^a]`
///   classes, `\` escapes the next character.
/// * A pattern matches a path if it matches the whole path or any of its
///   parent directories (so `build` excludes `build/x/y`).
/// * `!pattern` re-includes; the last matching line wins.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    exception: bool,
    tokens: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: anything but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `**/` or `**` inside: `(.*/)?`.
    AnyDirs,
    /// `**` at the end: `.*`.
    AnyRest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl IgnoreMatcher {
    /// Reads an ignore file's text. Errors (a bad `[` class) name the line of
    /// `.containerignore`.
    pub fn new(text: &str) -> Result<IgnoreMatcher, ParseError> {
        Self::new_named(text, ".containerignore")
    }

    /// Like [`IgnoreMatcher::new`], naming the file `file` in errors.
    pub fn new_named(text: &str, file: &str) -> Result<IgnoreMatcher, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let exception = p.starts_with('!');
            if exception {
                p = p[1..].trim();
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let tokens = compile(&cleaned).map_err(|message| ParseError {
                file: file.to_string(),
                line: i + 1,
                message,
            })?;
            patterns.push(Pattern {
                text: cleaned,
                exception,
                tokens,
            });
        }
        Ok(IgnoreMatcher { patterns })
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is
    /// left out of the context.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = clean(rel_path.trim_start_matches('/'));
        if path == "." {
            // The context root itself is never excluded.
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for p in &self.patterns {
            // Only a pattern that could flip the verdict matters.
            if p.exception != excluded {
                continue;
            }
            let mut matched = p.matches(&path);
            if !matched {
                matched = (1..=parents.len()).any(|n| p.matches(&parents[..n].join("/")));
            }
            if matched {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether a walker can skip the directory `rel_dir` entirely: it is
    /// excluded and no `!` exception could re-include something under it.
    /// When this is false for an excluded directory, walk into it and test
    /// each entry with [`IgnoreMatcher::is_excluded`].
    pub fn can_skip_dir(&self, rel_dir: &str) -> bool {
        if !self.is_excluded(rel_dir) {
            return false;
        }
        let dir = clean(rel_dir.trim_start_matches('/'));
        let dir_parts: Vec<&str> = dir.split('/').collect();
        !self.patterns.iter().any(|p| {
            p.exception
                && p.text
                    .split('/')
                    .take_while(|c| !c.contains(['*', '?', '[', '\\']))
                    .zip(&dir_parts)
                    .all(|(a, b)| a == *b)
        })
    }

    /// Whether there are `!` exceptions.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// The cleaned patterns, exceptions with their leading `!`.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &chars)
    }
}

fn match_tokens(toks: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Lit(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Tok::One => matches!(s.first(), Some(c) if *c != '/') && match_tokens(rest, &s[1..]),
        Tok::Class { negated, ranges } => match s.first() {
            Some(c) => {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated && match_tokens(rest, &s[1..])
            }
            None => false,
        },
        Tok::Star => {
            let mut i = 0;
            loop {
                if match_tokens(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::AnyRest => true,
        Tok::AnyDirs => {
            // Zero directories, or any prefix ending in `/`.
            match_tokens(rest, s)
                || (0..s.len()).any(|i| s[i] == '/' && match_tokens(rest, &s[i + 1..]))
        }
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i == chars.len() {
                    Tok::AnyRest
                } else {
                    Tok::AnyDirs
                });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => match chars.get(i) {
                Some(n) => {
                    toks.push(Tok::Lit(*n));
                    i += 1;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while i < chars.len() {
                    let mut lo = chars[i];
                    i += 1;
                    if lo == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    if lo == '\\' && i < chars.len() {
                        lo = chars[i];
                        i += 1;
                    }
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        hi = chars[i + 1];
                        i += 2;
                        if hi < lo {
                            return Err(format!("invalid range {lo}-{hi} in pattern {p:?}"));
                        }
                    }
                    ranges.push((lo, hi));
                }
                if !closed {
                    return Err(format!("syntax error in pattern {p:?}: missing ']'"));
                }
                toks.push(Tok::Class { negated, ranges });
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The Containerfile Podman uses when no `-f` is given: `Containerfile`,
/// else `Dockerfile`, in the context directory.
pub fn find_containerfile(context: &Path) -> Option<PathBuf> {
    ["Containerfile", "Dockerfile"]
        .iter()
        .map(|n| context.join(n))
        .find(|p| p.is_file())
}

/// The ignore file Buildah reads when `--ignorefile` is not given: next to
/// the Containerfile `<file>.containerignore`, then `<file>.dockerignore`;
/// then `.containerignore`, then `.dockerignore` in the context. A relative
/// `containerfile` is taken relative to the context.
pub fn find_ignore_file(context: &Path, containerfile: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(cf) = containerfile {
        let cf = if cf.is_absolute() {
            cf.to_path_buf()
        } else {
            context.join(cf)
        };
        for ext in [".containerignore", ".dockerignore"] {
            let mut s = cf.clone().into_os_string();
            s.push(ext);
            candidates.push(PathBuf::from(s));
        }
    }
    candidates.push(context.join(".containerignore"));
    candidates.push(context.join(".dockerignore"));
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        let cases = [
            ("a/b", "a/b"),
            ("./a", "a"),
            ("a/../b", "b"),
            ("a//b/", "a/b"),
            ("/../x", "/x"),
            ("../x", "../x"),
            ("", "."),
            ("a/..", "."),
        ];
        for (i, want) in cases {
            assert_eq!(clean(i), want, "{i}");
        }
    }

    #[test]
    fn ignore_table() {
        // (ignore file, path, excluded)
        let cases: &[(&str, &str, bool)] = &[
            ("*.md", "README.md", true),
            ("*.md", "docs/README.md", false),
            ("*/*.c", "include/rootless.c", true),
            ("*/*.c", "a/b/c.c", false),
            ("**/*.go", "a/b/c.go", true),
            ("**/*.go", "c.go", true),
            ("**/output*", "x/y/output.log", true),
            ("src", "src", true),
            ("src", "src/a/b.rs", true),
            ("src", "srcx", false),
            ("/src", "src/main.rs", true),
            ("./src/", "src/main.rs", true),
            ("a/**", "a/b/c", true),
            ("a/**", "a", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/../b", "b/x", true),
            ("file?.txt", "file1.txt", true),
            ("file?.txt", "file10.txt", false),
            ("[a-c].txt", "b.txt", true),
            ("[^a-c].txt", "b.txt", false),
            ("[^a-c].txt", "d.txt", true),
            (r"\*.txt", "*.txt", true),
            (r"\*.txt", "a.txt", false),
            ("# comment\n*.log", "x.log", true),
            ("# *.log", "x.log", false),
            ("  *.log  ", "x.log", true),
            ("*.doc\n!Help.doc", "Help.doc", false),
            ("*.doc\n!Help.doc", "other.doc", true),
            ("!Help.doc\n*.doc", "Help.doc", true),
            ("docs\n!docs/keep.md", "docs/keep.md", false),
            ("docs\n!docs/keep.md", "docs/other.md", true),
            ("*\n!src\nsrc/*.tmp", "src/a.rs", false),
            ("*\n!src\nsrc/*.tmp", "src/a.tmp", true),
            ("*\n!src\nsrc/*.tmp", "Makefile", true),
            (".git", ".git/HEAD", true),
            ("a.b", "axb", false),
            ("**", "anything/at/all", true),
            ("*", ".", false),
            ("*", "./x", true),
        ];
        for (text, path, want) in cases {
            let m = IgnoreMatcher::new(text).unwrap();
            assert_eq!(
                m.is_excluded(path),
                *want,
                "patterns {text:?} path {path:?}"
            );
        }
    }

    #[test]
    fn skip_dirs() {
        let m = IgnoreMatcher::new("docs\nbuild\n!docs/keep.md\n").unwrap();
        assert!(m.can_skip_dir("build"));
        assert!(!m.can_skip_dir("docs"), "an exception lives under docs");
        assert!(!m.can_skip_dir("src"), "not excluded");
        assert!(m.has_exceptions());
        let m = IgnoreMatcher::new("*\n!**/*.rs\n").unwrap();
        assert!(!m.can_skip_dir("anything"));
    }

    #[test]
    fn bad_pattern_names_the_line() {
        let err = IgnoreMatcher::new("ok\n[abc\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err
            .to_string()
            .starts_with(".containerignore:2: syntax error"));
        assert_eq!(
            IgnoreMatcher::new("/a/\n!./b\n").unwrap().patterns(),
            vec!["a", "!b"]
        );
    }

    #[test]
    fn file_lookup() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        assert_eq!(find_containerfile(&dir), None);
        std::fs::write(dir.join("Dockerfile"), "FROM x").unwrap();
        assert_eq!(find_containerfile(&dir), Some(dir.join("Dockerfile")));
        std::fs::write(dir.join("Containerfile"), "FROM x").unwrap();
        assert_eq!(find_containerfile(&dir), Some(dir.join("Containerfile")));

        let cf = Path::new("Containerfile");
        assert_eq!(find_ignore_file(&dir, Some(cf)), None);
        std::fs::write(dir.join(".dockerignore"), "").unwrap();
        assert_eq!(
            find_ignore_file(&dir, Some(cf)),
            Some(dir.join(".dockerignore"))
        );
        std::fs::write(dir.join(".containerignore"), "").unwrap();
        assert_eq!(
            find_ignore_file(&dir, None),
            Some(dir.join(".containerignore"))
        );
        std::fs::write(dir.join("Containerfile.dockerignore"), "").unwrap();
        assert_eq!(
            find_ignore_file(&dir, Some(cf)),
            Some(dir.join("Containerfile.dockerignore"))
        );
        std::fs::write(dir.join("Containerfile.containerignore"), "").unwrap();
        assert_eq!(
            find_ignore_file(&dir, Some(&dir.join("Containerfile"))),
            Some(dir.join("Containerfile.containerignore"))
        );
    }
}
