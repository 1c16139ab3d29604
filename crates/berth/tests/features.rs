//! Container features as a user sees them: run flags, secure defaults, ps, inspect
//! templates, logs, exec, tty/attach, signal proxying, top/info/version. Expected values
//! were checked against Podman 4.3.1 on the same machine.

mod common;
use common::*;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `run --rm [flags] BUSYBOX sh -c script`, asserting success; returns stdout.
fn sh(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[BUSYBOX, "sh", "-c", script]);
    env.ok(&args)
}

fn inspect(env: &Env, fmt: &str, name: &str) -> String {
    env.ok(&["inspect", "--format", fmt, name])
        .trim()
        .to_string()
}

/// A field of /proc/self/status inside a container started with `flags`.
fn status_field(env: &Env, flags: &[&str], field: &str) -> String {
    let out = sh(env, flags, "cat /proc/self/status");
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {out}"))
        .trim()
        .to_string()
}

/// Our own CapBnd: what a privileged container can get at most.
fn host_bounding_set() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string()
}

/// Waits for a child with a deadline; kills it and panics when it hangs.
fn wait_for(child: &mut Child, secs: u64, what: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs berth with `input` on a piped stdin; returns (code, stdout, stderr).
fn with_stdin(env: &Env, args: &[&str], input: &[u8]) -> Run {
    let mut child = env
        .cmd()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("berth {args:?} hung"))
        .unwrap();
    Run::from(out)
}

fn state(env: &Env, name: &str) -> String {
    inspect(env, "{{.State.Status}}", name)
}

// ---- 1. run flags ------------------------------------------------------------------

