//! Store-level tests: real tars built in memory, applied into a temp root, overlay mounts
//! made for real (we run as root).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;

/// Builds tars entry by entry, writing names raw so that hostile paths can be expressed.
struct Tb {
    b: tar::Builder<Vec<u8>>,
}

impl Tb {
    fn new() -> Self {
        Self {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(path: &str, kind: EntryType, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        assert!(path.len() <= 100);
        gnu.name = [0; 100];
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    }

    fn set_link(h: &mut Header, target: &str) {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.linkname = [0; 100];
        gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
    }

    fn push(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.push(Self::header(path, EntryType::Regular, 0o644), data)
    }

    fn file_owned(&mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> &mut Self {
        let mut h = Self::header(path, EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        self.push(h, data)
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.dir_mode(path, 0o755)
    }

    fn dir_mode(&mut self, path: &str, mode: u32) -> &mut Self {
        self.push(Self::header(path, EntryType::Directory, mode), b"")
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, EntryType::Symlink, 0o777);
        Self::set_link(&mut h, target);
        self.push(h, b"")
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, EntryType::Link, 0o644);
        Self::set_link(&mut h, target);
        self.push(h, b"")
    }

    fn device(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Self::header(path, kind, 0o660);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.push(h, b"")
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn new_store(driver: Driver) -> (tempfile::TempDir, LayerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LayerStore::new(&dir.path().join(driver.to_string()), driver).unwrap();
    (dir, store)
}

fn apply(store: &LayerStore, parent: Option<&str>, tar: &[u8]) -> LayerInfo {
    store.apply_layer(parent, tar, None).unwrap()
}

fn dir_is_empty(p: &Path) -> bool {
    fs::read_dir(p).unwrap().next().is_none()
}

/// After a refused layer: nothing in layers/ or tmp/.
fn assert_clean(store: &LayerStore) {
    assert!(
        dir_is_empty(&store.root().join("layers")),
        "layers/ not empty"
    );
    assert!(dir_is_empty(&store.root().join("tmp")), "tmp/ not empty");
}

fn refused(store: &LayerStore, parent: Option<&str>, tar: &[u8]) -> StorageError {
    let err = store.apply_layer(parent, tar, None).unwrap_err();
    assert!(
        dir_is_empty(&store.root().join("tmp")),
        "tmp/ not empty after {err}"
    );
    err
}

fn lstat(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn driver_parses_and_displays() {
    assert_eq!("overlay".parse::<Driver>().unwrap(), Driver::Overlay);
    assert_eq!("vfs".parse::<Driver>().unwrap(), Driver::Vfs);
    assert_eq!(Driver::Overlay.to_string(), "overlay");
    assert_eq!(Driver::Vfs.to_string(), "vfs");
    let err = "btrfs".parse::<Driver>().unwrap_err();
    assert!(err.to_string().contains("btrfs"), "{err}");
}

#[test]
fn base_and_child_layer_ids() {
    let (_d, store) = new_store(Driver::Overlay);
    let base_tar = Tb::new().file("a", b"1").finish();
    let base = apply(&store, None, &base_tar);
    assert_eq!(base.diff_id, sha(&base_tar));
    assert_eq!(base.chain_id, base.diff_id);
    assert_eq!(base.size, base_tar.len() as u64);
    assert!(store.has_layer(&base.chain_id));
    assert_eq!(store.layer_info(&base.chain_id).unwrap(), base);
    assert_eq!(store.layer_parent(&base.chain_id).unwrap(), None);

    let child_tar = Tb::new().file("b", b"2").finish();
    let child = apply(&store, Some(&base.chain_id), &child_tar);
    assert_eq!(child.diff_id, sha(&child_tar));
    assert_eq!(
        child.chain_id,
        sha(format!("{} {}", base.chain_id, child.diff_id).as_bytes())
    );
    assert_eq!(
        store.layer_parent(&child.chain_id).unwrap(),
        Some(base.chain_id.clone())
    );
    assert_eq!(store.list_layers().unwrap().len(), 2);

    // Applying again returns the stored layer and leaves nothing behind.
    assert_eq!(apply(&store, None, &base_tar), base);
    // With a known diff id the stream is not even read.
    let again = store
        .apply_layer(None, io::empty(), Some(&base.diff_id))
        .unwrap();
    assert_eq!(again, base);
    assert!(dir_is_empty(&store.root().join("tmp")));
    assert!(store.layer_diff_dir(&child.chain_id).join("b").is_file());
    assert!(!store.layer_diff_dir(&child.chain_id).join("a").exists());
}

#[test]
fn diff_id_covers_bytes_after_the_tar_end() {
    let (_d, store) = new_store(Driver::Overlay);
    let mut data = Tb::new().file("a", b"x").finish();
    data.extend_from_slice(&[0u8; 10240]);
    let info = store
        .apply_layer(None, &data[..], Some(&sha(&data)))
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
}

#[test]
fn gzip_layers_hash_the_uncompressed_tar() {
    let (_d, store) = new_store(Driver::Vfs);
    let plain = Tb::new()
        .dir("etc")
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let info = store
        .apply_layer(None, &gz[..], Some(&sha(&plain)))
        .unwrap();
    assert_eq!(info.diff_id, sha(&plain));
    assert_eq!(info.size, plain.len() as u64);
    let hosts = store.layer_diff_dir(&info.chain_id).join("etc/hosts");
    assert_eq!(fs::read(hosts).unwrap(), b"127.0.0.1 localhost\n");
}

#[test]
fn wrong_diff_id_leaves_nothing() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new().file("a", b"1").finish();
    let wrong = sha(b"something else");
    let err = store.apply_layer(None, &tar[..], Some(&wrong)).unwrap_err();
    assert!(matches!(err, StorageError::DiffIdMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&wrong));
    assert_clean(&store);
    let err = store
        .apply_layer(None, &tar[..], Some("sha256:nothex"))
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidLayerId(_)), "{err}");
}

#[test]
fn missing_parent_and_unsupported_compression() {
    // vfs copies the parent, so it must be stored; an overlay layer holds only its own
    // diff and may arrive before its parent (parallel pulls).
    let (_v, vfs) = new_store(Driver::Vfs);
    let tar = Tb::new().file("a", b"1").finish();
    let missing = sha(b"missing");
    let err = vfs.apply_layer(Some(&missing), &tar[..], None).unwrap_err();
    assert!(
        matches!(err, StorageError::LayerNotFound(ref c) if *c == missing),
        "{err}"
    );
    let (_o, overlay) = new_store(Driver::Overlay);
    let info = overlay.apply_layer(Some(&missing), &tar[..], None).unwrap();
    assert_eq!(info.chain_id, berth_storage_chain(&missing, &info.diff_id));
    let (_d, store) = new_store(Driver::Overlay);
    // A broken zstd stream is refused while decoding; xz is not supported at all.
    let zstd = [0x28u8, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    let err = refused(&store, None, &zstd);
    assert!(matches!(err, StorageError::Stream(_)), "{err}");
    let xz = [0xfdu8, b'7', b'z', b'X', b'Z', 0, 0, 0];
    let err = refused(&store, None, &xz);
    assert!(
        matches!(err, StorageError::UnsupportedCompression("xz")),
        "{err}"
    );
    let err = refused(
        &store,
        None,
        b"this is not a tar archive at all, just some bytes",
    );
    assert!(matches!(err, StorageError::Stream(_)), "{err}");
    assert_clean(&store);
}

#[test]
fn zstd_layers_of_several_frames_apply() {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let tar = Tb::new()
        .file("a", b"hello")
        .file("b", &[7u8; 100_000])
        .finish();
    // Two frames with a skippable frame between them, as zstd:chunked writes layers.
    let (first, second) = tar.split_at(1024);
    let mut z = compress_to_vec(first, CompressionLevel::Fastest);
    z.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    z.extend(compress_to_vec(second, CompressionLevel::Fastest));
    let (_d, store) = new_store(Driver::Overlay);
    let plain = store.apply_layer(None, &tar[..], None).unwrap();
    let (_e, other) = new_store(Driver::Overlay);
    let info = other.apply_layer(None, &z[..], None).unwrap();
    assert_eq!(
        info.diff_id, plain.diff_id,
        "the diff id is of the uncompressed tar"
    );
    let b = other.layer_diff_dir(&info.chain_id).join("b");
    assert_eq!(fs::read(b).unwrap(), vec![7u8; 100_000]);
}

#[test]
fn empty_stream_is_an_empty_layer() {
    let (_d, store) = new_store(Driver::Overlay);
    let info = apply(&store, None, b"");
    assert_eq!(info.diff_id, sha(b""));
    assert!(dir_is_empty(&store.layer_diff_dir(&info.chain_id)));
}

#[test]
fn ownership_modes_setuid_and_times() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .dir_mode("bin", 0o750)
        .file_owned("bin/su", b"#!", 0o4755, 1234, 5678)
        .file_owned("bin/wall", b"#!", 0o2711, 0, 5)
        .file("deep/implicit/parent/f", b"x")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    let su = lstat(&diff.join("bin/su"));
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(su.mtime(), 1_600_000_000);
    assert_eq!(lstat(&diff.join("bin/wall")).mode() & 0o7777, 0o2711);
    let bin = lstat(&diff.join("bin"));
    assert_eq!(bin.mode() & 0o7777, 0o750);
    // Set after the children were written.
    assert_eq!(bin.mtime(), 1_600_000_000);
    assert_eq!(lstat(&diff.join("deep/implicit")).mode() & 0o7777, 0o755);
}

#[test]
fn pax_mtime_and_xattrs() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .pax(&[
            ("SCHILY.xattr.user.greeting", b"hello"),
            ("SCHILY.xattr.trusted.berth", b"t"),
            ("mtime", b"1700000000.25"),
        ])
        .file("f", b"data")
        .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
        .dir("d")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    let f = diff.join("f");
    assert_eq!(xattr::get(&f, "user.greeting").unwrap().unwrap(), b"hello");
    assert_eq!(xattr::get(&f, "trusted.berth").unwrap().unwrap(), b"t");
    let m = lstat(&f);
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 250_000_000));
    // The tar may not forge overlay metadata.
    assert_eq!(
        xattr::get(diff.join("d"), "trusted.overlay.opaque").unwrap(),
        None
    );
}

