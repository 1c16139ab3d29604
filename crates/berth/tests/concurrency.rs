//! Many berth processes at once, and berth killed in the middle of its work: no daemon
//! holds things together, so the state database and the per-container locks must.

mod common;
use common::*;
use std::process::{Child, Stdio};
use std::time::Duration;

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning berth")
}

/// Every pid recorded for the containers, to check that none survives removal.
fn container_pids(env: &Env) -> Vec<i32> {
    env.ok(&["ps", "-a", "--format", "{{.Pid}}"])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| *p > 0)
        .collect()
}

#[test]
fn twenty_parallel_runs_then_rm_all_leaves_nothing() {
    let env = Env::new();
    env.busybox();
    let children: Vec<Child> = (0..20)
        .map(|_| spawn(&env, &["run", "-d", BUSYBOX, "sleep", "1000"]))
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "parallel run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let listed: Vec<String> = env
        .ok(&["ps", "-a", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), 20);
    for id in &ids {
        assert!(listed.contains(id), "{id} missing from ps -a");
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 20, "all 20 running");
    let pids = container_pids(&env);
    assert_eq!(pids.len(), 20);
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(env.mounts().is_empty(), "mounts left: {:?}", env.mounts());
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "process {p} survived rm"
        );
    }
    assert!(
        env.cgroups(&ids).is_empty(),
        "cgroups left: {:?}",
        env.cgroups(&ids)
    );
    assert!(
        env.leftovers().is_empty(),
        "run files left: {:?}",
        env.leftovers()
    );
}

#[test]
fn parallel_ops_on_one_container_are_serialised() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "one", BUSYBOX, "sleep", "1000"]);
    let starts: Vec<Child> = (0..5).map(|_| spawn(&env, &["start", "one"])).collect();
    for c in starts {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 1);
    let stops: Vec<Child> = (0..5)
        .map(|_| spawn(&env, &["stop", "-t", "0", "one"]))
        .collect();
    for c in stops {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Status}}", "one"])
            .trim(),
        "exited"
    );
}

/// Kills `berth ARGS` after `delay`, whatever it was doing.
fn kill_after(env: &Env, args: &[&str], delay: Duration) {
    let mut c = env
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn berth_killed_mid_create_start_or_rm_leaves_a_removable_container() {
    let env = Env::new();
    env.busybox();
    let delays = [0u64, 2, 4, 6, 8, 12, 16, 25, 40];
    for (i, d) in delays.iter().enumerate() {
        let d = Duration::from_millis(*d);
        kill_after(
            &env,
            &[
                "create",
                "--name",
                &format!("c{i}"),
                BUSYBOX,
                "sleep",
                "1000",
            ],
            d,
        );
        kill_after(
            &env,
            &[
                "run",
                "-d",
                "--name",
                &format!("r{i}"),
                BUSYBOX,
                "sleep",
                "1000",
            ],
            d,
        );
        // A container that exists for sure, killed while being removed.
        env.ok(&[
            "run",
            "-d",
            "--name",
            &format!("x{i}"),
            BUSYBOX,
            "sleep",
            "1000",
        ]);
        kill_after(&env, &["rm", "-f", "-t", "0", &format!("x{i}")], d);
    }
    let ids: Vec<String> = env
        .ok(&["ps", "-a", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    let pids = container_pids(&env);
    let r = env.run(&["rm", "-a", "-f", "-t", "0"]);
    assert_eq!(r.code, 0, "rm -a -f after crashes: {}", r.stderr);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // Monitors of half-started containers may still be finishing; give them a moment.
    assert!(
        eventually(10, || env.mounts().is_empty()),
        "mounts left: {:?}",
        env.mounts()
    );
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "process {p} survived"
        );
    }
    assert!(
        env.cgroups(&ids).is_empty(),
        "cgroups left: {:?}",
        env.cgroups(&ids)
    );
    assert!(
        eventually(10, || env.leftovers().is_empty()),
        "run files left: {:?}",
        env.leftovers()
    );
    // And the engine still works.
    assert_eq!(env.ok(&["run", "--rm", BUSYBOX, "echo", "ok"]), "ok\n");
}

#[test]
fn parallel_auto_user_namespaces_get_distinct_ranges() {
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    if !subuid.lines().any(|l| l.starts_with("containers:")) {
        eprintln!("skipped: /etc/subuid has no \"containers\" entry");
        return;
    }
    let env = Env::new();
    env.busybox();
    let children: Vec<Child> = (0..8)
        .map(|_| spawn(&env, &["create", "--userns", "auto", BUSYBOX, "true"]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let maps = env.ok(&["ps", "-a", "-q", "--no-trunc"]);
    let mut starts = Vec::new();
    for id in maps.lines() {
        let m = env.ok(&[
            "inspect",
            id,
            "--format",
            "{{.HostConfig.IDMappings.UidMap}}",
        ]);
        // [0:START:1024]
        let start: u64 = m
            .trim()
            .trim_matches(['[', ']'])
            .split(':')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        starts.push(start);
    }
    starts.sort();
    assert_eq!(starts.len(), 8);
    // One after the other, none shared.
    for w in starts.windows(2) {
        assert_eq!(w[1] - w[0], 1024, "{starts:?}");
    }
}
