use super::*;
use crate::digest::sha256_digest;
use flate2::write::GzEncoder;
use serde_json::json;
use std::io::Write;

enum Member {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    /// A file whose name is written raw, bypassing the tar crate's path checks.
    RawName(String, Vec<u8>),
}

fn file(name: &str, data: impl Into<Vec<u8>>) -> Member {
    Member::File(name.to_string(), data.into())
}

fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match m {
            Member::File(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            Member::Dir(name) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
            Member::Symlink(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
            Member::RawName(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let raw = &mut h.as_old_mut().name;
                raw.fill(0);
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn blob(members: &mut Vec<Member>, data: &[u8]) -> serde_json::Value {
    let digest = sha256_digest(data);
    members.push(file(&format!("blobs/sha256/{}", hex_of(&digest)), data));
    json!({"digest": digest, "size": data.len()})
}

fn config_json(diff_ids: &[String]) -> Vec<u8> {
    to_json(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": crate::types::host_architecture(),
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
}

/// The two layers every test image has: a plain tar and a gzipped one.
fn layers() -> (Vec<u8>, Vec<u8>, Vec<String>) {
    let l1 = tar_bytes(&[file("etc/one", "1")]);
    let l2_plain = tar_bytes(&[file("etc/two", "2")]);
    let l2 = gzip(&l2_plain);
    let diff_ids = vec![sha256_digest(&l1), sha256_digest(&l2_plain)];
    (l1, l2, diff_ids)
}

/// A valid OCI archive's members; `index_entry` adjusts the index.json entry.
fn oci_members(annotations: serde_json::Value) -> (Vec<Member>, OciParts) {
    let (l1, l2, diff_ids) = layers();
    let mut members = vec![
        file("oci-layout", r#"{"imageLayoutVersion": "1.0.0"}"#),
        Member::Dir("blobs/".into()),
        Member::Dir("blobs/sha256/".into()),
    ];
    let config = config_json(&diff_ids);
    let mut cdesc = blob(&mut members, &config);
    cdesc["mediaType"] = json!(media_types::OCI_CONFIG);
    let mut d1 = blob(&mut members, &l1);
    d1["mediaType"] = json!(media_types::OCI_LAYER);
    let mut d2 = blob(&mut members, &l2);
    d2["mediaType"] = json!(media_types::OCI_LAYER_GZIP);
    let manifest = to_json(&json!({"schemaVersion": 2, "config": cdesc, "layers": [d1, d2]}));
    let mut mdesc = blob(&mut members, &manifest);
    mdesc["mediaType"] = json!(media_types::OCI_MANIFEST);
    if !annotations.is_null() {
        mdesc["annotations"] = annotations;
    }
    let index = to_json(&json!({"schemaVersion": 2, "manifests": [mdesc.clone()]}));
    members.push(file("index.json", index));
    let parts = OciParts {
        config,
        manifest,
        manifest_desc: mdesc,
        layer_digests: vec![sha256_digest(&l1), sha256_digest(&l2)],
        diff_ids,
    };
    (members, parts)
}

struct OciParts {
    config: Vec<u8>,
    manifest: Vec<u8>,
    manifest_desc: serde_json::Value,
    layer_digests: Vec<String>,
    diff_ids: Vec<String>,
}

fn named(name: &str) -> serde_json::Value {
    json!({ "org.opencontainers.image.ref.name": name })
}

fn replace_member(members: &mut [Member], name: &str, data: Vec<u8>) {
    for m in members.iter_mut() {
        if let Member::File(n, d) = m {
            if n == name {
                *d = data;
                return;
            }
        }
    }
    panic!("no member {name}");
}

fn remove_member(members: &mut Vec<Member>, name: &str) {
    members.retain(|m| !matches!(m, Member::File(n, _) if n == name));
}

/// Writes `bytes` as an archive and opens it in a fresh work directory.
fn open(bytes: &[u8]) -> (tempfile::TempDir, Result<Vec<ArchiveImage>>) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.tar");
    fs::write(&archive, bytes).unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    let result = open_archive(&archive, &work);
    (dir, result)
}

fn open_ok(bytes: &[u8]) -> (tempfile::TempDir, Vec<ArchiveImage>) {
    let (dir, result) = open(bytes);
    (dir, result.unwrap_or_else(|e| panic!("{e}")))
}

fn open_err(bytes: &[u8]) -> String {
    match open(bytes).1 {
        Ok(_) => panic!("archive opened but should not have"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn opens_valid_oci_archive() {
    let (members, parts) = oci_members(named("localhost/berth-test/x:1"));
    let (dir, images) = open_ok(&tar_bytes(&members));
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.config_bytes, parts.config);
    assert_eq!(image.id(), sha256_digest(&parts.config));
    assert_eq!(image.names, ["localhost/berth-test/x:1"]);
    assert_eq!(image.manifest_bytes.as_deref(), Some(&parts.manifest[..]));
    assert_eq!(image.config.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(image.layers.len(), 2);
    for (i, layer) in image.layers.iter().enumerate() {
        assert_eq!(layer.diff_id, parts.diff_ids[i]);
        assert_eq!(
            layer.compressed_digest.as_deref(),
            Some(&parts.layer_digests[i][..])
        );
        assert!(layer.path.starts_with(dir.path().join("work")));
        assert_eq!(
            sha256_digest(&fs::read(&layer.path).unwrap()),
            parts.layer_digests[i]
        );
    }
    assert_eq!(image.layers[0].media_type, media_types::OCI_LAYER);
    assert_eq!(image.layers[1].media_type, media_types::OCI_LAYER_GZIP);
}

#[test]
fn opens_gzip_wrapped_archive() {
    let (members, _) = oci_members(named("quay.io/a/b:c"));
    let (_dir, images) = open_ok(&gzip(&tar_bytes(&members)));
    assert_eq!(images[0].names, ["quay.io/a/b:c"]);
    assert_eq!(images[0].layers.len(), 2);
}

#[test]
fn oci_names_follow_podman() {
    // Observed with `podman load` 4.3.1.
    for (annotations, want) in [
        (named("latest"), vec!["localhost/latest:latest"]),
        (named("busybox:1"), vec!["localhost/busybox:1"]),
        (named("foo/bar"), vec!["localhost/foo/bar:latest"]),
        (
            named("docker.io/busybox"),
            vec!["docker.io/library/busybox:latest"],
        ),
        (serde_json::Value::Null, vec![]),
        (
            json!({"io.containerd.image.name": "docker.io/library/abc:2",
                   "org.opencontainers.image.ref.name": "2"}),
            vec!["docker.io/library/abc:2"],
        ),
    ] {
        let (members, _) = oci_members(annotations.clone());
        let (_dir, images) = open_ok(&tar_bytes(&members));
        assert_eq!(images[0].names, want, "{annotations}");
    }
    let (members, _) = oci_members(named("Latest"));
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.contains("\"Latest\"") && err.contains("lowercase"),
        "{err}"
    );
}

#[test]
fn oci_entries_for_the_same_manifest_merge() {
    let (mut members, parts) = oci_members(named("localhost/a:1"));
    let mut second = parts.manifest_desc.clone();
    second["annotations"] = named("localhost/b:2");
    let first = parts.manifest_desc.clone();
    let index = to_json(&json!({"schemaVersion": 2, "manifests": [first, second]}));
    replace_member(&mut members, "index.json", index);
    let (_dir, images) = open_ok(&tar_bytes(&members));
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, ["localhost/a:1", "localhost/b:2"]);
}

#[test]
fn nested_index_picks_host_platform() {
    let (mut members, parts) = oci_members(serde_json::Value::Null);
    let mut host = parts.manifest_desc.clone();
    host["platform"] = json!({"architecture": crate::types::host_architecture(), "os": "linux"});
    let other = json!({
        "mediaType": media_types::OCI_MANIFEST,
        "digest": format!("sha256:{}", "0".repeat(64)),
        "size": 7,
        "platform": {"architecture": "s390x", "os": "linux"},
    });
    let nested = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [other, host],
    }));
    let mut ndesc = blob(&mut members, &nested);
    ndesc["mediaType"] = json!(media_types::OCI_INDEX);
    ndesc["annotations"] = named("localhost/nested:1");
    replace_member(
        &mut members,
        "index.json",
        to_json(&json!({"schemaVersion": 2, "manifests": [ndesc]})),
    );
    let (_dir, images) = open_ok(&tar_bytes(&members));
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, ["localhost/nested:1"]);
    assert_eq!(
        images[0].manifest_bytes.as_deref(),
        Some(&parts.manifest[..])
    );

    // No entry for this host: an error naming the index and the platform.
    let only_other = to_json(&json!({"schemaVersion": 2, "manifests": [{
        "mediaType": media_types::OCI_MANIFEST,
        "digest": format!("sha256:{}", "0".repeat(64)), "size": 7,
        "platform": {"architecture": "s390x-nope", "os": "linux"}}]}));
    let mut ndesc = blob(&mut members, &only_other);
    ndesc["mediaType"] = json!(media_types::OCI_INDEX);
    replace_member(
        &mut members,
        "index.json",
        to_json(&json!({"schemaVersion": 2, "manifests": [ndesc]})),
    );
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("no image for platform linux/"), "{err}");
}

#[test]
fn digest_mismatch_is_reported_with_both_digests() {
    let (mut members, parts) = oci_members(named("localhost/x:1"));
    let name = format!("blobs/sha256/{}", hex_of(&parts.layer_digests[0]));
    let mut data = match members
        .iter()
        .find(|m| matches!(m, Member::File(n, _) if *n == name))
    {
        Some(Member::File(_, d)) => d.clone(),
        _ => unreachable!(),
    };
    data[600] ^= 0xff;
    let got = sha256_digest(&data);
    replace_member(&mut members, &name, data);
    let err = open_err(&tar_bytes(&members));
    assert_eq!(
        err,
        format!(
            "archive blob {} does not match its digest (got {got})",
            parts.layer_digests[0]
        )
    );
}

#[test]
fn size_mismatch_and_bad_digest_are_errors() {
    let (mut members, parts) = oci_members(named("localhost/x:1"));
    let mut desc = parts.manifest_desc.clone();
    desc["size"] = json!(1);
    replace_member(
        &mut members,
        "index.json",
        to_json(&json!({"schemaVersion": 2, "manifests": [desc]})),
    );
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("its descriptor says 1"), "{err}");

    let mut desc = parts.manifest_desc.clone();
    desc["digest"] = json!("sha256:../../../etc/passwd");
    replace_member(
        &mut members,
        "index.json",
        to_json(&json!({"schemaVersion": 2, "manifests": [desc]})),
    );
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.contains("invalid digest") && err.contains("index.json"),
        "{err}"
    );
}

