//! User namespaces (`--userns`, `--uidmap`, `--gidmap`, `--subuidname`, `--subgidname`),
//! as rootful Podman makes them: `auto` takes a free range of the subordinate IDs of
//! the user `containers` in /etc/subuid and /etc/subgid, sized for the image.
//!
//! A container's namespace is recorded as its mode (`ContainerConfig::userns`) and its
//! ID mappings (`ContainerConfig::id_mappings`); the root file system shows the image's
//! files as the namespace's (see `berth_storage::idmap`).

use crate::error::{Error, Result};
use crate::local::LocalEngine;
use crate::types::CreateOptions;
use berth_storage::{IdMappings, IdRange};

/// The user whose subordinate IDs `--userns=auto` takes (storage.conf's
/// `root-auto-userns-user`).
const AUTO_USER: &str = "containers";
/// storage.conf's `auto-userns-min-size` and `auto-userns-max-size` defaults.
const AUTO_MIN_SIZE: u32 = 1024;
const AUTO_MAX_SIZE: u32 = 65536;
/// The kernel takes at most this many lines in a uid_map.
const MAX_RANGES: usize = 340;

/// What `--userns` and the map options ask for, before IDs are allocated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UsernsRequest {
    Host,
    /// `auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N]`.
    Auto {
        size: Option<u32>,
        uids: Vec<IdRange>,
        gids: Vec<IdRange>,
    },
    /// `--uidmap`/`--gidmap`/`--subuidname`/`--subgidname`: these mappings.
    Maps(IdMappings),
    /// `container:ID`.
    Container(String),
    /// `ns:PATH`.
    Path(String),
}

fn bad(msg: String) -> Error {
    Error::InvalidArg(msg)
}

fn parse_ranges(values: &[String], flag: &str) -> Result<Vec<IdRange>> {
    values
        .iter()
        .map(|v| {
            IdRange::parse(v).ok_or_else(|| {
                bad(format!(
                    "invalid {flag} {v:?}: expected CONTAINER_ID:HOST_ID:AMOUNT with AMOUNT > 0"
                ))
            })
        })
        .collect()
}

/// The subordinate ranges of `user` in `file` (`/etc/subuid` lines `NAME:START:COUNT`).
fn sub_ranges(file: &str, user: &str) -> Result<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let uid = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.to_string());
    let ranges: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.trim().split(':');
            let (n, s, c) = (it.next()?, it.next()?, it.next()?);
            if n != user && Some(n) != uid.as_deref() {
                return None;
            }
            let (s, c): (u64, u64) = (s.parse().ok()?, c.parse().ok()?);
            (c > 0 && s + c <= 1 << 32).then_some((s, s + c))
        })
        .collect();
    if ranges.is_empty() {
        return Err(bad(format!(
            "cannot find mappings for user {user:?}: no subordinate ID ranges for {user:?} in {file}"
        )));
    }
    Ok(ranges)
}

/// Container IDs 0.. mapped onto the ranges, in order.
fn consecutive(ranges: &[(u64, u64)]) -> Vec<IdRange> {
    let mut next = 0u64;
    ranges
        .iter()
        .filter_map(|&(s, e)| {
            let r = IdRange {
                container_id: u32::try_from(next).ok()?,
                host_id: u32::try_from(s).ok()?,
                size: u32::try_from(e - s).ok()?,
            };
            next += e - s;
            Some(r)
        })
        .collect()
}

/// The mode a container gets when no user namespace option is given: `$PODMAN_USERNS`,
/// else containers.conf's `[containers] userns`.
pub(crate) fn default_mode(
    o: &CreateOptions,
    conf: &berth_image::containers_conf::NetworkSettings,
) -> Option<String> {
    if o.userns.is_some() || maps_given(o) {
        return None;
    }
    std::env::var("PODMAN_USERNS")
        .ok()
        .or_else(|| conf.default_userns.clone())
        .filter(|m| !m.is_empty())
}

/// Whether the options ask for a user namespace other than the host's.
pub(crate) fn asks_for_userns(o: &CreateOptions) -> bool {
    o.userns
        .as_deref()
        .is_some_and(|u| !matches!(u, "" | "host"))
        || maps_given(o)
}

