//! Driving an OCI runtime (runc, crun) through its command line, as Podman does.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("OCI runtime {0:?} not found: install it or name another with --runtime")]
    NotFound(String),
    #[error("OCI runtime {name:?} cannot run containers on this host: {why}")]
    Unsupported { name: String, why: String },
    #[error("OCI runtime {runtime} failed to {op} container {id}: {msg}")]
    Failed {
        runtime: String,
        op: &'static str,
        id: String,
        msg: String,
    },
    #[error("running OCI runtime {0}: {1}")]
    Io(String, #[source] std::io::Error),
}

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v2 only (unified).
    V2,
    /// cgroup v1 controllers, possibly with an extra v2 hierarchy (hybrid).
    V1 { hybrid: bool },
}

impl CgroupMode {
    pub fn detect() -> CgroupMode {
        const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
        let magic = |p: &str| nix::sys::statfs::statfs(p).map(|s| s.filesystem_type().0);
        if magic("/sys/fs/cgroup").ok() == Some(CGROUP2_SUPER_MAGIC) {
            return CgroupMode::V2;
        }
        let hybrid = magic("/sys/fs/cgroup/unified").ok() == Some(CGROUP2_SUPER_MAGIC);
        CgroupMode::V1 { hybrid }
    }

    /// "v1" or "v2", as `podman info` reports cgroupVersion.
    pub fn version(self) -> &'static str {
        match self {
            CgroupMode::V2 => "v2",
            CgroupMode::V1 { .. } => "v1",
        }
    }
}

/// An OCI runtime binary and the state directory berth gives it.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub name: String,
    pub path: PathBuf,
    pub root: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct RuntimeState {
    pub status: String,
    #[serde(default)]
    pub pid: i32,
}

const SEARCH_DIRS: &[&str] = &[
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/usr/libexec/podman",
];

fn lookup(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    SEARCH_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

impl Runtime {
    /// Picks the runtime as Podman does: the one named (a name or a path), else crun when
    /// it can work on this host, else runc. `root` is the runtime's state directory.
    pub fn select(requested: Option<&str>, root: &Path) -> Result<Runtime, RuntimeError> {
        let cgroups = CgroupMode::detect();
        let crun_ok = !matches!(cgroups, CgroupMode::V1 { hybrid: true });
        let (name, path) = match requested {
            Some(r) => {
                let path = lookup(r).ok_or_else(|| RuntimeError::NotFound(r.to_string()))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| r.to_string());
                if name == "crun" && !crun_ok {
                    return Err(RuntimeError::Unsupported {
                        name,
                        why: "crun refuses hybrid cgroups (v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified); use --runtime runc".into(),
                    });
                }
                (name, path)
            }
            None => {
                let crun = lookup("crun").filter(|_| crun_ok);
                match crun {
                    Some(p) => ("crun".to_string(), p),
                    None => (
                        "runc".to_string(),
                        lookup("runc").ok_or_else(|| RuntimeError::NotFound("runc".into()))?,
                    ),
                }
            }
        };
        Ok(Runtime {
            root: root.join(&name),
            name,
            path,
        })
    }

    /// A command for this runtime with its global flags set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.root);
        c
    }

    fn run(&self, op: &'static str, id: &str, args: &[&str]) -> Result<(), RuntimeError> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| RuntimeError::Io(self.name.clone(), e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(RuntimeError::Failed {
            runtime: self.name.clone(),
            op,
            id: id.to_string(),
            msg: clean_message(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    /// `runtime update --resources -`: applies new `linux.resources` to a live container.
    pub fn update(&self, id: &str, resources: &serde_json::Value) -> Result<(), RuntimeError> {
        use std::io::Write;
        let mut child = self
            .command()
            .args(["update", "--resources", "-", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RuntimeError::Io(self.name.clone(), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(resources.to_string().as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| RuntimeError::Io(self.name.clone(), e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(RuntimeError::Failed {
            runtime: self.name.clone(),
            op: "update",
            id: id.to_string(),
            msg: clean_message(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, &["start", id])
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        if all {
            self.run("kill", id, &["kill", "--all", id, &sig])
        } else {
            self.run("kill", id, &["kill", id, &sig])
        }
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if force {
            self.run("delete", id, &["delete", "--force", id])
        } else {
            self.run("delete", id, &["delete", id])
        }
    }

    /// Forgets a container whose processes are all gone, without running the runtime:
    /// for runc that is its state directory and the (empty) cgroups it lists, which is
    /// all `runc delete` does then, at a fraction of the cost of starting runc. Returns
    /// false, having changed nothing, when that is not known to be safe (another runtime,
    /// an init process still alive, a cgroup still in use): then use [`Runtime::delete`].
    pub fn remove_stopped(&self, id: &str) -> bool {
        if self.name != "runc" || id.contains('/') {
            return false;
        }
        let dir = self.root.join(id);
        let Ok(bytes) = std::fs::read(dir.join("state.json")) else {
            return false;
        };
        #[derive(Deserialize)]
        struct RuncState {
            init_process_pid: i32,
            init_process_start: u64,
            #[serde(default)]
            cgroup_paths: std::collections::BTreeMap<String, PathBuf>,
        }
        let Ok(st) = serde_json::from_slice::<RuncState>(&bytes) else {
            return false;
        };
        if process_start_time(st.init_process_pid) == Some(st.init_process_start) {
            return false;
        }
        for path in st.cgroup_paths.values() {
            match std::fs::remove_dir(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => return false,
            }
        }
        std::fs::remove_dir_all(&dir).is_ok()
    }

    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("pause", id, &["pause", id])
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("resume", id, &["resume", id])
    }

    /// The runtime's view of a container, or None when it does not know it.
    pub fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError> {
        let out = self
            .command()
            .args(["state", id])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| RuntimeError::Io(self.name.clone(), e))?;
        if !out.status.success() {
            return Ok(None);
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| RuntimeError::Failed {
                runtime: self.name.clone(),
                op: "read the state of",
                id: id.to_string(),
                msg: e.to_string(),
            })
    }

    /// `runc --version`'s first line.
    pub fn version(&self) -> String {
        Command::new(&self.path)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }
}

/// The start time (field 22 of /proc/PID/stat) of a live process, which tells a reused
/// pid from the process runc recorded.
fn process_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    // State is field 3; after the comm field, field 22 is the 20th.
    let fields: Vec<&str> = after.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Turns runc's `time="..." level=error msg="..."` lines into the message alone.
pub fn clean_message(stderr: &str) -> String {
    let mut msgs = Vec::new();
    for line in stderr.lines() {
        if let Some(i) = line.find("msg=") {
            let m = line[i + 4..].trim();
            let m = m.strip_prefix('"').unwrap_or(m);
            let m = m.strip_suffix('"').unwrap_or(m);
            msgs.push(m.replace("\\\"", "\""));
        } else if !line.trim().is_empty() {
            msgs.push(line.trim().to_string());
        }
    }
    msgs.last()
        .cloned()
        .unwrap_or_else(|| "unknown error".into())
}

/// The last error message in a runtime's JSON log (`--log-format json`).
pub fn last_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["level"] == "error" || v["level"] == "fatal")
            .then(|| v["msg"].as_str().unwrap_or_default().to_string())
    })
}