#[test]
fn missing_blob_is_named() {
    let (mut members, parts) = oci_members(named("localhost/x:1"));
    let name = format!("blobs/sha256/{}", hex_of(&parts.layer_digests[1]));
    remove_member(&mut members, &name);
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains(&name) && err.contains("missing"), "{err}");
}

#[test]
fn bad_json_is_named() {
    let (mut members, _) = oci_members(named("localhost/x:1"));
    replace_member(&mut members, "index.json", b"{not json".to_vec());
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.starts_with("archive member index.json is not valid"),
        "{err}"
    );
}

#[test]
fn layer_count_must_match_diff_ids() {
    let (l1, _, diff_ids) = layers();
    let mut members = Vec::new();
    let config = config_json(&diff_ids);
    let chex = hex_of(&sha256_digest(&config)).to_string();
    members.push(file(&format!("{chex}.json"), config));
    members.push(file("l1.tar", l1));
    members.push(file(
        "manifest.json",
        to_json(
            &json!([{"Config": format!("{chex}.json"), "RepoTags": null, "Layers": ["l1.tar"]}]),
        ),
    ));
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.contains("1 layers but its config lists 2 diff_ids"),
        "{err}"
    );
}

#[test]
fn truncated_archives_are_errors() {
    let (members, _) = oci_members(named("localhost/x:1"));
    let full = tar_bytes(&members);
    // Cut inside the data of the first layer blob, inside a header, and inside gzip.
    let err = open_err(&full[..2048 + 512 * 3 + 100]);
    assert!(
        err.contains("truncated") || err.contains("damaged"),
        "{err}"
    );
    let err = open_err(&full[..full.len() / 2 + 100]);
    assert!(
        err.contains("truncated") || err.contains("damaged"),
        "{err}"
    );
    let gz = gzip(&full);
    let err = open_err(&gz[..gz.len() / 2]);
    assert!(
        err.contains("damaged") || err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn escaping_members_are_refused() {
    let (mut members, _) = oci_members(named("localhost/x:1"));
    members.push(Member::RawName("../evil".into(), b"x".to_vec()));
    let (dir, result) = open(&tar_bytes(&members));
    let err = result.unwrap_err().to_string();
    assert_eq!(
        err,
        "archive member ../evil escapes the archive (absolute path or `..`)"
    );
    assert!(!dir.path().join("evil").exists());

    let (mut members, _) = oci_members(named("localhost/x:1"));
    members.insert(0, Member::RawName("/tmp/evil-abs".into(), b"x".to_vec()));
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("/tmp/evil-abs escapes"), "{err}");

    let (mut members, _) = oci_members(named("localhost/x:1"));
    members.insert(0, Member::RawName("blobs/../../evil".into(), b"x".to_vec()));
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("blobs/../../evil escapes"), "{err}");
}