#[test]
fn run_env_workdir_user_hostname() {
    let env = Env::new();
    env.busybox();
    let envfile = env.dir.join("envfile");
    std::fs::write(
        &envfile,
        "# a comment\n\nFILE1=one\nSPACED=two words\nFROMCALLER2\n",
    )
    .unwrap();
    let r = Run::from(
        env.cmd()
            .env("FROMCALLER", "caller value")
            .env("FROMCALLER2", "second")
            .args([
                "run",
                "--rm",
                "-e",
                "K=V",
                "-e",
                "FROMCALLER",
                "-e",
                "NOT_SET_ANYWHERE_XYZ",
                "--env-file",
                envfile.to_str().unwrap(),
                BUSYBOX,
                "env",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vars: BTreeSet<&str> = r.stdout.lines().collect();
    for want in [
        "K=V",
        "FROMCALLER=caller value",
        "FILE1=one",
        "SPACED=two words",
        "FROMCALLER2=second",
        "TERM=xterm",
        "container=podman",
    ] {
        assert!(vars.contains(want), "{want} missing from {vars:?}");
    }
    // Podman drops `-e NAME` when the caller has no such variable.
    assert!(!r.stdout.contains("NOT_SET_ANYWHERE_XYZ"), "{}", r.stdout);
    // -e overrides the image's and the env file's values.
    assert_eq!(
        sh(
            &env,
            &["--env-file", envfile.to_str().unwrap(), "-e", "FILE1=cli"],
            "echo $FILE1"
        ),
        "cli\n"
    );

    assert_eq!(sh(&env, &["-w", "/tmp"], "pwd"), "/tmp\n");
    assert_eq!(
        sh(&env, &["-u", "nobody"], "id -u; id -g; echo $HOME"),
        "65534\n65534\n/nonexistent\n"
    );
    assert_eq!(
        sh(&env, &["-u", "1000:1000"], "id -u; id -g"),
        "1000\n1000\n"
    );
    assert_eq!(sh(&env, &["--hostname", "myhost"], "hostname"), "myhost\n");
    assert_eq!(
        sh(
            &env,
            &["--hostname", "myhost"],
            "cat /etc/hostname; echo $HOSTNAME"
        ),
        "myhost\nmyhost\n"
    );
}

#[test]
fn entrypoint_as_string_and_json_array() {
    let env = Env::new();
    env.busybox();
    assert_eq!(
        env.ok(&["run", "--rm", "--entrypoint", "echo", BUSYBOX, "a", "b"]),
        "a b\n"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            r#"["sh","-c","echo entry $0"]"#,
            BUSYBOX,
            "arg0"
        ]),
        "entry arg0\n"
    );
    env.ok(&[
        "create",
        "--name",
        "ep",
        "--entrypoint",
        r#"["echo","x"]"#,
        BUSYBOX,
        "y",
    ]);
    assert_eq!(
        inspect(&env, "{{.Path}} {{json .Args}} {{json .Config.Cmd}}", "ep"),
        r#"echo ["x","y"] ["y"]"#
    );
    assert_eq!(env.ok(&["start", "-a", "ep"]), "x y\n");
}

#[test]
fn read_only_root_keeps_tmp_writable() {
    let env = Env::new();
    env.busybox();
    let r = env.run(&["run", "--rm", "--read-only", BUSYBOX, "touch", "/file"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    // Podman's --read-only-tmpfs (on by default): tmpfs on /tmp, /var/tmp and /run.
    assert_eq!(
        sh(
            &env,
            &["--read-only"],
            "touch /tmp/a /var/tmp/b /run/c && echo ok"
        ),
        "ok\n"
    );
    let mounts = sh(&env, &["--read-only"], "cat /proc/mounts");
    for d in ["/tmp", "/var/tmp", "/run"] {
        assert!(
            mounts
                .lines()
                .any(|l| l.starts_with(&format!("tmpfs {d} tmpfs rw,nosuid,nodev"))),
            "{d}: {mounts}"
        );
    }
    // Without --read-only there is no extra tmpfs and / is writable.
    let mounts = sh(&env, &[], "touch /file && cat /proc/mounts");
    assert!(!mounts.contains(" /tmp tmpfs"), "{mounts}");
    env.ok(&["create", "--name", "ro", "--read-only", BUSYBOX, "true"]);
    assert_eq!(
        inspect(&env, "{{.HostConfig.ReadonlyRootfs}}", "ro"),
        "true"
    );
}

#[test]
fn init_runs_catatonit_as_pid_1() {
    let env = Env::new();
    env.busybox();
    let out = env.ok(&["run", "--rm", "--init", BUSYBOX, "cat", "/proc/1/cmdline"]);
    assert_eq!(out, "/run/podman-init\0--\0cat\0/proc/1/cmdline\0");
    // Without --init the command is PID 1.
    let out = env.ok(&["run", "--rm", BUSYBOX, "cat", "/proc/1/cmdline"]);
    assert_eq!(out, "cat\0/proc/1/cmdline\0");
    // catatonit forwards the exit code.
    env.fails(3, &["run", "--rm", "--init", BUSYBOX, "sh", "-c", "exit 3"]);
}

#[test]
fn host_network_versus_none() {
    let env = Env::new();
    env.busybox();
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let inside = |flags: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = sh(&env, flags, "ls /sys/class/net")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(inside(&["--network", "host"]), host);
    assert_eq!(inside(&["--network", "none"]), vec!["lo"]);
    assert_eq!(inside(&[]), vec!["lo"], "none is the default");
    env.fails(
        125,
        &["run", "--rm", "--network", "nosuchnet", BUSYBOX, "true"],
    );
}

#[test]
fn ulimits_and_the_default_nofile() {
    let env = Env::new();
    env.busybox();
    assert_eq!(
        sh(
            &env,
            &["--ulimit", "nofile=100:200"],
            "ulimit -n; ulimit -Hn"
        ),
        "100\n200\n"
    );
    assert_eq!(
        sh(&env, &["--ulimit", "nofile=300"], "ulimit -n; ulimit -Hn"),
        "300\n300\n"
    );
    // Podman's 1048576 clamped to our hard limit (20000 on the reference machine, where
    // Podman's own default fails to start the container).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let want = lim.rlim_max.min(1_048_576);
    assert_eq!(
        sh(&env, &[], "ulimit -n; ulimit -Hn"),
        format!("{want}\n{want}\n")
    );
    env.fails(
        125,
        &["run", "--rm", "--ulimit", "nofile=200:100", BUSYBOX, "true"],
    );
    env.fails(
        125,
        &["run", "--rm", "--ulimit", "bogus=1", BUSYBOX, "true"],
    );
}

#[test]
fn stop_timeout_and_stop_signal_in_inspect() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "d", BUSYBOX, "true"]);
    env.ok(&[
        "create",
        "--name",
        "s",
        "--stop-timeout",
        "7",
        "--stop-signal",
        "SIGUSR2",
        BUSYBOX,
        "true",
    ]);
    let f = "{{.Config.StopTimeout}} {{.Config.StopSignal}}";
    assert_eq!(inspect(&env, f, "d"), "10 15");
    assert_eq!(inspect(&env, f, "s"), "7 12");
    env.ok(&[
        "create",
        "--name",
        "n",
        "--stop-signal",
        "9",
        BUSYBOX,
        "true",
    ]);
    assert_eq!(inspect(&env, f, "n"), "10 9");

    // `stop` without -t waits --stop-timeout (sleep as PID 1 ignores SIGTERM), then kills.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "st",
        "--stop-timeout",
        "1",
        BUSYBOX,
        "sleep",
        "1000",
    ]);
    let t = Instant::now();
    env.ok(&["stop", "st"]);
    let took = t.elapsed();
    // Between the 1 s asked for and the 10 s default (a loaded CI machine is slow).
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(9),
        "{took:?}"
    );
    assert_eq!(inspect(&env, "{{.State.ExitCode}}", "st"), "137");
    // With --init, catatonit passes SIGTERM on and sleep dies of it at once.
    env.ok(&[
        "run", "-d", "--name", "in", "--init", BUSYBOX, "sleep", "1000",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    env.ok(&["stop", "in"]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(inspect(&env, "{{.State.ExitCode}}", "in"), "143");
}

#[test]
fn capabilities_add_drop_and_privileged() {
    let env = Env::new();
    env.busybox();
    // +NET_ADMIN (bit 12), -CHOWN (bit 0) from Podman's default 0x800405fb.
    assert_eq!(
        status_field(
            &env,
            &["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"],
            "CapEff"
        ),
        "00000000800415fa"
    );
    assert_eq!(
        status_field(&env, &["--cap-add", "cap_net_raw"], "CapEff"),
        "00000000800425fb"
    );
    assert_eq!(
        status_field(&env, &["--cap-drop", "ALL"], "CapEff"),
        "0000000000000000"
    );
    assert_eq!(
        status_field(&env, &["--cap-drop", "ALL", "--cap-add", "KILL"], "CapEff"),
        "0000000000000020"
    );
    // ALL and --privileged: every capability we hold (Podman leaves out the ones outside
    // the caller's bounding set rather than failing).
    let bnd = host_bounding_set();
    assert_eq!(status_field(&env, &["--cap-add", "ALL"], "CapEff"), bnd);
    let out = sh(
        &env,
        &["--privileged"],
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev; grep -q '^sysfs /sys sysfs rw' /proc/mounts && echo sysrw",
    );
    assert!(out.contains(&format!("CapEff:\t{bnd}\n")), "{out}");
    assert!(out.contains("Seccomp:\t0\n"), "{out}");
    assert!(out.contains("sysrw\n"), "{out}");
    let inside: BTreeSet<&str> = out.lines().collect();
    for e in std::fs::read_dir("/dev").unwrap().flatten() {
        use std::os::unix::fs::FileTypeExt;
        let ft = e.file_type().unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if (ft.is_char_device() || ft.is_block_device()) && name != "console" {
            assert!(inside.contains(name.as_str()), "/dev/{name} missing: {out}");
        }
    }
    env.ok(&[
        "create",
        "--name",
        "c",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "CHOWN",
        BUSYBOX,
        "true",
    ]);
    let caps = inspect(
        &env,
        "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}",
        "c",
    );
    assert!(
        caps.contains("NET_ADMIN") && caps.contains("CHOWN"),
        "{caps}"
    );
    let eff = inspect(&env, "{{json .EffectiveCaps}}", "c");
    assert!(
        eff.contains("CAP_NET_ADMIN") && !eff.contains("CAP_CHOWN"),
        "{eff}"
    );
}

// ---- 2. secure defaults --------------------------------------------------------------

#[test]
fn secure_defaults_match_podman() {
    let env = Env::new();
    env.busybox();
    let out = sh(&env, &[], "cat /proc/self/status");
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap_or_else(|| panic!("{k}: {out}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("CapEff"), "00000000800405fb");
    assert_eq!(field("CapBnd"), "00000000800405fb");
    assert_eq!(field("CapPrm"), "00000000800405fb");
    assert_eq!(field("CapInh"), "0000000000000000");
    assert_eq!(field("Seccomp"), "2");
    assert_eq!(field("NoNewPrivs"), "0");

    // Masked paths are empty (or absent where the host has none), read-only paths refuse writes.
    assert_eq!(
        sh(
            &env,
            &[],
            "for f in /proc/kcore /proc/keys /proc/timer_list; do \
               [ -e $f ] && wc -c < $f || echo 0; done; ls /proc/acpi | wc -l"
        ),
        "0\n0\n0\n0\n"
    );
    let r = env.run(&[
        "run",
        "--rm",
        BUSYBOX,
        "sh",
        "-c",
        "echo foo > /proc/sys/kernel/hostname",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    let r = env.run(&["run", "--rm", BUSYBOX, "touch", "/sys/x"]);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    let mounts = sh(&env, &[], "cat /proc/mounts");
    assert!(
        mounts.contains("proc /proc/sys proc ro,"),
        "/proc/sys is not read-only: {mounts}"
    );
    assert!(
        mounts.contains("tmpfs /dev tmpfs rw,nosuid,noexec,"),
        "{mounts}"
    );
    assert!(
        mounts.contains("size=64000k"),
        "/dev/shm as Podman's: {mounts}"
    );

    // /dev holds only the default devices.
    let dev: Vec<String> = sh(&env, &[], "ls /dev")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        dev,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ]
    );
    // And the device cgroup refuses the others (no mknod of a disk).
    let r = env.run(&["run", "--rm", BUSYBOX, "mknod", "/tmp/sda", "b", "8", "0"]);
    assert_ne!(r.code, 0, "mknod of a block device succeeded");
}

// ---- 3. ps ---------------------------------------------------------------------------

/// Three containers, created in this order within the same second: web (exited 3,
/// label k=v), api (created), db (running).
fn ps_setup(env: &Env) -> (String, String, String) {
    env.busybox();
    env.fails(
        3,
        &[
            "run",
            "--name",
            "web",
            "-l",
            "k=v",
            "-l",
            "tier=front",
            BUSYBOX,
            "sh",
            "-c",
            "exit 3",
        ],
    );
    let web = inspect(env, "{{.Id}}", "web");
    let api = env
        .ok(&["create", "--name", "api", BUSYBOX, "true"])
        .trim()
        .to_string();
    let db = env
        .ok(&["run", "-d", "--name", "db", BUSYBOX, "sleep", "1000"])
        .trim()
        .to_string();
    (web, api, db)
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn ps_selection_and_filters() {
    let env = Env::new();
    let (web, api, db) = ps_setup(&env);
    let names = |args: &[&str]| -> String {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        env.ok(&a).lines().collect::<Vec<_>>().join(" ")
    };
    assert_eq!(names(&[]), "db");
    // Creation order, oldest first, even within one second.
    assert_eq!(names(&["-a"]), "web api db");
    assert_eq!(env.ok(&["ps", "-q"]), format!("{}\n", &db[..12]));
    assert_eq!(
        env.ok(&["ps", "-a", "-q", "--no-trunc"]),
        format!("{web}\n{api}\n{db}\n")
    );
    assert_eq!(
        env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}}"]),
        format!("{web}\n{api}\n{db}\n")
    );
    assert_eq!(names(&["-l"]), "db");
    assert_eq!(names(&["-n", "2"]), "api db");
    assert_eq!(names(&["-a", "--sort", "names"]), "api db web");
    assert_eq!(names(&["-a", "--filter", "name=web"]), "web");
    assert_eq!(names(&["-a", "--filter", "name=^a"]), "api");
    assert_eq!(
        names(&["-a", "--filter", &format!("id={}", &api[..6])]),
        "api"
    );
    assert_eq!(names(&["-a", "--filter", "label=k=v"]), "web");
    assert_eq!(names(&["-a", "--filter", "label=tier"]), "web");
    assert_eq!(names(&["-a", "--filter", "label=k=other"]), "");
    assert_eq!(names(&["-a", "--filter", "status=exited"]), "web");
    assert_eq!(names(&["-a", "--filter", "status=created"]), "api");
    assert_eq!(names(&["-a", "--filter", "status=running"]), "db");
    // Several values of one key: OR; different keys: AND.
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "status=exited",
            "--filter",
            "status=running"
        ]),
        "web db"
    );
    assert_eq!(
        names(&["-a", "--filter", "status=exited", "--filter", "name=api"]),
        ""
    );
    assert_eq!(
        names(&["-a", "--filter", &format!("ancestor={BUSYBOX}")]),
        "web api db"
    );
    assert_eq!(names(&["-a", "--filter", "ancestor=nosuchimage"]), "");
    assert_eq!(names(&["-a", "--filter", "exited=3"]), "web");
    assert_eq!(names(&["-a", "--filter", "exited=0"]), "");
    // A filter alone lists stopped containers too (as Podman does).
    assert_eq!(names(&["--filter", "status=exited"]), "web");

    let err = env.fails(125, &["ps", "--filter", "bogus=1"]);
    assert!(err.contains("bogus"), "{err}");
    let err = env.fails(125, &["ps", "--filter", "status=bogus"]);
    assert!(err.contains("bogus"), "{err}");
    env.fails(125, &["ps", "--filter", "noequals"]);
    env.fails(125, &["ps", "--filter", "exited=x"]);
    env.fails(125, &["ps", "--sort", "bogus"]);
}