/// Whether `--uidmap`, `--gidmap`, `--subuidname` or `--subgidname` is given.
fn maps_given(o: &CreateOptions) -> bool {
    !o.uid_map.is_empty()
        || !o.gid_map.is_empty()
        || o.subuidname.is_some()
        || o.subgidname.is_some()
}

/// Parses the user's options (rootful: keep-id and nomap are refused, as by Podman).
pub(crate) fn parse_request(o: &CreateOptions) -> Result<UsernsRequest> {
    let maps_given = maps_given(o);
    let mode = o.userns.as_deref().unwrap_or("");
    if maps_given && !matches!(mode, "" | "host") && o.userns.is_some() {
        return Err(bad(
            "--userns and --uidmap, --gidmap, --subuidname or --subgidname cannot be used together"
                .into(),
        ));
    }
    if maps_given {
        if (o.subuidname.is_some() || o.subgidname.is_some())
            && (!o.uid_map.is_empty() || !o.gid_map.is_empty())
        {
            return Err(bad(
                "--subuidname and --subgidname cannot be used with --uidmap or --gidmap".into(),
            ));
        }
        let (mut uids, mut gids) = if o.subuidname.is_some() || o.subgidname.is_some() {
            let un = o.subuidname.as_deref().or(o.subgidname.as_deref());
            let gn = o.subgidname.as_deref().or(o.subuidname.as_deref());
            (
                consecutive(&sub_ranges("/etc/subuid", un.unwrap_or_default())?),
                consecutive(&sub_ranges("/etc/subgid", gn.unwrap_or_default())?),
            )
        } else {
            (
                parse_ranges(&o.uid_map, "--uidmap")?,
                parse_ranges(&o.gid_map, "--gidmap")?,
            )
        };
        // One map given: the other is the same, as in Podman.
        if uids.is_empty() {
            uids = gids.clone();
        }
        if gids.is_empty() {
            gids = uids.clone();
        }
        let maps = IdMappings { uids, gids };
        check_maps(&maps)?;
        return Ok(UsernsRequest::Maps(maps));
    }
    match mode {
        "" | "host" => Ok(UsernsRequest::Host),
        "keep-id" => Err(bad("keep-id is only supported in rootless mode".into())),
        m if m.starts_with("keep-id:") => {
            Err(bad("keep-id is only supported in rootless mode".into()))
        }
        "nomap" => Err(bad("nomap is only supported in rootless mode".into())),
        "private" => Err(bad(
            "must provide at least one UID or GID mapping to configure a user namespace".into(),
        )),
        m if m == "auto" || m.starts_with("auto:") => {
            let (mut size, mut uids, mut gids) = (None, Vec::new(), Vec::new());
            for opt in m
                .strip_prefix("auto:")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
            {
                match opt.split_once('=') {
                    Some(("size", v)) => {
                        size = Some(v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(
                            || bad(format!("invalid --userns auto size {v:?}: a positive number is required")),
                        )?)
                    }
                    Some(("uidmapping", v)) => {
                        uids.extend(parse_ranges(&[v.to_string()], "uidmapping")?)
                    }
                    Some(("gidmapping", v)) => {
                        gids.extend(parse_ranges(&[v.to_string()], "gidmapping")?)
                    }
                    _ => {
                        return Err(bad(format!(
                            "invalid --userns auto option {opt:?}: use size=, uidmapping= or gidmapping="
                        )))
                    }
                }
            }
            Ok(UsernsRequest::Auto { size, uids, gids })
        }
        m if m.starts_with("container:") && m.len() > "container:".len() => {
            Ok(UsernsRequest::Container(m["container:".len()..].to_string()))
        }
        m if m.starts_with("ns:") && m.len() > 3 => Ok(UsernsRequest::Path(m[3..].to_string())),
        m => Err(bad(format!(
            "invalid --userns {m:?}: use auto, host, container:ID or ns:PATH (keep-id and nomap are for rootless use)"
        ))),
    }
}

