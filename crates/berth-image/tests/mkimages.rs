//! Runs `scripts/mkimages.sh` and opens what it writes: the test images the rest of
//! the project uses must stay loadable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::{media_types, open_archive, sha256_digest, ArchiveImage};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mkimages.sh")
}

fn open(dir: &Path, name: &str) -> Vec<ArchiveImage> {
    let work = dir.join(format!("work-{name}"));
    std::fs::create_dir(&work).unwrap();
    open_archive(&dir.join(name), &work).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gunzip_digest(path: &Path) -> String {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut data)
        .unwrap();
    sha256_digest(&data)
}

#[test]
fn mkimages_archives_open() {
    if !Path::new("/usr/bin/busybox").exists() {
        println!("skipping: /usr/bin/busybox is missing (install busybox-static)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(script())
        .arg(dir.path())
        .status()
        .expect("running mkimages.sh");
    assert!(status.success(), "mkimages.sh failed: {status}");

    let rootfs_digest = sha256_digest(&std::fs::read(dir.path().join("rootfs.tar")).unwrap());

    let oci = open(dir.path(), "busybox-oci.tar");
    assert_eq!(oci.len(), 1);
    assert_eq!(oci[0].names, ["localhost/berth-test/busybox:latest"]);
    assert_eq!(oci[0].layers.len(), 1);
    assert_eq!(oci[0].layers[0].media_type, media_types::OCI_LAYER_GZIP);
    assert_eq!(oci[0].layers[0].diff_id, rootfs_digest);
    assert_eq!(gunzip_digest(&oci[0].layers[0].path), rootfs_digest);
    assert_eq!(oci[0].config.config.cmd, Some(vec!["sh".to_string()]));
    assert!(oci[0].config.config.env.as_ref().unwrap()[0].starts_with("PATH="));

    let docker = open(dir.path(), "busybox-docker.tar");
    assert_eq!(docker.len(), 1);
    assert_eq!(
        docker[0].names,
        ["localhost/berth-test/busybox-docker:latest"]
    );
    assert_eq!(docker[0].layers[0].media_type, media_types::DOCKER_LAYER);
    assert_eq!(
        sha256_digest(&std::fs::read(&docker[0].layers[0].path).unwrap()),
        rootfs_digest
    );
    // Same config bytes in both archives: the same image ID, as `podman load` shows.
    assert_eq!(docker[0].id(), oci[0].id());

    let multi = open(dir.path(), "multilayer-oci.tar");
    assert_eq!(multi.len(), 1);
    assert_eq!(multi[0].names, ["localhost/berth-test/multilayer:latest"]);
    let types: Vec<&str> = multi[0]
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            media_types::OCI_LAYER_GZIP,
            media_types::OCI_LAYER,
            media_types::OCI_LAYER_GZIP
        ]
    );
    assert_eq!(multi[0].layers[0].diff_id, rootfs_digest);
    assert_eq!(
        gunzip_digest(&multi[0].layers[2].path),
        multi[0].layers[2].diff_id
    );
}
