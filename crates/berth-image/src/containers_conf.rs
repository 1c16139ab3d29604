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

/// The `[network]` and `[engine] helper_binaries_dir` settings berth uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkSettings {
    /// `default_network`: the network of `--network bridge`.
    pub default_network: Option<String>,
    /// `default_subnet`: the default network's subnet.
    pub default_subnet: Option<String>,
    /// `default_subnet_pools`: (base, size) pools new networks get subnets from.
    pub default_subnet_pools: Vec<(String, u8)>,
    /// `network_config_dir`.
    pub network_config_dir: Option<PathBuf>,
    /// `[engine] helper_binaries_dir`: where netavark and aardvark-dns are looked for.
    pub helper_binaries_dir: Vec<PathBuf>,
    /// `[containers] netns`: the network mode when `--network` is not given.
    pub default_netns: Option<String>,
    /// `[containers] userns`: the user namespace when `--userns` is not given.
    pub default_userns: Option<String>,
}

/// The network settings from containers.conf (later files win, key by key).
pub fn network_settings() -> NetworkSettings {
    network_settings_in(&files())
}

/// [`network_settings`] read from `files`.
pub fn network_settings_in(files: &[PathBuf]) -> NetworkSettings {
    let mut s = NetworkSettings::default();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        if let Some(n) = doc.get("network").and_then(|n| n.as_table()) {
            let string = |k: &str| n.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let Some(v) = string("default_network") {
                s.default_network = Some(v);
            }
            if let Some(v) = string("default_subnet") {
                s.default_subnet = Some(v);
            }
            if let Some(v) = string("network_config_dir") {
                s.network_config_dir = Some(PathBuf::from(v));
            }
            if let Some(pools) = n.get("default_subnet_pools").and_then(|v| v.as_array()) {
                s.default_subnet_pools = pools
                    .iter()
                    .filter_map(|p| {
                        let base = p.get("base")?.as_str()?.to_string();
                        let size = p.get("size")?.as_integer()?;
                        Some((base, u8::try_from(size).ok()?))
                    })
                    .collect();
            }
        }
        let containers = |k: &str| {
            doc.get("containers")
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        if let Some(v) = containers("netns") {
            s.default_netns = Some(v);
        }
        if let Some(v) = containers("userns") {
            s.default_userns = Some(v);
        }
        if let Some(dirs) = doc
            .get("engine")
            .and_then(|e| e.get("helper_binaries_dir"))
            .and_then(|v| v.as_array())
        {
            s.helper_binaries_dir = dirs
                .iter()
                .filter_map(|d| d.as_str().map(PathBuf::from))
                .collect();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn network_settings_from_containers_conf() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.conf");
        std::fs::write(
            &a,
            "[engine]\nhelper_binaries_dir = [\"/opt/x\"]\n[network]\ndefault_network = \"n1\"\ndefault_subnet = \"10.1.0.0/24\"\ndefault_subnet_pools = [{base = \"10.2.0.0/16\", size = 24}]\n",
        )
        .unwrap();
        let s = super::network_settings_in(&[a]);
        assert_eq!(s.default_network.as_deref(), Some("n1"));
        assert_eq!(s.default_subnet.as_deref(), Some("10.1.0.0/24"));
        assert_eq!(
            s.default_subnet_pools,
            vec![("10.2.0.0/16".to_string(), 24)]
        );
        assert_eq!(
            s.helper_binaries_dir,
            vec![std::path::PathBuf::from("/opt/x")]
        );
    }

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