#[test]
fn symlinks_keep_absolute_targets() {
    let (_d, store) = new_store(Driver::Vfs);
    let mut h = Tb::header("bin/sh", EntryType::Symlink, 0o777);
    Tb::set_link(&mut h, "/bin/busybox");
    h.set_uid(42);
    let tar = Tb::new()
        .dir("bin")
        .file("bin/busybox", b"elf")
        .push(h, b"")
        .symlink("bin/ls", "busybox")
        .symlink("dangling", "/nonexistent/x")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    assert_eq!(
        fs::read_link(diff.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(lstat(&diff.join("bin/sh")).uid(), 42);
    assert_eq!(
        fs::read_link(diff.join("bin/ls")).unwrap(),
        Path::new("busybox")
    );
    assert!(lstat(&diff.join("dangling")).file_type().is_symlink());
}

#[test]
fn hardlinks_within_the_layer() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .dir("bin")
        .file_owned("bin/busybox", b"elf", 0o755, 0, 0)
        .hardlink("bin/ls", "bin/busybox")
        .hardlink("/bin/cat", "./bin/busybox")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    let ino = lstat(&diff.join("bin/busybox")).ino();
    assert_eq!(lstat(&diff.join("bin/ls")).ino(), ino);
    assert_eq!(lstat(&diff.join("bin/cat")).ino(), ino);
    assert_eq!(lstat(&diff.join("bin/cat")).nlink(), 3);
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    let (_d, store) = new_store(Driver::Vfs);
    let tar = Tb::new()
        .file("x", b"1")
        .hardlink("a/b", "../../x")
        .finish();
    let err = refused(&store, None, &tar);
    assert!(
        matches!(err, StorageError::UnsafeEntry { ref entry, .. } if entry == "a/b"),
        "{err}"
    );
    assert!(err.to_string().contains("../../x"), "{err}");
    assert_clean(&store);

    let tar = Tb::new().hardlink("a", "absent").finish();
    let err = refused(&store, None, &tar);
    assert!(err.to_string().contains("absent"), "{err}");
    assert_clean(&store);

    let tar = Tb::new().hardlink("a", "/etc/passwd").finish();
    refused(&store, None, &tar);
    assert_clean(&store);

    // vfs: a file of the parent layer is on disk but not part of this layer.
    let base = apply(&store, None, &Tb::new().file("lower", b"1").finish());
    let tar = Tb::new().hardlink("link", "lower").finish();
    let err = refused(&store, Some(&base.chain_id), &tar);
    assert!(err.to_string().contains("not an earlier entry"), "{err}");
    assert_eq!(store.list_layers().unwrap().len(), 1);

    // A hardlink through a symlink of this layer.
    let tar = Tb::new()
        .symlink("s", "/etc")
        .file("f", b"")
        .hardlink("s/passwd", "f")
        .finish();
    let err = refused(&store, Some(&base.chain_id), &tar);
    assert!(err.to_string().contains("escapes the layer"), "{err}");
    assert_eq!(store.list_layers().unwrap().len(), 1);
}

#[test]
fn device_nodes_and_fifos() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .dir("dev")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop0", EntryType::Block, 7, 0)
        .device("dev/fifo", EntryType::Fifo, 0, 0)
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    let null = lstat(&diff.join("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o660);
    let lp = lstat(&diff.join("dev/loop0"));
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 0));
    assert!(lstat(&diff.join("dev/fifo")).file_type().is_fifo());
}

