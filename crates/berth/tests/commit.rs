//! `commit` and `image mount`/`image unmount`, driven through the real binary. Each
//! `Env` removes its containers and mounts when dropped, also when a test fails.

mod common;
use common::*;
use serde_json::Value;

fn inspect(env: &Env, image: &str) -> Value {
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

/// Chain-id directories in the layer store.
fn layers(env: &Env) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(env.root.join(env.driver).join("layers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Adds, changes and deletes files, commits, and checks the new image; then deletes a
/// whole directory of the committed layer and recreates it (an opaque directory).
fn changes_survive_commit(env: &Env) {
    env.busybox();
    env.ok(&[
        "run",
        "--name",
        "c1",
        BUSYBOX,
        "sh",
        "-c",
        "echo new > /newfile; echo extra >> /etc/passwd; rm /bin/ls; \
         mkdir -p /data/sub; echo a > /data/a; echo b > /data/sub/b; ln -s /data/a /data/link",
    ]);
    let r = env.run(&["commit", "c1", "first"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.stdout.trim();
    assert_eq!(id.len(), 64, "{:?}", r.stdout);
    let out = env.ok(&[
        "run",
        "--rm",
        "first",
        "sh",
        "-c",
        "cat /newfile /data/a /data/sub/b /data/link; tail -1 /etc/passwd; \
         test -e /bin/ls && echo ls-still-there; true",
    ]);
    assert_eq!(out, "new\na\nb\na\nextra\n");
    let img = inspect(env, "first");
    assert_eq!(img["Id"], id);
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(img["RepoTags"][0], "localhost/first:latest");

    // Second generation: /data replaced wholesale, a file of the first commit deleted.
    env.ok(&[
        "run",
        "--name",
        "c2",
        "first",
        "sh",
        "-c",
        "rm -rf /data; mkdir /data; echo c > /data/c; rm /newfile",
    ]);
    env.ok(&["commit", "-q", "c2", "second"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "second",
        "sh",
        "-c",
        "ls /data; test -e /newfile && echo newfile-still-there; true",
    ]);
    assert_eq!(out, "c\n");
    assert_eq!(
        inspect(env, "second")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn commit_overlay_adds_changes_and_deletes() {
    let env = Env::new();
    changes_survive_commit(&env);
}

#[test]
fn commit_vfs_adds_changes_and_deletes() {
    let env = Env::with_driver("vfs");
    changes_survive_commit(&env);
}

#[test]
fn commit_prints_progress_like_podman() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "--name", "c", BUSYBOX, "touch", "/x"]);
    let r = env.run(&["commit", "c"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.stdout.trim().to_string();
    let img = inspect(&env, &id);
    let layers = img["RootFS"]["Layers"].as_array().unwrap();
    let mut want = String::from("Getting image source signatures\n");
    for l in layers {
        want.push_str(&format!("Copying blob {}\n", l.as_str().unwrap()));
    }
    want.push_str(&format!(
        "Copying config sha256:{id}\nWriting manifest to image destination\nStoring signatures\n"
    ));
    assert_eq!(r.stderr, want);
    // No name: a <none> image.
    assert_eq!(img["RepoTags"], serde_json::json!([]));
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        images.contains(&format!("<none>:<none> {}", &id[..12])),
        "{images}"
    );
    // -q: only the ID; --iidfile: the ID in a file.
    let iid = env.dir.join("iid");
    let r = env.run(&[
        "commit",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "c",
        "named",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), r.stdout.trim());
}

#[test]
fn commit_changes_author_and_container_settings() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "create",
        "--name",
        "c",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "--label",
        "l1=v1",
        BUSYBOX,
        "sh",
        "-c",
        "echo from-create",
    ]);
    env.ok(&[
        "commit",
        "-q",
        "-a",
        "Jane <jane@example.org>",
        "-c",
        "ENV A=1",
        "-c",
        "LABEL k=v",
        "-c",
        "EXPOSE=8080",
        "-c",
        "STOPSIGNAL SIGINT",
        "-c",
        "VOLUME /vol",
        "c",
        "withchanges",
    ]);
    let img = inspect(&env, "withchanges");
    let cfg = &img["Config"];
    let env_list: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env_list.contains(&"FOO=bar"), "{env_list:?}");
    assert!(env_list.contains(&"A=1"), "{env_list:?}");
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["sh", "-c", "echo from-create"])
    );
    assert_eq!(cfg["WorkingDir"], "/tmp");
    assert_eq!(cfg["Labels"]["l1"], "v1");
    assert_eq!(cfg["Labels"]["k"], "v");
    assert_eq!(cfg["ExposedPorts"]["8080/tcp"], serde_json::json!({}));
    assert_eq!(cfg["StopSignal"], "2");
    assert_eq!(cfg["Volumes"]["/vol"], serde_json::json!({}));
    assert_eq!(img["Author"], "Jane <jane@example.org>");
    let hist = img["History"].as_array().unwrap();
    let last = hist.last().unwrap();
    assert_eq!(last["created_by"], "/bin/sh");
    assert_eq!(last["author"], "Jane <jane@example.org>");
    assert_eq!(last["comment"], format!("FROM {BUSYBOX}"));
    let history = env.ok(&[
        "history",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "withchanges",
    ]);
    assert_eq!(
        history.lines().next().unwrap(),
        format!("/bin/sh|FROM {BUSYBOX}")
    );
    // The image runs the container's command by default.
    assert_eq!(env.ok(&["run", "--rm", "withchanges"]), "from-create\n");

    // CMD given as a change wins over the container's.
    env.ok(&[
        "commit",
        "-q",
        "-c",
        r#"CMD ["echo", "from-change"]"#,
        "c",
        "cmd",
    ]);
    assert_eq!(env.ok(&["run", "--rm", "cmd"]), "from-change\n");
}

