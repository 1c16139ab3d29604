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
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: false,
            user: None,
        },
    );
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
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
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
    let ca = reg.ca_dir.clone().unwrap();
    env.ok(&["pull", "-q", "--cert-dir", ca.to_str().unwrap(), &name]);
    assert_eq!(env.ok(&["run", "--rm", &name, "echo", "tls"]), "tls\n");
}

#[test]
fn pull_with_basic_auth() {
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
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
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
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
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: false,
            user: None,
        },
    );
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
}

#[test]
fn run_pull_policies() {
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: false,
            user: None,
        },
    );
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
}

#[test]
fn concurrent_pulls_sharing_layers_and_vfs_pulls() {
    if !skopeo_available() {
        eprintln!("skipped: skopeo or docker-registry missing");
        return;
    }
    let env = Env::new();
    let reg = Registry::start(
        &env.dir.join("reg"),
        RegistryOptions {
            tls: false,
            user: None,
        },
    );
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

    // vfs: layers are copies of their parents, applied in order.
    let vfs = Env::with_driver("vfs");
    vfs.ok(&["pull", "-q", "--tls-verify=false", &names[0]]);
    assert_eq!(vfs.ok(&["run", "--rm", &names[0], "ls", "/opq"]), "new\n");
}
