//! Records kept in the state database and the option/report structs of the Engine.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// Hex ID (sha256 of the config), without "sha256:".
    pub id: String,
    /// Manifest digest ("sha256:..."), or the config digest when there is no manifest.
    pub digest: String,
    pub config: Vec<u8>,
    pub manifest: Option<Vec<u8>>,
    /// Chain IDs, bottom to top.
    pub layers: Vec<String>,
    pub size: u64,
    /// Unix seconds of the image's `created`.
    pub created: i64,
    pub names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    /// Unix nanoseconds.
    pub created: i64,
    pub config: ContainerConfig,
    pub state: String,
    pub pid: i32,
    pub monitor_pid: i32,
    pub exit_code: i32,
    pub started_at: String,
    pub finished_at: String,
    pub restarts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// What `create` records about a container (the resolved create options).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it (normalized), or its ID.
    pub image_name: String,
    /// The user's command (empty: the image's Cmd).
    pub command: Vec<String>,
    /// The user's --entrypoint (None: the image's).
    pub entrypoint: Option<Vec<String>>,
    /// The final argv: entrypoint + command.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    /// The working directory was given with `-w` (then it must exist).
    pub user_workdir: bool,
    pub user: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub interactive: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub init: bool,
    pub stop_signal: i32,
    pub stop_timeout: u32,
    pub ulimits: Vec<Ulimit>,
    /// The network mode: "none", "host", "bridge" (the networks below), "container:ID"
    /// or "ns:PATH".
    pub network: String,
    /// The networks of a "bridge" container, in the order given (eth0, eth1, ...).
    pub networks: Vec<NetAttach>,
    /// `-p`, resolved (random host ports are chosen at start).
    pub ports: Vec<PortMapping>,
    /// `--expose` and the image's EXPOSE ("80/tcp").
    pub expose: Vec<String>,
    /// `-P`: publish every exposed port on a random host port.
    pub publish_all: bool,
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<String>,
    /// `--no-hosts`: the image's /etc/hosts is left alone.
    pub no_hosts: bool,
    /// `--memory`, `--cpus`, `--pids-limit`, ... (updated by `update`).
    pub resources: crate::resources::Resources,
    /// `--cgroup-parent` (empty: berth's own, `/berth`).
    pub cgroup_parent: String,
    /// `--cgroups=disabled` (crun only): no cgroup is made for the container.
    pub no_cgroups: bool,
    /// The last run ended because the kernel's OOM killer killed it.
    pub oom_killed: bool,
    /// The pod's ID, if the container is in one.
    pub pod: String,
    /// The pod's infra container.
    pub infra: bool,
    /// Namespaces shared with the host (`--pid/--ipc/--uts/--cgroupns host`).
    pub host_namespaces: Vec<String>,
    /// The user namespace: "" (the host's), "auto", "private" (`--uidmap`...),
    /// "container:ID" (that container's) or "ns:PATH".
    pub userns: String,
    /// The user namespace's ID mappings (none: the host's namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_mappings: Option<berth_storage::IdMappings>,
    pub auto_remove: bool,
    pub create_command: Vec<String>,
    /// The OCI runtime chosen at create time.
    pub runtime: String,
    pub storage_driver: String,
    /// Set once the runtime has created the container (`init`).
    pub initialized: bool,
    /// Bind mounts, volumes (named; anonymous ones got a generated name at create),
    /// tmpfs, image and devpts mounts, from `-v`, `--mount`, `--tmpfs`, `--volumes-from`
    /// and the image's VOLUMEs.
    pub mounts: Vec<UserMount>,
    /// `--read-only-tmpfs=false`: no tmpfs on /tmp, /var/tmp and /run of a read-only root.
    pub no_read_only_tmpfs: bool,
    /// `--volumes-from`, as given.
    pub volumes_from: Vec<String>,
}

/// A container's attachment to one network, as netavark takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct NetAttach {
    pub name: String,
    pub aliases: Vec<String>,
    pub static_ips: Vec<String>,
    pub static_mac: String,
    pub interface_name: String,
}

/// A published port, as netavark takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: String,
}

/// A mount the user asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserMount {
    /// "bind", "volume", "tmpfs", "image" or "devpts".
    pub kind: String,
    /// Host path (bind), volume name (volume), image (image), or "tmpfs"/"devpts".
    pub source: String,
    pub destination: String,
    /// Mount options as given (ro/rw, propagation, tmpfs size=, mode=, ...).
    pub options: Vec<String>,
    /// An image mount's image, resolved at create (`source` keeps the name as given).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_id: String,
}

