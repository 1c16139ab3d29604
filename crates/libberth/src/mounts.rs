//! The user's mounts: `-v SRC:DST[:OPTS]` (bind mounts, named and anonymous volumes),
//! `--mount type=...`, `--tmpfs DST[:OPTS]`, checked at create time as Podman checks them,
//! and turned into OCI mounts for the bundle and Mounts entries for `inspect`.

use crate::error::{Error, Result};
use crate::types::UserMount;
use serde_json::{json, Value};

/// Options `-v` accepts for bind mounts and volumes.
const VOLUME_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "U",
    "nocopy",
    "copy",
    "idmap",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "noexec",
    "exec",
    "nosuid",
    "suid",
    "nodev",
    "dev",
];

fn check_destination(dst: &str, what: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(Error::InvalidArg(format!(
            "invalid container path {dst:?} in {what}: it must be an absolute path"
        )));
    }
    Ok(())
}

/// `/a/b/` and `/a//b` are the same destination.
fn clean_destination(dst: &str) -> String {
    let parts: Vec<&str> = dst.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// A host path given as a bind source (absolute, or relative starting with `.`).
fn host_source(src: &str) -> Result<String> {
    let source = std::fs::canonicalize(src).map_err(|e| {
        Error::InvalidArg(format!("statfs {src}: {}", e.to_string().to_lowercase()))
    })?;
    Ok(source.to_string_lossy().into_owned())
}

fn is_host_path(src: &str) -> bool {
    src.starts_with('/') || src.starts_with('.')
}

fn check_volume_name(name: &str, what: &str) -> Result<()> {
    if !crate::ids::valid_name(name) {
        return Err(Error::InvalidArg(format!(
            "invalid volume name {name:?} in {what}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        )));
    }
    Ok(())
}

fn check_ro_rw(options: &[String], what: &str) -> Result<()> {
    if options.iter().any(|o| o == "ro") && options.iter().any(|o| o == "rw") {
        return Err(Error::InvalidArg(format!(
            "{what}: ro and rw cannot both be given"
        )));
    }
    Ok(())
}

/// Parses one `-v` value.
fn parse_volume(v: &str) -> Result<UserMount> {
    let parts: Vec<&str> = v.split(':').collect();
    let is_options = |o: &str| o.split(',').all(|x| VOLUME_OPTIONS.contains(&x));
    let (src, dst, opts) = match parts.as_slice() {
        // `-v /dst`: an anonymous volume.
        [dst] => ("", *dst, ""),
        [dst, opts] if dst.starts_with('/') && is_options(opts) => ("", *dst, *opts),
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => {
            return Err(Error::InvalidArg(format!(
                "{v}: incorrect volume format, should be [host-dir:]ctr-dir[:option]"
            )))
        }
    };
    check_destination(dst, v)?;
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(|o| {
            if VOLUME_OPTIONS.contains(&o) {
                Ok(o.to_string())
            } else {
                Err(Error::InvalidArg(format!(
                    "invalid option {o:?} in volume {v:?}"
                )))
            }
        })
        .collect::<Result<_>>()?;
    check_ro_rw(&options, v)?;
    let (kind, source) = if src.is_empty() {
        ("volume", String::new())
    } else if is_host_path(src) {
        ("bind", host_source(src)?)
    } else {
        check_volume_name(src, v)?;
        ("volume", src.to_string())
    };
    Ok(UserMount {
        kind: kind.into(),
        source,
        destination: clean_destination(dst),
        options,
        image_id: String::new(),
    })
}

/// `true`/`false` values of `--mount` flags (`readonly`, `readonly=true`, ...).
fn flag_value(key: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(Error::InvalidArg(format!(
            "invalid value {other:?} for mount option {key}: use true or false"
        ))),
    }
}

/// Parses one `--mount type=TYPE,KEY[=VALUE],...` value.
pub fn parse_mount(spec: &str) -> Result<UserMount> {
    let mut kind = None;
    let mut source = None;
    let mut destination = None;
    let mut options: Vec<String> = Vec::new();
    let mut rest = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match key {
            "type" => kind = value.map(str::to_string),
            "src" | "source" => source = value.map(str::to_string),
            "dst" | "destination" | "target" => destination = value.map(str::to_string),
            _ => rest.push((key, value)),
        }
    }
    let kind = kind.ok_or_else(|| {
        Error::InvalidArg(format!(
            "{spec}: a mount type is required (type=bind, volume, tmpfs, image or devpts)"
        ))
    })?;
    if !matches!(
        kind.as_str(),
        "bind" | "volume" | "tmpfs" | "image" | "devpts"
    ) {
        return Err(Error::InvalidArg(format!(
            "invalid filesystem type {kind:?}"
        )));
    }
    let destination = destination.filter(|d| !d.is_empty()).ok_or_else(|| {
        Error::InvalidArg(format!("{spec}: the mount needs a target (target=PATH)"))
    })?;
    check_destination(&destination, spec)?;
    for (key, value) in rest {
        let invalid = || Error::InvalidArg(format!("{key}: invalid mount option"));
        let v = || value.map(str::to_string).unwrap_or_default();
        match (kind.as_str(), key) {
            (_, "ro" | "readonly") => {
                if flag_value(key, value)? {
                    options.push("ro".into())
                }
            }
            ("image", "rw" | "readwrite") => {
                if flag_value(key, value)? {
                    options.push("rw".into())
                }
            }
            ("bind" | "volume" | "tmpfs", "rw" | "readwrite") => {
                if !flag_value(key, value)? {
                    options.push("ro".into())
                }
            }
            ("bind" | "volume", "idmap") => {
                if flag_value(key, value)? {
                    options.push("idmap".into())
                }
            }
            ("bind" | "volume" | "tmpfs", "U" | "chown") => {
                if flag_value(key, value)? {
                    options.push("U".into())
                }
            }
            ("bind" | "volume", "z" | "Z") => options.push(key.into()),
            ("bind" | "volume", "relabel") => match value {
                Some("shared") => options.push("z".into()),
                Some("private") => options.push("Z".into()),
                _ => {
                    return Err(Error::InvalidArg(format!(
                        "relabel={}: use shared or private",
                        v()
                    )))
                }
            },
            ("bind", "bind-propagation") => {
                let p = v();
                if !matches!(
                    p.as_str(),
                    "private"
                        | "rprivate"
                        | "shared"
                        | "rshared"
                        | "slave"
                        | "rslave"
                        | "unbindable"
                        | "runbindable"
                ) {
                    return Err(Error::InvalidArg(format!("invalid bind-propagation {p:?}")));
                }
                options.push(p);
            }
            ("bind", "bind-nonrecursive") => {
                if flag_value(key, value)? {
                    options.push("bind".into())
                }
            }
            ("bind" | "volume", "consistency") => {}
            ("volume", "nocopy" | "volume-nocopy") => {
                if flag_value(key, value)? {
                    options.push("nocopy".into())
                }
            }
            (
                "bind" | "volume" | "tmpfs",
                "noexec" | "exec" | "nosuid" | "suid" | "nodev" | "dev",
            ) if value.is_none() => options.push(key.into()),
            ("tmpfs", "tmpfs-size") => options.push(format!("size={}", v())),
            ("tmpfs", "tmpfs-mode") => {
                let m = v();
                if m.is_empty() || !m.chars().all(|c| c.is_digit(8)) {
                    return Err(Error::InvalidArg(format!(
                        "invalid tmpfs-mode {m:?}: an octal mode is required"
                    )));
                }
                options.push(format!("mode={m}"))
            }
            ("tmpfs", "tmpcopyup" | "notmpcopyup") => {}
            ("devpts", "uid" | "gid" | "mode" | "max") => {
                let n = v();
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                    return Err(Error::InvalidArg(format!(
                        "invalid {key} {n:?} for a devpts mount"
                    )));
                }
                options.push(format!("{key}={n}"))
            }
            _ => return Err(invalid()),
        }
    }
    check_ro_rw(&options, spec)?;
    let source = match kind.as_str() {
        "bind" => {
            let s = source.filter(|s| !s.is_empty()).ok_or_else(|| {
                Error::InvalidArg(format!("{spec}: a bind mount needs a source (source=PATH)"))
            })?;
            host_source(&s)?
        }
        "volume" => {
            let s = source.unwrap_or_default();
            if !s.is_empty() {
                check_volume_name(&s, spec)?;
            }
            s
        }
        "image" => source.filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::InvalidArg(format!(
                "{spec}: an image mount needs a source (source=IMAGE)"
            ))
        })?,
        "tmpfs" => "tmpfs".into(),
        _ => "devpts".into(),
    };
    Ok(UserMount {
        kind,
        source,
        destination: clean_destination(&destination),
        options,
        image_id: String::new(),
    })
}

