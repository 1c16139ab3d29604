//! Test harness: each `Env` is a throw-away berth root and run root; the berth binary under
//! test is driven as a user would, against real runc and overlayfs. Dropping an `Env`
//! (also when a test panics) removes its containers, mounts and directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const BUSYBOX: &str = "localhost/berth-test/busybox:latest";

/// The test images, built by scripts/mkimages.sh from busybox-static into a directory
/// named after the script's content, shared by all test processes and built only once
/// (into a private directory renamed into place, so parallel test binaries do not race).
pub fn images() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mkimages.sh");
        let text = std::fs::read(&script).expect("reading mkimages.sh");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!("images-{:016x}", h.finish()));
        if dir.join("rootfs.tar").exists() {
            return dir;
        }
        let tmp = base.join(format!("images-build-{}", std::process::id()));
        let st = Command::new("bash")
            .arg(&script)
            .arg(&tmp)
            .stdout(Stdio::null())
            .status()
            .expect("running mkimages.sh");
        assert!(st.success(), "mkimages.sh failed");
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another test process got there first.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

pub struct Env {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub driver: &'static str,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env::with_driver("overlay")
    }

    pub fn with_driver(driver: &'static str) -> Env {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join(format!("env-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        Env {
            root: dir.join("root"),
            runroot: dir.join("run"),
            dir,
            driver,
        }
    }

    /// A berth command with this environment's global flags.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .arg("--storage-driver")
            .arg(self.driver);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().expect("running berth"))
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "berth {args:?} failed ({}): {}{}",
            r.code, r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs berth and asserts it fails with `code`; returns stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "berth {args:?}: expected exit {code}, got {}: {}{}",
            r.code, r.stdout, r.stderr
        );
        r.stderr
    }

    /// Loads the one-layer busybox test image.
    pub fn busybox(&self) -> &Self {
        self.ok(&[
            "load",
            "-i",
            images().join("busybox-oci.tar").to_str().unwrap(),
        ]);
        self
    }

    /// Mount points under this environment still present.
    pub fn mounts(&self) -> Vec<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&dir))
            .collect()
    }

    /// Files left in the run root's locks/exits directories.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["locks", "exits", "containers"] {
            if let Ok(rd) = std::fs::read_dir(self.runroot.join(d)) {
                out.extend(
                    rd.flatten()
                        .map(|e| format!("{d}/{}", e.file_name().to_string_lossy())),
                );
            }
        }
        out
    }

    /// Cgroup directories berth made for containers of this environment that still exist,
    /// in any hierarchy (v1 controllers, the hybrid `unified` one, or a v2 root).
    pub fn cgroups(&self, ids: &[String]) -> Vec<String> {
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            roots.extend(rd.flatten().map(|e| e.path()));
        }
        let mut out = Vec::new();
        for id in ids {
            for r in &roots {
                let p = r.join("berth").join(format!("berth-{id}"));
                if p.exists() {
                    out.push(p.to_string_lossy().into_owned());
                }
            }
        }
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .args(["rm", "-a", "-f", "-t", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for m in self.mounts().into_iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Polls `f` until it returns true or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
