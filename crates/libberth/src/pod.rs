//! Pods: groups of containers that share namespaces (by default net, ipc and uts) with
//! an infra container running a pause process (catatonit from the host, in an image
//! berth builds locally: no pull). A pod has a cgroup of its own under which its
//! containers' cgroups sit, so pod-level limits hold for all of them together.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::resources::{ResourceFlags, Resources};
use crate::types::{state, ContainerRecord, CreateOptions};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The local pause image (Podman's is `localhost/podman-pause:VERSION`).
pub const PAUSE_IMAGE: &str = "localhost/berth-pause:latest";
const CATATONIT: &[&str] = &["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"];

/// A pod's settings, as recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PodConfig {
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub infra_id: String,
    /// Shared namespaces: "net", "ipc", "uts", "pid", "cgroup".
    pub share: Vec<String>,
    /// "continue" or "stop" (stop the pod when its last container exits).
    pub exit_policy: String,
    /// Limits for the pod's cgroup, shared by all its containers.
    pub resources: Resources,
    /// The pod's cgroup is its containers' cgroup parent (`--share-parent`).
    pub share_parent: bool,
    pub create_command: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct PodRecord {
    pub id: String,
    pub name: String,
    pub config: PodConfig,
}

/// What `pod create` asks for.
#[derive(Debug, Clone)]
pub struct PodCreateOptions {
    pub name: Option<String>,
    pub infra: bool,
    pub infra_image: Option<String>,
    pub infra_command: Option<Vec<String>>,
    pub infra_name: Option<String>,
    /// `--share`, as given (None: "ipc,net,uts").
    pub share: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub exit_policy: Option<String>,
    /// `--share-parent` (Podman's default: true).
    pub share_parent: bool,
    pub resources: ResourceFlags,
    /// The infra container's network settings (`--network`, `-p`, `--dns`, ...).
    pub network: CreateOptions,
    pub create_command: Vec<String>,
}

impl LocalEngine {
    pub(crate) fn pod_row(&self, id: &str) -> Result<Option<PodRecord>> {
        let db = self.db();
        let row: Option<(String, String, String)> = db
            .conn()
            .prepare_cached("SELECT id, name, config FROM pods WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(id, name, c)| {
            let config =
                serde_json::from_str(&c).map_err(|e| Error::Other(format!("pod {id}: {e}")))?;
            Ok(PodRecord { id, name, config })
        })
        .transpose()
    }

    /// All pods, newest first.
    pub fn pods(&self) -> Result<Vec<PodRecord>> {
        let ids: Vec<String> = {
            let db = self.db();
            let mut st = db
                .conn()
                .prepare_cached("SELECT id FROM pods ORDER BY created DESC, id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        Ok(ids
            .iter()
            .filter_map(|id| self.pod_row(id).ok().flatten())
            .collect())
    }

    /// A pod by name, full ID or unique ID prefix.
    pub fn pod(&self, key: &str) -> Result<PodRecord> {
        let exact: Option<String> = self
            .db()
            .conn()
            .prepare_cached("SELECT id FROM pods WHERE id = ?1 OR name = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if let Some(p) = exact.and_then(|id| self.pod_row(&id).transpose()) {
            return p;
        }
        let ids: Vec<String> = {
            let db = self.db();
            let mut st = db
                .conn()
                .prepare_cached("SELECT id FROM pods WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
            let rows = st.query_map(rusqlite::params![key, format!("{key}g")], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::NoSuchPod(key.to_string()));
        }
        match ids.as_slice() {
            [one] => self
                .pod_row(one)?
                .ok_or_else(|| Error::NoSuchPod(key.to_string())),
            [] => Err(Error::NoSuchPod(key.to_string())),
            _ => Err(Error::InvalidArg(format!(
                "more than one result for pod name or ID {key:?}"
            ))),
        }
    }

    /// The pod's containers, the infra container first.
    pub(crate) fn pod_containers(&self, pod: &PodRecord) -> Result<Vec<ContainerRecord>> {
        let mut v: Vec<ContainerRecord> = self
            .db()
            .containers()?
            .into_iter()
            .filter(|c| c.config.pod == pod.id)
            .collect();
        v.sort_by_key(|c| (c.id != pod.config.infra_id, c.created));
        Ok(v)
    }

    /// A pod's lock: taken by the pod commands and by containers joining the pod, before
    /// any container's lock (never after one).
    pub(crate) fn pod_lock(&self, pod_id: &str) -> Result<crate::lock::Lock> {
        self.lock(&format!("pod-{pod_id}"))
    }

    /// The pod's cgroup (cgroupfs path).
    pub(crate) fn pod_cgroup(&self, pod_id: &str) -> String {
        format!("/berth/pod-{pod_id}")
    }

    /// The local pause image: catatonit from the host as `/catatonit -P`.
    fn ensure_pause_image(&self) -> Result<()> {
        if self.lookup_image(PAUSE_IMAGE).is_ok() {
            return Ok(());
        }
        let bin = CATATONIT
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::Other(
                    "an infra container needs catatonit (the catatonit package) for its pause process".into(),
                )
            })?;
        let dir = self.tmpdir("pause")?;
        let result = (|| -> Result<()> {
            let tar_path = dir.join("pause.tar");
            let f = std::fs::File::create(&tar_path).ctx(|| "creating the pause image".into())?;
            let mut b = tar::Builder::new(f);
            b.append_path_with_name(bin, "catatonit")
                .ctx(|| "creating the pause image".into())?;
            b.into_inner().ctx(|| "creating the pause image".into())?;
            self.import(
                &tar_path,
                Some(PAUSE_IMAGE),
                &[
                    "ENTRYPOINT [\"/catatonit\", \"-P\"]".to_string(),
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                        .to_string(),
                ],
                None,
            )
            .map(|_| ())
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// `pod create`: returns the pod's ID.
    pub fn pod_create(&self, o: &PodCreateOptions) -> Result<String> {
        let id = crate::ids::new_id();
        let name = match &o.name {
            Some(n) => {
                if !crate::ids::valid_name(n) {
                    return Err(Error::InvalidArg(format!(
                        "pod name {n:?} is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
                    )));
                }
                n.clone()
            }
            None => crate::ids::random_name(),
        };
        let share: Vec<String> = match &o.share {
            Some(s) if s.is_empty() || s == "none" => Vec::new(),
            Some(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
            None => vec!["ipc".into(), "net".into(), "uts".into()],
        };
        for s in &share {
            if !matches!(s.as_str(), "net" | "ipc" | "uts" | "pid" | "cgroup") {
                return Err(Error::InvalidArg(format!(
                    "invalid kernel namespace to share: {s}: use net, ipc, uts, pid or cgroup"
                )));
            }
        }
        if !o.infra && crate::userns::asks_for_userns(&o.network) {
            return Err(Error::InvalidArg(
                "a pod without an infra container cannot have a user namespace: its containers share the infra container's".into(),
            ));
        }
        if !o.infra && !share.is_empty() && o.share.is_some() {
            return Err(Error::InvalidArg(
                "you must have an infra container to share namespaces".into(),
            ));
        }
        let exit_policy = o.exit_policy.clone().unwrap_or_else(|| "continue".into());
        if !matches!(exit_policy.as_str(), "continue" | "stop") {
            return Err(Error::InvalidArg(format!(
                "invalid pod exit policy {exit_policy:?}: use continue or stop"
            )));
        }
        let resources = Resources::default().with_flags(&o.resources)?;
        let mut config = PodConfig {
            hostname: o.hostname.clone().unwrap_or_else(|| name.clone()),
            labels: o.labels.clone(),
            share: if o.infra { share } else { Vec::new() },
            exit_policy,
            resources,
            share_parent: o.share_parent,
            create_command: o.create_command.clone(),
            created_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            ..Default::default()
        };
        if o.infra && o.infra_image.is_none() {
            self.ensure_pause_image()?;
        }
        let created = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let cjson = serde_json::to_string(&config).map_err(|e| Error::Other(e.to_string()))?;
        self.db().write(|tx| {
            let taken: bool = tx
                .query_row("SELECT 1 FROM pods WHERE name = ?1", [&name], |_| Ok(()))
                .is_ok();
            if taken {
                return Err(Error::InvalidArg(format!(
                    "{name}: the pod name {name:?} is already in use: pod already exists"
                )));
            }
            tx.execute(
                "INSERT INTO pods(id, name, created, config) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![id, name, created, cjson],
            )?;
            Ok(())
        })?;
        if o.infra {
            let mut c = o.network.clone();
            c.image = o
                .infra_image
                .clone()
                .unwrap_or_else(|| PAUSE_IMAGE.to_string());
            c.name = Some(
                o.infra_name
                    .clone()
                    .unwrap_or_else(|| format!("{}-infra", &id[..12])),
            );
            if let Some(cmd) = &o.infra_command {
                c.entrypoint = Some(cmd.clone());
            }
            c.hostname = Some(config.hostname.clone());
            c.pod = Some(id.clone());
            c.infra = true;
            c.create_command = o.create_command.clone();
            match self.container_create(&c) {
                Ok(infra) => {
                    config.infra_id = infra;
                    self.save_pod(&id, &config)?;
                }
                Err(e) => {
                    let _ = self.db().write(|tx| {
                        tx.execute("DELETE FROM pods WHERE id = ?1", [&id])?;
                        Ok(())
                    });
                    return Err(e);
                }
            }
        }
        Ok(id)
    }

    fn save_pod(&self, id: &str, c: &PodConfig) -> Result<()> {
        let j = serde_json::to_string(c).map_err(|e| Error::Other(e.to_string()))?;
        self.db().write(|tx| {
            tx.execute(
                "UPDATE pods SET config = ?2 WHERE id = ?1",
                rusqlite::params![id, j],
            )?;
            Ok(())
        })
    }

    /// The pod's cgroup, with its limits (made before its containers' cgroups, which
    /// the runtime makes beneath it).
    pub(crate) fn ensure_pod_cgroup(&self, pod_id: &str) -> Result<()> {
        let pod = self.pod(pod_id)?;
        let rel = self.pod_cgroup(&pod.id);
        let r = &pod.config.resources;
        let oci = r.oci();
        match berth_oci::runtime::CgroupMode::detect() {
            berth_oci::runtime::CgroupMode::V2 => {
                make_v2_cgroup(Path::new("/sys/fs/cgroup"), &rel, &oci)?;
            }
            _ => {
                for ctrl in [
                    "memory",
                    "cpu,cpuacct",
                    "cpu",
                    "pids",
                    "cpuset",
                    "blkio",
                    "devices",
                    "freezer",
                ] {
                    let base = Path::new("/sys/fs/cgroup").join(ctrl);
                    if !base.is_dir()
                        || std::fs::symlink_metadata(&base)
                            .is_ok_and(|m| m.file_type().is_symlink())
                    {
                        continue;
                    }
                    let dir = base.join(rel.trim_start_matches('/'));
                    std::fs::create_dir_all(&dir)
                        .ctx(|| format!("creating cgroup {}", dir.display()))?;
                    if ctrl == "cpuset" {
                        // A new v1 cpuset is empty: it takes its parents' before use.
                        for f in ["cpuset.cpus", "cpuset.mems"] {
                            let mut cur = dir.clone();
                            let mut chain = Vec::new();
                            while cur != base {
                                chain.push(cur.clone());
                                if !cur.pop() {
                                    break;
                                }
                            }
                            for d in chain.iter().rev() {
                                let have = std::fs::read_to_string(d.join(f)).unwrap_or_default();
                                if have.trim().is_empty() {
                                    if let Some(parent) = d.parent() {
                                        let v = std::fs::read_to_string(parent.join(f))
                                            .unwrap_or_default();
                                        let _ = std::fs::write(d.join(f), v.trim());
                                    }
                                }
                            }
                        }
                        if let Some(c) = oci.get("cpu").and_then(|c| c["cpus"].as_str()) {
                            write_cg(&dir.join("cpuset.cpus"), c)?;
                        }
                    }
                    if ctrl == "memory" {
                        if let Some(m) = oci.get("memory").and_then(|m| m["limit"].as_i64()) {
                            write_cg(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                        }
                    }
                    if ctrl.starts_with("cpu") && ctrl != "cpuset" {
                        if let Some(cpu) = oci.get("cpu") {
                            if let Some(p) = cpu["period"].as_u64() {
                                write_cg(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
                            }
                            if let Some(q) = cpu["quota"].as_i64() {
                                write_cg(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
                            }
                        }
                    }
                    if ctrl == "pids" {
                        if let Some(p) = oci.get("pids").and_then(|p| p["limit"].as_i64()) {
                            write_cg(&dir.join("pids.max"), &p.to_string())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes the pod's (empty) cgroups. Errors are ignored: cleanup.
    fn remove_pod_cgroup(&self, pod_id: &str) {
        crate::resources::remove_cgroup_dirs(&self.pod_cgroup(pod_id));
    }

    /// Starts the infra container of `pod` when it does not run (before a member starts).
    pub(crate) fn ensure_infra_running(&self, pod_id: &str) -> Result<ContainerRecord> {
        let pod = self.pod(pod_id)?;
        let infra = self.record(&pod.config.infra_id)?;
        let st = self.live_state(&infra).0;
        if !matches!(st.as_str(), state::RUNNING | state::PAUSED) {
            self.container_start(&infra.id, false)?;
        }
        self.record(&infra.id)
    }

    /// `pod start`: the infra container, then the others in the order they were made.
    pub fn pod_start(&self, key: &str) -> Result<String> {
        let pod = self.pod(key)?;
        let _l = self.pod_lock(&pod.id)?;
        let mut errors = Vec::new();
        for c in self.pod_containers(&pod)? {
            let st = self.live_state(&c).0;
            if matches!(st.as_str(), state::RUNNING | state::PAUSED) {
                continue;
            }
            if let Err(e) = self.container_start(&c.id, false) {
                errors.push(format!("starting container {}: {e}", c.id));
            }
        }
        pod_errors(&pod.id, errors)
    }

    /// `pod stop`: the containers, then the infra container.
    pub fn pod_stop(&self, key: &str, timeout: Option<u32>) -> Result<String> {
        let pod = self.pod(key)?;
        let _l = self.pod_lock(&pod.id)?;
        let mut errors = Vec::new();
        for c in self.pod_containers(&pod)?.iter().rev() {
            if let Err(e) = self.container_stop(&c.id, timeout) {
                if !matches!(e, Error::NoSuchContainer(_)) {
                    errors.push(format!("stopping container {}: {e}", c.id));
                }
            }
        }
        pod_errors(&pod.id, errors)
    }

    /// `pod kill`: a signal to every running container of the pod.
    pub fn pod_kill(&self, key: &str, signal: i32) -> Result<String> {
        let pod = self.pod(key)?;
        let _l = self.pod_lock(&pod.id)?;
        let mut errors = Vec::new();
        let mut any = false;
        for c in self.pod_containers(&pod)? {
            if matches!(
                self.live_state(&c).0.as_str(),
                state::RUNNING | state::PAUSED
            ) {
                any = true;
                if let Err(e) = self.container_kill(&c.id, signal) {
                    errors.push(format!("killing container {}: {e}", c.id));
                }
            }
        }
        if !any {
            return Err(Error::InvalidArg(format!(
                "no containers in pod {} are running: pod state improper",
                pod.id
            )));
        }
        pod_errors(&pod.id, errors)
    }

    /// `pod pause` / `pod unpause`.
    pub fn pod_pause(&self, key: &str, pause: bool) -> Result<String> {
        let pod = self.pod(key)?;
        let _l = self.pod_lock(&pod.id)?;
        let mut errors = Vec::new();
        for c in self.pod_containers(&pod)? {
            let st = self.live_state(&c).0;
            let wanted = if pause { state::RUNNING } else { state::PAUSED };
            if st == wanted {
                if let Err(e) = self.container_pause(&c.id, pause) {
                    errors.push(format!("container {}: {e}", c.id));
                }
            }
        }
        pod_errors(&pod.id, errors)
    }

    /// `pod rm`: a pod with running containers only with `force` (they are stopped).
    pub fn pod_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String> {
        let pod = self.pod(key)?;
        let l = self.pod_lock(&pod.id)?;
        let ctrs = self.pod_containers(&pod)?;
        if !force {
            if let Some(c) = ctrs.iter().find(|c| {
                matches!(
                    self.live_state(c).0.as_str(),
                    state::RUNNING | state::PAUSED
                )
            }) {
                return Err(Error::InvalidArg(format!(
                    "pod {} has containers that are not ready to be removed: cannot remove container {} as it is running - running or paused containers cannot be removed without force: container state improper",
                    pod.id, c.id
                )));
            }
        }
        // The infra container goes last: the others may share its namespaces.
        for c in ctrs.iter().rev() {
            match self.container_rm(&c.id, true, timeout, true) {
                Ok(()) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.db().write(|tx| {
            tx.execute("DELETE FROM pods WHERE id = ?1", [&pod.id])?;
            Ok(())
        })?;
        self.remove_pod_cgroup(&pod.id);
        // A container waiting to join finds the pod gone once it has the lock.
        l.remove_file();
        Ok(pod.id)
    }

    /// `pod prune`: removes the pods none of whose containers run.
    pub fn pod_prune(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in self.pods()? {
            let running = self.pod_containers(&p)?.iter().any(|c| {
                matches!(
                    self.live_state(c).0.as_str(),
                    state::RUNNING | state::PAUSED
                )
            });
            if !running {
                out.push(self.pod_remove(&p.id, false, 10)?);
            }
        }
        Ok(out)
    }

    /// `pod exists`.
    pub fn pod_exists(&self, key: &str) -> Result<bool> {
        match self.pod(key) {
            Ok(_) => Ok(true),
            Err(Error::NoSuchPod(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The pod's status as Podman names it, from its containers' states.
    fn pod_status(&self, ctrs: &[ContainerRecord]) -> &'static str {
        let states: Vec<String> = ctrs.iter().map(|c| self.live_state(c).0).collect();
        let count = |s: &str| states.iter().filter(|x| *x == s).count();
        let (running, paused) = (count(state::RUNNING), count(state::PAUSED));
        let created = states
            .iter()
            .filter(|s| matches!(s.as_str(), state::CREATED | state::CONFIGURED))
            .count();
        let n = states.len();
        if n == 0 {
            "Created"
        } else if running == n {
            "Running"
        } else if paused == n {
            "Paused"
        } else if created == n {
            "Created"
        } else if running + paused == 0 {
            if created > 0 {
                "Created"
            } else {
                "Exited"
            }
        } else {
            "Degraded"
        }
    }

    /// `pod inspect` (Podman's layout, the fields berth has).
    pub fn pod_inspect(&self, key: &str) -> Result<Value> {
        let pod = self.pod(key)?;
        let ctrs = self.pod_containers(&pod)?;
        let infra = ctrs.iter().find(|c| c.id == pod.config.infra_id);
        let created = chrono::DateTime::parse_from_rfc3339(&pod.config.created_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default();
        let mut v = json!({
            "Id": pod.id,
            "Name": pod.name,
            "Created": created,
            "CreateCommand": pod.config.create_command,
            "ExitPolicy": pod.config.exit_policy,
            "State": self.pod_status(&ctrs),
            "Hostname": pod.config.hostname,
            "Labels": pod.config.labels,
            "CreateCgroup": true,
            "CgroupParent": "/berth",
            "CgroupPath": self.pod_cgroup(&pod.id),
            "CreateInfra": !pod.config.infra_id.is_empty(),
            "InfraContainerID": pod.config.infra_id,
            "SharedNamespaces": pod.config.share,
            "NumContainers": ctrs.len(),
            "Containers": ctrs.iter().map(|c| json!({
                "Id": c.id, "Name": c.name,
                "State": crate::containers::display_state(&self.live_state(c).0),
            })).collect::<Vec<_>>(),
        });
        if let Some(i) = infra {
            v["InfraConfig"] = json!({
                "PortBindings": self.container_inspect(&i.id).ok().map(|x| x["HostConfig"]["PortBindings"].clone()).unwrap_or(json!({})),
                "HostNetwork": i.config.network == "host",
                "Networks": i.config.networks.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
                "DNSServer": i.config.dns_servers,
                "HostAdd": i.config.add_hosts,
            });
        }
        let limits = pod.config.resources.host_config();
        if let Some(m) = limits.get("Memory").filter(|m| m.as_i64().unwrap_or(0) > 0) {
            v["MemoryLimit"] = m.clone();
        }
        if let Some(c) = limits
            .get("CpuQuota")
            .filter(|c| c.as_i64().unwrap_or(0) > 0)
        {
            v["CPUQuota"] = c.clone();
            v["CPUPeriod"] = limits["CpuPeriod"].clone();
        }
        if !pod.config.resources.cpuset_cpus.is_empty() {
            v["CPUSetCPUs"] = json!(pod.config.resources.cpuset_cpus);
        }
        Ok(v)
    }

    /// `pod ps` rows.
    pub fn pod_list(&self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for p in self.pods()? {
            let ctrs = self.pod_containers(&p)?;
            let created = chrono::DateTime::parse_from_rfc3339(&p.config.created_at)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            out.push(json!({
                "Cgroup": self.pod_cgroup(&p.id),
                "Containers": ctrs.iter().map(|c| json!({
                    "Id": c.id, "Names": c.name,
                    "Status": crate::containers::display_state(&self.live_state(c).0),
                })).collect::<Vec<_>>(),
                "Created": p.config.created_at,
                "CreatedUnix": created,
                "Id": p.id,
                "InfraId": p.config.infra_id,
                "Name": p.name,
                "Namespace": "",
                "Networks": ctrs.iter().find(|c| c.id == p.config.infra_id)
                    .map(|c| c.config.networks.iter().map(|n| n.name.clone()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                "Status": self.pod_status(&ctrs),
                "Labels": p.config.labels,
            }));
        }
        Ok(out)
    }

    /// After a pod member exits: with exit policy "stop", the pod stops once none of its
    /// other (non-infra) containers runs.
    pub(crate) fn pod_member_exited(&self, rec: &ContainerRecord) {
        if rec.config.pod.is_empty() || rec.config.infra {
            return;
        }
        let Ok(pod) = self.pod(&rec.config.pod) else {
            return;
        };
        if pod.config.exit_policy != "stop" || pod.config.infra_id.is_empty() {
            return;
        }
        let others_run = self.pod_containers(&pod).is_ok_and(|cs| {
            cs.iter().any(|c| {
                c.id != rec.id
                    && !c.config.infra
                    && matches!(
                        self.live_state(c).0.as_str(),
                        state::RUNNING | state::PAUSED
                    )
            })
        });
        if !others_run {
            let _ = self.container_stop(&pod.config.infra_id, Some(0));
        }
    }
}

impl Default for PodCreateOptions {
    fn default() -> Self {
        PodCreateOptions {
            name: None,
            infra: false,
            infra_image: None,
            infra_command: None,
            infra_name: None,
            share: None,
            hostname: None,
            labels: BTreeMap::new(),
            exit_policy: None,
            share_parent: true,
            resources: ResourceFlags::default(),
            network: CreateOptions::default(),
            create_command: Vec::new(),
        }
    }
}

impl LocalEngine {
    /// `pod clone`: a new pod with the settings of `key` and a new infra container like
    /// its own (its containers are not cloned, as in Podman).
    pub fn pod_clone(&self, key: &str, name: Option<&str>) -> Result<String> {
        let pod = self.pod(key)?;
        let c = &pod.config;
        let infra = if c.infra_id.is_empty() {
            None
        } else {
            Some(self.record(&c.infra_id)?)
        };
        let network = match &infra {
            Some(i) => CreateOptions {
                networks: i
                    .config
                    .networks
                    .iter()
                    .map(|n| n.name.clone())
                    .collect::<Vec<_>>()
                    .into_iter()
                    .chain((i.config.network != "bridge").then(|| i.config.network.clone()))
                    .collect(),
                dns_servers: i.config.dns_servers.clone(),
                dns_search: i.config.dns_search.clone(),
                dns_options: i.config.dns_options.clone(),
                add_hosts: i.config.add_hosts.clone(),
                // A new range for `auto`; the same mappings otherwise.
                userns: (i.config.userns == "auto").then(|| "auto".to_string()),
                uid_map: match (&i.config.id_mappings, i.config.userns.as_str()) {
                    (Some(m), "private") => m.uids.iter().map(|r| r.to_string()).collect(),
                    _ => Vec::new(),
                },
                gid_map: match (&i.config.id_mappings, i.config.userns.as_str()) {
                    (Some(m), "private") => m.gids.iter().map(|r| r.to_string()).collect(),
                    _ => Vec::new(),
                },
                // Published ports stay with the original (they are its host ports).
                ..Default::default()
            },
            None => CreateOptions::default(),
        };
        let r = &c.resources;
        let resources = ResourceFlags {
            memory: r.memory.map(|m| m.to_string()),
            cpus: r.nano_cpus.map(|n| format!("{}", n as f64 / 1e9)),
            cpuset_cpus: (!r.cpuset_cpus.is_empty()).then(|| r.cpuset_cpus.clone()),
            ..Default::default()
        };
        self.pod_create(&PodCreateOptions {
            name: Some(
                name.map(str::to_string)
                    .unwrap_or_else(|| format!("{}-clone", pod.name)),
            ),
            infra: infra.is_some(),
            infra_image: infra
                .as_ref()
                .map(|i| i.config.image_name.clone())
                .filter(|n| n != PAUSE_IMAGE),
            share: Some(c.share.join(",")),
            hostname: None,
            labels: c.labels.clone(),
            exit_policy: Some(c.exit_policy.clone()),
            share_parent: c.share_parent,
            resources,
            network,
            create_command: c.create_command.clone(),
            ..Default::default()
        })
    }
}

/// The controllers a pod's v2 cgroup delegates to its containers.
const V2_CONTROLLERS: &[&str] = &["cpuset", "cpu", "io", "memory", "pids"];

/// Makes the v2 cgroup `rel` under `base` with the limits of `oci` (OCI
/// `linux.resources`): each level enables, one by one, the controllers its parent has
/// (one unavailable controller must not keep the others off).
fn make_v2_cgroup(base: &Path, rel: &str, oci: &serde_json::Map<String, Value>) -> Result<()> {
    let enable = |dir: &Path| {
        let have = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        for c in V2_CONTROLLERS
            .iter()
            .filter(|c| have.split_whitespace().any(|h| h == **c))
        {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
        }
    };
    let mut dir = base.to_path_buf();
    for part in rel.trim_start_matches('/').split('/') {
        enable(&dir);
        dir = dir.join(part);
        std::fs::create_dir_all(&dir).ctx(|| format!("creating cgroup {}", dir.display()))?;
    }
    enable(&dir);
    if let Some(m) = oci.get("memory").and_then(|m| m["limit"].as_i64()) {
        write_cg(&dir.join("memory.max"), &m.to_string())?;
    }
    if let Some(cpu) = oci.get("cpu") {
        if let (Some(q), Some(p)) = (cpu["quota"].as_i64(), cpu["period"].as_u64()) {
            write_cg(&dir.join("cpu.max"), &format!("{q} {p}"))?;
        }
        if let Some(c) = cpu["cpus"].as_str() {
            write_cg(&dir.join("cpuset.cpus"), c)?;
        }
    }
    if let Some(p) = oci.get("pids").and_then(|p| p["limit"].as_i64()) {
        write_cg(&dir.join("pids.max"), &p.to_string())?;
    }
    Ok(())
}

fn write_cg(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).ctx(|| format!("setting {} to {value}", path.display()))
}

fn pod_errors(id: &str, errors: Vec<String>) -> Result<String> {
    if errors.is_empty() {
        Ok(id.to_string())
    } else {
        Err(Error::Other(errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod's v2 cgroup in a directory laid out like cgroupfs: each level enables the
    /// controllers its parent has, the limits land in the v2 files.
    #[test]
    fn v2_pod_cgroup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        let r = Resources::default()
            .with_flags(&ResourceFlags {
                memory: Some("32m".into()),
                cpus: Some("0.5".into()),
                ..Default::default()
            })
            .unwrap();
        make_v2_cgroup(d.path(), "/berth/pod-x", &r.oci()).unwrap();
        let dir = d.path().join("berth/pod-x");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "33554432");
        assert_eq!(read("cpu.max"), "50000 100000");
        // The root's controllers were enabled one by one (the last one written stays
        // in this plain file); cpuset, which the root lacks, was not asked for.
        let root = std::fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(root, "+pids");
    }
}
