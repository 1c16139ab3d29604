//! Generation of the OCI runtime spec (`config.json`) with Podman's secure defaults.

use serde_json::{json, Value};
use std::path::PathBuf;

/// Podman's default capability set (containers.conf `default_capabilities`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability the kernel headers of runc 1.1 know, for `--privileged` and `--cap-add ALL`.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The network namespace a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetMode {
    /// A new network namespace with only loopback (`--network none`).
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace that exists already (a bridge network's, another
    /// container's, or `ns:PATH`).
    Path(PathBuf),
}

/// A bind mount of a host file or directory.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

/// A container's user namespace.
#[derive(Debug, Clone, Default)]
pub struct UserNamespace {
    /// An existing namespace to join (None: a new one with the mappings).
    pub path: Option<PathBuf>,
    /// (container ID, host ID, size).
    pub uid_mappings: Vec<(u32, u32, u32)>,
    pub gid_mappings: Vec<(u32, u32, u32)>,
}

/// Everything the spec generator needs to know about one container.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    pub hostname: String,
    /// Effective capability names (`CAP_...`).
    pub caps: Vec<String>,
    pub privileged: bool,
    /// (type like `RLIMIT_NOFILE`, soft, hard)
    pub rlimits: Vec<(String, u64, u64)>,
    pub network: NetMode,
    pub cgroups_path: String,
    /// `linux.resources` fields beside the device rules (memory, cpu, pids, blockIO).
    pub resources: serde_json::Map<String, Value>,
    pub oom_score_adj: i32,
    /// Namespaces joined rather than made (a pod's: "ipc", "uts", "pid", "cgroup"),
    /// with the path to join.
    pub join_namespaces: Vec<(String, PathBuf)>,
    /// Namespaces shared with the host (`--pid host`, `--cgroupns host`, ...): none made.
    pub host_namespaces: Vec<String>,
    /// The container's own user namespace (None: the host's).
    pub userns: Option<UserNamespace>,
    pub binds: Vec<BindMount>,
    /// Path of an init binary (catatonit) to run as PID 1 (`--init`).
    pub init: Option<PathBuf>,
    pub annotations: Vec<(String, String)>,
    /// OCI seccomp section; None = unconfined.
    pub seccomp: Option<Value>,
    /// Host devices to add (for `--privileged`).
    pub devices: Vec<Value>,
    /// With a read-only root: writable tmpfs on /tmp, /var/tmp and /run (Podman's
    /// `--read-only-tmpfs`, on by default).
    pub read_only_tmpfs: bool,
    /// The user's mounts (`-v`, `--tmpfs`), OCI mount objects, mounted last so that they
    /// shadow the defaults.
    pub user_mounts: Vec<Value>,
}

/// Where `--init` puts the init binary inside the container (as Podman does).
pub const INIT_PATH: &str = "/run/podman-init";

