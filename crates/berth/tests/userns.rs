//! User namespaces (`--userns`, `--uidmap`, `--gidmap`, `--subuidname`), as rootful
//! Podman makes them: the container's root is an unprivileged host user, and the image's
//! files still belong to root inside (idmapped lower layers, no copy).
//!
//! `--userns=auto` takes ranges of the subordinate IDs of the user `containers`
//! (scripts/lib.sh `ensure_subids` adds Podman's documented entry when it is missing).

mod common;
use common::*;

/// The start of the `containers` range in /etc/subuid, or None (then `auto` tests skip).
fn auto_base() -> Option<u64> {
    let text = std::fs::read_to_string("/etc/subuid").ok()?;
    let line = text.lines().find(|l| l.starts_with("containers:"))?;
    let base = line.split(':').nth(1)?.parse().ok();
    if base.is_none() {
        eprintln!("skipped: no subordinate IDs for \"containers\" in /etc/subuid");
    }
    base
}

/// `(container, host, size)` of the first line of a /proc uid_map.
fn first_map(text: &str) -> (u64, u64, u64) {
    let v: Vec<u64> = text
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

/// The host uid of a process (the real uid of /proc/PID/status).
fn host_uid(pid: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn auto_gives_each_container_its_own_range() {
    let Some(base) = auto_base() else {
        eprintln!("skipped: /etc/subuid has no \"containers\" entry");
        return;
    };
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run", "-d", "--name", "a", "--userns", "auto", BUSYBOX, "sleep", "300",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--userns=auto:size=2000",
        BUSYBOX,
        "sleep",
        "300",
    ]);
    let a = first_map(&env.ok(&["exec", "a", "cat", "/proc/self/uid_map"]));
    let b = first_map(&env.ok(&["exec", "b", "cat", "/proc/self/uid_map"]));
    // Sized for the image (at least 1024, as Podman), one after the other.
    assert_eq!(a, (0, base, 1024));
    assert_eq!(b, (0, base + 1024, 2000));
    let g = first_map(&env.ok(&["exec", "b", "cat", "/proc/self/gid_map"]));
    assert_eq!(g, b);
    // Root inside, an unprivileged user outside.
    assert_eq!(env.ok(&["exec", "a", "id", "-u"]), "0\n");
    let pid = env.ok(&["inspect", "a", "--format", "{{.State.Pid}}"]);
    assert_eq!(host_uid(&pid), base);
    // top: the container's user, and the host's.
    let top = env.ok(&["top", "a", "user", "huser"]);
    let row: Vec<&str> = top.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, vec!["root".to_string(), base.to_string()], "{top}");
    // The image's files are root's inside, and root can write everywhere it could.
    let ls = env.ok(&["exec", "a", "ls", "-ln", "/bin/busybox"]);
    assert!(ls.contains(" 0        0 "), "{ls}");
    env.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "touch /new /etc/new && mkdir /root2",
    ]);
    let ls = env.ok(&["exec", "a", "ls", "-lnd", "/new", "/etc/hosts"]);
    assert_eq!(ls.matches(" 0        0 ").count(), 2, "{ls}");
    // Inspect as Podman: UsernsMode "" for auto, the mappings.
    let out = env.ok(&[
        "inspect",
        "a",
        "--format",
        "{{.HostConfig.UsernsMode}}|{{.HostConfig.IDMappings.UidMap}}",
    ]);
    assert_eq!(out, format!("|[0:{base}:1024]\n"));
    // A range is free again once its container is gone.
    env.ok(&["rm", "-f", "-t", "0", "a"]);
    let c = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        BUSYBOX,
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(first_map(&c), (0, base, 1024));
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.mounts(), Vec::<String>::new());
}

