//! Pulling from a real local registry (Debian's docker-registry on 127.0.0.1): plain HTTP,
//! TLS with a private CA, basic auth; interoperability with skopeo; bad input.

mod common;
use common::*;

const MULTI: &str = "multilayer-oci.tar";
const BB: &str = "busybox-oci.tar";

/// Nothing of a failed pull is left: no image, no layer, no temporary files.
fn assert_nothing_stored(env: &Env) {
    assert_eq!(env.ok(&["images", "-a", "-q"]), "", "an image was recorded");
    for d in ["overlay/layers", "overlay/tmp", "tmp"] {
        let entries: Vec<_> = std::fs::read_dir(env.root.join(d))
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "{d} not empty: {entries:?}");
    }
}

/// Runs berth with extra environment variables.
fn run_with_env(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut c = env.cmd();
    c.args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    Run::from(c.output().unwrap())
}

/// One error line, and it is the last (progress like "Trying to pull" may come first).
fn one_line_error(err: &str) {
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Error: ")).count(),
        1,
        "{err}"
    );
    assert!(lines.last().unwrap().starts_with("Error: "), "{err}");
}

#[test]
fn pull_over_plain_http_keeps_the_manifest_digest_and_runs() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    let digest = reg.push_with_skopeo(MULTI, "test/multi:v1");
    let name = format!("{}/test/multi:v1", reg.addr);
    let r = env.run(&["pull", "--tls-verify=false", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim().len(),
        64,
        "the image ID on stdout: {}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!("Trying to pull {name}...")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Writing manifest to image destination"),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.ok(&["image", "inspect", "--format", "{{.Digest}}", &name])
            .trim(),
        digest
    );
    let digests = env.ok(&["images", "--format", "{{.Digest}}"]);
    assert_eq!(digests.trim(), digest);
    assert_eq!(env.ok(&["run", "--rm", &name, "ls", "/opq"]), "new\n");
    // -q: only the ID.
    let q = env.run(&["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!((q.code, q.stderr.as_str()), (0, ""));
    // The one-layer image shares its layer: it is not fetched again.
    reg.push_with_skopeo(BB, "test/bb:latest");
    let r = env.run(&[
        "pull",
        "--tls-verify=false",
        &format!("docker://{}/test/bb", reg.addr),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipped: already exists"), "{}", r.stderr);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            &format!("{}/test/bb", reg.addr),
            "echo",
            "hi"
        ]),
        "hi\n"
    );
    // By digest.
    let by_digest = format!("{}/test/multi@{digest}", reg.addr);
    env.ok(&["pull", "-q", "--tls-verify=false", &by_digest]);
}

#[test]
fn pull_over_tls_needs_the_registry_ca() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: true,
            user: None,
        },
    );
    reg.push_with_skopeo(BB, "tls/bb:1");
    let name = format!("{}/tls/bb:1", reg.addr);
    // Unknown CA: refused, one line, nothing stored.
    let err = env.fails(125, &["pull", &name]);
    one_line_error(&err);
    assert_nothing_stored(&env);
    // The CA where Podman users put it: certs.d/<host:port>/ca.crt (here under a HOME of
    // the test's own, ~/.config/containers/certs.d).
    let home = env.dir.join("home");
    let certs_d = home.join(".config/containers/certs.d").join(&reg.addr);
    std::fs::create_dir_all(&certs_d).unwrap();
    std::fs::copy(
        reg.ca_dir.as_ref().unwrap().join("ca.crt"),
        certs_d.join("ca.crt"),
    )
    .unwrap();
    let r = run_with_env(
        &env,
        &["pull", "-q", &name],
        &[("HOME", home.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.ok(&["rmi", &name]);
    let ca = reg.ca_dir.clone().unwrap();
    env.ok(&["pull", "-q", "--cert-dir", ca.to_str().unwrap(), &name]);
    assert_eq!(env.ok(&["run", "--rm", &name, "echo", "tls"]), "tls\n");
}

#[test]
fn pull_with_basic_auth() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: true,
            user: Some(("alice", REGISTRY_PASSWORD)),
        },
    );
    reg.push_with_skopeo(BB, "private/bb:1");
    let name = format!("{}/private/bb:1", reg.addr);
    let ca = reg.ca_dir.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let err = env.fails(125, &["pull", "--cert-dir", ca, &name]);
    one_line_error(&err);
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    let err = env.fails(
        125,
        &["pull", "--cert-dir", ca, "--creds", "alice:wrong", &name],
    );
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    assert_nothing_stored(&env);
    let creds = format!("alice:{REGISTRY_PASSWORD}");
    env.ok(&["pull", "-q", "--cert-dir", ca, "--creds", &creds, &name]);
    assert_eq!(
        env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        name
    );
}

