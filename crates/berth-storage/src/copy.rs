//! Copying in and out of a root file system (`cp`).
//!
//! Paths are resolved inside a root held open as a descriptor, one component at a time
//! with `openat(O_NOFOLLOW)`: a symlink is read and its target resolved again from the
//! root (absolute) or from where it sits (relative), and `..` never climbs above the root.
//! So a link to `/` inside a container leads to the container's `/`, never the host's,
//! whether the container runs (root = `/proc/PID/root`) or not (root = its mounted rootfs).
//!
//! A tar copied into a root is read twice: [`check_tar`] looks at every entry first and
//! refuses absolute paths, `..`, links that escape, writes through symlinks and
//! directory/non-directory replacements; only then does the applier (in its copy mode)
//! write anything. A refused tar leaves the destination untouched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use tar::EntryType;

use crate::apply::{self, CopyRules};
use crate::fsutil::{kind_of, list_dir, lstat_at, open_at, open_dir_at};
use crate::{Result, StorageError};

/// Symlinks followed while resolving one path, as the kernel's limit.
const MAX_HOPS: usize = 40;

/// A path resolved inside a root.
#[derive(Debug)]
pub struct Resolved {
    /// The directory holding the entry (the root itself for the root).
    pub parent: File,
    /// The entry's name in `parent`; `None` when the path is the root.
    pub name: Option<OsString>,
    /// The resolved path inside the root, absolute (`/` for the root).
    pub path: PathBuf,
    /// `lstat` of the entry; `None` when only the last component is missing.
    pub stat: Option<FileStat>,
}

impl Resolved {
    pub fn exists(&self) -> bool {
        self.stat.is_some()
    }

    pub fn is_dir(&self) -> bool {
        self.stat.is_some_and(|s| kind_of(&s) == SFlag::S_IFDIR)
    }

    /// The entry opened as a directory.
    pub fn open_dir(&self) -> io::Result<File> {
        match &self.name {
            None => self.parent.try_clone(),
            Some(n) => Ok(open_dir_at(self.parent.as_raw_fd(), n)?),
        }
    }
}

/// Open a directory by path as the root of a resolution (e.g. `/proc/PID/root`).
pub fn open_root(path: &Path) -> io::Result<File> {
    crate::fsutil::open_dir(path)
}

/// Resolve `path` inside `root` as if `root` were `/` (see the module docs). With
/// `follow_last`, a symlink in the last component is followed too. A missing last component
/// is not an error (`stat` is `None`); a missing or non-directory parent is.
pub fn resolve(root: &File, path: &str, follow_last: bool) -> io::Result<Resolved> {
    let mut stack: Vec<File> = vec![root.try_clone()?];
    let mut names: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = components(path.as_bytes());
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if names.pop().is_some() {
                stack.pop();
            }
            continue;
        }
        let cur = stack.last().expect("the root stays").as_raw_fd();
        let last = todo.is_empty();
        let here = |names: &[OsString], c: &OsStr| {
            let mut p = PathBuf::from("/");
            p.extend(names);
            p.push(c);
            p
        };
        match lstat_at(cur, &c) {
            Err(Errno::ENOENT) if last => {
                let path = here(&names, &c);
                return Ok(Resolved {
                    parent: stack.pop().expect("the root stays"),
                    name: Some(c),
                    path,
                    stat: None,
                });
            }
            Err(e) => return Err(e.into()),
            Ok(st) if kind_of(&st) == SFlag::S_IFLNK && (!last || follow_last) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(Errno::ELOOP.into());
                }
                let target = nix::fcntl::readlinkat(Some(cur), c.as_os_str())?;
                let t = target.as_bytes();
                if t.starts_with(b"/") {
                    stack.truncate(1);
                    names.clear();
                }
                for (i, comp) in components(t).into_iter().enumerate() {
                    todo.insert(i, comp);
                }
            }
            Ok(st) if last => {
                let path = here(&names, &c);
                return Ok(Resolved {
                    parent: stack.pop().expect("the root stays"),
                    name: Some(c),
                    path,
                    stat: Some(st),
                });
            }
            Ok(st) if kind_of(&st) == SFlag::S_IFDIR => {
                stack.push(open_dir_at(cur, &c)?);
                names.push(c);
            }
            Ok(_) => return Err(Errno::ENOTDIR.into()),
        }
    }
    // The path ended on a directory already entered ("/", "a/..", "a/.").
    match names.pop() {
        None => {
            let st = stat::fstat(root.as_raw_fd())?;
            Ok(Resolved {
                parent: stack.pop().expect("the root stays"),
                name: None,
                path: PathBuf::from("/"),
                stat: Some(st),
            })
        }
        Some(name) => {
            stack.pop();
            let parent = stack.pop().expect("the root stays");
            let st = lstat_at(parent.as_raw_fd(), &name)?;
            let mut path = PathBuf::from("/");
            path.extend(&names);
            path.push(&name);
            Ok(Resolved {
                parent,
                name: Some(name),
                path,
                stat: Some(st),
            })
        }
    }
}

