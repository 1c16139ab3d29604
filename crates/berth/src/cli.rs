//! The command line, as Podman 4.3 spells it.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Manage pods, containers and images — daemonless, Podman-compatible",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Path to the root directory in which data, including images, is stored
    #[arg(long, global = true, env = "BERTH_ROOT")]
    pub root: Option<PathBuf>,
    /// Path to the 'run directory' where all state information is stored
    #[arg(long, global = true, env = "BERTH_RUNROOT")]
    pub runroot: Option<PathBuf>,
    /// Select which storage driver is used to manage storage of images and containers
    #[arg(long, global = true, env = "BERTH_STORAGE_DRIVER")]
    pub storage_driver: Option<String>,
    /// Path to the OCI-compatible binary used to run containers
    #[arg(long, global = true)]
    pub runtime: Option<String>,
    /// Log messages above specified level (trace, debug, info, warn, error, fatal, panic)
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// Path of the directory where network configuration files are stored
    #[arg(long, global = true, env = "BERTH_NETWORK_CONFIG_DIR")]
    pub network_config_dir: Option<PathBuf>,
    /// Cgroup manager to use (cgroupfs; systemd is not supported here)
    #[arg(long, global = true, default_value = "cgroupfs")]
    pub cgroup_manager: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    #[command(flatten)]
    Ctr(ContainerCmd),
    #[command(flatten)]
    Img(ImageShared),
    /// List containers
    Ps(PsArgs),
    /// List images in local storage
    Images(ImagesArgs),
    /// Remove one or more images from local storage
    Rmi(RmiArgs),
    /// Display the configuration of object denoted by ID
    Inspect(InspectArgs),
    /// Display the changes to the object's file system
    Diff(DiffArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerGroup),
    /// Manage images
    #[command(subcommand)]
    Image(ImageGroup),
    /// Manipulate manifest lists and image indexes
    #[command(subcommand)]
    Manifest(ManifestCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage pods
    #[command(subcommand)]
    Pod(PodCmd),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Search a registry for images
    Search(SearchArgs),
    /// Log in to a container registry
    Login(LoginArgs),
    /// Log out of a container registry
    Logout(LogoutArgs),
    /// Display berth system information
    Info(FormatArg),
    /// Display the berth version information
    Version(FormatArg),
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ContainerCmd {
    /// Create but do not start a container
    Create(CreateArgs),
    /// Run a command in a new container
    Run(RunArgs),
    /// Start one or more containers
    Start(StartArgs),
    /// Stop one or more containers
    Stop(StopArgs),
    /// Kill one or more running containers with a specific signal
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of one or more containers
    Logs(LogsArgs),
    /// Block on one or more containers
    Wait(WaitArgs),
    /// Run a process in a running container
    Exec(ExecArgs),
    /// Attach to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container resource usage statistics
    Stats(StatsArgs),
    /// Rename an existing container
    Rename(RenameArgs),
    /// Pause all the processes in one or more containers
    Pause(NamesArgs),
    /// Unpause the processes in one or more containers
    Unpause(NamesArgs),
    /// Initialize one or more containers
    Init(NamesArgs),
    /// Mount a working container's root filesystem
    Mount(MountArgs),
    /// Unmount working container's root filesystem
    #[command(visible_alias = "umount")]
    Unmount(NamesArgs),
    /// Export container's filesystem contents as a tar archive
    Export(ExportArgs),
    /// Create new image based on the changed container
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Update the cgroup configuration of a given container
    Update(UpdateArgs),
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name (and optionally tag) of the resulting image
    #[arg(short, long)]
    pub tag: Vec<String>,
    /// Containerfile to use (`-` for standard input)
    #[arg(short, long)]
    pub file: Option<String>,
    /// ARG=VALUE for the build
    #[arg(long)]
    pub build_arg: Vec<String>,
    /// Stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use existing cached images
    #[arg(long)]
    pub no_cache: bool,
    /// Cache intermediate images during the build
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub layers: bool,
    /// Print only the image ID
    #[arg(short, long)]
    pub quiet: bool,
    /// File to write the image ID to
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set metadata for the image
    #[arg(long)]
    pub label: Vec<String>,
    /// Format of the image manifest and metadata
    #[arg(long, default_value = "oci")]
    pub format: String,
    /// Pull policy: always, missing, never, newer
    #[arg(long, default_value = "missing", num_args = 0..=1, require_equals = true, default_missing_value = "always")]
    pub pull: String,
    /// Network for RUN instructions
    #[arg(long)]
    pub network: Option<String>,
    /// Bind mount a volume into RUN containers
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub force_rm: bool,
    /// Ignore file to use instead of .containerignore/.dockerignore
    #[arg(long)]
    pub ignorefile: Option<PathBuf>,
    /// Secret file to expose to the build: id=ID,src=PATH or id=ID,env=VAR
    #[arg(long)]
    pub secret: Vec<String>,
    /// Additional build context: name=path
    #[arg(long)]
    pub build_context: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip) for RUN instructions
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Do not create /etc/hosts for RUN instructions
    #[arg(long)]
    pub no_hosts: bool,
    /// File with ARG=VALUE lines for the build
    #[arg(long)]
    pub build_arg_file: Vec<PathBuf>,
    /// Set environment variables in the image: K=V (or K to take it from ours)
    #[arg(long)]
    pub env: Vec<String>,
    /// Add an annotation to the image manifest: K=V
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Set the created time of the image and its history to these seconds since the epoch
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Squash the newly built layers into a single new layer
    #[arg(long)]
    pub squash: bool,
    /// Squash all layers (base image included) into a single layer
    #[arg(long)]
    pub squash_all: bool,
    /// Number of stages to build in parallel (accepted)
    #[arg(long)]
    pub jobs: Option<u32>,
    /// Context directory (`-` for a tar archive on standard input)
    pub context: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Set the author for the image committed
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply the following possible instructions to the created image: CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Format of the image manifest and metadata
    #[arg(short, long, default_value = "oci")]
    pub format: String,
    /// File to write the image ID to
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Include container volumes as image volumes
    #[arg(long)]
    pub include_volumes: bool,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    /// Suppress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Squash newly built layers into a single new layer
    #[arg(short, long)]
    pub squash: bool,
    pub container: String,
    pub image: Option<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Chown copied files to the primary uid/gid of the destination container
    #[arg(short, long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub archive: bool,
    /// Allow to overwrite directories with non-directories and vice versa
    #[arg(long)]
    pub overwrite: bool,
    /// [CONTAINER:]SRC_PATH
    pub src: String,
    /// [CONTAINER:]DEST_PATH
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Change the output format (json)
    #[arg(long)]
    pub format: Option<String>,
    /// Container or image
    pub name: String,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// Print the mounted containers as JSON
    #[arg(long)]
    pub format: Option<String>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a specified file (default: stdout, which must not be a TTY)
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub name: String,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ContainerGroup {
    #[command(flatten)]
    Shared(ContainerCmd),
    /// List containers
    #[command(visible_aliases = ["ls", "list"])]
    Ps(PsArgs),
    /// Display the configuration of a container
    Inspect(InspectArgs),
    /// Inspect changes to the container's file systems
    Diff(DiffArgs),
    /// Check if a container exists in local storage
    Exists(OneName),
    /// Remove all non running containers
    Prune(PruneArgs),
    /// Clean up network and mountpoints of one or more containers
    #[command(hide = true)]
    Cleanup(NamesArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageShared {
    /// Build an image using instructions from Containerfiles
    Build(Box<BuildArgs>),
    /// Load image(s) from a tar archive
    Load(LoadArgs),
    /// Import a tarball to create a filesystem image
    Import(ImportArgs),
    /// Add an additional name to a local image
    Tag(TagArgs),
    /// Remove a name from a local image
    Untag(UntagArgs),
    /// Save image(s) to an archive
    Save(SaveArgs),
    /// Show history of a specified image
    History(HistoryArgs),
    /// Pull an image from a registry
    Pull(PullArgs),
    /// Push an image to a registry
    Push(PushArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageGroup {
    #[command(flatten)]
    Shared(ImageShared),
    /// List images in local storage
    #[command(visible_aliases = ["ls", "list"])]
    Images(ImagesArgs),
    /// Display the configuration of an image
    Inspect(InspectArgs),
    /// Inspect changes to the image's file systems
    Diff(DiffArgs),
    /// Remove one or more images from local storage
    Rm(RmiArgs),
    /// Check if an image exists in local storage
    Exists(OneName),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Mount an image's root filesystem
    Mount(ImageMountArgs),
    /// Unmount an image's root filesystem
    #[command(visible_alias = "umount")]
    Unmount(ImageUnmountArgs),
}

#[derive(Args, Debug)]
pub struct ImageMountArgs {
    /// Mount all images
    #[arg(short, long)]
    pub all: bool,
    /// Print the mounted images in specified format (json)
    #[arg(long)]
    pub format: Option<String>,
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImageUnmountArgs {
    /// Unmount all of the currently mounted images
    #[arg(short, long)]
    pub all: bool,
    /// Force the complete unmount of the specified mounted images
    #[arg(short, long)]
    pub force: bool,
    pub images: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct FormatArg {
    /// Change the output format to JSON or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Flags shared by `create` and `run`.
#[derive(Args, Debug, Default, Clone)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables in container
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set container hostname
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set metadata on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY for container
    #[arg(short, long)]
    pub tty: bool,
    /// Make containers root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Add capabilities to the container
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop capabilities from the container
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to container
    #[arg(long)]
    pub privileged: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop a container. Default is SIGTERM
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) that containers stopped by user command have to exit
    #[arg(long)]
    pub stop_timeout: Option<u32>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Pull image policy (always, missing, never, newer)
    #[arg(long, default_value = "missing")]
    pub pull: String,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    pub quiet: bool,
    /// Connect a container to a network (bridge, none, host, container:NAME, ns:PATH, NAME[:OPTS])
    #[arg(long, alias = "net")]
    pub network: Vec<String>,
    /// Specify a static IPv4 address for the container
    #[arg(long)]
    pub ip: Vec<String>,
    /// Specify a static IPv6 address for the container
    #[arg(long)]
    pub ip6: Vec<String>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub network_alias: Vec<String>,
    /// Publish a container's port, or a range of ports, to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports on the host interface
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set custom DNS options
    #[arg(long, alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Do not create /etc/hosts within the container, instead use the version from the image
    #[arg(long)]
    pub no_hosts: bool,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub userns: UsernsArgs,
    /// Optional parent cgroup for the container
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Run container in an existing pod (or new:NAME to create one)
    #[arg(long)]
    pub pod: Option<String>,
    /// PID namespace to use (host or private)
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC namespace to use (host or private)
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use (host or private)
    #[arg(long)]
    pub uts: Option<String>,
    /// cgroup namespace to use (host or private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Control container cgroup configuration (enabled, disabled, no-conmon, split)
    #[arg(long)]
    pub cgroups: Option<String>,
    /// Bind mount a volume into the container (SRC:DST[:OPTIONS])
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount a temporary filesystem (tmpfs) into the container (DST[:OPTIONS])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs|image|devpts,...)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// When running containers in read-only mode mount a read-write tmpfs on /run, /tmp and /var/tmp
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub read_only_tmpfs: bool,
    /// Remove container (and pod if created) after exit
    #[arg(long)]
    pub rm: bool,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// IMAGE [COMMAND [ARG...]]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// IMAGE [COMMAND [ARG...]]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach container's STDOUT and STDERR
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Start all containers regardless of their state
    #[arg(long)]
    pub all: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing the container
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    /// Act on all containers
    #[arg(short, long)]
    pub all: bool,
    /// Act on the latest container
    #[arg(short, long)]
    pub latest: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    pub ignore: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(short, long)]
    pub all: bool,
    #[arg(short, long)]
    pub latest: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force removal of a running or unusable container
    #[arg(short, long)]
    pub force: bool,
    /// Remove all containers
    #[arg(short, long)]
    pub all: bool,
    /// Seconds to wait for stop before killing the container
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    pub ignore: bool,
    #[arg(short, long)]
    pub latest: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the containers that depend on it first
    #[arg(long)]
    pub depend: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short, long)]
    pub all: bool,
    /// Print the numeric IDs of the containers only
    #[arg(short, long)]
    pub quiet: bool,
    /// Act on the latest container
    #[arg(short, long)]
    pub latest: bool,
    /// Print the n last created containers (all states)
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    /// Display the extended information
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions given
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Sort output by: command, created, id, image, names, runningfor, size, status
    #[arg(long, default_value = "created")]
    pub sort: String,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
    /// Display the total file sizes
    #[arg(short, long)]
    pub size: bool,
    /// Show the containers' namespaces
    #[arg(long)]
    pub ns: bool,
    /// Show the containers' pod
    #[arg(short, long)]
    pub pod: bool,
    /// Include external containers
    #[arg(long)]
    pub external: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Specify inspect-object type (container, image, all)
    #[arg(short, long = "type", default_value = "all")]
    pub kind: String,
    /// Display the total file size (ignored)
    #[arg(short, long)]
    pub size: bool,
    #[arg(short, long)]
    pub latest: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub flags: LogFlags,
    #[arg(short, long)]
    pub latest: bool,
    pub containers: Vec<String>,
}

/// What `logs` and `pod logs` show.
#[derive(Args, Debug, Clone)]
pub struct LogFlags {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Output the specified number of LINES at the end of the logs
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Show logs since TIMESTAMP
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs until TIMESTAMP
    #[arg(long)]
    pub until: Option<String>,
    /// Output the timestamps in the log
    #[arg(short, long)]
    pub timestamps: bool,
    /// Prefix each log line with the container name or ID
    #[arg(short, long)]
    pub names: bool,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Condition to wait on
    #[arg(long)]
    pub condition: Vec<String>,
    /// Time interval to wait before polling for completion
    #[arg(short, long, default_value = "250ms")]
    pub interval: String,
    #[arg(short, long)]
    pub latest: bool,
    #[arg(long)]
    pub ignore: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Run the exec session in detached mode
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the process extended Linux capabilities
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Sets the username or UID used and optionally the groupname or GID
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Override the key sequence for detaching
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[arg(short, long)]
    pub latest: bool,
    /// CONTAINER COMMAND [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CONTAINER"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    #[arg(short, long)]
    pub latest: bool,
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(short, long)]
    pub latest: bool,
    /// CONTAINER [FORMAT-DESCRIPTORS...]
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers. Only running containers are shown by default. The default is false
    #[arg(short, long)]
    pub all: bool,
    /// Pretty-print container statistics to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Time in seconds between stats reports
    #[arg(short, long, default_value_t = 5, allow_negative_numbers = true)]
    pub interval: i64,
    /// Act on the latest container podman is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Disable resetting the screen between intervals
    #[arg(long)]
    pub no_reset: bool,
    /// Disable streaming stats and only pull the first result, default setting is false
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(short, long)]
    pub all: bool,
    #[arg(short, long)]
    pub latest: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct OneName {
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all images not in use by containers, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Load image from specified file instead of the standard input
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Compress tarball image layers when saving to a directory using the 'dir' transport
    #[arg(long)]
    pub compress: bool,
    /// Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive, docker-dir (directory with v2s2 manifest type)
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)
    #[arg(short, long)]
    pub multi_image_archive: bool,
    /// Write to a specified file (default: stdout, which must be redirected)
    #[arg(short, long)]
    pub output: Option<String>,
    /// Suppress the output
    #[arg(short, long)]
    pub quiet: bool,
    /// Accept uncompressed layers when copying OCI images
    #[arg(long)]
    pub uncompressed: bool,
    /// IMAGE [IMAGE...]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Change the output to JSON or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Display sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub human: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Display the numeric IDs only
    #[arg(short, long)]
    pub quiet: bool,
    /// IMAGE
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply the following possible instructions to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Suppress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Tarball path ("-" for standard input)
    pub path: String,
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub image: String,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UntagArgs {
    pub image: String,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove all images
    #[arg(short, long)]
    pub all: bool,
    /// Force Removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors if a specified image does not exist
    #[arg(short, long)]
    pub ignore: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Display only image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Change the output format to JSON or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not print column headings
    #[arg(short, long)]
    pub noheading: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Sort by created, id, repository, size, tag
    #[arg(long, default_value = "created")]
    pub sort: String,
    pub name: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub tls_verify: Option<bool>,
    /// Use USERNAME[:PASSWORD] for accessing the registry
    #[arg(long)]
    pub creds: Option<String>,
    /// Path of the authentication file
    #[arg(long, env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<std::path::PathBuf>,
    /// Path to a directory of certificates (*.crt) for the registry
    #[arg(long)]
    pub cert_dir: Option<std::path::PathBuf>,
    /// Path to a signature policy file (policy.json)
    #[arg(long, hide = true)]
    pub signature_policy: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    pub quiet: bool,
    /// Specify the platform for selecting the image (OS/ARCH[/VARIANT])
    #[arg(long)]
    pub platform: Option<String>,
    /// Use ARCH instead of the architecture of the machine
    #[arg(long)]
    pub arch: Option<String>,
    /// Use OS instead of the running OS
    #[arg(long)]
    pub os: Option<String>,
    /// Use VARIANT instead of the running architecture variant
    #[arg(long)]
    pub variant: Option<String>,
    /// Number of times to retry in case of failure
    #[arg(long, default_value_t = 3)]
    pub retry: u32,
    /// Pull all tagged images in the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Suppress output information when pushing images
    #[arg(short, long)]
    pub quiet: bool,
    /// Compression format to use (gzip)
    #[arg(long, default_value = "gzip")]
    pub compression_format: String,
    /// Write the digest of the pushed image to the specified file
    #[arg(long)]
    pub digestfile: Option<std::path::PathBuf>,
    /// Discard any pre-existing signatures in the image
    #[arg(long)]
    pub remove_signatures: bool,
    /// Manifest type (oci) to use in the destination
    #[arg(short, long)]
    pub format: Option<String>,
    pub image: String,
    /// DESTINATION (default: the image's name), e.g. docker://host:port/repo:tag
    pub destination: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub registry_flags: RegistryFlags,
    /// Username for registry
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password for registry
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Return the current login user for the registry
    #[arg(long)]
    pub get_login: bool,
    /// REGISTRY (host[:port], or host[:port]/repository)
    pub registry: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Path of the authentication file
    #[arg(long, env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<std::path::PathBuf>,
    /// Remove the cached credentials for all registries in the auth file
    #[arg(short, long)]
    pub all: bool,
    pub registry: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Limit the number of results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// List the tags of the repository named
    #[arg(long)]
    pub list_tags: bool,
    /// Change the output format to JSON or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// TERM (host[:port]/term searches that registry)
    pub term: String,
}

#[derive(Subcommand, Debug)]
pub enum ManifestCmd {
    /// Create a manifest list
    Create(ManifestCreateArgs),
    /// Add an image to a manifest list
    Add(ManifestAddArgs),
    /// Display the contents of a manifest list or image index
    Inspect(ManifestInspectArgs),
    /// Add or update information about an entry in a manifest list
    Annotate(ManifestAnnotateArgs),
    /// Remove manifest lists from local storage
    Rm(ManifestRmArgs),
    /// Check if a manifest list exists in local storage
    Exists(OneName),
    /// Push a manifest list to a registry
    Push(ManifestPushArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ManifestEntryFlags {
    /// Override the architecture of the entry
    #[arg(long)]
    pub arch: Option<String>,
    /// Override the OS of the entry
    #[arg(long)]
    pub os: Option<String>,
    /// Override the architecture variant of the entry
    #[arg(long)]
    pub variant: Option<String>,
    /// Set an annotation (KEY=VALUE) on the entry
    #[arg(long)]
    pub annotation: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ManifestCreateArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// LIST
    pub name: String,
    /// IMAGE [IMAGE...] to add
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ManifestAddArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    #[command(flatten)]
    pub entry: ManifestEntryFlags,
    /// Add all of the images of IMAGE when it is a list
    #[arg(long)]
    pub all: bool,
    /// LIST
    pub name: String,
    /// IMAGE: docker://REF, a registry reference, or a local image
    pub image: String,
}

#[derive(Args, Debug)]
pub struct ManifestInspectArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// LIST, or a registry reference
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ManifestAnnotateArgs {
    #[command(flatten)]
    pub entry: ManifestEntryFlags,
    /// LIST
    pub name: String,
    /// DIGEST of the entry
    pub digest: String,
}

#[derive(Args, Debug)]
pub struct ManifestRmArgs {
    /// LIST [LIST...]
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ManifestPushArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Push the images of the list as well (local images need it)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "true", action = ArgAction::Set)]
    pub all: bool,
    /// Suppress output information
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the digest of the pushed list to the specified file
    #[arg(long)]
    pub digestfile: Option<std::path::PathBuf>,
    /// LIST
    pub name: String,
    /// DESTINATION: [docker://]host[:port]/repository[:tag]
    pub destination: String,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a new volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove all unused volumes
    Prune(VolumePruneArgs),
    /// Check if volume exists
    Exists(OneName),
    /// Export volumes
    Export(VolumeExportArgs),
    /// Import a tarball contents into a volume
    Import(VolumeImportArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options (KEY=VALUE)
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Do not fail if the volume already exists
    #[arg(long)]
    pub ignore: bool,
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Filter volume output
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format volume output using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(long, alias = "noheading", short = 'n')]
    pub noheading: bool,
    /// Print volume output in quiet mode
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Inspect all volumes
    #[arg(short, long)]
    pub all: bool,
    /// Format volume output using a Go template
    #[arg(short, long)]
    pub format: Option<String>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Remove all volumes
    #[arg(short, long)]
    pub all: bool,
    /// Remove a volume by force, also the containers using it
    #[arg(short, long)]
    pub force: bool,
    /// Seconds to wait for running containers to stop
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeExportArgs {
    /// Write to a specified file (default: stdout, which must not be a TTY)
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct VolumeImportArgs {
    pub name: String,
    /// A tar file, or - for standard input
    pub source: String,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// Display port information for all containers
    #[arg(short, long)]
    pub all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// CONTAINER [PRIVATE_PORT[/PROTO]]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// Remove networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove all unused networks
    Prune(VolumePruneArgs),
    /// Check if network exists
    Exists(OneName),
    /// Add container to a network
    Connect(NetworkConnectArgs),
    /// Remove container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Reload firewall rules for one or more containers
    Reload(NetworkReloadArgs),
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 gateway for the subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container IP from range
    #[arg(long)]
    pub ip_range: Vec<String>,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Restrict external access from this network
    #[arg(long)]
    pub internal: bool,
    /// Disable DNS plugin
    #[arg(long)]
    pub disable_dns: bool,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Interface name which should be used by the network driver
    #[arg(long)]
    pub interface_name: Option<String>,
    /// Do not fail if the network already exists
    #[arg(long)]
    pub ignore: bool,
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. 'name=podman')
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print networks to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
    /// Display the network ID without truncation
    #[arg(long)]
    pub no_trunc: bool,
    /// Display only network names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Pretty-print network to JSON or using a Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    /// Remove any containers using the network
    #[arg(short, long)]
    pub force: bool,
    /// Seconds to wait for running containers to stop before killing them
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Network scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address for the container
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address for the container
    #[arg(long)]
    pub ip6: Option<String>,
    /// MAC address for the container
    #[arg(long)]
    pub mac_address: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force removal of the container from the network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkReloadArgs {
    /// Reload network configuration of all containers
    #[arg(short, long)]
    pub all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    pub latest: bool,
    pub names: Vec<String>,
}

/// User namespace options, shared by `create`/`run` and `pod create`.
#[derive(Args, Debug, Default, Clone)]
pub struct UsernsArgs {
    /// User namespace to use (auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N], host,
    /// container:ID, ns:PATH)
    #[arg(long)]
    pub userns: Option<String>,
    /// UID map for a new user namespace (CONTAINER_UID:HOST_UID:AMOUNT)
    #[arg(long)]
    pub uidmap: Vec<String>,
    /// GID map for a new user namespace (CONTAINER_GID:HOST_GID:AMOUNT)
    #[arg(long)]
    pub gidmap: Vec<String>,
    /// Name of the /etc/subuid entry whose ranges map the container's UIDs
    #[arg(long)]
    pub subuidname: Option<String>,
    /// Name of the /etc/subgid entry whose ranges map the container's GIDs
    #[arg(long)]
    pub subgidname: Option<String>,
}

/// Resource limits, shared by `create`/`run` and `update`.
#[derive(Args, Debug, Default, Clone)]
pub struct ResourceArgs {
    /// Memory limit (format: <number>[<unit>], where unit = b, k, m or g)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory soft limit (format: <number>[<unit>], where unit = b, k, m or g)
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs. The default is 0.000 which means no limit
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (relative weight) accepts a weight value between 10 and 1000
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Tune the host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceArgs,
    pub name: String,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum PodCmd {
    /// Create a new empty pod
    Create(PodCreateArgs),
    /// List pods
    #[command(visible_aliases = ["ls", "list"])]
    Ps(PodPsArgs),
    /// Display a pod configuration
    Inspect(PodInspectArgs),
    /// Start one or more pods
    Start(PodNamesArgs),
    /// Stop one or more pods
    Stop(PodStopArgs),
    /// Restart one or more pods
    Restart(PodNamesArgs),
    /// Send the specified signal or SIGKILL to containers in pod
    Kill(PodKillArgs),
    /// Pause one or more pods
    Pause(PodNamesArgs),
    /// Unpause one or more pods
    Unpause(PodNamesArgs),
    /// Remove one or more stopped pods and containers
    Rm(PodRmArgs),
    /// Remove all stopped pods and their containers
    Prune(PodPruneArgs),
    /// Check if a pod exists in local storage
    Exists(OneName),
    /// Display the running processes of containers in a pod
    Top(PodTopArgs),
    /// Display a live stream of resource usage statistics for the containers in pods
    Stats(StatsArgs),
    /// Clone an existing pod
    Clone(PodCloneArgs),
    /// Fetch logs for the containers of a pod
    Logs(PodLogsArgs),
}

#[derive(Args, Debug)]
pub struct PodLogsArgs {
    /// Filter logs by container name or ID
    #[arg(short, long)]
    pub container: Option<String>,
    #[command(flatten)]
    pub flags: LogFlags,
    pub pod: String,
}

#[derive(Args, Debug)]
pub struct PodCloneArgs {
    /// Name of the new pod
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the original pod
    #[arg(long)]
    pub destroy: bool,
    /// Start the new pod
    #[arg(long)]
    pub start: bool,
    pub pod: String,
    /// The new pod's name (as --name)
    pub new_name: Option<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct PodCreateArgs {
    /// Assign a name to the pod
    #[arg(short, long)]
    pub name: Option<String>,
    /// Create an infra container associated with the pod to share namespaces with
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub infra: bool,
    /// Do not create an infra container
    #[arg(long)]
    pub no_infra: bool,
    /// The image of the infra container to associate with the pod
    #[arg(long)]
    pub infra_image: Option<String>,
    /// The command to run on the infra container when the pod is started
    #[arg(long)]
    pub infra_command: Option<String>,
    /// The name used as infra container name
    #[arg(long)]
    pub infra_name: Option<String>,
    /// A comma-separated list of kernel namespaces to share (net, ipc, uts, pid, cgroup)
    #[arg(long)]
    pub share: Option<String>,
    /// Set the pod's hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set metadata on pod
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Behaviour when the last container exits (continue or stop)
    #[arg(long)]
    pub exit_policy: Option<String>,
    /// Use the pod's cgroup as the cgroup parent of its containers
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub share_parent: bool,
    /// Bind mount a volume into every container of the pod (SRC:DST[:OPTIONS])
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Connect the pod to a network
    #[arg(long, alias = "net")]
    pub network: Vec<String>,
    /// Publish a container's port, or a range of ports, to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// PID namespace of the pod's infra container (host or private)
    #[arg(long)]
    pub pid: Option<String>,
    #[command(flatten)]
    pub userns: UsernsArgs,
    /// Memory limit for the pod (format: <number>[<unit>])
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs for the pod
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Args, Debug)]
pub struct PodPsArgs {
    /// Filter output based on conditions given
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print pods to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Print only the pod IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate pod and container IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
    /// Display the container names
    #[arg(long)]
    pub ctr_names: bool,
    /// Display the container status
    #[arg(long)]
    pub ctr_status: bool,
    /// Display the container UUIDs
    #[arg(long)]
    pub ctr_ids: bool,
}

#[derive(Args, Debug)]
pub struct PodInspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodNamesArgs {
    /// Act on all pods
    #[arg(short, long)]
    pub all: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodStopArgs {
    /// Stop all pods
    #[arg(short, long)]
    pub all: bool,
    /// Seconds to wait for pod stop before killing the container
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodKillArgs {
    /// Kill all pods
    #[arg(short, long)]
    pub all: bool,
    /// Signal to send to the containers in the pod
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodRmArgs {
    /// Remove all pods
    #[arg(short, long)]
    pub all: bool,
    /// Force removal of a running pod by first stopping all containers
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors when a specified pod is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Seconds to wait for pod stop before killing the container
    #[arg(short, long = "time")]
    pub time: Option<u32>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct PodTopArgs {
    pub name: String,
}