#[test]
fn ps_formats() {
    let env = Env::new();
    let (web, api, db) = ps_setup(&env);
    let out = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    let l = lines(&out);
    assert!(l[0].starts_with("web Exited (3) "), "{out}");
    assert_eq!(l[1], "api Created");
    assert!(l[2].starts_with("db Up "), "{out}");
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.State}} {{.ExitCode}} {{.Image}}"
        ]),
        format!("exited 3 {BUSYBOX}\ncreated 0 {BUSYBOX}\nrunning 0 {BUSYBOX}\n")
    );
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=web",
            "--format",
            "{{.Command}}|{{.Labels}}"
        ]),
        "sh -c exit 3|map[k:v tier:front]\n"
    );

    // JSON: Podman's field names and types.
    let out = env.ok(&["ps", "-a", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    let w = &arr[0];
    assert_eq!(w["Id"], web.as_str());
    assert_eq!(w["Names"], serde_json::json!(["web"]));
    assert_eq!(w["State"], "exited");
    assert!(w["Status"].as_str().unwrap().starts_with("Exited (3)"));
    assert_eq!(w["ExitCode"], 3);
    assert_eq!(w["Exited"], true);
    assert_eq!(w["Command"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert!(w["Created"].is_i64(), "{w}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((w["Created"].as_i64().unwrap() - now).abs() < 120, "{w}");
    assert!(w["StartedAt"].is_i64() && w["ExitedAt"].is_i64(), "{w}");
    assert_eq!(w["Labels"], serde_json::json!({"k": "v", "tier": "front"}));
    assert_eq!(w["Image"], BUSYBOX);
    assert_eq!(w["Pid"], 0);
    assert_eq!(arr[1]["Id"], api.as_str());
    assert_eq!(arr[1]["Labels"], Value::Null);
    assert_eq!(arr[1]["State"], "created");
    assert_eq!(arr[2]["Id"], db.as_str());
    assert!(arr[2]["Pid"].as_i64().unwrap() > 0);
    // An empty list is still JSON.
    assert_eq!(
        env.ok(&["ps", "--filter", "name=nothing", "--format", "json"])
            .trim(),
        "[]"
    );

    // Tables: Podman's headers and column widths.
    let out = env.ok(&["ps", "-a", "--format", "table {{.ID}}\t{{.Names}}"]);
    assert_eq!(
        out,
        format!(
            "CONTAINER ID  NAMES\n{}  web\n{}  api\n{}  db\n",
            &web[..12],
            &api[..12],
            &db[..12]
        )
    );
    let out = env.ok(&["ps", "-a", "--format", "table {{.Names}}\t{{.State}}"]);
    assert_eq!(
        lines(&out),
        [
            "NAMES       STATE",
            "web         exited",
            "api         created",
            "db          running"
        ]
    );
    let out = env.ok(&["ps", "-a", "--noheading", "--format", "table {{.Names}}"]);
    assert_eq!(out, "web\napi\ndb\n");
    let out = env.ok(&["ps", "-a"]);
    let header = lines(&out)[0];
    let cols: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    // An empty PORTS column is 12 wide, as Go's tabwriter makes it.
    assert!(header.contains("PORTS       NAMES"), "{header:?}");
}

// ---- 4. inspect ----------------------------------------------------------------------

#[test]
fn inspect_templates_as_users_write_them() {
    let env = Env::new();
    env.busybox();
    let id = env
        .ok(&[
            "create", "--name", "web", "-l", "k=v", "-e", "A=1", BUSYBOX, "sleep", "5",
        ])
        .trim()
        .to_string();
    env.ok(&["create", "--name", "plain", BUSYBOX, "true"]);
    assert_eq!(inspect(&env, "{{.Name}}", "web"), "web");
    assert_eq!(inspect(&env, "{{.Id}}", "web"), id);
    assert_eq!(inspect(&env, "{{.State.Status}}", "web"), "created");
    assert_eq!(inspect(&env, "{{upper .Name}}", "web"), "WEB");
    assert_eq!(inspect(&env, r#"{{index .Config.Labels "k"}}"#, "web"), "v");
    // A missing key through index is empty, as with Go's map[string]string.
    assert_eq!(
        inspect(&env, r#"{{index .Config.Labels "k"}}|"#, "plain"),
        "|"
    );
    assert_eq!(
        inspect(&env, r#"{{index .Config.Labels "nokey"}}|"#, "web"),
        "|"
    );
    let envs = inspect(&env, "{{range .Config.Env}}{{.}} {{end}}", "web");
    assert!(envs.contains("A=1") && envs.contains("PATH="), "{envs}");
    let cfg: Value =
        serde_json::from_str(&inspect(&env, "{{json .Config}}", "web")).expect("valid JSON");
    assert_eq!(cfg["Labels"]["k"], "v");
    assert_eq!(cfg["Cmd"], serde_json::json!(["sleep", "5"]));
    assert!(cfg["Env"].as_array().unwrap().iter().any(|e| e == "A=1"));
    let all: Value = serde_json::from_str(&inspect(&env, "{{json .}}", "web")).unwrap();
    assert_eq!(all["Id"], id.as_str());
    assert_eq!(all["State"]["Status"], "created");
    assert_eq!(all["Config"]["Labels"]["k"], "v");
    assert_eq!(
        inspect(
            &env,
            "{{.State.Running}} {{.State.ExitCode}} {{.HostConfig.NetworkMode}}",
            "web"
        ),
        "false 0 none"
    );
    assert_eq!(inspect(&env, "{{json .Config.Labels}}", "plain"), "null");

    // Without --format: a JSON array, one document per name.
    let v: Value = serde_json::from_str(&env.ok(&["inspect", "web", "plain"])).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["Name"], "web");
    assert_eq!(arr[1]["Name"], "plain");
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.Name}}", "web", "plain"]),
        "web\nplain\n"
    );
    assert_eq!(
        env.ok(&["container", "inspect", "--format", "{{.Name}}", &id[..8]]),
        "web\n"
    );
    // One missing name: the others are still shown, exit 125.
    let r = env.run(&["inspect", "--format", "{{.Name}}", "web", "nosuch"]);
    assert_eq!(r.code, 125);
    assert_eq!(r.stdout, "web\n");
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);

    // A name that is both a container and an image: the container wins, --type chooses.
    env.ok(&["tag", BUSYBOX, "same"]);
    let cid = env
        .ok(&["create", "--name", "same", BUSYBOX, "true"])
        .trim()
        .to_string();
    let img = env
        .ok(&["image", "inspect", "--format", "{{.Id}}", "same"])
        .trim()
        .to_string();
    assert_ne!(img, cid);
    assert_eq!(inspect(&env, "{{.Id}}", "same"), cid);
    assert_eq!(
        env.ok(&["inspect", "--type", "image", "--format", "{{.Id}}", "same"])
            .trim(),
        img
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.Id}}",
            "same"
        ])
        .trim(),
        cid
    );
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.Id}}", BUSYBOX]).trim(),
        img
    );
    env.fails(125, &["inspect", "--type", "container", BUSYBOX]);
    env.fails(125, &["container", "inspect", BUSYBOX]);
    env.fails(125, &["inspect", "--type", "bogus", "web"]);
    // A template error is an error, not garbage output.
    env.fails(125, &["inspect", "--format", "{{.Name", "web"]);
}

