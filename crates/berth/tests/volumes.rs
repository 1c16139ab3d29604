//! Named and anonymous volumes, `--mount`, `--volumes-from`, and the `volume` commands,
//! driven through the real binary.

mod common;
use common::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn volume_path(env: &Env, name: &str) -> String {
    env.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", name])
        .trim()
        .to_string()
}

#[test]
fn named_volume_is_copied_up_and_outlives_its_containers() {
    let env = Env::new();
    env.busybox();
    // Created on first use, filled from the image's /etc the first time.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "etcdata:/etc",
        BUSYBOX,
        "sh",
        "-c",
        "cat /etc/passwd | head -1; echo kept > /etc/mine",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    let path = volume_path(&env, "etcdata");
    assert!(std::path::Path::new(&path).join("passwd").exists());
    let v = json(&env.ok(&["volume", "inspect", "etcdata"]));
    assert_eq!(v[0]["Name"], "etcdata");
    assert_eq!(v[0]["Driver"], "local");
    assert!(v[0].get("NeedsCopyUp").is_none(), "{v}");
    // Another container, at another path, sees what the first wrote.
    env.ok(&[
        "create",
        "--name",
        "second",
        "-v",
        "etcdata:/data",
        BUSYBOX,
        "cat",
        "/data/mine",
    ]);
    assert_eq!(env.ok(&["start", "-a", "second"]), "kept\n");
    // Removing the container (even with -v) leaves a named volume alone.
    env.ok(&["rm", "-v", "second"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "etcdata\n");
    assert_eq!(
        std::fs::read_to_string(format!("{path}/mine")).unwrap(),
        "kept\n"
    );
    // Copied up once only: a file removed from the volume does not come back.
    std::fs::remove_file(format!("{path}/group")).unwrap();
    env.ok(&["run", "--rm", "-v", "etcdata:/etc", BUSYBOX, "true"]);
    assert!(!std::path::Path::new(&path).join("group").exists());
    // nocopy: an empty volume stays empty.
    env.ok(&["run", "--rm", "-v", "empty:/etc:nocopy", BUSYBOX, "true"]);
    assert_eq!(
        std::fs::read_dir(volume_path(&env, "empty"))
            .unwrap()
            .count(),
        0
    );
    env.ok(&["volume", "rm", "etcdata"]);
    assert!(!std::path::Path::new(&path).exists());
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm() {
    let env = Env::new();
    env.busybox();
    // run --rm removes the anonymous volume with the container.
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        BUSYBOX,
        "sh",
        "-c",
        "echo x > /scratch/f",
    ]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
    // rm keeps it; rm -v removes it.
    env.ok(&["create", "--name", "a", "-v", "/scratch", BUSYBOX, "true"]);
    let names = env.ok(&["volume", "ls", "-q"]);
    assert_eq!(names.lines().count(), 1);
    let v = json(&env.ok(&["volume", "inspect", names.trim()]));
    assert_eq!(v[0]["Anonymous"], true);
    let m = json(&env.ok(&["inspect", "--format", "{{json .Mounts}}", "a"]));
    assert_eq!(m[0]["Type"], "volume");
    assert_eq!(m[0]["Name"], names.trim());
    assert_eq!(m[0]["Destination"], "/scratch");
    env.ok(&["rm", "a"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), names);
    env.ok(&["volume", "prune", "-f"]);
    env.ok(&["create", "--name", "b", "-v", "/scratch", BUSYBOX, "true"]);
    env.ok(&["rm", "-v", "b"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");

    // An image's VOLUME becomes an anonymous volume, filled from the image.
    let rootfs = images().join("rootfs.tar");
    env.ok(&[
        "import",
        "--change",
        "VOLUME /etc",
        "--change",
        "CMD [\"sh\"]",
        rootfs.to_str().unwrap(),
        "withvol",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "withvol",
        "sh",
        "-c",
        "grep -c root /etc/passwd; grep ' /etc ' /proc/mounts | wc -l",
    ]);
    assert_eq!(out, "1\n1\n", "{out}");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
    // A user mount on the same path replaces the image's volume.
    env.ok(&["run", "--rm", "-v", "mine:/etc", "withvol", "true"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "mine\n");
}

#[test]
fn volume_commands() {
    let env = Env::new();
    assert_eq!(
        env.ok(&[
            "volume", "create", "--label", "team=a", "-o", "uid=1000", "-o", "gid=1001", "v1"
        ]),
        "v1\n"
    );
    let generated = env.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(generated.len(), 64);
    let md = std::fs::metadata(volume_path(&env, "v1")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 1001));
    let v = json(&env.ok(&["volume", "inspect", "v1"]));
    assert_eq!(v[0]["Labels"]["team"], "a");
    assert_eq!(v[0]["Options"]["uid"], "1000");
    assert_eq!(v[0]["UID"], 1000);
    assert_eq!(v[0]["Scope"], "local");
    // ls: table, -q, --filter, --format.
    let table = env.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER      VOLUME NAME\n"), "{table}");
    assert!(table.contains("local       v1\n"), "{table}");
    assert_eq!(
        env.ok(&["volume", "ls", "-q", "--filter", "label=team=a"]),
        "v1\n"
    );
    assert_eq!(
        env.ok(&["volume", "ls", "-q", "--filter", "name=v1"]),
        "v1\n"
    );
    assert_eq!(
        env.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}}",
            "--filter",
            "label=team"
        ]),
        "v1 local\n"
    );
    let listed = json(&env.ok(&["volume", "ls", "--format", "json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    env.fails(125, &["volume", "ls", "--filter", "bogus=1"]);
    // exists, duplicate, bad input.
    env.ok(&["volume", "exists", "v1"]);
    env.fails(1, &["volume", "exists", "nope"]);
    assert!(env
        .fails(125, &["volume", "create", "v1"])
        .contains("volume with name v1 already exists"));
    env.ok(&["volume", "create", "--ignore", "v1"]);
    assert!(env
        .fails(125, &["volume", "create", "-o", "bogus=1", "bad1"])
        .contains("invalid mount option bogus"));
    assert!(env
        .fails(125, &["volume", "create", "--driver", "nfsplugin", "bad2"])
        .contains("no volume plugin with name nfsplugin"));
    assert!(env
        .fails(125, &["volume", "create", "bad name"])
        .contains("invalid volume name"));
    assert!(env
        .fails(125, &["volume", "inspect", "v1", "nope"])
        .contains("no such volume nope"));
    assert_eq!(
        env.ok(&["volume", "ls", "-q"]).lines().count(),
        2,
        "nothing half-made"
    );
    // rm: missing is exit 1; -a removes all.
    assert!(env
        .fails(1, &["volume", "rm", "nope"])
        .contains("no volume with name \"nope\" found"));
    env.ok(&["volume", "rm", "-a"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn volumes_in_use_and_prune() {
    let env = Env::new();
    env.busybox();
    env.ok(&["volume", "create", "used"]);
    env.ok(&["volume", "create", "unused"]);
    let id = env.ok(&["create", "--name", "user", "-v", "used:/d", BUSYBOX, "true"]);
    let err = env.fails(2, &["volume", "rm", "used"]);
    assert!(
        err.contains("volume used is being used by the following container(s)")
            && err.contains(id.trim()),
        "{err}"
    );
    // prune removes only what no container uses; without -f it asks.
    let r = env
        .cmd()
        .args(["volume", "prune"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("unused"));
    assert_eq!(
        env.ok(&["volume", "ls", "-q"]),
        "unused\nused\n",
        "no answer: kept"
    );
    assert_eq!(env.ok(&["volume", "prune", "-f"]), "unused\n");
    assert_eq!(
        env.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]),
        "used\n"
    );
    // rm -f removes the containers that use it, then the volume.
    env.ok(&["volume", "rm", "-f", "used"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn export_and_import_and_hostile_tars() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "src:/d",
        BUSYBOX,
        "sh",
        "-c",
        "mkdir /d/sub; echo one > /d/sub/f; ln -s sub/f /d/link",
    ]);
    let tar = env.dir.join("vol.tar");
    env.ok(&["volume", "export", "-o", tar.to_str().unwrap(), "src"]);
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(names.lines().any(|l| l == "sub/f"), "{names}");
    env.ok(&["volume", "create", "dst"]);
    env.ok(&["volume", "import", "dst", tar.to_str().unwrap()]);
    let out = env.ok(&["run", "--rm", "-v", "dst:/d", BUSYBOX, "cat", "/d/link"]);
    assert_eq!(out, "one\n");
    // From stdin too.
    env.ok(&["volume", "create", "dst2"]);
    let r = env
        .cmd()
        .args(["volume", "import", "dst2", "-"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(std::path::Path::new(&volume_path(&env, "dst2"))
        .join("sub/f")
        .exists());
    // A tar that climbs out of the volume is refused; nothing of it is written.
    let outside = env.dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "good", &b"ok"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "esc", &outside).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "esc/pwned", &b"no"[..]).unwrap();
    let hostile = env.dir.join("hostile.tar");
    std::fs::write(&hostile, b.into_inner().unwrap()).unwrap();
    env.ok(&["volume", "create", "victim"]);
    let err = env.fails(
        125,
        &["volume", "import", "victim", hostile.to_str().unwrap()],
    );
    assert!(err.contains("esc"), "{err}");
    assert!(!outside.join("pwned").exists());
    assert_eq!(
        std::fs::read_dir(volume_path(&env, "victim"))
            .unwrap()
            .count(),
        0
    );
    env.fails(125, &["volume", "import", "nope", tar.to_str().unwrap()]);
    env.fails(125, &["volume", "export", "nope"]);
}

#[test]
fn tmpfs_volume_is_mounted_only_while_used() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=3m",
        "tv",
    ]);
    env.ok(&[
        "run", "-d", "--name", "r", "-v", "tv:/t", BUSYBOX, "sleep", "100",
    ]);
    let out = env.ok(&["exec", "r", "grep", " /t ", "/proc/mounts"]);
    assert!(
        out.starts_with("tmpfs /t tmpfs") && out.contains("size=3072k"),
        "{out}"
    );
    let v = json(&env.ok(&["volume", "inspect", "tv"]));
    assert_eq!(v[0]["MountCount"], 1);
    env.ok(&["stop", "-t", "0", "r"]);
    assert!(
        env.mounts().iter().all(|m| !m.contains("/volumes/")),
        "{:?}",
        env.mounts()
    );
    env.ok(&["rm", "r"]);
    env.ok(&["volume", "rm", "tv"]);
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn mount_flag_volumes_from_and_chown() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("h");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "host\n").unwrap();
    let bind = format!("type=bind,source={},target=/h,readonly", host.display());
    let r = env.run(&[
        "run", "--rm", "--mount", &bind,
        "--mount", "type=volume,source=mv,target=/v",
        "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
        BUSYBOX, "sh", "-c",
        "cat /h/f; echo v > /v/f; stat -c %a /t; grep ' /t ' /proc/mounts | grep -c size=1024k; touch /h/no",
    ]);
    assert_ne!(r.code, 0, "the bind mount is read-only");
    assert_eq!(r.stdout, "host\n1770\n1\n");
    assert!(!host.join("no").exists());
    // --volumes-from shares the volumes and binds of another container (here read-only).
    env.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "mv:/v",
        "-v",
        &format!("{}:/h", host.display()),
        BUSYBOX,
        "true",
    ]);
    let r = env.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        BUSYBOX,
        "sh",
        "-c",
        "cat /v/f /h/f; touch /v/no",
    ]);
    assert_eq!(r.stdout, "v\nhost\n");
    assert_ne!(r.code, 0);
    // :U gives a volume to the container's user.
    let out = env.ok(&[
        "run",
        "--rm",
        "-u",
        "1234:1234",
        "-v",
        "owned:/o:U",
        BUSYBOX,
        "sh",
        "-c",
        "touch /o/f && stat -c %u:%g /o /o/f",
    ]);
    assert_eq!(out, "1234:1234\n1234:1234\n");
    // A new volume belongs to the container's user even without U.
    let out = env.ok(&[
        "run",
        "--rm",
        "-u",
        "4321",
        "-v",
        "fresh:/data",
        BUSYBOX,
        "stat",
        "-c",
        "%u",
        "/data",
    ]);
    assert_eq!(out, "4321\n");
    // --read-only-tmpfs=false: a read-only root with no writable /tmp.
    let r = env.run(&[
        "run",
        "--rm",
        "--read-only",
        "--read-only-tmpfs=false",
        BUSYBOX,
        "touch",
        "/tmp/x",
    ]);
    assert_ne!(r.code, 0);
    env.ok(&["run", "--rm", "--read-only", BUSYBOX, "touch", "/tmp/x"]);
    // devpts mounts.
    let out = env.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=devpts,target=/dev/pts2",
        BUSYBOX,
        "grep",
        "-c",
        " /dev/pts2 devpts",
        "/proc/mounts",
    ]);
    assert_eq!(out, "1\n");
}

