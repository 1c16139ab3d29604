//! Applying one layer tar stream to a directory.
//!
//! Path rules (the security boundary):
//! - A leading `/` is stripped (`/etc/x` == `etc/x`), `.` components are ignored, `..`
//!   is resolved lexically and an entry whose path climbs above the layer root is refused.
//!   The kernel never sees the raw tar path.
//! - Every parent component is opened with `openat(O_NOFOLLOW|O_DIRECTORY)` from the
//!   layer root; a parent that is a symlink (from this layer or, for vfs, the parent copy)
//!   is refused ("escapes the layer"). Missing parents are created (0755).
//! - A hardlink target must be a non-directory entry extracted earlier from this same
//!   tar; it is resolved the same way (no symlinks, no `..` out).
//! - Symlink targets are stored as given (absolute targets are normal); they are never
//!   followed by the applier.
//! - Entry paths longer than 4096 bytes are refused; `trusted.overlay.*` xattrs in the tar
//!   are ignored (they are the overlay driver's own metadata).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{self, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd;
use tar::EntryType;

use crate::digest::HashingReader;
use crate::fsutil::{
    self, kind_of, lstat_at, open_at, open_dir_at, set_meta_at, set_meta_fd, set_times_at,
    set_times_fd, Meta,
};
use crate::tarsplit;
use crate::{Driver, Result, StorageError};

const MAX_PATH: usize = 4096;
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What applying a stream produced: the diff id and uncompressed size of the whole stream.
pub(crate) struct Applied {
    pub diff_id: String,
    pub size: u64,
}

/// Apply the (plain or gzip) tar `reader` onto `dir`, which is an empty directory for the
/// overlay driver and a copy of the parent layer for vfs. With `split_dir` (the layer's
/// directory), the index that rebuilds the exact uncompressed tar is written there (see
/// the `tarsplit` module).
pub(crate) fn apply_stream<R: Read>(
    dir: &Path,
    driver: Driver,
    reader: R,
    split_dir: Option<&Path>,
) -> Result<Applied> {
    let decoded = decompress(reader)?;

    let split = match split_dir {
        Some(d) => {
            let index = d.join(tarsplit::TAR_SPLIT);
            let rec = tarsplit::Recorder::create(&index).map_err(|err| StorageError::Io {
                op: "creating",
                path: index,
                err,
            })?;
            Some((rec, d.join(tarsplit::STASH)))
        }
        None => None,
    };
    let decoded: Box<dyn Read> = match &split {
        Some((rec, _)) => Box::new(tarsplit::Tee::new(decoded, rec.clone())),
        None => decoded,
    };
    let mut hashing = HashingReader::new(decoded);
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let mut applier = Applier::new(dir, driver, split.clone())?;
        for entry in archive.entries().map_err(StorageError::Stream)? {
            let mut entry = entry.map_err(StorageError::Stream)?;
            applier.entry(&mut entry)?;
        }
        applier.finish();
    }
    let (diff_id, size) = hashing.finish().map_err(StorageError::Stream)?;
    if let (Some((rec, _)), Some(d)) = (&split, split_dir) {
        let hex = diff_id.strip_prefix("sha256:").unwrap_or(&diff_id);
        rec.borrow_mut()
            .finish(size, hex)
            .map_err(|err| StorageError::Io {
                op: "writing",
                path: d.join(tarsplit::TAR_SPLIT),
                err,
            })?;
    }
    Ok(Applied { diff_id, size })
}

/// The tar inside `reader`, which may be plain, gzip or zstd (detected by magic number).
pub(crate) fn decompress<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>> {
    let mut raw = BufReader::with_capacity(256 * 1024, reader);
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match raw.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StorageError::Stream(e)),
        }
    }
    let head = &magic[..n];
    let stream = Cursor::new(head.to_vec()).chain(raw);
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(stream))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(ZstdFrames::new(stream))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Err(StorageError::UnsupportedCompression("xz"));
    } else if head.starts_with(b"BZh") {
        return Err(StorageError::UnsupportedCompression("bzip2"));
    } else {
        Box::new(stream)
    })
}

/// How `cp` extracts into a live directory, unlike a layer: whiteout names are plain
/// names, xattrs are dropped, and the tar's root entry does not touch the destination.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopyRules {
    /// Owner of every extracted entry instead of the tar's.
    pub chown: Option<(u32, u32)>,
    /// Allow a directory to replace a non-directory and the other way round.
    pub overwrite: bool,
    /// The destination's user namespace: owners (the tar's or `chown`'s) are its IDs.
    pub idmap: Option<crate::IdMappings>,
}

