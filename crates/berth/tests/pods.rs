//! Pods: shared namespaces through an infra container, pod-level limits, the pod
//! commands, and nothing left after removal.

mod common;
use common::*;

/// The pod's cgroup directory for a v1 controller, or the v2 one.
fn pod_cgroup_file(pod_id: &str, v1: &str, v2: &str) -> Option<String> {
    [
        format!("/sys/fs/cgroup/{v1}"),
        format!("/sys/fs/cgroup/berth/pod-{pod_id}/{v2}"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p.replace("POD", pod_id)).ok())
    .map(|s| s.trim().to_string())
}

fn pod_cgroups_left(pod_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join("berth").join(format!("pod-{pod_id}"));
            if p.exists() {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup/berth").join(format!("pod-{pod_id}"));
    if v2.exists() {
        out.push(v2.to_string_lossy().into_owned());
    }
    out
}

#[test]
fn containers_in_a_pod_share_localhost_hostname_and_ipc() {
    let env = Env::new();
    env.busybox();
    let id = env
        .ok(&["pod", "create", "--name", "p", "--hostname", "podhost"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let ls = env.ok(&["pod", "ps"]);
    assert!(
        ls.starts_with("POD ID        NAME        STATUS      CREATED"),
        "{ls}"
    );
    assert!(ls.contains("p           Created"), "{ls}");
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "p",
        "--name",
        "server",
        BUSYBOX,
        "sh",
        "-c",
        "echo shared > /dev/shm/x; while true; do echo from-server | nc -l -p 8080; done",
    ]);
    let out = env.ok(&[
        "run", "--rm", "--pod", "p", BUSYBOX, "sh", "-c",
        "hostname; for i in 1 2 3 4 5 6 7 8 9 10; do echo | nc 127.0.0.1 8080 && break; sleep 0.2; done; cat /dev/shm/x",
    ]);
    assert_eq!(out, "podhost\nfrom-server\nshared\n");
    // ps shows the pod; inspect its containers; top lists their processes.
    let ps = env.ok(&["ps", "--pod", "--format", "{{.Names}} {{.PodName}}"]);
    assert!(ps.contains("server p\n"), "{ps}");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["pod", "inspect", "p"])).unwrap();
    assert_eq!(v[0]["State"], "Running");
    assert_eq!(v[0]["NumContainers"], 2);
    assert_eq!(
        v[0]["SharedNamespaces"],
        serde_json::json!(["ipc", "net", "uts"])
    );
    let top = env.ok(&["pod", "top", "p"]);
    assert!(
        top.contains("/catatonit -P") && top.contains("nc -l -p 8080"),
        "{top}"
    );
    // stop: the containers, then the infra; start: the infra first again.
    env.ok(&["pod", "stop", "-t", "0", "p"]);
    assert_eq!(
        env.ok(&["pod", "inspect", "--format", "{{.State}}", "p"]),
        "Exited\n"
    );
    env.ok(&["pod", "start", "p"]);
    assert_eq!(
        env.ok(&["pod", "inspect", "--format", "{{.State}}", "p"]),
        "Running\n"
    );
    // The infra container goes only with its pod.
    let infra = env.ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "p"]);
    let err = env.fails(125, &["rm", "-f", infra.trim()]);
    assert!(err.contains("infra container of pod"), "{err}");
    // rm needs -f while it runs; then nothing is left.
    env.fails(125, &["pod", "rm", "p"]);
    env.ok(&["pod", "rm", "-f", "-t", "0", "p"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["pod", "ps", "-q"]), "");
    assert!(
        pod_cgroups_left(&id).is_empty(),
        "{:?}",
        pod_cgroups_left(&id)
    );
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn pod_limits_hold_for_all_its_containers() {
    let env = Env::new();
    env.busybox();
    let id = env
        .ok(&[
            "pod", "create", "--name", "lim", "--memory", "32m", "--cpus", "0.5",
        ])
        .trim()
        .to_string();
    env.ok(&[
        "run", "-d", "--pod", "lim", "--name", "idle", BUSYBOX, "sleep", "100",
    ]);
    let mem = pod_cgroup_file(
        &id,
        "memory/berth/pod-POD/memory.limit_in_bytes",
        "memory.max",
    );
    assert_eq!(mem.as_deref(), Some("33554432"));
    let quota = pod_cgroup_file(&id, "cpu/berth/pod-POD/cpu.cfs_quota_us", "cpu.max").unwrap();
    assert!(quota == "50000" || quota.starts_with("50000 "), "{quota}");
    // A container with no limit of its own is held by the pod's: the hog is OOM-killed.
    let r = env.run(&[
        "run",
        "--pod",
        "lim",
        "--name",
        "hog",
        BUSYBOX,
        "sh",
        "-c",
        "x=a; while true; do x=\"$x$x\"; done",
    ]);
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.OOMKilled}}", "hog"]),
        "true\n"
    );
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["pod", "inspect", "lim"])).unwrap();
    assert_eq!(v[0]["MemoryLimit"], 33554432);
    env.ok(&["pod", "rm", "-f", "-t", "0", "lim"]);
    assert!(
        pod_cgroups_left(&id).is_empty(),
        "{:?}",
        pod_cgroups_left(&id)
    );
}

