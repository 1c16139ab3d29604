//! `--change`/`-c` instructions (`podman import`, `commit`) and the config `import`
//! writes.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::error::{ImageError, Result};
use crate::types::{host_architecture, ContainerConfig, Empty, History, ImageConfig, RootFs};

/// The config `podman import` writes for a tarball whose content has `diff_id`:
/// linux on the host architecture, one history entry
/// `/bin/sh -c #(nop) ADD file:<hex> in /` with comment `imported from tarball`.
/// Podman takes `created` from the tarball's modification time. Serialized with
/// [`ImageConfig::to_json_bytes`] it is byte-identical to Podman's config.
pub fn new_import_config(diff_id: &str, created: DateTime<Utc>) -> ImageConfig {
    let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
    ImageConfig {
        created: Some(created),
        architecture: host_architecture().to_string(),
        os: "linux".to_string(),
        config: ContainerConfig::default(),
        rootfs: RootFs {
            fs_type: "layers".to_string(),
            diff_ids: vec![diff_id.to_string()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some(format!("/bin/sh -c #(nop) ADD file:{hex} in /")),
            comment: Some("imported from tarball".to_string()),
            ..History::default()
        }],
        ..ImageConfig::default()
    }
}

/// Applies Dockerfile-style `--change` instructions to `config.config`, in order.
///
/// Accepted (instruction names in any case, separated from the value by a space or
/// `=`: `CMD /bin/sh` and `CMD=/bin/sh`):
/// - `CMD`, `ENTRYPOINT`: a JSON array, or a shell form run as `/bin/sh -c VALUE`
///   (`ENTRYPOINT` with an empty value clears the entrypoint);
/// - `ENV k=v [k2="v 2" ...]` or `ENV k v...`; an existing variable is replaced;
/// - `EXPOSE port[/tcp|udp] ...` (ranges `a-b` too);
/// - `LABEL k=v ["k 2"="v 2" ...]`;
/// - `USER`, `WORKDIR` (relative to the previous one), `VOLUME` (JSON array or
///   space-separated), `STOPSIGNAL` (stored as a number, as Podman does);
/// - `ONBUILD` is accepted and ignored (OCI configs cannot hold it).
///
/// Anything else is an error naming the instruction. `config` is untouched on error.
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<()> {
    let mut cc = config.config.clone();
    for change in changes {
        apply_change(&mut cc, change)?;
    }
    config.config = cc;
    Ok(())
}

fn apply_change(cc: &mut ContainerConfig, change: &str) -> Result<()> {
    let trimmed = change.trim_start();
    let Some(sep) = trimmed.find(|c: char| c.is_whitespace() || c == '=') else {
        return Err(ImageError::change(change, "must be formatted as KEY VALUE"));
    };
    let instruction = trimmed[..sep].to_ascii_uppercase();
    let value = trimmed[sep + 1..].trim();
    match instruction.as_str() {
        "CMD" => cc.cmd = Some(json_or_shell(value, true)),
        "ENTRYPOINT" => cc.entrypoint = Some(json_or_shell(value, false)),
        "ENV" => {
            for (key, val) in parse_env(change, value)? {
                let env = cc.env.get_or_insert_with(Vec::new);
                let prefix = format!("{key}=");
                let entry = format!("{key}={val}");
                match env
                    .iter_mut()
                    .find(|e| e.starts_with(&prefix) || **e == key)
                {
                    Some(existing) => *existing = entry,
                    None => env.push(entry),
                }
            }
        }
        "EXPOSE" => {
            let ports = parse_expose(change, value)?;
            let exposed = cc.exposed_ports.get_or_insert_with(BTreeMap::new);
            exposed.extend(ports.into_iter().map(|p| (p, Empty {})));
        }
        "LABEL" => {
            let pairs = parse_labels(change, value)?;
            cc.labels.get_or_insert_with(BTreeMap::new).extend(pairs);
        }
        "USER" => {
            if value.is_empty() {
                return Err(ImageError::change(change, "must provide a value to USER"));
            }
            cc.user = Some(value.to_string());
        }
        "VOLUME" => {
            let volumes = match serde_json::from_str::<Vec<String>>(value) {
                Ok(list) => list,
                Err(_) => value.split_whitespace().map(str::to_string).collect(),
            };
            if volumes.is_empty() || volumes.iter().any(String::is_empty) {
                return Err(ImageError::change(
                    change,
                    "VOLUME needs at least one non-empty path",
                ));
            }
            let map = cc.volumes.get_or_insert_with(BTreeMap::new);
            map.extend(volumes.into_iter().map(|v| (v, Empty {})));
        }
        "WORKDIR" => {
            if value.is_empty() {
                return Err(ImageError::change(
                    change,
                    "must provide a non-empty WORKDIR",
                ));
            }
            let base = cc.working_dir.as_deref().unwrap_or("/");
            cc.working_dir = Some(join_clean(base, value));
        }
        "STOPSIGNAL" => {
            let signal = parse_signal(value).ok_or_else(|| {
                ImageError::change(
                    change,
                    format!("STOPSIGNAL must be given a valid signal, not {value:?}"),
                )
            })?;
            cc.stop_signal = Some(signal.to_string());
        }
        "ONBUILD" => {
            if value.is_empty() {
                return Err(ImageError::change(
                    change,
                    "ONBUILD must be given an argument",
                ));
            }
        }
        other => {
            return Err(ImageError::change(
                change,
                format!("invalid instruction {other}"),
            ));
        }
    }
    Ok(())
}

