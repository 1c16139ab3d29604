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

/// cgroup v2 where this host can give one: in a mount namespace of the test's own, the
/// hybrid host's v2 hierarchy (/sys/fs/cgroup/unified) becomes /sys/fs/cgroup, so that
/// berth and runc work in v2 mode. Its only controller here is hugetlb: this checks the
/// v2 layout (containers' and pods' cgroups, made and removed), the readings (`top`,
/// `stats`), that a limit whose controller is missing is refused at create, that the
/// default pids limit is left out without a pids controller, and `--cgroups=disabled`
/// with crun (which works in v2 mode). On a v2 host every test runs on v2 and this one
/// is not needed.
#[test]
fn cgroup_v2_in_a_mount_namespace() {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: the host is cgroup v2 already, as every other test is");
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v2 hierarchy on this host (pure v1)");
        return;
    }
    let env = Env::new();
    env.busybox();
    let cmd = env.cmd();
    let mut berth: Vec<String> = vec![cmd.get_program().to_string_lossy().into_owned()];
    berth.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    assert!(
        berth.iter().all(|w| !w.contains([' ', '\'', '"'])),
        "{berth:?}"
    );
    let crun = std::process::Command::new("crun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let script = format!(
        r#"
set -u
mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup || exit 3
B="{berth} --runtime runc"
# Whatever happens, nothing is left running in this namespace.
trap '$B pod rm -a -f -t 0 >/dev/null 2>&1; $B rm -a -f -t 0 >/dev/null 2>&1' EXIT
echo "version=$($B info --format '{{{{.Host.CgroupsVersion}}}}' 2>/dev/null || $B info | sed -n 's/ *cgroupVersion: //p')"
id=$($B run -d {img} sleep 100) || exit 4
echo "id=$id"
echo "procs=$(wc -l < /sys/fs/cgroup/berth/berth-$id/cgroup.procs)"
echo "top=$($B top $id pid args | tail -1)"
echo "stats=$($B stats --no-stream --format '{{{{.CPUPerc}}}}' $id)"
echo "memory=$($B create -m 64m {img} true 2>&1)"
$B pod create --name p >/dev/null || exit 5
pod=$($B pod inspect p --format '{{{{.Id}}}}')
member=$($B run -d --pod p {img} sleep 100) || exit 6
echo "pod=$pod"
echo "member_cgroup=$(test -d /sys/fs/cgroup/berth/pod-$pod/berth-$member && echo yes)"
$B pod rm -f -t 0 p >/dev/null || exit 7
$B rm -f -t 0 $id >/dev/null || exit 8
if [ {crun} = true ]; then
    echo "crun=$($B --runtime crun run --rm --cgroups disabled {img} cat /proc/self/cgroup | grep -c berth-)"
fi
"#,
        berth = berth.join(" "),
        img = BUSYBOX,
        crun = crun,
    );
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}{err}");
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in: {text}{err}"))
            .to_string()
    };
    assert_eq!(get("version"), "v2", "{text}");
    assert_eq!(get("procs"), "1", "{text}");
    assert!(get("top").contains("sleep 100"), "{text}");
    // cpu.stat is there without a cpu controller: the runtime's start already used some.
    let cpu = get("stats");
    assert!(cpu.ends_with('%') && cpu != "0.00%", "{text}");
    assert!(
        get("memory").contains(
            "--memory cannot be enforced: the memory controller is not available in this cgroup v2 hierarchy"
        ),
        "{text}"
    );
    assert_eq!(get("member_cgroup"), "yes", "{text}");
    if crun {
        // No cgroup of its own: its /proc/self/cgroup names no berth cgroup.
        assert_eq!(get("crun"), "0", "{text}");
    }
    // Nothing left in the host's v2 hierarchy.
    for p in [
        format!("/sys/fs/cgroup/unified/berth/berth-{}", get("id")),
        format!("/sys/fs/cgroup/unified/berth/pod-{}", get("pod")),
    ] {
        assert!(!std::path::Path::new(&p).exists(), "{p} is left");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}
