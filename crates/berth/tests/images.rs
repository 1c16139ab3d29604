//! End-to-end tests of the image commands: load, import, images, image inspect, tag,
//! untag, rmi, image exists, image prune, and what a loaded image looks like inside a
//! container. Bad archives are built here, in the test, and every failure must leave
//! the storage exactly as it was.

mod common;
use common::*;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

const MULTI: &str = "localhost/berth-test/multilayer:latest";
const BUSYBOX_DOCKER: &str = "localhost/berth-test/busybox-docker:latest";

fn archive(name: &str) -> String {
    images().join(name).to_string_lossy().into_owned()
}

/// Runs berth with a file as its standard input.
fn run_stdin(env: &Env, args: &[&str], input: &Path) -> Run {
    let f = std::fs::File::open(input).expect("opening stdin file");
    Run::from(
        env.cmd()
            .args(args)
            .stdin(Stdio::from(f))
            .output()
            .expect("running berth"),
    )
}

fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The stored layer directories.
fn layer_dirs(env: &Env) -> Vec<String> {
    ls(&env.root.join(env.driver).join("layers"))
}

/// Everything a failed command must not change.
#[derive(Debug, PartialEq)]
struct Storage {
    layers: Vec<String>,
    links: Vec<String>,
    tmp: Vec<String>,
    images: String,
}

fn storage(env: &Env) -> Storage {
    let d = env.root.join(env.driver);
    let mut tmp = ls(&d.join("tmp"));
    tmp.extend(
        ls(&env.root.join("tmp"))
            .into_iter()
            .map(|n| format!("ROOT/tmp/{n}")),
    );
    Storage {
        layers: ls(&d.join("layers")),
        links: ls(&d.join("l")),
        tmp,
        images: env.ok(&["images", "-a", "-q", "--no-trunc"]),
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn image_id(env: &Env, name: &str) -> String {
    env.ok(&["image", "inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_string()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

// ---- building archives in the test ---------------------------------------------------

/// One tar entry, written with raw header bytes so that paths the `tar` crate would
/// refuse to write (`..`, absolute) can be written.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (path, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match e {
            E::Dir(p) => (p, tar::EntryType::Directory, b"", None),
            E::File(p, d) => (p, tar::EntryType::Regular, d, None),
            E::Symlink(p, t) => (p, tar::EntryType::Symlink, b"", Some(t)),
            E::Hardlink(p, t) => (p, tar::EntryType::Link, b"", Some(t)),
        };
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_704_067_200);
        h.set_size(data.len() as u64);
        // Names are written raw (the tar crate refuses `..`); long ones (the test root's
        // path is in some) go first as GNU long-name entries, as GNU tar writes them.
        let long = |b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, value: &str| {
            let mut l = tar::Header::new_gnu();
            l.set_entry_type(kind);
            l.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
            l.set_mode(0o644);
            l.set_size(value.len() as u64 + 1);
            l.set_cksum();
            let mut data = value.as_bytes().to_vec();
            data.push(0);
            b.append(&l, data.as_slice()).unwrap();
        };
        let gnu = h.as_gnu_mut().unwrap();
        let n = path.len().min(gnu.name.len() - 1);
        gnu.name[..n].copy_from_slice(&path.as_bytes()[..n]);
        if n < path.len() {
            long(&mut b, tar::EntryType::GNULongName, path);
        }
        if let Some(t) = link {
            let gnu = h.as_gnu_mut().unwrap();
            let n = t.len().min(gnu.linkname.len() - 1);
            gnu.linkname[..n].copy_from_slice(&t.as_bytes()[..n]);
            if n < t.len() {
                long(&mut b, tar::EntryType::GNULongLink, t);
            }
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A layer blob of an OCI archive.
struct Layer {
    blob: Vec<u8>,
    media_type: &'static str,
    /// What the config lists for it.
    diff_id: String,
}

fn plain_layer(tar: Vec<u8>) -> Layer {
    Layer {
        diff_id: sha256(&tar),
        blob: tar,
        media_type: "application/vnd.oci.image.layer.v1.tar",
    }
}

fn gzip_layer(tar: Vec<u8>) -> Layer {
    Layer {
        diff_id: sha256(&tar),
        blob: gzip(&tar),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
    }
}

/// The files of an OCI layout, editable before they are written as an archive.
struct Oci {
    files: Vec<(String, Vec<u8>)>,
    layer_blobs: Vec<String>,
}

impl Oci {
    fn new(name: &str, layers: &[Layer]) -> Oci {
        let mut files = vec![(
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        )];
        let mut layer_blobs = Vec::new();
        let mut descs = Vec::new();
        let add = |files: &mut Vec<(String, Vec<u8>)>, bytes: &[u8]| -> String {
            let d = sha256(bytes);
            let path = format!("blobs/sha256/{}", &d[7..]);
            if !files.iter().any(|(p, _)| *p == path) {
                files.push((path.clone(), bytes.to_vec()));
            }
            d
        };
        for l in layers {
            let d = add(&mut files, &l.blob);
            layer_blobs.push(format!("blobs/sha256/{}", &d[7..]));
            descs.push(
                serde_json::json!({"mediaType": l.media_type, "digest": d, "size": l.blob.len()}),
            );
        }
        let config = serde_json::json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": host_arch(),
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let cd = add(&mut files, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": descs,
        }))
        .unwrap();
        let md = add(&mut files, &manifest);
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": md, "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": name},
            }],
        }))
        .unwrap();
        files.push(("index.json".to_string(), index));
        Oci { files, layer_blobs }
    }

    fn file_mut(&mut self, path: &str) -> &mut Vec<u8> {
        &mut self
            .files
            .iter_mut()
            .find(|(p, _)| p == path)
            .expect("no such file in the layout")
            .1
    }

    fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in &self.files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(1_704_067_200);
            b.append_data(&mut h, p, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn write(&self, env: &Env, file: &str) -> String {
        write_file(env, file, &self.tar())
    }
}

fn write_file(env: &Env, file: &str, data: &[u8]) -> String {
    let p: PathBuf = env.dir.join(file);
    std::fs::write(&p, data).unwrap();
    p.to_string_lossy().into_owned()
}

