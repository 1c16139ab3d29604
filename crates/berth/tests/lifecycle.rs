//! Container life cycle, driven through the real binary against runc and overlayfs.

mod common;
use common::*;

#[test]
fn run_returns_the_container_exit_code_and_podman_error_codes() {
    let env = Env::new();
    env.busybox();
    assert_eq!(
        env.ok(&["run", "--rm", BUSYBOX, "echo", "hello", "world"]),
        "hello world\n"
    );
    env.fails(3, &["run", "--rm", BUSYBOX, "sh", "-c", "exit 3"]);
    let err = env.fails(127, &["run", "--rm", BUSYBOX, "nosuchcommand"]);
    assert!(
        err.contains("nosuchcommand") && err.contains("not found"),
        "{err}"
    );
    env.fails(126, &["run", "--rm", BUSYBOX, "/etc/passwd"]);
    // Not stored: `--pull missing` tries to pull it, and a short name with no search
    // registries configured fails as Podman's does.
    let err = env.fails(125, &["run", "--rm", "nosuchimage", "true"]);
    assert!(
        err.starts_with("Error: short-name \"nosuchimage\" did not resolve to an alias"),
        "{err}"
    );
    let err = env.fails(
        125,
        &["run", "--rm", "--pull", "never", "nosuchimage", "true"],
    );
    assert_eq!(err.trim(), "Error: nosuchimage: image not known");
    let err = env.fails(125, &["run", "--foo", BUSYBOX, "true"]);
    assert!(err.starts_with("Error: ") && err.contains("--foo"), "{err}");
    env.fails(125, &["run", "--ulimit", "nofile=x", BUSYBOX, "true"]);
    env.fails(125, &["run", "--stop-signal", "SIGNOPE", BUSYBOX, "true"]);
    env.fails(125, &["run", "--cap-add", "NOT_A_CAP", BUSYBOX, "true"]);
    // Failed runs with --rm leave nothing behind.
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn name_in_use_and_unknown_container() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "web", BUSYBOX, "true"]);
    let err = env.fails(125, &["create", "--name", "web", BUSYBOX, "true"]);
    assert!(err.contains("\"web\" is already in use"), "{err}");
    let err = env.fails(125, &["start", "nosuch"]);
    assert_eq!(
        err.trim(),
        "Error: no container with name or ID \"nosuch\" found: no such container"
    );
    env.fails(125, &["stop", "nosuch"]);
    env.fails(125, &["inspect", "--type", "container", "nosuch"]);
    // podman rm: 1 when a container does not exist.
    env.fails(1, &["rm", "nosuch"]);
    env.ok(&["rm", "--ignore", "nosuch"]);
    env.fails(125, &["create", "--name", "bad/name", BUSYBOX, "true"]);
}

#[test]
fn detached_container_outlives_the_cli_and_stops() {
    let env = Env::new();
    env.busybox();
    let id = env
        .ok(&["run", "-d", "--name", "sleeper", BUSYBOX, "sleep", "1000"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = env.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Running}} {{.Name}}",
        "sleeper",
    ]);
    assert_eq!(st.trim(), "running true sleeper");
    let pid: i32 = env
        .ok(&["inspect", "--format", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // rm without force refuses a running container (podman: exit 2).
    let err = env.fails(2, &["rm", "sleeper"]);
    assert!(err.contains("running"), "{err}");
    // sleep as PID 1 ignores SIGTERM: stop -t 1 ends with SIGKILL.
    assert_eq!(env.ok(&["stop", "-t", "1", "sleeper"]).trim(), "sleeper");
    let st = env.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}",
        "sleeper",
    ]);
    assert_eq!(st.trim(), "exited 137 0");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        env.mounts().is_empty(),
        "stopped container still mounted: {:?}",
        env.mounts()
    );
    // It can start again.
    env.ok(&["start", "sleeper"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Status}}", "sleeper"])
            .trim(),
        "running"
    );
    env.ok(&["kill", "-s", "KILL", "sleeper"]);
    assert!(eventually(5, || env
        .ok(&["inspect", "--format", "{{.State.Status}}", "sleeper"])
        .trim()
        == "exited"));
    env.ok(&["rm", "sleeper"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(env.cgroups(&[id]).is_empty());
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn stop_signal_and_kill_reach_the_process() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        BUSYBOX,
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.ok(&["stop", "-t", "5", "t"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.ExitCode}}", "t"])
            .trim(),
        "42"
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "u",
        "--stop-signal",
        "USR1",
        BUSYBOX,
        "sh",
        "-c",
        "trap 'exit 7' USR1; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.ok(&["stop", "u"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}} {{.Config.StopSignal}}",
            "u"
        ])
        .trim(),
        "7 10"
    );
    let err = env.fails(125, &["kill", "u"]);
    assert!(err.contains("can only kill running containers"), "{err}");
}

