//! `exec`: running another process in a running container through the runtime.

use crate::containers::{check_command, display_state, effective_caps, merge_env, resolve_user};
use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::{state, ExecOptions};
use serde_json::json;
use std::process::Stdio;

impl LocalEngine {
    /// Runs `o.cmd` in the container. Foreground: returns the process's exit code.
    /// Detached: returns 0 once the process is started.
    pub fn container_exec(&self, key: &str, o: &ExecOptions) -> Result<i32> {
        let (id, pfile, mut cmd) = self.exec_command(key, o)?;
        let rt = self.runtime()?;
        let tag = &pfile
            .file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("exec-").to_string())
            .unwrap_or_default();
        let rundir = self.rundir(&id);
        let terminal = o.tty && !o.detach;
        let pidfile = rundir.join(format!("exec-{tag}.pid"));
        if o.detach {
            cmd.arg("--detach").arg("--pid-file").arg(&pidfile);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        } else if !o.interactive && !o.tty {
            cmd.stdin(Stdio::null());
        }
        let code = if terminal {
            // As Podman's conmon does: the runtime starts the process detached and hands us
            // the pty master over a console socket; we relay it and reap the process (as a
            // subreaper). Our own stdin need not be a terminal.
            let sock = format!("exec-{tag}.sock");
            let dir =
                std::fs::File::open(&rundir).ctx(|| format!("opening {}", rundir.display()))?;
            use std::os::fd::AsRawFd;
            let dfd = dir.as_raw_fd();
            let listener =
                std::os::unix::net::UnixListener::bind(format!("/proc/self/fd/{dfd}/{sock}"))
                    .ctx(|| "creating the console socket".into())?;
            cmd.args(["--detach", "--tty", "--pid-file"])
                .arg(&pidfile)
                .arg("--console-socket")
                .arg(format!("/proc/{}/fd/{dfd}/{sock}", std::process::id()))
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            cmd.arg(&id);
            let r = tty::run(cmd, &listener, &pidfile, o.interactive);
            let _ = std::fs::remove_file(rundir.join(&sock));
            r.ctx(|| format!("running {}", rt.name))
        } else {
            cmd.arg(&id);
            cmd.status()
                .map(|st| exit_code(&st))
                .ctx(|| format!("running {}", rt.name))
        };
        let _ = std::fs::remove_file(&pfile);
        let _ = std::fs::remove_file(&pidfile);
        code
    }

    /// The runtime's `exec` command for `o` (without the container ID), after the checks
    /// Podman makes; returns the container ID and the process file to remove afterwards.
    fn exec_command(
        &self,
        key: &str,
        o: &ExecOptions,
    ) -> Result<(String, std::path::PathBuf, std::process::Command)> {
        let id = self.lookup_container(key)?;
        let rec = self.record(&id)?;
        let (st, _, _) = self.live_state(&rec);
        if st != state::RUNNING {
            return Err(Error::InvalidState(
                id,
                display_state(&st).into(),
                "can only create exec sessions on running containers: container state improper",
            ));
        }
        if o.cmd.is_empty() {
            return Err(Error::InvalidArg(
                "must provide a non-empty command to start an exec session".into(),
            ));
        }
        let c = &rec.config;
        let rt = self.runtime()?;
        let rootfs = self.store.container_rootfs(&id);
        let user = o.user.clone().unwrap_or_else(|| c.user.clone());
        let (uid, gid, extra, home) = resolve_user(&rootfs, &user)?;
        let mut env = c.env.clone();
        merge_env(
            &mut env,
            &[format!("HOME={home}"), format!("HOSTNAME={}", c.hostname)],
        );
        if o.tty {
            merge_env(&mut env, &["TERM=xterm".to_string()]);
        }
        merge_env(&mut env, &o.env);
        let cwd = o.workdir.clone().unwrap_or_else(|| c.workdir.clone());
        check_command(
            &rootfs,
            &o.cmd[0],
            &env,
            &cwd,
            &format!("{}: exec failed", rt.name),
        )?;
        let caps = if o.privileged {
            berth_oci::spec::ALL_CAPS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            effective_caps(c)?
        };
        // Capabilities outside our bounding set cannot be granted (as in the container's spec).
        let caps = berth_oci::spec::available_caps(&caps);
        let terminal = o.tty && !o.detach;
        let mut user_json = json!({"uid": uid, "gid": gid});
        if !extra.is_empty() {
            user_json["additionalGids"] = json!(extra);
        }
        let process = json!({
            "terminal": terminal,
            "user": user_json,
            "args": o.cmd,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        });
        let tag = &crate::ids::new_id()[..12];
        let rundir = self.rundir(&id);
        let pfile = rundir.join(format!("exec-{tag}.json"));
        std::fs::write(&pfile, serde_json::to_vec(&process).unwrap_or_default())
            .ctx(|| format!("writing {}", pfile.display()))?;
        let mut cmd = rt.command();
        cmd.arg("exec").arg("--process").arg(&pfile);
        Ok((id, pfile, cmd))
    }

    /// Runs `cmd` in a running container with its output captured: (exit code, the
    /// output lines, stdout then stderr).
    pub(crate) fn exec_output(&self, key: &str, cmd: Vec<String>) -> Result<(i32, Vec<String>)> {
        let o = ExecOptions {
            cmd,
            ..Default::default()
        };
        let (id, pfile, mut c) = self.exec_command(key, &o)?;
        c.arg(&id).stdin(Stdio::null());
        let rt = self.runtime()?;
        let out = c.output().ctx(|| format!("running {}", rt.name));
        let _ = std::fs::remove_file(&pfile);
        let out = out?;
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .map(str::to_string)
            .collect();
        Ok((exit_code(&out.status), lines))
    }
}