#[test]
fn pull_errors_are_clear_and_store_nothing() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    // Nobody listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = env.fails(
        125,
        &[
            "pull",
            "--retry",
            "0",
            "--tls-verify=false",
            &format!("127.0.0.1:{port}/x/y:1"),
        ],
    );
    one_line_error(&err);
    assert!(err.contains("pinging container registry"), "{err}");
    let reg = Registry::plain(&env, "reg");
    reg.push_with_skopeo(MULTI, "bad/multi:v1");
    // Unknown tag.
    let err = env.fails(
        125,
        &[
            "pull",
            "--tls-verify=false",
            &format!("{}/bad/multi:nope", reg.addr),
        ],
    );
    one_line_error(&err);
    assert!(err.contains("manifest unknown"), "{err}");
    // Short names are not resolved yet: a clear refusal.
    let err = env.fails(125, &["pull", "busybox"]);
    one_line_error(&err);
    // Corrupt the biggest blob in the registry's storage: its digest no longer matches.
    let blobs = reg.dir.join("data/docker/registry/v2/blobs/sha256");
    let mut biggest: Option<(u64, std::path::PathBuf)> = None;
    for a in std::fs::read_dir(&blobs).unwrap().flatten() {
        for b in std::fs::read_dir(a.path()).unwrap().flatten() {
            let data = b.path().join("data");
            let len = std::fs::metadata(&data).unwrap().len();
            if biggest.as_ref().is_none_or(|(l, _)| len > *l) {
                biggest = Some((len, data));
            }
        }
    }
    let (len, data) = biggest.unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    assert_eq!(bytes.len() as u64, len);
    let err = env.fails(
        125,
        &[
            "pull",
            "--tls-verify=false",
            &format!("{}/bad/multi:v1", reg.addr),
        ],
    );
    one_line_error(&err);
    // Streaming, gzip's own checksum may notice first; either way the blob is named.
    assert!(
        err.contains("digest") || err.contains("checksum") || err.contains("corrupt"),
        "{err}"
    );
    assert!(err.contains("sha256:"), "{err}");
    assert_nothing_stored(&env);

    // Every blob of a fresh image, found in the registry's own storage by its digest.
    let blob_file = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        blobs.join(&hex[..2]).join(hex).join("data")
    };
    // A truncated stream: the registry's copy of a layer loses its second half.
    let digest = reg.push_with_skopeo(BB, "bad/trunc:1");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob_file(&digest)).unwrap()).unwrap();
    let layer = blob_file(manifest["layers"][0]["digest"].as_str().unwrap());
    let bytes = std::fs::read(&layer).unwrap();
    std::fs::write(&layer, &bytes[..bytes.len() / 2]).unwrap();
    let err = env.fails(
        125,
        &[
            "pull",
            "--tls-verify=false",
            &format!("{}/bad/trunc:1", reg.addr),
        ],
    );
    one_line_error(&err);
    assert_nothing_stored(&env);
    // A malformed manifest: the registry serves what it has stored for the tag.
    let digest = reg.push_with_skopeo(BB, "bad/json:1");
    std::fs::write(blob_file(&digest), b"{ this is not json").unwrap();
    let err = env.fails(
        125,
        &[
            "pull",
            "--tls-verify=false",
            &format!("{}/bad/json:1", reg.addr),
        ],
    );
    one_line_error(&err);
    assert!(err.contains("manifest"), "{err}");
}

