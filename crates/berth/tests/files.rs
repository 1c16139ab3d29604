//! `cp` and `diff`, driven through the real binary.

mod common;
use common::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;

/// Runs berth with `input` on stdin.
fn run_stdin(env: &Env, args: &[&str], input: &[u8]) -> Run {
    let mut child = env
        .cmd()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running berth");
    // A refused tar may be rejected before it is all read: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(input);
    Run::from(child.wait_with_output().unwrap())
}

/// Runs berth and returns its raw stdout, asserting success.
fn ok_bytes(env: &Env, args: &[&str]) -> Vec<u8> {
    let out = env.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A tar entry with a raw name and link name (the tar crate refuses `..` in both).
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn finish_tar(mut t: Vec<u8>) -> Vec<u8> {
    t.extend(std::iter::repeat_n(0u8, 1024));
    t
}

/// A host directory `d` with `a` and `sub/b`, owned by 1234:1235, and a file `f.txt`.
fn host_tree(env: &Env) -> std::path::PathBuf {
    let h = env.dir.join("host");
    std::fs::create_dir_all(h.join("d/sub")).unwrap();
    std::fs::write(h.join("d/a"), "a\n").unwrap();
    std::fs::write(h.join("d/sub/b"), "b\n").unwrap();
    std::fs::write(h.join("f.txt"), "hi\n").unwrap();
    for p in ["d", "d/a", "d/sub", "d/sub/b", "f.txt"] {
        std::os::unix::fs::chown(h.join(p), Some(1234), Some(1235)).unwrap();
    }
    h
}

#[test]
fn cp_into_and_out_of_a_running_container() {
    let env = Env::new();
    env.busybox();
    let h = host_tree(&env);
    let hs = |p: &str| h.join(p).to_string_lossy().into_owned();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "--user",
        "1000:1001",
        BUSYBOX,
        "sleep",
        "1000",
    ]);
    // In: a file into a directory, a directory, a directory's contents, a new file name.
    env.ok(&["cp", "-a", &hs("f.txt"), "r:/tmp"]);
    env.ok(&["container", "cp", &hs("d"), "r:/tmp"]);
    env.ok(&["cp", &format!("{}/.", hs("d")), "r:/tmp/dd"]);
    env.ok(&["cp", &hs("f.txt"), "r:tmp/renamed.txt"]);
    env.ok(&["cp", "--archive=false", &hs("f.txt"), "r:/tmp/kept.txt"]);
    let ls = env.ok(&[
        "exec",
        "r",
        "sh",
        "-c",
        "cat /tmp/f.txt /tmp/d/a /tmp/d/sub/b /tmp/dd/a /tmp/renamed.txt; \
         ls /tmp/dd; stat -c '%n %u:%g' /tmp/f.txt /tmp/d/sub/b /tmp/kept.txt",
    ]);
    assert_eq!(
        ls,
        "hi\na\nb\na\nhi\na\nsub\n/tmp/f.txt 1000:1001\n/tmp/d/sub/b 1000:1001\n/tmp/kept.txt 1234:1235\n"
    );
    // Out: a file to a new name, a directory into a directory, a directory's contents.
    let out = env.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let os = |p: &str| out.join(p).to_string_lossy().into_owned();
    env.ok(&["cp", "r:/tmp/f.txt", &os("g.txt")]);
    env.ok(&["cp", "r:/tmp/d", &os("")]);
    env.ok(&["cp", "r:/tmp/d/.", &os("new")]);
    assert_eq!(std::fs::read_to_string(out.join("g.txt")).unwrap(), "hi\n");
    assert_eq!(std::fs::read_to_string(out.join("d/sub/b")).unwrap(), "b\n");
    assert_eq!(std::fs::read_to_string(out.join("new/a")).unwrap(), "a\n");
    // Copied out, files belong to the user who copies.
    let md = std::fs::metadata(out.join("d/a")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
    // A symlink is followed inside the container; the copy takes the target's name.
    env.ok(&["cp", "r:/bin/sh", &os("")]);
    assert!(out.join("busybox").is_file());
}

