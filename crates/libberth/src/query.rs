//! Read-only views of containers: `ps` rows, `inspect` documents, `top`, `info`.

use crate::containers::{display_state, effective_caps};
use crate::error::{Error, Result};
use crate::local::LocalEngine;
use crate::types::{state, ContainerRecord, PsEntry, PsOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn unix_of(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn created_rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .with_timezone(&chrono::Local)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

/// Go's zero time, as Podman prints unset timestamps.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Podman's ps STATUS column: "Up 3 seconds ago", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(
    st: &str,
    exit_code: i32,
    started: &str,
    finished: &str,
    initialized: bool,
) -> String {
    match st {
        state::RUNNING => format!("Up {}", crate::human::ago(unix_of(started))),
        state::PAUSED => "Paused".into(),
        state::EXITED | state::STOPPED => {
            format!(
                "Exited ({exit_code}) {}",
                crate::human::ago(unix_of(finished))
            )
        }
        state::CREATED if initialized => "Initialized".into(),
        state::REMOVING => "Removing".into(),
        _ => "Created".into(),
    }
}

fn matches_filter(
    e: &PsEntry,
    rec: &ContainerRecord,
    key: &str,
    val: &str,
    image_names: &[String],
) -> Result<bool> {
    Ok(match key {
        "name" => {
            let re_like = val.trim_start_matches('^').trim_end_matches('$');
            if val.starts_with('^') && val.ends_with('$') {
                rec.name == re_like
            } else if val.starts_with('^') {
                rec.name.starts_with(re_like)
            } else if val.ends_with('$') {
                rec.name.ends_with(re_like)
            } else {
                rec.name.contains(val)
            }
        }
        "id" => rec.id.starts_with(val),
        "label" => match val.split_once('=') {
            Some((k, v)) => e.labels.get(k).is_some_and(|x| x == v),
            None => e.labels.contains_key(val),
        },
        "status" => {
            if !matches!(
                val,
                "created"
                    | "exited"
                    | "paused"
                    | "running"
                    | "unknown"
                    | "stopped"
                    | "configured"
                    | "removing"
            ) {
                return Err(Error::InvalidArg(format!(
                    "unknown container state: {val}: invalid argument"
                )));
            }
            e.state == val || (val == "stopped" && e.state == "exited")
        }
        "ancestor" => {
            let full = berth_image::normalize_name(val).unwrap_or_default();
            rec.image_id.starts_with(val.trim_start_matches("sha256:"))
                || image_names
                    .iter()
                    .any(|n| *n == full || n.ends_with(&format!("/{val}")) || n == val)
                || rec.config.image_name == val
        }
        "pod" => !e.pod.is_empty() && (e.pod.starts_with(val) || e.pod_name == val),
        "network" => rec.config.networks.iter().any(|n| n.name == val),
        "exited" => {
            let code: i32 = val
                .parse()
                .map_err(|_| Error::InvalidArg(format!("exited code out of range {val:?}")))?;
            e.exited && e.exit_code == code
        }
        other => return Err(Error::InvalidArg(format!("{other} is an invalid filter"))),
    })
}

impl LocalEngine {
    fn ps_entry(&self, rec: &ContainerRecord) -> PsEntry {
        let (st, code, finished) = self.live_state(rec);
        let shown = display_state(&st).to_string();
        let exited = st == state::EXITED || st == state::STOPPED;
        PsEntry {
            auto_remove: rec.config.auto_remove,
            command: rec.config.args.clone(),
            created_at: crate::human::ago(rec.created / 1_000_000_000),
            exited,
            exited_at: if exited {
                unix_of(&finished)
            } else {
                -62135596800
            },
            exit_code: code,
            id: rec.id.clone(),
            image: rec.config.image_name.clone(),
            image_id: rec.image_id.clone(),
            is_infra: rec.config.infra,
            labels: rec.config.labels.clone(),
            mounts: rec
                .config
                .mounts
                .iter()
                .filter(|m| m.kind == "bind" || m.kind == "volume")
                .map(|m| m.destination.clone())
                .collect(),
            names: vec![rec.name.clone()],
            namespaces: BTreeMap::new(),
            networks: rec.config.networks.iter().map(|n| n.name.clone()).collect(),
            pid: if st == state::RUNNING || st == state::PAUSED {
                rec.pid
            } else {
                0
            },
            pod: rec.config.pod.clone(),
            pod_name: if rec.config.pod.is_empty() {
                String::new()
            } else {
                self.pod_row(&rec.config.pod)
                    .ok()
                    .flatten()
                    .map(|p| p.name)
                    .unwrap_or_default()
            },
            ports: (!rec.config.ports.is_empty()).then(|| rec.config.ports.clone()),
            size: None,
            started_at: if rec.started_at.is_empty() {
                -62135596800
            } else {
                unix_of(&rec.started_at)
            },
            status: status_text(
                &st,
                code,
                &rec.started_at,
                &finished,
                rec.config.initialized,
            ),
            state: shown,
            created: rec.created / 1_000_000_000,
        }
    }

    /// `ps`: running containers, or all with `opts.all`; filters are ANDed across keys and
    /// ORed within a key, as Podman does.
    /// The list is oldest first, to the nanosecond (`ps` shows creation order).
    pub fn ps(&self, opts: &PsOptions) -> Result<Vec<PsEntry>> {
        let mut recs = self.db().containers()?;
        recs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        let mut names_cache: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut out = Vec::new();
        for rec in &recs {
            let e = self.ps_entry(rec);
            if !opts.all && opts.filters.is_empty() && e.state != state::RUNNING {
                continue;
            }
            let mut by_key: BTreeMap<&str, bool> = BTreeMap::new();
            for (k, v) in &opts.filters {
                let names = if k == "ancestor" {
                    names_cache
                        .entry(rec.image_id.clone())
                        .or_insert_with(|| self.image_names_of(&rec.image_id).unwrap_or_default())
                        .clone()
                } else {
                    Vec::new()
                };
                let hit = matches_filter(&e, rec, k, v, &names)?;
                let slot = by_key.entry(k.as_str()).or_insert(false);
                *slot |= hit;
            }
            if by_key.values().all(|v| *v) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// `inspect` of a container, in Podman's shape.
    pub fn container_inspect(&self, key: &str) -> Result<Value> {
        let id = self.lookup_container(key)?;
        let rec = self.record(&id)?;
        let c = &rec.config;
        let (st, code, finished) = self.live_state(&rec);
        let running = st == state::RUNNING || st == state::PAUSED;
        let caps = effective_caps(c).unwrap_or_default();
        let ud = self.userdata(&id);
        let upper = self.store.container_upper_dir(&id);
        let img = self.db().image(&rec.image_id)?;
        let lower: Vec<String> = img
            .as_ref()
            .map(|i| {
                i.layers
                    .iter()
                    .rev()
                    .map(|l| self.store.layer_diff_dir(l).to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut gdata = serde_json::Map::new();
        if self.cfg.storage_driver == "overlay" {
            gdata.insert("LowerDir".into(), json!(lower.join(":")));
            gdata.insert("MergedDir".into(), json!(self.store.container_rootfs(&id)));
            gdata.insert("UpperDir".into(), json!(upper));
            gdata.insert("WorkDir".into(), json!(upper.with_file_name("work")));
        }
        let ulimits: Vec<Value> = c
            .ulimits
            .iter()
            .map(|u| json!({"Name": format!("RLIMIT_{}", u.name.to_uppercase()), "Soft": u.soft, "Hard": u.hard}))
            .collect();
        // Podman: null when there are none.
        let labels: Value = if c.labels.is_empty() {
            Value::Null
        } else {
            json!(c.labels)
        };
        let (path, args) = c
            .args
            .split_first()
            .map(|(p, a)| (p.clone(), a.to_vec()))
            .unwrap_or_default();
        let iconf: Value = img
            .as_ref()
            .and_then(|i| serde_json::from_slice(&i.config).ok())
            .unwrap_or_default();
        let image_list = |k: &str| -> Vec<String> {
            iconf["config"][k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let entrypoint = c
            .entrypoint
            .clone()
            .unwrap_or_else(|| image_list("Entrypoint"))
            .join(" ");
        let cmd: Vec<String> = if !c.command.is_empty() {
            c.command.clone()
        } else if c.entrypoint.is_some() {
            Vec::new()
        } else {
            image_list("Cmd")
        };
        let mut v = json!({
            "Id": id,
            "Created": created_rfc3339(rec.created),
            "Path": path,
            "Args": args,
            "State": {
                "OciVersion": "1.0.2-dev",
                "Status": display_state(&st),
                "Running": st == state::RUNNING,
                "Paused": st == state::PAUSED,
                "Restarting": false,
                "OOMKilled": c.oom_killed,
                "Dead": false,
                "Pid": if running { rec.pid } else { 0 },
                "ConmonPid": if running { rec.monitor_pid } else { 0 },
                "ExitCode": code,
                "Error": "",
                "StartedAt": if rec.started_at.is_empty() { ZERO_TIME.to_string() } else { rec.started_at.clone() },
                "FinishedAt": if finished.is_empty() { ZERO_TIME.to_string() } else { finished },
                "Health": {"Status": "", "FailingStreak": 0, "Log": null},
                "CheckpointedAt": ZERO_TIME,
                "RestoredAt": ZERO_TIME,
            },
            "Image": rec.image_id,
            "ImageName": c.image_name,
            "Rootfs": "",
            "Pod": "",
            "ResolvConfPath": ud.join("resolv.conf"),
            "HostnamePath": ud.join("hostname"),
            "HostsPath": ud.join("hosts"),
            "StaticDir": ud,
            "OCIConfigPath": ud.join("config.json"),
            "OCIRuntime": c.runtime,
            "ConmonPidFile": self.rundir(&id).join("monitor.pid"),
            "PidFile": self.rundir(&id).join("pidfile"),
            "Name": rec.name,
            "RestartCount": rec.restarts,
            "Driver": self.cfg.storage_driver,
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "EffectiveCaps": caps,
            "BoundingCaps": caps,
            "ExecIDs": [],
            "GraphDriver": {"Name": self.cfg.storage_driver, "Data": gdata},
            // Volumes first, then the rest, as Podman lists them.
            "Mounts": c.mounts.iter().filter(|m| m.kind == "volume")
                .chain(c.mounts.iter().filter(|m| m.kind != "volume"))
                .filter_map(|m| crate::mounts::inspect_mount(m, &self.mount_source(m)))
                .collect::<Vec<_>>(),
            "Dependencies": [],
            "NetworkSettings": self.network_settings(&rec, running),
            "Namespace": "",
            "IsInfra": c.infra,
            "IsService": false,
            "Config": {
                "Hostname": c.hostname,
                "Domainname": "",
                "User": c.user,
                "AttachStdin": false,
                "AttachStdout": false,
                "AttachStderr": false,
                "Tty": c.tty,
                "OpenStdin": c.interactive,
                "StdinOnce": false,
                "Env": c.env,
                "Cmd": cmd,
                "Image": c.image_name,
                "Volumes": null,
                "WorkingDir": c.workdir,
                "Entrypoint": entrypoint,
                "OnBuild": null,
                "Labels": labels,
                "Annotations": {"io.container.manager": "berth", "org.opencontainers.image.stopSignal": c.stop_signal.to_string()},
                "StopSignal": c.stop_signal,
                "HealthcheckOnFailureAction": "none",
                "CreateCommand": c.create_command,
                "Umask": "0022",
                "Timeout": 0,
                "StopTimeout": c.stop_timeout,
                "Passwd": true,
                "sdNotifyMode": "container",
            },
            "HostConfig": {
                "Binds": c.mounts.iter().filter_map(crate::mounts::host_config_bind).collect::<Vec<_>>(),
                "CgroupManager": "cgroupfs",
                "CgroupMode": if c.host_namespaces.iter().any(|n| n == "cgroup") { "host" } else { "private" },
                "ContainerIDFile": "",
                "LogConfig": {"Type": "k8s-file", "Config": null, "Path": ud.join("ctr.log"), "Tag": "", "Size": "0B"},
                "NetworkMode": c.network,
                "PortBindings": c.ports.iter().flat_map(|m| (0..m.range).map(move |i| (
                    format!("{}/{}", m.container_port + i, m.protocol),
                    json!([{"HostIp": m.host_ip, "HostPort": (m.host_port + i).to_string()}]),
                ))).collect::<serde_json::Map<String, Value>>(),
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
                "AutoRemove": c.auto_remove,
                "VolumeDriver": "",
                "VolumesFrom": if c.volumes_from.is_empty() { Value::Null } else { json!(c.volumes_from) },
                "CapAdd": c.cap_add,
                "CapDrop": c.cap_drop,
                "Dns": c.dns_servers, "DnsOptions": c.dns_options, "DnsSearch": c.dns_search,
                "ExtraHosts": c.add_hosts,
                "GroupAdd": [],
                "IpcMode": if c.host_namespaces.iter().any(|n| n == "ipc") { "host" } else { "shareable" },
                "Cgroup": "",
                "Cgroups": "default",
                "Links": null,
                "PidMode": if c.host_namespaces.iter().any(|n| n == "pid") { "host" } else { "private" },
                "Privileged": c.privileged,
                "PublishAllPorts": c.publish_all,
                "ReadonlyRootfs": c.read_only,
                "SecurityOpt": [],
                "Tmpfs": c.mounts.iter().filter(|m| m.kind == "tmpfs").map(|m| (
                    m.destination.clone(),
                    Value::String(m.options.join(",")),
                )).collect::<serde_json::Map<String, Value>>(),
                "UTSMode": if c.host_namespaces.iter().any(|n| n == "uts") { "host" } else { "private" },
                // Podman shows "" for `auto`.
                "UsernsMode": if c.userns == "auto" { "" } else { c.userns.as_str() },
                "ShmSize": 65536000,
                "Runtime": "oci",
                "ConsoleSize": [0, 0],
                "Isolation": "",
                "CgroupParent": c.cgroup_parent,
                "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
                "Devices": [],
                "MemorySwappiness": -1,
                "Ulimits": ulimits,
                "CookieName": "",
                "Init": c.init,
            },
        });
        // The resource limits, and Podman's default pids limit when none was given.
        let mut limits = c.resources.host_config();
        if c.resources.pids_limit.is_none() {
            limits.insert(
                "PidsLimit".into(),
                json!(crate::containers::DEFAULT_PIDS_LIMIT),
            );
        }
        if let Some(m) = &c.id_mappings {
            let strs = |v: &[berth_storage::IdRange]| -> Vec<String> {
                v.iter().map(ToString::to_string).collect()
            };
            limits.insert(
                "IDMappings".into(),
                json!({"UidMap": strs(&m.uids), "GidMap": strs(&m.gids)}),
            );
        }
        if let Some(hc) = v["HostConfig"].as_object_mut() {
            hc.extend(limits);
        }
        Ok(v)
    }
}

/// Go's time.Duration formatting (Podman's ELAPSED column): "812.345678ms", "1.5s", "2m3.25s",
/// "1h0m2s"; below a second in ms, µs or ns.
pub fn go_duration(secs: f64) -> String {
    let ns = (secs.max(0.0) * 1e9).round() as u64;
    let frac = |v: u64, unit: u64, suffix: &str| {
        let whole = v / unit;
        let rest = v % unit;
        let digits = unit.ilog10() as usize;
        let mut s = whole.to_string();
        if rest > 0 {
            let f = format!("{rest:0digits$}");
            s.push('.');
            s.push_str(f.trim_end_matches('0'));
        }
        s.push_str(suffix);
        s
    };
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return frac(ns, 1_000, "µs");
    }
    if ns < 1_000_000_000 {
        return frac(ns, 1_000_000, "ms");
    }
    let h = ns / 3_600_000_000_000;
    let m = ns / 60_000_000_000 % 60;
    let rest = ns % 60_000_000_000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac(rest, 1_000_000_000, "s"));
    out
}

/// PIDs in the container's cgroup, from whichever hierarchy lists them.
pub(crate) fn cgroup_pids(rel: &str) -> Vec<i32> {
    for base in [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup",
    ] {
        let p = format!("{base}/{rel}/cgroup.procs");
        if let Ok(s) = std::fs::read_to_string(&p) {
            let mut v: Vec<i32> = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
            v.sort();
            return v;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_duration_as_go_prints_it() {
        use super::go_duration;
        assert_eq!(go_duration(0.0), "0s");
        assert_eq!(go_duration(0.884538615), "884.538615ms");
        assert_eq!(go_duration(0.03), "30ms");
        assert_eq!(go_duration(1.5), "1.5s");
        assert_eq!(go_duration(123.25), "2m3.25s");
        assert_eq!(go_duration(3602.0), "1h0m2s");
        assert_eq!(go_duration(0.000002), "2µs");
    }
}
