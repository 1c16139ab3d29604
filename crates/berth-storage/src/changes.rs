//! What a container (or a layer) changed: `diff`, with the rules of containers/storage.
//!
//! - overlay: the upper directory is walked in name order; a 0:0 character device is a
//!   deleted entry, an opaque directory that exists below is deleted (its contents then
//!   show as added), anything else is added, or changed when it exists below (a directory
//!   only when its size, mode or mtime differ). The parent of an added or deleted entry
//!   shows as changed unless it already did.
//! - vfs: the container's full tree is compared with the image's; entries differ in type,
//!   mode, owner, device, and for non-directories size, mtime or link target. A directory
//!   holding any change shows as changed, before the changes inside it.

use crate::idmap::IdMappings;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// The letter Podman prints: C, A or D.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One change; `path` is absolute inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

fn sorted_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir)? {
        names.push(e?.file_name());
    }
    names.sort();
    Ok(names)
}

fn join(rel: &str, name: &std::ffi::OsStr) -> String {
    let n = name.to_string_lossy();
    if rel == "/" {
        format!("/{n}")
    } else {
        format!("{rel}/{n}")
    }
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Go's `sameFsTime`: equal, or equal seconds when one side has no nanoseconds.
fn same_time(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    (a.mtime(), a.mtime_nsec()) == (b.mtime(), b.mtime_nsec())
        || (a.mtime() == b.mtime() && (a.mtime_nsec() == 0 || b.mtime_nsec() == 0))
}

pub(crate) fn overlay_changes(
    upper: &Path,
    lowers: &[std::path::PathBuf],
) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut changed_dirs = std::collections::HashSet::new();
    overlay_walk(upper, "/", lowers, &mut out, &mut changed_dirs)?;
    Ok(out)
}

fn overlay_walk(
    dir: &Path,
    rel: &str,
    lowers: &[std::path::PathBuf],
    out: &mut Vec<Change>,
    changed_dirs: &mut std::collections::HashSet<String>,
) -> io::Result<()> {
    for name in sorted_names(dir)? {
        let host = dir.join(&name);
        let path = join(rel, &name);
        let m = fs::symlink_metadata(&host)?;
        let inner = path.trim_start_matches('/');
        // The first layer below that has the path (a whiteout there hides it).
        let below = lowers
            .iter()
            .find_map(|l| fs::symlink_metadata(l.join(inner)).ok())
            .filter(|b| !is_whiteout(b));
        let opaque = m.is_dir()
            && xattr::get(&host, crate::apply::OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y");
        let kind = if is_whiteout(&m) || (opaque && below.is_some()) {
            Some(ChangeKind::Deleted)
        } else {
            match &below {
                None => Some(ChangeKind::Added),
                Some(b)
                    if b.is_dir()
                        && m.is_dir()
                        && b.size() == m.size()
                        && b.mode() == m.mode()
                        && same_time(b, &m) =>
                {
                    None
                }
                Some(_) => Some(ChangeKind::Modified),
            }
        };
        if let Some(kind) = kind {
            if m.is_dir() {
                changed_dirs.insert(path.clone());
            }
            if matches!(kind, ChangeKind::Added | ChangeKind::Deleted)
                && rel != "/"
                && changed_dirs.insert(rel.to_string())
            {
                out.push(Change {
                    kind: ChangeKind::Modified,
                    path: rel.to_string(),
                });
            }
            out.push(Change {
                kind,
                path: path.clone(),
            });
        }
        if m.is_dir() {
            overlay_walk(&host, &path, lowers, out, changed_dirs)?;
        }
    }
    Ok(())
}

/// With `maps`, `new`'s owners are host IDs of that user namespace.
pub(crate) fn tree_changes(
    new: &Path,
    old: Option<&Path>,
    maps: Option<&IdMappings>,
) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    tree_walk(new, old, "/", maps, &mut out)?;
    Ok(out)
}

fn differs(
    a: &fs::Metadata,
    b: &fs::Metadata,
    pa: &Path,
    pb: &Path,
    maps: Option<&IdMappings>,
) -> bool {
    let b_owner = maps.map_or((b.uid(), b.gid()), |m| m.to_container(b.uid(), b.gid()));
    if a.mode() != b.mode() || (a.uid(), a.gid()) != b_owner || a.rdev() != b.rdev() {
        return true;
    }
    if a.is_dir() {
        return false;
    }
    if !same_time(a, b) || a.size() != b.size() {
        return true;
    }
    a.file_type().is_symlink() && fs::read_link(pa).ok() != fs::read_link(pb).ok()
}

/// Compare `new` with `old` below `rel`; returns whether anything changed inside.
fn tree_walk(
    new: &Path,
    old: Option<&Path>,
    rel: &str,
    maps: Option<&IdMappings>,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let mut names = sorted_names(new)?;
    if let Some(o) = old {
        names.extend(sorted_names(o)?);
        names.sort();
        names.dedup();
    }
    for name in names {
        let path = join(rel, &name);
        let np = new.join(&name);
        let n = fs::symlink_metadata(&np).ok();
        let op = old.map(|o| o.join(&name));
        let o = op.as_ref().and_then(|p| fs::symlink_metadata(p).ok());
        match (n, o) {
            (None, None) => {}
            (None, Some(_)) => out.push(Change {
                kind: ChangeKind::Deleted,
                path,
            }),
            (Some(n), None) => {
                out.push(Change {
                    kind: ChangeKind::Added,
                    path: path.clone(),
                });
                if n.is_dir() {
                    tree_walk(&np, None, &path, maps, out)?;
                }
            }
            (Some(n), Some(o)) => {
                let at = out.len();
                let changed = differs(&o, &n, op.as_deref().unwrap_or(&np), &np, maps);
                if changed {
                    out.push(Change {
                        kind: ChangeKind::Modified,
                        path: path.clone(),
                    });
                }
                if n.is_dir() {
                    let below = if o.is_dir() { op.as_deref() } else { None };
                    tree_walk(&np, below, &path, maps, out)?;
                    if !changed && out.len() > at {
                        out.insert(
                            at,
                            Change {
                                kind: ChangeKind::Modified,
                                path,
                            },
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