#[test]
fn cp_on_stopped_containers_with_both_drivers() {
    for driver in ["overlay", "vfs"] {
        let env = Env::with_driver(driver);
        env.busybox();
        let h = host_tree(&env);
        env.ok(&[
            "create",
            "--name",
            "c",
            BUSYBOX,
            "cat",
            "/tmp/f.txt",
            "/tmp/d/a",
        ]);
        env.ok(&["cp", &h.join("f.txt").to_string_lossy(), "c:/tmp/"]);
        env.ok(&["cp", &h.join("d").to_string_lossy(), "c:/tmp"]);
        assert!(env.mounts().is_empty(), "{driver}: {:?}", env.mounts());
        assert_eq!(env.ok(&["start", "-a", "c"]), "hi\na\n", "{driver}");
        let got = env.dir.join("got.txt");
        env.ok(&["cp", "c:/tmp/f.txt", &got.to_string_lossy()]);
        assert_eq!(std::fs::read_to_string(&got).unwrap(), "hi\n");
        assert!(env.mounts().is_empty(), "{driver}: {:?}", env.mounts());
        // A bind mount's files are reached on its host source while the container is stopped.
        let data = env.dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("in.txt"), "bound\n").unwrap();
        let v = format!("{}:/data", data.display());
        env.ok(&["create", "--name", "b", "-v", &v, BUSYBOX, "true"]);
        let tar = ok_bytes(&env, &["cp", "b:/data/in.txt", "-"]);
        assert_eq!(tar_names(&tar), vec!["in.txt"]);
        env.ok(&["cp", &h.join("f.txt").to_string_lossy(), "b:/data/"]);
        assert_eq!(std::fs::read_to_string(data.join("f.txt")).unwrap(), "hi\n");
        env.ok(&["rm", "c", "b"]);
        assert!(env.mounts().is_empty(), "{driver}: {:?}", env.mounts());
    }
}

#[test]
fn cp_through_a_symlink_to_root_stays_inside_the_container() {
    let env = Env::new();
    env.busybox();
    let h = host_tree(&env);
    let probe = format!("berth-cp-probe-{}", std::process::id());
    let host_probe = std::path::Path::new("/etc").join(&probe);
    let _ = std::fs::remove_file(&host_probe);
    let src = h.join("f.txt").to_string_lossy().into_owned();
    // Running: the link is made by the container itself.
    env.ok(&["run", "-d", "--name", "r", BUSYBOX, "sleep", "1000"]);
    env.ok(&["exec", "r", "ln", "-s", "/", "/tmp/root-link"]);
    env.ok(&["exec", "r", "ln", "-s", "../../..", "/tmp/up-link"]);
    env.ok(&["cp", &src, &format!("r:/tmp/root-link/etc/{probe}")]);
    env.ok(&["cp", &src, &format!("r:/tmp/up-link/etc/{probe}.up")]);
    assert!(!host_probe.exists(), "cp wrote the host's /etc");
    assert!(!std::path::Path::new(&format!("/etc/{probe}.up")).exists());
    assert_eq!(
        env.ok(&["exec", "r", "cat", &format!("/etc/{probe}")]),
        "hi\n"
    );
    assert_eq!(
        env.ok(&["exec", "r", "cat", &format!("/etc/{probe}.up")]),
        "hi\n"
    );
    // Copying out through the link reads the container's file, not the host's.
    env.ok(&[
        "exec",
        "r",
        "sh",
        "-c",
        "echo container > /etc/hostname-probe",
    ]);
    let got = env.dir.join("got");
    env.ok(&[
        "cp",
        "r:/tmp/root-link/etc/hostname-probe",
        &got.to_string_lossy(),
    ]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "container\n");
    // Stopped: the same through the mounted root file system.
    env.ok(&["stop", "-t", "0", "r"]);
    env.ok(&["cp", &src, &format!("r:/tmp/root-link/etc/{probe}.stopped")]);
    assert!(!std::path::Path::new(&format!("/etc/{probe}.stopped")).exists());
    let tar = ok_bytes(&env, &["cp", &format!("r:/etc/{probe}.stopped"), "-"]);
    assert_eq!(tar_names(&tar), vec![format!("{probe}.stopped")]);
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn cp_tar_streams_on_stdin_and_stdout() {
    let env = Env::new();
    env.busybox();
    let h = host_tree(&env);
    env.ok(&["run", "-d", "--name", "r", BUSYBOX, "sleep", "1000"]);
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(h.join("d"))
        .args(["-cf", "-", "."])
        .output()
        .unwrap()
        .stdout;
    env.ok(&["exec", "r", "mkdir", "/in"]);
    let r = run_stdin(&env, &["cp", "-", "r:/in"], &tar);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        env.ok(&["exec", "r", "cat", "/in/a", "/in/sub/b"]),
        "a\nb\n"
    );
    // Out: the directory by name, or its contents with `/.`.
    let names = tar_names(&ok_bytes(&env, &["cp", "r:/in", "-"]));
    assert_eq!(names, vec!["in", "in/a", "in/sub", "in/sub/b"]);
    let names = tar_names(&ok_bytes(&env, &["cp", "r:/in/.", "-"]));
    assert_eq!(names, vec!["a", "sub", "sub/b"]);
    // stdin needs an existing directory.
    let r = run_stdin(&env, &["cp", "-", "r:/in/a"], &tar);
    assert_eq!(r.code, 125);
    assert_eq!(
        r.stderr,
        "Error: destination must be a directory when copying from stdin\n"
    );
}