#[test]
fn dotdot_escapes_are_refused() {
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (_d, store) = new_store(driver);
        for path in ["../etc/passwd", "a/../../etc/passwd", "/../x"] {
            let tar = Tb::new()
                .file("ok", b"1")
                .file(path, b"root::0:0::/:/bin/sh")
                .finish();
            let err = refused(&store, None, &tar);
            assert!(
                matches!(err, StorageError::UnsafeEntry { ref entry, .. } if entry == path),
                "{err}"
            );
            assert!(err.to_string().contains(path), "{err}");
            assert_clean(&store);
        }
        // Lexical ".." that stays inside is fine.
        let info = apply(&store, None, &Tb::new().file("a/../b", b"1").finish());
        assert!(store.layer_diff_dir(&info.chain_id).join("b").is_file());
    }
}

#[test]
fn entries_through_symlinks_are_refused() {
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (_d, store) = new_store(driver);
        let cases: Vec<Vec<u8>> = vec![
            Tb::new()
                .symlink("link", "/")
                .file("link/etc/x", b"pwned")
                .finish(),
            Tb::new()
                .dir("sub")
                .symlink("link", "sub")
                .file("link/x", b"1")
                .finish(),
            Tb::new().symlink("link", "/").dir("link/etc").finish(),
            Tb::new()
                .symlink("link", "/tmp")
                .file("link/.wh.x", b"")
                .finish(),
            Tb::new()
                .symlink("link", "/tmp")
                .file("link/.wh..wh..opq", b"")
                .finish(),
        ];
        for tar in cases {
            let err = refused(&store, None, &tar);
            assert!(err.to_string().contains("escapes the layer"), "{err}");
            assert!(err.to_string().contains("link"), "{err}");
            assert_clean(&store);
        }
    }
}

