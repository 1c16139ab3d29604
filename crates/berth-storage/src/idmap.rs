//! User-namespace ID mappings and what storage does with them.
//!
//! A container in its own user namespace sees its image's files through idmapped mounts
//! of the lower layers (overlay), so that the image's root-owned files belong to the
//! container's root without copying a byte. Its writable layer holds host IDs (the
//! mapped ones), as Podman's does; `commit` and `diff` map them back.
//! vfs copies the image and shifts the copy's owners.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One range of a user namespace's uid or gid map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdRange {
    /// The first ID inside the container.
    pub container_id: u32,
    /// The host ID it is.
    pub host_id: u32,
    pub size: u32,
}

impl IdRange {
    /// `CONTAINER:HOST:SIZE`, as `--uidmap` takes and `inspect` shows it.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(':').map(|p| p.trim().parse::<u32>());
        let (Some(Ok(c)), Some(Ok(h)), Some(Ok(n)), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return None;
        };
        if n == 0 || c.checked_add(n - 1).is_none() || h.checked_add(n - 1).is_none() {
            return None;
        }
        Some(Self {
            container_id: c,
            host_id: h,
            size: n,
        })
    }

    /// The last host ID of the range plus one, as u64 (no overflow).
    pub fn host_end(&self) -> u64 {
        u64::from(self.host_id) + u64::from(self.size)
    }
}

impl std::fmt::Display for IdRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.container_id, self.host_id, self.size)
    }
}

/// A user namespace's uid and gid maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMappings {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

fn to_host(map: &[IdRange], id: u32) -> Option<u32> {
    map.iter().find_map(|r| {
        let off = id.checked_sub(r.container_id)?;
        (off < r.size).then(|| r.host_id + off)
    })
}

fn to_container(map: &[IdRange], id: u32) -> Option<u32> {
    map.iter().find_map(|r| {
        let off = id.checked_sub(r.host_id)?;
        (off < r.size).then(|| r.container_id + off)
    })
}

/// The overflow ID the kernel shows for an unmapped owner.
pub const OVERFLOW_ID: u32 = 65534;

impl IdMappings {
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty() && self.gids.is_empty()
    }

    /// Host (uid, gid) of a container (uid, gid); unmapped IDs become the overflow ID's
    /// host ID when that is mapped, else stay as they are.
    pub fn to_host(&self, uid: u32, gid: u32) -> (u32, u32) {
        let u = to_host(&self.uids, uid)
            .or_else(|| to_host(&self.uids, OVERFLOW_ID))
            .unwrap_or(uid);
        let g = to_host(&self.gids, gid)
            .or_else(|| to_host(&self.gids, OVERFLOW_ID))
            .unwrap_or(gid);
        (u, g)
    }

    /// Container (uid, gid) of host IDs; unmapped ones show as the overflow ID, as the
    /// kernel shows them inside.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            to_container(&self.uids, uid).unwrap_or(OVERFLOW_ID),
            to_container(&self.gids, gid).unwrap_or(OVERFLOW_ID),
        )
    }

    /// The host IDs of the container's root.
    pub fn root(&self) -> (u32, u32) {
        self.to_host(0, 0)
    }

    /// `/proc/PID/uid_map` text of `map`.
    fn proc_map(map: &[IdRange]) -> String {
        map.iter()
            .map(|r| format!("{} {} {}\n", r.container_id, r.host_id, r.size))
            .collect()
    }

    /// Parses `/proc/PID/uid_map` text.
    pub fn parse_proc_map(text: &str) -> Vec<IdRange> {
        text.lines()
            .filter_map(|l| {
                let v: Vec<u32> = l
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                match v[..] {
                    [c, h, n] if n > 0 => Some(IdRange {
                        container_id: c,
                        host_id: h,
                        size: n,
                    }),
                    _ => None,
                }
            })
            .collect()
    }
}

/// A user namespace with given maps, held open by its file descriptor (what
/// `MOUNT_ATTR_IDMAP` takes).
pub struct UserNs {
    pub fd: OwnedFd,
}

/// Kills and reaps the child that made a namespace, whatever happens.
struct Reap(nix::unistd::Pid);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

impl UserNs {
    pub fn new(maps: &IdMappings) -> io::Result<Self> {
        let (rd, wr) = nix::unistd::pipe()?;
        let mut stack = vec![0u8; 64 * 1024];
        let rd_raw = rd.as_raw_fd();
        // The child only waits on the pipe (async-signal-safe calls only) until killed.
        let cb = Box::new(move || {
            let mut b = [0u8; 1];
            // SAFETY: a plain read on a descriptor the child inherited.
            unsafe { libc::read(rd_raw, b.as_mut_ptr().cast(), 1) };
            0
        });
        // SAFETY: the child runs `cb` on its own stack and only calls read(2); no memory
        // is shared (no CLONE_VM).
        let child = unsafe {
            nix::sched::clone(
                cb,
                &mut stack,
                nix::sched::CloneFlags::CLONE_NEWUSER,
                Some(libc::SIGCHLD),
            )
        }?;
        let _reap = Reap(child);
        let write_map = |file: &str, text: String| {
            std::fs::write(format!("/proc/{child}/{file}"), text)
                .map_err(|e| io::Error::new(e.kind(), format!("writing {file}: {e}")))
        };
        write_map("uid_map", IdMappings::proc_map(&maps.uids))?;
        write_map("gid_map", IdMappings::proc_map(&maps.gids))?;
        let f = File::open(format!("/proc/{child}/ns/user"))?;
        drop((rd, wr));
        Ok(UserNs {
            fd: OwnedFd::from(f),
        })
    }
}

