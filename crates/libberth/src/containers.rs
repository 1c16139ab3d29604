//! Container life cycle of the LocalEngine: create, init, start, stop, kill, remove,
//! and the cleanup the monitor asks for when a container exits.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::{state, ContainerConfig, ContainerRecord, CreateOptions};
use berth_oci::monitor::{self, MonitorConfig, SyncMsg};
use berth_oci::spec::{self, BindMount, SpecInput};
use rusqlite::params;
use serde_json::Value;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where `--init` finds catatonit, as Podman does.
const INIT_BINARIES: &[&str] = &["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"];

/// Refuses `what` (stats, top, pause, update) for a container made without a cgroup.
pub(crate) fn require_cgroup(rec: &ContainerRecord, what: &str) -> Result<()> {
    if rec.config.no_cgroups {
        return Err(Error::InvalidArg(format!(
            "container {} has no cgroup (--cgroups=disabled): cannot {what}",
            rec.name
        )));
    }
    Ok(())
}

/// Podman's default pids limit (containers.conf `pids_limit`).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

/// Signal names and numbers as `kill -s` and `--stop-signal` take them.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || Error::InvalidArg(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" | "CLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => {
            if let Some(rest) = name.strip_prefix("RTMIN+") {
                34 + rest.parse::<i32>().map_err(|_| bad())?
            } else if let Some(rest) = name.strip_prefix("RTMAX-") {
                64 - rest.parse::<i32>().map_err(|_| bad())?
            } else if name == "RTMIN" {
                34
            } else if name == "RTMAX" {
                64
            } else {
                return Err(bad());
            }
        }
    };
    Ok(n)
}

fn is_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Follows a path inside `root` as the container would see it (symlinks resolved inside root).
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut cur = PathBuf::from("/");
    let mut parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(p) = parts.pop() {
        if p == "." {
            continue;
        }
        if p == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&p);
        let host = root.join(next.strip_prefix("/").unwrap_or(&next));
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = std::fs::read_link(&host).ok()?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur = PathBuf::from("/");
                }
                parts.extend(
                    t.split('/')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .rev(),
                );
            }
            Ok(_) => cur = next,
            Err(_) if parts.is_empty() => return None,
            Err(_) => return None,
        }
    }
    Some(root.join(cur.strip_prefix("/").unwrap_or(&cur)))
}

/// Finds the command as the runtime would: a path, or a search of PATH from `env`.
/// Err(127) when not found, Err(126) when it is not an executable file.
pub fn check_command(root: &Path, cmd: &str, env: &[String], cwd: &str, op: &str) -> Result<()> {
    let not_found = |what: &str| {
        Error::Exec {
        msg: format!("{op}: unable to start container process: exec: {what}: OCI runtime attempted to invoke a command that was not found"),
        code: 127,
    }
    };
    let candidates: Vec<String> = if cmd.contains('/') {
        if cmd.starts_with('/') {
            vec![cmd.to_string()]
        } else {
            vec![format!("{}/{cmd}", cwd.trim_end_matches('/'))]
        }
    } else {
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':').map(|d| format!("{d}/{cmd}")).collect()
    };
    for c in &candidates {
        let Some(p) = resolve_in_root(root, c) else {
            continue;
        };
        let Ok(md) = std::fs::metadata(&p) else {
            continue;
        };
        use std::os::unix::fs::PermissionsExt;
        if md.is_file() && md.permissions().mode() & 0o111 != 0 {
            return Ok(());
        }
        if cmd.contains('/') {
            return Err(Error::Exec {
                msg: format!("{op}: unable to start container process: exec: {cmd:?}: permission denied: OCI permission denied"),
                code: 126,
            });
        }
    }
    if cmd.contains('/') {
        Err(not_found(&format!(
            "{cmd:?}: stat {cmd}: no such file or directory"
        )))
    } else {
        Err(not_found(&format!(
            "{cmd:?}: executable file not found in $PATH"
        )))
    }
}

/// uid, gid, extra gids and home of `user` ("name", "uid", "uid:gid", "name:group").
pub fn resolve_user(root: &Path, user: &str) -> Result<(u32, u32, Vec<u32>, String)> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let read = |f: &str| {
        resolve_in_root(root, f)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    // No user means root, looked up like any other so that HOME comes from /etc/passwd.
    let mut uid: Option<u32> = if u.is_empty() {
        Some(0)
    } else {
        u.parse().ok()
    };
    let mut gid: Option<u32> = None;
    let mut home = String::from("/");
    let mut uname = String::new();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 {
            continue;
        }
        let fuid: Option<u32> = f[2].parse().ok();
        if f[0] == u || (uid.is_some() && fuid == uid) {
            uid = fuid;
            gid = f[3].parse().ok();
            home = f[5].to_string();
            uname = f[0].to_string();
            break;
        }
    }
    let uid = match uid {
        Some(v) => v,
        None if u.is_empty() => 0,
        None => {
            return Err(Error::InvalidArg(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => Some(
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| {
                        Error::InvalidArg(format!(
                            "unable to find group {g}: no matching entries in group file"
                        ))
                    })?,
            ),
        };
    }
    let gid = gid.unwrap_or(0);
    let mut extra = Vec::new();
    if !uname.is_empty() {
        for line in group.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[3].split(',').any(|m| m == uname) {
                if let Ok(v) = f[2].parse::<u32>() {
                    if v != gid {
                        extra.push(v);
                    }
                }
            }
        }
    }
    // As Podman: a user given explicitly also gets its primary group as a supplementary one.
    if !user.is_empty() && !extra.contains(&gid) {
        extra.insert(0, gid);
    }
    Ok((uid, gid, extra, home))
}