#[test]
fn vfs_symlink_from_parent_layer_is_not_followed() {
    let (_d, store) = new_store(Driver::Vfs);
    let base = apply(&store, None, &Tb::new().symlink("etc", "/etc").finish());
    let tar = Tb::new().file("etc/berth-test-escape", b"x").finish();
    let err = refused(&store, Some(&base.chain_id), &tar);
    assert!(err.to_string().contains("escapes the layer"), "{err}");
    assert!(!Path::new("/etc/berth-test-escape").exists());
    assert_eq!(store.list_layers().unwrap().len(), 1);
}

#[test]
fn absolute_paths_are_relative_to_the_layer() {
    let (_d, store) = new_store(Driver::Overlay);
    let info = apply(
        &store,
        None,
        &Tb::new().dir("/etc").file("/etc/x", b"1").finish(),
    );
    assert_eq!(
        fs::read(store.layer_diff_dir(&info.chain_id).join("etc/x")).unwrap(),
        b"1"
    );
}

#[test]
fn later_entries_win() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .file("f", b"first")
        .file("f", b"second")
        .dir("d")
        .file("d/keep", b"k")
        .dir_mode("d", 0o700)
        .dir("gone")
        .file("gone/child", b"c")
        .file("gone", b"now a file")
        .file("was-file", b"x")
        .dir("was-file")
        .dir("s")
        .symlink("s", "target")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    assert_eq!(fs::read(diff.join("f")).unwrap(), b"second");
    assert_eq!(fs::read(diff.join("d/keep")).unwrap(), b"k");
    assert_eq!(lstat(&diff.join("d")).mode() & 0o777, 0o700);
    assert_eq!(fs::read(diff.join("gone")).unwrap(), b"now a file");
    assert!(lstat(&diff.join("was-file")).is_dir());
    assert!(lstat(&diff.join("s")).file_type().is_symlink());
}