/// A small good layer of its own (not busybox's).
fn small_layer() -> Vec<u8> {
    tar_of(&[E::Dir("etc/"), E::File("etc/small", b"small\n")])
}

/// Asserts that `berth load -i FILE` fails with 125 and a one-line message containing
/// `want`, and that storage is exactly as before.
fn load_fails(env: &Env, file: &str, want: &str) -> String {
    let before = storage(env);
    let err = env.fails(125, &["load", "-i", file]);
    assert!(
        err.contains(want),
        "error for {file} should mention {want:?}: {err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(err.starts_with("Error: "), "{err}");
    assert_eq!(storage(env), before, "load of {file} left something behind");
    err
}

// ---- load ------------------------------------------------------------------------------

#[test]
fn load_oci_and_docker_archives_share_layers() {
    let env = Env::new();
    let out = env.ok(&["load", "-i", &archive("busybox-oci.tar")]);
    assert_eq!(out, format!("Loaded image: {BUSYBOX}\n"));
    assert_eq!(layer_dirs(&env).len(), 1);
    // Twice is fine and changes nothing.
    let out = env.ok(&["load", "-i", &archive("busybox-oci.tar")]);
    assert_eq!(out, format!("Loaded image: {BUSYBOX}\n"));
    assert_eq!(layer_dirs(&env).len(), 1);

    // The docker archive holds the same config: one image ID, two names, one layer.
    let out = env.ok(&["load", "--input", &archive("busybox-docker.tar")]);
    assert_eq!(out, format!("Loaded image: {BUSYBOX_DOCKER}\n"));
    assert_eq!(image_id(&env, BUSYBOX), image_id(&env, BUSYBOX_DOCKER));
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(layer_dirs(&env).len(), 1);
    let v = json(&env.ok(&["image", "inspect", BUSYBOX]));
    let tags: Vec<&str> = v[0]["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, [BUSYBOX, BUSYBOX_DOCKER]);

    // The multilayer image's bottom layer is busybox's: two more layers only.
    let out = env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    assert_eq!(out, format!("Loaded image: {MULTI}\n"));
    assert_eq!(layer_dirs(&env).len(), 3);
    assert_eq!(
        env.ok(&["run", "--rm", BUSYBOX_DOCKER, "echo", "hi"]),
        "hi\n"
    );
    assert_eq!(storage(&env).tmp, Vec::<String>::new());
}

#[test]
fn load_quiet_prints_nothing() {
    let env = Env::new();
    assert_eq!(
        env.ok(&["load", "-q", "-i", &archive("busybox-oci.tar")]),
        ""
    );
    assert!(env.ok(&["image", "exists", BUSYBOX]).is_empty());
}

#[test]
fn load_gzip_compressed_archive() {
    let env = Env::new();
    let data = std::fs::read(images().join("busybox-docker.tar")).unwrap();
    let file = write_file(&env, "busybox-docker.tar.gz", &gzip(&data));
    assert_eq!(
        env.ok(&["load", "-i", &file]),
        format!("Loaded image: {BUSYBOX_DOCKER}\n")
    );
    assert_eq!(
        env.ok(&["run", "--rm", BUSYBOX_DOCKER, "cat", "/etc/passwd"])
            .lines()
            .next(),
        Some("root:x:0:0:root:/root:/bin/sh")
    );
}

#[test]
fn load_from_stdin() {
    let env = Env::new();
    let r = run_stdin(&env, &["load"], &images().join("multilayer-oci.tar"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("Loaded image: {MULTI}\n"));
    let r = run_stdin(
        &env,
        &["load", "-i", "-"],
        &images().join("busybox-oci.tar"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("Loaded image: {BUSYBOX}\n"));
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    // An empty standard input is not an archive.
    let before = storage(&env);
    let err = env.fails(125, &["load"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(storage(&env), before);
}

#[test]
fn load_with_vfs_driver_then_run() {
    let env = Env::with_driver("vfs");
    env.ok(&["load", "-i", &archive("busybox-oci.tar")]);
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    assert_eq!(layer_dirs(&env).len(), 3);
    assert!(env.root.join("vfs/layers").is_dir());
    assert!(!env.root.join("overlay").exists());
    assert_eq!(
        env.ok(&["run", "--rm", "berth-test/busybox", "echo", "vfs"]),
        "vfs\n"
    );
    let v = json(&env.ok(&["image", "inspect", MULTI]));
    assert_eq!(v[0]["GraphDriver"]["Name"], "vfs");
    multilayer_semantics(&env);
    env.ok(&["rmi", "-a"]);
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
}

// ---- bad archives ----------------------------------------------------------------------

#[test]
fn load_nonexistent_file() {
    let env = Env::new();
    let missing = env.dir.join("no-such.tar");
    load_fails(&env, missing.to_str().unwrap(), "no-such.tar");
}

#[test]
fn load_truncated_archive() {
    let env = Env::new();
    env.busybox();
    let data = std::fs::read(images().join("multilayer-oci.tar")).unwrap();
    // Cut in the middle of a member, and on a header boundary near the end.
    let f = write_file(&env, "cut-member.tar", &data[..data.len() / 2]);
    load_fails(&env, &f, "cut-member.tar");
    let f = write_file(&env, "cut-end.tar", &data[..data.len() - 1536]);
    load_fails(&env, &f, "cut-end.tar");
    let f = write_file(&env, "cut-header.tar", &data[..700]);
    load_fails(&env, &f, "cut-header.tar");
    // A truncated compressed archive.
    let gz = gzip(&data);
    let f = write_file(&env, "cut.tar.gz", &gz[..gz.len() * 3 / 4]);
    load_fails(&env, &f, "cut.tar.gz");
    // The untouched archive still loads.
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
}

#[test]
fn load_corrupt_gzip() {
    let env = Env::new();
    let data = std::fs::read(images().join("busybox-docker.tar")).unwrap();
    let mut gz = gzip(&data);
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let f = write_file(&env, "corrupt.tar.gz", &gz);
    load_fails(&env, &f, "corrupt.tar.gz");
    // Only the gzip trailer (CRC) damaged: the content is whole but the checksum is wrong.
    let mut gz = gzip(&data);
    let n = gz.len();
    gz[n - 8] ^= 0xff;
    let f = write_file(&env, "badcrc.tar.gz", &gz);
    load_fails(&env, &f, "badcrc.tar.gz");
    // Not an archive at all.
    let f = write_file(&env, "garbage.tar", &[0x42; 4096]);
    load_fails(&env, &f, "garbage.tar");
}

#[test]
fn load_blob_digest_mismatch() {
    let env = Env::new();
    env.busybox();
    let mut oci = Oci::new("localhost/bad:digest", &[plain_layer(small_layer())]);
    let blob = oci.layer_blobs[0].clone();
    // Same size, different bytes.
    let content = oci.file_mut(&blob);
    let pos = content.iter().position(|b| *b == b's').unwrap();
    content[pos] = b'S';
    let f = oci.write(&env, "digest.tar");
    load_fails(&env, &f, &blob[13..]);

    // A descriptor whose size is wrong.
    let mut oci = Oci::new("localhost/bad:size", &[plain_layer(small_layer())]);
    let blob = oci.layer_blobs[0].clone();
    oci.file_mut(&blob).extend_from_slice(&[0; 512]);
    let f = oci.write(&env, "size.tar");
    load_fails(&env, &f, &blob[13..]);

    // A blob the manifest names but the archive lacks.
    let mut oci = Oci::new("localhost/bad:missing", &[plain_layer(small_layer())]);
    let blob = oci.layer_blobs[0].clone();
    oci.files.retain(|(p, _)| *p != blob);
    let f = oci.write(&env, "missing.tar");
    load_fails(&env, &f, &blob[13..]);
    assert!(env
        .fails(1, &["image", "exists", "localhost/bad:digest"])
        .is_empty());
}

#[test]
fn load_diff_id_mismatch() {
    let env = Env::new();
    env.busybox();
    // Single layer whose diff_id names other content.
    let mut l = plain_layer(small_layer());
    l.diff_id = sha256(b"something else");
    let f = Oci::new("localhost/bad:diffid", &[l]).write(&env, "diffid.tar");
    load_fails(&env, &f, &sha256(b"something else"));

    // Second layer wrong, first layer new: the first must go too.
    let mut l2 = gzip_layer(tar_of(&[E::File("two", b"2")]));
    l2.diff_id = sha256(b"not layer two");
    let f = Oci::new("localhost/bad:diffid2", &[plain_layer(small_layer()), l2])
        .write(&env, "diffid2.tar");
    load_fails(&env, &f, "diff id");

    // First layer busybox's (already stored), second wrong: busybox's layer stays.
    let rootfs = std::fs::read(images().join("rootfs.tar")).unwrap();
    let mut l2 = plain_layer(tar_of(&[E::File("two", b"2")]));
    l2.diff_id = sha256(b"not layer two");
    let f =
        Oci::new("localhost/bad:diffid3", &[plain_layer(rootfs), l2]).write(&env, "diffid3.tar");
    load_fails(&env, &f, "diff id");
    assert_eq!(
        env.ok(&["run", "--rm", BUSYBOX, "echo", "still here"]),
        "still here\n"
    );
}

/// Loads an image whose layers are `good` then `bad`; it must fail naming `entry`, leave
/// nothing, and write nothing at `outside`.
fn escape_case(env: &Env, file: &str, bad: Vec<u8>, entry: &str, outside: &Path) {
    let f = Oci::new(
        "localhost/bad:escape",
        &[plain_layer(small_layer()), gzip_layer(bad)],
    )
    .write(env, file);
    let err = load_fails(env, &f, entry);
    assert!(
        !outside.exists(),
        "{} was written outside the layer ({err})",
        outside.display()
    );
}

#[test]
fn load_refuses_escaping_layers() {
    let env = Env::new();
    env.busybox();
    let outside = env.dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = outside.join("pwned");
    let deep = format!("../../../../../../../../../../..{}", target.display());

    // `..` out of the layer.
    escape_case(
        &env,
        "dotdot.tar",
        tar_of(&[E::File(&deep, b"x")]),
        &deep,
        &target,
    );
    escape_case(
        &env,
        "dotdot2.tar",
        tar_of(&[E::Dir("a/"), E::File("a/../../x", b"x")]),
        "a/../../x",
        &target,
    );
    // An entry through a symlink: absolute and relative targets.
    let abs = outside.to_string_lossy().into_owned();
    escape_case(
        &env,
        "symlink-abs.tar",
        tar_of(&[E::Symlink("evil", &abs), E::File("evil/pwned", b"x")]),
        "evil/pwned",
        &target,
    );
    escape_case(
        &env,
        "symlink-rel.tar",
        tar_of(&[
            E::Dir("d/"),
            E::Symlink("d/up", "../../../../../../../../.."),
            E::File("d/up/x", b"x"),
        ]),
        "d/up/x",
        &target,
    );
    // A symlink to a directory, then a file through a longer path.
    escape_case(
        &env,
        "symlink-deep.tar",
        tar_of(&[
            E::Dir("a/"),
            E::Symlink("a/b", &abs),
            E::File("a/b/pwned", b"x"),
        ]),
        "a/b/pwned",
        &target,
    );
    // Hard links to outside: relative, absolute, and to a file not in this layer.
    let host_file = env.dir.join("host-secret");
    std::fs::write(&host_file, "secret").unwrap();
    let rel = format!("../../../../../../../../../..{}", host_file.display());
    escape_case(
        &env,
        "hardlink-rel.tar",
        tar_of(&[E::Hardlink("hl", &rel)]),
        "hl",
        &target,
    );
    let abs = host_file.to_string_lossy().into_owned();
    escape_case(
        &env,
        "hardlink-abs.tar",
        tar_of(&[E::Hardlink("hl", &abs)]),
        "hl",
        &target,
    );
    escape_case(
        &env,
        "hardlink-lower.tar",
        tar_of(&[E::Hardlink("hl", "etc/small")]),
        "hl",
        &target,
    );
    assert_eq!(std::fs::metadata(&host_file).unwrap().nlink(), 1);
    // An escaping path in the import path is refused the same way.
    let f = write_file(&env, "rootfs-escape.tar", &tar_of(&[E::File(&deep, b"x")]));
    let before = storage(&env);
    let err = env.fails(125, &["import", &f, "escape"]);
    assert!(err.contains(&deep) && err.lines().count() == 1, "{err}");
    assert_eq!(storage(&env), before);
    assert!(!target.exists());
}

#[test]
fn load_refuses_archive_members_that_escape() {
    let env = Env::new();
    env.busybox();
    let host_file = env.dir.join("host.tar");
    std::fs::write(&host_file, small_layer()).unwrap();
    // A docker archive whose layer is a symlink to a file outside the archive.
    let layer = small_layer();
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(), "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .unwrap();
    let cfg_name = format!("{}.json", &sha256(&cfg)[7..]);
    let manifest =
        format!(r#"[{{"Config":"{cfg_name}","RepoTags":["bad:link"],"Layers":["layer.tar"]}}]"#);
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in [
        ("manifest.json", manifest.as_bytes()),
        (cfg_name.as_str(), &cfg[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        b.append_data(&mut h, p, d).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "layer.tar", &host_file).unwrap();
    let f = write_file(&env, "docker-link.tar", &b.into_inner().unwrap());
    load_fails(&env, &f, "layer.tar");

    // A member named with `..`.
    let bytes = tar_of(&[E::File("../../escape", b"x")]);
    let f = write_file(&env, "member-dotdot.tar", &bytes);
    load_fails(&env, &f, "../../escape");
    assert!(!env.dir.join("escape").exists());
}

/// A symlink in a lower layer, written through by a higher one: vfs (whose layers are
/// whole copies) refuses it; overlay stores the higher layer's directory, which hides the
/// symlink in the container. Either way nothing is written outside.
fn symlink_in_lower_layer(env: &Env) {
    let outside = env.dir.join("outside-lower");
    std::fs::create_dir(&outside).unwrap();
    let target = outside.join("pwned");
    let abs = outside.to_string_lossy().into_owned();
    let lower = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/small", b"small\n"),
        E::Symlink("lnk", &abs),
    ]);
    // No "lnk/" entry: a directory entry would replace the symlink, which is fine.
    let upper = tar_of(&[E::File("lnk/pwned", b"x")]);
    let rootfs = std::fs::read(images().join("rootfs.tar")).unwrap();
    let layers = [plain_layer(rootfs), plain_layer(lower), plain_layer(upper)];
    let f = Oci::new("localhost/lower:link", &layers).write(env, "lower-link.tar");
    if env.driver == "vfs" {
        load_fails(env, &f, "lnk");
    } else {
        env.ok(&["load", "-i", &f]);
        let out = env.ok(&[
            "run",
            "--rm",
            "localhost/lower:link",
            "sh",
            "-c",
            "test -L /lnk || ls /lnk",
        ]);
        assert_eq!(out, "pwned\n");
    }
    assert!(
        !target.exists(),
        "{} was written through a lower layer's symlink",
        target.display()
    );
}

#[test]
fn symlink_in_lower_layer_overlay() {
    let env = Env::new();
    symlink_in_lower_layer(&env);
}

#[test]
fn symlink_in_lower_layer_vfs() {
    let env = Env::with_driver("vfs");
    env.busybox();
    symlink_in_lower_layer(&env);
    assert_eq!(layer_dirs(&env).len(), 1);
}

// ---- import ----------------------------------------------------------------------------

#[test]
fn import_with_changes() {
    let env = Env::new();
    let rootfs = archive("rootfs.tar");
    let out = env.ok(&[
        "import",
        "--change",
        "CMD=/bin/sh",
        "--change",
        "ENV A=1",
        "-c",
        "WORKDIR=/tmp",
        "-m",
        "a message",
        &rootfs,
        "imp",
    ]);
    let id = out
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("import printed {out:?}"));
    assert_eq!(id.len(), 64);
    assert_eq!(image_id(&env, "imp"), id);
    let v = json(&env.ok(&["image", "inspect", "imp"]));
    let c = &v[0]["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "/bin/sh"]));
    assert_eq!(c["Env"], serde_json::json!(["A=1"]));
    assert_eq!(c["WorkingDir"], "/tmp");
    assert_eq!(
        v[0]["RepoTags"],
        serde_json::json!(["localhost/imp:latest"])
    );
    assert_eq!(v[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(v[0]["History"][0]["comment"], "a message");
    assert_eq!(v[0]["Comment"], "a message");
    assert_eq!(v[0]["Os"], "linux");
    assert_eq!(v[0]["Architecture"], host_arch());
    assert_eq!(
        env.ok(&["run", "--rm", "imp", "sh", "-c", "echo $A; pwd"]),
        "1\n/tmp\n"
    );
    // The image's own command (sh) reads a script from standard input.
    let mut c = env.cmd();
    c.args(["run", "-i", "--rm", "imp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo from-stdin $A\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-stdin 1\n");
    // The same layer as busybox's rootfs: no second copy.
    env.busybox();
    assert_eq!(layer_dirs(&env).len(), 1);
}

#[test]
fn import_from_stdin_and_unnamed() {
    let env = Env::new();
    let r = run_stdin(
        &env,
        &["import", "-", "fromstdin:v1"],
        &images().join("rootfs.tar"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("sha256:"));
    assert_eq!(
        env.ok(&["run", "--rm", "fromstdin:v1", "cat", "/etc/group"]),
        "root:x:0:\nnobody:x:65534:\n"
    );
    let v = json(&env.ok(&["image", "inspect", "fromstdin:v1"]));
    assert_eq!(v[0]["Comment"], "imported from tarball");
    // Without a name: a dangling image.
    let out = env.ok(&["import", &archive("rootfs.tar")]);
    let id = out.trim().trim_start_matches("sha256:");
    let dangling = env.ok(&["images", "--filter", "dangling=true", "--noheading"]);
    assert_eq!(dangling.lines().count(), 1, "{dangling}");
    let cols: Vec<&str> = dangling.split_whitespace().collect();
    assert_eq!(&cols[..3], ["<none>", "<none>", &id[..12]]);
    // A compressed tarball works too.
    let gz = gzip(&std::fs::read(images().join("rootfs.tar")).unwrap());
    let f = write_file(&env, "rootfs.tar.gz", &gz);
    env.ok(&["import", &f, "gz"]);
    assert_eq!(env.ok(&["run", "--rm", "gz", "echo", "ok"]), "ok\n");
}

#[test]
fn import_bad_input() {
    let env = Env::new();
    let before = storage(&env);
    let missing = env.dir.join("missing.tar");
    let err = env.fails(125, &["import", missing.to_str().unwrap(), "x"]);
    assert!(err.contains("missing.tar"), "{err}");
    let err = env.fails(
        125,
        &["import", "--change", "BOGUS x", &archive("rootfs.tar"), "x"],
    );
    assert!(err.contains("BOGUS"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let data = std::fs::read(images().join("rootfs.tar")).unwrap();
    let f = write_file(&env, "cut-rootfs.tar", &data[..data.len() / 3]);
    let err = env.fails(125, &["import", &f, "x"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = env.fails(125, &["import", &archive("rootfs.tar"), "UPPER/case"]);
    assert!(err.contains("UPPER/case"), "{err}");
    assert_eq!(storage(&env), before);
}

// ---- images ----------------------------------------------------------------------------

fn columns(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn images_table_and_formats() {
    let env = Env::new();
    let empty = env.ok(&["images"]);
    assert_eq!(
        columns(empty.lines().next().unwrap()),
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(empty.lines().count(), 1);
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    let imported = env.ok(&["import", &archive("rootfs.tar"), "newest:v2"]);
    let out = env.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    // Podman's columns: two spaces between, at least 12 wide.
    assert!(lines[0].starts_with("REPOSITORY  "), "{out}");
    let rows: Vec<Vec<String>> = lines[1..].iter().map(|l| columns(l)).collect();
    // Newest first.
    assert_eq!(
        rows[0][..3],
        ["localhost/newest", "v2", &imported.trim()[7..19]]
    );
    for r in &rows {
        assert_eq!(r.len(), 5, "{r:?}");
        assert_eq!(r[2].len(), 12);
        assert!(r[2].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(r[3].ends_with("ago"), "{r:?}");
        assert!(r[4].ends_with("MB"), "{r:?}");
    }
    let repos: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert!(
        repos.contains(&"localhost/berth-test/busybox")
            && repos.contains(&"localhost/berth-test/multilayer")
    );

    // -q: unique short IDs; --no-trunc: full ones; -a: same here (no intermediates).
    let q = env.ok(&["images", "-q"]);
    assert_eq!(q.lines().count(), 3);
    assert!(q.lines().all(|l| l.len() == 12));
    assert_eq!(env.ok(&["images", "-a", "-q"]), q);
    let full = env.ok(&["images", "-q", "--no-trunc"]);
    assert!(full
        .lines()
        .all(|l| l.len() == 71 && l.starts_with("sha256:")));
    let out = env.ok(&["images", "--no-trunc"]);
    assert!(
        out.contains(&format!("sha256:{}", image_id(&env, MULTI))),
        "{out}"
    );

    assert_eq!(env.ok(&["images", "--noheading"]).lines().count(), 3);
    let names = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, [BUSYBOX, MULTI, "localhost/newest:v2"]);
    let out = env.ok(&["images", "--format", "table {{.ID}} {{.Repository}}"]);
    assert!(out.starts_with("IMAGE ID"), "{out}");
    assert_eq!(
        env.ok(&["images", "--noheading", "--format", "table {{.ID}}"])
            .lines()
            .count(),
        3
    );

    // A name argument selects one image.
    let out = env.ok(&["images", "--noheading", "berth-test/multilayer"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.starts_with("localhost/berth-test/multilayer "), "{out}");

    // --filter
    assert_eq!(env.ok(&["images", "--filter", "dangling=true", "-q"]), "");
    assert_eq!(
        env.ok(&["images", "--filter", "dangling=false", "-q"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        env.ok(&["images", "--filter", "reference=multilayer", "-q"])
            .trim(),
        &image_id(&env, MULTI)[..12]
    );
    let err = env.fails(125, &["images", "--filter", "bogus=1"]);
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn images_json() {
    let env = Env::new();
    env.busybox();
    env.ok(&["load", "-i", &archive("busybox-docker.tar")]);
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    env.ok(&["create", "--name", "user", MULTI, "true"]);
    let v = json(&env.ok(&["images", "--format", "json"]));
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v:#}");
    let bb = list
        .iter()
        .find(|i| i["Id"] == image_id(&env, BUSYBOX).as_str())
        .expect("busybox in the list");
    assert_eq!(bb["Id"].as_str().unwrap().len(), 64);
    assert_eq!(bb["Names"], serde_json::json!([BUSYBOX, BUSYBOX_DOCKER]));
    assert_eq!(bb["RepoTags"], bb["Names"]);
    assert!(bb["Size"].as_u64().unwrap() > 1_000_000);
    assert_eq!(bb["Created"], 1_704_067_200);
    assert_eq!(bb["CreatedAt"], "2024-01-01T00:00:00Z");
    assert!(bb["Digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(bb["Containers"], 0);
    assert!(bb["RepoDigests"][0]
        .as_str()
        .unwrap()
        .starts_with("localhost/berth-test/busybox@sha256:"));
    let ml = list.iter().find(|i| i["Names"][0] == MULTI).unwrap();
    assert_eq!(ml["Containers"], 1);
    // A dangling image has no RepoTags and no names.
    env.ok(&["untag", BUSYBOX]);
    let v = json(&env.ok(&["images", "--format", "json", "--filter", "dangling=true"]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Names"], serde_json::json!([]));
    assert!(
        v[0]["RepoTags"].is_null() || v[0]["RepoTags"] == serde_json::json!([]),
        "{v:#}"
    );
}

#[test]
fn images_sort() {
    let env = Env::new();
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    env.ok(&["tag", BUSYBOX, "aaa:zzz"]);
    let repos = |sort: &str| -> Vec<String> {
        env.ok(&[
            "images",
            "--noheading",
            "--sort",
            sort,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .lines()
        .map(str::to_string)
        .collect()
    };
    assert_eq!(repos("repository"), ["localhost/aaa:zzz", BUSYBOX, MULTI]);
    assert_eq!(repos("tag"), [BUSYBOX, MULTI, "localhost/aaa:zzz"]);
    let err = env.fails(125, &["images", "--sort", "bogus"]);
    assert!(err.contains("bogus"), "{err}");
}

// ---- inspect ---------------------------------------------------------------------------

#[test]
fn image_inspect_fields() {
    let env = Env::new();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    let v = json(&env.ok(&["image", "inspect", MULTI]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    let i = &v[0];
    let id = i["Id"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    assert_eq!(i["RepoTags"], serde_json::json!([MULTI]));
    assert_eq!(i["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(
        i["Config"]["Env"][0],
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(i["GraphDriver"]["Name"], "overlay");
    let upper = i["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(Path::new(upper).is_dir(), "{upper}");
    assert_eq!(
        i["GraphDriver"]["Data"]["LowerDir"]
            .as_str()
            .unwrap()
            .split(':')
            .count(),
        2
    );
    assert_eq!(i["Architecture"], host_arch());
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["Created"], "2024-01-01T00:00:00Z");
    assert_eq!(
        i["ManifestType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(i["History"].as_array().unwrap().len(), 3);
    assert!(i["Digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(i["Size"].as_u64().unwrap() > 1_000_000);

    assert_eq!(
        env.ok(&["image", "inspect", "--format", "{{.Id}}", MULTI]),
        format!("{id}\n")
    );
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            &id[..12]
        ]),
        format!("linux/{}\n", host_arch())
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.Id}}",
            "berth-test/multilayer"
        ]),
        format!("{id}\n")
    );
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.Id}}", "berth-test/multilayer"]),
        format!("{id}\n")
    );
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Cmd}}",
            MULTI
        ]),
        "[\"sh\"]\n"
    );
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "--format",
            "{{len .RootFS.Layers}}",
            MULTI
        ]),
        "3\n"
    );

    // Unknown images: 125, the name in the message; known ones are still printed.
    let err = env.fails(125, &["image", "inspect", "nosuchimage"]);
    assert!(
        err.contains("nosuchimage") && err.contains("image not known"),
        "{err}"
    );
    let err = env.fails(125, &["inspect", "--type", "image", "nosuchimage"]);
    assert!(err.contains("nosuchimage"), "{err}");
    let r = env.run(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        MULTI,
        "nosuchimage",
    ]);
    assert_eq!(r.code, 125);
    assert_eq!(r.stdout, format!("{id}\n"));
    assert!(r.stderr.contains("nosuchimage"));
}

// ---- layers inside containers ----------------------------------------------------------

fn multilayer_semantics(env: &Env) {
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    // Whiteout: /tmp/gone from layer 2 is gone; /tmp itself is still there.
    let r = env.run(&["run", "--rm", MULTI, "ls", "-a", "/tmp"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("gone") && !r.stdout.contains(".wh."),
        "{}",
        r.stdout
    );
    assert_eq!(
        env.run(&["run", "--rm", MULTI, "test", "-e", "/tmp/gone"])
            .code,
        1
    );
    // Opaque dir: only the new layer's content.
    assert_eq!(
        env.ok(&["run", "--rm", MULTI, "ls", "-a", "/opq"]),
        ".\n..\nnew\n"
    );
    assert_eq!(env.ok(&["run", "--rm", MULTI, "cat", "/opq/new"]), "new\n");
    // Hard link: same inode, link count 2.
    let out = env.ok(&[
        "run",
        "--rm",
        MULTI,
        "sh",
        "-c",
        "stat -c '%i %h' /hl/a /hl/b; cat /hl/b",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], lines[1], "{out}");
    assert!(lines[0].ends_with(" 2"), "{out}");
    assert_eq!(lines[2], "hardlinked");
    // Symlink to a file of a lower layer.
    assert_eq!(
        env.ok(&["run", "--rm", MULTI, "readlink", "/lnk"]),
        "/etc/layer2\n"
    );
    assert_eq!(env.ok(&["run", "--rm", MULTI, "cat", "/lnk"]), "layer2\n");
    // Ownership and modes from the tars.
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            MULTI,
            "stat",
            "-c",
            "%a %u %g",
            "/tmp",
            "/root",
            "/bin/busybox"
        ]),
        "1777 0 0\n700 0 0\n755 0 0\n"
    );
}

#[test]
fn multilayer_overlay() {
    let env = Env::new();
    multilayer_semantics(&env);
    // The layer directories themselves hold the overlay markers.
    assert_eq!(layer_dirs(&env).len(), 3);
}

// ---- tag, untag, rmi, exists, prune ------------------------------------------------------

#[test]
fn tag_untag() {
    let env = Env::new();
    env.busybox();
    let id = image_id(&env, BUSYBOX);
    assert_eq!(
        env.ok(&["tag", "berth-test/busybox", "mine:v1", "quay.io/x/y:z"]),
        ""
    );
    assert_eq!(image_id(&env, "mine:v1"), id);
    assert_eq!(image_id(&env, "localhost/mine:v1"), id);
    assert_eq!(image_id(&env, "quay.io/x/y:z"), id);
    assert_eq!(
        env.ok(&["run", "--rm", "mine:v1", "echo", "tagged"]),
        "tagged\n"
    );
    assert_eq!(env.ok(&["image", "tag", &id[..12], "byid"]), "");
    assert_eq!(image_id(&env, "byid:latest"), id);
    // One image, several rows.
    assert_eq!(env.ok(&["images", "--noheading"]).lines().count(), 4);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1);
    let err = env.fails(125, &["tag", "nosuch", "x"]);
    assert!(err.contains("nosuch"), "{err}");
    let err = env.fails(125, &["tag", BUSYBOX, "Bad:Name"]);
    assert!(err.contains("Bad:Name"), "{err}");

    env.ok(&["untag", BUSYBOX, "mine:v1"]);
    assert_eq!(env.run(&["image", "exists", "mine:v1"]).code, 1);
    let err = env.fails(125, &["untag", BUSYBOX, "mine:v1"]);
    assert!(err.contains("localhost/mine:v1: tag not known"), "{err}");
    env.ok(&["image", "untag", &id]);
    // Without names it is dangling, still there by ID, and still runs by ID.
    assert_eq!(
        env.ok(&[
            "images",
            "--noheading",
            "--format",
            "{{.Repository}}:{{.Tag}}"
        ]),
        "<none>:<none>\n"
    );
    assert_eq!(
        env.ok(&["run", "--rm", &id[..12], "echo", "by-id"]),
        "by-id\n"
    );
    assert_eq!(layer_dirs(&env).len(), 1);
}

#[test]
fn rmi_by_name_and_id() {
    let env = Env::new();
    env.busybox();
    let id = image_id(&env, BUSYBOX);
    env.ok(&["tag", BUSYBOX, "other:v1"]);
    // A name of an image with more names only untags.
    assert_eq!(
        env.ok(&["rmi", "other:v1"]),
        "Untagged: localhost/other:v1\n"
    );
    assert_eq!(image_id(&env, BUSYBOX), id);
    assert_eq!(layer_dirs(&env).len(), 1);
    // By ID with several names: refused unless forced.
    env.ok(&["tag", BUSYBOX, "other:v1"]);
    let err = env.fails(125, &["rmi", &id[..12]]);
    assert!(
        err.contains("more than one tag") && err.contains("force"),
        "{err}"
    );
    let out = env.ok(&["rmi", "-f", &id[..12]]);
    assert!(out.contains(&format!("Untagged: {BUSYBOX}\n")), "{out}");
    assert!(out.contains("Untagged: localhost/other:v1\n"), "{out}");
    assert!(out.ends_with(&format!("Deleted: {id}\n")), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert_eq!(layer_dirs(&env), Vec::<String>::new());

    // A short name untags the name it resolves to, not another one.
    env.busybox();
    env.ok(&["tag", BUSYBOX, "other/thing", "my_repo/under_score:v_1"]);
    assert_eq!(
        env.ok(&["rmi", "thing"]),
        "Untagged: localhost/other/thing:latest\n"
    );
    assert_eq!(image_id(&env, "under_score:v_1"), id);
    assert_eq!(
        env.ok(&["rmi", "under_score:v_1"]),
        "Untagged: localhost/my_repo/under_score:v_1\n"
    );
    assert_eq!(env.run(&["image", "exists", "underXscore:v_1"]).code, 1);
    assert_eq!(image_id(&env, BUSYBOX), id);
    env.ok(&["rmi", BUSYBOX]);

    // The last name removes the image.
    env.busybox();
    assert_eq!(
        env.ok(&["image", "rm", "berth-test/busybox"]),
        format!("Untagged: {BUSYBOX}\nDeleted: {id}\n")
    );
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
    assert!(ls(&env.root.join("overlay/l")).is_empty());

    // Shared layers stay while another image uses them.
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    env.ok(&["rmi", MULTI]);
    assert_eq!(layer_dirs(&env).len(), 1);
    assert_eq!(env.ok(&["run", "--rm", BUSYBOX, "echo", "ok"]), "ok\n");
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    env.ok(&["rmi", BUSYBOX]);
    assert_eq!(layer_dirs(&env).len(), 3);
    assert_eq!(
        env.ok(&["run", "--rm", MULTI, "cat", "/etc/layer2"]),
        "layer2\n"
    );
    env.ok(&["rmi", "-a"]);
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
}

#[test]
fn rmi_unknown_and_ignore() {
    let env = Env::new();
    env.busybox();
    let err = env.fails(1, &["rmi", "nosuch"]);
    assert_eq!(err, "Error: nosuch: image not known\n");
    assert_eq!(env.ok(&["rmi", "-i", "nosuch"]), "");
    // One unknown among known ones: the known are removed, exit 1.
    let r = env.run(&["rmi", "nosuch", BUSYBOX]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("Deleted: "));
    assert_eq!(env.ok(&["images", "-q"]), "");
    let err = env.fails(125, &["rmi"]);
    assert!(err.contains("image name or ID must be specified"), "{err}");
}

#[test]
fn rmi_image_in_use() {
    let env = Env::new();
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    let cid = env
        .ok(&["create", "--name", "user", MULTI, "true"])
        .trim()
        .to_string();
    let err = env.fails(2, &["rmi", MULTI]);
    assert!(
        err.contains("image is in use by a container") && err.contains(&cid),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert_eq!(env.ok(&["image", "exists", MULTI]), "");
    let err = env.fails(2, &["image", "rm", "berth-test/multilayer"]);
    assert!(err.contains(&cid), "{err}");
    // -a removes what it can and reports the one in use.
    let r = env.run(&["rmi", "-a"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(env.run(&["image", "exists", BUSYBOX]).code, 1);
    assert_eq!(env.ok(&["run", "--rm", MULTI, "echo", "still"]), "still\n");
    // -f removes the container too.
    let out = env.ok(&["rmi", "-f", MULTI]);
    assert!(out.contains("Deleted: "), "{out}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.run(&["container", "exists", "user"]).code, 1);
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
    assert!(ls(&env.root.join("overlay/containers")).is_empty());
    assert!(env.mounts().is_empty(), "{:?}", env.mounts());
}

#[test]
fn image_exists() {
    let env = Env::new();
    let r = env.run(&["image", "exists", BUSYBOX]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (1, "", ""));
    env.busybox();
    let id = image_id(&env, BUSYBOX);
    for name in [
        BUSYBOX,
        "berth-test/busybox",
        "berth-test/busybox:latest",
        "busybox",
        &id,
        &id[..12],
        &id[..5],
    ] {
        let r = env.run(&["image", "exists", name]);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "image exists {name}"
        );
    }
    for name in [
        "berth-test/busybox:v2",
        "test/busybox",
        "docker.io/berth-test/busybox",
        "nosuch",
    ] {
        assert_eq!(
            env.run(&["image", "exists", name]).code,
            1,
            "image exists {name}"
        );
    }
}

#[test]
fn image_prune() {
    let env = Env::new();
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    let dangling = env.ok(&["import", &archive("rootfs.tar")]).trim()[7..].to_string();
    env.ok(&["import", "-c", "CMD=/bin/true", &archive("rootfs.tar")]);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 4);
    // Dangling only.
    let out = env.ok(&["image", "prune", "-f"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(&dangling), "{out}");
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    assert_eq!(env.ok(&["image", "prune", "-f"]), "");
    // -a: every image no container uses.
    env.ok(&["create", MULTI, "true"]);
    let bb = image_id(&env, BUSYBOX);
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(out, format!("{bb}\n"));
    assert_eq!(env.run(&["image", "exists", BUSYBOX]).code, 1);
    assert_eq!(env.ok(&["image", "exists", MULTI]), "");
    assert_eq!(layer_dirs(&env).len(), 3);
    env.ok(&["rm", "-a", "-f"]);
    let out = env.ok(&["image", "prune", "--all", "--force"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(env.ok(&["images", "-a", "-q"]), "");
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
    assert!(ls(&env.root.join("overlay/l")).is_empty());
    assert!(ls(&env.root.join("overlay/tmp")).is_empty());
}

// ---- names -----------------------------------------------------------------------------

#[test]
fn short_name_resolution() {
    let env = Env::new();
    env.busybox();
    let id = image_id(&env, BUSYBOX);
    for name in [
        "berth-test/busybox",
        "localhost/berth-test/busybox",
        "berth-test/busybox:latest",
        &id[..12],
        &id,
        &format!("sha256:{id}"),
    ] {
        assert_eq!(
            env.ok(&["run", "--rm", name, "echo", "ok"]),
            "ok\n",
            "run {name}"
        );
        assert_eq!(image_id(&env, name), id, "inspect {name}");
    }
    // A different tag or repository is not this image.
    for name in [
        "berth-test/busybox:v2",
        "other/busybox",
        "docker.io/berth-test/busybox",
    ] {
        let err = env.fails(125, &["run", "--rm", "--pull", "never", name, "true"]);
        assert!(err.contains(name), "{err}");
    }
    // An ambiguous ID prefix is refused, not guessed.
    env.ok(&["import", &archive("rootfs.tar"), "second"]);
    let other = image_id(&env, "second");
    let common_len = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    if common_len > 0 {
        let err = env.fails(125, &["image", "inspect", &id[..common_len]]);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn tag_moves_a_name() {
    let env = Env::new();
    env.busybox();
    env.ok(&["load", "-i", &archive("multilayer-oci.tar")]);
    let bb = image_id(&env, BUSYBOX);
    env.ok(&["tag", MULTI, "berth-test/busybox"]);
    assert_eq!(image_id(&env, BUSYBOX), image_id(&env, MULTI));
    let dangling = env.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(dangling, format!("sha256:{bb}\n"));
    // Loading the archive again gives the name back.
    env.busybox();
    assert_eq!(image_id(&env, BUSYBOX), bb);
    assert_eq!(env.ok(&["images", "-q", "--filter", "dangling=true"]), "");
}

#[test]
fn parallel_loads() {
    let env = Env::new();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let name = if i % 2 == 0 {
                "multilayer-oci.tar"
            } else {
                "busybox-docker.tar"
            };
            env.cmd()
                .args(["load", "-i", &archive(name)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let r = Run::from(c.wait_with_output().unwrap());
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    assert_eq!(layer_dirs(&env).len(), 3);
    assert_eq!(storage(&env).tmp, Vec::<String>::new());
    assert_eq!(
        env.ok(&["run", "--rm", MULTI, "cat", "/etc/layer2"]),
        "layer2\n"
    );
    env.ok(&["rmi", "-a"]);
    assert_eq!(layer_dirs(&env), Vec::<String>::new());
}

#[test]
fn load_unnamed_image() {
    let env = Env::new();
    let rootfs = std::fs::read(images().join("rootfs.tar")).unwrap();
    // No name annotation: the image is known by its ID only.
    let f = Oci::new("", &[gzip_layer(rootfs)]).write(&env, "unnamed.tar");
    let out = env.ok(&["load", "-i", &f]);
    let id = out
        .trim()
        .strip_prefix("Loaded image: sha256:")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(id.len(), 64);
    assert_eq!(
        env.ok(&[
            "images",
            "--noheading",
            "--format",
            "{{.Repository}} {{.Tag}} {{.ID}}"
        ]),
        format!("<none> <none> {}\n", &id[..12])
    );
    assert_eq!(
        env.ok(&["run", "--rm", &id[..8], "echo", "unnamed"]),
        "unnamed\n"
    );
    // Naming it afterwards.
    env.ok(&["tag", id, "named"]);
    assert_eq!(image_id(&env, "localhost/named:latest"), id);
    assert_eq!(env.ok(&["images", "-q", "--filter", "dangling=true"]), "");
}

/// Archives as skopeo writes them (docker-archive with a name, OCI with a ref name, OCI
/// converted from docker-archive with gzip-compressed layers) load and run.
#[test]
fn archives_written_by_skopeo_load_and_run() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: skopeo is not installed");
        return;
    }
    let env = Env::new();
    let dir = env.dir.join("skopeo");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = |src: String, dst: String, extra: &[&str]| {
        let st = std::process::Command::new("skopeo")
            .args(["copy", "-q"])
            .args(extra)
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap();
        assert!(st.success(), "skopeo copy {src} {dst}");
    };
    let img = |f: &str| images().join(f).to_string_lossy().into_owned();
    let at = |f: &str| dir.join(f).to_string_lossy().into_owned();
    copy(
        format!("oci-archive:{}", img("multilayer-oci.tar")),
        format!("docker-archive:{}:localhost/sk/multi:v1", at("docker.tar")),
        &[],
    );
    copy(
        format!("docker-archive:{}", img("busybox-docker.tar")),
        format!("oci-archive:{}:localhost/sk/gz:v2", at("gz.tar")),
        &["--dest-compress"],
    );
    assert_eq!(
        env.ok(&["load", "-i", &at("docker.tar")]),
        "Loaded image: localhost/sk/multi:v1\n"
    );
    assert_eq!(
        env.ok(&["load", "-i", &at("gz.tar")]),
        "Loaded image: localhost/sk/gz:v2\n"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "localhost/sk/multi:v1", "ls", "/opq"]),
        "new\n"
    );
    assert_eq!(env.ok(&["run", "--rm", "sk/gz:v2", "echo", "ok"]), "ok\n");
}