/// A JSON string array, else the shell form `/bin/sh -c VALUE`. An empty value gives
/// `["/bin/sh", "-c"]` for CMD and `[]` for ENTRYPOINT, as Podman does.
fn json_or_shell(value: &str, is_cmd: bool) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(value) {
        return list;
    }
    let mut args = Vec::new();
    if is_cmd || !value.is_empty() {
        args.extend(["/bin/sh".to_string(), "-c".to_string()]);
    }
    if !value.is_empty() {
        args.push(value.to_string());
    }
    args
}

fn parse_env(change: &str, value: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(value).map_err(|reason| ImageError::change(change, reason))?;
    let Some(first) = words.first() else {
        return Err(ImageError::change(
            change,
            "ENV must have at least one argument",
        ));
    };
    if !first.contains('=') {
        // `ENV key value...`: everything after the key is the value.
        let rest = value
            .trim_start()
            .split_once(char::is_whitespace)
            .map(|(_, rest)| rest.trim())
            .unwrap_or("");
        let val = unquote(rest).map_err(|reason| ImageError::change(change, reason))?;
        return Ok(vec![(first.clone(), val)]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(ImageError::change(change, "ENV names can not be blank")),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(ImageError::change(
                change,
                format!("can't find = in {word:?}: must be of the form name=value"),
            )),
        })
        .collect()
}

fn parse_labels(change: &str, value: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(value).map_err(|reason| ImageError::change(change, reason))?;
    if words.is_empty() {
        return Err(ImageError::change(
            change,
            "LABEL must be formatted key=value",
        ));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(ImageError::change(
                change,
                "LABEL must have a non-empty key",
            )),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(ImageError::change(
                change,
                "LABEL must be formatted key=value",
            )),
        })
        .collect()
}

fn parse_expose(change: &str, value: &str) -> Result<Vec<String>> {
    let mut ports = Vec::new();
    for spec in value.split_whitespace() {
        let (range, proto) = match spec.split_once('/') {
            Some((range, proto)) => (range, proto.to_ascii_lowercase()),
            None => (spec, "tcp".to_string()),
        };
        if proto != "tcp" && proto != "udp" {
            return Err(ImageError::change(
                change,
                "EXPOSE protocol must be TCP or UDP",
            ));
        }
        let port = |s: &str| {
            s.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                ImageError::change(
                    change,
                    format!("EXPOSE port {s:?} is not a valid port number"),
                )
            })
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(range)?, port(range)?),
        };
        if end < start {
            return Err(ImageError::change(
                change,
                format!("EXPOSE range {range:?} is reversed"),
            ));
        }
        ports.extend((start..=end).map(|p| format!("{p}/{proto}")));
    }
    if ports.is_empty() {
        return Err(ImageError::change(change, "EXPOSE needs at least one port"));
    }
    Ok(ports)
}