/// Ranges that overlap (inside or on the host) would be refused by the kernel at start.
fn check_maps(m: &IdMappings) -> Result<()> {
    for (what, map) in [("uid", &m.uids), ("gid", &m.gids)] {
        if map.len() > MAX_RANGES {
            return Err(bad(format!(
                "too many {what} mappings: the kernel takes at most {MAX_RANGES}"
            )));
        }
        for (i, a) in map.iter().enumerate() {
            for b in &map[i + 1..] {
                let inside = u64::from(a.container_id)
                    < u64::from(b.container_id) + u64::from(b.size)
                    && u64::from(b.container_id) < u64::from(a.container_id) + u64::from(a.size);
                let host =
                    u64::from(a.host_id) < b.host_end() && u64::from(b.host_id) < a.host_end();
                if inside || host {
                    return Err(bad(format!(
                        "invalid {what} mappings {a} and {b}: the ranges overlap"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether host IDs [start, start+size) are inside `avail` and outside `used`.
fn fits(avail: &[(u64, u64)], used: &[(u64, u64)], start: u64, size: u64) -> bool {
    let end = start + size;
    avail.iter().any(|&(s, e)| s <= start && end <= e)
        && !used.iter().any(|&(s, e)| start < e && s < end)
}

/// The first host ID where `size` IDs are free in both the uid and gid ranges.
fn first_fit(
    uid_avail: &[(u64, u64)],
    gid_avail: &[(u64, u64)],
    uid_used: &[(u64, u64)],
    gid_used: &[(u64, u64)],
    size: u64,
) -> Option<u64> {
    let mut candidates: Vec<u64> = uid_avail
        .iter()
        .chain(gid_avail)
        .map(|r| r.0)
        .chain(uid_used.iter().chain(gid_used).map(|r| r.1))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .find(|&c| fits(uid_avail, uid_used, c, size) && fits(gid_avail, gid_used, c, size))
}

/// `size` container IDs from 0 at host ID `start`, with the `forced` container ranges
/// mapped as given instead.
fn with_forced(start: u32, size: u32, forced: &[IdRange]) -> Vec<IdRange> {
    let mut pieces = vec![IdRange {
        container_id: 0,
        host_id: start,
        size,
    }];
    for f in forced {
        let (fs, fe) = (
            u64::from(f.container_id),
            u64::from(f.container_id) + u64::from(f.size),
        );
        pieces = pieces
            .into_iter()
            .flat_map(|p| {
                let (ps, pe) = (
                    u64::from(p.container_id),
                    u64::from(p.container_id) + u64::from(p.size),
                );
                let mut out = Vec::new();
                if fs > ps {
                    let end = fs.min(pe);
                    out.push(IdRange {
                        size: u32::try_from(end - ps).unwrap_or(0),
                        ..p
                    });
                }
                if fe < pe {
                    let begin = fe.max(ps);
                    let off = u32::try_from(begin - ps).unwrap_or(0);
                    out.push(IdRange {
                        container_id: p.container_id + off,
                        host_id: p.host_id + off,
                        size: u32::try_from(pe - begin).unwrap_or(0),
                    });
                }
                out.into_iter().filter(|r| r.size > 0).collect::<Vec<_>>()
            })
            .collect();
    }
    pieces.extend_from_slice(forced);
    pieces.sort_by_key(|r| r.container_id);
    pieces
}

impl LocalEngine {
    /// The lock held from choosing an `auto` range until the container is recorded.
    pub(crate) fn userns_lock(&self) -> Result<crate::lock::Lock> {
        // Beside the per-object locks: it stays (like the storage lock).
        crate::lock::Lock::acquire(&self.cfg.runroot, "userns-auto")
    }

    /// Resolves a request into (mode for inspect, mappings); `chain` is the image's
    /// layers (for `auto`'s size). The caller holds [`Self::userns_lock`] for `auto`.
    pub(crate) fn resolve_userns(
        &self,
        req: &UsernsRequest,
        chain: &[String],
    ) -> Result<(String, Option<IdMappings>)> {
        match req {
            UsernsRequest::Host => Ok((String::new(), None)),
            UsernsRequest::Maps(m) => Ok(("private".into(), Some(m.clone()))),
            UsernsRequest::Container(key) => {
                let other = self.record(&self.lookup_container(key)?)?;
                Ok((
                    format!("container:{}", other.id),
                    other.config.id_mappings.clone(),
                ))
            }
            UsernsRequest::Path(p) => {
                let maps = namespace_maps(std::path::Path::new(p))?;
                Ok((format!("ns:{p}"), Some(maps)))
            }
            UsernsRequest::Auto { size, uids, gids } => {
                let size = match size {
                    Some(s) => *s,
                    None => {
                        let max = self.store.max_ids(chain)?;
                        max.saturating_add(1).clamp(AUTO_MIN_SIZE, AUTO_MAX_SIZE)
                    }
                };
                let uid_avail = sub_ranges("/etc/subuid", AUTO_USER)?;
                let gid_avail = sub_ranges("/etc/subgid", AUTO_USER)?;
                let (mut uid_used, mut gid_used) = (Vec::new(), Vec::new());
                for c in self.db().containers_with("\"id_mappings\"")? {
                    if let Some(m) = &c.config.id_mappings {
                        uid_used
                            .extend(m.uids.iter().map(|r| (u64::from(r.host_id), r.host_end())));
                        gid_used
                            .extend(m.gids.iter().map(|r| (u64::from(r.host_id), r.host_end())));
                    }
                }
                let start = first_fit(
                    &uid_avail,
                    &gid_avail,
                    &uid_used,
                    &gid_used,
                    u64::from(size),
                )
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| {
                    Error::Other(format!(
                        "creating container storage: could not find enough available IDs: {size} free subordinate IDs of {AUTO_USER:?} are needed"
                    ))
                })?;
                let maps = IdMappings {
                    uids: with_forced(start, size, uids),
                    gids: with_forced(start, size, gids),
                };
                check_maps(&maps)?;
                Ok(("auto".into(), Some(maps)))
            }
        }
    }
}

/// The ID mappings of the user namespace at `path`, read by a child that joins it.
fn namespace_maps(path: &std::path::Path) -> Result<IdMappings> {
    use std::os::unix::process::CommandExt;
    let f = std::fs::File::open(path)
        .map_err(|e| bad(format!("opening user namespace {}: {e}", path.display())))?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args([
        "-c",
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
    ]);
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY: setns(2) only, in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd
        .output()
        .map_err(|e| bad(format!("joining user namespace {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (u, g) = text.split_once("--\n").unwrap_or((&text, ""));
    let maps = IdMappings {
        uids: IdMappings::parse_proc_map(u),
        gids: IdMappings::parse_proc_map(g),
    };
    if !out.status.success() || maps.uids.is_empty() {
        return Err(bad(format!(
            "{} is not a user namespace berth can join",
            path.display()
        )));
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> IdRange {
        IdRange::parse(s).unwrap()
    }

    #[test]
    fn first_fit_skips_used_ranges() {
        let avail = [(100, 200)];
        assert_eq!(first_fit(&avail, &avail, &[], &[], 50), Some(100));
        assert_eq!(first_fit(&avail, &avail, &[(100, 150)], &[], 50), Some(150));
        assert_eq!(
            first_fit(&avail, &avail, &[(100, 150)], &[(150, 160)], 40),
            Some(160)
        );
        assert_eq!(first_fit(&avail, &avail, &[(120, 130)], &[], 80), None);
    }

    #[test]
    fn forced_ranges_replace_their_part() {
        assert_eq!(
            with_forced(1000, 10, &[r("3:50:2")]),
            vec![r("0:1000:3"), r("3:50:2"), r("5:1005:5")]
        );
        assert_eq!(with_forced(1000, 10, &[]), vec![r("0:1000:10")]);
    }

    #[test]
    fn overlapping_maps_are_refused() {
        let m = IdMappings {
            uids: vec![r("0:1000:10"), r("5:5000:10")],
            gids: vec![],
        };
        assert!(check_maps(&m).is_err());
        let m = IdMappings {
            uids: vec![r("0:1000:10"), r("10:1005:10")],
            gids: vec![],
        };
        assert!(check_maps(&m).is_err());
        let m = IdMappings {
            uids: vec![r("0:1000:10"), r("10:1010:10")],
            gids: vec![r("0:1:1")],
        };
        assert!(check_maps(&m).is_ok());
    }
}