// ---- 5. logs -------------------------------------------------------------------------

/// Runs a container to completion (output discarded), for its log.
fn logged(env: &Env, name: &str, script: &str) {
    env.ok(&["run", "--name", name, BUSYBOX, "sh", "-c", script]);
}

#[test]
fn logs_streams_tail_timestamps_and_time_bounds() {
    let env = Env::new();
    env.busybox();
    logged(&env, "s", "echo out1; echo err1 >&2; sleep 0.1; echo out2");
    let r = env.run(&["logs", "s"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "out1\nout2\n");
    assert_eq!(r.stderr, "err1\n");

    // A line written in pieces is one line, on its own stream.
    logged(
        &env,
        "p",
        "printf a; sleep 0.2; echo e >&2; printf 'b\\n'; printf 'no newline'",
    );
    let r = env.run(&["logs", "p"]);
    // A last partial line is printed as it is, without a newline (as Podman does).
    assert_eq!(r.stdout, "ab\nno newline");
    assert_eq!(r.stderr, "e\n");

    logged(&env, "t", "for i in 1 2 3 4 5; do echo line$i; done");
    assert_eq!(env.ok(&["logs", "--tail", "2", "t"]), "line4\nline5\n");
    assert_eq!(env.ok(&["logs", "--tail", "0", "t"]), "");
    assert_eq!(env.ok(&["logs", "--tail", "-1", "t"]).lines().count(), 5);
    assert_eq!(env.ok(&["logs", "--tail", "99", "t"]).lines().count(), 5);

    let out = env.ok(&["logs", "-t", "t"]);
    for (i, l) in out.lines().enumerate() {
        let (ts, text) = l.split_once(' ').unwrap();
        assert_eq!(text, format!("line{}", i + 1));
        let t = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));
        let age = chrono::Utc::now().signed_duration_since(t);
        assert!(age.num_seconds().abs() < 120, "{ts}");
        // Go's RFC3339Nano: no trailing zeros in the fraction; Z for UTC.
        let frac = ts.split('.').nth(1).unwrap_or("");
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        assert!(!digits.ends_with('0'), "{ts}");
        if t.offset().local_minus_utc() == 0 {
            assert!(ts.ends_with('Z'), "{ts}");
        }
    }

    assert_eq!(
        env.ok(&["logs", "--since", "2099-01-01T00:00:00Z", "t"]),
        ""
    );
    assert_eq!(
        env.ok(&["logs", "--until", "2000-01-01T00:00:00Z", "t"]),
        ""
    );
    assert_eq!(
        env.ok(&["logs", "--since", "2000-01-01T00:00:00Z", "t"])
            .lines()
            .count(),
        5
    );
    assert_eq!(
        env.ok(&["logs", "--until", "2099-01-01", "t"])
            .lines()
            .count(),
        5
    );
    assert_eq!(env.ok(&["logs", "--since", "10m", "t"]).lines().count(), 5);
    assert_eq!(env.ok(&["logs", "--until", "10m", "t"]), "");
    env.fails(125, &["logs", "--since", "yesterday-ish", "t"]);
    env.fails(125, &["logs", "nosuch"]);
    // A container that never ran has an empty log.
    env.ok(&["create", "--name", "new", BUSYBOX, "true"]);
    assert_eq!(env.ok(&["logs", "new"]), "");

    // Several containers: each line prefixed with the short ID.
    let sid = inspect(&env, "{{.Id}}", "s");
    let tid = inspect(&env, "{{.Id}}", "t");
    let out = env.ok(&["logs", "--tail", "1", "s", "t"]);
    assert_eq!(out, format!("{} out2\n{} line5\n", &sid[..12], &tid[..12]));
}