#[test]
fn commit_message_needs_docker_format() {
    let env = Env::new();
    env.busybox();
    env.ok(&["create", "--name", "c", BUSYBOX, "true"]);
    let err = env.fails(125, &["commit", "-m", "hello", "c", "x"]);
    assert_eq!(
        err,
        "Error: messages are only compatible with the docker image format (-f docker)\n"
    );
    env.ok(&[
        "commit",
        "-q",
        "--format",
        "docker",
        "-m",
        "hello",
        "-a",
        "Me",
        "c",
        "dockerfmt",
    ]);
    let img = inspect(&env, "dockerfmt");
    assert_eq!(img["Comment"], "hello");
    assert_eq!(img["Author"], "Me");
    assert_eq!(
        img["ManifestType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(env.ok(&["run", "--rm", "dockerfmt", "echo", "ok"]), "ok\n");
    let err = env.fails(125, &["commit", "--format", "foo", "c", "x"]);
    assert_eq!(err, "Error: unrecognized image format \"foo\"\n");
}

#[test]
fn commit_squash_gives_one_layer() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "--name",
        "c",
        BUSYBOX,
        "sh",
        "-c",
        "echo s > /s; rm /bin/ls",
    ]);
    env.ok(&["commit", "-q", "--squash", "c", "squashed"]);
    let img = inspect(&env, "squashed");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(img["History"].as_array().unwrap().len(), 1);
    let out = env.ok(&[
        "run",
        "--rm",
        "squashed",
        "sh",
        "-c",
        "cat /s; test -e /bin/ls && echo ls-there; true",
    ]);
    assert_eq!(out, "s\n");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn commit_running_container_with_and_without_pause() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        BUSYBOX,
        "sh",
        "-c",
        "echo up > /up; sleep 100",
    ]);
    assert!(eventually(10, || env
        .run(&["exec", "r", "cat", "/up"])
        .stdout
        == "up\n"));
    for pause in ["--pause", "--pause=false"] {
        env.ok(&["commit", "-q", pause, "r", "live"]);
        let state = env.ok(&["inspect", "--format", "{{.State.Status}}", "r"]);
        assert_eq!(state.trim(), "running", "after commit {pause}");
        assert_eq!(env.ok(&["run", "--rm", "live", "cat", "/up"]), "up\n");
    }
    env.ok(&["rm", "-f", "-t", "0", "r"]);
}

#[test]
fn committed_image_saves_and_loads() {
    let env = Env::new();
    env.busybox();
    env.ok(&[
        "run",
        "--name",
        "c",
        BUSYBOX,
        "sh",
        "-c",
        "echo kept > /kept",
    ]);
    let id = env.ok(&["commit", "-q", "c", "saved"]).trim().to_string();
    let archive = env.dir.join("saved.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "saved"]);
    env.ok(&["rm", "c"]);
    env.ok(&["rmi", "saved"]);
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("localhost/saved:latest"), "{out}");
    assert_eq!(inspect(&env, "saved")["Id"], id.as_str());
    assert_eq!(env.ok(&["run", "--rm", "saved", "cat", "/kept"]), "kept\n");
}

#[test]
fn commit_include_volumes() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("bind");
    std::fs::create_dir_all(&host).unwrap();
    let v = format!("{}:/bnd", host.display());
    env.ok(&[
        "create", "--name", "c", "-v", &v, "--tmpfs", "/tt", BUSYBOX, "true",
    ]);
    env.ok(&["commit", "-q", "c", "novols"]);
    assert!(inspect(&env, "novols")["Config"]["Volumes"].is_null());
    env.ok(&["commit", "-q", "--include-volumes", "c", "vols"]);
    let vols = &inspect(&env, "vols")["Config"]["Volumes"];
    assert_eq!(vols, &serde_json::json!({"/bnd": {}, "/tt": {}}));
}