fn components(p: &[u8]) -> VecDeque<OsString> {
    p.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_owned())
        .collect()
}

/// How [`write_tar`] writes entries.
#[derive(Debug, Clone, Default)]
pub struct TarOptions {
    /// Owner recorded for every entry instead of the files' own.
    pub chown: Option<(u32, u32)>,
    /// The source's user namespace: owners are written as its IDs.
    pub idmap: Option<crate::IdMappings>,
}

/// Write the entry `src` as a tar to `out`: named `top` (a directory with everything below
/// it as `top/...`), or, with `top` empty, a directory's contents only. Every file is opened
/// by descriptor below `src.parent`, never following a symlink; the tar is finished.
pub fn write_tar(
    src: &Resolved,
    top: &str,
    out: &mut dyn Write,
    opts: &TarOptions,
) -> io::Result<()> {
    let st = src.stat.ok_or_else(|| io::Error::from(Errno::ENOENT))?;
    let mut w = TarWriter {
        builder: tar::Builder::new(out),
        links: HashMap::new(),
        opts: opts.clone(),
    };
    if top.is_empty() {
        let dir = src.open_dir()?;
        w.children(&dir, Path::new(""))?;
    } else {
        match &src.name {
            None => {
                let dir = src.parent.try_clone()?;
                w.dir(&dir, &st, Path::new(top))?;
            }
            Some(n) => w.entry(src.parent.as_raw_fd(), n, &st, Path::new(top))?,
        }
    }
    w.builder.into_inner()?.flush()
}

struct TarWriter<'a> {
    builder: tar::Builder<&'a mut dyn Write>,
    /// (dev, ino) of files with several links -> the entry name written first.
    links: HashMap<(u64, u64), PathBuf>,
    opts: TarOptions,
}

impl TarWriter<'_> {
    fn header(&self, st: &FileStat, kind: EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = match (&self.opts.chown, &self.opts.idmap) {
            (Some(c), _) => *c,
            (None, Some(m)) => m.to_container(st.st_uid, st.st_gid),
            (None, None) => (st.st_uid, st.st_gid),
        };
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    fn entry(&mut self, dir: RawFd, name: &OsStr, st: &FileStat, path: &Path) -> io::Result<()> {
        let kind = kind_of(st);
        if kind == SFlag::S_IFDIR {
            let d = open_dir_at(dir, name)?;
            return self.dir(&d, st, path);
        }
        if kind == SFlag::S_IFLNK {
            let target = nix::fcntl::readlinkat(Some(dir), name)?;
            let mut h = self.header(st, EntryType::Symlink);
            return self.builder.append_link(&mut h, path, target);
        }
        if kind == SFlag::S_IFREG {
            let key = (st.st_dev, st.st_ino);
            if st.st_nlink > 1 {
                if let Some(first) = self.links.get(&key) {
                    let first = first.clone();
                    let mut h = self.header(st, EntryType::Link);
                    return self.builder.append_link(&mut h, path, first);
                }
                self.links.insert(key, path.to_path_buf());
            }
            let f = open_at(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )?;
            let st = stat::fstat(f.as_raw_fd())?;
            let size = u64::try_from(st.st_size).unwrap_or(0);
            let mut h = self.header(&st, EntryType::Regular);
            h.set_size(size);
            // A file that shrinks while it is read is padded: the tar stays well formed.
            let data = f.take(size).chain(io::repeat(0)).take(size);
            return self.builder.append_data(&mut h, path, data);
        }
        let etype = match kind {
            SFlag::S_IFCHR => EntryType::Char,
            SFlag::S_IFBLK => EntryType::Block,
            SFlag::S_IFIFO => EntryType::Fifo,
            _ => return Ok(()), // sockets are not copied
        };
        let mut h = self.header(st, etype);
        if etype != EntryType::Fifo {
            h.set_device_major(stat::major(st.st_rdev) as u32)?;
            h.set_device_minor(stat::minor(st.st_rdev) as u32)?;
        }
        self.builder.append_data(&mut h, path, io::empty())
    }

    fn dir(&mut self, d: &File, st: &FileStat, path: &Path) -> io::Result<()> {
        let mut h = self.header(st, EntryType::Directory);
        self.builder.append_data(&mut h, path, io::empty())?;
        self.children(d, path)
    }

    fn children(&mut self, d: &File, path: &Path) -> io::Result<()> {
        let mut names = list_dir(d)?;
        names.sort();
        for n in names {
            let st = match lstat_at(d.as_raw_fd(), &n) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue, // removed while we copy
                Err(e) => return Err(e.into()),
            };
            self.entry(d.as_raw_fd(), &n, &st, &path.join(&n))?;
        }
        Ok(())
    }
}

