//! End-to-end tests of `save` (every format), `history` and `images --digests`: what
//! berth writes loads back with the same image ID (in berth, and in skopeo where it is
//! installed), has the layout Podman writes, and a failed save leaves nothing behind.

mod common;
use common::*;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

const MULTI: &str = "localhost/berth-test/multilayer:latest";

fn archive(name: &str) -> String {
    images().join(name).to_string_lossy().into_owned()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `sha256:<hex>` of the image `name`.
fn image_id(env: &Env, name: &str) -> String {
    let hex = env.ok(&["image", "inspect", "--format", "{{.Id}}", name]);
    format!("sha256:{}", hex.trim())
}

/// The members of a tar file: path -> (entry type, content or link target).
fn members(path: &Path) -> BTreeMap<String, (tar::EntryType, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let kind = e.header().entry_type();
        let data = if kind == tar::EntryType::Symlink {
            e.link_name_bytes().unwrap().to_vec()
        } else {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            v
        };
        out.insert(p, (kind, data));
    }
    out
}

/// A tar of a directory's content (an oci-dir becomes an oci-archive).
fn tar_dir(dir: &Path, dest: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(dest).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

fn have_skopeo() -> bool {
    let ok = Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: skopeo is not installed");
    }
    ok
}

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Loads `file` into a fresh environment and returns the image ID `name` has there.
fn load_fresh(file: &Path, name: &str) -> (Env, String) {
    let env = Env::new();
    env.ok(&["load", "-i", file.to_str().unwrap()]);
    let id = image_id(&env, name);
    (env, id)
}

fn both_images(env: &Env) -> (String, String) {
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    (image_id(env, BUSYBOX), image_id(env, MULTI))
}

/// The multilayer image's whiteout, opaque directory, hard link and symlink, as seen
/// by a container.
fn check_multilayer_content(env: &Env, name: &str) {
    let out = env.ok(&[
        "run",
        "--rm",
        name,
        "sh",
        "-c",
        "ls -a /opq; test -e /tmp/gone || echo no-gone; stat -c '%i %h' /hl/a /hl/b; readlink /lnk",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], [".", "..", "new", "no-gone"], "{out}");
    assert_eq!(lines[4], lines[5], "{out}");
    assert!(lines[4].ends_with(" 2"), "{out}");
    assert_eq!(lines[6], "/etc/layer2", "{out}");
}