#[test]
fn hostile_tars_are_refused_and_nothing_is_written() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "-d", "--name", "r", BUSYBOX, "sleep", "1000"]);
    env.ok(&["exec", "r", "mkdir", "/in"]);
    use tar::EntryType::{Link, Regular, Symlink};
    type Entries<'a> = Vec<(&'a str, tar::EntryType, &'a str)>;
    let cases: Vec<(Entries, &str)> = vec![
        (
            vec![("ok.txt", Regular, ""), ("../../escape.txt", Regular, "")],
            "\"..\" is not allowed",
        ),
        (
            vec![("ok.txt", Regular, ""), ("/abs.txt", Regular, "")],
            "absolute paths are not allowed",
        ),
        (
            vec![("ok.txt", Regular, ""), ("esc", Symlink, "../../../..")],
            "escapes the container's root",
        ),
        (
            vec![
                ("ok.txt", Regular, ""),
                ("root", Symlink, "/"),
                ("root/etc/pwned", Regular, ""),
            ],
            "is a symlink in the tar",
        ),
        (
            vec![("ok.txt", Regular, ""), ("h", Link, "../../etc/passwd")],
            "escapes the copy",
        ),
        (
            vec![("ok.txt", Regular, ""), ("h", Link, "etc/passwd")],
            "not an earlier file of this tar",
        ),
    ];
    for (entries, want) in cases {
        let mut t = Vec::new();
        for (name, kind, link) in &entries {
            raw_entry(&mut t, name, *kind, link, b"evil\n");
        }
        let r = run_stdin(&env, &["cp", "-", "r:/in"], &finish_tar(t));
        assert_eq!(r.code, 125, "{entries:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{entries:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        // Checked whole before writing: not even the harmless first entry is there.
        assert_eq!(env.ok(&["exec", "r", "ls", "-A", "/in"]), "", "{entries:?}");
    }
    assert_ne!(env.run(&["exec", "r", "ls", "/etc/pwned"]).code, 0);
    assert!(!std::path::Path::new("/etc/pwned").exists());
}

