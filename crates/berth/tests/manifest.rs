//! `berth manifest`: local manifest lists, built from images in a real local registry
//! (Debian's docker-registry) and from local images, pushed and pulled back.

mod common;
use common::*;
use serde_json::Value;

const MULTI: &str = "multilayer-oci.tar";
const BB: &str = "busybox-oci.tar";

fn one_line_error(err: &str) {
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("Error: "), "{err}");
}

fn plain_registry(env: &Env) -> Option<Registry> {
    registry_tools().then(|| Registry::plain(env, "reg"))
}

fn skopeo_raw(reference: &str) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn digests(index: &Value) -> Vec<String> {
    let mut v: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn remote_images_make_a_list_that_is_pushed_and_pulled_by_platform() {
    let env = Env::new();
    let Some(reg) = plain_registry(&env) else {
        return;
    };
    let d1 = reg.push_with_skopeo(BB, "app/multi:one");
    let d2 = reg.push_with_skopeo(MULTI, "app/multi:two");
    let id = env.ok(&["manifest", "create", "mylist"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert_eq!(env.run(&["manifest", "exists", "mylist"]).code, 0);
    let one = format!("docker://{}/app/multi:one", reg.addr);
    let two = format!("{}/app/multi:two", reg.addr);
    env.ok(&["manifest", "add", "--tls-verify=false", "mylist", &one]);
    env.ok(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--annotation",
        "purpose=test",
        "mylist",
        &two,
    ]);
    env.ok(&[
        "manifest",
        "annotate",
        "--arch",
        "arm64",
        "--variant",
        "v8",
        "mylist",
        &d2,
    ]);
    let out = env.ok(&["manifest", "inspect", "mylist"]);
    assert!(out.contains("\n    \""), "4-space indent: {out}");
    let index: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let ms = index["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2, "{out}");
    assert_eq!(ms[0]["digest"], d1.as_str());
    assert_eq!(ms[0]["platform"]["architecture"], "amd64");
    assert_eq!(ms[1]["digest"], d2.as_str());
    assert_eq!(ms[1]["platform"]["architecture"], "arm64");
    assert_eq!(ms[1]["platform"]["variant"], "v8");
    assert_eq!(ms[1]["annotations"]["purpose"], "test");

    // Pushed to the repository its entries live in.
    let dest = format!("{}/app/multi:list", reg.addr);
    let pushed = env.ok(&[
        "manifest",
        "push",
        "--tls-verify=false",
        "mylist",
        &format!("docker://{dest}"),
    ]);
    assert!(pushed.trim().starts_with("sha256:"), "{pushed}");
    let raw = skopeo_raw(&dest);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let mut want = vec![d1.clone(), d2.clone()];
    want.sort();
    assert_eq!(digests(&raw), want);
    // inspect of a name that is no local list reads the registry.
    let remote: Value =
        serde_json::from_str(&env.ok(&["manifest", "inspect", "--tls-verify=false", &dest]))
            .unwrap();
    assert_eq!(digests(&remote), want);

    // A pull for arm64 takes the entry annotated as arm64.
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", "--arch", "arm64", &dest]);
    assert_eq!(
        other
            .ok(&["image", "inspect", "--format", "{{.Digest}}", &dest])
            .trim(),
        d2
    );

    // Another repository does not have the entries: they are copied there (through local
    // storage, by digest), and no copy is left behind locally.
    let before = env.ok(&["images", "-a", "-q"]);
    let elsewhere = format!("{}/elsewhere/x:list", reg.addr);
    env.ok(&[
        "manifest",
        "push",
        "--tls-verify=false",
        "mylist",
        &elsewhere,
    ]);
    assert_eq!(env.ok(&["images", "-a", "-q"]), before);
    assert_eq!(digests(&skopeo_raw(&elsewhere)).len(), 2);
    let third = Env::new();
    third.ok(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--arch",
        "arm64",
        &elsewhere,
    ]);
    // The same image as the arm64 entry of the original list (configs are copied as is).
    assert_eq!(
        third.ok(&["image", "inspect", "--format", "{{.Id}}", &elsewhere]),
        other.ok(&["image", "inspect", "--format", "{{.Id}}", &dest])
    );

    // A list cannot be added to a list.
    let err = env.fails(
        125,
        &[
            "manifest",
            "add",
            "--tls-verify=false",
            "mylist",
            &format!("docker://{dest}"),
        ],
    );
    one_line_error(&err);
    assert!(err.contains("is itself a manifest list"), "{err}");
    // With --all, each of its images is added, with the platforms the list gives.
    env.ok(&["manifest", "create", "copy"]);
    env.ok(&[
        "manifest",
        "add",
        "--all",
        "--tls-verify=false",
        "copy",
        &format!("docker://{dest}"),
    ]);
    let copy: Value = serde_json::from_str(&env.ok(&["manifest", "inspect", "copy"])).unwrap();
    assert_eq!(digests(&copy), want);
    let arches: Vec<&str> = copy["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap_or(""))
        .collect();
    assert!(arches.contains(&"arm64"), "{copy}");
}

#[test]
fn a_local_image_is_pushed_with_the_list() {
    let env = Env::new();
    let Some(reg) = plain_registry(&env) else {
        return;
    };
    env.busybox();
    env.ok(&["manifest", "create", "locallist", BUSYBOX]);
    let index: Value =
        serde_json::from_str(&env.ok(&["manifest", "inspect", "locallist"])).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["platform"]["os"], "linux");
    let dest = format!("{}/local/bb:list", reg.addr);
    // Local images need --all.
    let err = env.fails(
        125,
        &[
            "manifest",
            "push",
            "--all=false",
            "--tls-verify=false",
            "locallist",
            &dest,
        ],
    );
    one_line_error(&err);
    let digestfile = env.dir.join("digest");
    let out = env.ok(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        digestfile.to_str().unwrap(),
        "locallist",
        &dest,
    ]);
    assert_eq!(
        std::fs::read_to_string(&digestfile).unwrap().trim(),
        out.trim()
    );
    let raw = skopeo_raw(&dest);
    let pushed = &raw["manifests"][0];
    // The entry names the manifest actually pushed, with its size.
    let m = skopeo_raw(&format!(
        "{}/local/bb@{}",
        reg.addr,
        pushed["digest"].as_str().unwrap()
    ));
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let other = Env::new();
    let arch = pushed["platform"]["architecture"].as_str().unwrap();
    other.ok(&["pull", "-q", "--tls-verify=false", "--arch", arch, &dest]);
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(other.ok(&["run", "--rm", &dest, "echo", "hi"]), "hi\n");
    }
}