#[test]
fn docker_archive_round_trip_and_layout() {
    let env = Env::new();
    let (bb, multi) = both_images(&env);
    for (name, id) in [(BUSYBOX, &bb), (MULTI, &multi)] {
        let file = env.dir.join("out.tar");
        let _ = std::fs::remove_file(&file);
        let r = env.run(&["save", "-o", file.to_str().unwrap(), name]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, "");
        // Podman's progress lines, on stderr.
        let inspect = json(&env.ok(&["image", "inspect", name]));
        let diff_ids: Vec<String> = inspect[0]["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        let mut expected: Vec<String> = diff_ids
            .iter()
            .map(|d| format!("Copying blob {d}"))
            .collect();
        expected.push(format!("Copying config {id}"));
        expected.push("Writing manifest to image destination".into());
        expected.push("Storing signatures".into());
        assert_eq!(r.stderr.lines().collect::<Vec<_>>(), expected);

        // The layout Podman (containers/image) writes.
        let m = members(&file);
        let hex = |d: &str| d.strip_prefix("sha256:").unwrap().to_string();
        let layers: Vec<String> = diff_ids.iter().map(|d| format!("{}.tar", hex(d))).collect();
        assert_eq!(
            String::from_utf8(m["manifest.json"].1.clone()).unwrap(),
            format!(
                r#"[{{"Config":"{}.json","RepoTags":["{name}"],"Layers":[{}]}}]"#,
                hex(id),
                layers
                    .iter()
                    .map(|l| format!("{l:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        );
        let repos = json(std::str::from_utf8(&m["repositories"].1).unwrap());
        let (repo, tag) = name.rsplit_once(':').unwrap();
        let top = repos[repo][tag].as_str().unwrap();
        assert_eq!(m[&format!("{top}/VERSION")].1, b"1.0");
        assert_eq!(
            m[&format!("{top}/layer.tar")],
            (
                tar::EntryType::Symlink,
                format!("../{}", layers.last().unwrap()).into_bytes()
            )
        );
        let legacy = json(std::str::from_utf8(&m[&format!("{top}/json")].1).unwrap());
        assert_eq!(legacy["id"], top);
        assert_eq!(legacy["os"], "linux");
        // Each layer file is exactly the tar the image was built from.
        for (l, d) in layers.iter().zip(&diff_ids) {
            use sha2::Digest;
            let got = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&m[l].1)));
            assert_eq!(&got, d);
        }

        let (fresh, got) = load_fresh(&file, name);
        assert_eq!(&got, id, "{name}: image ID changed by save -> load");
        if name == MULTI {
            check_multilayer_content(&fresh, name);
        }
    }
}

#[test]
fn oci_formats_round_trip() {
    let env = Env::new();
    let (bb, multi) = both_images(&env);
    for (name, id) in [(BUSYBOX, &bb), (MULTI, &multi)] {
        for extra in [&[][..], &["--uncompressed"][..]] {
            // oci-archive
            let file = env.dir.join("oci.tar");
            let _ = std::fs::remove_file(&file);
            let mut args = vec![
                "save",
                "-q",
                "--format",
                "oci-archive",
                "-o",
                file.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            args.push(name);
            assert_eq!(env.ok(&args), "");
            let m = members(&file);
            assert!(
                m.contains_key("oci-layout") && m.contains_key("index.json"),
                "{:?}",
                m.keys()
            );
            let index = json(std::str::from_utf8(&m["index.json"].1).unwrap());
            assert_eq!(
                index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
                name
            );
            let mdigest = index["manifests"][0]["digest"].as_str().unwrap();
            let manifest = json(
                std::str::from_utf8(&m[&format!("blobs/sha256/{}", &mdigest[7..])].1).unwrap(),
            );
            let want = if extra.is_empty() {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            };
            for l in manifest["layers"].as_array().unwrap() {
                assert_eq!(l["mediaType"], want);
            }
            assert_eq!(manifest["config"]["digest"].as_str().unwrap(), id);
            let (fresh, got) = load_fresh(&file, name);
            assert_eq!(&got, id, "{name} {extra:?}: oci-archive round trip");
            if name == MULTI && extra.is_empty() {
                check_multilayer_content(&fresh, name);
            }

            // oci-dir, tarred up and loaded
            let dir = env.dir.join("ocidir");
            let _ = std::fs::remove_dir_all(&dir);
            let mut args = vec![
                "save",
                "-q",
                "--format",
                "oci-dir",
                "-o",
                dir.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            args.push(name);
            env.ok(&args);
            let tarred = env.dir.join("ocidir.tar");
            tar_dir(&dir, &tarred);
            let (_fresh, got) = load_fresh(&tarred, name);
            assert_eq!(&got, id, "{name} {extra:?}: oci-dir round trip");
        }
    }
}

#[test]
fn docker_dir_layout_and_round_trip() {
    let env = Env::new();
    let (_, multi) = both_images(&env);
    for compress in [false, true] {
        let dir = env.dir.join(format!("dd-{compress}"));
        let mut args = vec![
            "save",
            "-q",
            "--format",
            "docker-dir",
            "-o",
            dir.to_str().unwrap(),
        ];
        if compress {
            args.push("--compress");
        }
        args.push(MULTI);
        env.ok(&args);
        assert_eq!(
            std::fs::read_to_string(dir.join("version")).unwrap(),
            "Directory Transport Version: 1.1\n"
        );
        let manifest = json(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_eq!(manifest["config"]["digest"].as_str().unwrap(), multi);
        assert!(dir.join(&multi[7..]).is_file());
        for l in manifest["layers"].as_array().unwrap() {
            let f = dir.join(&l["digest"].as_str().unwrap()[7..]);
            assert_eq!(
                std::fs::metadata(&f).unwrap().len(),
                l["size"].as_u64().unwrap()
            );
            let gz = std::fs::read(&f).unwrap().starts_with(&[0x1f, 0x8b]);
            assert_eq!(gz, compress);
        }
        if have_skopeo() {
            let file = env.dir.join(format!("dd-{compress}.tar"));
            skopeo(&[
                "copy",
                "-q",
                &format!("dir:{}", dir.display()),
                &format!("docker-archive:{}:{MULTI}", file.display()),
            ]);
            let (_fresh, got) = load_fresh(&file, MULTI);
            assert_eq!(got, multi, "docker-dir (compress {compress}) round trip");
        }
    }
    // Saving again over the same directory replaces it; a foreign directory is refused.
    let dir = env.dir.join("dd-false");
    env.ok(&[
        "save",
        "-q",
        "--format",
        "docker-dir",
        "-o",
        dir.to_str().unwrap(),
        BUSYBOX,
    ]);
    let foreign = env.dir.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("precious"), "x").unwrap();
    let err = env.fails(
        125,
        &[
            "save",
            "--format",
            "docker-dir",
            "-o",
            foreign.to_str().unwrap(),
            BUSYBOX,
        ],
    );
    assert!(err.contains("not a containers image directory"), "{err}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious")).unwrap(),
        "x"
    );
}

#[test]
fn multi_image_archives_and_extra_tags() {
    let env = Env::new();
    let (bb, multi) = both_images(&env);
    let file = env.dir.join("m.tar");
    env.ok(&[
        "save",
        "-q",
        "-m",
        "-o",
        file.to_str().unwrap(),
        BUSYBOX,
        MULTI,
    ]);
    let m = members(&file);
    let manifest = json(std::str::from_utf8(&m["manifest.json"].1).unwrap());
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([BUSYBOX]));
    assert_eq!(manifest[1]["RepoTags"], serde_json::json!([MULTI]));
    // The shared base layer is in the archive once.
    assert_eq!(manifest[0]["Layers"][0], manifest[1]["Layers"][0]);
    assert_eq!(
        m.keys()
            .filter(|k| k.ends_with(".tar") && !k.contains('/'))
            .count(),
        3
    );
    let fresh = Env::new();
    let out = fresh.ok(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(
        out,
        format!("Loaded image: {BUSYBOX}\nLoaded image: {MULTI}\n")
    );
    assert_eq!(image_id(&fresh, BUSYBOX), bb);
    assert_eq!(image_id(&fresh, MULTI), multi);

    // Without -m, more names are more tags of the first image (Podman's order).
    let file = env.dir.join("tags.tar");
    env.ok(&[
        "save",
        "-q",
        "-o",
        file.to_str().unwrap(),
        BUSYBOX,
        "other:tag",
    ]);
    let m = members(&file);
    let manifest = json(std::str::from_utf8(&m["manifest.json"].1).unwrap());
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["localhost/other:tag", BUSYBOX])
    );
    let fresh = Env::new();
    fresh.ok(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(image_id(&fresh, "localhost/other:tag"), bb);
    assert_eq!(image_id(&fresh, BUSYBOX), bb);

    // By ID: no name at all.
    let file = env.dir.join("byid.tar");
    env.ok(&["save", "-q", "-o", file.to_str().unwrap(), &bb[7..19]]);
    let m = members(&file);
    let manifest = json(std::str::from_utf8(&m["manifest.json"].1).unwrap());
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));
    assert_eq!(m["repositories"].1, b"{}");

    // Several images are for docker-archive only.
    let err = env.fails(
        125,
        &[
            "save",
            "-m",
            "--format",
            "oci-archive",
            "-o",
            env.dir.join("x.tar").to_str().unwrap(),
            BUSYBOX,
            MULTI,
        ],
    );
    assert_eq!(
        err,
        "Error: unsupported format \"oci-archive\" for saving multiple images (only docker-archive)\n"
    );
    assert!(!env.dir.join("x.tar").exists());
}