#[test]
fn restart_pause_unpause_rename_init_wait() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "c1", BUSYBOX, "sleep", "1000"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Status}}", "c1"])
            .trim(),
        "created"
    );
    env.ok(&["init", "c1"]);
    assert_eq!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"]).trim(),
        "Initialized"
    );
    env.ok(&["start", "c1"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.State}}"]).trim(), "running");
    env.ok(&["pause", "c1"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Paused}}",
            "c1"
        ])
        .trim(),
        "paused true"
    );
    assert_eq!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"]).trim(),
        "Paused"
    );
    env.fails(125, &["pause", "c1"]);
    env.ok(&["unpause", "c1"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Status}}", "c1"])
            .trim(),
        "running"
    );
    env.ok(&["rename", "c1", "c2"]);
    env.fails(125, &["inspect", "--type", "container", "c1"]);
    let pid1 = env.ok(&["inspect", "--format", "{{.State.Pid}}", "c2"]);
    env.ok(&["restart", "-t", "0", "c2"]);
    let pid2 = env.ok(&["inspect", "--format", "{{.State.Pid}}", "c2"]);
    assert_ne!(pid1, pid2);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Status}}", "c2"])
            .trim(),
        "running"
    );
    let w = env.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        BUSYBOX,
        "sh",
        "-c",
        "sleep 0.5; exit 5",
    ]);
    assert_eq!(env.ok(&["wait", "w"]).trim(), "5");
    assert_eq!(env.ok(&["wait", "--condition", "exited", "w"]).trim(), "5");
    env.fails(125, &["wait", "--condition", "bogus", "w"]);
    assert_eq!(env.run(&["container", "exists", "c2"]).code, 0);
    assert_eq!(env.run(&["container", "exists", "nope"]).code, 1);
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert_eq!(pruned, w, "prune removes the exited container only");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "c2");
}

#[test]
fn rm_of_a_container_leaves_nothing_behind() {
    let env = Env::new();
    env.busybox();
    let id = env
        .ok(&["run", "-d", BUSYBOX, "sleep", "1000"])
        .trim()
        .to_string();
    assert!(!env.mounts().is_empty());
    env.ok(&["rm", "-f", "-t", "0", &id]);
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
    assert!(env.cgroups(std::slice::from_ref(&id)).is_empty());
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    assert!(!env.root.join("containers").join(&id).exists());
    assert!(!env.root.join("overlay/containers").join(&id).exists());
}

#[test]
fn vfs_storage_runs_containers() {
    let env = Env::with_driver("vfs");
    env.busybox();
    assert_eq!(
        env.ok(&["run", "--rm", BUSYBOX, "cat", "/etc/hostname"])
            .len(),
        13
    );
    env.ok(&[
        "run",
        "--name",
        "v",
        BUSYBOX,
        "sh",
        "-c",
        "echo x > /root/file",
    ]);
    let insp = env.ok(&["inspect", "--format", "{{.GraphDriver.Name}}", "v"]);
    assert_eq!(insp.trim(), "vfs");
    env.ok(&["rm", "v"]);
}

#[test]
fn crun_on_hybrid_cgroups_is_refused_clearly() {
    let env = Env::new();
    env.busybox();
    let r = env.run(&["--runtime", "crun", "run", "--rm", BUSYBOX, "true"]);
    if r.code == 0 {
        return; // crun installed and usable here
    }
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("crun"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}