/// How [`extract_tar`] extracts.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Owner of every extracted entry instead of the tar's.
    pub chown: Option<(u32, u32)>,
    /// Allow a directory to replace a non-directory and the other way round.
    pub overwrite: bool,
    /// How deep the destination sits below the root that symlinks must stay in
    /// (`/tmp` -> 1); `None` when symlink targets need not be checked (a host directory).
    pub confine_depth: Option<usize>,
    /// The destination's user namespace: owners are its IDs, written as host IDs.
    pub idmap: Option<crate::IdMappings>,
}

/// Check the whole (plain, gzip or zstd) tar in `tar`, then extract it into `dest`.
/// A refused entry is an [`StorageError::CopyRefused`] and nothing is written.
pub fn extract_tar(dest: &File, tar: &mut File, opts: &ExtractOptions) -> Result<()> {
    tar.seek(io::SeekFrom::Start(0))
        .map_err(StorageError::Stream)?;
    check_tar(dest, apply::decompress(&mut *tar)?, opts)?;
    tar.seek(io::SeekFrom::Start(0))
        .map_err(StorageError::Stream)?;
    let rules = CopyRules {
        chown: opts.chown,
        overwrite: opts.overwrite,
        idmap: opts.idmap.clone(),
    };
    let dest = dest.try_clone().map_err(StorageError::Stream)?;
    apply::extract_copy(dest, apply::decompress(&mut *tar)?, rules).map_err(refused)
}

/// Extract a tar stream into `dest` in one pass (for a destination on the host, whose
/// source is berth's own tar writer): the applier's path rules still hold.
pub fn extract_stream(dest: &File, reader: impl Read, opts: &ExtractOptions) -> Result<()> {
    let rules = CopyRules {
        chown: opts.chown,
        overwrite: opts.overwrite,
        idmap: opts.idmap.clone(),
    };
    let dest = dest.try_clone().map_err(StorageError::Stream)?;
    apply::extract_copy(dest, apply::decompress(reader)?, rules).map_err(refused)
}