#[test]
fn explicit_maps_joining_and_bad_input() {
    let env = Env::new();
    env.busybox();
    let out = env.ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:300000:500",
        BUSYBOX,
        "cat",
        "/proc/self/uid_map",
        "/proc/self/gid_map",
    ]);
    // One map given: the other is the same.
    assert_eq!(
        out.lines().map(first_map).collect::<Vec<_>>(),
        vec![(0, 300000, 500), (0, 300000, 500)]
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "m",
        "--uidmap",
        "0:310000:1000",
        "--gidmap",
        "0:320000:1000",
        BUSYBOX,
        "sleep",
        "300",
    ]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "m",
            "--format",
            "{{.HostConfig.UsernsMode}} {{.HostConfig.IDMappings.GidMap}}"
        ]),
        "private [0:320000:1000]\n"
    );
    let ns = env.ok(&["exec", "m", "readlink", "/proc/self/ns/user"]);
    // container:NAME and ns:PATH join the same namespace.
    let joined = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "container:m",
        BUSYBOX,
        "readlink",
        "/proc/self/ns/user",
    ]);
    assert_eq!(joined, ns);
    let pid = env.ok(&["inspect", "m", "--format", "{{.State.Pid}}"]);
    let path = format!("ns:/proc/{}/ns/user", pid.trim());
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        &path,
        BUSYBOX,
        "sh",
        "-c",
        "readlink /proc/self/ns/user; ls -ln /bin/busybox",
    ]);
    assert!(out.starts_with(&ns), "{out}");
    assert!(out.contains(" 0        0 "), "{out}");

    for (args, msg) in [
        (
            vec!["--userns", "keep-id"],
            "keep-id is only supported in rootless mode",
        ),
        (
            vec!["--userns", "nomap"],
            "nomap is only supported in rootless mode",
        ),
        (
            vec!["--userns", "private"],
            "must provide at least one UID or GID mapping",
        ),
        (vec!["--userns", "bogus"], "invalid --userns \"bogus\""),
        (vec!["--userns", "auto:size=0"], "size"),
        (vec!["--userns", "auto:colour=red"], "colour=red"),
        (vec!["--uidmap", "0:1:2:3"], "invalid --uidmap \"0:1:2:3\""),
        (vec!["--uidmap", "0:1000:0"], "AMOUNT > 0"),
        (
            vec!["--uidmap", "0:1000:10", "--uidmap", "5:2000:10"],
            "overlap",
        ),
        (
            vec!["--userns", "auto", "--uidmap", "0:1000:10"],
            "cannot be used together",
        ),
        (vec!["--userns", "container:nosuch"], "nosuch"),
        (vec!["--userns", "ns:/nonexistent"], "/nonexistent"),
        (
            vec!["--subuidname", "no-such-user-here"],
            "no-such-user-here",
        ),
        (
            vec!["--uidmap", "0:1000:10", "--pid", "host"],
            "--pid host cannot be used",
        ),
        (
            vec!["--uidmap", "0:1000:10", "--ipc", "host"],
            "--ipc host cannot be used",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend(args);
        a.extend([BUSYBOX, "true"]);
        let err = env.fails(125, &a);
        assert!(err.contains(msg), "{a:?}: {err}");
    }
    // Nothing was created by the refused ones.
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "m\n");
}

#[test]
fn files_in_and_out_of_a_user_namespace() {
    // overlay with idmapped layers; overlay with shifted copies of the layers (kernels
    // without idmapped mounts); vfs (a shifted copy of the image).
    for (driver, copies) in [("overlay", false), ("overlay", true), ("vfs", false)] {
        let mut env = Env::with_driver(driver);
        if copies {
            env = env.with_var("BERTH_NO_IDMAPPED_MOUNTS", "1");
        }
        let driver = if copies { "overlay, copies" } else { driver };
        env.busybox();
        env.ok(&[
            "run",
            "-d",
            "--name",
            "f",
            "--uidmap",
            "0:400000:2000",
            "-v",
            "fresh:/data",
            BUSYBOX,
            "sh",
            "-c",
            "mkdir -p /work && touch /work/mine && chown 1000:1000 /work/mine && rm -f /etc/group && sleep 300",
        ]);
        assert!(eventually(10, || env
            .run(&["exec", "f", "test", "-e", "/work/mine"])
            .code
            == 0));
        // A new volume belongs to the container's user (root inside).
        let ls = env.ok(&["exec", "f", "ls", "-lnd", "/data"]);
        assert!(ls.contains(" 0        0 "), "{driver}: {ls}");
        env.ok(&["exec", "f", "touch", "/data/x"]);
        if copies {
            // The layers' copies, kept with the container (nothing idmapped).
            let id = env.ok(&["inspect", "f", "--format", "{{.Id}}"]);
            let c = env.root.join("overlay/containers").join(id.trim());
            assert!(c.join("mapped/0/bin/busybox").is_file(), "{c:?}");
            let m = std::fs::symlink_metadata(c.join("mapped/0/bin/busybox")).unwrap();
            use std::os::unix::fs::MetadataExt;
            assert_eq!((m.uid(), m.gid()), (400000, 400000));
            assert!(!c.join("idmapped").exists());
        }
        // diff: what the container changed, nothing more (its owners are not changes).
        let diff = env.ok(&["diff", "f"]);
        let mut lines: Vec<&str> = diff.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            // (/data: the volume's mount point, made by the runtime)
            vec![
                "A /data",
                "A /work",
                "A /work/mine",
                "C /etc",
                "D /etc/group"
            ],
            "{driver}"
        );
        // cp in: the copy belongs to the container's root; cp out: the container's IDs.
        let src = env.dir.join("hello.txt");
        std::fs::write(&src, "hello\n").unwrap();
        env.ok(&["cp", src.to_str().unwrap(), "f:/work/hello.txt"]);
        let ls = env.ok(&["exec", "f", "ls", "-ln", "/work/hello.txt"]);
        assert!(ls.contains(" 0        0 "), "{driver}: {ls}");
        let out = env.cmd().args(["cp", "f:/work", "-"]).output().unwrap();
        let listing = tar_listing(&out.stdout);
        assert!(
            listing.contains(&("work/mine".to_string(), 1000, 1000)),
            "{driver}: {listing:?}"
        );
        assert!(listing.contains(&("work/hello.txt".to_string(), 0, 0)));
        // export: the container's view.
        let out = env.cmd().args(["export", "f"]).output().unwrap();
        let listing = tar_listing(&out.stdout);
        assert!(
            listing.contains(&("bin/busybox".to_string(), 0, 0)),
            "{driver}"
        );
        assert!(listing.contains(&("work/mine".to_string(), 1000, 1000)));
        // commit: an image like any other (run without a user namespace).
        env.ok(&["commit", "-q", "f", "localhost/from-userns"]);
        let ls = env.ok(&[
            "run",
            "--rm",
            "localhost/from-userns",
            "ls",
            "-ln",
            "/work/mine",
            "/bin/busybox",
        ]);
        assert!(ls.contains(" 1000     1000 "), "{driver}: {ls}");
        assert!(ls.contains(" 0        0 "), "{driver}: {ls}");
        // Restarted (mounted again), it is the same.
        env.ok(&["restart", "-t", "0", "f"]);
        let ls = env.ok(&["exec", "f", "ls", "-ln", "/work/mine", "/bin/busybox"]);
        assert!(
            ls.contains(" 1000     1000 ") && ls.contains(" 0        0 "),
            "{ls}"
        );
        env.ok(&["rm", "-f", "-t", "0", "f"]);
        assert_eq!(env.mounts(), Vec::<String>::new(), "{driver}");
    }
}

