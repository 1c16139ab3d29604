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
    /// Environment variables for every berth command of this environment.
    pub vars: Vec<(String, String)>,
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
        // No network unless a test asks for one: bridges and subnets are the host's,
        // shared by all tests, so network tests make their own (see `network`).
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\nnetns = \"none\"\n",
        )
        .unwrap();
        Env {
            root: dir.join("root"),
            runroot: dir.join("run"),
            dir,
            driver,
            vars: Vec::new(),
        }
    }

    /// This environment with `key=value` set for every berth command.
    pub fn with_var(mut self, key: &str, value: &str) -> Env {
        self.vars.push((key.to_string(), value.to_string()));
        self
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
        // Hermetic: this environment's own registries.conf and auth.json (empty unless a
        // test writes them), never the machine's, so no test reaches a public registry.
        let regs = self.dir.join("registries.conf");
        if !regs.exists() {
            let _ = std::fs::write(&regs, "");
        }
        c.env("CONTAINERS_REGISTRIES_CONF", &regs);
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        // The caller's default user namespace is not this environment's.
        c.env_remove("PODMAN_USERNS");
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c.env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"));
        c.env(
            "BERTH_SHORT_NAME_ALIASES",
            self.dir.join("short-name-aliases.conf"),
        );
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
            .args(["pod", "rm", "-a", "-f", "-t", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
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

/// A `docker-registry` (Distribution 2.8, Debian's package) on 127.0.0.1, started for one
/// test in its own directory and stopped (by pid) when dropped.
pub struct Registry {
    /// "127.0.0.1:PORT"
    pub addr: String,
    pub dir: PathBuf,
    /// For a TLS registry: the directory holding the CA's `ca.crt` (for `--cert-dir`).
    pub ca_dir: Option<PathBuf>,
    child: std::process::Child,
}

pub struct RegistryOptions {
    pub tls: bool,
    /// (user, password) for htpasswd basic auth (needs TLS, as Distribution requires).
    pub user: Option<(&'static str, &'static str)>,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("running a test tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Registry {
    pub fn start(dir: &Path, o: RegistryOptions) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        let mut ca_dir = None;
        if o.tls {
            let ssl = |args: &[&str]| run_ok(Command::new("openssl").args(args).current_dir(dir));
            ssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=berth test CA",
            ]);
            ssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            std::fs::write(
                dir.join("san.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
            )
            .unwrap();
            ssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ]);
            let certs = dir.join("certs");
            std::fs::create_dir_all(&certs).unwrap();
            std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap();
            ca_dir = Some(certs);
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            ));
        }
        if let Some((user, pass)) = o.user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("running htpasswd");
            assert!(out.status.success());
            std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry {
            addr,
            dir: dir.to_path_buf(),
            ca_dir,
            child,
        };
        assert!(
            eventually(10, || std::net::TcpStream::connect(&reg.addr).is_ok()),
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        reg
    }

    /// Copies the test archive `archive` (from `images()`) to `repo:tag` in this registry
    /// with skopeo. Returns the manifest digest skopeo reports.
    pub fn push_with_skopeo(&self, archive: &str, repo_tag: &str) -> String {
        let mut c = Command::new("skopeo");
        c.args(["copy", "-q"]);
        match &self.ca_dir {
            Some(d) => {
                c.arg("--dest-cert-dir").arg(d);
            }
            None => {
                c.arg("--dest-tls-verify=false");
            }
        }
        let digest_file = self.dir.join(format!("digest-{}", unique()));
        c.arg("--digestfile").arg(&digest_file);
        if let Some((u, p)) = self.user() {
            c.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        c.arg(format!("oci-archive:{}", images().join(archive).display()));
        c.arg(format!("docker://{}/{repo_tag}", self.addr));
        run_ok(&mut c);
        std::fs::read_to_string(digest_file)
            .unwrap()
            .trim()
            .to_string()
    }

    fn user(&self) -> Option<(String, String)> {
        let h = std::fs::read_to_string(self.dir.join("htpasswd")).ok()?;
        let user = h.split(':').next()?.to_string();
        Some((user, REGISTRY_PASSWORD.to_string()))
    }
}

/// The password tests give htpasswd users.
pub const REGISTRY_PASSWORD: &str = "s3cret-pass";

/// Whether the registry tests can run here; prints why not when they cannot (the test
/// then returns early: `if !registry_tools() { return; }`).
pub fn registry_tools() -> bool {
    let ok = skopeo_available();
    if !ok {
        eprintln!("skipped: skopeo or docker-registry missing");
    }
    ok
}

impl Registry {
    /// A plain-HTTP registry in `env`'s directory `name`.
    pub fn plain(env: &Env, name: &str) -> Registry {
        Registry::start(
            &env.dir.join(name),
            RegistryOptions {
                tls: false,
                user: None,
            },
        )
    }
}

pub fn skopeo_available() -> bool {
    Command::new("skopeo").arg("--version").output().is_ok()
        && Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_ok()
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects everything `reader` yields (a pty master, say) on a thread of its own, until
/// end of stream or an error.
pub fn read_in_background(
    mut reader: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    out
}

/// Podman 4.3.1 in a throw-away store of its own, for the tests that check that Podman
/// takes what berth makes. Dropping it removes its images, the empty cgroups it made
/// for conmon, and its store.
pub struct Podman {
    dir: tempfile::TempDir,
    registries: PathBuf,
}

impl Podman {
    /// None when Podman is not installed (the test then skips).
    pub fn new(env: &Env) -> Option<Podman> {
        Command::new("podman").arg("--version").output().ok()?;
        // Podman refuses a run root longer than 50 characters: a short directory in /tmp.
        let dir = tempfile::Builder::new()
            .prefix("bpm")
            .tempdir_in("/tmp")
            .ok()?;
        Some(Podman {
            dir,
            registries: env.dir.join("registries.conf"),
        })
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let p = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("run"))
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            // runc: Podman picks crun whenever it is installed, and crun refuses hybrid
            // cgroups.
            .args([
                "--runtime",
                "runc",
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", &self.registries)
            .output()
            .expect("running podman")
    }

    /// Runs Podman and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Flags `podman run` needs on this kind of machine: its default rlimits exceed the
    /// hard limits here.
    pub const RUN_FLAGS: [&'static str; 6] = [
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rmi", "-a", "-f"]);
        // The empty cgroups Podman makes for conmon and as parents (rmdir leaves any in
        // use alone).
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in rd.flatten() {
                let _ = std::fs::remove_dir(c.path().join("libpod_parent/conmon"));
                let _ = std::fs::remove_dir(c.path().join("libpod_parent"));
            }
        }
    }
}
