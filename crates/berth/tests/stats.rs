//! `stats` and `top` with descriptors, against real containers.

mod common;
use common::{Env, BUSYBOX};

#[test]
fn stats_of_a_busy_container() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        BUSYBOX,
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    env.ok(&["create", "--name", "idle", BUSYBOX, "true"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));

    let out = env.ok(&["stats", "--no-stream", "--format", "json", "busy"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &v[0];
    assert_eq!(s["name"], "busy");
    let pct = |f: &str| -> f64 {
        s[f].as_str()
            .unwrap()
            .trim_end_matches('%')
            .parse()
            .unwrap()
    };
    assert!(pct("cpu_percent") > 0.0, "{out}");
    assert!(pct("avg_cpu") > 0.0, "{out}");
    let mem = s["mem_usage"].as_str().unwrap();
    assert!(mem.ends_with(" / 67.11MB"), "{out}");
    assert!(!mem.starts_with("0B"), "{out}");
    assert!(pct("mem_percent") <= 100.0, "{out}");
    assert!(
        s["pids"].as_str().unwrap().parse::<u64>().unwrap() >= 1,
        "{out}"
    );

    // Raw numbers through a template.
    let out = env.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemLimit}} {{.MemUsage}}",
        "busy",
    ]);
    assert!(out.starts_with("67108864 "), "{out}");

    // Every container, by ID; one that is not running shows zeros, as in Podman 4.3.
    let out = env.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["busy 1", "idle 0"], "{out}");

    let out = env.ok(&["stats", "--no-stream", "busy"]);
    assert!(
        out.starts_with("ID            NAME        CPU %       MEM USAGE / LIMIT  MEM %       NET IO      BLOCK IO    PIDS        CPU TIME"),
        "{out}"
    );
    assert!(out.trim_end().ends_with('%'), "{out}");

    let out = env.ok(&["stats", "--no-stream", "idle"]);
    assert!(out.contains("0.00%       0B / 0B"), "{out}");

    let err = env.fails(125, &["stats", "--no-stream", "-a", "busy"]);
    assert!(
        err.contains("--all, --latest and containers cannot be used together"),
        "{err}"
    );
    let err = env.fails(125, &["stats", "--no-stream", "-i", "0"]);
    assert!(err.contains("invalid interval"), "{err}");
    let err = env.fails(125, &["stats", "--no-stream", "nosuch"]);
    assert!(
        err.contains("no container with name or ID \"nosuch\" found"),
        "{err}"
    );

    env.ok(&["rm", "-f", "-t", "0", "busy", "idle"]);
}

#[test]
fn top_with_descriptors() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "-d", "--name", "t", BUSYBOX, "sleep", "1000"]);
    env.ok(&["create", "--name", "c", BUSYBOX, "true"]);

    let out = env.ok(&["top", "t", "pid,args"]);
    assert_eq!(out, "PID         COMMAND\n1           sleep 1000 \n");
    let out = env.ok(&["top", "t", "user", "comm"]);
    assert_eq!(out, "USER        COMMAND\nroot        sleep\n");
    let out = env.ok(&["top", "t"]);
    assert!(
        out.starts_with("USER        PID         PPID        %CPU        ELAPSED"),
        "{out}"
    );
    let out = env.ok(&["top", "t", "capeff", "seccomp", "hpid"]);
    assert!(
        out.contains("CHOWN,DAC_OVERRIDE") && out.contains("filter"),
        "{out}"
    );

    // Descriptors Podman's psgo does not know go to ps(1) in the container.
    let out = env.ok(&["top", "t", "-eo", "pid,comm"]);
    assert!(out.contains("1 sleep"), "{out}");
    let err = env.fails(125, &["top", "t", "-eo", "bogus"]);
    assert!(
        err.contains("executing ps(1) in the container: runtime failed with exit status: 1"),
        "{err}"
    );

    let err = env.fails(125, &["top", "c"]);
    assert!(
        err.contains("top can only be used on running containers"),
        "{err}"
    );
    env.ok(&["rm", "-f", "-t", "0", "t", "c"]);
}