fn refused(e: StorageError) -> StorageError {
    match e {
        StorageError::UnsafeEntry { entry, reason } => StorageError::CopyRefused { entry, reason },
        other => other,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

/// The first pass of [`extract_tar`]: every entry checked against the tar so far and
/// against what `dest` holds.
pub fn check_tar(dest: &File, reader: impl Read, opts: &ExtractOptions) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut seen: HashMap<PathBuf, Kind> = HashMap::new();
    let mut files: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(StorageError::Stream)? {
        let entry = entry.map_err(StorageError::Stream)?;
        let mut kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason: String| StorageError::CopyRefused {
            entry: name.clone(),
            reason,
        };
        if raw.starts_with(b"/") {
            return Err(refuse(
                "absolute paths are not allowed in a copied tar".into(),
            ));
        }
        if raw.split(|b| *b == b'/').any(|c| c == b"..") {
            return Err(refuse("\"..\" is not allowed in a copied tar".into()));
        }
        let comps = apply::normalize(&raw).map_err(&refuse)?;
        if kind == EntryType::Regular && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let this = match kind {
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::GNUSparse
            | EntryType::Link
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo => Kind::Other,
            other => return Err(refuse(format!("unsupported tar entry type {other:?}"))),
        };
        let Some((_, parents)) = comps.split_last() else {
            if this != Kind::Dir {
                return Err(refuse("the top of a copied tar must be a directory".into()));
            }
            continue;
        };
        let rel: PathBuf = comps.iter().collect();
        // Every parent must be a directory: one of this tar's, or one already there.
        let mut p = PathBuf::new();
        for (i, c) in parents.iter().enumerate() {
            p.push(c);
            match seen.get(&p) {
                Some(Kind::Dir) => {}
                Some(Kind::Symlink) => {
                    return Err(refuse(format!(
                        "parent {} is a symlink in the tar: writing through it could escape",
                        p.display()
                    )))
                }
                Some(Kind::Other) => {
                    return Err(refuse(format!("parent {} is not a directory", p.display())))
                }
                None => match existing(dest, &comps[..=i]) {
                    None | Some(SFlag::S_IFDIR) => {}
                    Some(SFlag::S_IFLNK) => {
                        return Err(refuse(format!(
                            "parent {} is a symlink in the destination: writing through it could escape",
                            p.display()
                        )))
                    }
                    Some(_) => {
                        return Err(refuse(format!("parent {} is not a directory", p.display())))
                    }
                },
            }
        }
        if !seen.contains_key(&rel) && !opts.overwrite {
            if let Some(k) = existing(dest, &comps) {
                let is_dir = k == SFlag::S_IFDIR;
                if is_dir != (this == Kind::Dir) {
                    return Err(refuse(apply::overwrite_reason(this == Kind::Dir)));
                }
            }
        }
        match kind {
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| refuse("symlink without a target".into()))?;
                if let Some(depth) = opts.confine_depth {
                    if !target.starts_with(b"/") {
                        let mut level = (depth + parents.len()) as isize;
                        for c in target.split(|b| *b == b'/') {
                            match c {
                                b"" | b"." => {}
                                b".." => level -= 1,
                                _ => level += 1,
                            }
                            if level < 0 {
                                return Err(refuse(format!(
                                    "symlink target {:?} escapes the container's root",
                                    String::from_utf8_lossy(&target)
                                )));
                            }
                        }
                    }
                }
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| refuse("hardlink without a target".into()))?;
                let shown = String::from_utf8_lossy(&target).into_owned();
                if target.starts_with(b"/") || target.split(|b| *b == b'/').any(|c| c == b"..") {
                    return Err(refuse(format!(
                        "hardlink target {shown:?} escapes the copy"
                    )));
                }
                let t: PathBuf = apply::normalize(&target).map_err(&refuse)?.iter().collect();
                if !files.contains(&t) {
                    return Err(refuse(format!(
                        "hardlink target {shown:?} is not an earlier file of this tar"
                    )));
                }
            }
            _ => {}
        }
        if this == Kind::Other {
            files.insert(rel.clone());
        } else {
            files.remove(&rel);
        }
        seen.insert(rel, this);
    }
    Ok(())
}

/// The type of what `comps` names below `dest` now, if anything (never following a link).
fn existing(dest: &File, comps: &[OsString]) -> Option<SFlag> {
    let (last, parents) = comps.split_last()?;
    let mut cur = dest.try_clone().ok()?;
    for c in parents {
        cur = open_dir_at(cur.as_raw_fd(), c).ok()?;
    }
    lstat_at(cur.as_raw_fd(), last).ok().map(|st| kind_of(&st))
}

/// An unnamed temporary file in `dir` (gone when closed), to hold a tar between passes.
pub fn temp_file(dir: &Path) -> io::Result<File> {
    let flags = libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path; the result is checked below.
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o600) };
    if fd >= 0 {
        // SAFETY: `open` just returned this descriptor and nothing else owns it.
        return Ok(unsafe { File::from_raw_fd(fd) });
    }
    // No O_TMPFILE on this file system: a named file, removed at once.
    let p = dir.join(crate::fsutil::temp_name());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)?;
    std::fs::remove_file(&p)?;
    Ok(f)
}
