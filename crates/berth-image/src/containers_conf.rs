//! The few containers.conf settings berth reads, from the files Podman reads: the
//! packaged defaults, /etc, its drop-ins, then the user's file (later ones win), or only
//! `$CONTAINERS_CONF` when that is set.

use std::path::PathBuf;

/// The files in the order they are read.
fn files() -> Vec<PathBuf> {
    if let Some(one) = std::env::var_os("CONTAINERS_CONF") {
        return vec![PathBuf::from(one)];
    }
    let mut v = vec![
        PathBuf::from("/usr/share/containers/containers.conf"),
        PathBuf::from("/etc/containers/containers.conf"),
    ];
    if let Ok(rd) = std::fs::read_dir("/etc/containers/containers.conf.d") {
        let mut d: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        d.sort();
        v.extend(d);
    }
    if let Some(home) = std::env::var_os("HOME") {
        v.push(PathBuf::from(home).join(".config/containers/containers.conf"));
    }
    v
}

/// `[engine] image_parallel_copies`: how many layers to copy at once; None when unset or 0
/// (then the default applies, as in containers/image).
pub fn image_parallel_copies() -> Option<usize> {
    image_parallel_copies_in(&files())
}

/// [`image_parallel_copies`] read from `files`, later ones winning.
pub fn image_parallel_copies_in(files: &[PathBuf]) -> Option<usize> {
    let mut value = None;
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        if let Some(n) = doc
            .get("engine")
            .and_then(|e| e.get("image_parallel_copies"))
            .and_then(|v| v.as_integer())
        {
            value = Some(n);
        }
    }
    value.filter(|n| *n > 0).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parallel_copies_from_containers_conf() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.conf"), dir.path().join("b.conf"));
        std::fs::write(&a, "[engine]\nimage_parallel_copies = 2\n").unwrap();
        std::fs::write(&b, "[engine]\nevents_logger = \"file\"\n").unwrap();
        let missing = dir.path().join("missing.conf");
        let files = [a.clone(), b, missing];
        assert_eq!(super::image_parallel_copies_in(&files), Some(2));
        std::fs::write(&a, "[engine]\nimage_parallel_copies = 0\n").unwrap();
        assert_eq!(super::image_parallel_copies_in(&files), None);
    }
}