impl UserMount {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Container states, as Podman names them.
pub mod state {
    pub const CONFIGURED: &str = "configured";
    pub const CREATED: &str = "created";
    pub const RUNNING: &str = "running";
    pub const PAUSED: &str = "paused";
    pub const STOPPED: &str = "stopped";
    pub const EXITED: &str = "exited";
    pub const REMOVING: &str = "removing";
}

/// Options of `create` / `run` as the CLI collects them.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub image: String,
    pub name: Option<String>,
    pub command: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub interactive: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub init: bool,
    pub stop_signal: Option<i32>,
    pub stop_timeout: Option<u32>,
    pub ulimits: Vec<Ulimit>,
    /// `--network` values, as given (empty: the default, bridge).
    pub networks: Vec<String>,
    /// `--ip`, `--mac-address`, `--network-alias` (for the first network).
    pub ip: Vec<String>,
    pub mac_address: Option<String>,
    pub network_aliases: Vec<String>,
    /// `-p`, `-P`, `--expose`, as given.
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub expose: Vec<String>,
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub add_hosts: Vec<String>,
    pub no_hosts: bool,
    pub resources: crate::resources::ResourceFlags,
    pub cgroup_parent: Option<String>,
    /// `--pod NAME` or `--pod new:NAME`.
    pub pod: Option<String>,
    /// Made by `pod create` as the pod's infra container.
    pub infra: bool,
    /// `--pid`, `--ipc`, `--uts`, `--cgroupns`: ("pid", "host"), ... as given.
    pub namespace_modes: Vec<(String, String)>,
    /// `--userns`, `--uidmap`, `--gidmap`, `--subuidname`, `--subgidname`, as given.
    pub userns: Option<String>,
    pub uid_map: Vec<String>,
    pub gid_map: Vec<String>,
    pub subuidname: Option<String>,
    pub subgidname: Option<String>,
    pub auto_remove: bool,
    pub create_command: Vec<String>,
    /// `-v SRC:DST[:OPTS]`, as given.
    pub volumes: Vec<String>,
    /// `--tmpfs DST[:OPTS]`, as given.
    pub tmpfs: Vec<String>,
    /// `--mount type=...`, as given.
    pub mounts: Vec<String>,
    /// `--volumes-from CTR[:OPTS]`, as given.
    pub volumes_from: Vec<String>,
    /// `--read-only-tmpfs` (default true).
    pub read_only_tmpfs: bool,
}

/// Podman prints an empty label map as `null`.
fn null_if_empty<S: serde::Serializer>(
    m: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

/// One row of `ps`.
#[derive(Debug, Clone, Serialize)]
pub struct PsEntry {
    #[serde(rename = "AutoRemove")]
    pub auto_remove: bool,
    #[serde(rename = "Command")]
    pub command: Vec<String>,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Exited")]
    pub exited: bool,
    #[serde(rename = "ExitedAt")]
    pub exited_at: i64,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "IsInfra")]
    pub is_infra: bool,
    #[serde(rename = "Labels", serialize_with = "null_if_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Mounts")]
    pub mounts: Vec<String>,
    #[serde(rename = "Names")]
    pub names: Vec<String>,
    #[serde(rename = "Namespaces")]
    pub namespaces: BTreeMap<String, String>,
    #[serde(rename = "Networks")]
    pub networks: Vec<String>,
    #[serde(rename = "Pid")]
    pub pid: i32,
    #[serde(rename = "Pod")]
    pub pod: String,
    #[serde(rename = "PodName")]
    pub pod_name: String,
    #[serde(rename = "Ports")]
    pub ports: Option<Vec<PortMapping>>,
    #[serde(rename = "Size")]
    pub size: Option<u64>,
    #[serde(rename = "StartedAt")]
    pub started_at: i64,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Created")]
    pub created: i64,
}

/// One row of `images`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests")]
    pub repo_digests: Vec<String>,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "SharedSize")]
    pub shared_size: u64,
    #[serde(rename = "VirtualSize")]
    pub virtual_size: u64,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Containers")]
    pub containers: u32,
    #[serde(rename = "Names")]
    pub names: Vec<String>,
    #[serde(rename = "Digest")]
    pub digest: String,
    #[serde(rename = "History")]
    pub history: Vec<String>,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
}

/// A line of a container's log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub time: chrono::DateTime<chrono::FixedOffset>,
    pub stream: String,
    pub partial: bool,
    pub text: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub timestamps: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub privileged: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    pub all: bool,
    pub filters: Vec<(String, String)>,
}