#[test]
fn symlinks_in_archives_are_never_followed_on_disk() {
    // A symlink to / followed by a file "through" it lands inside the work dir.
    let (mut members, _) = oci_members(named("localhost/x:1"));
    members.insert(0, Member::Symlink("link".into(), "/tmp".into()));
    members.insert(1, file("link/berth-image-test-escape", "x"));
    let (dir, images) = open_ok(&tar_bytes(&members));
    assert_eq!(images.len(), 1);
    assert!(dir
        .path()
        .join("work/link/berth-image-test-escape")
        .is_file());
    assert!(!Path::new("/tmp/berth-image-test-escape").exists());
    assert!(!fs::symlink_metadata(dir.path().join("work/link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A docker archive as podman writes it, but with `Layers` naming the legacy
/// `<id>/layer.tar` symlink, as older `docker save` does for shared layers.
fn docker_members(
    repo_tags: serde_json::Value,
    layer_refs: Option<Vec<String>>,
) -> (Vec<Member>, Vec<u8>, Vec<String>) {
    let (l1, l2, diff_ids) = layers();
    let config = config_json(&diff_ids);
    let chex = hex_of(&sha256_digest(&config)).to_string();
    let n1 = format!("{}.tar", hex_of(&diff_ids[0]));
    let n2 = format!("{}.tar", hex_of(&diff_ids[1]));
    let members = vec![
        file(&n1, l1),
        file(&n2, l2),
        file(&format!("{chex}.json"), config.clone()),
        Member::Symlink("aaaa/layer.tar".into(), format!("../{n1}")),
        Member::Symlink("bbbb/layer.tar".into(), "../aaaa/../cccc/layer.tar".into()),
        Member::Symlink("cccc/layer.tar".into(), format!("/{n2}")),
        file("aaaa/VERSION", "1.0"),
        file(
            "manifest.json",
            to_json(&json!([{
                "Config": format!("{chex}.json"),
                "RepoTags": repo_tags,
                "Layers": layer_refs.unwrap_or_else(|| vec!["aaaa/layer.tar".into(), "bbbb/layer.tar".into()]),
            }])),
        ),
        file("repositories", "{}"),
    ];
    (members, config, vec![n1, n2])
}

#[test]
fn opens_valid_docker_archive_through_symlinks() {
    let (members, config, files) = docker_members(
        json!(["busybox:latest", "quay.io/a/b:1", "busybox:latest"]),
        None,
    );
    let (dir, images) = open_ok(&tar_bytes(&members));
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.config_bytes, config);
    assert_eq!(image.names, ["localhost/busybox:latest", "quay.io/a/b:1"]);
    assert!(image.manifest_bytes.is_none());
    let work = dir.path().join("work");
    assert_eq!(image.layers[0].path, work.join(&files[0]));
    assert_eq!(image.layers[1].path, work.join(&files[1]));
    assert_eq!(image.layers[0].media_type, media_types::DOCKER_LAYER);
    assert_eq!(image.layers[1].media_type, media_types::DOCKER_LAYER_GZIP);
    assert_eq!(image.layers[0].compressed_digest, None);
    assert_eq!(image.layers[1].diff_id, image.config.rootfs.diff_ids[1]);

    let (_dir, images) = open_ok(&gzip(&tar_bytes(&members)));
    assert_eq!(images[0].layers.len(), 2);

    let (members, _, _) = docker_members(serde_json::Value::Null, None);
    let (_dir, images) = open_ok(&tar_bytes(&members));
    assert!(images[0].names.is_empty());
}

#[test]
fn docker_archive_errors() {
    // A symlink pointing out of the archive.
    let (mut members, config, _) = docker_members(json!([]), None);
    members.push(Member::Symlink(
        "evil/layer.tar".into(),
        "../../../etc/passwd".into(),
    ));
    let chex = hex_of(&sha256_digest(&config)).to_string();
    let manifest = json!([{"Config": format!("{chex}.json"), "RepoTags": [],
        "Layers": ["aaaa/layer.tar", "evil/layer.tar"]}]);
    replace_member(&mut members, "manifest.json", to_json(&manifest));
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("evil/layer.tar escapes"), "{err}");

    // Missing layer file.
    let (members, _, _) = docker_members(
        json!([]),
        Some(vec!["aaaa/layer.tar".into(), "nope.tar".into()]),
    );
    let err = open_err(&tar_bytes(&members));
    assert_eq!(err, "archive member nope.tar is missing");

    // Config that does not match its digest-form name.
    let (mut members, config, _) = docker_members(json!([]), None);
    let chex = hex_of(&sha256_digest(&config)).to_string();
    let mut changed = config.clone();
    changed[5] = b' ';
    replace_member(&mut members, &format!("{chex}.json"), changed.clone());
    let err = open_err(&tar_bytes(&members));
    assert_eq!(
        err,
        format!(
            "archive blob {chex}.json does not match its digest (got {})",
            sha256_digest(&changed)
        )
    );

    // Invalid tags, as containers/image refuses them.
    let (members, _, _) = docker_members(json!(["busybox"]), None);
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.contains("\"busybox\"") && err.contains("does not contain a tag"),
        "{err}"
    );
    let (members, _, _) = docker_members(json!(["Busybox:1"]), None);
    let err = open_err(&tar_bytes(&members));
    assert!(err.contains("lowercase"), "{err}");

    // Bad manifest.json.
    let (mut members, _, _) = docker_members(json!([]), None);
    replace_member(&mut members, "manifest.json", b"[{\"Config\": 5}]".to_vec());
    let err = open_err(&tar_bytes(&members));
    assert!(
        err.starts_with("archive member manifest.json is not valid"),
        "{err}"
    );
}

#[test]
fn unknown_format_and_other_compression() {
    let err = open_err(&tar_bytes(&[file("hello", "x")]));
    assert!(err.contains("neither an OCI archive"), "{err}");
    let err = open_err(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    assert!(err.contains("zstd"), "{err}");
    let err = open_err(b"");
    assert!(err.contains("neither an OCI archive"), "{err}");
}