#[test]
fn save_to_stdout() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new();
    let (bb, _) = both_images(&env);
    let file = env.dir.join("stdout.tar");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&env.root)
        .arg("--runroot")
        .arg(&env.runroot)
        .arg("--storage-driver")
        .arg(env.driver)
        .args(["save", BUSYBOX])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&file).unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // Nothing but the archive: no progress lines when the archive is the output.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let with_o = env.dir.join("with-o.tar");
    env.ok(&["save", "-q", "-o", with_o.to_str().unwrap(), BUSYBOX]);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&with_o).unwrap()
    );
    let (_fresh, got) = load_fresh(&file, BUSYBOX);
    assert_eq!(got, bb);
    // `-o /dev/null` is written, not replaced.
    env.ok(&["save", "-q", "-o", "/dev/null", BUSYBOX]);
    assert!(Path::new("/dev/null")
        .metadata()
        .unwrap()
        .file_type()
        .is_char_device());

    // A terminal is refused.
    let pty = nix::pty::openpty(None, None).unwrap();
    let out = env
        .cmd()
        .args(["save", BUSYBOX])
        .stdout(Stdio::from(pty.slave))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: refusing to save to terminal. Use -o flag or redirect\n"
    );
}

#[test]
fn saved_archives_satisfy_skopeo() {
    if !have_skopeo() {
        return;
    }
    let env = Env::new();
    let (_, multi) = both_images(&env);
    let d = env.dir.join("d.tar");
    let o = env.dir.join("o.tar");
    let od = env.dir.join("od");
    let dd = env.dir.join("dd");
    env.ok(&["save", "-q", "-o", d.to_str().unwrap(), MULTI]);
    env.ok(&[
        "save",
        "-q",
        "--format",
        "oci-archive",
        "-o",
        o.to_str().unwrap(),
        MULTI,
    ]);
    env.ok(&[
        "save",
        "-q",
        "--format",
        "oci-dir",
        "-o",
        od.to_str().unwrap(),
        MULTI,
    ]);
    env.ok(&[
        "save",
        "-q",
        "--format",
        "docker-dir",
        "-o",
        dd.to_str().unwrap(),
        MULTI,
    ]);
    for r in [
        format!("docker-archive:{}", d.display()),
        format!("oci-archive:{}", o.display()),
        format!("oci:{}", od.display()),
        format!("dir:{}", dd.display()),
    ] {
        let config = json(&skopeo(&["inspect", "--config", &r]));
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().unwrap().len(),
            3,
            "{r}"
        );
        let info = json(&skopeo(&["inspect", &r]));
        assert_eq!(info["Layers"].as_array().unwrap().len(), 3, "{r}");
    }
    // skopeo copies what berth wrote (verifying every blob), and berth loads the copy.
    let oci = env.dir.join("sk-oci");
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{}", d.display()),
        &format!("oci:{}:copied", oci.display()),
    ]);
    let tarred = env.dir.join("sk-oci.tar");
    tar_dir(&oci, &tarred);
    let (_fresh, got) = load_fresh(&tarred, "localhost/copied:latest");
    assert_eq!(got, multi);
}

