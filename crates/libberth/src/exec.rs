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
        let pidfile = rundir.join(format!("exec-{tag}.pid"));
        if o.detach {
            cmd.arg("--detach").arg("--pid-file").arg(&pidfile);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        } else if !o.interactive && !o.tty {
            cmd.stdin(Stdio::null());
        }
        if terminal {
            cmd.arg("--tty");
        }
        cmd.arg(&id);
        let status = cmd.status().ctx(|| format!("running {}", rt.name));
        let _ = std::fs::remove_file(&pfile);
        let _ = std::fs::remove_file(&pidfile);
        let status = status?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => 125,
        })
    }
}