/// Parses and checks `-v`, `--mount` and `--tmpfs` values.
pub fn parse(volumes: &[String], mounts: &[String], tmpfs: &[String]) -> Result<Vec<UserMount>> {
    let mut out: Vec<UserMount> = Vec::new();
    for v in volumes {
        out.push(parse_volume(v)?);
    }
    for m in mounts {
        out.push(parse_mount(m)?);
    }
    for t in tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        check_destination(dst, t)?;
        out.push(UserMount {
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            destination: clean_destination(dst),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
            image_id: String::new(),
        });
    }
    check_duplicates(&out)?;
    Ok(out)
}

/// Two mounts on one destination are refused.
pub fn check_duplicates(mounts: &[UserMount]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for m in mounts {
        if !seen.insert(m.destination.as_str()) {
            return Err(Error::InvalidArg(format!(
                "{}: duplicate mount destination",
                m.destination
            )));
        }
    }
    Ok(())
}

/// The propagation option of a mount (Podman's default: rprivate).
fn propagation(m: &UserMount) -> String {
    m.options
        .iter()
        .find(|o| {
            o.contains("private")
                || o.contains("shared")
                || o.contains("slave")
                || o.contains("unbindable")
        })
        .cloned()
        .unwrap_or_else(|| "rprivate".into())
}

