//! The per-container monitor (Podman's conmon role), run as a re-exec of the berth binary.
//!
//! It owns the container's stdio (pipes, or the pty master received from the runtime over
//! the console socket), writes the k8s-file log, serves attach clients on a unix socket,
//! reaps the container (it is a child subreaper), records the exit code in the exit file
//! and finally runs the exit command (`berth container cleanup ID`). The CLI can exit at
//! any time; the monitor stays until the container is gone.
//!
//! Attach protocol, both directions framed as `[kind u8][len u32 BE][payload]`:
//! monitor -> client: `STDOUT`, `STDERR`, `EXIT` (payload: exit code in decimal);
//! client -> monitor: `STDIN`, `STDIN_EOF` (close the container's stdin), `RESIZE` ("rows cols").

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const STDIN_EOF: u8 = 4;
pub const RESIZE: u8 = 5;

/// The hidden first argument that turns the berth binary into a monitor.
pub const MONITOR_ARG: &str = "__monitor";

/// What the monitor needs to run one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub id: String,
    pub bundle: PathBuf,
    /// Directory for the attach socket, console socket and pid file (the container's run dir).
    pub run_dir: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub terminal: bool,
    pub stdin: bool,
    pub log_path: PathBuf,
    pub exit_file: PathBuf,
    /// Create and start in one step (`runtime run --detach`) instead of `create`.
    pub start: bool,
    /// Wait for one attach client before running the runtime, so that no output is missed.
    pub wait_attach: bool,
    pub exit_command: Vec<String>,
    /// Published host ports, ("tcp" or "udp", "ADDR:PORT"): the monitor holds them bound
    /// while the container lives, so no other program takes them (as conmon does).
    #[serde(default)]
    pub host_ports: Vec<(String, String)>,
    /// The container cgroup's file that counts OOM kills (`memory.oom_control` on v1,
    /// `memory.events` on v2), read when the container exits.
    #[serde(default)]
    pub oom_events: Option<PathBuf>,
    /// Global runtime flags for its create (crun's `--cgroup-manager=disabled`).
    #[serde(default)]
    pub runtime_args: Vec<String>,
}

/// Messages on the sync pipe, monitor -> the process that spawned it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMsg {
    /// The attach socket is listening (sent only with `wait_attach`).
    Ready,
    /// The container was created (or started); its pid and the monitor's.
    Pid {
        pid: i32,
        monitor: i32,
    },
    Error(String),
}

/// The result recorded in the exit file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

/// Writes a frame of the attach protocol.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(kind);
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

/// Reads one frame; None at end of stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut hdr = [0u8; 5];
    match r.read_exact(&mut hdr) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((hdr[0], payload)))
}

/// A unix socket path short enough for `sun_path`, reaching `dir/name` through /proc/self/fd.
struct ShortPath {
    _dir: File,
    path: PathBuf,
}

fn short_path(dir: &Path, name: &str) -> std::io::Result<ShortPath> {
    let d = File::open(dir)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{}", d.as_raw_fd(), name));
    Ok(ShortPath { _dir: d, path })
}

/// Connects to a container's attach socket in `run_dir`.
pub fn connect_attach(run_dir: &Path) -> std::io::Result<UnixStream> {
    let p = short_path(run_dir, "attach")?;
    UnixStream::connect(&p.path)
}

/// Spawns the monitor (`exe __monitor CONFIG`) and returns the read end of its sync pipe.
/// The spawned process forks and exits at once, so the monitor is not our child.
pub fn spawn(exe: &Path, config_path: &Path) -> std::io::Result<SyncReader> {
    let (r, w) = nix::unistd::pipe()?;
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg(MONITOR_ARG)
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec we only call async-signal-safe dup2/fcntl.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(w);
    child.wait()?;
    Ok(SyncReader {
        r: std::io::BufReader::new(File::from(r)),
    })
}

pub struct SyncReader {
    r: std::io::BufReader<File>,
}

impl SyncReader {
    /// The next message, or an error if the monitor died without saying anything.
    pub fn recv(&mut self) -> std::io::Result<SyncMsg> {
        use std::io::BufRead;
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other(
                "the container monitor exited without reporting",
            ));
        }
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }
}

