//! Image documents: the OCI image config, manifest, index and descriptor, and the
//! entries of a docker-archive `manifest.json`. Field names follow the OCI image spec
//! and Docker exactly; serialization ([`to_go_json`]) reproduces Go's `encoding/json`
//! byte for byte, so that configs we write hash to the same image ID Podman computes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::io;

use crate::error::{ImageError, Result};

/// Media types of image documents and layers.
pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// Annotation keys used to name images in an OCI layout.
pub mod annotations {
    /// The OCI reference name (`org.opencontainers.image.ref.name`).
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// containerd/buildkit's full image name, preferred by Podman when present.
    pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
}

/// A JSON `{}`: the value type of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The OCI image configuration (`application/vnd.oci.image.config.v1+json`), also the
/// shape of Docker's image config. Unknown fields are dropped when parsing: keep the
/// original bytes wherever the image ID matters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub author: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "is_none_or_empty_str"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "is_none_or_empty_vec"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rootfs: RootFs,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }

    /// The config as Go would marshal it: the bytes to store and hash for a new image.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>> {
        to_go_json(self).map_err(|err| ImageError::Serialize {
            what: "image config",
            err,
        })
    }
}

/// The execution parameters of an image (`config` in the OCI image config). Keys are
/// PascalCase as in the spec; empty values are left out as Go's `omitempty` does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub cmd: Option<Vec<String>>,
    /// Docker's healthcheck; not part of the OCI spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub stop_signal: Option<String>,
    /// Deprecated Windows-only flag some Docker images carry.
    #[serde(default, skip_serializing_if = "is_false")]
    pub args_escaped: bool,
}

/// Docker's `Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_none_or_zero")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "is_none_or_zero")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "is_none_or_zero")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "is_none_or_zero")]
    pub retries: Option<i64>,
}

/// `rootfs` of an image config: the diff IDs of its layers, bottom to top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub fs_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            fs_type: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One entry of an image config's `history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub comment: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub empty_layer: bool,
}

/// An OCI content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default, deserialize_with = "null_as_default")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The platform an image (index entry) is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "is_none_or_empty_str"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "is_none_or_empty_vec"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine in Go/OCI terms (`linux/amd64`, `linux/arm64`, ...).
    pub fn host() -> Self {
        Platform {
            architecture: host_architecture().to_string(),
            os: "linux".to_string(),
            ..Platform::default()
        }
    }

    /// Whether an image for `self` runs on `host`: same OS and architecture; a variant
    /// is compared only when both name one.
    pub fn matches(&self, host: &Platform) -> bool {
        self.os == host.os
            && self.architecture == host.architecture
            && match (&self.variant, &host.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The architecture of this machine as Go names it (`GOARCH`): `amd64`, `arm64`, ...
pub fn host_architecture() -> &'static str {
    go_architecture(std::env::consts::ARCH)
}

/// Maps a Rust `target_arch` name to Go's `GOARCH`.
pub fn go_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// An OCI image manifest (also the shape of Docker's schema 2 manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image index (also the shape of Docker's manifest list), and `index.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "is_none_or_empty_str")]
    pub media_type: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveManifest {
    /// Path of the config file inside the archive.
    pub config: String,
    /// Tags as written (`busybox:latest`); `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    /// Paths of the layer tars inside the archive, bottom to top.
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<String>,
}

/// Serializes `value` as Go's `encoding/json` would: compact, with `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as `\u003c` etc. and `\b`/`\f` written as `\u0008`/`\u000c`.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let esc = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xf) as usize],
                ];
                return writer.write_all(&esc);
            }
        };
        writer.write_all(s)
    }
}

/// Formats a time as Go's `time.RFC3339Nano` does: fractional seconds without trailing
/// zeros, none at all when zero, `Z` for UTC.
pub fn format_go_time(t: &DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub fn parse_go_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

mod go_time {
    use super::*;

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_go_time(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<DateTime<Utc>>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => parse_go_time(s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid time {s:?}"))),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_none_or_empty_str(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

fn is_none_or_empty_vec<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn is_none_or_empty_map<K, V>(v: &Option<BTreeMap<K, V>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_none_or_zero(v: &Option<i64>) -> bool {
    v.is_none_or(|n| n == 0)
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_format_trims_zeros() {
        let t = parse_go_time("2001-01-01T00:00:00.5Z").unwrap();
        assert_eq!(format_go_time(&t), "2001-01-01T00:00:00.5Z");
        let t = parse_go_time("2026-11-28T01:57:43.573314598Z").unwrap();
        assert_eq!(format_go_time(&t), "2026-11-28T01:57:43.573314598Z");
        let t = parse_go_time("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(format_go_time(&t), "0001-01-01T00:00:00Z");
        let t = parse_go_time("2020-05-05T12:00:00.120+02:00").unwrap();
        assert_eq!(format_go_time(&t), "2020-05-05T10:00:00.12Z");
    }

    #[test]
    fn go_json_escapes_like_go() {
        let v = vec!["a<b>&c\u{2028}", "\u{8}\u{c}\n\u{1}\"\\/"];
        assert_eq!(
            String::from_utf8(to_go_json(&v).unwrap()).unwrap(),
            r#"["a\u003cb\u003e\u0026c\u2028","\u0008\u000c\n\u0001\"\\/"]"#
        );
    }

    #[test]
    fn config_round_trip_keeps_spec_names_and_order() {
        let raw = r#"{"created":"2026-11-28T01:57:43.573314598Z","architecture":"amd64","os":"linux","config":{"User":"nobody","ExposedPorts":{"443/udp":{}},"Env":["A=1"],"Entrypoint":["a","b"],"Cmd":["sh"],"Volumes":{"/v1":{}},"WorkingDir":"/w/x","Labels":{"a":"b"},"StopSignal":"15"},"rootfs":{"type":"layers","diff_ids":["sha256:fed3d64bc776dce5661144aa0b7d5f0e78427602d8d6ac388ed8b180826cf53f"]},"history":[{"created":"2026-11-28T01:57:43.573314598Z","created_by":"/bin/sh -c #(nop) ADD file:fed3d64bc776dce5661144aa0b7d5f0e78427602d8d6ac388ed8b180826cf53f in /","comment":"imported from tarball"}]}"#;
        let config = ImageConfig::from_slice(raw.as_bytes()).unwrap();
        assert_eq!(config.config.user.as_deref(), Some("nobody"));
        assert_eq!(config.rootfs.diff_ids.len(), 1);
        assert_eq!(
            String::from_utf8(config.to_json_bytes().unwrap()).unwrap(),
            raw
        );
    }

    #[test]
    fn docker_config_with_nulls_parses() {
        let raw = r#"{"architecture":"amd64","config":{"Env":null,"Cmd":null,"Volumes":null,"ExposedPorts":null,"Labels":null,"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000}},"container_config":{"Cmd":["x"]},"created":"2020-01-01T00:00:00Z","docker_version":"20.10","history":null,"os":"linux","rootfs":{"type":"layers","diff_ids":null}}"#;
        let config = ImageConfig::from_slice(raw.as_bytes()).unwrap();
        assert!(config.history.is_empty());
        assert!(config.rootfs.diff_ids.is_empty());
        assert_eq!(
            config.config.healthcheck.unwrap().interval,
            Some(1_000_000_000)
        );
    }

    #[test]
    fn arch_names_are_go_names() {
        assert_eq!(go_architecture("x86_64"), "amd64");
        assert_eq!(go_architecture("aarch64"), "arm64");
        assert_eq!(go_architecture("s390x"), "s390x");
    }
}