/// Replaces options of the same key in `defaults` by the user's `extra` ones.
fn merge_options(defaults: &[&str], extra: &[String]) -> Vec<String> {
    let mut options: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
    for o in extra {
        let key = o.split('=').next().unwrap_or(o);
        options.retain(|x| {
            let k = x.split('=').next().unwrap_or(x);
            k != key
                && format!("no{k}") != key
                && format!("no{key}") != k
                && !(key == "ro" && x == "rw")
        });
        options.push(o.clone());
    }
    options
}

/// The OCI mount for `m`; `host_source` is where a bind, volume or image mount comes from.
pub fn oci_mount(m: &UserMount, host_source: &str) -> Value {
    match m.kind.as_str() {
        "tmpfs" => {
            // Podman's defaults for --tmpfs, then the user's own options.
            let extra: Vec<String> = m.options.iter().filter(|o| *o != "U").cloned().collect();
            let options = merge_options(&["rw", "noexec", "nosuid", "nodev"], &extra);
            return json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options});
        }
        "devpts" => {
            let options = merge_options(
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ],
                &m.options,
            );
            return json!({"destination": m.destination, "type": "devpts", "source": "devpts", "options": options});
        }
        _ => {}
    }
    let recursive = if m.options.iter().any(|o| o == "bind") {
        "bind"
    } else {
        "rbind"
    };
    let mut options = vec![recursive.to_string(), propagation(m)];
    if m.kind == "volume" {
        for (on, off) in [("nosuid", "suid"), ("nodev", "dev")] {
            if !m.options.iter().any(|o| o == off) {
                options.push(on.into());
            }
        }
    }
    if m.kind == "image" && !m.options.iter().any(|o| o == "rw") {
        options.push("ro".into());
    }
    for o in &m.options {
        if matches!(o.as_str(), "ro" | "noexec" | "nosuid" | "nodev") && !options.contains(o) {
            options.push(o.clone());
        }
    }
    json!({"destination": m.destination, "type": "bind", "source": host_source, "options": options})
}

/// `inspect`'s Mounts entry, as Podman writes it (tmpfs mounts are not listed).
pub fn inspect_mount(m: &UserMount, host_source: &str) -> Option<Value> {
    match m.kind.as_str() {
        "bind" => Some(json!({
            "Type": "bind", "Source": m.source, "Destination": m.destination,
            "Driver": "", "Mode": "", "Options": [if m.options.iter().any(|o| o == "bind") { "bind" } else { "rbind" }],
            "RW": !m.read_only(), "Propagation": propagation(m),
        })),
        "volume" => Some(json!({
            "Type": "volume", "Name": m.source, "Source": host_source,
            "Destination": m.destination, "Driver": "local", "Mode": "",
            "Options": ["nosuid", "nodev", "rbind"], "RW": !m.read_only(),
            "Propagation": "rprivate",
        })),
        "image" => Some(json!({
            "Type": "image", "Source": m.source, "Destination": m.destination,
            "Driver": "", "Mode": "", "Options": null,
            "RW": m.options.iter().any(|o| o == "rw"), "Propagation": "",
        })),
        "devpts" => Some(json!({
            "Type": "bind", "Source": "devpts", "Destination": m.destination,
            "Driver": "", "Mode": "", "Options": [], "RW": true, "Propagation": "",
        })),
        _ => None,
    }
}