/// Splits on unquoted whitespace, removing quotes: `a="b c" 'd'` -> [`a=b c`, `d`].
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Removes quoting but keeps whitespace: `"a b"  c` -> `a b  c`.
fn unquote(s: &str) -> std::result::Result<String, String> {
    // Quote-aware join: split_words would collapse runs of spaces, so protect them.
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(char::is_whitespace) {
        let (word, tail) = rest.split_at(i);
        if word.contains(['"', '\'', '\\']) {
            break;
        }
        out.push_str(word);
        let ws_len = tail.len() - tail.trim_start().len();
        out.push_str(&tail[..ws_len]);
        rest = &tail[ws_len..];
    }
    if rest.contains(['"', '\'', '\\']) {
        out.push_str(&split_words(rest)?.join(" "));
    } else {
        out.push_str(rest);
    }
    Ok(out)
}

/// `path.Join(base, p)` then `path.Clean`, kept absolute.
fn join_clean(base: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{base}/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A signal name (`SIGTERM`, `term`, `RTMIN+3`) or number (1-64) as its Linux number.
pub(crate) fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    const SIGNALS: &[(&str, i32)] = &[
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("POLL", 29),
        ("PWR", 30),
        ("SYS", 31),
        ("RTMIN", 34),
        ("RTMAX", 64),
    ];
    if let Some(&(_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Some(n);
    }
    let offset = |s: &str| s.parse::<i32>().ok().filter(|n| (1..=15).contains(n));
    if let Some(n) = name.strip_prefix("RTMIN+").and_then(offset) {
        return Some(34 + n);
    }
    if let Some(n) = name.strip_prefix("RTMAX-").and_then(offset) {
        return Some(64 - n);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;
    use crate::types::parse_go_time;

    const DIFF: &str = "sha256:fed3d64bc776dce5661144aa0b7d5f0e78427602d8d6ac388ed8b180826cf53f";

    fn changed(changes: &[&str]) -> ContainerConfig {
        let mut config = ImageConfig::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut config, &changes).unwrap_or_else(|e| panic!("{changes:?}: {e}"));
        config.config
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn import_config_matches_podman_bytes() {
        // `podman import` of a tarball with this diff ID and mtime: image ID observed.
        let created = parse_go_time("2026-11-28T01:57:43.573314598Z").unwrap();
        let config = new_import_config(DIFF, created);
        if host_architecture() != "amd64" {
            return;
        }
        let bytes = config.to_json_bytes().unwrap();
        assert_eq!(
            sha256_digest(&bytes),
            "sha256:bae005c5af48ea5a540689bd745365542fa81e38e42d53753a51f7ffcbc81bb0",
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let mut config = config;
        apply_changes(&mut config, &["STOPSIGNAL 9".to_string()]).unwrap();
        assert_eq!(
            sha256_digest(&config.to_json_bytes().unwrap()),
            "sha256:34f5d03ccab16fd1f1f66202626a9f1e2bdc3d3d85b9f0def681721eb5616de6"
        );
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let cc = changed(&["CMD /bin/sh -c \"echo hi\"", "ENTRYPOINT [\"a\",\"b\"]"]);
        assert_eq!(
            cc.cmd,
            strings(&["/bin/sh", "-c", "/bin/sh -c \"echo hi\""])
        );
        assert_eq!(cc.entrypoint, strings(&["a", "b"]));
        let cc = changed(&["CMD=/bin/sh", "entrypoint=ls -l", "cmd [\"a\"]"]);
        assert_eq!(cc.cmd, strings(&["a"]));
        assert_eq!(cc.entrypoint, strings(&["/bin/sh", "-c", "ls -l"]));
        let cc = changed(&["CMD=/bin/sh"]);
        assert_eq!(cc.cmd, strings(&["/bin/sh", "-c", "/bin/sh"]));
        let cc = changed(&["ENTRYPOINT [\"x\"]", "ENTRYPOINT "]);
        assert_eq!(cc.entrypoint, Some(vec![]));
        let cc = changed(&["CMD "]);
        assert_eq!(cc.cmd, strings(&["/bin/sh", "-c"]));
    }

    #[test]
    fn env_forms() {
        let cc = changed(&[
            "ENV A=1 B=2",
            "ENV C 3 4",
            "ENV=X=1",
            "ENV D=\"x y\" 'E'=z",
            "ENV A=replaced",
            "ENV F",
            "env G  \"a  b\"",
        ]);
        assert_eq!(
            cc.env,
            strings(&[
                "A=replaced",
                "B=2",
                "C=3 4",
                "X=1",
                "D=x y",
                "E=z",
                "F=",
                "G=a  b"
            ])
        );
    }

    #[test]
    fn expose_label_user_volume_workdir_stopsignal() {
        let cc = changed(&[
            "EXPOSE 80",
            "EXPOSE 443/udp 8000-8001/TCP",
            "LABEL a=b \"c d\"=\"e f\"",
            "LABEL=x=y",
            "USER nobody",
            "VOLUME /v1 /v2",
            "VOLUME [\"/v3\"]",
            "WORKDIR /w",
            "WORKDIR x/../y",
            "STOPSIGNAL SIGTERM",
            "ONBUILD RUN x",
        ]);
        let keys = |m: &Option<BTreeMap<String, Empty>>| {
            m.as_ref().unwrap().keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&cc.exposed_ports),
            ["443/udp", "80/tcp", "8000/tcp", "8001/tcp"]
        );
        let labels = cc.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e f");
        assert_eq!(labels["x"], "y");
        assert_eq!(cc.user.as_deref(), Some("nobody"));
        assert_eq!(keys(&cc.volumes), ["/v1", "/v2", "/v3"]);
        assert_eq!(cc.working_dir.as_deref(), Some("/w/y"));
        assert_eq!(cc.stop_signal.as_deref(), Some("15"));
        assert_eq!(
            changed(&["STOPSIGNAL kill"]).stop_signal.as_deref(),
            Some("9")
        );
        assert_eq!(
            changed(&["STOPSIGNAL RTMIN+3"]).stop_signal.as_deref(),
            Some("37")
        );
        assert_eq!(
            changed(&["WORKDIR rel"]).working_dir.as_deref(),
            Some("/rel")
        );
    }

    #[test]
    fn bad_changes_are_errors_naming_them() {
        for (bad, why) in [
            ("MAINTAINER me", "invalid instruction MAINTAINER"),
            ("FOO bar", "invalid instruction FOO"),
            ("CMD", "KEY VALUE"),
            ("LABEL g", "key=value"),
            ("LABEL =v", "non-empty key"),
            ("EXPOSE 80/sctp", "TCP or UDP"),
            ("EXPOSE 0", "valid port"),
            ("EXPOSE 70000", "valid port"),
            ("EXPOSE http", "valid port"),
            ("STOPSIGNAL FOO", "valid signal"),
            ("USER ", "USER"),
            ("WORKDIR ", "WORKDIR"),
            ("ENV A=1 B", "can't find ="),
            ("ENV =1", "blank"),
            ("ENV A=\"x", "unterminated"),
            ("VOLUME ", "VOLUME"),
        ] {
            let mut config = ImageConfig::default();
            let err = apply_changes(&mut config, &[bad.to_string()])
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
            assert_eq!(config, ImageConfig::default());
        }
    }

    #[test]
    fn failed_changes_leave_config_untouched() {
        let mut config = ImageConfig::default();
        let changes = vec!["USER a".to_string(), "BOGUS x".to_string()];
        assert!(apply_changes(&mut config, &changes).is_err());
        assert_eq!(config.config.user, None);
    }
}