#[test]
fn commit_bad_input_stores_nothing() {
    let env = Env::new();
    env.busybox();
    env.ok(&["run", "--name", "c", BUSYBOX, "touch", "/x"]);
    let before = layers(&env);
    let images_before = env.ok(&["images", "-q"]);
    let err = env.fails(125, &["commit", "nosuch", "x"]);
    assert_eq!(
        err,
        "Error: no container with name or ID \"nosuch\" found: no such container\n"
    );
    let err = env.fails(125, &["commit", "-c", "FOO bar", "c", "x"]);
    assert_eq!(
        err,
        "Error: invalid change \"FOO bar\" - invalid instruction FOO\n"
    );
    let err = env.fails(125, &["commit", "-c", "CMD", "c", "x"]);
    assert!(err.contains("invalid change \"CMD\""), "{err}");
    let err = env.fails(125, &["commit", "c", "UPPER"]);
    assert!(err.contains("repository name must be lowercase"), "{err}");
    let err = env.fails(125, &["commit", "c", "bad/name:x:y"]);
    assert!(err.contains("invalid reference format"), "{err}");
    assert_eq!(layers(&env), before);
    assert_eq!(env.ok(&["images", "-q"]), images_before);
    let tmp: Vec<_> = std::fs::read_dir(env.root.join("overlay").join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

fn image_mount_shows_files(env: &Env) {
    env.busybox();
    env.ok(&["run", "--name", "c", BUSYBOX, "sh", "-c", "echo m > /m"]);
    env.ok(&["commit", "-q", "c", "mnt"]);
    let path = env.ok(&["image", "mount", "mnt"]).trim().to_string();
    assert_eq!(std::fs::read_to_string(format!("{path}/m")).unwrap(), "m\n");
    assert!(std::path::Path::new(&path).join("bin/busybox").exists());
    // Read-only with overlay (vfs gives the layer's own directory, as Podman does).
    if env.driver == "overlay" {
        assert!(std::fs::write(format!("{path}/new"), "x").is_err());
    }
    let list = env.ok(&["image", "mount"]);
    assert_eq!(list, format!("localhost/mnt:latest  {path}\n"));
    // Counted: a second mount needs a second unmount.
    assert_eq!(env.ok(&["image", "mount", "mnt"]).trim(), path);
    let id = inspect(env, "mnt")["Id"].as_str().unwrap().to_string();
    assert_eq!(env.ok(&["image", "unmount", "mnt"]), format!("{id}\n"));
    assert_eq!(env.ok(&["image", "mount"]), list);
    assert_eq!(env.ok(&["image", "umount", "mnt"]), format!("{id}\n"));
    assert_eq!(env.ok(&["image", "mount"]), "");
    // Not mounted: nothing to say, no error.
    assert_eq!(env.ok(&["image", "unmount", "mnt"]), "");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
    let err = env.fails(125, &["image", "unmount", "nosuch"]);
    assert_eq!(err, "Error: nosuch: image not known\n");
    // Several images: a NAME PATH table; -a unmounts every mounted image.
    let out = env.ok(&["image", "mount", "mnt", BUSYBOX]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("localhost/mnt:latest  "), "{out}");
    env.ok(&["image", "unmount", "-a"]);
    assert_eq!(env.ok(&["image", "mount"]), "");
    // rmi of a mounted image unmounts it first.
    env.ok(&["image", "mount", "mnt"]);
    env.ok(&["rm", "c"]);
    env.ok(&["rmi", "mnt"]);
    assert_eq!(env.ok(&["image", "mount"]), "");
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn image_mount_overlay() {
    let env = Env::new();
    image_mount_shows_files(&env);
}

#[test]
fn image_mount_vfs() {
    let env = Env::with_driver("vfs");
    image_mount_shows_files(&env);
}

#[test]
fn committed_image_pushes_and_pulls() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    env.busybox();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: false,
            user: None,
        },
    );
    env.ok(&[
        "run",
        "--name",
        "c",
        BUSYBOX,
        "sh",
        "-c",
        "echo pushed > /p; rm /bin/ls",
    ]);
    env.ok(&["commit", "-q", "c", "topush"]);
    let dest = format!("{}/committed/img:1", reg.addr);
    env.ok(&["push", "-q", "--tls-verify=false", "topush", &dest]);
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    let out = other.ok(&[
        "run",
        "--rm",
        &dest,
        "sh",
        "-c",
        "cat /p; test -e /bin/ls && echo ls-there; true",
    ]);
    assert_eq!(out, "pushed\n");
}