#[test]
fn overlay_layers_record_whiteouts_and_opaque_dirs() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new()
        .dir("etc")
        .file("etc/.wh.a", b"")
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/new", b"n")
        .file(".wh..wh.plnk", b"")
        .finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    let wh = lstat(&diff.join("etc/a"));
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!diff.join("etc/.wh.a").exists());
    assert_eq!(
        xattr::get(diff.join("d"), "trusted.overlay.opaque")
            .unwrap()
            .unwrap(),
        b"y"
    );
    assert!(!diff.join("d/.wh..wh..opq").exists());
    assert!(!diff.join(".wh..wh.plnk").exists());
}

fn two_layer_image(store: &LayerStore) -> Vec<String> {
    let lower = Tb::new()
        .dir("etc")
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .dir("d")
        .file("d/old", b"o")
        .dir("d/sub")
        .file("d/sub/old2", b"o2")
        .finish();
    let upper = Tb::new()
        .dir("etc")
        .file("etc/.wh.a", b"")
        .dir("d")
        .file("d/new", b"n")
        // After an entry of this layer: that entry must survive.
        .file("d/.wh..wh..opq", b"")
        .finish();
    let l1 = apply(store, None, &lower);
    let l2 = apply(store, Some(&l1.chain_id), &upper);
    vec![l1.chain_id, l2.chain_id]
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn vfs_layers_apply_whiteouts_as_deletions() {
    let (_d, store) = new_store(Driver::Vfs);
    let chain = two_layer_image(&store);
    let top = store.layer_diff_dir(&chain[1]);
    assert!(!top.join("etc/a").exists());
    assert_eq!(fs::read(top.join("etc/b")).unwrap(), b"b");
    assert_eq!(names(&top.join("d")), vec!["new"]);
    // The parent layer is untouched.
    let bottom = store.layer_diff_dir(&chain[0]);
    assert!(bottom.join("etc/a").is_file());
    assert_eq!(names(&bottom.join("d")), vec!["old", "sub"]);
}

#[test]
fn vfs_copy_preserves_metadata() {
    let (_d, store) = new_store(Driver::Vfs);
    let base = Tb::new()
        .file_owned("suid", b"x", 0o4750, 7, 8)
        .pax(&[("SCHILY.xattr.user.k", b"v")])
        .file("xa", b"")
        .symlink("sl", "/abs/target")
        .device("null", EntryType::Char, 1, 3)
        .file("h1", b"linked")
        .hardlink("h2", "h1")
        .dir_mode("d", 0o711)
        .finish();
    let base = apply(&store, None, &base);
    let child = apply(
        &store,
        Some(&base.chain_id),
        &Tb::new().file("new", b"").finish(),
    );
    let diff = store.layer_diff_dir(&child.chain_id);
    let suid = lstat(&diff.join("suid"));
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (7, 8, 0o4750)
    );
    assert_eq!(suid.mtime(), 1_600_000_000);
    assert_eq!(
        xattr::get(diff.join("xa"), "user.k").unwrap().unwrap(),
        b"v"
    );
    assert_eq!(
        fs::read_link(diff.join("sl")).unwrap(),
        Path::new("/abs/target")
    );
    assert!(lstat(&diff.join("null")).file_type().is_char_device());
    assert_eq!(lstat(&diff.join("h1")).ino(), lstat(&diff.join("h2")).ino());
    let d = lstat(&diff.join("d"));
    assert_eq!((d.mode() & 0o7777, d.mtime()), (0o711, 1_600_000_000));
    assert!(diff.join("new").is_file());
}