#[test]
fn logs_follow_returns_when_the_container_exits() {
    let env = Env::new();
    env.busybox();
    // Before the container starts: its output ends at least 1.2 s after this.
    let start = Instant::now();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        BUSYBOX,
        "sh",
        "-c",
        "echo one; sleep 1; echo two; printf 'th'; sleep 0.2; echo ree",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "g",
        BUSYBOX,
        "sh",
        "-c",
        "sleep 0.5; echo gee",
    ]);
    let follow = |args: &[&str]| {
        let child = env
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        rx
    };
    let one = follow(&["logs", "-f", "f"]);
    let both = follow(&["logs", "-f", "f", "g"]);
    let out = Run::from(one.recv_timeout(Duration::from_secs(15)).unwrap().unwrap());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "one\ntwo\nthree\n");
    assert!(start.elapsed() >= Duration::from_millis(1000));
    let out = Run::from(both.recv_timeout(Duration::from_secs(15)).unwrap().unwrap());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fid = inspect(&env, "{{.Id}}", "f");
    let gid = inspect(&env, "{{.Id}}", "g");
    let mut got: Vec<&str> = out.stdout.lines().collect();
    got.sort();
    let mut want = vec![
        format!("{} one", &fid[..12]),
        format!("{} two", &fid[..12]),
        format!("{} three", &fid[..12]),
        format!("{} gee", &gid[..12]),
    ];
    want.sort();
    assert_eq!(got, want);
    // -f on an exited container prints the log and returns at once.
    let t = Instant::now();
    assert_eq!(env.ok(&["logs", "-f", "g"]), "gee\n");
    assert!(t.elapsed() < Duration::from_secs(3));
}

