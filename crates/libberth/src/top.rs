//! `top`: the container's processes with Podman's (psgo's) format descriptors, read from the
//! host's /proc; descriptors psgo does not know go to ps(1) inside the container, as Podman
//! does.

use crate::containers::resolve_in_root;
use crate::error::{Error, Result};
use crate::local::LocalEngine;
use crate::query::{cgroup_pids, go_duration};
use crate::types::state;
use std::collections::BTreeMap;

/// psgo's descriptors and their headers (`podman top --list-descriptors`).
const DESCRIPTORS: &[(&str, &str)] = &[
    ("args", "COMMAND"),
    ("capamb", "AMBIENT CAPS"),
    ("capbnd", "BOUNDING CAPS"),
    ("capeff", "EFFECTIVE CAPS"),
    ("capinh", "INHERITED CAPS"),
    ("capprm", "PERMITTED CAPS"),
    ("comm", "COMMAND"),
    ("etime", "ELAPSED"),
    ("group", "GROUP"),
    ("groups", "GROUPS"),
    ("hgroup", "HGROUP"),
    ("hgroups", "HGROUPS"),
    ("hpid", "HPID"),
    ("huser", "HUSER"),
    ("label", "LABEL"),
    ("nice", "NI"),
    ("pcpu", "%CPU"),
    ("pgid", "PGID"),
    ("pid", "PID"),
    ("ppid", "PPID"),
    ("rgroup", "RGROUP"),
    ("rss", "RSS"),
    ("ruser", "RUSER"),
    ("seccomp", "SECCOMP"),
    ("state", "STATE"),
    ("stime", "STIME"),
    ("time", "TIME"),
    ("tty", "TTY"),
    ("user", "USER"),
    ("vsz", "VSZ"),
];

const DEFAULT: &[&str] = &[
    "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args",
];

/// Capability names by bit, as psgo prints them (without CAP_).
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// "a,b,c" of a capability mask; "none" when empty, "full" when every known one is set.
fn caps(hex: &str) -> String {
    let mask = u64::from_str_radix(hex, 16).unwrap_or(0);
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(CAPS.len() as u32 - 1);
    let full = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    if mask == 0 {
        return "none".into();
    }
    if mask & full == full {
        return "full".into();
    }
    let mut names: Vec<&str> = (0..64)
        .filter(|b| mask & (1 << b) != 0)
        .filter_map(|b| CAPS.get(b as usize).copied())
        .collect();
    names.sort_unstable();
    names.join(",")
}

/// name of an id in a passwd- or group-style file (the id itself when unknown).
fn name_of(db: &str, id: &str) -> String {
    db.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == id)
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| id.to_string())
}

/// One process as /proc shows it from the host.
struct Proc {
    hpid: i32,
    status: String,
    stat: Vec<String>,
    cmdline: Vec<u8>,
}

impl Proc {
    fn read(pid: i32) -> Option<Proc> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let raw = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after "(comm)": state is [0], ppid [1], pgrp [2], tty_nr [4], ...
        let after = raw.rfind(')').map(|i| &raw[i + 2..]).unwrap_or("");
        Some(Proc {
            hpid: pid,
            status,
            stat: after.split_whitespace().map(str::to_string).collect(),
            cmdline: std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        })
    }

    fn field(&self, k: &str) -> Vec<&str> {
        self.status
            .lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }

    fn stat_num(&self, i: usize) -> f64 {
        self.stat.get(i).and_then(|x| x.parse().ok()).unwrap_or(0.0)
    }
}