#[test]
fn new_pods_exit_policy_and_bad_input() {
    let env = Env::new();
    env.busybox();
    // --pod new:NAME makes the pod; exit policy stop stops it with its last container.
    env.ok(&["run", "--rm", "--pod", "new:fresh", BUSYBOX, "true"]);
    assert_eq!(env.ok(&["pod", "ps", "--format", "{{.Name}}"]), "fresh\n");
    env.ok(&[
        "pod",
        "create",
        "--name",
        "stopper",
        "--exit-policy",
        "stop",
    ]);
    env.ok(&["run", "--pod", "stopper", BUSYBOX, "true"]);
    assert!(
        eventually(10, || env.ok(&[
            "pod",
            "inspect",
            "--format",
            "{{.State}}",
            "stopper"
        ]) == "Exited\n"),
        "the pod did not stop with its last container"
    );
    // Bad input: clear errors, exit 125 (1 for a missing pod on rm), nothing made.
    assert!(env
        .fails(125, &["run", "--pod", "nosuchpod", BUSYBOX, "true"])
        .contains("no pod with name or ID nosuchpod found"));
    assert!(env
        .fails(
            125,
            &[
                "run",
                "--pod",
                "fresh",
                "--network",
                "host",
                BUSYBOX,
                "true"
            ]
        )
        .contains("--network cannot be set"));
    assert!(env
        .fails(
            125,
            &["run", "--pod", "fresh", "-p", "8080:80", BUSYBOX, "true"]
        )
        .contains("published ports cannot be set"));
    assert!(env
        .fails(125, &["pod", "create", "--cpus", "9999"])
        .contains("range of CPUs"));
    assert!(env
        .fails(125, &["pod", "create", "--share", "bogus"])
        .contains("invalid kernel namespace"));
    assert!(env
        .fails(125, &["pod", "create", "--name", "fresh"])
        .contains("already in use"));
    env.fails(
        125,
        &[
            "run",
            "--pod",
            "new:broken",
            "--network",
            "nosuchnet",
            BUSYBOX,
            "true",
        ],
    );
    assert!(env
        .fails(1, &["pod", "rm", "nope"])
        .contains("no pod with name or ID nope found"));
    env.fails(1, &["pod", "exists", "nope"]);
    env.ok(&["pod", "exists", "fresh"]);
    let pods = env.ok(&["pod", "ps", "--format", "{{.Name}}"]);
    assert!(!pods.contains("broken"), "{pods}");
    env.ok(&["pod", "rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn pod_volumes_stats_clone_and_share_parent() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("podvol");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "for every member\n").unwrap();
    let v = format!("{}:/pv", host.display());
    env.ok(&[
        "pod", "create", "--name", "pv", "-v", &v, "--label", "team=a",
    ]);
    assert_eq!(
        env.ok(&["run", "--rm", "--pod", "pv", BUSYBOX, "cat", "/pv/f"]),
        "for every member\n"
    );
    // pod stats: a row per running container, with its pod.
    env.ok(&[
        "run", "-d", "--pod", "pv", "--name", "busy", BUSYBOX, "sleep", "100",
    ]);
    let stats = env.ok(&["pod", "stats", "--no-stream", "pv"]);
    assert!(stats.starts_with("POD "), "{stats}");
    assert!(stats.contains(" busy "), "{stats}");
    // clone: a new pod with the same settings and its own infra container.
    let id = env.ok(&["pod", "clone", "pv", "pv2"]).trim().to_string();
    let c: serde_json::Value = serde_json::from_str(&env.ok(&["pod", "inspect", &id])).unwrap();
    assert_eq!(c[0]["Name"], "pv2");
    assert_eq!(c[0]["Labels"]["team"], "a");
    assert_eq!(c[0]["NumContainers"], 1);
    // --share-parent=false: the members' cgroups are not under the pod's.
    env.ok(&["pod", "create", "--name", "np", "--share-parent=false"]);
    env.ok(&[
        "run", "-d", "--pod", "np", "--name", "loose", BUSYBOX, "sleep", "100",
    ]);
    let cg = env.ok(&["exec", "loose", "cat", "/proc/self/cgroup"]);
    assert!(!cg.contains("/pod-"), "{cg}");
    env.ok(&["pod", "rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn pod_pid_and_userns() {
    let env = Env::new();
    env.busybox();
    // --pid host: the infra container (and members sharing pid) see the host's processes.
    env.ok(&[
        "pod",
        "create",
        "--name",
        "hp",
        "--pid",
        "host",
        "--share",
        "ipc,net,uts,pid",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "hp",
        BUSYBOX,
        "cat",
        "/proc/1/cmdline",
    ]);
    assert!(!out.contains("catatonit"), "{out}");
    assert!(env
        .fails(125, &["pod", "create", "--userns", "keep-id"])
        .contains("keep-id is only supported in rootless mode"));
    assert!(env
        .fails(125, &["pod", "create", "--no-infra", "--userns", "auto"])
        .contains("without an infra container"));
    env.ok(&["pod", "rm", "-f", "-t", "0", "hp"]);
}

#[test]
fn host_namespaces() {
    let env = Env::new();
    env.busybox();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        env.ok(&["run", "--rm", "--uts", "host", BUSYBOX, "hostname"]),
        host
    );
    // The host's pid namespace: pid 1 is the host's init, not the container's command.
    let out = env.ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        BUSYBOX,
        "cat",
        "/proc/1/cmdline",
    ]);
    assert!(!out.starts_with("cat"), "{out}");
    let v = env.ok(&["create", "--pid", "host", "--ipc", "host", BUSYBOX, "true"]);
    let modes = env.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}",
        v.trim(),
    ]);
    assert_eq!(modes, "host host private\n");
    assert!(env
        .fails(125, &["create", "--ipc", "bogus", BUSYBOX, "true"])
        .contains("invalid --ipc value"));
    // --cgroups: berth's monitor is never in the container's cgroup (disabled: see the
    // resources tests).
    env.ok(&["run", "--rm", "--cgroups", "split", BUSYBOX, "true"]);
    assert!(env
        .fails(125, &["create", "--cgroups", "bogus", BUSYBOX, "true"])
        .contains("invalid cgroup mode"));
}