#[test]
fn overlay_container_mount_shows_merged_view() {
    let (_d, store) = new_store(Driver::Overlay);
    let chain = two_layer_image(&store);
    store.create_container_layer("c1", &chain).unwrap();
    let err = store.create_container_layer("c1", &chain).unwrap_err();
    assert!(matches!(err, StorageError::ContainerExists(_)), "{err}");

    let rootfs = store.mount_container("c1").unwrap();
    assert_eq!(rootfs, store.container_rootfs("c1"));
    assert!(mount::is_mounted(&rootfs).unwrap());
    assert!(!rootfs.join("etc/a").exists());
    assert_eq!(fs::read(rootfs.join("etc/b")).unwrap(), b"b");
    assert_eq!(names(&rootfs.join("d")), vec!["new"]);

    // Idempotent: one mount only.
    assert_eq!(store.mount_container("c1").unwrap(), rootfs);
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = format!(" {} ", rootfs.display());
    assert_eq!(info.lines().filter(|l| l.contains(&want)).count(), 1);

    // Writes land in the upper dir; the layers are untouched.
    fs::write(rootfs.join("etc/new"), b"w").unwrap();
    fs::remove_file(rootfs.join("etc/b")).unwrap();
    let upper = store.container_upper_dir("c1");
    assert_eq!(fs::read(upper.join("etc/new")).unwrap(), b"w");
    assert!(lstat(&upper.join("etc/b")).file_type().is_char_device());
    assert!(store.layer_diff_dir(&chain[0]).join("etc/b").is_file());

    store.unmount_container("c1").unwrap();
    assert!(!mount::is_mounted(&rootfs).unwrap());
    store.unmount_container("c1").unwrap();

    // Remount keeps the writes; remove unmounts and deletes.
    let rootfs = store.mount_container("c1").unwrap();
    assert_eq!(fs::read(rootfs.join("etc/new")).unwrap(), b"w");
    store.remove_container_layer("c1").unwrap();
    assert!(!mount::is_mounted(&rootfs).unwrap());
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!info.contains(&want));
    assert!(!store.root().join("containers/c1").exists());
    assert!(dir_is_empty(&store.root().join("tmp")));
    store.remove_container_layer("c1").unwrap();
    let err = store.mount_container("c1").unwrap_err();
    assert!(matches!(err, StorageError::ContainerNotFound(_)), "{err}");
}

#[test]
fn overlay_single_layer_and_empty_images_mount() {
    let (_d, store) = new_store(Driver::Overlay);
    let l = apply(&store, None, &Tb::new().file("hello", b"hi").finish());
    store
        .create_container_layer("one", std::slice::from_ref(&l.chain_id))
        .unwrap();
    let rootfs = store.mount_container("one").unwrap();
    assert_eq!(fs::read(rootfs.join("hello")).unwrap(), b"hi");
    store.create_container_layer("scratch", &[]).unwrap();
    let scratch = store.mount_container("scratch").unwrap();
    assert!(dir_is_empty(&scratch));
    fs::write(scratch.join("x"), b"").unwrap();
    for id in ["one", "scratch"] {
        store.remove_container_layer(id).unwrap();
        assert!(!mount::is_mounted(&store.container_rootfs(id)).unwrap());
    }
}

#[test]
fn overlay_mount_with_many_layers_uses_short_relative_paths() {
    let (_d, store) = new_store(Driver::Overlay);
    let mut chain: Vec<String> = Vec::new();
    for i in 0..120 {
        let tar = Tb::new().file(&format!("f{i}"), b"").finish();
        let info = apply(&store, chain.last().map(String::as_str), &tar);
        chain.push(info.chain_id);
    }
    store.create_container_layer("many", &chain).unwrap();
    let rootfs = store.mount_container("many").unwrap();
    assert_eq!(names(&rootfs).len(), 120);
    // The rest of the process kept its working directory.
    assert_ne!(std::env::current_dir().unwrap(), store.root());
    store.remove_container_layer("many").unwrap();
    assert!(!mount::is_mounted(&rootfs).unwrap());
}

#[test]
fn vfs_container_layer_is_a_copy() {
    let (_d, store) = new_store(Driver::Vfs);
    let chain = two_layer_image(&store);
    store.create_container_layer("c", &chain).unwrap();
    let rootfs = store.mount_container("c").unwrap();
    assert_eq!(rootfs, store.container_upper_dir("c"));
    assert_eq!(fs::read(rootfs.join("etc/b")).unwrap(), b"b");
    assert_eq!(names(&rootfs.join("d")), vec!["new"]);
    fs::write(rootfs.join("etc/b"), b"changed").unwrap();
    assert_eq!(
        fs::read(store.layer_diff_dir(&chain[0]).join("etc/b")).unwrap(),
        b"b"
    );
    store.unmount_container("c").unwrap();
    store.remove_container_layer("c").unwrap();
    assert!(!rootfs.exists());
    store.remove_container_layer("c").unwrap();
}

#[test]
fn remove_layer_is_idempotent() {
    let (_d, store) = new_store(Driver::Overlay);
    let info = apply(&store, None, &Tb::new().file("a", b"").finish());
    let links = store.root().join("l");
    assert_eq!(names(&links).len(), 1);
    assert_eq!(names(&links)[0].len(), LINK_LEN);
    store.remove_layer(&info.chain_id).unwrap();
    assert!(!store.has_layer(&info.chain_id));
    assert!(dir_is_empty(&links));
    assert_clean(&store);
    store.remove_layer(&info.chain_id).unwrap();
    let err = store.remove_layer("sha256:../../etc").unwrap_err();
    assert!(matches!(err, StorageError::InvalidLayerId(_)), "{err}");
}