/// Builds the OCI runtime spec for `input`.
pub fn generate(input: &SpecInput) -> Value {
    let mut args = input.args.clone();
    let mut mounts = default_mounts(input);
    if let Some(init) = &input.init {
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
        mounts.push(bind_json(&BindMount {
            source: init.clone(),
            destination: INIT_PATH.into(),
            readonly: true,
        }));
    }
    if input.readonly_rootfs && input.read_only_tmpfs {
        for dest in ["/tmp", "/var/tmp", "/run"] {
            mounts.push(
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}),
            );
        }
    }
    for b in &input.binds {
        mounts.push(bind_json(b));
    }
    mounts.extend(input.user_mounts.iter().cloned());
    // A capability the caller does not hold cannot be granted: leave it out, as Podman does.
    let caps = &available_caps(&input.caps);
    let rlimits: Vec<Value> = input
        .rlimits
        .iter()
        .map(|(t, soft, hard)| json!({"type": t, "soft": soft, "hard": hard}))
        .collect();
    let mut namespaces: Vec<Value> = ["pid", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .filter(|t| !input.host_namespaces.iter().any(|h| h == *t))
        .map(
            |t| match input.join_namespaces.iter().find(|(j, _)| j == t) {
                Some((_, path)) => json!({"type": t, "path": path}),
                None => json!({"type": t}),
            },
        )
        .collect();
    if let Some(u) = &input.userns {
        namespaces.insert(
            0,
            match &u.path {
                Some(p) => json!({"type": "user", "path": p}),
                None => json!({"type": "user"}),
            },
        );
    }
    match &input.network {
        NetMode::None => namespaces.push(json!({"type": "network"})),
        NetMode::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
        NetMode::Host => {}
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": input.cgroups_path,
        "resources": {
            "devices": if input.privileged {
                json!([{"allow": true, "access": "rwm"}])
            } else {
                default_device_rules()
            },
        },
    });
    for (k, v) in &input.resources {
        linux["resources"][k] = v.clone();
    }
    // No cgroup (crun's `--cgroup-manager=disabled`): no path, no limits.
    if input.cgroups_path.is_empty() {
        if let Some(l) = linux.as_object_mut() {
            l.remove("cgroupsPath");
            l.remove("resources");
        }
    }
    if let Some(u) = &input.userns {
        let maps = |m: &[(u32, u32, u32)]| -> Value {
            m.iter()
                .map(|(c, h, n)| json!({"containerID": c, "hostID": h, "size": n}))
                .collect()
        };
        linux["uidMappings"] = maps(&u.uid_mappings);
        linux["gidMappings"] = maps(&u.gid_mappings);
    }
    if !input.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(s) = &input.seccomp {
        linux["seccomp"] = s.clone();
    }
    if !input.devices.is_empty() {
        linux["devices"] = json!(input.devices);
    }
    let annotations: serde_json::Map<String, Value> = input
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut user = json!({"uid": input.uid, "gid": input.gid});
    if !input.additional_gids.is_empty() {
        user["additionalGids"] = json!(input.additional_gids);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": input.terminal,
            "user": user,
            "args": args,
            "env": input.env,
            "cwd": if input.cwd.is_empty() { "/" } else { &input.cwd },
            "capabilities": {
                "bounding": caps, "effective": caps, "inheritable": [],
                "permitted": caps,
            },
            "rlimits": rlimits,
            "noNewPrivileges": false,
            "oomScoreAdj": input.oom_score_adj,
        },
        "root": {"path": input.rootfs, "readonly": input.readonly_rootfs},
        "hostname": input.hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": linux,
    });
    // A joined or the host's UTS namespace keeps its hostname (runc refuses to set one).
    if input.join_namespaces.iter().any(|(t, _)| t == "uts")
        || input.host_namespaces.iter().any(|t| t == "uts")
    {
        if let Some(o) = spec.as_object_mut() {
            o.remove("hostname");
        }
    }
    spec
}

fn bind_json(b: &BindMount) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if b.readonly {
        options.push("ro");
    }
    json!({"destination": b.destination, "type": "bind", "source": b.source, "options": options})
}

fn default_mounts(input: &SpecInput) -> Vec<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=64000k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    // sysfs cannot be mounted without owning the network namespace (in a user namespace,
    // one it did not make): bind the host's.
    let foreign_netns = input.userns.is_some() && input.network != NetMode::None;
    if (input.network == NetMode::Host && !input.privileged) || foreign_netns {
        m.push(json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    } else {
        let ro = if input.privileged { "rw" } else { "ro" };
        m.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", ro]}));
    }
    let ro = if input.privileged { "rw" } else { "ro" };
    m.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", ro]}));
    m
}

/// Podman's default device cgroup rules: deny all, then the standard devices.
fn default_device_rules() -> Value {
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(
            json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"}),
        );
    }
    rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    Value::Array(rules)
}

/// The capabilities in our bounding set (`CapBnd` of /proc/self/status); all when unknown.
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// `caps` without those the caller cannot grant (not in its bounding set). ALL_CAPS is in
/// the kernel's bit order, so a name's index is its bit.
pub fn available_caps(caps: &[String]) -> Vec<String> {
    let bnd = bounding_set();
    caps.iter()
        .filter(|c| {
            ALL_CAPS
                .iter()
                .position(|k| k == c)
                .is_none_or(|bit| bnd & (1u64 << bit) != 0)
        })
        .cloned()
        .collect()
}

/// The caller's hard limit for `resource` (an `RLIMIT_*` number).
pub fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
        return u64::MAX;
    }
    lim.rlim_max
}

/// Podman's default rlimits (nofile and nproc at 1048576), clamped to what the caller
/// may grant: a container can never get more than the caller's hard limit.
pub fn default_rlimits() -> Vec<(String, u64, u64)> {
    let nofile = 1_048_576u64.min(hard_limit(libc::RLIMIT_NOFILE));
    let nproc = 4_194_304u64.min(hard_limit(libc::RLIMIT_NPROC));
    vec![
        ("RLIMIT_NOFILE".into(), nofile, nofile),
        ("RLIMIT_NPROC".into(), nproc, nproc),
    ]
}

