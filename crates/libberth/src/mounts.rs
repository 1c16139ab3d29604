//! The user's mounts: `-v SRC:DST[:OPTS]` bind mounts and `--tmpfs DST[:OPTS]`, checked at
//! create time as Podman checks them, and turned into OCI mounts for the bundle.

use crate::error::{Error, Result};
use crate::types::UserMount;
use serde_json::{json, Value};

const BIND_OPTIONS: &[&str] = &[
    "ro", "rw", "z", "Z", "nocopy", "bind", "rbind", "private", "rprivate", "shared", "rshared",
    "slave", "rslave", "noexec", "exec", "nosuid", "suid", "nodev", "dev",
];

fn check_destination(dst: &str, what: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(Error::InvalidArg(format!(
            "invalid container path {dst:?} in {what}: it must be an absolute path"
        )));
    }
    Ok(())
}

/// Parses and checks `-v` and `--tmpfs` values.
pub fn parse(volumes: &[String], tmpfs: &[String]) -> Result<Vec<UserMount>> {
    let mut out: Vec<UserMount> = Vec::new();
    for v in volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [src, dst] => (*src, *dst, ""),
            [src, dst, opts] => (*src, *dst, *opts),
            [_] => {
                return Err(Error::InvalidArg(format!(
                    "{v}: anonymous volumes are not supported yet: bind a host directory with -v /host/path:{v}"
                )))
            }
            _ => return Err(Error::InvalidArg(format!("{v}: incorrect volume format, should be SRC:DST[:OPTIONS]"))),
        };
        if !src.starts_with('/') && !src.starts_with('.') {
            return Err(Error::InvalidArg(format!(
                "{v}: named volumes are not supported yet: bind a host directory (an absolute path)"
            )));
        }
        check_destination(dst, v)?;
        let source = std::fs::canonicalize(src).map_err(|e| {
            Error::InvalidArg(format!("statfs {src}: {}", e.to_string().to_lowercase()))
        })?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(|o| {
                if BIND_OPTIONS.contains(&o) {
                    Ok(o.to_string())
                } else if o == "U" {
                    Err(Error::InvalidArg(format!(
                        "{v}: the U option (chown to the container user) is not supported yet"
                    )))
                } else {
                    Err(Error::InvalidArg(format!(
                        "invalid option {o:?} in volume {v:?}"
                    )))
                }
            })
            .collect::<Result<_>>()?;
        if options.iter().any(|o| o == "ro") && options.iter().any(|o| o == "rw") {
            return Err(Error::InvalidArg(format!(
                "{v}: ro and rw cannot both be given"
            )));
        }
        out.push(UserMount {
            kind: "bind".into(),
            source: source.to_string_lossy().into_owned(),
            destination: dst.trim_end_matches('/').to_string().max("/".to_string()),
            options,
        });
    }
    for t in tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        check_destination(dst, t)?;
        out.push(UserMount {
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            destination: dst.to_string(),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        if !seen.insert(m.destination.clone()) {
            return Err(Error::InvalidArg(format!(
                "{}: duplicate mount destination",
                m.destination
            )));
        }
    }
    Ok(out)
}

/// The OCI mount for `m`.
pub fn oci_mount(m: &UserMount) -> Value {
    if m.kind == "tmpfs" {
        // Podman's defaults for --tmpfs, then the user's own options.
        let mut options: Vec<String> = ["rw", "noexec", "nosuid", "nodev"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for o in &m.options {
            let key = o.split('=').next().unwrap_or(o);
            options.retain(|x| {
                x.split('=').next() != Some(key)
                    && !(key == "exec" && x == "noexec")
                    && !(key == "ro" && x == "rw")
            });
            options.push(o.clone());
        }
        return json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options});
    }
    let mut options = vec!["rbind".to_string()];
    let propagation = m
        .options
        .iter()
        .find(|o| o.contains("private") || o.contains("shared") || o.contains("slave"))
        .cloned()
        .unwrap_or_else(|| "rprivate".into());
    options.push(propagation);
    for o in &m.options {
        if matches!(o.as_str(), "ro" | "noexec" | "nosuid" | "nodev") {
            options.push(o.clone());
        }
    }
    json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
}

/// `inspect`'s Mounts entry for a bind mount, as Podman writes it.
pub fn inspect_mount(m: &UserMount) -> Value {
    let propagation = m
        .options
        .iter()
        .find(|o| o.contains("private") || o.contains("shared") || o.contains("slave"))
        .cloned()
        .unwrap_or_else(|| "rprivate".into());
    json!({
        "Type": "bind", "Source": m.source, "Destination": m.destination,
        "Driver": "", "Mode": "", "Options": ["rbind"], "RW": !m.read_only(),
        "Propagation": propagation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_volumes_are_refused() {
        let s = |v: &str| parse(&[v.to_string()], &[]).unwrap_err().to_string();
        assert!(s("/nonexistent-berth-dir:/data").contains("statfs /nonexistent-berth-dir"));
        assert!(s("/tmp:data").contains("absolute path"));
        assert!(s("/tmp:/data:bogus").contains("invalid option \"bogus\""));
        assert!(s("myvol:/data").contains("named volumes"));
        let dup = parse(&["/tmp:/data".into()], &["/data".into()])
            .unwrap_err()
            .to_string();
        assert!(dup.contains("duplicate mount destination"), "{dup}");
        let ok = parse(
            &["/tmp:/data:ro,rshared".into()],
            &["/run/x:size=1m".into()],
        )
        .unwrap();
        assert!(ok[0].read_only());
        assert_eq!(
            oci_mount(&ok[0])["options"],
            json!(["rbind", "rshared", "ro"])
        );
        assert_eq!(
            oci_mount(&ok[1])["options"],
            json!(["rw", "noexec", "nosuid", "nodev", "size=1m"])
        );
    }
}