/// (path, uid, gid) of every entry of a tar.
fn tar_listing(data: &[u8]) -> Vec<(String, u64, u64)> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_string(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_pod_shares_one_user_namespace() {
    if auto_base().is_none() {
        eprintln!("skipped: /etc/subuid has no \"containers\" entry");
        return;
    }
    let env = Env::new();
    env.busybox();
    env.ok(&["pod", "create", "--name", "up", "--userns", "auto"]);
    env.ok(&[
        "run", "-d", "--pod", "up", "--name", "web", BUSYBOX, "httpd", "-f", "-p", "8080", "-h",
        "/etc",
    ]);
    let web_ns = env.ok(&["exec", "web", "readlink", "/proc/self/ns/user"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "up",
        BUSYBOX,
        "sh",
        "-c",
        "readlink /proc/self/ns/user; cat /proc/self/uid_map; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 | tail -1",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], web_ns.trim(), "{out}");
    assert_eq!(first_map(lines[1]).2, 1024, "{out}");
    assert_eq!(lines[2], "up", "{out}");
    let infra = env.ok(&["pod", "inspect", "up", "--format", "{{.InfraContainerID}}"]);
    let maps = env.ok(&[
        "inspect",
        infra.trim(),
        "--format",
        "{{.HostConfig.IDMappings.UidMap}}",
    ]);
    assert!(maps.starts_with("[0:"), "{maps}");
    // A member cannot choose its own; a pod without infra cannot have one.
    assert!(env
        .fails(
            125,
            &["create", "--pod", "up", "--userns", "auto", BUSYBOX, "true"]
        )
        .contains("--userns and --pod cannot be set together"));
    // Stopped and started again, the pod's containers still share it.
    env.ok(&["pod", "restart", "up"]);
    let again = env.ok(&["exec", "web", "cat", "/proc/self/uid_map"]);
    assert_eq!(first_map(&again), first_map(lines[1]));
    env.ok(&["pod", "rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.mounts(), Vec::<String>::new());
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

#[test]
fn the_default_comes_from_podman_userns_then_containers_conf() {
    if auto_base().is_none() {
        eprintln!("skipped: /etc/subuid has no \"containers\" entry");
        return;
    }
    let env = Env::new();
    env.busybox();
    let map = |c: &mut std::process::Command| {
        let out = c
            .args(["run", "--rm", BUSYBOX, "cat", "/proc/self/uid_map"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        first_map(&String::from_utf8_lossy(&out.stdout))
    };
    assert_eq!(
        map(env.cmd().env("PODMAN_USERNS", "auto:size=1500")).2,
        1500
    );
    let conf = env.dir.join("containers.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("userns = \"auto:size=3000\"\n");
    std::fs::write(&conf, text).unwrap();
    assert_eq!(map(&mut env.cmd()).2, 3000);
    // The environment wins over the file; --userns over both.
    assert_eq!(
        map(env.cmd().env("PODMAN_USERNS", "auto:size=1500")).2,
        1500
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        BUSYBOX,
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(first_map(&out), (0, 0, 4294967295));
    // A pod's members take the pod's, whatever the default.
    env.ok(&["pod", "create", "--name", "dp"]);
    let infra = env.ok(&["pod", "inspect", "dp", "--format", "{{.InfraContainerID}}"]);
    let maps = env.ok(&[
        "inspect",
        infra.trim(),
        "--format",
        "{{.HostConfig.IDMappings.UidMap}}",
    ]);
    let member = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "dp",
        BUSYBOX,
        "cat",
        "/proc/self/uid_map",
    ]);
    let (_, host, size) = first_map(&member);
    assert_eq!(maps, format!("[0:{host}:{size}]\n"));
}

#[test]
fn containers_that_join_another_depend_on_it() {
    let env = Env::new();
    env.busybox();
    let id = |n: &str| {
        env.ok(&["inspect", n, "--format", "{{.Id}}"])
            .trim()
            .to_string()
    };
    env.ok(&[
        "create",
        "--name",
        "x",
        "--uidmap",
        "0:800000:1000",
        BUSYBOX,
        "true",
    ]);
    env.ok(&[
        "create",
        "--name",
        "y",
        "--userns",
        "container:x",
        BUSYBOX,
        "true",
    ]);
    env.ok(&[
        "create",
        "--name",
        "z",
        "--network",
        "container:y",
        BUSYBOX,
        "true",
    ]);
    let (x, y, z) = (id("x"), id("y"), id("z"));
    // As Podman: refused, even with -f, naming the dependents.
    for args in [&["rm", "x"][..], &["rm", "-f", "x"][..]] {
        let err = env.fails(125, args);
        assert!(
            err.contains(&format!(
                "container {x} has dependent containers which must be removed before it: {y}"
            )),
            "{err}"
        );
    }
    // --depend: the dependents first, deepest first.
    assert_eq!(env.ok(&["rm", "--depend", "x"]), format!("{z}\n{y}\n{x}\n"));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // rm -a orders them by itself.
    env.ok(&[
        "create",
        "--name",
        "x",
        "--uidmap",
        "0:800000:1000",
        BUSYBOX,
        "true",
    ]);
    env.ok(&[
        "create",
        "--name",
        "y",
        "--userns",
        "container:x",
        BUSYBOX,
        "true",
    ]);
    env.ok(&["rm", "-a"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn idmap_mounts_show_the_hosts_owners_inside() {
    let env = Env::new();
    env.busybox();
    let dir = env.dir.join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "hi\n").unwrap();
    std::os::unix::fs::chown(dir.join("f"), Some(1000), Some(1000)).unwrap();
    let bind = format!("{}:/b:idmap", dir.display());
    // Without idmap the host's owners are outside the namespace: nobody.
    let plain = format!("{}:/b", dir.display());
    let out = env.ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:900000:5000",
        "-v",
        &plain,
        BUSYBOX,
        "ls",
        "-ln",
        "/b/f",
    ]);
    assert!(out.contains(" 65534    65534 "), "{out}");
    // With idmap: the same IDs inside as on the host, both ways.
    let out = env.ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:900000:5000",
        "-v",
        &bind,
        BUSYBOX,
        "sh",
        "-c",
        "ls -ln /b/f; touch /b/new",
    ]);
    assert!(out.contains(" 1000     1000 "), "{out}");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // A volume: what is copied in from the image keeps the image's own IDs on disk.
    let out = env.ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:900000:5000",
        "--mount",
        "type=volume,src=iv,dst=/etc,idmap",
        BUSYBOX,
        "ls",
        "-ln",
        "/etc/passwd",
    ]);
    assert!(out.contains(" 0        0 "), "{out}");
    let data = env.root.join("volumes/iv/_data/passwd");
    let m = std::fs::metadata(&data).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // The views are gone once the runtime bound them; without a namespace it is refused.
    assert_eq!(env.mounts(), Vec::<String>::new());
    let err = env.fails(125, &["create", "-v", &bind, BUSYBOX, "true"]);
    assert!(err.contains("idmap mounts need a user namespace"), "{err}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}