#[test]
fn exists_rm_and_bad_input() {
    let env = Env::new();
    assert_eq!(env.run(&["manifest", "exists", "nolist"]).code, 1);
    env.ok(&["manifest", "create", "a"]);
    env.ok(&["manifest", "create", "localhost/b:1"]);
    // Names are normalized: "a" is localhost/a:latest.
    assert_eq!(
        env.run(&["manifest", "exists", "localhost/a:latest"]).code,
        0
    );
    let err = env.fails(125, &["manifest", "create", "localhost/a"]);
    one_line_error(&err);
    assert!(err.contains("already exists"), "{err}");
    for args in [
        &["manifest", "add", "nolist", "docker://127.0.0.1:1/x/y:z"][..],
        &["manifest", "inspect", "nolist"],
        &[
            "manifest",
            "annotate",
            "--arch",
            "arm64",
            "nolist",
            "sha256:00",
        ],
        &[
            "manifest",
            "annotate",
            "--arch",
            "arm64",
            "a",
            "sha256:1234",
        ],
        &["manifest", "rm", "a", "nolist"],
        &["manifest", "push", "a", "127.0.0.1:1/x/y:z"],
    ] {
        let err = env.fails(125, args);
        one_line_error(&err);
    }
    // A failed rm removed nothing.
    assert_eq!(env.run(&["manifest", "exists", "a"]).code, 0);
    assert_eq!(env.ok(&["manifest", "rm", "a", "b:1"]), "a\nb:1\n");
    assert_eq!(env.run(&["manifest", "exists", "a"]).code, 1);
    assert_eq!(env.run(&["manifest", "exists", "b:1"]).code, 1);
    // Nothing left behind but the (empty) lists directory.
    let left: Vec<_> = std::fs::read_dir(env.root.join("manifests"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