#[test]
fn ids_are_validated() {
    let (_d, store) = new_store(Driver::Overlay);
    for bad in ["", "..", "../x", "a/b", ".hidden"] {
        let err = store.create_container_layer(bad, &[]).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidContainerId(_)),
            "{bad}: {err}"
        );
        assert!(store.mount_container(bad).is_err());
        assert!(store.remove_container_layer(bad).is_err());
    }
    let missing = sha(b"nope");
    let err = store
        .create_container_layer("c", std::slice::from_ref(&missing))
        .unwrap_err();
    assert!(
        matches!(err, StorageError::LayerNotFound(ref c) if *c == missing),
        "{err}"
    );
    assert!(!store.has_layer("sha256:xyz"));
    assert!(dir_is_empty(&store.root().join("containers")));
}

#[test]
fn store_dirs_are_private() {
    let (_d, store) = new_store(Driver::Overlay);
    for dir in ["layers", "tmp", "l"] {
        let mode = fs::metadata(store.root().join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}");
    }
}

// ---- rebuilding layer tars (tar-split) ---------------------------------------------

fn rebuilt(store: &LayerStore, chain_id: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    store.layer_tar(chain_id).unwrap().read_to_end(&mut out)?;
    Ok(out)
}

/// Every kind of entry, whiteouts, an opaque marker, PAX records, a GNU long name, a
/// replaced file, a whited-out file of the same tar, and bytes after the end blocks.
fn busy_tar() -> Vec<u8> {
    let long = format!("d/{}", "n".repeat(150));
    let mut b = Tb::new();
    b.dir("etc")
        .file("etc/.wh.a", b"")
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/new", b"n")
        .file_owned("big", &vec![7u8; 300_000], 0o4755, 1000, 1000)
        .file("empty", b"")
        .hardlink("big-link", "big")
        .symlink("lnk", "/etc/passwd")
        .file("twice", b"first")
        .file("twice", b"second, longer")
        .file("soon-gone", b"x")
        .file(".wh.soon-gone", b"")
        .device("null", EntryType::Char, 1, 3)
        .pax(&[("SCHILY.xattr.user.k", b"v"), ("mtime", b"1700000000.5")])
        .file("with-pax", b"p");
    let mut h = Tb::header("", EntryType::Regular, 0o644);
    h.set_size(2);
    b.b.append_data(&mut h, &long, &b"ln"[..]).unwrap();
    let mut tar = b.finish();
    tar.extend_from_slice(&[0u8; 3000]);
    tar
}

#[test]
fn layer_tars_are_rebuilt_byte_for_byte() {
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (_d, store) = new_store(driver);
        let base_tar = busy_tar();
        let base = apply(&store, None, &base_tar);
        assert_eq!(
            rebuilt(&store, &base.chain_id).unwrap(),
            base_tar,
            "{driver}"
        );
        // A child on top, and a gzip-compressed layer: the uncompressed tar comes back.
        let child_tar = Tb::new()
            .file(".wh.big", b"")
            .file("d/.wh.new", b"")
            .file("etc/added", b"e")
            .finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&child_tar).unwrap();
        let child = store
            .apply_layer(Some(&base.chain_id), &gz.finish().unwrap()[..], None)
            .unwrap();
        assert_eq!(child.diff_id, sha(&child_tar));
        assert_eq!(
            rebuilt(&store, &child.chain_id).unwrap(),
            child_tar,
            "{driver}"
        );
        let lt = store.layer_tar(&child.chain_id).unwrap();
        assert_eq!(lt.size(), child_tar.len() as u64);
        // The empty layer too.
        let empty = apply(&store, None, b"");
        assert_eq!(rebuilt(&store, &empty.chain_id).unwrap(), b"");
    }
}