#[test]
fn cp_errors_as_podman() {
    let env = Env::new();
    env.busybox();
    let h = host_tree(&env);
    let f = h.join("f.txt").to_string_lossy().into_owned();
    let d = h.join("d").to_string_lossy().into_owned();
    env.ok(&["create", "--name", "c", BUSYBOX, "true"]);
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![f.clone(), "nosuch:/tmp".into()],
            "container \"nosuch\" does not exist".into(),
        ),
        (
            vec!["c:/tmp/nope".into(), h.join("x").to_string_lossy().into()],
            "\"/tmp/nope\" could not be found on container c: no such file or directory".into(),
        ),
        (
            vec![f.clone(), "c:/nope/x".into()],
            "\"/nope/x\" could not be found on container c: no such file or directory".into(),
        ),
        (
            vec![h.join("nope").to_string_lossy().into(), "c:/tmp".into()],
            format!(
                "{:?} could not be found on the host: no such file or directory",
                h.join("nope").to_string_lossy()
            ),
        ),
        (
            vec![d.clone(), "c:/etc/passwd".into()],
            "destination must be a directory when copying a directory".into(),
        ),
        (
            vec![f.clone(), h.join("y").to_string_lossy().into()],
            "name or ID cannot be empty".into(),
        ),
    ];
    for (args, want) in cases {
        let mut a = vec!["cp"];
        a.extend(args.iter().map(String::as_str));
        let err = env.fails(125, &a);
        assert_eq!(err, format!("Error: {want}\n"), "{args:?}");
    }
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn diff_lists_changes_as_podman() {
    for driver in ["overlay", "vfs"] {
        let env = Env::with_driver(driver);
        env.busybox();
        env.ok(&[
            "run",
            "--name",
            "c",
            BUSYBOX,
            "sh",
            "-c",
            "mkdir -p /root/a/b && echo x > /root/a/b/new && echo y >> /etc/passwd \
             && rm /etc/group && mkdir /newdir && touch /newdir/f",
        ]);
        let text = env.ok(&["diff", "c"]);
        assert_eq!(
            text,
            "C /etc\nD /etc/group\nC /etc/passwd\nA /newdir\nA /newdir/f\n\
             C /root\nA /root/a\nA /root/a/b\nA /root/a/b/new\n",
            "{driver}"
        );
        assert_eq!(env.ok(&["container", "diff", "c"]), text, "{driver}");
        let json = env.ok(&["diff", "--format", "json", "c"]);
        assert_eq!(
            json,
            "{\n     \"changed\": [\n          \"/etc\",\n          \"/etc/passwd\",\n          \"/root\"\n     ],\n     \
             \"added\": [\n          \"/newdir\",\n          \"/newdir/f\",\n          \"/root/a\",\n          \
             \"/root/a/b\",\n          \"/root/a/b/new\"\n     ],\n     \"deleted\": [\n          \"/etc/group\"\n     ]\n}\n",
            "{driver}"
        );
        // A container that changed nothing; an image's top layer; unknown names.
        env.ok(&["create", "--name", "fresh", BUSYBOX, "true"]);
        assert_eq!(env.ok(&["diff", "fresh"]), "", "{driver}");
        assert_eq!(env.ok(&["diff", "--format", "json", "fresh"]), "{}\n");
        let img = env.ok(&["image", "diff", BUSYBOX]);
        assert!(img.lines().all(|l| l.starts_with("A /")), "{img}");
        assert!(img.lines().any(|l| l == "A /bin/busybox"), "{img}");
        assert_eq!(
            env.fails(125, &["diff", "nosuch"]),
            "Error: nosuch not found: layer not known\n"
        );
        assert_eq!(
            env.fails(125, &["image", "diff", "c"]),
            "Error: c not found: c: image not known\n"
        );
        assert_eq!(
            env.fails(125, &["diff", "--format", "yaml", "c"]),
            "Error: only supported value for '--format' is 'json'\n"
        );
    }
}
