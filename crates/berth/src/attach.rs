//! The client side of attach: copies the container's output to our stdout/stderr and our
//! stdin to the container, handles the terminal (raw mode, resizes), detach keys and
//! signal proxying.

use anyhow::{anyhow, Result};
use berth_oci::monitor::{read_frame, write_frame, EXIT, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

pub struct Session {
    pub stdin: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
    /// The container's pid, to forward our signals to (`--sig-proxy`).
    pub proxy_pid: Option<i32>,
}

pub enum End {
    Exited(i32),
    Detached,
    /// The monitor went away without reporting an exit code.
    Lost,
}

/// Parses Podman's detach key syntax: "ctrl-p,ctrl-q", "a,ctrl-@".
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|k| {
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.as_bytes();
                if c.len() != 1 {
                    return Err(anyhow!("invalid detach keys: {s}"));
                }
                match c[0] {
                    b'a'..=b'z' => Ok(c[0] - b'a' + 1),
                    b'@' => Ok(0),
                    b'[' => Ok(27),
                    b'\\' => Ok(28),
                    b']' => Ok(29),
                    b'^' => Ok(30),
                    b'_' => Ok(31),
                    _ => Err(anyhow!("invalid detach keys: {s}")),
                }
            } else if k.len() == 1 {
                Ok(k.as_bytes()[0])
            } else {
                Err(anyhow!("invalid detach keys: {s}"))
            }
        })
        .collect()
}

static PROXY_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = PROXY_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn install_proxy(pid: i32) {
    PROXY_PID.store(pid, Ordering::Relaxed);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installing a handler that only calls the async-signal-safe kill().
        unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
    }
}

/// Puts the terminal on fd 0 in raw mode until dropped; without `input`, only turns off its
/// output processing (the container's pty already turned "\n" into "\r\n"), so that ctrl-c
/// still works.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter(input: bool) -> RawMode {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let Ok(orig) = termios::tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        if input {
            termios::cfmakeraw(&mut raw);
        } else {
            raw.output_flags.remove(termios::OutputFlags::OPOST);
        }
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

fn window_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into the winsize we pass.
    let r = unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

static WINCH: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(1, Ordering::Relaxed);
}

pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty has no preconditions.
    unsafe { libc::isatty(fd) == 1 }
}

/// Our stdout or stderr is a closed pipe (`berth run IMG yes | head -1`): end as Podman
/// does, killed by SIGPIPE. The container runs on under its monitor.
fn closed_output(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // SAFETY: restoring the default disposition, then raising the signal on ourselves.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
}

/// Runs the session until the container exits, the user detaches, or the monitor goes away.
pub fn run(conn: UnixStream, s: Session) -> Result<End> {
    if let Some(pid) = s.proxy_pid.filter(|_| !s.tty) {
        install_proxy(pid);
    }
    let _raw = (s.tty && is_tty(0)).then(|| RawMode::enter(s.stdin));
    if s.tty {
        if let Some((r, c)) = window_size() {
            let mut w = conn.try_clone()?;
            let _ = write_frame(&mut w, RESIZE, format!("{r} {c}").as_bytes());
        }
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(libc::SIGWINCH, on_winch as *const () as libc::sighandler_t) };
        let mut w = conn.try_clone()?;
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if WINCH.swap(0, Ordering::Relaxed) == 1 {
                if let Some((r, c)) = window_size() {
                    if write_frame(&mut w, RESIZE, format!("{r} {c}").as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
    }
    let (det_tx, det_rx) = std::sync::mpsc::channel::<()>();
    if s.stdin {
        let mut w = conn.try_clone()?;
        let keys = s.detach_keys.clone();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 4096];
            let mut matched = 0usize;
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = write_frame(&mut w, STDIN_EOF, &[]);
                        return;
                    }
                    Ok(n) => n,
                };
                let mut out = Vec::with_capacity(n);
                for &b in &buf[..n] {
                    if !keys.is_empty() && b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            let _ = det_tx.send(());
                            let _ = w.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        continue;
                    }
                    if matched > 0 {
                        out.extend_from_slice(&keys[..matched]);
                        matched = 0;
                    }
                    out.push(b);
                }
                if !out.is_empty() && write_frame(&mut w, STDIN, &out).is_err() {
                    return;
                }
            }
        });
    }
    let mut r = std::io::BufReader::new(conn);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        let frame = match read_frame(&mut r) {
            Ok(f) => f,
            Err(_) if det_rx.try_recv().is_ok() => return Ok(End::Detached),
            Err(e) => return Err(e.into()),
        };
        match frame {
            None => {
                if det_rx.try_recv().is_ok() {
                    return Ok(End::Detached);
                }
                return Ok(End::Lost);
            }
            Some((STDOUT, d)) => {
                let mut o = stdout.lock();
                if let Err(e) = o.write_all(&d).and_then(|_| o.flush()) {
                    closed_output(e);
                }
            }
            Some((STDERR, d)) => {
                let mut e = stderr.lock();
                if let Err(e) = e.write_all(&d).and_then(|_| e.flush()) {
                    closed_output(e);
                }
            }
            Some((EXIT, d)) => {
                let code = String::from_utf8_lossy(&d).trim().parse().unwrap_or(-1);
                return Ok(End::Exited(code));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detach_keys() {
        assert_eq!(
            super::parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![16, 17]
        );
        assert!(super::parse_detach_keys("ctrl-pp").is_err());
    }
}