/// Extract the (already decompressed) tar `reader` into the directory `dest` under `rules`.
pub(crate) fn extract_copy<R: Read>(dest: File, reader: R, rules: CopyRules) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut applier = Applier {
        root: dest,
        driver: Driver::Vfs,
        extracted: HashSet::new(),
        dir_times: Vec::new(),
        buf: vec![0; 128 * 1024],
        split: None,
        copy: Some(rules),
    };
    for entry in archive.entries().map_err(StorageError::Stream)? {
        let mut entry = entry.map_err(StorageError::Stream)?;
        applier.entry(&mut entry)?;
    }
    applier.finish();
    Ok(())
}

/// Header data of one entry, read before its contents.
struct EntryMeta {
    uid: u32,
    gid: u32,
    mode: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
    link: Option<Vec<u8>>,
}

impl EntryMeta {
    fn meta(&self) -> Meta<'_> {
        Meta {
            uid: self.uid,
            gid: self.gid,
            mode: self.mode,
            xattrs: &self.xattrs,
        }
    }
}

struct Applier {
    root: File,
    driver: Driver,
    /// Paths (relative to the layer root) created or merged by this tar, including parents
    /// created implicitly. Hardlink targets must be in here; a vfs opaque dir keeps them.
    extracted: HashSet<PathBuf>,
    /// Directory times are set at the end: adding entries changes a directory's mtime.
    dir_times: Vec<(Vec<OsString>, TimeSpec, TimeSpec)>,
    buf: Vec<u8>,
    /// The tar-split recorder and the stash directory for replaced contents.
    split: Option<(tarsplit::Shared, PathBuf)>,
    /// Extracting for `cp`, not applying a layer.
    copy: Option<CopyRules>,
}

impl Applier {
    fn new(dir: &Path, driver: Driver, split: Option<(tarsplit::Shared, PathBuf)>) -> Result<Self> {
        let root = fsutil::open_dir(dir).map_err(|err| StorageError::Io {
            op: "opening layer directory",
            path: dir.to_path_buf(),
            err,
        })?;
        Ok(Self {
            root,
            driver,
            extracted: HashSet::new(),
            dir_times: Vec::new(),
            buf: vec![0; 128 * 1024],
            split,
            copy: None,
        })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let mut kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let comps = normalize(&raw_path).map_err(|reason| refuse(&name, reason))?;
        // Old tars mark directories only by a trailing slash.
        if kind == EntryType::Regular && raw_path.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let mut meta = read_meta(entry, &name)?;
        if let Some(rules) = &self.copy {
            if let Some((uid, gid)) = rules.chown {
                meta.uid = uid;
                meta.gid = gid;
            }
            if let Some(m) = &rules.idmap {
                (meta.uid, meta.gid) = m.to_host(meta.uid, meta.gid);
            }
            meta.xattrs.clear();
        }

        let Some((last, parents)) = comps.split_last() else {
            if self.copy.is_some() {
                // `cp` never changes the destination directory itself.
                return Ok(());
            }
            // The layer root itself ("./").
            if kind != EntryType::Directory {
                return Err(refuse(&name, "the layer root must be a directory".into()));
            }
            let root = self
                .root
                .try_clone()
                .map_err(|e| entry_err(&name, "opening root", e))?;
            set_meta_fd(&root, &meta.meta())
                .map_err(|e| entry_err(&name, "setting metadata", e))?;
            self.dir_times.push((Vec::new(), meta.atime, meta.mtime));
            return Ok(());
        };

        let last_bytes = last.as_bytes();
        // In a copy, whiteout names are plain names.
        if self.copy.is_none() {
            if last_bytes == OPAQUE_MARKER {
                return self.opaque(parents, &name);
            }
            if last_bytes.starts_with(WHITEOUT_META_PREFIX) {
                // Other aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
                return Ok(());
            }
            if let Some(target) = last_bytes.strip_prefix(WHITEOUT_PREFIX) {
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(refuse(&name, "invalid whiteout name".into()));
                }
                return self.whiteout(parents, OsStr::from_bytes(target), &name);
            }
        }

