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
}

impl Config {
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