#[test]
fn vfs_round_trip_keeps_ids() {
    let env = Env::with_driver("vfs");
    let (_, multi) = both_images(&env);
    let file = env.dir.join("v.tar");
    env.ok(&["save", "-q", "-o", file.to_str().unwrap(), MULTI]);
    let fresh = Env::with_driver("vfs");
    fresh.ok(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(image_id(&fresh, MULTI), multi);
    check_multilayer_content(&fresh, MULTI);
}

#[test]
fn save_errors_leave_nothing_behind() {
    let env = Env::new();
    let (_bb, _) = both_images(&env);
    let file = env.dir.join("e.tar");
    let f = file.to_str().unwrap();
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&env.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing();
    let one_line = |args: &[&str], want: &str| {
        let err = env.fails(125, args);
        assert_eq!(err, format!("Error: {want}\n"), "{args:?}");
        assert_eq!(listing(), before, "{args:?} left files behind");
    };
    one_line(&["save", "-o", f, "nosuch"], "nosuch: image not known");
    one_line(
        &["save", "-m", "-o", f, BUSYBOX, "nosuch"],
        "nosuch: image not known",
    );
    one_line(
        &["save", "--format", "foo", "-o", f, BUSYBOX],
        "format value must be one of oci-dir oci-archive docker-dir docker-archive",
    );
    one_line(
        &["save", "--compress", "-o", f, BUSYBOX],
        "--compress can only be set when --format is 'docker-dir'",
    );
    one_line(&["save"], "need at least 1 argument");
    one_line(
        &["save", "-o", "a:b.tar", BUSYBOX],
        "invalid filename (should not contain ':') \"a:b.tar\"",
    );
    let od = env.dir.join("od");
    one_line(
        &[
            "save",
            "--format",
            "oci-dir",
            "-o",
            od.to_str().unwrap(),
            "nosuch",
        ],
        "nosuch: image not known",
    );

    // A layer stored without its tar-split index (as by an older berth): a clear error
    // naming the image, never a wrong archive; no file, no temporary file, no directory.
    let base = env.root.join("overlay/layers");
    let top = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("tar-split").is_file())
        .unwrap();
    let chain = format!("sha256:{}", top.file_name().unwrap().to_string_lossy());
    std::fs::rename(top.join("tar-split"), env.dir.join("saved-index")).unwrap();
    let before = listing();
    for format in ["docker-archive", "oci-archive", "oci-dir", "docker-dir"] {
        let err = env.fails(125, &["save", "--format", format, "-o", f, MULTI]);
        assert!(
            err.starts_with(&format!("Error: saving image {MULTI}: layer {chain} cannot be written back as its original tar")),
            "{format}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(listing(), before, "{format} left files behind");
    }
    std::fs::rename(env.dir.join("saved-index"), top.join("tar-split")).unwrap();

    // A layer file changed behind berth's back: the rebuilt tar does not match its diff
    // id, and the save fails instead of writing it.
    let etc = base.join(top.file_name().unwrap()).join("diff");
    let victim = walk_files(&etc)
        .into_iter()
        .next()
        .expect("a file in the layer");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    let mode = std::fs::metadata(&victim).unwrap().permissions();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    std::fs::set_permissions(&victim, mode).unwrap();
    let before = listing();
    let err = env.fails(125, &["save", "-o", f, MULTI]);
    assert!(err.contains("diff id"), "{err}");
    assert_eq!(listing(), before);

    // A docker-archive is not written over an existing non-empty file (as in Podman).
    std::fs::write(&file, "keep").unwrap();
    let err = env.fails(125, &["save", "-o", f, BUSYBOX]);
    assert_eq!(
        err,
        "Error: docker-archive doesn't support modifying existing images\n"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk_files(&e.path()));
        } else if t.is_file() && e.metadata().unwrap().len() > 0 {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[test]
fn history_as_podman_prints_it() {
    let env = Env::new();
    let (bb, multi) = both_images(&env);
    let out = env.ok(&["history", MULTI]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0]
            .split("  ")
            .filter(|s| !s.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    // Newest first; a layer that is another image's top layer shows that image's ID.
    assert!(
        lines[1].starts_with(&format!("{}  ", &multi[7..19])),
        "{out}"
    );
    assert!(
        lines[1].contains("berth mkimages.sh: whiteouts and links"),
        "{out}"
    );
    assert!(lines[1].contains("10.2 kB"), "{out}");
    assert!(lines[2].starts_with("<missing>  "), "{out}");
    assert!(lines[3].starts_with(&format!("{}  ", &bb[7..19])), "{out}");
    assert!(
        lines[3].contains("ago") && lines[3].contains("2.13 MB"),
        "{out}"
    );

    assert_eq!(
        env.ok(&["history", "-q", MULTI]),
        format!("{}\n<missing>\n{}\n", &multi[7..19], &bb[7..19])
    );
    assert_eq!(
        env.ok(&["image", "history", "-q", "--no-trunc", MULTI]),
        format!("{}\n<missing>\n{}\n", &multi[7..], &bb[7..])
    );
    let plain = env.ok(&["history", "-H=false", MULTI]);
    assert!(
        plain
            .lines()
            .nth(1)
            .unwrap()
            .contains("  2024-01-01T00:00:00Z  "),
        "{plain}"
    );
    assert_eq!(
        env.ok(&[
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.CreatedAt}}",
            BUSYBOX
        ]),
        format!(
            "{}|berth mkimages.sh: busybox rootfs|2.13 MB|2024-01-01 00:00:00 +0000 UTC\n",
            &bb[7..19]
        )
    );
    let j = env.ok(&["history", "--format", "json", MULTI]);
    assert_eq!(j.lines().count(), 1, "{j}");
    let v = json(&j);
    assert_eq!(v[0]["id"], multi[7..]);
    assert_eq!(v[1]["id"], "<missing>");
    assert!(j.contains(r#""id":"\u003cmissing\u003e""#), "{j}");
    assert_eq!(v[1]["created"], "2024-01-01T00:00:00Z");
    assert_eq!(v[1]["Created"], "2024-01-01T00:00:00Z");
    assert_eq!(v[1]["CreatedBy"], "berth mkimages.sh: layer2");
    assert_eq!(v[1]["size"], 10240);
    assert!(v[1].get("comment").is_none());

    assert_eq!(
        env.fails(125, &["history", "nosuch"]),
        "Error: nosuch: image not known\n"
    );
    assert_eq!(
        env.fails(125, &["history"]),
        "Error: accepts 1 arg(s), received 0\n"
    );
    assert_eq!(
        env.fails(125, &["history", BUSYBOX, MULTI]),
        "Error: accepts 1 arg(s), received 2\n"
    );
}

#[test]
fn images_show_digests() {
    let env = Env::new();
    env.busybox();
    let digest = env
        .ok(&["image", "inspect", "--format", "{{.Digest}}", BUSYBOX])
        .trim()
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let out = env.ok(&["images", "--digests"]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(
        lines[1][..3],
        ["localhost/berth-test/busybox", "latest", digest.as_str()]
    );
    assert_eq!(
        env.ok(&["images", "--format", "{{.Digest}}"]).trim(),
        digest
    );
}
