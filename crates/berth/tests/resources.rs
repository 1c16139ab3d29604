//! Resource limits on `run`/`create` and `update`, enforced through the runtime's cgroups
//! (v1 here; the v2 file names are read too where they exist).

mod common;
use common::*;

/// A cgroup file of the container, read inside it: the v2 name if there is one, else v1.
fn cgroup_file(env: &Env, ctr: &str, v2: &str, v1: &str) -> String {
    env.ok(&[
        "exec",
        ctr,
        "sh",
        "-c",
        &format!("cat /sys/fs/cgroup/{v2} 2>/dev/null || cat /sys/fs/cgroup/{v1}"),
    ])
    .trim()
    .to_string()
}

#[test]
fn limits_are_applied_inspected_and_updated() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "l",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "--cpuset-cpus",
        "0",
        "--oom-score-adj",
        "100",
        BUSYBOX,
        "sleep",
        "100",
    ]);
    assert_eq!(
        cgroup_file(&env, "l", "memory.max", "memory/memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(cgroup_file(&env, "l", "pids.max", "pids/pids.max"), "50");
    let quota = cgroup_file(&env, "l", "cpu.max", "cpu/cpu.cfs_quota_us");
    assert!(quota == "50000" || quota.starts_with("50000 "), "{quota}");
    assert_eq!(
        cgroup_file(&env, "l", "cpuset.cpus", "cpuset/cpuset.cpus"),
        "0"
    );
    assert_eq!(
        env.ok(&["exec", "l", "cat", "/proc/self/oom_score_adj"]),
        "100\n"
    );
    let hc = env.ok(&[
        "inspect", "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpusetCpus}} {{.HostConfig.OomScoreAdj}}",
        "l",
    ]);
    assert_eq!(
        hc,
        "67108864 33554432 500000000 512 50000 100000 50 0 100\n"
    );
    // update: applied to the running container at once, and kept.
    let id = env.ok(&["update", "--memory", "128m", "--pids-limit", "60", "l"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(
        cgroup_file(&env, "l", "memory.max", "memory/memory.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(cgroup_file(&env, "l", "pids.max", "pids/pids.max"), "60");
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "l"
        ]),
        "134217728 60\n"
    );
    // Without limits: Podman's default pids limit.
    env.ok(&["run", "-d", "--name", "d", BUSYBOX, "sleep", "100"]);
    assert_eq!(cgroup_file(&env, "d", "pids.max", "pids/pids.max"), "2048");
    env.ok(&["rm", "-f", "-t", "0", "l", "d"]);
}

#[test]
fn the_oom_killer_and_the_pids_limit_are_enforced() {
    let env = Env::new();
    env.busybox();
    // A memory hog is killed by the kernel, and inspect says so.
    let r = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "8m",
        "--memory-swap",
        "8m",
        BUSYBOX,
        "sh",
        "-c",
        "x=a; while true; do x=\"$x$x\"; done",
    ]);
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "hog"
        ]),
        "true 137\n"
    );
    // A fork bomb stops at the pids limit: the shell cannot fork its 11th process.
    let r = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        BUSYBOX,
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 5 & done; echo all forked",
    ]);
    assert_ne!(r.code, 0);
    assert!(!r.stdout.contains("all forked"), "{}", r.stdout);
    assert!(
        r.stderr.contains("can't fork") || r.stderr.contains("Resource temporarily unavailable"),
        "{}",
        r.stderr
    );
    env.ok(&["rm", "hog"]);
}

#[test]
fn bad_limits_are_refused_and_nothing_is_created() {
    let env = Env::new();
    env.busybox();
    let cases: &[(&[&str], &str)] = &[
        (&["-m", "1m"], "minimum memory limit allowed is 6MB"),
        (&["-m", "bogus"], "invalid size: 'bogus'"),
        (&["--cpus", "9999"], "range of CPUs is from 0.01 to"),
        (&["--cpuset-cpus", "x"], "cpuset-cpus"),
        (&["-m", "64m", "--memory-swap", "32m"], "memoryswap"),
        (&["--blkio-weight", "5"], "blkio weight"),
        (&["--oom-score-adj", "5000"], "oom_score_adj"),
        (&["--cgroup-parent", "../escape"], "invalid cgroup parent"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend([BUSYBOX, "true"]);
        let err = env.fails(125, &args);
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    env.ok(&["create", "--name", "u", BUSYBOX, "true"]);
    assert!(env.fails(125, &["update", "-m", "1m", "u"]).contains("6MB"));
    assert!(env
        .fails(125, &["update", "-m", "64m", "nosuch"])
        .contains("no container with name or ID \"nosuch\""));
}

#[test]
fn cgroups_disabled_needs_crun() {
    let env = Env::new();
    env.busybox();
    // runc always makes a cgroup: refused, as Podman refuses it.
    let err = env.fails(
        125,
        &[
            "--runtime",
            "runc",
            "create",
            "--cgroups",
            "disabled",
            BUSYBOX,
            "true",
        ],
    );
    assert!(
        err.contains("requested OCI runtime runc is not compatible with NoCgroups"),
        "{err}"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    let probe = env.run(&["--runtime", "crun", "run", "--rm", BUSYBOX, "true"]);
    if probe.code != 0 {
        eprintln!(
            "skipped the crun part: crun cannot run containers here: {}",
            probe.stderr.trim()
        );
        return;
    }
    let crun = |args: &[&str]| {
        let mut a = vec!["--runtime", "crun"];
        a.extend_from_slice(args);
        env.ok(&a)
    };
    for (flags, want) in [
        (&["-m", "64m"][..], "resource limits cannot be set"),
        (&["--cgroup-parent", "x"][..], "--cgroup-parent"),
    ] {
        let mut a = vec!["--runtime", "crun", "create", "--cgroups", "disabled"];
        a.extend_from_slice(flags);
        a.extend([BUSYBOX, "true"]);
        assert!(env.fails(125, &a).contains(want), "{flags:?}");
    }
    let id = crun(&[
        "run",
        "-d",
        "--cgroups",
        "disabled",
        BUSYBOX,
        "sleep",
        "100",
    ])
    .trim()
    .to_string();
    // No cgroup of its own: it stays in the one it was started from.
    let cg = crun(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert!(!cg.contains(&format!("berth-{id}")), "{cg}");
    assert_eq!(env.cgroups(std::slice::from_ref(&id)), Vec::<String>::new());
    assert!(env
        .fails(125, &["--runtime", "crun", "pause", &id])
        .contains("has no cgroup"));
    crun(&["rm", "-f", "-t", "0", &id]);
    assert_eq!(env.mounts(), Vec::<String>::new());
}