#[test]
fn run_pull_policies() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    reg.push_with_skopeo(BB, "run/bb:1");
    let name = format!("{}/run/bb:1", reg.addr);
    let err = env.fails(125, &["run", "--rm", "--pull", "never", &name, "true"]);
    assert!(err.contains("image not known"), "{err}");
    // missing (the default): pulled on first use.
    let r = env.run(&["run", "--rm", "--tls-verify=false", &name, "echo", "pulled"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "pulled\n"), "{}", r.stderr);
    assert!(r.stderr.contains("Trying to pull"), "{}", r.stderr);
    // Now present: not pulled again.
    let r = env.run(&["run", "--rm", &name, "true"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    // always: pulled again.
    let r = env.run(&[
        "create",
        "--pull",
        "always",
        "--tls-verify=false",
        &name,
        "true",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Trying to pull"), "{}", r.stderr);
    // newer: the registry is asked, but the same manifest is not fetched again.
    let r = env.run(&[
        "run",
        "--rm",
        "--pull",
        "newer",
        "--tls-verify=false",
        &name,
        "true",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("Copying blob"), "{}", r.stderr);
    // Another image under the tag: newer pulls it.
    reg.push_with_skopeo(MULTI, "run/bb:1");
    let r = env.run(&[
        "run",
        "--rm",
        "--pull",
        "newer",
        "--tls-verify=false",
        &name,
        "ls",
        "/opq",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "new\n"), "{}", r.stderr);
    assert!(r.stderr.contains("Copying blob"), "{}", r.stderr);
    // The registry gone: newer keeps to the local image, with a warning.
    drop(reg);
    let r = env.run(&[
        "run",
        "--rm",
        "--pull",
        "newer",
        "--tls-verify=false",
        &name,
        "ls",
        "/opq",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "new\n"), "{}", r.stderr);
    assert!(r.stderr.contains("Warning"), "{}", r.stderr);
}

#[test]
fn concurrent_pulls_sharing_layers_and_vfs_pulls() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    reg.push_with_skopeo(MULTI, "c/multi:1");
    reg.push_with_skopeo(BB, "c/bb:1");
    // Both images share the busybox layer; four processes pull them at once.
    let names = [
        format!("{}/c/multi:1", reg.addr),
        format!("{}/c/bb:1", reg.addr),
    ];
    let children: Vec<_> = (0..4)
        .map(|i| {
            env.cmd()
                .args(["pull", "-q", "--tls-verify=false", &names[i % 2]])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Three distinct layers in all (busybox, layer 2, layer 3), each stored once.
    let layers = std::fs::read_dir(env.root.join("overlay/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 3);
    assert!(!env
        .ok(&["run", "--rm", &names[0], "cat", "/etc/layer2"])
        .is_empty());
    assert_eq!(env.ok(&["run", "--rm", &names[1], "echo", "ok"]), "ok\n");

    // One layer at a time (containers.conf image_parallel_copies = 1) works the same.
    let serial = Env::new();
    let conf = serial.dir.join("containers.conf");
    std::fs::write(&conf, "[engine]\nimage_parallel_copies = 1\n").unwrap();
    let r = run_with_env(
        &serial,
        &["pull", "-q", "--tls-verify=false", &names[0]],
        &[("CONTAINERS_CONF", conf.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // vfs: layers are copies of their parents, applied in order.
    let vfs = Env::with_driver("vfs");
    vfs.ok(&["pull", "-q", "--tls-verify=false", &names[0]]);
    assert_eq!(vfs.ok(&["run", "--rm", &names[0], "ls", "/opq"]), "new\n");
}

#[test]
fn push_then_pull_round_trips_and_skips_known_blobs() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: true,
            user: Some(("bob", REGISTRY_PASSWORD)),
        },
    );
    let ca = reg.ca_dir.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let creds = format!("bob:{REGISTRY_PASSWORD}");
    env.ok(&["load", "-i", images().join(MULTI).to_str().unwrap()]);
    let id = env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "berth-test/multilayer",
    ]);
    let dest = format!("{}/pushed/multi:v1", reg.addr);
    // Without credentials: refused, one line.
    let err = env.fails(
        125,
        &["push", "--cert-dir", ca, "berth-test/multilayer", &dest],
    );
    one_line_error(&err);
    let digest_file = env.dir.join("digest");
    let r = env.run(&[
        "push",
        "--cert-dir",
        ca,
        "--creds",
        &creds,
        "--digestfile",
        digest_file.to_str().unwrap(),
        "berth-test/multilayer",
        &format!("docker://{dest}"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Writing manifest to image destination"),
        "{}",
        r.stderr
    );
    let digest = std::fs::read_to_string(&digest_file).unwrap();
    // skopeo sees the same manifest.
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--cert-dir",
            ca,
            "--creds",
            &creds,
            &format!("docker://{dest}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], digest.as_str());
    // A second push uploads no layer again.
    let r = env.run(&[
        "push",
        "--cert-dir",
        ca,
        "--creds",
        &creds,
        "berth-test/multilayer",
        &format!("{}/pushed/multi:v2", reg.addr),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("skipped: already exists").count(),
        3,
        "{}",
        r.stderr
    );
    // Pulled back elsewhere: the same image ID, and it runs.
    let other = Env::new();
    other.ok(&["pull", "-q", "--cert-dir", ca, "--creds", &creds, &dest]);
    assert_eq!(
        other.ok(&["image", "inspect", "--format", "{{.Id}}", &dest]),
        id
    );
    assert_eq!(other.ok(&["run", "--rm", &dest, "ls", "/opq"]), "new\n");
    // Bad input.
    env.fails(125, &["push", "--cert-dir", ca, "nosuch/image", &dest]);
    env.fails(
        125,
        &["push", "berth-test/multilayer", "ftp://example.invalid/x"],
    );
    // Local transports write what `save` writes; loading them back keeps the image ID.
    for (t, file) in [
        ("oci-archive", "pushed-oci.tar"),
        ("docker-archive", "pushed-docker.tar"),
    ] {
        let path = env.dir.join(file);
        env.ok(&[
            "push",
            "-q",
            "berth-test/multilayer",
            &format!("{t}:{}", path.display()),
        ]);
        let fresh = Env::new();
        fresh.ok(&["load", "-q", "-i", path.to_str().unwrap()]);
        assert_eq!(
            fresh.ok(&["images", "-q", "--no-trunc"]).trim(),
            format!("sha256:{}", id.trim())
        );
    }
    let dir = env.dir.join("pushed-oci-dir");
    env.ok(&[
        "push",
        "-q",
        "berth-test/multilayer",
        &format!("oci:{}", dir.display()),
    ]);
    assert!(dir.join("index.json").exists());
}

#[test]
fn registries_conf_and_auth_json_are_honoured() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    let mirror = Registry::plain(&env, "mirror");
    reg.push_with_skopeo(BB, "lib/bb:1");
    reg.push_with_skopeo(MULTI, "lib/multi:1");
    mirror.push_with_skopeo(MULTI, "lib/mirrored:1");
    let write_conf = |text: String| std::fs::write(env.dir.join("registries.conf"), text).unwrap();
    // Short names through unqualified-search-registries; `insecure` allows plain HTTP.
    write_conf(format!(
        "unqualified-search-registries = [\"{a}\"]\nshort-name-mode = \"enforcing\"\n\
         [[registry]]\nlocation = \"{a}\"\ninsecure = true\n\
         [aliases]\n\"mb\" = \"{a}/lib/multi\"\n",
        a = reg.addr
    ));
    let r = env.run(&["pull", "lib/bb:1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("Trying to pull {}/lib/bb:1", reg.addr)),
        "{}",
        r.stderr
    );
    // An alias.
    env.ok(&["pull", "-q", "mb:1"]);
    assert!(env
        .ok(&["images", "--format", "{{.Repository}}"])
        .contains(&format!("{}/lib/multi", reg.addr)));
    // policy.json: a rejected scope is refused; a signature requirement is refused too,
    // never silently accepted; the rest of the policy still applies.
    let policy = env.dir.join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"default":[{{"type":"insecureAcceptAnything"}}],"transports":{{"docker":{{
                "{a}/lib/bb":[{{"type":"reject"}}],
                "{a}/lib/multi":[{{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent"}}]}}}}}}"#,
            a = reg.addr
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let err = env.fails(
        125,
        &[
            "pull",
            "--signature-policy",
            p,
            &format!("{}/lib/bb:1", reg.addr),
        ],
    );
    assert!(err.contains("rejected by policy"), "{err}");
    let err = env.fails(
        125,
        &[
            "pull",
            "--signature-policy",
            p,
            &format!("{}/lib/multi:1", reg.addr),
        ],
    );
    assert!(err.contains("not supported"), "{err}");
    // A blocked registry is refused before anything is fetched.
    write_conf(format!(
        "[[registry]]\nlocation = \"{}\"\nblocked = true\n",
        reg.addr
    ));
    let err = env.fails(
        125,
        &[
            "pull",
            "--tls-verify=false",
            &format!("{}/lib/bb:1", reg.addr),
        ],
    );
    assert!(err.contains("blocked"), "{err}");
    // A mirror is tried first; the image keeps the name asked for.
    write_conf(format!(
        "[[registry]]\nprefix = \"{a}/lib/multi2\"\nlocation = \"{a}/lib/multi2\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"{m}/lib/mirrored\"\ninsecure = true\n",
        a = reg.addr,
        m = mirror.addr
    ));
    let wanted = format!("{}/lib/multi2:1", reg.addr);
    env.ok(&["pull", "-q", &wanted]);
    assert_eq!(env.ok(&["run", "--rm", &wanted, "ls", "/opq"]), "new\n");
    // A location rewrite.
    write_conf(format!(
        "[[registry]]\nprefix = \"example.invalid/lib\"\nlocation = \"{a}/lib\"\ninsecure = true\n",
        a = reg.addr
    ));
    env.ok(&["pull", "-q", "example.invalid/lib/bb:1"]);
    assert!(env
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .contains("example.invalid/lib/bb:1"));

    // auth.json (REGISTRY_AUTH_FILE) gives the credentials for a registry with users.
    let auth = Registry::start(
        &env.dir.join("auth"),
        RegistryOptions {
            tls: true,
            user: Some(("carol", REGISTRY_PASSWORD)),
        },
    );
    auth.push_with_skopeo(BB, "secret/bb:1");
    write_conf(String::new());
    let ca = auth.ca_dir.clone().unwrap();
    let name = format!("{}/secret/bb:1", auth.addr);
    env.fails(125, &["pull", "--cert-dir", ca.to_str().unwrap(), &name]);
    use base64_encode as b64;
    std::fs::write(
        env.dir.join("auth.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{}\"}}}}}}",
            auth.addr,
            b64(&format!("carol:{REGISTRY_PASSWORD}"))
        ),
    )
    .unwrap();
    env.ok(&["pull", "-q", "--cert-dir", ca.to_str().unwrap(), &name]);
}

/// Standard base64 (for writing an auth.json by hand).
fn base64_encode(s: &str) -> String {
    base64_encode_bytes(s.as_bytes())
}

#[test]
fn login_logout_and_credentials_in_auth_json() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: true,
            user: Some(("dave", REGISTRY_PASSWORD)),
        },
    );
    reg.push_with_skopeo(BB, "team/bb:1");
    let ca = reg.ca_dir.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let authfile = env.dir.join("auth.json");
    // Wrong password: refused, nothing written.
    let err = env.fails(
        125,
        &[
            "login",
            "--cert-dir",
            ca,
            "-u",
            "dave",
            "-p",
            "nope",
            &reg.addr,
        ],
    );
    assert!(err.contains("invalid username/password"), "{err}");
    assert!(!authfile.exists());
    // --password-stdin.
    let mut c = env.cmd();
    c.args([
        "login",
        "--cert-dir",
        ca,
        "-u",
        "dave",
        "--password-stdin",
        &reg.addr,
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{REGISTRY_PASSWORD}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded!\n");
    // Written where Podman writes it (here REGISTRY_AUTH_FILE), mode 0600.
    let text = std::fs::read_to_string(&authfile).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["auths"][&reg.addr]["auth"].is_string(), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&authfile).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(env.ok(&["login", "--get-login", &reg.addr]), "dave\n");
    // Pull and push now find the credentials.
    let name = format!("{}/team/bb:1", reg.addr);
    env.ok(&["pull", "-q", "--cert-dir", ca, &name]);
    env.ok(&[
        "push",
        "-q",
        "--cert-dir",
        ca,
        &name,
        &format!("{}/team/bb:2", reg.addr),
    ]);
    // logout.
    assert_eq!(
        env.ok(&["logout", &reg.addr]),
        format!("Removed login credentials for {}\n", reg.addr)
    );
    env.fails(125, &["logout", &reg.addr]);
    env.fails(125, &["login", "--get-login", &reg.addr]);
    env.fails(
        125,
        &["pull", "--cert-dir", ca, &format!("{}/team/bb:2", reg.addr)],
    );
}

/// An OCI layout at `dir` holding the busybox test image, tagged `bb` (made by skopeo).
fn busybox_layout(dir: &std::path::Path) -> std::path::PathBuf {
    let st = std::process::Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci-archive:{}", images().join(BB).display()))
        .arg(format!("oci:{}:bb", dir.display()))
        .status()
        .unwrap();
    assert!(st.success());
    dir.to_path_buf()
}

/// The blob `digest` of the OCI layout at `dir`.
fn oci_read(dir: &std::path::Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// Writes `data` as a blob of the OCI layout at `dir`; returns its digest.
fn oci_blob(dir: &std::path::Path, data: &[u8]) -> String {
    use sha2::Digest;
    let hex = hex::encode(sha2::Sha256::digest(data));
    std::fs::write(dir.join("blobs/sha256").join(&hex), data).unwrap();
    format!("sha256:{hex}")
}

#[test]
fn pull_picks_the_platform_from_a_manifest_list() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    // An OCI layout with the busybox image, then an arm64/v8 twin of it (same layer,
    // another config), and an index naming both.
    let layout = busybox_layout(&env.dir.join("layout"));
    let read = |d: &str| oci_read(&layout, d);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let amd_desc = index["manifests"][0].clone();
    let amd: serde_json::Value =
        serde_json::from_slice(&read(amd_desc["digest"].as_str().unwrap())).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&read(amd["config"]["digest"].as_str().unwrap())).unwrap();
    config["architecture"] = "arm64".into();
    config["variant"] = "v8".into();
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let mut arm = amd.clone();
    arm["config"]["digest"] = oci_blob(&layout, &config_bytes).into();
    arm["config"]["size"] = config_bytes.len().into();
    let arm_bytes = serde_json::to_vec(&arm).unwrap();
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": oci_blob(&layout, &arm_bytes),
             "size": arm_bytes.len(), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_desc["digest"],
             "size": amd_desc["size"], "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    });
    let list_bytes = serde_json::to_vec(&list).unwrap();
    let list_digest = oci_blob(&layout, &list_bytes);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": list_digest,
                           "size": list_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}],
        }))
        .unwrap(),
    )
    .unwrap();
    let st = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(format!("docker://{}/list/bb:1", reg.addr))
        .status()
        .unwrap();
    assert!(st.success());
    let name = format!("{}/list/bb:1", reg.addr);
    let arch = |e: &Env| e.ok(&["image", "inspect", "--format", "{{.Architecture}}", &name]);
    // The host's platform by default (these tests run on amd64 machines).
    if std::env::consts::ARCH == "x86_64" {
        env.ok(&["pull", "-q", "--tls-verify=false", &name]);
        assert_eq!(arch(&env), "amd64\n");
        assert_eq!(env.ok(&["run", "--rm", &name, "echo", "amd"]), "amd\n");
    }
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", "--arch", "arm64", &name]);
    assert_eq!(arch(&other), "arm64\n");
    let third = Env::new();
    third.ok(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/arm64/v8",
        &name,
    ]);
    assert_eq!(arch(&third), "arm64\n");
    let err = third.fails(
        125,
        &["pull", "--tls-verify=false", "--arch", "s390x", &name],
    );
    assert!(err.contains("no image found in manifest list"), "{err}");
}

#[test]
fn search_lists_the_catalog_and_tags() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    reg.push_with_skopeo(BB, "tools/busybox:1");
    reg.push_with_skopeo(BB, "tools/busybox:2");
    reg.push_with_skopeo(MULTI, "other/multi:1");
    let out = env.ok(&[
        "search",
        "--tls-verify=false",
        &format!("{}/busy", reg.addr),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with(&format!("{}/tools/busybox", reg.addr)),
        "{out}"
    );
    let all = env.ok(&[
        "search",
        "--tls-verify=false",
        "--format",
        "{{.Name}}",
        &format!("{}/", reg.addr),
    ]);
    assert_eq!(all.lines().count(), 2, "{all}");
    let tags = env.ok(&[
        "search",
        "--tls-verify=false",
        "--list-tags",
        "--format",
        "{{.Tag}}",
        &format!("{}/tools/busybox", reg.addr),
    ]);
    let mut t: Vec<&str> = tags.lines().collect();
    t.sort();
    assert_eq!(t, ["1", "2"]);
    let json = env.ok(&[
        "search",
        "--tls-verify=false",
        "--format",
        "json",
        &format!("{}/multi", reg.addr),
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Name"], format!("{}/other/multi", reg.addr));
    assert_eq!(v[0]["Index"], reg.addr);
    // No registry named and none configured: a clear error.
    env.fails(125, &["search", "busybox"]);
    // pull --all-tags: both tags of the repository.
    let out = env.ok(&[
        "pull",
        "-q",
        "--all-tags",
        "--tls-verify=false",
        &format!("{}/tools/busybox", reg.addr),
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let mut names: Vec<String> = env
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{}/tools/busybox:1", reg.addr),
            format!("{}/tools/busybox:2", reg.addr)
        ]
    );
    env.fails(
        125,
        &[
            "pull",
            "--all-tags",
            &format!("{}/tools/busybox:1", reg.addr),
        ],
    );
}

/// Adds a layer of `mb` MiB of pseudo-random bytes (which gzip cannot shrink) on top of
/// the OCI layout's `from` image, tagged `to`.
fn add_big_layer(layout: &std::path::Path, from: &str, to: &str, mb: usize) {
    use std::io::Write;
    let read = |d: &str| oci_read(layout, d);
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == from)
        .unwrap()
        .clone();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&read(desc["digest"].as_str().unwrap())).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&read(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let mut data = vec![0u8; mb << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "big", &data[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    {
        use sha2::Digest;
        let diff = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)));
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(diff.into());
    }
    let layer_digest = oci_blob(layout, &gz);
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": gz.len(),
        }));
    let config_bytes = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = oci_blob(layout, &config_bytes).into();
    manifest["config"]["size"] = config_bytes.len().into();
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let mut new_desc = desc.clone();
    new_desc["digest"] = oci_blob(layout, &mbytes).into();
    new_desc["size"] = mbytes.len().into();
    new_desc["annotations"]["org.opencontainers.image.ref.name"] = to.into();
    index["manifests"].as_array_mut().unwrap().push(new_desc);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn interrupted_pulls_leave_storage_consistent() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    let layout = busybox_layout(&env.dir.join("layout"));
    add_big_layer(&layout, "bb", "big", 32);
    let st = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:big", layout.display()))
        .arg(format!("docker://{}/slow/big:1", reg.addr))
        .status()
        .unwrap();
    assert!(st.success());
    let name = format!("{}/slow/big:1", reg.addr);
    for delay in [5u64, 20, 40, 80, 160] {
        let mut c = env
            .cmd()
            .args(["pull", "-q", "--tls-verify=false", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = c.kill();
        let _ = c.wait();
        // Whatever the moment, the store answers and holds either nothing or the whole image.
        let ids = env.ok(&["images", "-q"]);
        assert!(ids.lines().count() <= 1, "{ids}");
        if !ids.is_empty() {
            env.ok(&["rmi", "-f", &name]);
        }
    }
    // Pulling again completes, and what a killed pull left in the temporary area is gone.
    env.ok(&["pull", "-q", "--tls-verify=false", &name]);
    let out = env.ok(&["run", "--rm", &name, "sh", "-c", "wc -c < /big"]);
    assert_eq!(out.trim(), (32u64 << 20).to_string());
    let tmp: Vec<_> = std::fs::read_dir(env.root.join("overlay/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(tmp.is_empty(), "left in overlay/tmp: {tmp:?}");
}

#[test]
fn zstd_layers_pull_and_run() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    // skopeo recompresses every layer with zstd on the way to the registry.
    let st = std::process::Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-compress",
            "--dest-compress-format",
            "zstd",
            "--format",
            "oci",
        ])
        .arg(format!("oci-archive:{}", images().join(MULTI).display()))
        .arg(format!("docker://{}/z/multi:1", reg.addr))
        .status()
        .unwrap();
    assert!(st.success());
    let name = format!("{}/z/multi:1", reg.addr);
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{name}"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("zstd"),
        "the layers are zstd"
    );
    env.ok(&["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!(env.ok(&["run", "--rm", &name, "ls", "/opq"]), "new\n");
    // berth pushes zstd layers too, and skopeo and berth read them back.
    env.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--compression-format",
        "zstd",
        &name,
        &format!("{}/z/again:1", reg.addr),
    ]);
    let raw = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{}/z/again:1", reg.addr),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&raw.stdout).contains("tar+zstd"));
    let again = Env::new();
    again.ok(&[
        "pull",
        "-q",
        "--tls-verify=false",
        &format!("{}/z/again:1", reg.addr),
    ]);
    assert_eq!(
        again.ok(&[
            "run",
            "--rm",
            &format!("{}/z/again:1", reg.addr),
            "ls",
            "/opq"
        ]),
        "new\n"
    );
    // The same image ID as from the gzip archive: the uncompressed layers are the same.
    let fresh = Env::new();
    fresh.ok(&["load", "-q", "-i", images().join(MULTI).to_str().unwrap()]);
    assert_eq!(
        env.ok(&["images", "-q", "--no-trunc"]),
        fresh.ok(&["images", "-q", "--no-trunc"])
    );
}

#[test]
fn pull_shows_progress_bars_on_a_terminal_only() {
    if !registry_tools() {
        return;
    }
    use std::io::Read;
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    reg.push_with_skopeo(MULTI, "p/multi:1");
    let name = format!("{}/p/multi:1", reg.addr);
    // stderr on a terminal: per-blob bars with sizes, ending "done".
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = env
        .cmd()
        .args(["pull", "--tls-verify=false", &name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(pty.slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // The slave is closed now: read what is buffered until EIO.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("[=============================="), "{text}");
    assert!(text.contains("KiB") && text.contains(" done"), "{text}");
    // Not a terminal: the plain lines, no escape sequences.
    let other = Env::new();
    let r = other.run(&["pull", "--tls-verify=false", &name]);
    assert_eq!(r.code, 0);
    assert!(
        !r.stderr.contains('\x1b') && r.stderr.contains("Copying blob sha256:"),
        "{}",
        r.stderr
    );
}

/// An image berth pushed is pulled and run by Podman (when Podman is installed: the
/// benchmark installs it, CI does not).
#[test]
fn podman_pulls_and_runs_what_berth_pushed() {
    if !skopeo_available()
        || std::process::Command::new("podman")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("skipped: podman, skopeo or docker-registry missing");
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    env.ok(&["load", "-q", "-i", images().join(MULTI).to_str().unwrap()]);
    let dest = format!("{}/interop/multi:1", reg.addr);
    env.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "berth-test/multilayer",
        &dest,
    ]);
    let Some(podman) = Podman::new(&env) else {
        return;
    };
    podman.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    let mut args = vec!["run", "--rm"];
    args.extend(Podman::RUN_FLAGS);
    args.extend([dest.as_str(), "ls", "/opq"]);
    assert_eq!(podman.ok(&args), "new\n");
}

#[test]
fn push_mounts_blobs_from_another_repository_of_the_registry() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let reg = Registry::plain(&env, "reg");
    env.ok(&["load", "-q", "-i", images().join(MULTI).to_str().unwrap()]);
    let first = format!("{}/team-a/multi:1", reg.addr);
    env.ok(&["tag", "berth-test/multilayer", &first]);
    let r = env.run(&["push", "--tls-verify=false", &first]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("skipped").count(), 0, "{}", r.stderr);
    // Another repository: the three layers are mounted from team-a, not uploaded again.
    let second = format!("{}/team-b/multi:1", reg.addr);
    let r = env.run(&["push", "--tls-verify=false", &first, &second]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("skipped: already exists").count(),
        3,
        "{}",
        r.stderr
    );
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", &second]);
    assert_eq!(other.ok(&["run", "--rm", &second, "ls", "/opq"]), "new\n");
}

fn b64url(data: &[u8]) -> String {
    base64_encode_bytes(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn base64_encode_bytes(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// A token server for Distribution's token auth: answers GET /token?service=..&scope=..
/// (basic credentials `frank:REGISTRY_PASSWORD` required) with an RS256 JWT granting the
/// scopes asked for, signed with `key.pem` and carrying `cert.pem` in its x5c header.
/// Serves until the test process ends; returns its port.
fn start_token_server(dir: &std::path::Path) -> u16 {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = dir.to_path_buf();
    let der = std::process::Command::new("openssl")
        .args(["x509", "-in"])
        .arg(dir.join("cert.pem"))
        .args(["-outform", "DER"])
        .output()
        .unwrap()
        .stdout;
    let x5c = base64_encode_bytes(&der);
    let expected = format!(
        "Basic {}",
        base64_encode(&format!("frank:{REGISTRY_PASSWORD}"))
    );
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut authorized = false;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:")
                    && h.trim_end().ends_with(&expected[6..])
                {
                    authorized = true;
                }
            }
            let mut conn = conn;
            if !authorized {
                let _ = conn.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
            let unescape = |s: &str| {
                s.replace("%3A", ":")
                    .replace("%2F", "/")
                    .replace("%2C", ",")
                    .replace("%20", " ")
                    .replace('+', " ")
            };
            let mut access = Vec::new();
            for kv in query.split('&') {
                if let Some(v) = kv.strip_prefix("scope=") {
                    for scope in unescape(v).split(' ') {
                        let parts: Vec<&str> = scope.split(':').collect();
                        if parts.len() == 3 {
                            access.push(serde_json::json!({
                                "type": parts[0], "name": parts[1],
                                "actions": parts[2].split(',').collect::<Vec<_>>(),
                            }));
                        }
                    }
                }
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
            let claims = serde_json::json!({
                "iss": "berth-test", "sub": "frank", "aud": "berth-registry",
                "exp": now + 600, "nbf": now - 60, "iat": now - 60,
                "jti": format!("{now}-{}", access.len()), "access": access,
            });
            let signing_input = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let mut sign = std::process::Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(dir.join("key.pem"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            sign.stdin
                .take()
                .unwrap()
                .write_all(signing_input.as_bytes())
                .unwrap();
            let sig = sign.wait_with_output().unwrap().stdout;
            let token = format!("{signing_input}.{}", b64url(&sig));
            let body =
                serde_json::json!({"token": token, "access_token": token, "expires_in": 600})
                    .to_string();
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

#[test]
fn bearer_token_auth_end_to_end() {
    if !registry_tools() {
        return;
    }
    let env = Env::new();
    let dir = env.dir.join("token");
    std::fs::create_dir_all(&dir).unwrap();
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth token signer",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = start_token_server(&dir);
    // A registry that wants bearer tokens from that server.
    let reg_dir = env.dir.join("reg");
    std::fs::create_dir_all(&reg_dir).unwrap();
    let rport = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{rport}");
    std::fs::write(
        reg_dir.join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  token:\n    realm: http://127.0.0.1:{port}/token\n    service: berth-registry\n    issuer: berth-test\n    rootcertbundle: {}\n",
            reg_dir.join("data").display(),
            dir.join("cert.pem").display()
        ),
    )
    .unwrap();
    let mut registry = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(reg_dir.join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(reg_dir.join("log")).unwrap())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut registry);
    assert!(eventually(10, || std::net::TcpStream::connect(&addr).is_ok()));
    let creds = format!("frank:{REGISTRY_PASSWORD}");
    let name = format!("{addr}/tok/bb:1");
    env.ok(&["load", "-q", "-i", images().join(BB).to_str().unwrap()]);
    // No credentials: the token server refuses, and so does the registry.
    let err = env.fails(
        125,
        &["push", "--tls-verify=false", "berth-test/busybox", &name],
    );
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    // With them: push, then pull elsewhere, through tokens.
    env.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--creds",
        &creds,
        "berth-test/busybox",
        &name,
    ]);
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", "--creds", &creds, &name]);
    assert_eq!(
        other.ok(&["run", "--rm", &name, "echo", "token"]),
        "token\n"
    );
}

#[test]
fn short_names_are_chosen_on_a_terminal_and_remembered() {
    if !registry_tools() {
        return;
    }
    use std::io::Write;
    let env = Env::new();
    let first = Registry::plain(&env, "first");
    let second = Registry::plain(&env, "second");
    second.push_with_skopeo(BB, "team/bb:1");
    std::fs::write(
        env.dir.join("registries.conf"),
        format!(
            "unqualified-search-registries = [\"{a}\", \"{b}\"]\nshort-name-mode = \"enforcing\"\n\
             [[registry]]\nlocation = \"{a}\"\ninsecure = true\n[[registry]]\nlocation = \"{b}\"\ninsecure = true\n",
            a = first.addr,
            b = second.addr
        ),
    )
    .unwrap();
    // Without a terminal, enforcing mode refuses to guess.
    let err = env.fails(125, &["pull", "team/bb:1"]);
    assert!(err.contains("TTY") || err.contains("tty"), "{err}");
    // On a terminal: a numbered choice; the second registry has the image.
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = env
        .cmd()
        .args(["pull", "team/bb:1"])
        .stdin(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(pty.slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let bytes = read_in_background(master.try_clone().unwrap());
    let out = || String::from_utf8_lossy(&bytes.lock().unwrap()).into_owned();
    assert!(
        eventually(10, || out().contains("Enter a number")),
        "no prompt: {}",
        out()
    );
    assert!(out().contains(&format!("2) {}/team/bb:1", second.addr)));
    master.write_all(b"2\r").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", out());
    // Remembered: the alias file names the choice, and the next pull needs no terminal.
    let aliases = std::fs::read_to_string(env.dir.join("short-name-aliases.conf")).unwrap();
    assert!(
        aliases.contains(&format!("{}/team/bb", second.addr)),
        "{aliases}"
    );
    env.ok(&["pull", "-q", "team/bb:1"]);
}

/// A minimal registry that answers /v2/ and serves one Docker schema 1 manifest; returns
/// its "127.0.0.1:PORT". Serves until the test process ends.
fn schema1_registry() -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            // A TLS handshake sends no line: give up on it quickly (the client then tries
            // plain HTTP), as a real registry answers it at once.
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(300)));
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() || !request.starts_with("GET") {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (ctype, body) = if path.contains("/manifests/") {
                (
                    "application/vnd.docker.distribution.manifest.v1+prettyjws",
                    r#"{"schemaVersion":1,"name":"old/app","tag":"1","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}"#,
                )
            } else {
                ("application/json", "{}")
            };
            let mut conn = conn;
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nDocker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    addr
}

#[test]
fn docker_schema1_images_are_refused_clearly() {
    let env = Env::new();
    let addr = schema1_registry();
    let err = env.fails(
        125,
        &["pull", "--tls-verify=false", &format!("{addr}/old/app:1")],
    );
    one_line_error(&err);
    assert!(err.contains("schema 1"), "{err}");
    assert_nothing_stored(&env);
}