/// A process's exit code as a shell reports it (128+N for a signal).
fn exit_code(st: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 125,
    }
}

/// `exec -t`: the runtime hands us the pty master; we copy it to our stdout and, with `-i`,
/// our stdin to it (in raw mode when stdin is a terminal).
mod tty {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    /// Restores the terminal on fd 0 when dropped.
    struct Raw(Option<nix::sys::termios::Termios>);

    impl Drop for Raw {
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

    /// Runs `runtime exec --detach --tty` (`cmd`) and relays the pty; returns the exit code.
    pub fn run(
        mut cmd: Command,
        l: &UnixListener,
        pidfile: &Path,
        stdin: bool,
    ) -> std::io::Result<i32> {
        // The process outlives the detached runtime; it becomes our child to reap.
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes a plain integer argument.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let mut child = cmd.spawn()?;
        drop(cmd);
        l.set_nonblocking(true)?;
        let master = loop {
            match l.accept() {
                Ok((s, _)) => break berth_oci::monitor::recv_fd(&s)?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(st) = child.try_wait()? {
                        // The runtime failed before the process started; it said why.
                        return Ok(super::exit_code(&st));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
        };
        let st = child.wait()?;
        if !st.success() {
            return Ok(super::exit_code(&st));
        }
        let pid: i32 = std::fs::read_to_string(pidfile)?
            .trim()
            .parse()
            .map_err(std::io::Error::other)?;
        // Our window size, when we have one.
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write the winsize we pass.
        unsafe {
            if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 {
                libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
        // SAFETY: isatty has no preconditions.
        // On a terminal: raw with -i; else only without output processing (the pty already
        // turned "\n" into "\r\n"), so that ctrl-c still works.
        let _raw = (unsafe { libc::isatty(0) } == 1).then(|| {
            use nix::sys::termios;
            let orig = termios::tcgetattr(std::io::stdin()).ok();
            if let Some(o) = &orig {
                let mut raw = o.clone();
                if stdin {
                    termios::cfmakeraw(&mut raw);
                } else {
                    raw.output_flags.remove(termios::OutputFlags::OPOST);
                }
                let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, &raw);
            }
            Raw(orig)
        });
        if stdin {
            let mut w = master.try_clone()?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut input = std::io::stdin();
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 || w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        let mut r = master;
        let mut out = std::io::stdout();
        let mut buf = [0u8; 8192];
        // EIO once the process (the last holder of the slave side) is gone.
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            if out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                break;
            }
        }
        let pid = nix::unistd::Pid::from_raw(pid);
        loop {
            use nix::sys::wait::{waitpid, WaitStatus};
            match waitpid(pid, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