/// The final capability set after --privileged, --cap-add and --cap-drop.
pub fn effective_caps(c: &ContainerConfig) -> Result<Vec<String>> {
    let norm = |s: &str| {
        let u = s.to_ascii_uppercase();
        if u == "ALL" || u.starts_with("CAP_") {
            u
        } else {
            format!("CAP_{u}")
        }
    };
    let known = |s: &str| s == "ALL" || spec::ALL_CAPS.contains(&s);
    if c.privileged {
        return Ok(spec::ALL_CAPS.iter().map(|s| s.to_string()).collect());
    }
    let mut caps: Vec<String> = spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for d in &c.cap_drop {
        let d = norm(d);
        if !known(&d) {
            return Err(Error::InvalidArg(format!(
                "unknown capability {d:?} in --cap-drop"
            )));
        }
        if d == "ALL" {
            caps.clear();
        } else {
            caps.retain(|x| *x != d);
        }
    }
    for a in &c.cap_add {
        let a = norm(a);
        if !known(&a) {
            return Err(Error::InvalidArg(format!(
                "unknown capability {a:?} in --cap-add"
            )));
        }
        if a == "ALL" {
            caps = spec::ALL_CAPS.iter().map(|s| s.to_string()).collect();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Sets or replaces `KEY=value` entries, keeping order of first appearance.
pub fn merge_env(base: &mut Vec<String>, add: &[String]) {
    for e in add {
        let k = env_key(e);
        if let Some(slot) = base.iter_mut().find(|x| env_key(x) == k) {
            *slot = e.clone();
        } else {
            base.push(e.clone());
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl LocalEngine {
    /// Resolves a name, ID or ID prefix to a full container ID.
    pub fn lookup_container(&self, key: &str) -> Result<String> {
        self.db()
            .lookup_container(key)?
            .ok_or_else(|| Error::NoSuchContainer(key.to_string()))
    }

    pub(crate) fn record(&self, id: &str) -> Result<ContainerRecord> {
        self.db()
            .container(id)?
            .ok_or_else(|| Error::NoSuchContainer(id.to_string()))
    }

    pub(crate) fn set_state(&self, id: &str, st: &str) -> Result<()> {
        self.db().write(|tx| {
            tx.execute(
                "UPDATE containers SET state = ?2 WHERE id = ?1",
                params![id, st],
            )?;
            Ok(())
        })
    }

    pub(crate) fn save_config(&self, id: &str, c: &ContainerConfig) -> Result<()> {
        let j = serde_json::to_string(c).map_err(|e| Error::Other(e.to_string()))?;
        self.db().write(|tx| {
            tx.execute(
                "UPDATE containers SET config = ?2 WHERE id = ?1",
                params![id, j],
            )?;
            Ok(())
        })
    }

    /// `create`: records the container and prepares its writable layer. Returns the ID.
    pub fn container_create(&self, o: &CreateOptions) -> Result<String> {
        let (o, pod, made) = self.resolve_pod(o)?;
        // A new member waits for pod commands in flight (a `pod rm` removing its pod).
        let pod_lock = match &pod {
            Some(p) if !o.infra => Some(self.pod_lock(&p.id)?),
            _ => None,
        };
        if let Some(p) = &pod {
            if !o.infra && self.pod(&p.id).is_err() {
                return Err(Error::NoSuchPod(p.name.clone()));
            }
        }
        let created = self.create_in_pod(&o, pod.as_ref());
        drop(pod_lock);
        if let (Err(_), true, Some(p)) = (&created, made, &pod) {
            // A pod made for this container only goes with it.
            let _ = self.pod_remove(&p.id, true, 0);
        }
        created
    }

    fn create_in_pod(
        &self,
        o: &CreateOptions,
        pod: Option<&crate::pod::PodRecord>,
    ) -> Result<String> {
        // Held until the container is recorded, so that no `rmi` removes its layers meanwhile.
        let _storage = self.storage_lock_shared()?;
        let img = self.lookup_image(&o.image)?;
        let iconf: Value = serde_json::from_slice(&img.config).unwrap_or_default();
        let ic = &iconf["config"];
        if let Some(n) = &o.name {
            if !crate::ids::valid_name(n) {
                return Err(Error::InvalidArg(format!(
                    "container name {n:?} is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
                )));
            }
        }
        let id = crate::ids::new_id();
        let image_exposed: Vec<String> = ic["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let (network, networks, ports, expose) = self.resolve_network(o, &image_exposed, &id)?;
        let resources = crate::resources::Resources::default().with_flags(&o.resources)?;
        let mut host_namespaces = Vec::new();
        let mut no_cgroups = false;
        for (ns, mode) in &o.namespace_modes {
            if ns == "cgroups" {
                // berth's monitor is never in the container's cgroup: no-conmon and split
                // are what it always does. runc cannot run a container without cgroups.
                match mode.as_str() {
                    "enabled" | "no-conmon" | "split" => {}
                    "disabled" => {
                        let rt = self.runtime()?;
                        if rt.name != "crun" {
                            return Err(Error::InvalidArg(format!(
                                "requested OCI runtime {} is not compatible with NoCgroups: --cgroups=disabled needs crun",
                                rt.name
                            )));
                        }
                        if o.cgroup_parent.is_some() {
                            return Err(Error::InvalidArg(
                                "--cgroup-parent cannot be used with --cgroups=disabled".into(),
                            ));
                        }
                        if resources != crate::resources::Resources::default() {
                            return Err(Error::InvalidArg(
                                "resource limits cannot be set with --cgroups=disabled: they need a cgroup".into(),
                            ));
                        }
                        if o.pod.is_some() {
                            return Err(Error::InvalidArg(
                                "--cgroups=disabled cannot be used in a pod: its containers share the pod's cgroup".into(),
                            ));
                        }
                        no_cgroups = true;
                        // No cgroup of its own: no cgroup namespace either.
                        host_namespaces.push("cgroup".to_string());
                    }
                    m => {
                        return Err(Error::InvalidArg(format!(
                            "invalid cgroup mode {m:?}: use enabled, disabled, no-conmon or split"
                        )))
                    }
                }
                continue;
            }
            match mode.as_str() {
                "host" => host_namespaces.push(ns.clone()),
                "private" | "" => {}
                m => {
                    return Err(Error::InvalidArg(format!(
                        "invalid --{} value {m:?}: berth supports host and private",
                        if ns == "cgroup" {
                            "cgroupns"
                        } else {
                            ns.as_str()
                        }
                    )))
                }
            }
        }
        let cgroup_parent = o.cgroup_parent.clone().unwrap_or_default();
        if cgroup_parent.split('/').any(|p| p == "..") || cgroup_parent.contains(':') {
            return Err(Error::InvalidArg(format!(
                "invalid cgroup parent {cgroup_parent:?}: a cgroupfs path without '..' is required"
            )));
        }
        let (userns, id_mappings, _userns_lock) = self.container_userns(o, pod, &img.layers)?;
        if id_mappings.is_some() {
            // A user namespace cannot mount the host's /proc nor its mqueue.
            if let Some(ns) = host_namespaces
                .iter()
                .find(|n| matches!(n.as_str(), "pid" | "ipc"))
            {
                return Err(Error::InvalidArg(format!(
                    "--{ns} host cannot be used with a user namespace: the host's {} namespace belongs to the host's user namespace",
                    ns.to_uppercase()
                )));
            }
        }
        let mut env = strings(&ic["Env"]);
        if !env.iter().any(|e| env_key(e) == "PATH") {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        let extra = vec!["TERM=xterm".to_string(), "container=podman".to_string()];
        merge_env(&mut env, &extra);
        merge_env(&mut env, &o.env);
        let entrypoint = o
            .entrypoint
            .clone()
            .unwrap_or_else(|| strings(&ic["Entrypoint"]));
        let command = if !o.command.is_empty() {
            o.command.clone()
        } else if o.entrypoint.is_some() {
            Vec::new()
        } else {
            strings(&ic["Cmd"])
        };
        let mut args = entrypoint.clone();
        args.extend(command.iter().cloned());
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::InvalidArg(
                "no command or entrypoint provided, and no CMD or ENTRYPOINT from image".into(),
            ));
        }
        let stop_signal = match o.stop_signal {
            Some(s) => s,
            None => ic["StopSignal"]
                .as_str()
                .map(parse_signal)
                .transpose()?
                .unwrap_or(15),
        };
        let mut labels: std::collections::BTreeMap<String, String> = ic["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.extend(o.labels.clone());
        let mut mounts = crate::mounts::parse(&o.volumes, &o.mounts, &o.tmpfs)?;
        if id_mappings.is_none()
            && mounts
                .iter()
                .any(|m| m.options.iter().any(|x| x == "idmap"))
        {
            return Err(Error::InvalidArg(
                "idmap mounts need a user namespace (--userns, --uidmap): an idmapped mount maps the files' owners into it".into(),
            ));
        }
        let image_volumes: Vec<String> = ic["Volumes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let (new_volumes, volume_locks) =
            self.create_volumes_for(&mut mounts, &o.volumes_from, &image_volumes)?;
        let image_name = if img.id.starts_with(o.image.trim_start_matches("sha256:")) {
            img.names.first().cloned().unwrap_or_else(|| img.id.clone())
        } else {
            self.image_display_name(&o.image, &img.names)
        };
        let cfg = ContainerConfig {
            image_name,
            command: o.command.clone(),
            entrypoint: o.entrypoint.clone(),
            args,
            env,
            user_workdir: o.workdir.is_some(),
            workdir: o
                .workdir
                .clone()
                .or_else(|| ic["WorkingDir"].as_str().map(str::to_string))
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: o
                .user
                .clone()
                .or_else(|| ic["User"].as_str().map(str::to_string))
                .unwrap_or_default(),
            hostname: o.hostname.clone().unwrap_or_else(|| id[..12].to_string()),
            labels,
            tty: o.tty,
            interactive: o.interactive,
            read_only: o.read_only,
            privileged: o.privileged,
            cap_add: o.cap_add.clone(),
            cap_drop: o.cap_drop.clone(),
            init: o.init,
            stop_signal,
            stop_timeout: o.stop_timeout.unwrap_or(10),
            ulimits: o.ulimits.clone(),
            network,
            networks,
            ports,
            expose,
            publish_all: o.publish_all,
            dns_servers: o.dns_servers.clone(),
            dns_search: o.dns_search.clone(),
            dns_options: o.dns_options.clone(),
            add_hosts: o.add_hosts.clone(),
            no_hosts: o.no_hosts,
            resources,
            cgroup_parent,
            no_cgroups,
            oom_killed: false,
            pod: pod.map(|p| p.id.clone()).unwrap_or_default(),
            infra: o.infra,
            host_namespaces,
            userns,
            id_mappings,
            auto_remove: o.auto_remove,
            create_command: o.create_command.clone(),
            mounts,
            no_read_only_tmpfs: !o.read_only_tmpfs,
            volumes_from: o.volumes_from.clone(),
            runtime: self.runtime()?.name.clone(),
            storage_driver: self.cfg.storage_driver.clone(),
            initialized: false,
        };
        if let Err(e) = effective_caps(&cfg) {
            drop(volume_locks);
            self.forget_volumes(&new_volumes);
            return Err(e);
        }
        let created = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let cjson = serde_json::to_string(&cfg).map_err(|e| Error::Other(e.to_string()))?;
        // Write first, then act: a crash after this leaves a record `rm -f` can remove.
        let recorded = self.db().write(|tx| {
            let name = match &o.name {
                Some(n) => {
                    let other: Option<String> = tx
                        .query_row("SELECT id FROM containers WHERE name = ?1", [n], |r| r.get(0))
                        .ok();
                    if let Some(other) = other {
                        return Err(Error::NameInUse(n.clone(), other));
                    }
                    n.clone()
                }
                None => loop {
                    let n = crate::ids::random_name();
                    let taken: bool = tx
                        .query_row("SELECT 1 FROM containers WHERE name = ?1", [&n], |_| Ok(()))
                        .is_ok();
                    if !taken {
                        break n;
                    }
                },
            };
            tx.execute(
                "INSERT INTO containers(id, name, image_id, created, config, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, name, img.id, created, cjson, state::CONFIGURED],
            )?;
            Ok(())
        });
        drop(volume_locks);
        if let Err(e) = recorded {
            self.forget_volumes(&new_volumes);
            return Err(e);
        }
        let prepared = (|| -> Result<()> {
            std::fs::create_dir_all(self.userdata(&id))
                .ctx(|| "creating container directory".into())?;
            self.store
                .create_container_layer_mapped(&id, &img.layers, cfg.id_mappings.as_ref())?;
            Ok(())
        })();
        if let Err(e) = prepared {
            let _ = self.remove_container_files(&id);
            let _ = self.db().write(|tx| {
                tx.execute("DELETE FROM containers WHERE id = ?1", [&id])?;
                Ok(())
            });
            self.forget_volumes(&new_volumes);
            return Err(e);
        }
        Ok(id)
    }

    /// A container's pod: an existing one, or `new:NAME` made now with the container's
    /// network settings (as Podman moves them to the pod). A member of a pod that shares
    /// its network namespace joins the infra container's; it takes the pod's hostname
    /// (uts) and sits in the pod's cgroup.
    /// Returns whether it made the pod.
    fn resolve_pod(
        &self,
        o: &CreateOptions,
    ) -> Result<(CreateOptions, Option<crate::pod::PodRecord>, bool)> {
        let mut o = o.clone();
        let Some(key) = o.pod.clone().filter(|p| !p.is_empty()) else {
            return Ok((o, None, false));
        };
        let made = key.starts_with("new:") && !o.infra;
        let pod = match key.strip_prefix("new:") {
            Some(name) if !o.infra => {
                let net = CreateOptions {
                    networks: std::mem::take(&mut o.networks),
                    ip: std::mem::take(&mut o.ip),
                    mac_address: o.mac_address.take(),
                    network_aliases: std::mem::take(&mut o.network_aliases),
                    publish: std::mem::take(&mut o.publish),
                    publish_all: std::mem::take(&mut o.publish_all),
                    dns_servers: std::mem::take(&mut o.dns_servers),
                    dns_search: std::mem::take(&mut o.dns_search),
                    dns_options: std::mem::take(&mut o.dns_options),
                    add_hosts: std::mem::take(&mut o.add_hosts),
                    ..Default::default()
                };
                let id = self.pod_create(&crate::pod::PodCreateOptions {
                    name: Some(name.to_string()),
                    infra: true,
                    network: net,
                    create_command: o.create_command.clone(),
                    ..Default::default()
                })?;
                o.pod = Some(id.clone());
                self.pod(&id)?
            }
            _ => self.pod(&key)?,
        };
        if o.infra {
            if pod.config.share_parent {
                o.cgroup_parent = Some(self.pod_cgroup(&pod.id));
            }
            return Ok((o, Some(pod), made));
        }
        let shares = |ns: &str| pod.config.share.iter().any(|s| s == ns);
        let refuse = |what: &str| {
            Err(Error::InvalidArg(format!(
                "invalid config provided: {what} cannot be set when the container joins the network namespace of pod {}: set it on the pod",
                pod.name
            )))
        };
        if shares("net") {
            if !o.networks.is_empty() {
                return refuse("--network");
            }
            if !o.publish.is_empty() || o.publish_all {
                return refuse("published ports");
            }
            if !o.ip.is_empty() || o.mac_address.is_some() || !o.network_aliases.is_empty() {
                return refuse("--ip, --mac-address and --network-alias");
            }
            o.networks = vec![format!("container:{}", pod.config.infra_id)];
        }
        if shares("uts") {
            if o.hostname.is_some() {
                return Err(Error::InvalidArg(format!(
                    "invalid config provided: cannot set the hostname of a container that shares the UTS namespace of pod {}",
                    pod.name
                )));
            }
            o.hostname = Some(pod.config.hostname.clone());
        }
        if o.cgroup_parent.is_none() && pod.config.share_parent {
            o.cgroup_parent = Some(self.pod_cgroup(&pod.id));
        }
        // The pod's volumes (`pod create -v`, kept on the infra container) for every member.
        if !pod.config.infra_id.is_empty() {
            let infra = self.record(&pod.config.infra_id)?;
            if infra
                .config
                .mounts
                .iter()
                .any(|m| m.kind == "bind" || m.kind == "volume")
            {
                o.volumes_from.push(infra.id.clone());
            }
        }
        Ok((o, Some(pod), made))
    }

    /// The image name to show for a container created from `typed`.
    fn image_display_name(&self, typed: &str, names: &[String]) -> String {
        if let Ok(full) = berth_image::normalize_name(typed) {
            if names.contains(&full) {
                return full;
            }
            let short = format!("/{}", full.rsplit('/').next().unwrap_or(&full));
            if let Some(n) = names.iter().find(|n| n.ends_with(&short)) {
                return n.clone();
            }
        }
        names.first().cloned().unwrap_or_else(|| typed.to_string())
    }

    /// Writes /etc/hostname, /etc/hosts and /etc/resolv.conf for the container (after its
    /// network is set up: they hold its addresses and DNS server).
    fn write_etc_files(&self, rec: &ContainerRecord) -> Result<Vec<BindMount>> {
        let c = &rec.config;
        let ud = self.userdata(&rec.id);
        let mut binds = Vec::new();
        let hostname = ud.join("hostname");
        std::fs::write(&hostname, format!("{}\n", c.hostname)).ctx(|| "writing hostname".into())?;
        let hosts = ud.join("hosts");
        std::fs::write(&hosts, self.hosts_file(rec)).ctx(|| "writing hosts".into())?;
        let resolv = ud.join("resolv.conf");
        std::fs::write(&resolv, self.resolv_conf(rec)).ctx(|| "writing resolv.conf".into())?;
        let mut files = vec![(hostname, "/etc/hostname"), (resolv, "/etc/resolv.conf")];
        if !c.no_hosts {
            files.push((hosts, "/etc/hosts"));
        }
        for (src, dst) in files {
            binds.push(BindMount {
                source: src,
                destination: dst.into(),
                readonly: false,
            });
        }
        Ok(binds)
    }

    /// A `-w` directory must exist (Podman: exit 126); the image's own is created by the
    /// runtime when missing.
    fn check_workdir(&self, rec: &ContainerRecord, rootfs: &Path) -> Result<()> {
        let c = &rec.config;
        if !c.user_workdir {
            return Ok(());
        }
        let short = &rec.id[..12];
        match resolve_in_root(rootfs, &c.workdir).and_then(|p| std::fs::metadata(p).ok()) {
            Some(md) if md.is_dir() => Ok(()),
            Some(_) => Err(Error::Exec {
                msg: format!(
                    "workdir {:?} exists on container {short}, but is not a directory",
                    c.workdir
                ),
                code: 126,
            }),
            None => Err(Error::Exec {
                msg: format!(
                    "workdir {:?} does not exist on container {short}",
                    c.workdir
                ),
                code: 126,
            }),
        }
    }

    /// For a numeric user or group the image does not know, Podman adds entries to
    /// /etc/passwd and /etc/group so that `id` and `whoami` work: copies with the extra
    /// line are bind-mounted over the image's files.
    fn user_entries(&self, id: &str, rootfs: &Path, uid: u32, gid: u32) -> Result<Vec<BindMount>> {
        let mut binds = Vec::new();
        let files = [
            (
                "/etc/passwd",
                2,
                format!("{uid}:*:{uid}:{gid}:container user:/:/bin/sh"),
            ),
            ("/etc/group", 2, format!("{gid}:x:{gid}:")),
        ];
        for (file, field, line) in files {
            let want = if file == "/etc/passwd" { uid } else { gid };
            let Some(host) = resolve_in_root(rootfs, file) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&host) else {
                continue;
            };
            let known = text
                .lines()
                .any(|l| l.split(':').nth(field).and_then(|v| v.parse::<u32>().ok()) == Some(want));
            if known {
                continue;
            }
            let copy = self.userdata(id).join(file.trim_start_matches("/etc/"));
            let mut content = text;
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(&line);
            content.push('\n');
            std::fs::write(&copy, content).ctx(|| format!("writing {}", copy.display()))?;
            binds.push(BindMount {
                source: copy,
                destination: file.into(),
                readonly: false,
            });
        }
        Ok(binds)
    }

    /// A new container's user namespace: (mode, mappings, the `auto` lock to hold until
    /// it is recorded). A pod member shares its infra container's.
    fn container_userns(
        &self,
        o: &CreateOptions,
        pod: Option<&crate::pod::PodRecord>,
        chain: &[String],
    ) -> Result<(
        String,
        Option<berth_storage::IdMappings>,
        Option<crate::lock::Lock>,
    )> {
        let member = pod.filter(|p| !o.infra && !p.config.infra_id.is_empty());
        // Not given: $PODMAN_USERNS, else containers.conf's (a pod's members take the pod's).
        let defaulted;
        let o = match crate::userns::default_mode(o, &self.cfg.network) {
            Some(mode) if member.is_none() => {
                defaulted = CreateOptions {
                    userns: Some(mode),
                    ..o.clone()
                };
                &defaulted
            }
            _ => o,
        };
        let req = crate::userns::parse_request(o)?;
        if let Some(p) = member {
            if req != crate::userns::UsernsRequest::Host {
                return Err(Error::InvalidArg(
                    "--userns and --pod cannot be set together: a pod's containers share its user namespace".into(),
                ));
            }
            let infra = self.record(&p.config.infra_id)?;
            return Ok(match infra.config.id_mappings {
                Some(m) => (format!("container:{}", infra.id), Some(m), None),
                None => (String::new(), None, None),
            });
        }
        let lock = match req {
            crate::userns::UsernsRequest::Auto { .. } => Some(self.userns_lock()?),
            _ => None,
        };
        let (mode, maps) = self.resolve_userns(&req, chain)?;
        Ok((mode, maps, lock))
    }

    /// The namespaces a pod member joins: those its pod shares (besides the network,
    /// which goes through `container:`), from the running infra container.
    fn pod_namespaces(&self, rec: &ContainerRecord) -> Result<Vec<(String, PathBuf)>> {
        if rec.config.pod.is_empty() || rec.config.infra {
            return Ok(Vec::new());
        }
        let pod = self.pod(&rec.config.pod)?;
        if pod.config.infra_id.is_empty() {
            return Ok(Vec::new());
        }
        let infra = self.record(&pod.config.infra_id)?;
        Ok(pod
            .config
            .share
            .iter()
            .filter(|s| matches!(s.as_str(), "ipc" | "uts" | "pid" | "cgroup"))
            .map(|s| {
                (
                    s.clone(),
                    PathBuf::from(format!("/proc/{}/ns/{s}", infra.pid)),
                )
            })
            .collect())
    }

    /// The /dev/shm of a pod that shares IPC: the infra container's tmpfs in its
    /// directory, mounted when the infra container starts.
    fn pod_shm(&self, rec: &ContainerRecord) -> Result<Option<PathBuf>> {
        if rec.config.pod.is_empty() {
            return Ok(None);
        }
        let pod = self.pod(&rec.config.pod)?;
        if pod.config.infra_id.is_empty() || !pod.config.share.iter().any(|s| s == "ipc") {
            return Ok(None);
        }
        let shm = self.userdata(&pod.config.infra_id).join("shm");
        if rec.config.infra && !crate::export::is_mounted(&shm) {
            std::fs::create_dir_all(&shm).ctx(|| format!("creating {}", shm.display()))?;
            nix::mount::mount(
                Some("shm"),
                &shm,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NODEV
                    | nix::mount::MsFlags::MS_NOEXEC,
                Some("mode=1777,size=65536k"),
            )
            .map_err(|e| Error::Other(format!("mounting {}: {e}", shm.display())))?;
        }
        Ok(Some(shm))
    }

    /// The container's cgroup (cgroupfs path): under `--cgroup-parent`, else `/berth`.
    pub(crate) fn cgroups_path(&self, rec: &ContainerRecord) -> String {
        let parent = rec.config.cgroup_parent.trim_end_matches('/');
        let parent = if parent.is_empty() {
            "/berth".to_string()
        } else if parent.starts_with('/') {
            parent.to_string()
        } else {
            format!("/{parent}")
        };
        format!("{parent}/berth-{}", rec.id)
    }

    /// Mounts the root file system and writes the runtime bundle (config.json).
    fn prepare_bundle(&self, rec: &ContainerRecord) -> Result<()> {
        self.prepare_bundle_with(rec, || self.setup_network(rec))
    }

    fn prepare_bundle_with(
        &self,
        rec: &ContainerRecord,
        network: impl FnOnce() -> Result<berth_oci::spec::NetMode>,
    ) -> Result<()> {
        let c = &rec.config;
        let rootfs = self.store.mount_container(&rec.id)?;
        let runtime = self.runtime()?;
        let (uid, gid, extra_gids, home) = resolve_user(&rootfs, &c.user)?;
        let mut env = c.env.clone();
        if !env.iter().any(|e| env_key(e) == "HOME") {
            env.push(format!("HOME={home}"));
        }
        if !env.iter().any(|e| env_key(e) == "HOSTNAME") {
            env.push(format!("HOSTNAME={}", c.hostname));
        }
        self.check_workdir(rec, &rootfs)?;
        let op = format!("{0}: {0} create failed", runtime.name);
        check_command(&rootfs, &c.args[0], &env, &c.workdir, &op)?;
        let caps = effective_caps(c)?;
        let mut rlimits = spec::default_rlimits();
        for u in &c.ulimits {
            let t = spec::rlimit_type(&u.name)
                .ok_or_else(|| Error::InvalidArg(format!("invalid ulimit type: {}", u.name)))?;
            rlimits.retain(|r| r.0 != t);
            rlimits.push((t.to_string(), u.soft, u.hard));
        }
        let init = if c.init {
            Some(
                INIT_BINARIES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.exists())
                    .ok_or_else(|| {
                        Error::Other("--init needs catatonit, which is not installed".into())
                    })?,
            )
        } else {
            None
        };
        let network = network()?;
        let mut binds = self.write_etc_files(rec)?;
        // A pod that shares IPC shares /dev/shm too: a tmpfs on the host, the infra
        // container's, bind-mounted into each of its containers (as Podman does).
        if let Some(shm) = self.pod_shm(rec)? {
            binds.push(BindMount {
                source: shm,
                destination: "/dev/shm".into(),
                readonly: false,
            });
        }
        binds.extend(self.user_entries(&rec.id, &rootfs, uid, gid)?);
        if let Some(m) = &c.id_mappings {
            // The files berth writes for the container belong to its root, as the
            // image's /etc does.
            let (ruid, rgid) = m.root();
            let ud = self.userdata(&rec.id);
            for b in binds.iter().filter(|b| b.source.starts_with(&ud)) {
                std::os::unix::fs::lchown(&b.source, Some(ruid), Some(rgid))
                    .ctx(|| format!("changing the owner of {}", b.source.display()))?;
            }
        }
        let user_mounts = self.setup_mounts(rec, &rootfs, uid, gid)?;
        let input = SpecInput {
            rootfs: rootfs.clone(),
            readonly_rootfs: c.read_only,
            read_only_tmpfs: c.read_only && !c.no_read_only_tmpfs,
            user_mounts,
            args: c.args.clone(),
            env,
            cwd: c.workdir.clone(),
            uid,
            gid,
            additional_gids: extra_gids,
            terminal: c.tty,
            hostname: c.hostname.clone(),
            seccomp: (!c.privileged).then(|| berth_oci::seccomp::default_profile(&caps)),
            caps,
            privileged: c.privileged,
            rlimits,
            network,
            cgroups_path: if c.no_cgroups {
                String::new()
            } else {
                self.cgroups_path(rec)
            },
            resources: if c.no_cgroups {
                serde_json::Map::new()
            } else {
                c.resources.for_runtime()
            },
            oom_score_adj: c.resources.oom_score_adj.unwrap_or(0),
            join_namespaces: self.pod_namespaces(rec)?,
            host_namespaces: c.host_namespaces.clone(),
            userns: self.spec_userns(rec)?,
            binds,
            init,
            annotations: vec![("io.container.manager".into(), "berth".into())],
            devices: if c.privileged {
                spec::host_devices()
            } else {
                Vec::new()
            },
        };
        let spec = spec::generate(&input);
        let path = self.userdata(&rec.id).join("config.json");
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap_or_default())
            .ctx(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Spawns the monitor, which creates (or creates and starts) the container in the runtime.
    /// With `attach`, returns the attach connection, made before the container runs.
    fn spawn_monitor(
        &self,
        rec: &ContainerRecord,
        start: bool,
        attach: bool,
    ) -> Result<(i32, i32, Option<UnixStream>)> {
        let spawned = self.spawn_monitor_inner(rec, start, attach);
        // The runtime has bound the `idmap` mounts (or failed): the views can go.
        if rec.config.id_mappings.is_some() {
            self.store.release_idmapped_binds(&rec.id);
        }
        spawned
    }

    fn spawn_monitor_inner(
        &self,
        rec: &ContainerRecord,
        start: bool,
        attach: bool,
    ) -> Result<(i32, i32, Option<UnixStream>)> {
        let id = &rec.id;
        let runtime = self.runtime()?;
        let rundir = self.rundir(id);
        let _ = std::fs::remove_dir_all(&rundir);
        std::fs::create_dir_all(&rundir).ctx(|| format!("creating {}", rundir.display()))?;
        let mut exit_command = self.self_args();
        exit_command.extend(["container".into(), "cleanup".into(), id.clone()]);
        let cgroup = self.cgroups_path(rec);
        let oom_events =
            (!rec.config.no_cgroups).then(|| match berth_oci::runtime::CgroupMode::detect() {
                berth_oci::runtime::CgroupMode::V2 => {
                    PathBuf::from(format!("/sys/fs/cgroup{cgroup}/memory.events"))
                }
                _ => PathBuf::from(format!("/sys/fs/cgroup/memory{cgroup}/memory.oom_control")),
            });
        let mc = MonitorConfig {
            oom_events,
            runtime_args: if rec.config.no_cgroups {
                vec!["--cgroup-manager=disabled".into()]
            } else {
                Vec::new()
            },
            id: id.clone(),
            bundle: self.userdata(id),
            run_dir: rundir.clone(),
            runtime: runtime.path.clone(),
            runtime_root: runtime.root.clone(),
            terminal: rec.config.tty,
            stdin: rec.config.interactive,
            log_path: self.userdata(id).join("ctr.log"),
            exit_file: self.exit_file(id),
            start,
            wait_attach: attach,
            exit_command,
            host_ports: rec
                .config
                .ports
                .iter()
                .filter(|m| matches!(m.protocol.as_str(), "tcp" | "udp"))
                .flat_map(|m| {
                    let ip = if m.host_ip.is_empty() {
                        "0.0.0.0"
                    } else {
                        m.host_ip.as_str()
                    };
                    (0..m.range).map(move |i| {
                        let addr = if ip.contains(':') {
                            format!("[{ip}]:{}", m.host_port + i)
                        } else {
                            format!("{ip}:{}", m.host_port + i)
                        };
                        (m.protocol.clone(), addr)
                    })
                })
                .collect(),
        };
        let cfg_path = rundir.join("monitor.json");
        std::fs::write(&cfg_path, serde_json::to_vec(&mc).unwrap_or_default())
            .ctx(|| "writing monitor config".into())?;
        let mut sync = monitor::spawn(&self.cfg.exe, &cfg_path)
            .ctx(|| format!("starting the monitor of container {id}"))?;
        let mut conn = None;
        loop {
            match sync.recv().ctx(|| format!("container {id} monitor"))? {
                SyncMsg::Ready => {
                    conn = Some(
                        monitor::connect_attach(&rundir)
                            .ctx(|| format!("attaching to container {id}"))?,
                    );
                }
                SyncMsg::Pid { pid, monitor } => return Ok((pid, monitor, conn)),
                SyncMsg::Error(e) if e.starts_with("cannot listen on the") => {
                    return Err(Error::Other(e))
                }
                SyncMsg::Error(e) => {
                    return Err(Error::Other(format!(
                        "{}: {} {} failed: {e}",
                        runtime.name,
                        runtime.name,
                        if start { "run" } else { "create" }
                    )))
                }
            }
        }
    }

    /// `init`: creates the container in the runtime without starting it.
    pub fn container_init(&self, key: &str) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        match rec.state.as_str() {
            state::CONFIGURED | state::EXITED | state::STOPPED => {}
            other => {
                return Err(Error::InvalidState(
                    id,
                    other.into(),
                    "container state improper",
                ))
            }
        }
        self.init_locked(&rec, false, false)?;
        Ok(id)
    }

    fn init_locked(
        &self,
        rec: &ContainerRecord,
        start: bool,
        attach: bool,
    ) -> Result<Option<UnixStream>> {
        // A pod's cgroup first; a member needs the infra container running (it joins
        // its namespaces).
        if !rec.config.pod.is_empty() {
            self.ensure_pod_cgroup(&rec.config.pod)?;
            if !rec.config.infra {
                let pod = self.pod(&rec.config.pod)?;
                if !pod.config.infra_id.is_empty() {
                    self.ensure_infra_running(&pod.id)?;
                }
            }
        }
        if rec.config.network == "bridge" {
            return self.init_bridged(rec, start, attach);
        }
        if let Err(e) = self.prepare_bundle(rec) {
            return Err(self.undo_init(rec, e, false));
        }
        let (pid, mon, conn) = match self.spawn_monitor(rec, start, attach) {
            Ok(v) => v,
            Err(e) => return Err(self.undo_init(rec, e, true)),
        };
        self.record_init(rec, start, pid, mon)?;
        Ok(conn)
    }

    /// Undoes a failed init: the runtime's container, the mounts, the network. Returns `e`.
    fn undo_init(&self, rec: &ContainerRecord, e: Error, runtime: bool) -> Error {
        if rec.config.id_mappings.is_some() {
            self.store.release_idmapped_binds(&rec.id);
        }
        if runtime {
            if let Ok(rt) = self.runtime() {
                let _ = rt.delete(&rec.id, true);
            }
            // A runtime that failed half-way may leave the cgroup it made (crun does).
            if !rec.config.no_cgroups {
                crate::resources::remove_cgroup_dirs(&self.cgroups_path(rec));
            }
        }
        let _ = self.store.unmount_container(&rec.id);
        self.release_volumes(&rec.id, &rec.config);
        self.teardown_network(&rec.id, &rec.config);
        e
    }

    /// A bridge container: its namespace and addresses first (quick), then netavark's
    /// set-up (the slow part) beside the bundle's preparation and the runtime's create.
    /// The container starts once both are done, after its /etc/hosts and resolv.conf got
    /// the addresses (written in place: its bind mounts see them).
    fn init_bridged(
        &self,
        rec: &ContainerRecord,
        start: bool,
        attach: bool,
    ) -> Result<Option<UnixStream>> {
        if rec.config.id_mappings.is_some() {
            return self.init_bridged_userns(rec, start, attach);
        }
        let (mut state, infos) = self.prepare_netns(rec, true)?;
        let netns = PathBuf::from(&state.netns);
        let (created, set_up) = std::thread::scope(|s| {
            let setup = s.spawn(|| self.netavark_setup(rec, &mut state, &infos));
            let created = self
                .prepare_bundle_with(rec, || Ok(berth_oci::spec::NetMode::Path(netns.clone())))
                .and_then(|()| self.spawn_monitor(rec, false, attach));
            let set_up = setup
                .join()
                .unwrap_or_else(|_| Err(Error::Other("network set-up panicked".into())));
            (created, set_up)
        });
        let (pid, mon, conn) = match (created, set_up) {
            (Ok(v), Ok(())) => v,
            (Ok(_), Err(e)) | (Err(e), _) => return Err(self.undo_init(rec, e, true)),
        };
        let started = self.write_etc_files(rec).and_then(|_| {
            if start {
                self.runtime()?.start(&rec.id)?;
            }
            Ok(())
        });
        if let Err(e) = started {
            return Err(self.undo_init(rec, e, true));
        }
        self.record_init(rec, start, pid, mon)?;
        Ok(conn)
    }

    /// A bridge container in a user namespace (made or joined): the runtime makes the
    /// network namespace inside it (else the container could not mount its sysfs nor
    /// own its network, nor join a namespace owned by the host's user namespace once in
    /// its own), and netavark sets it up once the container exists, before it starts
    /// (Podman's "post-configure" network namespace).
    fn init_bridged_userns(
        &self,
        rec: &ContainerRecord,
        start: bool,
        attach: bool,
    ) -> Result<Option<UnixStream>> {
        let (mut state, infos) = self.prepare_netns(rec, false)?;
        let netns = PathBuf::from(&state.netns);
        let created = self
            .prepare_bundle_with(rec, || Ok(berth_oci::spec::NetMode::None))
            .and_then(|()| self.spawn_monitor(rec, false, attach));
        let (pid, mon, conn) = match created {
            Ok(v) => v,
            Err(e) => return Err(self.undo_init(rec, e, true)),
        };
        let started = crate::netns::bind_netns(pid, &netns)
            .and_then(|()| self.netavark_setup(rec, &mut state, &infos))
            .and_then(|()| self.write_etc_files(rec))
            .and_then(|_| {
                if start {
                    self.runtime()?.start(&rec.id)?;
                }
                Ok(())
            });
        if let Err(e) = started {
            return Err(self.undo_init(rec, e, true));
        }
        self.record_init(rec, start, pid, mon)?;
        Ok(conn)
    }

    /// The runtime's view of the container's user namespace: made with its mappings, or
    /// joined (a running container's, or a path).
    fn spec_userns(&self, rec: &ContainerRecord) -> Result<Option<berth_oci::spec::UserNamespace>> {
        let c = &rec.config;
        let Some(m) = &c.id_mappings else {
            return Ok(None);
        };
        let path = if let Some(other) = c.userns.strip_prefix("container:") {
            let other = self.record(other).map_err(|_| {
                Error::Other(format!(
                    "the container {other} whose user namespace container {} joins is gone",
                    rec.id
                ))
            })?;
            if !matches!(
                self.live_state(&other).0.as_str(),
                state::RUNNING | state::PAUSED
            ) {
                return Err(Error::InvalidState(
                    other.id.clone(),
                    "not running".into(),
                    "cannot join the user namespace of a container that is not running: container state improper",
                ));
            }
            Some(PathBuf::from(format!("/proc/{}/ns/user", other.pid)))
        } else {
            c.userns.strip_prefix("ns:").map(PathBuf::from)
        };
        let t = |v: &[berth_storage::IdRange]| -> Vec<(u32, u32, u32)> {
            v.iter()
                .map(|r| (r.container_id, r.host_id, r.size))
                .collect()
        };
        Ok(Some(berth_oci::spec::UserNamespace {
            path,
            uid_mappings: t(&m.uids),
            gid_mappings: t(&m.gids),
        }))
    }

    /// Records a container the runtime created (and, with `start`, started).
    fn record_init(&self, rec: &ContainerRecord, start: bool, pid: i32, mon: i32) -> Result<()> {
        let (st, started) = if start {
            (state::RUNNING, now_rfc3339())
        } else {
            (state::CREATED, rec.started_at.clone())
        };
        let mut cfg = rec.config.clone();
        cfg.initialized = !start;
        cfg.oom_killed = false;
        self.save_config(&rec.id, &cfg)?;
        self.db().write(|tx| {
            tx.execute(
                "UPDATE containers SET state = ?2, pid = ?3, monitor_pid = ?4, started_at = ?5, exit_code = 0, finished_at = '' WHERE id = ?1",
                params![rec.id, st, pid, mon, started],
            )?;
            Ok(())
        })
    }

    /// `start`: starts a container; with `attach`, returns the attach stream, connected
    /// before the container runs so that no output is missed.
    pub fn container_start(&self, key: &str, attach: bool) -> Result<(String, Option<UnixStream>)> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let mut rec = self.record(&id)?;
        // Exited, but the monitor's cleanup has not run yet: record the exit first, so
        // that it starts again rather than attaching to the finished run.
        if matches!(
            rec.state.as_str(),
            state::RUNNING | state::PAUSED | state::CREATED
        ) && self.live_state(&rec).0 == state::EXITED
        {
            self.finish_locked(&rec)?;
            rec = self.record(&id)?;
        }
        match rec.state.as_str() {
            state::RUNNING => {
                let conn = if attach {
                    Some(
                        monitor::connect_attach(&self.rundir(&id))
                            .ctx(|| format!("attaching to container {id}"))?,
                    )
                } else {
                    None
                };
                Ok((id, conn))
            }
            state::CREATED => {
                let conn = if attach {
                    Some(
                        monitor::connect_attach(&self.rundir(&id))
                            .ctx(|| format!("attaching to container {id}"))?,
                    )
                } else {
                    None
                };
                self.runtime()?.start(&id)?;
                let mut cfg = rec.config.clone();
                cfg.initialized = false;
                self.save_config(&id, &cfg)?;
                self.db().write(|tx| {
                    tx.execute(
                        "UPDATE containers SET state = ?2, started_at = ?3 WHERE id = ?1",
                        params![id, state::RUNNING, now_rfc3339()],
                    )?;
                    Ok(())
                })?;
                Ok((id, conn))
            }
            state::CONFIGURED | state::EXITED | state::STOPPED => {
                if rec.state != state::CONFIGURED {
                    self.cleanup_runtime(&id);
                }
                let conn = self.init_locked(&rec, true, attach)?;
                Ok((id, conn))
            }
            other => Err(Error::InvalidState(
                id,
                other.into(),
                "container state improper",
            )),
        }
    }

    /// Forgets the runtime's copy of a container and unmounts it. Errors are ignored:
    /// each step is idempotent and cleanup must go on.
    fn cleanup_runtime(&self, id: &str) {
        let _ = self.cleanup_runtime_with(id, || Ok(()));
    }

    /// [`Self::cleanup_runtime`], then `then`, both beside the network's teardown.
    fn cleanup_runtime_with(&self, id: &str, then: impl FnOnce() -> Result<()>) -> Result<()> {
        let rec = self.db().container(id).ok().flatten();
        let result = std::thread::scope(|s| {
            // The network's teardown (netavark: links, firewall rules) is the slow part:
            // it runs beside the runtime's and the storage's.
            let net = rec
                .as_ref()
                .filter(|_| self.net_state(id).is_some())
                .map(|r| s.spawn(move || self.teardown_network(id, &r.config)));
            if let Ok(rt) = self.runtime() {
                if rt.root.join(id).exists() && !rt.remove_stopped(id) {
                    let _ = rt.delete(id, true);
                }
            }
            let _ = self.store.unmount_container(id);
            if let Some(r) = &rec {
                self.release_volumes(id, &r.config);
            }
            // An infra container's /dev/shm (a pod's, see `pod_shm`).
            let shm = self.userdata(id).join("shm");
            if rec.as_ref().is_some_and(|r| r.config.infra) && crate::export::is_mounted(&shm) {
                let _ = nix::mount::umount2(&shm, nix::mount::MntFlags::MNT_DETACH);
            }
            let result = then();
            if let Some(h) = net {
                for e in h.join().unwrap_or_default() {
                    eprintln!("Error: tearing down the network of container {id}: {e}");
                }
            }
            result
        });
        let rundir = self.rundir(id);
        for f in [
            "attach",
            "pidfile",
            "runtime.log",
            "monitor.json",
            "console.sock",
        ] {
            let _ = std::fs::remove_file(rundir.join(f));
        }
        result
    }

    /// Records the exit of a container whose monitor has finished (lock held).
    fn finish_locked(&self, rec: &ContainerRecord) -> Result<()> {
        let exit = monitor::read_exit(&self.exit_file(&rec.id));
        self.cleanup_runtime(&rec.id);
        let (code, finished, oom) = match exit {
            Some(e) => (e.exit_code, e.finished_at, e.oom_killed),
            None => (rec.exit_code, now_rfc3339(), false),
        };
        let finished = chrono::DateTime::parse_from_rfc3339(&finished)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
            })
            .unwrap_or(finished);
        let mut cfg = rec.config.clone();
        cfg.initialized = false;
        cfg.oom_killed = oom;
        self.save_config(&rec.id, &cfg)?;
        self.db().write(|tx| {
            tx.execute(
                "UPDATE containers SET state = ?2, exit_code = ?3, finished_at = ?4, pid = 0, monitor_pid = 0 WHERE id = ?1",
                params![rec.id, state::EXITED, code, finished],
            )?;
            Ok(())
        })?;
        let _ = std::fs::remove_file(self.exit_file(&rec.id));
        Ok(())
    }

    /// Records the exit of a container whose monitor has reported it, if its cleanup has
    /// not run yet (the foreground `run`/`start -a`/`attach` do this before returning, so
    /// that the container is settled when they return, as with Podman).
    pub fn container_sync(&self, key: &str) -> Result<()> {
        let Some(id) = self.db().lookup_container(key)? else {
            return Ok(());
        };
        let _l = self.lock(&id)?;
        let Some(rec) = self.db().container(&id)? else {
            return Ok(());
        };
        if matches!(
            rec.state.as_str(),
            state::RUNNING | state::PAUSED | state::CREATED
        ) && self.live_state(&rec).0 == state::EXITED
        {
            self.finish_locked(&rec)?;
        }
        Ok(())
    }

    /// `container cleanup`: run by the monitor when the container has exited.
    pub fn container_cleanup(&self, key: &str) -> Result<()> {
        let Some(id) = self.db().lookup_container(key)? else {
            return Ok(());
        };
        let l = self.lock(&id)?;
        let Some(rec) = self.db().container(&id)? else {
            l.remove_file();
            return Ok(());
        };
        // A monitor's cleanup can arrive after the container was already stopped and started
        // again (restart): then another, live monitor owns it and there is nothing to do.
        let ppid = nix::unistd::getppid().as_raw();
        if rec.monitor_pid > 0 && rec.monitor_pid != ppid && is_alive(rec.monitor_pid) {
            return Ok(());
        }
        // --rm: straight to removal, which cleans up as it removes.
        if rec.config.auto_remove && rec.state != state::REMOVING {
            drop(l);
            return self.container_rm(&id, true, 0, true);
        }
        if matches!(
            rec.state.as_str(),
            state::RUNNING | state::PAUSED | state::CREATED
        ) {
            self.finish_locked(&rec)?;
        }
        drop(l);
        self.pod_member_exited(&rec);
        Ok(())
    }

    /// Waits until the monitor has written the exit file (or the container is gone).
    fn wait_exit_file(&self, rec: &ContainerRecord, timeout: Duration) -> bool {
        let path = self.exit_file(&rec.id);
        let deadline = Instant::now() + timeout;
        let mut sleep = Duration::from_micros(500);
        loop {
            if path.exists() {
                return true;
            }
            if rec.monitor_pid > 0 && !is_alive(rec.monitor_pid) {
                return path.exists() || !is_alive(rec.pid);
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(20));
        }
    }

    /// Stops a running container (lock held): stop signal, then SIGKILL after `timeout`.
    fn stop_locked(&self, rec: &ContainerRecord, timeout: u32) -> Result<()> {
        let rt = self.runtime()?;
        if !matches!(rec.state.as_str(), state::RUNNING | state::PAUSED) {
            if rec.state == state::CREATED {
                self.finish_locked(rec)?;
            }
            return Ok(());
        }
        let paused = rec.state == state::PAUSED;
        if timeout > 0 {
            let _ = rt.kill(&rec.id, rec.config.stop_signal, false);
            if paused {
                let _ = rt.resume(&rec.id);
            }
            if self.wait_exit_file(rec, Duration::from_secs(timeout as u64)) {
                return self.finish_locked(rec);
            }
        }
        let _ = rt.kill(&rec.id, 9, true);
        if paused {
            let _ = rt.resume(&rec.id);
        }
        if !self.wait_exit_file(rec, Duration::from_secs(10)) {
            return Err(Error::Other(format!(
                "container {} did not exit after SIGKILL",
                rec.id
            )));
        }
        self.finish_locked(rec)
    }

    /// `stop`: returns the ID of the container stopped.
    pub fn container_stop(&self, key: &str, timeout: Option<u32>) -> Result<String> {
        let id = self.lookup_container(key)?;
        let l = self.lock(&id)?;
        let rec = self.record(&id)?;
        self.stop_locked(&rec, timeout.unwrap_or(rec.config.stop_timeout))?;
        let rec = self.record(&id)?;
        if rec.config.auto_remove {
            drop(l);
            self.container_rm(&id, true, 0, true)?;
        }
        Ok(id)
    }

    /// `kill`: sends a signal to a running container.
    pub fn container_kill(&self, key: &str, signal: i32) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        if !matches!(rec.state.as_str(), state::RUNNING | state::PAUSED) {
            return Err(Error::InvalidState(
                id.clone(),
                format!("in state {}", display_state(&rec.state)),
                "can only kill running containers: container state improper",
            ));
        }
        self.runtime()?.kill(&id, signal, false)?;
        Ok(id)
    }

    /// `rm`: removes a container; a running one only with `force` (stopped first). With
    /// `volumes`, its anonymous volumes too (those no other container uses).
    pub fn container_rm(&self, key: &str, force: bool, timeout: u32, volumes: bool) -> Result<()> {
        let id = self.lookup_container(key)?;
        let l = self.lock(&id)?;
        let Some(rec) = self.db().container(&id)? else {
            l.remove_file();
            return Err(Error::NoSuchContainer(key.to_string()));
        };
        if rec.config.infra {
            if let Ok(pod) = self.pod(&rec.config.pod) {
                if self.pod_containers(&pod)?.iter().any(|c| c.id != id) {
                    return Err(Error::InvalidArg(format!(
                        "container {id} is the infra container of pod {} and cannot be removed without removing the pod",
                        pod.id
                    )));
                }
            }
        } else {
            let joined = format!("container:{id}");
            let deps: Vec<String> = self
                .db()
                .containers_with(&joined)?
                .into_iter()
                .filter(|c| c.config.network == joined || c.config.userns == joined)
                .map(|c| c.id)
                .collect();
            if !deps.is_empty() {
                return Err(Error::InvalidArg(format!(
                    "container {id} has dependent containers which must be removed before it: {}: container already exists",
                    deps.join(",")
                )));
            }
        }
        let live = matches!(
            self.live_state(&rec).0.as_str(),
            state::RUNNING | state::PAUSED
        );
        // Exited but not cleaned up yet: the removal below cleans up as it removes.
        if live && !force {
            return Err(Error::Other(format!(
                "cannot remove container {id} as it is {} - running or paused containers cannot be removed without force: container state improper",
                rec.state
            )));
        }
        self.set_state(&id, state::REMOVING)?;
        if live {
            if let Err(e) = self.stop_locked(&rec, timeout) {
                if !force {
                    return Err(e);
                }
            }
        }
        // Anything the runtime or a dead monitor left behind.
        if rec.pid > 0 && is_alive(rec.pid) && force {
            let _ = self.runtime().map(|rt| rt.kill(&id, 9, true));
        }
        self.cleanup_runtime_with(&id, || {
            self.remove_container_files(&id)?;
            self.db().write(|tx| {
                tx.execute("DELETE FROM containers WHERE id = ?1", [&id])?;
                Ok(())
            })
        })?;
        // Before the lock goes: whoever waits on it (`run --rm`'s foreground) finds the
        // anonymous volumes gone too.
        let removed = if volumes {
            self.remove_anonymous_volumes(&rec.config)
        } else {
            Ok(())
        };
        l.remove_file();
        drop(l);
        removed
    }

    /// (dependent, dependency) pairs of container IDs: a container that joins another's
    /// network or user namespace (`container:ID`) depends on it, a pod's member on its
    /// infra container. One read of the containers.
    pub fn container_dependencies(&self) -> Result<Vec<(String, String)>> {
        let recs = self.db().containers()?;
        let infra_of: std::collections::HashMap<&str, &str> = recs
            .iter()
            .filter(|r| r.config.infra)
            .map(|r| (r.config.pod.as_str(), r.id.as_str()))
            .collect();
        let mut out = Vec::new();
        for r in &recs {
            for mode in [&r.config.network, &r.config.userns] {
                if let Some(d) = mode.strip_prefix("container:") {
                    out.push((r.id.clone(), d.to_string()));
                }
            }
            if !r.config.infra {
                if let Some(i) = infra_of.get(r.config.pod.as_str()) {
                    out.push((r.id.clone(), i.to_string()));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Removes the container's storage, bundle, run dir and exit file. Idempotent.
    fn remove_container_files(&self, id: &str) -> Result<()> {
        self.store.remove_container_layer(id)?;
        let _ = std::fs::remove_dir_all(self.userdata(id));
        let _ = std::fs::remove_dir_all(self.rundir(id));
        let _ = std::fs::remove_file(self.exit_file(id));
        Ok(())
    }

    /// `pause` / `unpause`.
    pub fn container_pause(&self, key: &str, pause: bool) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        require_cgroup(&rec, if pause { "pause it" } else { "unpause it" })?;
        let rt = self.runtime()?;
        if pause {
            if rec.state != state::RUNNING {
                return Err(Error::InvalidState(
                    id.clone(),
                    display_state(&rec.state).into(),
                    "can only pause running containers: container state improper",
                ));
            }
            rt.pause(&id)?;
            self.set_state(&id, state::PAUSED)?;
        } else {
            if rec.state != state::PAUSED {
                return Err(Error::InvalidState(
                    id.clone(),
                    "not paused".into(),
                    "can only unpause paused containers: container state improper",
                ));
            }
            rt.resume(&id)?;
            self.set_state(&id, state::RUNNING)?;
        }
        Ok(id)
    }

    /// `rename`.
    pub fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        if !crate::ids::valid_name(new_name) {
            return Err(Error::InvalidArg(format!(
                "container name {new_name:?} is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
            )));
        }
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        self.db().write(|tx| {
            let other: Option<String> = tx
                .query_row(
                    "SELECT id FROM containers WHERE name = ?1",
                    [new_name],
                    |r| r.get(0),
                )
                .ok();
            if let Some(o) = other {
                return Err(Error::NameInUse(new_name.to_string(), o));
            }
            tx.execute(
                "UPDATE containers SET name = ?2 WHERE id = ?1",
                params![id, new_name],
            )?;
            Ok(())
        })
    }

    /// The container's state, correcting "running" when the monitor has already recorded an exit.
    pub(crate) fn live_state(&self, rec: &ContainerRecord) -> (String, i32, String) {
        if matches!(
            rec.state.as_str(),
            state::RUNNING | state::PAUSED | state::CREATED
        ) {
            if let Some(e) = monitor::read_exit(&self.exit_file(&rec.id)) {
                return (state::EXITED.into(), e.exit_code, e.finished_at);
            }
            if rec.monitor_pid > 0 && !is_alive(rec.monitor_pid) {
                return (state::EXITED.into(), rec.exit_code, rec.finished_at.clone());
            }
        }
        (rec.state.clone(), rec.exit_code, rec.finished_at.clone())
    }

    /// `wait`: blocks until the container reaches one of `conditions`; returns its exit code.
    pub fn container_wait(
        &self,
        key: &str,
        conditions: &[String],
        interval: Duration,
    ) -> Result<i32> {
        let id = self.lookup_container(key)?;
        let conds: Vec<String> = if conditions.is_empty() {
            vec!["stopped".into()]
        } else {
            conditions.to_vec()
        };
        for c in &conds {
            if !matches!(
                c.as_str(),
                "configured"
                    | "created"
                    | "exited"
                    | "paused"
                    | "running"
                    | "stopped"
                    | "stopping"
                    | "unknown"
            ) {
                return Err(Error::InvalidArg(format!(
                    "invalid condition {c:?}: unknown container state"
                )));
            }
        }
        loop {
            let rec = self
                .db()
                .container(&id)?
                .ok_or_else(|| Error::NoSuchContainer(key.to_string()))?;
            let (st, code, _) = self.live_state(&rec);
            let shown = display_state(&st);
            for c in &conds {
                let hit = match c.as_str() {
                    "stopped" | "exited" => st == state::EXITED || st == state::STOPPED,
                    "configured" | "created" => shown == "created",
                    other => st == other,
                };
                if hit {
                    return Ok(if matches!(c.as_str(), "stopped" | "exited") {
                        code
                    } else {
                        -1
                    });
                }
            }
            std::thread::sleep(interval);
        }
    }

    /// `container prune`: removes every container that is not running.
    pub fn container_prune(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let recs = self.db().containers()?;
        for rec in recs {
            let (st, _, _) = self.live_state(&rec);
            if matches!(st.as_str(), state::RUNNING | state::PAUSED) {
                continue;
            }
            self.container_rm(&rec.id, true, 0, false)?;
            out.push(rec.id);
        }
        Ok(out)
    }

    pub fn container_exists(&self, key: &str) -> Result<bool> {
        Ok(self.db().lookup_container(key)?.is_some())
    }

    /// Names or IDs of every container (for `-a` flags).
    pub fn all_container_ids(&self) -> Result<Vec<String>> {
        Ok(self.db().containers()?.into_iter().map(|c| c.id).collect())
    }

    /// The most recently created container (`-l`).
    pub fn latest_container(&self) -> Result<String> {
        self.db()
            .containers()?
            .into_iter()
            .max_by_key(|c| c.created)
            .map(|c| c.id)
            .ok_or_else(|| Error::NoSuchContainer("latest".into()))
    }
}

/// The state as users see it ("configured" is internal).
pub fn display_state(s: &str) -> &str {
    match s {
        state::CONFIGURED => "created",
        other => other,
    }
}