// ---- 6. exec -------------------------------------------------------------------------

#[test]
fn exec_flags_and_exit_codes() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "x",
        "-e",
        "FROMRUN=1",
        BUSYBOX,
        "sleep",
        "1000",
    ]);
    assert_eq!(
        env.ok(&["exec", "-e", "K=V", "x", "sh", "-c", "echo $K $FROMRUN"]),
        "V 1\n"
    );
    assert_eq!(
        Run::from(
            env.cmd()
                .env("CALLERVAR", "c")
                .args([
                    "exec",
                    "-e",
                    "CALLERVAR",
                    "x",
                    "sh",
                    "-c",
                    "echo $CALLERVAR"
                ])
                .output()
                .unwrap()
        )
        .stdout,
        "c\n"
    );
    assert_eq!(
        env.ok(&["exec", "-u", "nobody", "x", "sh", "-c", "id -u; echo $HOME"]),
        "65534\n/nonexistent\n"
    );
    assert_eq!(
        env.ok(&["exec", "-u", "1000:1000", "x", "id", "-g"]),
        "1000\n"
    );
    assert_eq!(env.ok(&["exec", "-w", "/tmp", "x", "pwd"]), "/tmp\n");
    assert_eq!(env.ok(&["exec", "x", "pwd"]), "/\n");
    env.fails(7, &["exec", "x", "sh", "-c", "exit 7"]);
    let err = env.fails(127, &["exec", "x", "nosuchcmd"]);
    assert!(err.contains("nosuchcmd"), "{err}");
    env.fails(126, &["exec", "x", "/etc/passwd"]);
    let r = env.run(&["exec", "x", "sh", "-c", "echo o; echo e >&2"]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("o\n", "e\n"));
    assert_eq!(
        env.ok(&["exec", "x", "grep", "CapEff", "/proc/self/status"]),
        "CapEff:\t00000000800405fb\n"
    );
    assert_eq!(
        env.ok(&[
            "exec",
            "--privileged",
            "x",
            "grep",
            "CapEff",
            "/proc/self/status"
        ]),
        format!("CapEff:\t{}\n", host_bounding_set())
    );
    assert_eq!(env.ok(&["exec", "-l", "hostname"]).len(), 13);

    // -t without a terminal of our own (as in CI): a pty inside, CRLF outside, codes pass.
    let out = env.ok(&["exec", "-t", "x", "tty"]);
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n"),
        "{out:?}"
    );
    env.fails(3, &["exec", "-t", "x", "sh", "-c", "exit 3"]);
    env.fails(137, &["exec", "-t", "x", "sh", "-c", "kill -9 $$"]);
    env.fails(127, &["exec", "-t", "x", "nosuchcmd"]);
    let r = with_stdin(
        &env,
        &[
            "exec",
            "-i",
            "-t",
            "x",
            "sh",
            "-c",
            "read l; echo got $l; exit 2",
        ],
        b"abc\n",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.contains("got abc\r\n"), "{:?}", r.stdout);
    // No console sockets or process files left in the run directory.
    let id = inspect(&env, "{{.Id}}", "x");
    let left: Vec<String> = std::fs::read_dir(env.runroot.join("containers").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("exec-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn exec_stdin_detach_and_stopped_containers() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "-d", "--name", "x", BUSYBOX, "sleep", "1000"]);
    let r = with_stdin(&env, &["exec", "-i", "x", "cat"], b"hi\nthere\n");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "hi\nthere\n"),
        "{}",
        r.stderr
    );
    let r = with_stdin(
        &env,
        &["exec", "-i", "x", "sh", "-c", "read a; exit $a"],
        b"9\n",
    );
    assert_eq!(r.code, 9);
    // Without -i the process gets no stdin.
    let r = with_stdin(&env, &["exec", "x", "cat"], b"ignored\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));

    let out = env.ok(&["exec", "-d", "x", "sh", "-c", "sleep 0.2; touch /tmp/done"]);
    assert_eq!(out.trim().len(), 64, "{out}");
    assert!(eventually(5, || env
        .run(&["exec", "x", "test", "-f", "/tmp/done"])
        .code
        == 0));

    env.ok(&["stop", "-t", "0", "x"]);
    // Podman: 255 for an attached exec into a container that is not running, 125 detached.
    let err = env.fails(255, &["exec", "x", "true"]);
    assert!(
        err.contains("can only create exec sessions on running containers"),
        "{err}"
    );
    env.fails(125, &["exec", "-d", "x", "true"]);
    env.ok(&["create", "--name", "c", BUSYBOX, "true"]);
    env.fails(255, &["exec", "c", "true"]);
    env.fails(125, &["exec", "nosuch", "true"]);
}