/// Entry point of the monitor process. Never returns.
pub fn main(config_path: &Path) -> ! {
    // Detach from the spawner: it waits for this first process only.
    // SAFETY: we are single-threaded here (called first thing in main).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(_) => std::process::exit(1),
    }
    let _ = nix::unistd::setsid();
    // SAFETY: fd 3 is the sync pipe handed to us by `spawn`; nothing else owns it.
    let mut sync = unsafe { File::from_raw_fd(3) };
    let cfg: MonitorConfig = match std::fs::read(config_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            send(&mut sync, &SyncMsg::Error(format!("monitor config: {e}")));
            std::process::exit(1);
        }
    };
    match run(&cfg, &mut sync) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            send(&mut sync, &SyncMsg::Error(e));
            std::process::exit(1);
        }
    }
}

/// Whether a cgroup's OOM counter (`oom_kill N`) is above zero.
fn oom_killed(events: &Path) -> bool {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
}

fn send(sync: &mut File, msg: &SyncMsg) {
    let mut s = serde_json::to_string(msg).unwrap_or_default();
    s.push('\n');
    let _ = sync.write_all(s.as_bytes());
}

fn set_nonblock(fd: RawFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

struct Output {
    fd: OwnedFd,
    stream: &'static str,
    kind: u8,
    open: bool,
}

struct Client {
    sock: UnixStream,
    buf: Vec<u8>,
}

/// Binds the published host ports (kept open by the caller; close-on-exec, so the
/// runtime and the container never see them).
fn bind_ports(ports: &[(String, String)]) -> Result<Vec<OwnedFd>, String> {
    let mut held = Vec::new();
    for (proto, addr) in ports {
        let r = match proto.as_str() {
            "udp" => std::net::UdpSocket::bind(addr).map(OwnedFd::from),
            _ => std::net::TcpListener::bind(addr).map(OwnedFd::from),
        };
        let fd = r.map_err(|e| {
            let why = e.to_string();
            let why = why
                .split(" (os error")
                .next()
                .unwrap_or_default()
                .to_lowercase();
            format!(
                "cannot listen on the {} port: listen {proto} {addr}: bind: {why}",
                proto.to_uppercase()
            )
        })?;
        held.push(fd);
    }
    Ok(held)
}

fn run(cfg: &MonitorConfig, sync: &mut File) -> Result<(), String> {
    let _ports = bind_ports(&cfg.host_ports)?;
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes a plain integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    std::env::set_current_dir(&cfg.run_dir)
        .map_err(|e| format!("entering {}: {e}", cfg.run_dir.display()))?;
    // Block SIGCHLD and take it through a signalfd so that the poll loop sees exits.
    let mut mask = nix::sys::signal::SigSet::empty();
    mask.add(nix::sys::signal::Signal::SIGCHLD);
    mask.thread_block().map_err(|e| e.to_string())?;
    let sfd = nix::sys::signalfd::SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .map_err(|e| e.to_string())?;

    let _ = std::fs::remove_file("attach");
    let listener = UnixListener::bind("attach").map_err(|e| format!("attach socket: {e}"))?;
    let mut clients: Vec<Client> = Vec::new();
    if cfg.wait_attach {
        send(sync, &SyncMsg::Ready);
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        clients.push(Client {
            sock,
            buf: Vec::new(),
        });
    }
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;

    // The container's stdio.
    let mut outputs: Vec<Output> = Vec::new();
    let mut stdin_w: Option<OwnedFd> = None;
    let mut cmd = Command::new(&cfg.runtime);
    cmd.current_dir(&cfg.run_dir)
        .arg("--root")
        .arg(&cfg.runtime_root)
        .arg("--log")
        .arg(cfg.run_dir.join("runtime.log"))
        .arg("--log-format")
        .arg("json")
        .args(&cfg.runtime_args);
    if cfg.start {
        cmd.args(["run", "--detach"]);
    } else {
        cmd.arg("create");
    }
    cmd.arg("--bundle")
        .arg(&cfg.bundle)
        .arg("--pid-file")
        .arg(cfg.run_dir.join("pidfile"));
    let console = if cfg.terminal {
        let _ = std::fs::remove_file("console.sock");
        let l = UnixListener::bind("console.sock").map_err(|e| format!("console socket: {e}"))?;
        // runc resolves the path after entering the bundle; this absolute path is short
        // enough for sun_path wherever the run directory is.
        cmd.arg("--console-socket")
            .arg(format!("/proc/{}/cwd/console.sock", std::process::id()));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Some(l)
    } else {
        let (or, ow) = nix::unistd::pipe().map_err(|e| e.to_string())?;
        let (er, ew) = nix::unistd::pipe().map_err(|e| e.to_string())?;
        if cfg.stdin {
            let (ir, iw) = nix::unistd::pipe().map_err(|e| e.to_string())?;
            cmd.stdin(Stdio::from(ir));
            stdin_w = Some(iw);
        } else {
            cmd.stdin(Stdio::null());
        }
        cmd.stdout(Stdio::from(ow)).stderr(Stdio::from(ew));
        outputs.push(Output {
            fd: or,
            stream: "stdout",
            kind: STDOUT,
            open: true,
        });
        outputs.push(Output {
            fd: er,
            stream: "stderr",
            kind: STDERR,
            open: true,
        });
        None
    };
    cmd.arg(&cfg.id);
    // The container inherits ignored signals through the runtime: start it with every
    // disposition at its default, as conmon does.
    // SAFETY: between fork and exec we only make raw rt_sigaction system calls.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            reset_signal_dispositions();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running OCI runtime {}: {e}", cfg.runtime.to_string_lossy()))?;
    drop(cmd); // closes our copies of the child's pipe ends

    let mut pty: Option<File> = None;
    if let Some(l) = console {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    pty = Some(recv_fd(&s).map_err(|e| format!("receiving the pty: {e}"))?);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let _ = std::fs::remove_file("console.sock");
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        let msg = crate::runtime::last_log_error(&cfg.run_dir.join("runtime.log"))
            .unwrap_or_else(|| format!("OCI runtime exited with {status}"));
        return Err(msg);
    }
    let pid: i32 = std::fs::read_to_string(cfg.run_dir.join("pidfile"))
        .map_err(|e| format!("reading the container's pid file: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("bad pid file: {e}"))?;
    if let Some(p) = pty {
        let fd: OwnedFd = p.into();
        if cfg.stdin {
            // SAFETY: dup of an fd we own, for a separate owner.
            stdin_w = Some(unsafe { OwnedFd::from_raw_fd(libc::dup(fd.as_raw_fd())) });
        }
        outputs.push(Output {
            fd,
            stream: "stdout",
            kind: STDOUT,
            open: true,
        });
    }
    for o in &outputs {
        set_nonblock(o.fd.as_raw_fd());
    }
    send(
        sync,
        &SyncMsg::Pid {
            pid,
            monitor: std::process::id() as i32,
        },
    );
    // Nobody reads the sync pipe any more.
    drop(std::mem::replace(
        sync,
        File::open("/dev/null").map_err(|e| e.to_string())?,
    ));

    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log_path)
        .map_err(|e| format!("opening log {}: {e}", cfg.log_path.display()))?;
    let mut exit: Option<i32> = None;
    let mut buf = vec![0u8; 16384];
    loop {
        // Once the container is gone, read what is left without waiting.
        let drain = exit.is_some();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let pfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.push(pfd(sfd.as_raw_fd()));
        fds.push(pfd(listener.as_raw_fd()));
        let out_base = fds.len();
        for o in &outputs {
            fds.push(pfd(if o.open { o.fd.as_raw_fd() } else { -1 }));
        }
        let cl_base = fds.len();
        for c in &clients {
            fds.push(pfd(c.sock.as_raw_fd()));
        }
        let timeout = if drain { 0 } else { -1 };
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.to_string());
        }
        if fds[0].revents != 0 {
            while let Ok(Some(_)) = sfd.read_signal() {}
            reap(pid, &mut exit);
        }
        if fds[1].revents != 0 {
            while let Ok((sock, _)) = listener.accept() {
                let _ = sock.set_nonblocking(false);
                clients.push(Client {
                    sock,
                    buf: Vec::new(),
                });
            }
        }
        let mut any_data = false;
        for (i, o) in outputs.iter_mut().enumerate() {
            let re = fds[out_base + i].revents;
            if !o.open || (re == 0 && !drain) {
                continue;
            }
            // SAFETY: reading into our own buffer from an fd we own.
            let r = unsafe { libc::read(o.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r > 0 {
                any_data = true;
                let data = &buf[..r as usize];
                write_log(&mut log, o.stream, data);
                clients.retain_mut(|c| write_frame(&mut c.sock, o.kind, data).is_ok());
            } else if r == 0 {
                o.open = false;
            } else {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::WouldBlock || re & libc::POLLHUP != 0 {
                    // EIO on a pty master means the slave side is closed.
                    o.open = false;
                }
            }
        }
        let mut i = 0;
        let mut idx = cl_base;
        while i < clients.len() {
            let re = fds.get(idx).map(|p| p.revents).unwrap_or(0);
            idx += 1;
            if re == 0 {
                i += 1;
                continue;
            }
            if !client_input(&mut clients[i], &mut stdin_w, &outputs) {
                clients.remove(i);
            } else {
                i += 1;
            }
        }
        if exit.is_some() && (!any_data || outputs.iter().all(|o| !o.open)) {
            break;
        }
    }
    let code = exit.unwrap_or(-1);
    let _ = log.flush();
    let rec = ExitRecord {
        exit_code: code,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed: cfg.oom_events.as_deref().is_some_and(oom_killed),
    };
    let tmp = cfg.exit_file.with_extension("tmp");
    if std::fs::write(&tmp, serde_json::to_vec(&rec).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, &cfg.exit_file);
    }
    for c in clients.iter_mut() {
        let _ = write_frame(&mut c.sock, EXIT, code.to_string().as_bytes());
    }
    drop(clients);
    drop(listener);
    let _ = std::fs::remove_file(cfg.run_dir.join("attach"));
    if let Some((prog, args)) = cfg.exit_command.split_first() {
        let _ = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(())
}

/// Sets every signal's disposition to the default. Uses the raw system call, since glibc's
/// `sigaction` refuses the signals it reserves (32 and 33). Async-signal-safe.
fn reset_signal_dispositions() {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads the struct we pass; the old action is not asked for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
}

/// Reaps every exited child; records the container's exit status (128+signal if killed).
fn reap(pid: i32, exit: &mut Option<i32>) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) => {
                if p.as_raw() == pid {
                    *exit = Some(code);
                }
            }
            Ok(WaitStatus::Signaled(p, sig, _)) => {
                if p.as_raw() == pid {
                    *exit = Some(128 + sig as i32);
                }
            }
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Handles input from an attach client. Returns false when the client is gone.
fn client_input(c: &mut Client, stdin_w: &mut Option<OwnedFd>, outputs: &[Output]) -> bool {
    let mut tmp = [0u8; 8192];
    let n = match c.sock.read(&mut tmp) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    c.buf.extend_from_slice(&tmp[..n]);
    while c.buf.len() >= 5 {
        let len = u32::from_be_bytes([c.buf[1], c.buf[2], c.buf[3], c.buf[4]]) as usize;
        if c.buf.len() < 5 + len {
            break;
        }
        let kind = c.buf[0];
        let payload: Vec<u8> = c.buf[5..5 + len].to_vec();
        c.buf.drain(..5 + len);
        match kind {
            STDIN => {
                if let Some(w) = stdin_w.as_ref() {
                    let mut f = std::mem::ManuallyDrop::new(
                        // SAFETY: borrowed view of an fd we own; ManuallyDrop keeps it open.
                        unsafe { File::from_raw_fd(w.as_raw_fd()) },
                    );
                    let _ = f.write_all(&payload);
                }
            }
            STDIN_EOF => {
                // A pty has no separate stdin to close: send EOT instead.
                let is_pty = outputs.len() == 1;
                if is_pty {
                    if let Some(w) = stdin_w.as_ref() {
                        // SAFETY: writing one byte from a local buffer to an fd we own.
                        unsafe { libc::write(w.as_raw_fd(), [4u8].as_ptr().cast(), 1) };
                    }
                } else {
                    *stdin_w = None;
                }
            }
            RESIZE => {
                let s = String::from_utf8_lossy(&payload);
                let mut it = s.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
                if let (Some(rows), Some(cols), Some(o)) = (it.next(), it.next(), outputs.first()) {
                    let ws = libc::winsize {
                        ws_row: rows,
                        ws_col: cols,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
                    unsafe { libc::ioctl(o.fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                }
            }
            _ => {}
        }
    }
    true
}

/// Appends `data` to the log in k8s-file format: `TIMESTAMP STREAM F|P LINE`.
fn write_log(log: &mut File, stream: &str, data: &[u8]) {
    let ts = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut rest = data;
    while !rest.is_empty() {
        let (line, full, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.as_bytes());
        out.extend_from_slice(if full { b" F " } else { b" P " });
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = next;
    }
    let _ = log.write_all(&out);
}

/// Receives one fd over a unix socket (SCM_RIGHTS), as runc sends the pty master.
pub fn recv_fd(s: &UnixStream) -> std::io::Result<File> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut data = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd; we are its only owner.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other("no file descriptor received"))
}

/// Reads the exit record of a container, if its monitor wrote one.
pub fn read_exit(path: &Path) -> Option<ExitRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