/// `HostConfig.Binds` entry for a bind mount or volume, as Podman writes it.
pub fn host_config_bind(m: &UserMount) -> Option<String> {
    let rw = if m.read_only() { "ro" } else { "rw" };
    match m.kind.as_str() {
        "bind" => Some(format!(
            "{}:{}:{rw},{},rbind",
            m.source,
            m.destination,
            propagation(m)
        )),
        "volume" => Some(format!(
            "{}:{}:{rw},rprivate,nosuid,nodev,rbind",
            m.source, m.destination
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_volumes_are_refused() {
        let s = |v: &str| parse(&[v.to_string()], &[], &[]).unwrap_err().to_string();
        assert!(s("/nonexistent-berth-dir:/data").contains("statfs /nonexistent-berth-dir"));
        assert!(s("/tmp:data").contains("absolute path"));
        assert!(s("/tmp:/data:bogus").contains("invalid option \"bogus\""));
        assert!(s("bad name:/data").contains("invalid volume name"));
        assert!(s("a:b:c:d").contains("incorrect volume format"));
        let dup = parse(&["/tmp:/data".into()], &[], &["/data/".into()])
            .unwrap_err()
            .to_string();
        assert!(dup.contains("duplicate mount destination"), "{dup}");
        let ok = parse(
            &["/tmp:/data:ro,rshared".into()],
            &[],
            &["/run/x:size=1m".into()],
        )
        .unwrap();
        assert!(ok[0].read_only());
        assert_eq!(
            oci_mount(&ok[0], "/tmp")["options"],
            json!(["rbind", "rshared", "ro"])
        );
        assert_eq!(
            oci_mount(&ok[1], "")["options"],
            json!(["rw", "noexec", "nosuid", "nodev", "size=1m"])
        );
    }

    #[test]
    fn volumes_named_and_anonymous() {
        let m = parse(
            &[
                "data:/d:ro,U".into(),
                "/anon".into(),
                "/anon2:nocopy".into(),
            ],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(
            (m[0].kind.as_str(), m[0].source.as_str()),
            ("volume", "data")
        );
        assert_eq!(m[0].options, ["ro", "U"]);
        assert_eq!((m[1].kind.as_str(), m[1].source.as_str()), ("volume", ""));
        assert_eq!(m[2].options, ["nocopy"]);
        assert_eq!(
            oci_mount(&m[0], "/v/data/_data")["options"],
            json!(["rbind", "rprivate", "nosuid", "nodev", "ro"])
        );
    }

    #[test]
    fn mount_flag() {
        let m = parse_mount("type=volume,source=v,target=/d,readonly,volume-nocopy").unwrap();
        assert_eq!(m.kind, "volume");
        assert_eq!(m.options, ["ro", "nocopy"]);
        let m = parse_mount("type=bind,src=/tmp,dst=/d,bind-propagation=rshared,relabel=private")
            .unwrap();
        assert_eq!(m.source, "/tmp");
        assert_eq!(m.options, ["rshared", "Z"]);
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap();
        assert_eq!(
            oci_mount(&m, "")["options"],
            json!(["rw", "noexec", "nosuid", "nodev", "size=1m", "mode=1777"])
        );
        let m = parse_mount("type=devpts,target=/dev/pts2,mode=600").unwrap();
        assert_eq!(oci_mount(&m, "")["type"], "devpts");
        let e = |s: &str| parse_mount(s).unwrap_err().to_string();
        assert_eq!(
            e("type=volume,src=v,target=/d,bogus=1"),
            "bogus: invalid mount option"
        );
        assert_eq!(
            e("type=bogus,target=/d"),
            "invalid filesystem type \"bogus\""
        );
        assert!(e("type=bind,target=/d").contains("needs a source"));
        assert!(e("type=volume,src=v").contains("needs a target"));
        assert!(e("type=tmpfs,target=/t,tmpfs-mode=abc").contains("tmpfs-mode"));
    }
}
