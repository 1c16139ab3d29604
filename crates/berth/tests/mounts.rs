//! `-v` bind mounts and `--tmpfs`, driven through the real binary.

mod common;
use common::*;

#[test]
fn bind_mounts_read_write_and_read_only() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("hostdata");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from the host\n").unwrap();
    let v = format!("{}:/data", host.display());
    // Read and write through a bind mount; the host sees what the container wrote.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        BUSYBOX,
        "sh",
        "-c",
        "cat /data/in.txt; echo back > /data/out.txt",
    ]);
    assert_eq!(out, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    // Read-only: writing fails, reading works.
    let ro = format!("{}:/data:ro", host.display());
    let r = env.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        BUSYBOX,
        "sh",
        "-c",
        "cat /data/in.txt && touch /data/no",
    ]);
    assert_ne!(r.code, 0);
    assert_eq!(r.stdout, "from the host\n");
    assert!(!host.join("no").exists());
    // inspect lists it as Podman does; the data outlives the container.
    env.ok(&["create", "--name", "c", "-v", &ro, BUSYBOX, "true"]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--format", "{{json .Mounts}}", "c"])).unwrap();
    assert_eq!(m[0]["Type"], "bind");
    assert_eq!(m[0]["Destination"], "/data");
    assert_eq!(m[0]["RW"], false);
    assert_eq!(
        m[0]["Source"],
        std::fs::canonicalize(&host).unwrap().to_str().unwrap()
    );
    env.ok(&["rm", "c"]);
    assert!(host.join("out.txt").exists());
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn tmpfs_is_a_tmpfs() {
    let env = Env::new();
    env.busybox();
    let out = env.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=2m",
        BUSYBOX,
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts; echo x > /scratch/f && cat /scratch/f",
    ]);
    assert!(out.starts_with("tmpfs /scratch tmpfs "), "{out}");
    assert!(out.contains("size=2048k"), "{out}");
    assert!(out.ends_with("x\n"), "{out}");
}

#[test]
fn bad_mounts_are_refused_and_nothing_is_created() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("h");
    std::fs::create_dir_all(&host).unwrap();
    let h = host.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["-v".into(), "/nonexistent-berth-src:/data".into()],
            "statfs /nonexistent-berth-src",
        ),
        (vec!["-v".into(), format!("{h}:data")], "absolute path"),
        (
            vec![
                "-v".into(),
                format!("{h}:/data"),
                "--tmpfs".into(),
                "/data".into(),
            ],
            "duplicate mount destination",
        ),
        (
            vec!["-v".into(), format!("{h}:/data:bogus")],
            "invalid option",
        ),
        (
            vec!["-v".into(), "bad name:/data".into()],
            "invalid volume name",
        ),
        (
            vec!["--mount".into(), "type=bogus,target=/d".into()],
            "invalid filesystem type",
        ),
        (
            vec![
                "--mount".into(),
                "type=volume,src=v,target=/d,bogus=1".into(),
            ],
            "bogus: invalid mount option",
        ),
        (
            vec!["--mount".into(), "type=bind,target=/d".into()],
            "needs a source",
        ),
        (
            vec!["--volumes-from".into(), "nosuchctr".into()],
            "no container with name or ID \"nosuchctr\"",
        ),
        (vec!["--tmpfs".into(), "relative".into()], "absolute path"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["create".to_string()];
        args.extend(flags);
        args.extend([BUSYBOX.to_string(), "true".to_string()]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = env.fails(125, &a);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "", "no volume was left");
}

#[test]
fn mount_unmount_and_export_a_container() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "--name",
        "c",
        BUSYBOX,
        "sh",
        "-c",
        "echo made > /root/made.txt",
    ]);
    // mount prints the merged root file system, which holds the container's files.
    let path = env.ok(&["mount", "c"]).trim().to_string();
    assert_eq!(
        std::fs::read_to_string(format!("{path}/root/made.txt")).unwrap(),
        "made\n"
    );
    assert!(env.ok(&["mount"]).contains(&path));
    env.ok(&["unmount", "c"]);
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
    // export: a tar of that file system, to a file or stdout.
    let file = env.dir.join("c.tar");
    env.ok(&["export", "-o", file.to_str().unwrap(), "c"]);
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&file)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "root/made.txt"),
        "{names}"
    );
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{names}"
    );
    let out = env.cmd().args(["export", "c"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout.len() as u64,
        std::fs::metadata(&file).unwrap().len()
    );
    assert!(
        env.mounts().is_empty(),
        "export leaves no mount: {:?}",
        env.mounts()
    );
    env.fails(125, &["export", "-o", file.to_str().unwrap(), "nosuch"]);
    // A running container cannot be unmounted.
    env.ok(&["run", "-d", "--name", "r", BUSYBOX, "sleep", "100"]);
    env.fails(125, &["unmount", "r"]);
}
