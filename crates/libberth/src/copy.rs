//! `cp` on the container side: stat a path, write a path as a tar, extract a tar into a
//! directory; and `diff`. The host side (naming rules, host files) is the CLI's, as in
//! Podman, so that a remote engine can serve the same three calls.
//!
//! The root a container path is resolved in: `/proc/PID/root` for a running container
//! (it sees the container's mounts), else the container's root file system, mounted for
//! the copy when it was not, with paths under a bind mount mapped to the mount's source
//! ([`mount_host_path`]). Resolution never leaves that root (see `berth_storage::copy`).

use crate::containers::{display_state, resolve_user};
use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::{state, ContainerRecord, UserMount};
use berth_storage::copy::{self as scopy, ExtractOptions, Resolved, TarOptions};
use berth_storage::{Change, LayerStore};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// A container path as `cp` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStat {
    /// The resolved path inside the container (symlinks followed).
    pub path: String,
    /// Its last component (Podman names a copied symlink after its target).
    pub name: String,
    pub is_dir: bool,
}

/// How a tar is extracted into a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyInOptions {
    /// Podman's `--archive` (default true): entries are owned by the container's user.
    /// false keeps the owners recorded in the tar.
    pub archive: bool,
    /// Allow a directory to replace a non-directory and the other way round.
    pub overwrite: bool,
}

/// Which objects `diff` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// A container, else an image (`berth diff`).
    Any,
    Container,
    Image,
}

/// Paths of a container that Podman leaves out of `diff`: the runtime's mount points and
/// the files the engine bind-mounts.
const INIT_INODES: &[&str] = &[
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/run",
    "/run/notify",
    "/run/.containerenv",
    "/run/secrets",
    "/sys",
    "/etc/mtab",
];

/// The host directory that holds a container path when the container is not running: the
/// source of the innermost directory bind mount covering `path` (absolute, normalized),
/// with that mount's destination. `None`: the path is in the container's own file system.
/// Named volumes will map here the same way (their data directory as the source).
pub fn mount_host_path(mounts: &[UserMount], path: &Path) -> Option<(PathBuf, PathBuf)> {
    mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .filter(|m| {
            let dest = Path::new(&m.destination);
            path.starts_with(dest) && Path::new(&m.source).is_dir()
        })
        .max_by_key(|m| Path::new(&m.destination).components().count())
        .map(|m| (PathBuf::from(&m.source), PathBuf::from(&m.destination)))
}

