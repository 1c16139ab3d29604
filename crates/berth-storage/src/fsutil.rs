//! Descriptor-based file system helpers: every walk below the layer root goes through
//! `openat(O_NOFOLLOW)` so that no symlink is ever followed inside a layer.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{self, FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid};

/// `openat` relative to `dir`, always with `O_CLOEXEC`; the result owns the descriptor.
pub(crate) fn open_at(dir: RawFd, name: &OsStr, flags: OFlag, mode: Mode) -> nix::Result<File> {
    let fd = nix::fcntl::openat(Some(dir), name, flags | OFlag::O_CLOEXEC, mode)?;
    // SAFETY: `openat` just returned this descriptor; nothing else owns or closes it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Open the directory `name` inside `dir` without following a symlink in its place.
pub(crate) fn open_dir_at(dir: RawFd, name: &OsStr) -> nix::Result<File> {
    open_at(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
}

/// Open a directory by path (a path berth built itself, e.g. a layer's `diff`).
pub(crate) fn open_dir(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

pub(crate) fn lstat_at(dir: RawFd, name: &OsStr) -> nix::Result<FileStat> {
    stat::fstatat(Some(dir), name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// The file type bits of a stat result.
pub(crate) fn kind_of(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// A path naming `name` inside the directory open as `dir`; `/proc/self/fd/N` is resolved by
/// the kernel to that very directory, and path-based calls that do not follow the last
/// component (`lsetxattr`, `remove_dir_all`) then act on exactly that entry.
pub(crate) fn proc_path(dir: RawFd, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{dir}"));
    p.push(name);
    p
}

/// Remove whatever `name` is inside `dir` (a whole tree for a directory). Missing is fine.
pub(crate) fn remove_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    match lstat_at(dir, name) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) if kind_of(&st) == SFlag::S_IFDIR => {
            // std's remove_dir_all never follows symlinks inside the tree.
            match fs::remove_dir_all(proc_path(dir, name)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
        Ok(_) => match unistd::unlinkat(Some(dir), name, unistd::UnlinkatFlags::NoRemoveDir) {
            Err(Errno::ENOENT) => Ok(()),
            other => other.map_err(io::Error::from),
        },
    }
}

/// Names in a directory, without `.` and `..`.
pub(crate) fn list_dir(dir: &File) -> io::Result<Vec<OsString>> {
    let fd = open_at(
        dir.as_raw_fd(),
        OsStr::new("."),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from(fd)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    Ok(names)
}

pub(crate) fn timespec(sec: i64, nsec: i64) -> TimeSpec {
    TimeSpec::new(sec, nsec)
}

/// Ownership, mode, xattrs and times, for something open as a file or directory.
pub(crate) struct Meta<'a> {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub xattrs: &'a [(OsString, Vec<u8>)],
}

/// chown, then chmod (chown clears setuid bits), then xattrs (chown clears
/// security.capability). Times are set by the caller, last.
pub(crate) fn set_meta_fd(f: &File, m: &Meta<'_>) -> io::Result<()> {
    unistd::fchown(
        f.as_raw_fd(),
        Some(Uid::from_raw(m.uid)),
        Some(Gid::from_raw(m.gid)),
    )?;
    stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(m.mode & 0o7777))?;
    for (name, value) in m.xattrs {
        ignore_unsupported(xattr::FileExt::set_xattr(f, name, value))?;
    }
    Ok(())
}

/// The same for an entry that cannot be opened (symlink, device, fifo): by name, never
/// following the final component. `chmod` is skipped for symlinks.
pub(crate) fn set_meta_at(
    dir: RawFd,
    name: &OsStr,
    is_symlink: bool,
    m: &Meta<'_>,
) -> io::Result<()> {
    unistd::fchownat(
        Some(dir),
        name,
        Some(Uid::from_raw(m.uid)),
        Some(Gid::from_raw(m.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if !is_symlink {
        // The node was just created by us inside our private temp dir, so it is not a symlink.
        stat::fchmodat(
            Some(dir),
            name,
            Mode::from_bits_truncate(m.mode & 0o7777),
            FchmodatFlags::FollowSymlink,
        )?;
    }
    if !m.xattrs.is_empty() {
        let p = proc_path(dir, name);
        for (xname, value) in m.xattrs {
            ignore_unsupported(xattr::set(&p, xname, value))?;
        }
    }
    Ok(())
}

pub(crate) fn set_times_at(
    dir: RawFd,
    name: &OsStr,
    atime: &TimeSpec,
    mtime: &TimeSpec,
) -> io::Result<()> {
    stat::utimensat(
        Some(dir),
        name,
        atime,
        mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

pub(crate) fn set_times_fd(f: &File, atime: &TimeSpec, mtime: &TimeSpec) -> io::Result<()> {
    stat::futimens(f.as_raw_fd(), atime, mtime)?;
    Ok(())
}

fn ignore_unsupported(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        other => other,
    }
}

/// Copy the contents of `src` into the existing empty directory `dst`, preserving owner,
/// mode, times, xattrs, symlinks, device nodes and hardlinks; `dst` gets `src`'s metadata.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let s = open_dir(src)?;
    let d = open_dir(dst)?;
    let mut copier = TreeCopier {
        dst_root: d.try_clone()?,
        links: HashMap::new(),
    };
    copier.copy_dir(&s, &d, Path::new(""))?;
    let st = stat::fstat(s.as_raw_fd())?;
    copy_meta_fd(&s, &d, &st)
}

struct TreeCopier {
    dst_root: File,
    /// (dev, ino) of multiply-linked sources -> path of the first copy, relative to dst root.
    links: HashMap<(u64, u64), PathBuf>,
}

impl TreeCopier {
    fn copy_dir(&mut self, src: &File, dst: &File, rel: &Path) -> io::Result<()> {
        let (s, d) = (src.as_raw_fd(), dst.as_raw_fd());
        for name in list_dir(src)? {
            let name = name.as_os_str();
            let st = lstat_at(s, name)?;
            let kind = kind_of(&st);
            let child_rel = rel.join(name);
            if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = self.links.get(&key) {
                    unistd::linkat(
                        Some(self.dst_root.as_raw_fd()),
                        first.as_os_str(),
                        Some(d),
                        name,
                        AtFlags::empty(),
                    )?;
                    continue;
                }
                self.links.insert(key, child_rel.clone());
            }
            let (atime, mtime) = times_of(&st);
            match kind {
                SFlag::S_IFDIR => {
                    stat::mkdirat(Some(d), name, Mode::from_bits_truncate(0o700))?;
                    let sub_src = open_dir_at(s, name)?;
                    let sub_dst = open_dir_at(d, name)?;
                    self.copy_dir(&sub_src, &sub_dst, &child_rel)?;
                    copy_meta_fd(&sub_src, &sub_dst, &st)?;
                }
                SFlag::S_IFREG => {
                    let mut from =
                        open_at(s, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty())?;
                    let mut to = open_at(
                        d,
                        name,
                        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                        Mode::from_bits_truncate(0o600),
                    )?;
                    io::copy(&mut from, &mut to)?;
                    copy_meta_fd(&from, &to, &st)?;
                }
                SFlag::S_IFLNK => {
                    let target = nix::fcntl::readlinkat(Some(s), name)?;
                    unistd::symlinkat(target.as_os_str(), Some(d), name)?;
                    let xattrs = read_xattrs_path(&proc_path(s, name))?;
                    set_meta_at(d, name, true, &meta_of(&st, &xattrs))?;
                    set_times_at(d, name, &atime, &mtime)?;
                }
                _ => {
                    stat::mknodat(
                        Some(d),
                        name,
                        kind,
                        Mode::from_bits_truncate(0o600),
                        st.st_rdev,
                    )?;
                    let xattrs = read_xattrs_path(&proc_path(s, name))?;
                    set_meta_at(d, name, false, &meta_of(&st, &xattrs))?;
                    set_times_at(d, name, &atime, &mtime)?;
                }
            }
        }
        Ok(())
    }
}

fn times_of(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        timespec(st.st_atime, st.st_atime_nsec),
        timespec(st.st_mtime, st.st_mtime_nsec),
    )
}

fn meta_of<'a>(st: &FileStat, xattrs: &'a [(OsString, Vec<u8>)]) -> Meta<'a> {
    Meta {
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode,
        xattrs,
    }
}

fn copy_meta_fd(src: &File, dst: &File, st: &FileStat) -> io::Result<()> {
    let mut xattrs = Vec::new();
    for name in ignore_unsupported_list(xattr::FileExt::list_xattr(src))? {
        if let Some(v) = xattr::FileExt::get_xattr(src, &name)? {
            xattrs.push((name, v));
        }
    }
    set_meta_fd(dst, &meta_of(st, &xattrs))?;
    let (atime, mtime) = times_of(st);
    set_times_fd(dst, &atime, &mtime)
}

fn read_xattrs_path(p: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in ignore_unsupported_list(xattr::list(p))? {
        if let Some(v) = xattr::get(p, &name)? {
            out.push((name, v));
        }
    }
    Ok(out)
}

fn ignore_unsupported_list(r: io::Result<xattr::XAttrs>) -> io::Result<Vec<OsString>> {
    match r {
        Ok(list) => Ok(list.collect()),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A fresh name for a temp dir: `<pid>-<random>`, so stale ones of dead processes can be found.
pub(crate) fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{n}",
        std::process::id(),
        random_base32(10).to_lowercase()
    )
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 encoding of `bytes`' first `len * 5` bits (upper case, no padding).
pub(crate) fn base32(bytes: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < len {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

fn random_base32(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    let read = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: time and counter still make the name unique enough for a temp dir.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (8 * (i % 16))) as u8;
        }
    }
    bytes
        .iter()
        .map(|b| BASE32[usize::from(b % 32)] as char)
        .collect()
}

/// Remove a path (tree or file); missing is fine.
pub(crate) fn remove_path(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => match fs::remove_dir_all(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
        Ok(_) => match fs::remove_file(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    }
}