/// Maps a `--ulimit` name (`nofile`) to the OCI type (`RLIMIT_NOFILE`).
pub fn rlimit_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "core" => "RLIMIT_CORE",
        "cpu" => "RLIMIT_CPU",
        "data" => "RLIMIT_DATA",
        "fsize" => "RLIMIT_FSIZE",
        "locks" => "RLIMIT_LOCKS",
        "memlock" => "RLIMIT_MEMLOCK",
        "msgqueue" => "RLIMIT_MSGQUEUE",
        "nice" => "RLIMIT_NICE",
        "nofile" => "RLIMIT_NOFILE",
        "nproc" => "RLIMIT_NPROC",
        "rss" => "RLIMIT_RSS",
        "rtprio" => "RLIMIT_RTPRIO",
        "rttime" => "RLIMIT_RTTIME",
        "sigpending" => "RLIMIT_SIGPENDING",
        "stack" => "RLIMIT_STACK",
        "as" => "RLIMIT_AS",
        _ => return None,
    })
}

/// The host's device nodes under /dev, as OCI `linux.devices` entries (`--privileged`).
/// Walks subdirectories (/dev/net/tun, /dev/cpu/0/msr) as runc's HostDevices does.
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    collect_devices(std::path::Path::new("/dev"), &mut out);
    out
}

fn collect_devices(dir: &std::path::Path, out: &mut Vec<Value>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ft = md.file_type();
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            // The container has its own pts, shm, mqueue; fd is a symlink farm.
            if !matches!(
                name.as_str(),
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                collect_devices(&e.path(), out);
            }
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        // The container gets its own pty and console.
        if dir == std::path::Path::new("/dev")
            && matches!(name.as_str(), "ptmx" | "console" | "tty")
        {
            continue;
        }
        let rdev = md.rdev();
        out.push(json!({
            "path": e.path(), "type": kind,
            "major": libc::major(rdev), "minor": libc::minor(rdev),
            "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_never_exceed_hard_limits() {
        let hard = hard_limit(libc::RLIMIT_NOFILE);
        for (t, soft, h) in default_rlimits() {
            if t == "RLIMIT_NOFILE" {
                assert!(soft <= hard && h <= hard);
            }
        }
    }

    #[test]
    fn init_is_prepended_and_mounted() {
        let input = SpecInput {
            args: vec!["sleep".into(), "1".into()],
            init: Some("/usr/libexec/podman/catatonit".into()),
            ..Default::default()
        };
        let s = generate(&input);
        assert_eq!(s["process"]["args"], json!([INIT_PATH, "--", "sleep", "1"]));
        assert!(s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == INIT_PATH));
    }

    #[test]
    fn read_only_root_gets_writable_tmpfs() {
        let dests = |s: &Value| -> Vec<String> {
            s["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["type"] == "tmpfs")
                .map(|m| m["destination"].as_str().unwrap().to_string())
                .collect()
        };
        let mut input = SpecInput {
            readonly_rootfs: true,
            read_only_tmpfs: true,
            ..Default::default()
        };
        let d = dests(&generate(&input));
        for want in ["/tmp", "/var/tmp", "/run"] {
            assert!(d.iter().any(|x| x == want), "{d:?}");
        }
        input.read_only_tmpfs = false;
        assert!(!dests(&generate(&input)).iter().any(|x| x == "/tmp"));
    }

    #[test]
    fn caps_outside_the_bounding_set_are_left_out() {
        let all: Vec<String> = ALL_CAPS.iter().map(|s| s.to_string()).collect();
        let avail = available_caps(&all);
        let bnd = bounding_set();
        assert_eq!(
            avail.len() as u32,
            (bnd & ((1u64 << ALL_CAPS.len()) - 1)).count_ones()
        );
    }

    #[test]
    fn host_network_has_no_netns() {
        let s = generate(&SpecInput {
            network: NetMode::Host,
            ..Default::default()
        });
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        let s = generate(&SpecInput::default());
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.iter().any(|n| n["type"] == "network"));
        assert!(s["linux"]["maskedPaths"].as_array().unwrap().len() > 5);
    }
}