impl LocalEngine {
    /// `top`: the container's processes, as psgo prints `descriptors` (Podman's default
    /// columns when none); descriptors psgo does not know run ps(1) in the container.
    pub fn container_top(&self, key: &str, descriptors: &[String]) -> Result<Vec<String>> {
        let id = self.lookup_container(key)?;
        let rec = self.record(&id)?;
        crate::containers::require_cgroup(&rec, "list its processes")?;
        let (st, _, _) = self.live_state(&rec);
        if st != state::RUNNING && st != state::PAUSED {
            return Err(Error::Other(
                "top can only be used on running containers".into(),
            ));
        }
        let mut wanted: Vec<String> = descriptors
            .iter()
            .flat_map(|d| d.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if wanted.is_empty() {
            wanted = DEFAULT.iter().map(|s| s.to_string()).collect();
        }
        if wanted
            .iter()
            .any(|w| !DESCRIPTORS.iter().any(|(d, _)| d == w))
        {
            return self.top_with_ps(&id, descriptors);
        }
        let procs: Vec<Proc> = cgroup_pids(self.cgroups_path(&rec).trim_start_matches('/'))
            .into_iter()
            .filter_map(Proc::read)
            .collect();
        let rootfs = self.store.container_rootfs(&id);
        let file = |root: &std::path::Path, p: &str| {
            resolve_in_root(root, p)
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let passwd = file(&rootfs, "/etc/passwd");
        let group = file(&rootfs, "/etc/group");
        let hpasswd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let hgroup = std::fs::read_to_string("/etc/group").unwrap_or_default();
        // In a user namespace, the container's IDs of the processes' host IDs.
        let maps = rec.config.id_mappings.clone();
        let seen = |id: &str, gid: bool| -> String {
            match (&maps, id.parse::<u32>()) {
                (Some(m), Ok(n)) if gid => m.to_container(0, n).1.to_string(),
                (Some(m), Ok(n)) => m.to_container(n, 0).0.to_string(),
                _ => id.to_string(),
            }
        };
        // Host pid -> pid in the container's namespace (for ppid and pgid).
        let ns_of: BTreeMap<String, String> = procs
            .iter()
            .map(|p| {
                let ns = p.field("NSpid").last().unwrap_or(&"").to_string();
                (p.hpid.to_string(), ns)
            })
            .collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
            .unwrap_or(0.0);
        let btime: i64 = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
            })
            .unwrap_or(0);
        let mut lines = vec![wanted
            .iter()
            .map(|w| {
                DESCRIPTORS
                    .iter()
                    .find(|(d, _)| d == w)
                    .map(|(_, h)| *h)
                    .unwrap_or("")
            })
            .collect::<Vec<_>>()
            .join("\t")];
        for p in &procs {
            let ns = |host: &str| ns_of.get(host).cloned().unwrap_or_else(|| "0".into());
            let start = p.stat_num(19) / hz;
            let elapsed = (uptime - start).max(0.0);
            let cpu_secs = (p.stat_num(11) + p.stat_num(12)) / hz;
            let cols: Vec<String> = wanted
                .iter()
                .map(|w| match w.as_str() {
                    "args" => {
                        if p.cmdline.is_empty() {
                            format!("[{}]", p.field("Name").join(" "))
                        } else {
                            // psgo splits on NUL and joins with spaces: a trailing space.
                            p.cmdline
                                .split(|b| *b == 0)
                                .map(String::from_utf8_lossy)
                                .collect::<Vec<_>>()
                                .join(" ")
                        }
                    }
                    "comm" => p.field("Name").join(" "),
                    "capamb" => caps(p.field("CapAmb").first().unwrap_or(&"0")),
                    "capbnd" => caps(p.field("CapBnd").first().unwrap_or(&"0")),
                    "capeff" => caps(p.field("CapEff").first().unwrap_or(&"0")),
                    "capinh" => caps(p.field("CapInh").first().unwrap_or(&"0")),
                    "capprm" => caps(p.field("CapPrm").first().unwrap_or(&"0")),
                    "etime" => go_duration(elapsed),
                    "user" => name_of(&passwd, &seen(p.field("Uid").get(1).unwrap_or(&""), false)),
                    "ruser" => {
                        name_of(&passwd, &seen(p.field("Uid").first().unwrap_or(&""), false))
                    }
                    "group" => name_of(&group, &seen(p.field("Gid").get(1).unwrap_or(&""), true)),
                    "rgroup" => name_of(&group, &seen(p.field("Gid").first().unwrap_or(&""), true)),
                    "groups" => p
                        .field("Groups")
                        .iter()
                        .map(|g| name_of(&group, &seen(g, true)))
                        .collect::<Vec<_>>()
                        .join(","),
                    "huser" => name_of(&hpasswd, p.field("Uid").get(1).unwrap_or(&"")),
                    "hgroup" => name_of(&hgroup, p.field("Gid").get(1).unwrap_or(&"")),
                    "hgroups" => p
                        .field("Groups")
                        .iter()
                        .map(|g| name_of(&hgroup, g))
                        .collect::<Vec<_>>()
                        .join(","),
                    "hpid" => p.hpid.to_string(),
                    "pid" => ns(&p.hpid.to_string()),
                    "ppid" => ns(p.stat.get(1).map(String::as_str).unwrap_or("")),
                    "pgid" => ns(p.stat.get(2).map(String::as_str).unwrap_or("")),
                    "label" => std::fs::read_to_string(format!("/proc/{}/attr/current", p.hpid))
                        .map(|s| s.trim_end_matches(['\0', '\n']).to_string())
                        .ok()
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "?".into()),
                    "nice" => p.stat.get(16).cloned().unwrap_or_default(),
                    "pcpu" => format!(
                        "{:.3}",
                        if elapsed > 0.0 {
                            cpu_secs / elapsed * 100.0
                        } else {
                            0.0
                        }
                    ),
                    "rss" => p.field("VmRSS").first().unwrap_or(&"0").to_string(),
                    "vsz" => p.field("VmSize").first().unwrap_or(&"0").to_string(),
                    "seccomp" => match p.field("Seccomp").first().copied() {
                        Some("1") => "strict",
                        Some("2") => "filter",
                        _ => "disabled",
                    }
                    .into(),
                    "state" => p.stat.first().cloned().unwrap_or_default(),
                    "stime" => {
                        use chrono::TimeZone;
                        chrono::Local
                            .timestamp_opt(btime + start as i64, 0)
                            .single()
                            .map(|t| {
                                let zone = if t.offset().local_minus_utc() == 0 {
                                    "UTC".to_string()
                                } else {
                                    t.format("%z").to_string()
                                };
                                format!("{} {zone}", t.format("%Y-%m-%d %H:%M:%S %z"))
                            })
                            .unwrap_or_default()
                    }
                    "time" => {
                        let t = cpu_secs as u64;
                        format!("{}h{}m{}s", t / 3600, (t / 60) % 60, t % 60)
                            .trim_start_matches("0h")
                            .trim_start_matches("0m")
                            .to_string()
                    }
                    "tty" => {
                        let n = p.stat_num(4) as i64;
                        if n == 0 {
                            "?".to_string()
                        } else {
                            format!("pts/{}", (n & 0xff) | ((n >> 12) & 0xfff00))
                        }
                    }
                    _ => String::new(),
                })
                .collect();
            lines.push(cols.join("\t"));
        }
        Ok(lines)
    }

    /// Podman's fallback for descriptors psgo does not know: `ps ARGS...` in the container,
    /// without the lines of that ps itself.
    fn top_with_ps(&self, id: &str, descriptors: &[String]) -> Result<Vec<String>> {
        let mut cmd = vec!["ps".to_string()];
        for d in descriptors {
            cmd.extend(shell_split(d));
        }
        let (code, lines) = self.exec_output(id, cmd)?;
        if code != 0 {
            return Err(Error::Other(format!(
                "executing ps(1) in the container: runtime failed with exit status: {code} and output: {}",
                lines.join(" ")
            )));
        }
        let own = descriptors.join(" ");
        Ok(lines.into_iter().filter(|l| !l.contains(&own)).collect())
    }
}

/// Words of `s` as a shell splits them (quotes group, backslash escapes).
fn shell_split(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.get_or_insert_with(String::new).push(n);
                }
            }
            (Some(_), c) => cur.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(cur.take()),
            (None, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words() {
        assert_eq!(super::shell_split("-eo pid,comm"), ["-eo", "pid,comm"]);
        assert_eq!(super::shell_split("'a b' c"), ["a b", "c"]);
    }

    #[test]
    fn capability_lists() {
        assert_eq!(super::caps("0000000000000000"), "none");
        assert_eq!(
            super::caps("00000000800405fb"),
            "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,NET_BIND_SERVICE,SETFCAP,SETGID,SETPCAP,SETUID,SYS_CHROOT"
        );
    }
}
