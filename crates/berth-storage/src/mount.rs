//! Overlay mounts and `/proc/self/mountinfo`.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

/// Whether `target` (an absolute, symlink-free path) is a mount point in our mount namespace.
pub(crate) fn is_mounted(target: &Path) -> io::Result<bool> {
    let info = std::fs::read("/proc/self/mountinfo")?;
    let want = target.as_os_str().as_bytes();
    Ok(info
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .any(|mount_point| unescape_octal(mount_point) == want))
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` octal.
fn unescape_octal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 4 <= s.len() {
            let oct = &s[i + 1..i + 4];
            if oct.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(4096)
}

/// Without `upper_work` the mount is read-only (overlay then needs two or more lowers).
fn overlay_options(lowers: &[String], upper_work: Option<(&str, &str)>) -> String {
    match upper_work {
        Some((upper, work)) => format!(
            "lowerdir={},upperdir={},workdir={},index=off",
            lowers.join(":"),
            upper,
            work
        ),
        None => format!("lowerdir={}", lowers.join(":")),
    }
}

/// Why an overlay mount failed.
pub(crate) enum MountFailure {
    /// The options do not fit in one page even with root-relative paths.
    TooLong,
    Sys(io::Error),
}

/// Mount overlay at `target`. `lowers` (top first), `upper` and `work` are relative to
/// `root`; without `upper_work` the mount is read-only. Absolute paths are used when they fit in the one page the kernel accepts for
/// mount data; otherwise (or when `root` holds characters overlay treats as separators)
/// the mount is made from a thread whose working directory is `root`, with short relative
/// paths, like Podman does.
pub(crate) fn mount_overlay(
    root: &Path,
    lowers: &[String],
    upper_work: Option<(&str, &str)>,
    target: &Path,
) -> Result<(), MountFailure> {
    let page = page_size();
    let root_str = root.to_str().filter(|s| !s.contains([',', ':', '\\']));
    if let Some(r) = root_str {
        let abs = |p: &str| format!("{r}/{p}");
        let lowers: Vec<String> = lowers.iter().map(|l| abs(l)).collect();
        let (upper, work) = upper_work.map(|(u, w)| (abs(u), abs(w))).unzip();
        let data = overlay_options(&lowers, upper.as_deref().zip(work.as_deref()));
        if data.len() < page {
            return do_mount(target, &data).map_err(MountFailure::Sys);
        }
    }
    let data = overlay_options(lowers, upper_work);
    if data.len() >= page {
        return Err(MountFailure::TooLong);
    }
    std::thread::scope(|s| {
        s.spawn(|| -> Result<(), MountFailure> {
            // A private fs context (cwd) for this thread only, so chdir does not move the
            // rest of the process.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
                .map_err(|e| MountFailure::Sys(e.into()))?;
            nix::unistd::chdir(root).map_err(|e| MountFailure::Sys(e.into()))?;
            do_mount(target, &data).map_err(MountFailure::Sys)
        })
        .join()
        .unwrap_or_else(|_| Err(MountFailure::Sys(io::Error::other("mount thread panicked"))))
    })
}

fn do_mount(target: &Path, data: &str) -> io::Result<()> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data),
    )?;
    Ok(())
}

/// Unmount everything mounted at `target` (idempotent). A busy mount is detached lazily.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    for _ in 0..32 {
        if !is_mounted(target)? {
            return Ok(());
        }
        match nix::mount::umount2(target, MntFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EBUSY) => nix::mount::umount2(target, MntFlags::MNT_DETACH)?,
            Err(Errno::EINVAL | Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other("still mounted after 32 unmounts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape_octal(br"/a\040b\134c"), b"/a b\\c");
        assert_eq!(unescape_octal(br"/x\04"), br"/x\04");
        assert_eq!(unescape_octal(b"/plain"), b"/plain");
    }

    #[test]
    fn root_is_mounted() {
        assert!(is_mounted(Path::new("/")).unwrap());
        assert!(!is_mounted(Path::new("/definitely/not/a/mount")).unwrap());
    }
}