/// Whether `e` says idmapped mounts (or overlay on idmapped layers) are not supported:
/// no `open_tree`/`mount_setattr` (before Linux 5.12), a file system without them, or
/// overlay refusing idmapped layers (before 5.19).
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM)
    )
}

/// Mounts an idmapped clone of `src` at `target` (an existing directory).
pub fn idmapped_bind(src: &Path, target: &Path, ns: &UserNs) -> io::Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (src_c, target_c) = (c(src)?, c(target)?);
    // SAFETY: open_tree with a valid C string; the result is checked and owned below.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src_c.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if tree < 0 {
        return Err(io::Error::last_os_error());
    }
    let tree_fd = i32::try_from(tree).map_err(|_| io::Error::from(io::ErrorKind::Other))?;
    // SAFETY: a fresh descriptor from open_tree.
    let tree = unsafe { OwnedFd::from_raw_fd(tree_fd) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: u64::try_from(ns.fd.as_raw_fd()).unwrap_or(0),
    };
    let empty = c"";
    // SAFETY: mount_setattr on our tree fd with a correctly sized attribute struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: move_mount of our detached tree onto a path given as a C string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises `max` to the largest owner (uid or gid) below `root`, except the overflow ID
/// (65534, "nobody", which every namespace shows for unmapped owners).
pub(crate) fn max_owner(root: &Path, max: &mut u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for e in std::fs::read_dir(root)? {
        let e = e?;
        let m = e.metadata()?;
        for id in [m.uid(), m.gid()] {
            if id != OVERFLOW_ID {
                *max = (*max).max(id);
            }
        }
        if m.is_dir() {
            max_owner(&e.path(), max)?;
        }
    }
    Ok(())
}

/// Gives every entry of `root` the host IDs of its owner under `maps` (vfs copies).
pub(crate) fn shift_tree(root: &Path, maps: &IdMappings) -> io::Result<()> {
    map_tree(root, &|u, g| maps.to_host(u, g))
}

/// Gives every entry of `root` the namespace's IDs of its owner under `maps` (what a
/// copy from a container's root file system into an `idmap` volume needs).
pub fn unshift_tree(root: &Path, maps: &IdMappings) -> io::Result<()> {
    map_tree(root, &|u, g| maps.to_container(u, g))
}

fn map_tree(root: &Path, f: &dyn Fn(u32, u32) -> (u32, u32)) -> io::Result<()> {
    fn walk(dir: &Path, f: &dyn Fn(u32, u32) -> (u32, u32)) -> io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let m = std::fs::symlink_metadata(&p)?;
            map_one(&p, &m, f)?;
            if m.is_dir() {
                walk(&p, f)?;
            }
        }
        Ok(())
    }
    let m = std::fs::symlink_metadata(root)?;
    map_one(root, &m, f)?;
    walk(root, f)
}

fn map_one(p: &Path, m: &std::fs::Metadata, f: &dyn Fn(u32, u32) -> (u32, u32)) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (u, g) = f(m.uid(), m.gid());
    std::os::unix::fs::lchown(p, Some(u), Some(g))?;
    // chown clears set-id bits of files: put them back.
    if !m.file_type().is_symlink() && m.mode() & 0o6000 != 0 {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_map() {
        assert_eq!(
            IdRange::parse("0:100000:65536"),
            Some(IdRange {
                container_id: 0,
                host_id: 100000,
                size: 65536
            })
        );
        for bad in ["", "0:1", "0:1:0", "a:1:2", "0:1:2:3", "1:4294967295:2"] {
            assert_eq!(IdRange::parse(bad), None, "{bad}");
        }
        let m = IdMappings {
            uids: vec![IdRange::parse("0:1000:10").unwrap()],
            gids: vec![IdRange::parse("0:2000:10").unwrap()],
        };
        assert_eq!(m.to_host(5, 5), (1005, 2005));
        assert_eq!(m.to_container(1005, 2005), (5, 5));
        assert_eq!(m.to_container(0, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.root(), (1000, 2000));
        assert_eq!(
            IdMappings::parse_proc_map("         0     200000       1000\n"),
            vec![IdRange::parse("0:200000:1000").unwrap()]
        );
    }
}
