//! A container's changes as a layer tar (`commit`).
//!
//! The tar uses the same whiteout convention the applier reads (see `apply`):
//! - overlay: the upper directory is the diff. A whiteout (a character device 0/0)
//!   becomes an empty `.wh.NAME` entry; a directory marked `trusted.overlay.opaque=y`
//!   is followed by a `.wh..wh..opq` entry; `trusted.overlay.*` xattrs are left out.
//! - vfs: the container's full copy is compared with the image's top layer (type, mode,
//!   owner, size, mtime, device number, symlink target); added and changed entries are
//!   written with their parent directories, deleted ones as `.wh.NAME`.
//! - squash: the whole root file system, without whiteouts.
//!
//! Every walk opens directories with `O_NOFOLLOW` from the root, never following a
//! symlink the container made.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{self, FileStat, Mode, SFlag};

use crate::apply::OVERLAY_OPAQUE_XATTR;
use crate::fsutil::{self, kind_of, list_dir, lstat_at, open_at, open_dir_at, proc_path};
use crate::idmap::IdMappings;

const OPAQUE_MARKER: &str = ".wh..wh..opq";
const WHITEOUT_PREFIX: &str = ".wh.";

/// How a tree is turned into tar entries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// An overlay upper directory: convert whiteouts and opaque directories.
    OverlayUpper,
    /// A whole tree, as it is.
    Full,
}

/// Writes `root` (see [`Walk`]) as a layer tar to `out`.
/// With `maps`, owners are host IDs of a user namespace and written as its IDs.
pub(crate) fn write_tree<W: Write>(
    root: &Path,
    walk: Walk,
    maps: Option<&IdMappings>,
    out: W,
) -> io::Result<W> {
    let dir = fsutil::open_dir(root)?;
    let mut w = LayerWriter::new(out, maps);
    w.tree(&dir, Path::new(""), walk)?;
    w.finish()
}

/// Writes the difference between `new` (the container's copy) and `old` (the image's
/// top layer, a full tree; None for an image without layers) as a layer tar to `out`.
/// `maps` as for [`write_tree`], for `new`'s owners.
pub(crate) fn write_changes<W: Write>(
    new: &Path,
    old: Option<&Path>,
    maps: Option<&IdMappings>,
    out: W,
) -> io::Result<W> {
    let new_dir = fsutil::open_dir(new)?;
    let mut w = LayerWriter::new(out, maps);
    match old {
        Some(old) => {
            let old_dir = fsutil::open_dir(old)?;
            w.compare(&new_dir, &old_dir, Path::new(""))?;
        }
        None => w.tree(&new_dir, Path::new(""), Walk::Full)?,
    }
    w.finish()
}

/// A directory whose entry is written only once something inside it changed.
struct Pending {
    parent: File,
    name: OsString,
    rel: PathBuf,
    st: FileStat,
}

struct LayerWriter<W: Write> {
    tar: tar::Builder<W>,
    /// (dev, ino) of multiply-linked files written -> their path in the tar.
    links: HashMap<(u64, u64), PathBuf>,
    /// vfs: unchanged directories above the current position, outermost first.
    pending: Vec<Pending>,
    /// The container's user namespace: owners on disk are its host IDs.
    maps: Option<IdMappings>,
}