/// `path` made absolute with `.` and `..` resolved lexically (for matching mounts only).
fn lexical(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The open root of a container path, and what to undo afterwards.
struct CopyRoot {
    root: File,
    /// Where `root` is in the container (`/`, or a bind mount's destination).
    prefix: PathBuf,
    /// The path to resolve inside `root`.
    rest: String,
    /// The root file system to resolve the container's user in.
    rootfs: PathBuf,
    /// Unmount this container's root file system when done (it was mounted for the copy).
    unmount: Option<(LayerStore, String)>,
}

impl Drop for CopyRoot {
    fn drop(&mut self) {
        if let Some((store, id)) = self.unmount.take() {
            let _ = store.unmount_container(&id);
        }
    }
}

impl CopyRoot {
    fn resolve(&self, follow_last: bool) -> std::io::Result<Resolved> {
        scopy::resolve(&self.root, &self.rest, follow_last)
    }

    /// The container path of something resolved in this root.
    fn container_path(&self, r: &Resolved) -> PathBuf {
        self.prefix
            .join(r.path.strip_prefix("/").unwrap_or(&r.path))
    }
}

fn not_found(path: &str, key: &str) -> Error {
    Error::Other(format!(
        "{path:?} could not be found on container {key}: no such file or directory"
    ))
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

impl LocalEngine {
    fn copy_root(&self, id: &str, rec: &ContainerRecord, path: &str) -> Result<CopyRoot> {
        let (st, _, _) = self.live_state(rec);
        if matches!(st.as_str(), state::RUNNING | state::PAUSED) && rec.pid > 0 {
            let proc_root = PathBuf::from(format!("/proc/{}/root", rec.pid));
            if let Ok(root) = scopy::open_root(&proc_root) {
                return Ok(CopyRoot {
                    root,
                    prefix: PathBuf::from("/"),
                    rest: path.to_string(),
                    rootfs: proc_root,
                    unmount: None,
                });
            }
        }
        if st == state::REMOVING {
            return Err(Error::InvalidState(
                id.to_string(),
                display_state(&st).into(),
                "cannot copy: container state improper",
            ));
        }
        let rootfs_path = self.store.container_rootfs(id);
        let was_mounted = matches!(self.store.driver(), berth_storage::Driver::Vfs)
            || crate::export::is_mounted(&rootfs_path);
        let rootfs = self.store.mount_container(id)?;
        let unmount = (!was_mounted).then(|| (self.store.clone(), id.to_string()));
        let lex = lexical(path);
        // Volumes are directories on the host too: bind mounts of their data.
        let mounts: Vec<UserMount> = rec
            .config
            .mounts
            .iter()
            .map(|m| match m.kind.as_str() {
                "volume" => UserMount {
                    kind: "bind".into(),
                    source: self.mount_source(m),
                    ..m.clone()
                },
                _ => m.clone(),
            })
            .collect();
        let (dir, prefix, rest) = match mount_host_path(&mounts, &lex) {
            Some((source, dest)) => {
                let rest = lex.strip_prefix(&dest).unwrap_or(Path::new(""));
                let rest = rest.to_string_lossy().into_owned();
                (source, dest, rest)
            }
            None => (rootfs.clone(), PathBuf::from("/"), path.to_string()),
        };
        let root = scopy::open_root(&dir).ctx(|| format!("opening {}", dir.display()))?;
        Ok(CopyRoot {
            root,
            prefix,
            rest,
            rootfs,
            unmount,
        })
    }

    /// `cp` stat: what a container path resolves to; `None` when it does not exist.
    pub fn container_copy_stat(&self, key: &str, path: &str) -> Result<Option<CopyStat>> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        let root = self.copy_root(&id, &rec, path)?;
        let r = match root.resolve(true) {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => {
                return Err(Error::Io(
                    format!("resolving {path:?} in container {key}"),
                    e,
                ))
            }
        };
        if !r.exists() {
            return Ok(None);
        }
        let cpath = root.container_path(&r);
        Ok(Some(CopyStat {
            name: cpath
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into()),
            path: cpath.to_string_lossy().into_owned(),
            is_dir: r.is_dir(),
        }))
    }

    /// `cp` out: the container path as a tar on `out`, its top entry named `top` (with `top`
    /// empty, a directory's contents only). Symlinks in `path` are followed inside the container.
    pub fn container_copy_out(
        &self,
        key: &str,
        path: &str,
        top: &str,
        out: &mut dyn Write,
    ) -> Result<()> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        let root = self.copy_root(&id, &rec, path)?;
        let r = match root.resolve(true) {
            Ok(r) if r.exists() => r,
            Ok(_) => return Err(not_found(path, key)),
            Err(e) if is_missing(&e) => return Err(not_found(path, key)),
            Err(e) => {
                return Err(Error::Io(
                    format!("resolving {path:?} in container {key}"),
                    e,
                ))
            }
        };
        let opts = TarOptions {
            idmap: rec.config.id_mappings.clone(),
            ..Default::default()
        };
        scopy::write_tar(&r, top, out, &opts)
            .ctx(|| format!("copying {path:?} from container {key}"))
    }

    /// `cp` in: extracts the tar `tar` into the directory `dir` of the container. The whole
    /// tar is checked before anything is written (see `berth_storage::copy`).
    pub fn container_copy_in(
        &self,
        key: &str,
        dir: &str,
        tar: &mut dyn Read,
        opts: &CopyInOptions,
    ) -> Result<()> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        if rec.config.read_only && self.live_state(&rec).0 == state::RUNNING {
            // Podman copies into the writable layer of a --read-only container only when stopped.
            return Err(Error::Other(format!(
                "container {key} has a read-only root file system: cannot copy into it while it runs"
            )));
        }
        let root = self.copy_root(&id, &rec, dir)?;
        let r = match root.resolve(true) {
            Ok(r) if r.exists() => r,
            Ok(_) => return Err(not_found(dir, key)),
            Err(e) if is_missing(&e) => return Err(not_found(dir, key)),
            Err(e) => {
                return Err(Error::Io(
                    format!("resolving {dir:?} in container {key}"),
                    e,
                ))
            }
        };
        if !r.is_dir() {
            return Err(Error::Other(format!(
                "{dir:?} in container {key} is not a directory"
            )));
        }
        let dest = r
            .open_dir()
            .ctx(|| format!("opening {dir:?} in container {key}"))?;
        let chown = if opts.archive {
            let (uid, gid, _, _) = resolve_user(&root.rootfs, &rec.config.user)?;
            Some((uid, gid))
        } else {
            None
        };
        let depth = root.container_path(&r).components().count() - 1;
        let mut spool = self.store.temp_file()?;
        std::io::copy(tar, &mut spool).ctx(|| "reading the tar to copy".into())?;
        let eo = ExtractOptions {
            chown,
            overwrite: opts.overwrite,
            confine_depth: Some(depth),
            idmap: rec.config.id_mappings.clone(),
        };
        scopy::extract_tar(&dest, &mut spool, &eo)?;
        Ok(())
    }

    /// `diff`: what a container changed in its image, or what an image's top layer changed.
    pub fn diff(&self, key: &str, kind: DiffKind) -> Result<Vec<Change>> {
        if kind != DiffKind::Image {
            match self.lookup_container(key) {
                Ok(id) => {
                    let _l = self.lock(&id)?;
                    let changes = self.store.container_changes(&id)?;
                    return Ok(changes
                        .into_iter()
                        .filter(|c| !INIT_INODES.contains(&c.path.as_str()))
                        .collect());
                }
                Err(Error::NoSuchContainer(_)) if kind == DiffKind::Any => {}
                Err(Error::NoSuchContainer(_)) => {
                    return Err(Error::Other(format!(
                        "{key} not found: container not known"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        let img = match self.lookup_image(key) {
            Ok(img) => img,
            Err(Error::NoSuchImage(_)) if kind == DiffKind::Any => {
                return Err(Error::Other(format!("{key} not found: layer not known")))
            }
            Err(Error::NoSuchImage(_)) => {
                return Err(Error::Other(format!(
                    "{key} not found: {key}: image not known"
                )))
            }
            Err(e) => return Err(e),
        };
        match img.layers.last() {
            Some(top) => Ok(self.store.layer_changes(top)?),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(src: &str, dst: &str) -> UserMount {
        UserMount {
            kind: "bind".into(),
            source: src.into(),
            destination: dst.into(),
            options: vec![],
            image_id: String::new(),
        }
    }

    #[test]
    fn paths_under_a_bind_mount_map_to_its_source() {
        let tmp = std::env::temp_dir();
        let t = tmp.to_str().unwrap();
        let mounts = vec![
            bind(t, "/data"),
            bind(t, "/data/inner"),
            bind("/nonexistent-x", "/x"),
        ];
        assert_eq!(
            mount_host_path(&mounts, Path::new("/data/inner/f")),
            Some((tmp.clone(), PathBuf::from("/data/inner")))
        );
        assert_eq!(
            mount_host_path(&mounts, Path::new("/data")),
            Some((tmp.clone(), PathBuf::from("/data")))
        );
        assert_eq!(mount_host_path(&mounts, Path::new("/database")), None);
        assert_eq!(mount_host_path(&mounts, Path::new("/x/y")), None);
        assert_eq!(lexical("a/../../b/./c"), PathBuf::from("/b/c"));
    }
}