// ---- 7. tty and attach -----------------------------------------------------------------

#[test]
fn tty_and_interactive_run() {
    let env = Env::new();
    env.busybox();
    let out = env.ok(&["run", "--rm", "-t", BUSYBOX, "tty"]);
    let dev = out
        .strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("no CRLF: {out:?}"));
    assert!(
        dev.strip_prefix("/dev/pts/")
            .is_some_and(|n| n.parse::<u32>().is_ok()),
        "{out:?}"
    );
    // Without -t there is no terminal.
    let r = env.run(&["run", "--rm", BUSYBOX, "tty"]);
    assert_eq!(r.stdout, "not a tty\n");
    let r = with_stdin(&env, &["run", "--rm", "-i", BUSYBOX, "cat"], b"x\ny\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "x\ny\n"), "{}", r.stderr);
    let r = with_stdin(
        &env,
        &[
            "run",
            "--rm",
            "-i",
            BUSYBOX,
            "sh",
            "-c",
            "read l; echo got $l; exit 4",
        ],
        b"abc\n",
    );
    assert_eq!((r.code, r.stdout.as_str()), (4, "got abc\n"));
    // Without -i the container's stdin is empty.
    let r = with_stdin(&env, &["run", "--rm", BUSYBOX, "cat"], b"dropped\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn attach_and_start_attach_return_the_exit_code() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        BUSYBOX,
        "sh",
        "-c",
        "sleep 1; echo late; echo lateerr >&2; exit 4",
    ]);
    let r = env.run(&["attach", "late"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.stdout, "late\n");
    assert_eq!(r.stderr, "lateerr\n");
    assert_eq!(state(&env, "late"), "exited");
    let err = env.fails(125, &["attach", "late"]);
    assert!(err.contains("late") || err.contains("running"), "{err}");

    env.ok(&[
        "create",
        "--name",
        "s",
        BUSYBOX,
        "sh",
        "-c",
        "echo hi; echo oops >&2; exit 6",
    ]);
    let r = env.run(&["start", "-a", "s"]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (6, "hi\n", "oops\n")
    );
    assert_eq!(inspect(&env, "{{.State.ExitCode}}", "s"), "6");
    // start -a of an exited container runs it again.
    let r = env.run(&["start", "-a", "s"]);
    assert_eq!((r.code, r.stdout.as_str()), (6, "hi\n"));
    // start -i -a feeds stdin to a container created with -i.
    env.ok(&["create", "-i", "--name", "cat", BUSYBOX, "cat"]);
    let r = with_stdin(&env, &["start", "-a", "-i", "cat"], b"piped\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "piped\n"), "{}", r.stderr);
}

/// A child process whose stdio is the slave side of a new pty.
struct Pty {
    master: std::fs::File,
    child: Child,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(env: &Env, args: &[&str]) -> Pty {
        use std::os::fd::{AsRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave: OwnedFd = pty.slave;
        let mut cmd = env.cmd();
        cmd.args(args)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let master = std::fs::File::from(pty.master);
        let out = read_in_background(master.try_clone().unwrap());
        let _ = master.as_raw_fd();
        Pty { master, child, out }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_output(&self, secs: u64, needle: &str) -> bool {
        eventually(secs, || self.output().contains(needle))
    }
}

#[test]
fn detach_keys_leave_the_container_running() {
    let env = Env::new();
    env.busybox();
    let mut p = Pty::spawn(&env, &["run", "-it", "--name", "d", BUSYBOX, "sh"]);
    assert!(p.wait_output(10, "# "), "no prompt: {:?}", p.output());
    p.master.write_all(b"echo hello$((1+1))\r").unwrap();
    assert!(p.wait_output(5, "hello2"), "{:?}", p.output());
    p.master.write_all(&[0x10, 0x11]).unwrap(); // ctrl-p ctrl-q
    let code = wait_for(&mut p.child, 10, "berth run -it after the detach keys");
    assert_eq!(code, 0, "{:?}", p.output());
    assert_eq!(state(&env, "d"), "running");

    // attach again, type into the shell, and exit it: attach returns the exit code.
    let mut a = Pty::spawn(&env, &["attach", "d"]);
    std::thread::sleep(Duration::from_millis(300));
    a.master.write_all(b"echo again$((2+3)); exit 5\r").unwrap();
    let code = wait_for(&mut a.child, 10, "berth attach");
    assert_eq!(code, 5, "{:?}", a.output());
    assert!(a.output().contains("again5"), "{:?}", a.output());
    assert_eq!(state(&env, "d"), "exited");

    // On a terminal, -t output is not processed twice: "\r\n", not "\r\r\n".
    let mut t = Pty::spawn(&env, &["run", "--rm", "-t", BUSYBOX, "tty"]);
    assert_eq!(wait_for(&mut t.child, 10, "run -t tty"), 0);
    assert!(eventually(2, || t.output().contains('\n')));
    let out = t.output();
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n") && !out.contains("\r\r"),
        "{out:?}"
    );
    env.ok(&["run", "-d", "--name", "x", BUSYBOX, "sleep", "1000"]);
    let mut t = Pty::spawn(&env, &["exec", "-t", "x", "tty"]);
    assert_eq!(wait_for(&mut t.child, 10, "exec -t tty"), 0);
    assert!(eventually(2, || t.output().contains('\n')));
    let out = t.output();
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n") && !out.contains("\r\r"),
        "{out:?}"
    );

    // Custom detach keys.
    let mut p = Pty::spawn(
        &env,
        &[
            "run",
            "-it",
            "--detach-keys",
            "ctrl-a",
            "--name",
            "e",
            BUSYBOX,
            "sh",
        ],
    );
    assert!(p.wait_output(10, "# "), "no prompt: {:?}", p.output());
    p.master.write_all(&[0x01]).unwrap();
    assert_eq!(wait_for(&mut p.child, 10, "custom detach"), 0);
    assert_eq!(state(&env, "e"), "running");
}

// ---- 8. signals ------------------------------------------------------------------------

#[test]
fn foreground_run_proxies_signals() {
    let env = Env::new();
    env.busybox();
    let mut child = env
        .cmd()
        .args([
            "run",
            "--name",
            "sig",
            BUSYBOX,
            "sh",
            "-c",
            "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = wait_for(&mut child, 10, "berth run after SIGTERM");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(code, 42);
    assert_eq!(rest, "got TERM\n");
    assert_eq!(inspect(&env, "{{.State.ExitCode}}", "sig"), "42");
}

// ---- 9. top, info, version ---------------------------------------------------------------

#[test]
fn top_info_and_version() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "-d", "--name", "t", BUSYBOX, "sleep", "1000"]);
    let out = env.ok(&["top", "t"]);
    let l = lines(&out);
    assert_eq!(l.len(), 2, "{out}");
    // Go's tabwriter: cells padded to 12 columns.
    assert!(
        l[0].starts_with("USER        PID         PPID        %CPU        ELAPSED"),
        "{out}"
    );
    assert_eq!(
        l[0].split_whitespace().collect::<Vec<_>>(),
        ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    );
    let row: Vec<&str> = l[1].split_whitespace().collect();
    assert_eq!(row[..3], ["root", "1", "0"], "{out}");
    assert!(row[3].parse::<f64>().is_ok(), "{out}");
    // ELAPSED as Go prints a duration: "512.3ms", "1.2s", "2m3.4s".
    let el = row[4];
    assert!(
        el.ends_with('s') && el.chars().next().unwrap().is_ascii_digit() && !el.starts_with("0."),
        "{out}"
    );
    assert_eq!(row[5], "?");
    assert_eq!(row[7..], ["sleep", "1000"]);
    env.ok(&["stop", "-t", "0", "t"]);
    env.fails(125, &["top", "t"]);

    let v: Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(v["host"]["ociRuntime"]["name"], "runc");
    assert_eq!(v["store"]["graphDriverName"], "overlay");
    assert_eq!(
        env.ok(&[
            "info",
            "--format",
            "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}"
        ])
        .trim(),
        "overlay runc"
    );
    let plain = env.ok(&["info"]);
    assert!(plain.contains("graphDriverName: overlay"), "{plain}");

    let out = env.ok(&["version"]);
    assert!(out.lines().any(|l| l.starts_with("Version:")), "{out}");
    let v: Value = serde_json::from_str(&env.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(
        v["Client"]["Version"].as_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        env.ok(&["version", "--format", "{{.Client.Version}}"])
            .trim(),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let env = Env::new();
    env.busybox();
    // `berth ... | head -c1`: the rest of the output hits a closed pipe.
    for args in [
        vec!["version", "--format", "json"],
        vec!["info", "--format", "json"],
    ] {
        let mut child = env
            .cmd()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

// ---- Differences from Podman left to fix in containers.rs / monitor.rs ------------------

#[test]
fn default_user_gets_roots_home() {
    let env = Env::new();
    env.busybox();
    assert_eq!(sh(&env, &[], "echo $HOME"), "/root\n");
    env.ok(&["run", "-d", "--name", "x", BUSYBOX, "sleep", "1000"]);
    assert_eq!(env.ok(&["exec", "x", "sh", "-c", "echo $HOME"]), "/root\n");
}

#[test]
fn workdir_must_exist() {
    let env = Env::new();
    env.busybox();
    let err = env.fails(126, &["run", "--rm", "-w", "/new/dir", BUSYBOX, "pwd"]);
    assert!(
        err.contains("workdir \"/new/dir\" does not exist on container"),
        "{err}"
    );
    let err = env.fails(126, &["run", "--rm", "-w", "/etc/passwd", BUSYBOX, "pwd"]);
    assert!(err.contains("but is not a directory"), "{err}");
}

#[test]
fn numeric_user_gets_passwd_entries() {
    let env = Env::new();
    env.busybox();
    assert_eq!(
        sh(&env, &["-u", "1000:1000"], "id"),
        "uid=1000(1000) gid=1000(1000) groups=1000(1000)\n"
    );
}

#[test]
fn container_processes_ignore_no_signals() {
    let env = Env::new();
    env.busybox();
    assert_eq!(
        // grep itself as PID 1: busybox sh ignores SIGQUIT on its own (with Podman too).
        env.ok(&["run", "--rm", BUSYBOX, "grep", "SigIgn", "/proc/1/status"]),
        "SigIgn:\t0000000000000000\n"
    );
}

/// Sets the window size of the terminal behind `master` (the kernel then sends SIGWINCH
/// to the terminal's foreground process group: berth).
fn set_winsize(master: &std::fs::File, rows: u16, cols: u16) {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we pass.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

#[test]
fn run_it_passes_the_terminal_size_and_its_changes() {
    let env = Env::new();
    env.busybox();
    // The size at start (or, if berth read it first, the change right after).
    let mut p = Pty::spawn(&env, &["run", "--rm", "-it", "--name", "sz", BUSYBOX, "sh"]);
    set_winsize(&p.master, 30, 100);
    assert!(p.wait_output(10, "# "), "no prompt: {:?}", p.output());
    p.master.write_all(b"stty size\r").unwrap();
    assert!(p.wait_output(5, "30 100"), "{:?}", p.output());
    // A change while it runs reaches the container's terminal.
    set_winsize(&p.master, 42, 132);
    std::thread::sleep(Duration::from_millis(400));
    p.master.write_all(b"stty size; exit 3\r").unwrap();
    assert_eq!(wait_for(&mut p.child, 10, "run -it"), 3);
    assert!(p.output().contains("42 132"), "{:?}", p.output());
}
