//! `RUN --mount=...` (BuildKit `instructions/commands_runmount.go`).

/// The kind of a RUN mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A directory from the context or from `from=` (read-only unless `rw`).
    Bind,
    /// A persistent cache directory, keyed by `id` (default: the target).
    Cache,
    /// A build secret, as a file (default `/run/secrets/<id>`).
    Secret,
    /// An empty tmpfs.
    Tmpfs,
    /// An SSH agent socket (accepted; berth has no ssh forwarding yet).
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount=` of a RUN, with BuildKit's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// Where it appears in the container. Always set for bind/cache/tmpfs;
    /// for a secret it defaults to `/run/secrets/<id>`, for ssh to
    /// `/run/buildkit/ssh_agent.0`.
    pub target: String,
    /// `source=`/`src=`: path in the context or `from` (bind), in the cache
    /// (cache).
    pub source: Option<String>,
    /// `from=`: a stage name/index or an image (bind, cache).
    pub from: Option<String>,
    /// `id=`: the cache id or secret id. For a secret with no id, the base
    /// name of the target (BuildKit's rule).
    pub id: Option<String>,
    /// `sharing=` (cache only), `Shared` by default.
    pub sharing: CacheSharing,
    /// Bind and secret are read-only unless `rw`; cache and tmpfs are
    /// writable unless `ro`.
    pub readonly: bool,
    /// `mode=` (octal), `uid=`, `gid=`: owner and mode of a cache dir or
    /// secret file.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `required=` (secret, ssh): fail if the secret was not given.
    pub required: bool,
    /// `size=` (tmpfs) in bytes.
    pub size: Option<u64>,
    /// `env=` (secret): expose the secret as this environment variable.
    pub env: Option<String>,
    /// The flag value as written. The fields above are raw too; BuildKit
    /// expands mount options with the stage's ARG/ENV values, so when
    /// [`Mount::needs_expansion`] the executor expands `spec` with
    /// [`crate::expand()`] and parses it again with [`Mount::parse`].
    pub spec: String,
}

impl Mount {
    /// The spec uses variables: numeric and enumerated fields holding `$`
    /// were not checked at parse time and are left at their defaults.
    pub fn needs_expansion(&self) -> bool {
        self.spec.contains('$')
    }

    /// Parses the value of `--mount=` (comma-separated `key=value`, values
    /// may be double-quoted).
    pub fn parse(spec: &str) -> Result<Mount, String> {
        let mut kind = MountType::Bind;
        let fields = split_csv(spec)?;
        // `type` decides the defaults, so find it first.
        for f in &fields {
            if let Some(v) = f.strip_prefix("type=") {
                kind = match v.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "secret" => MountType::Secret,
                    "tmpfs" => MountType::Tmpfs,
                    "ssh" => MountType::Ssh,
                    _ => return Err(format!("unsupported mount type {v:?}")),
                };
            }
        }
        let mut m = Mount {
            kind,
            target: String::new(),
            source: None,
            from: None,
            id: None,
            sharing: CacheSharing::Shared,
            readonly: matches!(kind, MountType::Bind | MountType::Secret | MountType::Ssh),
            mode: None,
            uid: None,
            gid: None,
            required: false,
            size: None,
            env: None,
            spec: spec.to_string(),
        };
        for f in &fields {
            let (key, value) = match f.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
                None => (f.to_ascii_lowercase(), None),
            };
            let need = |v: Option<&str>| -> Result<String, String> {
                v.map(str::to_string)
                    .ok_or_else(|| format!("invalid field {key:?} in --mount: it needs a value"))
            };
            let flag = |v: Option<&str>| -> Result<bool, String> {
                match v.map(|s| s.to_ascii_lowercase()) {
                    None => Ok(true),
                    Some(s) if s == "true" || s == "1" => Ok(true),
                    Some(s) if s == "false" || s == "0" => Ok(false),
                    Some(s) => Err(format!("invalid value {s:?} for {key} in --mount")),
                }
            };
            let number = |v: Option<&str>, radix: u32| -> Result<u32, String> {
                let s = need(v)?;
                u32::from_str_radix(&s, radix)
                    .map_err(|_| format!("invalid value {s:?} for {key} in --mount"))
            };
            let deferred = value.is_some_and(|v| v.contains('$'));
            match key.as_str() {
                "type" => {}
                // Checked after expansion; see `needs_expansion`.
                "sharing" | "readonly" | "ro" | "readwrite" | "rw" | "mode" | "uid" | "gid"
                | "required" | "size"
                    if deferred => {}
                "target" | "dst" | "destination" => m.target = need(value)?,
                "source" | "src" => m.source = Some(need(value)?),
                "from" => m.from = Some(need(value)?),
                "id" => m.id = Some(need(value)?),
                "sharing" => {
                    m.sharing = match need(value)?.to_ascii_lowercase().as_str() {
                        "shared" => CacheSharing::Shared,
                        "private" => CacheSharing::Private,
                        "locked" => CacheSharing::Locked,
                        other => return Err(format!("unsupported sharing value {other:?}")),
                    }
                }
                "readonly" | "ro" => m.readonly = flag(value)?,
                "readwrite" | "rw" => m.readonly = !flag(value)?,
                "mode" => m.mode = Some(number(value, 8)?),
                "uid" => m.uid = Some(number(value, 10)?),
                "gid" => m.gid = Some(number(value, 10)?),
                "required" => m.required = flag(value)?,
                "env" => m.env = Some(need(value)?),
                "size" => {
                    let s = need(value)?;
                    m.size = Some(parse_size(&s).ok_or_else(|| format!("invalid size {s:?}"))?)
                }
                _ => return Err(format!("unexpected key {key:?} in --mount={spec}")),
            }
        }
        match kind {
            MountType::Secret => {
                if m.id.is_none() && !m.target.is_empty() {
                    m.id = m.target.rsplit('/').next().map(str::to_string);
                }
                let Some(id) = &m.id else {
                    return Err("secret mount needs an id or a target".into());
                };
                if m.target.is_empty() && m.env.is_none() {
                    m.target = format!("/run/secrets/{id}");
                }
            }
            MountType::Ssh => {
                if m.target.is_empty() {
                    m.target = "/run/buildkit/ssh_agent.0".into();
                }
            }
            _ => {
                if m.target.is_empty() {
                    return Err("mount target not specified (target=)".into());
                }
            }
        }
        if m.sharing != CacheSharing::Shared && kind != MountType::Cache {
            return Err("sharing= is only valid for cache mounts".into());
        }
        if kind == MountType::Tmpfs && (m.source.is_some() || m.from.is_some()) {
            return Err("tmpfs mounts take no source or from".into());
        }
        Ok(m)
    }
}

/// Splits a CSV record as Go's encoding/csv does for one line: fields are
/// comma-separated; a field starting with `"` is quoted, `""` inside it is a
/// quote.
fn split_csv(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in --mount={s}")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            // Text after the closing quote up to the comma.
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    // key="quoted value": quotes inside a field are removed.
                    chars.next();
                    for q in chars.by_ref() {
                        if q == '"' {
                            break;
                        }
                        field.push(q);
                    }
                    continue;
                }
                field.push(c);
                chars.next();
            }
        }
        let field = field.trim().to_string();
        if !field.is_empty() {
            fields.push(field);
        }
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// `size=` of a tmpfs: bytes, or with a k/m/g suffix (binary units, like
/// go-units `RAMInBytes`).
fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_defaults_and_fields() {
        let m = Mount::parse("type=cache,target=/root/.cache,id=pip,sharing=locked").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target, "/root/.cache");
        assert_eq!(m.id.as_deref(), Some("pip"));
        assert_eq!(m.sharing, CacheSharing::Locked);
        assert!(!m.readonly);

        let m = Mount::parse("target=/src").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly, "bind mounts are read-only by default");

        let m = Mount::parse("type=bind,from=builder,source=/out,target=/in,rw").unwrap();
        assert_eq!(m.from.as_deref(), Some("builder"));
        assert_eq!(m.source.as_deref(), Some("/out"));
        assert!(!m.readonly);

        let m = Mount::parse("type=cache,dst=/c,ro=true,mode=0755,uid=1000,gid=100").unwrap();
        assert!(m.readonly);
        assert_eq!((m.mode, m.uid, m.gid), (Some(0o755), Some(1000), Some(100)));

        let m = Mount::parse("type=secret,id=token").unwrap();
        assert_eq!(m.target, "/run/secrets/token");
        assert!(!m.required);

        let m = Mount::parse("type=secret,target=/etc/npmrc,required=true").unwrap();
        assert_eq!(m.id.as_deref(), Some("npmrc"));
        assert!(m.required);

        let m = Mount::parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));

        let m = Mount::parse("type=ssh").unwrap();
        assert_eq!(m.target, "/run/buildkit/ssh_agent.0");

        let m = Mount::parse(r#"type=bind,"source=a,b",target=/x"#).unwrap();
        assert_eq!(m.source.as_deref(), Some("a,b"));

        // Variables: raw at parse time, checked once expanded.
        let m = Mount::parse("type=cache,target=$HOME/.cache,uid=${UID}").unwrap();
        assert!(m.needs_expansion());
        assert_eq!((m.target.as_str(), m.uid), ("$HOME/.cache", None));
        let vars = |k: &str| {
            (k == "HOME")
                .then(|| "/root".to_string())
                .or_else(|| (k == "UID").then(|| "7".to_string()))
        };
        let m = Mount::parse(&crate::expand(&m.spec, '\\', &vars).unwrap()).unwrap();
        assert_eq!((m.target.as_str(), m.uid), ("/root/.cache", Some(7)));
        assert!(!m.needs_expansion());
    }

    #[test]
    fn mount_errors() {
        let cases: &[(&str, &str)] = &[
            ("type=nfs,target=/x", "unsupported mount type"),
            ("type=cache", "mount target not specified"),
            ("type=cache,target=/x,bogus=1", "unexpected key"),
            ("type=cache,target=/x,sharing=weird", "unsupported sharing"),
            ("type=bind,target=/x,sharing=locked", "only valid for cache"),
            ("type=cache,target=/x,mode=999", "invalid value"),
            ("type=cache,target=/x,uid=abc", "invalid value"),
            ("type=tmpfs,target=/x,source=y", "no source"),
            ("type=secret", "needs an id"),
        ];
        for (spec, want) in cases {
            let err = Mount::parse(spec).unwrap_err();
            assert!(err.contains(want), "{spec}: {err}");
        }
    }
}