#[test]
fn image_mounts() {
    for driver in ["overlay", "vfs"] {
        let env = Env::with_driver(driver);
        env.busybox();
        let spec = format!("type=image,source={BUSYBOX},target=/img");
        let r = env.run(&[
            "run",
            "--rm",
            "--mount",
            &spec,
            BUSYBOX,
            "sh",
            "-c",
            "test -x /img/bin/busybox && echo found; touch /img/x",
        ]);
        assert_eq!(r.stdout, "found\n", "{driver}: {}", r.stderr);
        assert_ne!(r.code, 0, "{driver}: read-only by default");
        // rw=true: writable, and the writes go with the container, not into the image.
        let rw = format!("{spec},rw=true");
        env.ok(&["run", "--rm", "--mount", &rw, BUSYBOX, "touch", "/img/x"]);
        let out = env.ok(&["run", "--rm", "--mount", &spec, BUSYBOX, "ls", "/img"]);
        assert!(!out.lines().any(|l| l == "x"), "{driver}: {out}");
        // The image is in use while a container mounts it.
        env.ok(&[
            "import",
            images().join("rootfs.tar").to_str().unwrap(),
            "other",
        ]);
        let spec2 = "type=image,source=other,target=/img".to_string();
        env.ok(&["create", "--name", "m", "--mount", &spec2, BUSYBOX, "true"]);
        let m = json(&env.ok(&["inspect", "--format", "{{json .Mounts}}", "m"]));
        assert_eq!(m[0]["Type"], "image");
        assert_eq!(m[0]["Source"], "other");
        env.fails(2, &["rmi", "other"]);
        env.ok(&["start", "-a", "m"]);
        env.ok(&["rm", "m"]);
        env.ok(&["rmi", "other"]);
        let missing = "type=image,source=nosuchimage,target=/img";
        env.fails(125, &["create", "--mount", missing, BUSYBOX, "true"]);
        assert!(env.mounts().is_empty(), "{driver}: {:?}", env.mounts());
    }
}

#[test]
fn cp_reaches_the_volumes_of_a_stopped_container() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "c", "-v", "vol:/data", BUSYBOX, "true"]);
    let f = env.dir.join("in.txt");
    std::fs::write(&f, "into the volume\n").unwrap();
    env.ok(&["cp", f.to_str().unwrap(), "c:/data/in.txt"]);
    let path = volume_path(&env, "vol");
    assert_eq!(
        std::fs::read_to_string(format!("{path}/in.txt")).unwrap(),
        "into the volume\n"
    );
    let out = env.dir.join("out.txt");
    env.ok(&["cp", "c:/data/in.txt", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "into the volume\n");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}