        let rel: PathBuf = comps.iter().collect();
        let parent = self
            .walk(parents, true, &name)?
            .expect("walk with create always yields a directory");
        let p = parent.as_raw_fd();
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(p, last, &rel, false, &name)?;
                let mut f = open_at(
                    p,
                    last,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| entry_err(&name, "creating file", e.into()))?;
                if let (Some((rec, _)), false) = (&self.split, kind == EntryType::GNUSparse) {
                    rec.borrow_mut()
                        .content(entry.raw_file_position(), entry.size(), &rel);
                }
                copy_data(entry, &mut f, &mut self.buf).map_err(|e| match e {
                    CopyError::Read(e) => StorageError::Stream(e),
                    CopyError::Write(e) => entry_err(&name, "writing file", e),
                })?;
                set_meta_fd(&f, &meta.meta())
                    .map_err(|e| entry_err(&name, "setting metadata", e))?;
                set_times_fd(&f, &meta.atime, &meta.mtime)
                    .map_err(|e| entry_err(&name, "setting times", e))?;
            }
            EntryType::Directory => {
                if !self.clear(p, last, &rel, true, &name)? {
                    stat::mkdirat(Some(p), last.as_os_str(), Mode::from_bits_truncate(0o700))
                        .map_err(|e| entry_err(&name, "creating directory", e.into()))?;
                }
                let d = open_dir_at(p, last)
                    .map_err(|e| entry_err(&name, "opening directory", e.into()))?;
                set_meta_fd(&d, &meta.meta())
                    .map_err(|e| entry_err(&name, "setting metadata", e))?;
                self.dir_times.push((comps.clone(), meta.atime, meta.mtime));
            }
            EntryType::Symlink => {
                let target = meta
                    .link
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| refuse(&name, "symlink without a target".into()))?;
                self.clear(p, last, &rel, false, &name)?;
                unistd::symlinkat(OsStr::from_bytes(target), Some(p), last.as_os_str())
                    .map_err(|e| entry_err(&name, "creating symlink", e.into()))?;
                set_meta_at(p, last, true, &meta.meta())
                    .map_err(|e| entry_err(&name, "setting metadata", e))?;
                set_times_at(p, last, &meta.atime, &meta.mtime)
                    .map_err(|e| entry_err(&name, "setting times", e))?;
            }
            EntryType::Link => self.hardlink(p, last, &rel, meta.link.as_deref(), &name)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let h = entry.header();
                        let major = h
                            .device_major()
                            .map_err(|e| entry_err(&name, "reading header", e))?;
                        let minor = h
                            .device_minor()
                            .map_err(|e| entry_err(&name, "reading header", e))?;
                        let dev = stat::makedev(
                            u64::from(major.unwrap_or(0)),
                            u64::from(minor.unwrap_or(0)),
                        );
                        let sflag = if kind == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (sflag, dev)
                    }
                };
                self.clear(p, last, &rel, false, &name)?;
                stat::mknodat(
                    Some(p),
                    last.as_os_str(),
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    dev,
                )
                .map_err(|e| entry_err(&name, "creating device node", e.into()))?;
                if self.copy.is_some() {
                    // A live directory: the node may be swapped for a symlink under us, so
                    // its metadata is set through a descriptor, never by name.
                    set_node_meta(p, last, sflag, &meta.meta())
                        .map_err(|e| entry_err(&name, "setting metadata", e))?;
                } else {
                    set_meta_at(p, last, false, &meta.meta())
                        .map_err(|e| entry_err(&name, "setting metadata", e))?;
                }
                set_times_at(p, last, &meta.atime, &meta.mtime)
                    .map_err(|e| entry_err(&name, "setting times", e))?;
            }
            other => {
                return Err(refuse(
                    &name,
                    format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        self.extracted.insert(rel);
        Ok(())
    }

    /// Open the directory `comps` below the root, never through a symlink. With `create`,
    /// missing directories are made (0755); without, a missing one yields `None`.
    fn walk(&mut self, comps: &[OsString], create: bool, name: &str) -> Result<Option<File>> {
        let mut cur = self
            .root
            .try_clone()
            .map_err(|e| entry_err(name, "opening root", e))?;
        let mut rel = PathBuf::new();
        for comp in comps {
            rel.push(comp);
            let fd = cur.as_raw_fd();
            cur = match open_dir_at(fd, comp) {
                Ok(f) => f,
                Err(Errno::ENOENT) if create => {
                    stat::mkdirat(Some(fd), comp.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(|e| entry_err(name, "creating parent directory", e.into()))?;
                    let f = open_dir_at(fd, comp)
                        .map_err(|e| entry_err(name, "opening parent directory", e.into()))?;
                    stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(0o755))
                        .map_err(|e| entry_err(name, "creating parent directory", e.into()))?;
                    self.extracted.insert(rel.clone());
                    f
                }
                Err(Errno::ENOENT) => return Ok(None),
                Err(err) => {
                    return Err(match lstat_at(fd, comp) {
                        Ok(st) if kind_of(&st) == SFlag::S_IFLNK => refuse(
                            name,
                            format!("parent {} is a symlink: escapes the layer", rel.display()),
                        ),
                        Ok(_) => {
                            refuse(name, format!("parent {} is not a directory", rel.display()))
                        }
                        Err(_) => entry_err(name, "opening parent directory", err.into()),
                    });
                }
            };
        }
        Ok(Some(cur))
    }

    /// Make room for a new entry `last` in `dir`: remove what is there, except that an
    /// existing directory is kept (merged) when the new entry is a directory too.
    /// Returns whether a directory was kept.
    fn clear(
        &mut self,
        dir: RawFd,
        last: &OsStr,
        rel: &Path,
        want_dir: bool,
        name: &str,
    ) -> Result<bool> {
        match lstat_at(dir, last) {
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(entry_err(name, "inspecting existing entry", e.into())),
            Ok(st) if want_dir && kind_of(&st) == SFlag::S_IFDIR => Ok(true),
            Ok(st)
                if self.copy.as_ref().is_some_and(|r| !r.overwrite)
                    && (want_dir || kind_of(&st) == SFlag::S_IFDIR) =>
            {
                Err(refuse(name, overwrite_reason(want_dir)))
            }
            Ok(st) => {
                if !self.keep_recorded(dir, last, rel, kind_of(&st) == SFlag::S_IFDIR, name)? {
                    fsutil::remove_at(dir, last)
                        .map_err(|e| entry_err(name, "replacing existing entry", e))?;
                }
                Ok(false)
            }
        }
    }

    /// Before `rel` (`last` in `dir`) goes: a file whose content the tar-split index refers
    /// to is moved to the stash instead (returns true: it is gone from `dir`); a directory
    /// holding such files makes the index unusable.
    fn keep_recorded(
        &mut self,
        dir: RawFd,
        last: &OsStr,
        rel: &Path,
        is_dir: bool,
        name: &str,
    ) -> Result<bool> {
        let Some((rec, stash_dir)) = &self.split else {
            return Ok(false);
        };
        if is_dir {
            rec.borrow_mut().removing_dir(rel);
            return Ok(false);
        }
        let Some(n) = rec.borrow_mut().take_live(rel) else {
            return Ok(false);
        };
        tarsplit::stash(dir, last, stash_dir, n)
            .map_err(|e| entry_err(name, "keeping replaced file content", e))?;
        Ok(true)
    }

    fn hardlink(
        &mut self,
        dir: RawFd,
        last: &OsStr,
        rel: &Path,
        link: Option<&[u8]>,
        name: &str,
    ) -> Result<()> {
        let link = link
            .filter(|l| !l.is_empty())
            .ok_or_else(|| refuse(name, "hardlink without a target".into()))?;
        let target_name = String::from_utf8_lossy(link);
        let tcomps = normalize(link)
            .map_err(|reason| refuse(name, format!("hardlink target {target_name:?}: {reason}")))?;
        let target_rel: PathBuf = tcomps.iter().collect();
        let Some((tlast, tparents)) = tcomps.split_last() else {
            return Err(refuse(name, "hardlink to the layer root".into()));
        };
        if !self.extracted.contains(&target_rel) {
            return Err(refuse(
                name,
                format!("hardlink target {target_name:?} is not an earlier entry of this layer"),
            ));
        }
        if target_rel == rel {
            return Ok(());
        }
        let tdir = self.walk(tparents, false, name)?.ok_or_else(|| {
            refuse(
                name,
                format!("hardlink target {target_name:?} does not exist"),
            )
        })?;
        match lstat_at(tdir.as_raw_fd(), tlast) {
            Ok(st) if kind_of(&st) == SFlag::S_IFDIR => {
                return Err(refuse(
                    name,
                    format!("hardlink target {target_name:?} is a directory"),
                ));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(refuse(
                    name,
                    format!("hardlink target {target_name:?} does not exist"),
                ));
            }
        }
        self.clear(dir, last, rel, false, name)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        unistd::linkat(
            Some(tdir.as_raw_fd()),
            tlast.as_os_str(),
            Some(dir),
            last,
            AtFlags::empty(),
        )
        .map_err(|e| entry_err(name, "creating hardlink", e.into()))
    }

    /// `.wh.NAME`: overlay records a 0:0 character device, vfs deletes NAME.
    fn whiteout(&mut self, parents: &[OsString], target: &OsStr, name: &str) -> Result<()> {
        let mut rel: PathBuf = parents.iter().collect();
        rel.push(target);
        match self.driver {
            Driver::Overlay => {
                let dir = self.walk(parents, true, name)?.expect("walk with create");
                let p = dir.as_raw_fd();
                self.clear(p, target, &rel, false, name)?;
                stat::mknodat(
                    Some(p),
                    target,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    stat::makedev(0, 0),
                )
                .map_err(|e| entry_err(name, "creating whiteout", e.into()))?;
            }
            Driver::Vfs => {
                if let Some(dir) = self.walk(parents, false, name)? {
                    let d = dir.as_raw_fd();
                    let is_dir = lstat_at(d, target).is_ok_and(|st| kind_of(&st) == SFlag::S_IFDIR);
                    if !self.keep_recorded(d, target, &rel, is_dir, name)? {
                        fsutil::remove_at(d, target)
                            .map_err(|e| entry_err(name, "removing whited-out entry", e))?;
                    }
                }
            }
        }
        self.extracted.remove(&rel);
        Ok(())
    }

    /// `.wh..wh..opq` in D: overlay marks D opaque; vfs removes D's children that did not
    /// come from this layer.
    fn opaque(&mut self, parents: &[OsString], name: &str) -> Result<()> {
        let dir = self.walk(parents, true, name)?.expect("walk with create");
        match self.driver {
            Driver::Overlay => xattr::FileExt::set_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| entry_err(name, "marking directory opaque", e)),
            Driver::Vfs => {
                let rel: PathBuf = parents.iter().collect();
                self.remove_foreign_children(&dir, &rel)
                    .map_err(|e| entry_err(name, "clearing opaque directory", e))
            }
        }
    }

    fn remove_foreign_children(&self, dir: &File, rel: &Path) -> io::Result<()> {
        for child in fsutil::list_dir(dir)? {
            let child_rel = rel.join(&child);
            if !self.extracted.contains(&child_rel) {
                fsutil::remove_at(dir.as_raw_fd(), &child)?;
            } else if let Ok(sub) = open_dir_at(dir.as_raw_fd(), &child) {
                self.remove_foreign_children(&sub, &child_rel)?;
            }
        }
        Ok(())
    }

    /// Set the deferred directory times; a directory removed later in the tar is skipped.
    fn finish(&mut self) {
        let dir_times = std::mem::take(&mut self.dir_times);
        for (comps, atime, mtime) in dir_times {
            match comps.split_last() {
                None => {
                    let _ = set_times_fd(&self.root, &atime, &mtime);
                }
                Some((last, parents)) => {
                    if let Ok(Some(dir)) = self.walk(parents, false, "") {
                        if let Ok(st) = lstat_at(dir.as_raw_fd(), last) {
                            if kind_of(&st) == SFlag::S_IFDIR {
                                let _ = set_times_at(dir.as_raw_fd(), last, &atime, &mtime);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Why `cp` without `--overwrite` refuses to replace an entry.
pub(crate) fn overwrite_reason(new_is_dir: bool) -> String {
    if new_is_dir {
        "cannot overwrite a non-directory with a directory (use --overwrite)".into()
    } else {
        "cannot overwrite a directory with a non-directory (use --overwrite)".into()
    }
}

/// Owner and mode of the device node or fifo `name` in `dir`, through an `O_PATH` descriptor.
fn set_node_meta(dir: RawFd, name: &OsStr, kind: SFlag, m: &Meta<'_>) -> io::Result<()> {
    let f = open_at(dir, name, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty())?;
    let st = stat::fstat(f.as_raw_fd())?;
    if kind_of(&st) != kind {
        return Err(io::Error::other(
            "the new node was replaced while being created",
        ));
    }
    unistd::fchownat(
        Some(f.as_raw_fd()),
        "",
        Some(unistd::Uid::from_raw(m.uid)),
        Some(unistd::Gid::from_raw(m.gid)),
        AtFlags::AT_EMPTY_PATH,
    )?;
    // The magic link names exactly the node the descriptor holds.
    std::fs::set_permissions(
        format!("/proc/self/fd/{}", f.as_raw_fd()),
        std::os::unix::fs::PermissionsExt::from_mode(m.mode & 0o7777),
    )
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<EntryMeta> {
    let h = entry.header();
    let hdr = |e| entry_err(name, "reading header", e);
    let mode = h.mode().map_err(hdr)?;
    let uid = h.uid().map_err(hdr)?;
    let gid = h.gid().map_err(hdr)?;
    let mtime_secs = h.mtime().map_err(hdr)?;
    let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(u), Ok(g)) => (u, g),
        _ => return Err(refuse(name, format!("uid {uid} or gid {gid} out of range"))),
    };
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let mut mtime = TimeSpec::new(i64::try_from(mtime_secs).unwrap_or(i64::MAX), 0);
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(StorageError::Stream)? {
        for ext in exts {
            let ext = ext.map_err(StorageError::Stream)?;
            let key = ext.key_bytes();
            if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                if !xname.starts_with(b"trusted.overlay.") && !xname.is_empty() {
                    xattrs.push((
                        OsStr::from_bytes(xname).to_owned(),
                        ext.value_bytes().to_vec(),
                    ));
                }
            } else if key == b"mtime" {
                if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                    mtime = t;
                }
            } else if key == b"atime" {
                atime = ext.value().ok().and_then(parse_pax_time);
            }
        }
    }
    Ok(EntryMeta {
        uid,
        gid,
        mode,
        atime: atime.unwrap_or(mtime),
        mtime,
        xattrs,
        link,
    })
}

/// PAX times are decimal seconds with an optional fraction: "1700000000.123456789".
fn parse_pax_time(v: &str) -> Option<TimeSpec> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.as_bytes().get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    if secs < 0 {
        nanos = 0;
    }
    Some(TimeSpec::new(secs, nanos))
}

/// Split a tar path into safe components (see the module docs for the rules).
pub(crate) fn normalize(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    if raw.len() > MAX_PATH {
        return Err(format!("path longer than {MAX_PATH} bytes"));
    }
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let mut out: Vec<OsString> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer (\"..\" above the root)".into());
                }
            }
            c => out.push(OsStr::from_bytes(c).to_owned()),
        }
    }
    Ok(out)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_data<R: Read>(
    from: &mut R,
    to: &mut File,
    buf: &mut [u8],
) -> std::result::Result<(), CopyError> {
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

fn refuse(entry: &str, reason: String) -> StorageError {
    StorageError::UnsafeEntry {
        entry: entry.to_string(),
        reason,
    }
}

fn entry_err(entry: &str, op: &'static str, err: io::Error) -> StorageError {
    StorageError::Entry {
        entry: entry.to_string(),
        op,
        err,
    }
}

/// A zstd stream of one or more frames (skippable frames, as zstd:chunked writes them,
/// are passed over), decoded as it is read.
struct ZstdFrames<R: Read> {
    source: BufReader<R>,
    decoder: ruzstd::decoding::FrameDecoder,
    /// A frame is being decoded.
    in_frame: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames {
            source: BufReader::with_capacity(256 * 1024, source),
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        use std::io::BufRead;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while d.can_collect() == 0 && !d.is_finished() {
                    d.decode_blocks(
                        &mut self.source,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1),
                    )
                    .map_err(io::Error::other)?;
                }
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.init(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    io::copy(&mut (&mut self.source).take(length as u64), &mut io::sink())?;
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> std::result::Result<Vec<String>, String> {
        normalize(p.as_bytes()).map(|v| v.into_iter().map(|c| c.into_string().unwrap()).collect())
    }

    #[test]
    fn normalize_strips_root_and_dots() {
        assert_eq!(n("/etc/x").unwrap(), vec!["etc", "x"]);
        assert_eq!(n("./etc//x/").unwrap(), vec!["etc", "x"]);
        assert_eq!(n("a/../b").unwrap(), vec!["b"]);
        assert!(n("./").unwrap().is_empty());
    }

    #[test]
    fn normalize_refuses_escapes() {
        assert!(n("../etc/passwd").unwrap_err().contains("escapes"));
        assert!(n("a/../../x").is_err());
        assert!(n("/..").is_err());
        assert!(n(&"a/".repeat(3000)).is_err());
    }

    #[test]
    fn pax_time_parses_fractions() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (1_700_000_000, 500_000_000));
        assert_eq!(parse_pax_time("12").unwrap().tv_sec(), 12);
        assert!(parse_pax_time("x").is_none());
    }
}