#[test]
fn a_changed_layer_file_is_an_error_not_a_wrong_tar() {
    let (_d, store) = new_store(Driver::Overlay);
    let tar = Tb::new().file("a", b"abc").file("b", b"x").finish();
    let info = apply(&store, None, &tar);
    let diff = store.layer_diff_dir(&info.chain_id);
    // Same size, other content: only the digest check can tell.
    fs::write(diff.join("a"), b"abd").unwrap();
    let err = rebuilt(&store, &info.chain_id).unwrap_err();
    assert!(err.to_string().contains("diff id"), "{err}");
    // Another size: caught when the file is opened.
    fs::write(diff.join("a"), b"abcd").unwrap();
    let err = rebuilt(&store, &info.chain_id).unwrap_err();
    assert!(err.to_string().contains("no longer"), "{err}");
    // A symlink in its place is not followed.
    fs::remove_file(diff.join("a")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", diff.join("a")).unwrap();
    assert!(rebuilt(&store, &info.chain_id).is_err());
}

#[test]
fn layers_without_an_index_say_so() {
    let (_d, store) = new_store(Driver::Vfs);
    // A directory holding this tar's own file is replaced: the index cannot be used.
    let tar = Tb::new()
        .dir("d")
        .file("d/f", b"content")
        .file("d", b"now a file")
        .finish();
    let info = apply(&store, None, &tar);
    assert!(!store.has_layer_tar(&info.chain_id));
    let err = store.layer_tar(&info.chain_id).err().unwrap();
    assert!(matches!(err, StorageError::NoLayerTar(_)), "{err}");
    // As for layers stored before the index existed.
    let ok = apply(&store, None, &Tb::new().file("x", b"1").finish());
    assert!(store.has_layer_tar(&ok.chain_id));
    fs::remove_file(store.layer_dir(&ok.chain_id).join("tar-split")).unwrap();
    assert!(store.layer_tar(&ok.chain_id).is_err());
}

fn berth_storage_chain(parent: &str, diff_id: &str) -> String {
    crate::chain_id(Some(parent), diff_id)
}

#[test]
fn mapped_container_layers_show_the_namespace_owners() {
    let maps = IdMappings {
        uids: vec![IdRange::parse("0:300000:65536").unwrap()],
        gids: vec![IdRange::parse("0:400000:65536").unwrap()],
    };
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (_d, store) = new_store(driver);
        let chain = two_layer_image(&store);
        store
            .create_container_layer_mapped("m1", &chain, Some(&maps))
            .unwrap();
        assert_eq!(store.container_idmap("m1").unwrap(), Some(maps.clone()));
        let rootfs = store.mount_container("m1").unwrap();
        // The image's root-owned files show as the namespace's root.
        let m = lstat(&rootfs.join("etc/b"));
        assert_eq!((m.uid(), m.gid()), (300000, 400000), "{driver:?}");
        let m = lstat(&rootfs);
        assert_eq!((m.uid(), m.gid()), (300000, 400000), "{driver:?}");
        // ... and the layers themselves are not changed.
        let m = lstat(&store.layer_diff_dir(&chain[0]).join("etc/b"));
        assert_eq!((m.uid(), m.gid()), (0, 0));
        // A commit writes the container's IDs.
        fs::write(rootfs.join("etc/new"), b"w").unwrap();
        std::os::unix::fs::lchown(rootfs.join("etc/new"), Some(301000), Some(401000)).unwrap();
        let changes = store.container_changes("m1").unwrap();
        let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, vec!["/etc", "/etc/new"], "{driver:?}");
        let layer = store.commit_container_layer("m1", false).unwrap();
        let mut tar = Vec::new();
        store
            .layer_tar(&layer.chain_id)
            .unwrap()
            .read_to_end(&mut tar)
            .unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let owners: Vec<(String, u64, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                )
            })
            .collect();
        assert!(
            owners.contains(&("etc/new".into(), 1000, 1000)),
            "{owners:?}"
        );
        store.unmount_container("m1").unwrap();
        if driver == Driver::Overlay {
            // A crash between an idmapped layer mount and the overlay's leaves the
            // former: the container is still removed, and the layer is untouched.
            let ns = idmap::UserNs::new(&maps).unwrap();
            let left = store.root().join("containers/m1/idmapped/0");
            fs::create_dir_all(&left).unwrap();
            idmap::idmapped_bind(&store.layer_diff_dir(&chain[0]), &left, &ns).unwrap();
        }
        store.remove_container_layer("m1").unwrap();
        assert!(
            store.layer_diff_dir(&chain[0]).join("etc/b").is_file(),
            "{driver:?}"
        );
        assert!(!store.root().join("containers/m1").exists());
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !info.contains(&store.root().display().to_string()),
            "{driver:?}"
        );
    }
}