impl<W: Write> LayerWriter<W> {
    fn new(out: W, maps: Option<&IdMappings>) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Self {
            tar,
            links: HashMap::new(),
            pending: Vec::new(),
            maps: maps.cloned(),
        }
    }

    /// `st` with its owner as the container sees it.
    fn seen(&self, st: &FileStat) -> FileStat {
        let mut st = *st;
        if let Some(m) = &self.maps {
            (st.st_uid, st.st_gid) = m.to_container(st.st_uid, st.st_gid);
        }
        st
    }

    fn finish(mut self) -> io::Result<W> {
        self.tar.finish()?;
        self.tar.into_inner()
    }

    fn tree(&mut self, dir: &File, rel: &Path, walk: Walk) -> io::Result<()> {
        let d = dir.as_raw_fd();
        for name in sorted(list_dir(dir)?) {
            let st = self.seen(&lstat_at(d, &name)?);
            let child = rel.join(&name);
            let kind = kind_of(&st);
            if walk == Walk::OverlayUpper && kind == SFlag::S_IFCHR && st.st_rdev == 0 {
                self.whiteout(rel, &name, &st)?;
                continue;
            }
            self.entry(d, &name, &child, &st)?;
            if kind == SFlag::S_IFDIR {
                let sub = open_dir_at(d, &name)?;
                if walk == Walk::OverlayUpper && is_opaque(d, &name) {
                    self.marker(&child, &st)?;
                }
                self.tree(&sub, &child, walk)?;
            }
        }
        Ok(())
    }

    fn compare(&mut self, new: &File, old: &File, rel: &Path) -> io::Result<()> {
        let (n, o) = (new.as_raw_fd(), old.as_raw_fd());
        let new_names: BTreeSet<OsString> = list_dir(new)?.into_iter().collect();
        let old_names: BTreeSet<OsString> = list_dir(old)?.into_iter().collect();
        for name in new_names.union(&old_names) {
            let child = rel.join(name);
            if !new_names.contains(name) {
                self.flush()?;
                let parent = stat::fstat(n)?;
                self.whiteout(rel, name, &parent)?;
                continue;
            }
            let st = self.seen(&lstat_at(n, name)?);
            let kind = kind_of(&st);
            let before = if old_names.contains(name) {
                Some(lstat_at(o, name)?)
            } else {
                None
            };
            match before {
                Some(b) if kind_of(&b) == SFlag::S_IFDIR && kind == SFlag::S_IFDIR => {
                    let depth = self.pending.len();
                    if same_meta(&b, &st) {
                        self.pending.push(Pending {
                            parent: new.try_clone()?,
                            name: name.clone(),
                            rel: child.clone(),
                            st,
                        });
                    } else {
                        self.flush()?;
                        self.entry(n, name, &child, &st)?;
                    }
                    let (sub_new, sub_old) = (open_dir_at(n, name)?, open_dir_at(o, name)?);
                    self.compare(&sub_new, &sub_old, &child)?;
                    self.pending.truncate(depth);
                }
                Some(b)
                    if kind_of(&b) == kind
                        && same_meta(&b, &st)
                        && same_content(o, n, name, &b, &st)? => {}
                _ => {
                    self.flush()?;
                    self.entry(n, name, &child, &st)?;
                    if kind == SFlag::S_IFDIR {
                        let sub = open_dir_at(n, name)?;
                        self.tree(&sub, &child, Walk::Full)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the entries of the unchanged directories above a change.
    fn flush(&mut self) -> io::Result<()> {
        for p in std::mem::take(&mut self.pending) {
            self.entry(p.parent.as_raw_fd(), &p.name, &p.rel, &p.st)?;
        }
        Ok(())
    }

    /// One file, directory, link or device node `name` in `dir`, at `rel` in the tar.
    fn entry(&mut self, dir: RawFd, name: &OsStr, rel: &Path, st: &FileStat) -> io::Result<()> {
        let kind = kind_of(st);
        if kind == SFlag::S_IFSOCK {
            return Ok(()); // sockets are not content, as in Podman's layers
        }
        let mut h = header(st);
        let xattrs = content_xattrs(dir, name);
        let pax: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter_map(|(k, v)| Some((format!("SCHILY.xattr.{}", k.to_str()?), v.as_slice())))
            .collect();
        if !pax.is_empty() {
            self.tar
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        match kind {
            SFlag::S_IFDIR => {
                h.set_entry_type(tar::EntryType::Directory);
                self.tar.append_data(&mut h, rel, io::empty())
            }
            SFlag::S_IFREG => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        let first = first.clone();
                        return self.tar.append_link(&mut h, rel, first);
                    }
                    self.links.insert(key, rel.to_path_buf());
                }
                let f = open_at(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                // A file that changes size while it is read (an unpaused container) still
                // gives exactly the size the header promised.
                let data = f.take(size).chain(io::repeat(0)).take(size);
                self.tar.append_data(&mut h, rel, data)
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(dir), name)?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.tar.append_link(&mut h, rel, target)
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                h.set_entry_type(match kind {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if kind != SFlag::S_IFIFO {
                    let major = u32::try_from(stat::major(st.st_rdev)).unwrap_or(0);
                    let minor = u32::try_from(stat::minor(st.st_rdev)).unwrap_or(0);
                    h.set_device_major(major)?;
                    h.set_device_minor(minor)?;
                }
                self.tar.append_data(&mut h, rel, io::empty())
            }
            _ => Ok(()),
        }
    }

    /// `.wh.NAME` in the directory `rel`: NAME was deleted.
    fn whiteout(&mut self, rel: &Path, name: &OsStr, st: &FileStat) -> io::Result<()> {
        let mut wh = OsString::from(WHITEOUT_PREFIX);
        wh.push(name);
        let mut h = header(st);
        h.set_mode(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        self.tar.append_data(&mut h, rel.join(wh), io::empty())
    }

    /// `.wh..wh..opq` in the directory `rel`: it hides what the layers below hold there.
    fn marker(&mut self, rel: &Path, st: &FileStat) -> io::Result<()> {
        let mut h = header(st);
        h.set_mode(st.st_mode & 0o777);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        self.tar
            .append_data(&mut h, rel.join(OPAQUE_MARKER), io::empty())
    }
}

fn sorted(mut names: Vec<OsString>) -> Vec<OsString> {
    names.sort();
    names
}

/// A header with the owner, permission bits and mtime of `st`.
fn header(st: &FileStat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

/// The xattrs a layer carries: file capabilities and user xattrs (as Podman's layers).
fn content_xattrs(dir: RawFd, name: &OsStr) -> Vec<(OsString, Vec<u8>)> {
    let path = proc_path(dir, name);
    let Ok(names) = xattr::list(&path) else {
        return Vec::new();
    };
    let mut out: Vec<(OsString, Vec<u8>)> = names
        .filter(|n| {
            let b = n.as_bytes();
            b == b"security.capability" || b.starts_with(b"user.")
        })
        .filter_map(|n| {
            let v = xattr::get(&path, &n).ok().flatten()?;
            Some((n, v))
        })
        .collect();
    out.sort();
    out
}

fn is_opaque(dir: RawFd, name: &OsStr) -> bool {
    matches!(
        xattr::get(proc_path(dir, name), OVERLAY_OPAQUE_XATTR),
        Ok(Some(v)) if v == b"y"
    )
}

/// Type, permissions, owner, device number, size and mtime (a directory's size and
/// mtime change with its entries: they are not compared).
fn same_meta(a: &FileStat, b: &FileStat) -> bool {
    let basic = a.st_mode == b.st_mode
        && a.st_uid == b.st_uid
        && a.st_gid == b.st_gid
        && a.st_rdev == b.st_rdev;
    if kind_of(a) == SFlag::S_IFDIR {
        return basic;
    }
    basic
        && a.st_size == b.st_size
        && a.st_mtime == b.st_mtime
        && a.st_mtime_nsec == b.st_mtime_nsec
}

/// Symlink targets; other entries with the same metadata count as unchanged (as Podman
/// and Docker compare: by size and mtime, not by reading both files).
fn same_content(
    old: RawFd,
    new: RawFd,
    name: &OsStr,
    a: &FileStat,
    _b: &FileStat,
) -> io::Result<bool> {
    if kind_of(a) != SFlag::S_IFLNK {
        return Ok(true);
    }
    Ok(nix::fcntl::readlinkat(Some(old), name)? == nix::fcntl::readlinkat(Some(new), name)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-diff-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// (path, type, link target) of each entry.
    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn overlay_whiteouts_become_tar_whiteouts() {
        let upper = scratch("upper");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/new"), "n").unwrap();
        stat::mknod(
            &upper.join("etc/gone"),
            SFlag::S_IFCHR,
            Mode::empty(),
            stat::makedev(0, 0),
        )
        .unwrap();
        fs::create_dir_all(upper.join("opq")).unwrap();
        fs::write(upper.join("opq/only"), "o").unwrap();
        xattr::set(upper.join("opq"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
        fs::hard_link(upper.join("etc/new"), upper.join("etc/same")).unwrap();
        let tar = write_tree(&upper, Walk::OverlayUpper, None, Vec::new()).unwrap();
        let got = entries(&tar);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc",
                "etc/.wh.gone",
                "etc/new",
                "etc/same",
                "opq",
                "opq/.wh..wh..opq",
                "opq/only"
            ]
        );
        assert_eq!(got[1].1, tar::EntryType::Regular);
        assert_eq!(got[3].1, tar::EntryType::Link);
        assert_eq!(got[3].2, "etc/new");
        fs::remove_dir_all(&upper).unwrap();
    }

    #[test]
    fn vfs_changes_against_the_image() {
        let old = scratch("old");
        let new = scratch("new");
        for d in [&old, &new] {
            fs::create_dir_all(d.join("a/b")).unwrap();
            fs::write(d.join("a/b/same"), "s").unwrap();
            fs::write(d.join("a/keep"), "k").unwrap();
            fs::write(d.join("top"), "t").unwrap();
            std::os::unix::fs::symlink("top", d.join("link")).unwrap();
        }
        // Same metadata as the image's copy, as vfs copies keep it.
        for f in ["a/b/same", "a/keep", "top"] {
            let t = filetime_of(&old.join(f));
            set_mtime(&new.join(f), t);
        }
        fs::remove_file(new.join("a/keep")).unwrap();
        fs::write(new.join("a/b/added"), "x").unwrap();
        fs::write(new.join("top"), "changed!").unwrap();
        fs::remove_file(new.join("link")).unwrap();
        std::os::unix::fs::symlink("elsewhere", new.join("link")).unwrap();
        let tar = write_changes(&new, Some(&old), None, Vec::new()).unwrap();
        let names: Vec<String> = entries(&tar).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            ["a", "a/b", "a/b/added", "a/.wh.keep", "link", "top"]
        );
        fs::remove_dir_all(&old).unwrap();
        fs::remove_dir_all(&new).unwrap();
    }

    fn filetime_of(p: &Path) -> (i64, i64) {
        let st = stat::lstat(p).unwrap();
        (st.st_mtime, st.st_mtime_nsec)
    }

    fn set_mtime(p: &Path, (s, ns): (i64, i64)) {
        let t = nix::sys::time::TimeSpec::new(s, ns);
        stat::utimensat(None, p, &t, &t, stat::UtimensatFlags::NoFollowSymlink).unwrap();
    }
}
