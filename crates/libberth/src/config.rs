//! Where berth keeps things, and the global options every command shares.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Storage root: images, layers, containers, the state database.
    pub root: PathBuf,
    /// Run-time state: locks, exit files, sockets.
    pub runroot: PathBuf,
    /// "overlay" or "vfs".
    pub storage_driver: String,
    /// An OCI runtime name or path; None picks crun or runc as Podman does.
    pub runtime: Option<String>,
    pub cgroup_manager: String,
    /// The berth binary, re-executed for monitors and cleanup.
    pub exe: PathBuf,
    /// Where the networks' JSON files are.
    pub network_config_dir: PathBuf,
    /// containers.conf's network settings.
    pub network: berth_image::containers_conf::NetworkSettings,
}

impl Config {
    /// The network config dir when none is given: containers.conf's, else
    /// /etc/berth/networks for root's default storage; a storage root given with
    /// `--root` keeps its networks beside it (so throw-away roots never touch /etc).
    pub fn default_network_dir(
        root: &std::path::Path,
        default_root: &std::path::Path,
        settings: &berth_image::containers_conf::NetworkSettings,
    ) -> PathBuf {
        if let Some(d) = &settings.network_config_dir {
            return d.clone();
        }
        // SAFETY: geteuid has no preconditions.
        if root == default_root && unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/etc/berth/networks");
        }
        if root == default_root {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let config = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"));
            return config.join("berth/networks");
        }
        root.join("networks")
    }

    /// Podman-like defaults: /var/lib/berth and /run/berth for root; XDG dirs otherwise.
    pub fn default_paths() -> (PathBuf, PathBuf) {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return ("/var/lib/berth".into(), "/run/berth".into());
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"));
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let run = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("/tmp/berth-run-{uid}")));
        (data.join("berth"), run.join("berth"))
    }
}
