//! The one error type of this crate: every message names the archive member, blob,
//! reference or change it is about, and carries its cause in the message itself (no
//! `source()` chain, so `{:#}` printing does not repeat the cause).

use std::io;
use std::path::PathBuf;

/// Result with [`ImageError`].
pub type Result<T> = std::result::Result<T, ImageError>;

/// What went wrong while reading an image archive, a reference or a `--change`.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file-system operation outside the archive format itself failed.
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },

    /// The tar stream itself is damaged (bad header, corrupt compression).
    #[error("reading archive {}: damaged {at}: {err}", archive.display())]
    ArchiveDamaged {
        archive: PathBuf,
        /// Where: `in member X`, `after member X` or `at its start`.
        at: String,
        err: io::Error,
    },

    /// A member's content ends before the size its header announced.
    #[error("reading archive {}: member {member} is truncated ({got} of {expected} bytes)", archive.display())]
    Truncated {
        archive: PathBuf,
        member: String,
        expected: u64,
        got: u64,
    },

    /// A member (or a path a manifest names) would leave the extraction directory.
    #[error("archive member {member} escapes the archive (absolute path or `..`)")]
    UnsafeMember { member: String },

    /// A file the archive's manifests refer to is not in the archive.
    #[error("archive member {member} is missing")]
    MissingMember { member: String },

    /// A JSON member does not parse or does not have the expected shape.
    #[error("archive member {member} is not valid: {err}")]
    InvalidJson {
        member: String,
        err: serde_json::Error,
    },

    /// A blob's content does not hash to the digest it is stored under.
    #[error("archive blob {blob} does not match its digest (got {got})")]
    DigestMismatch { blob: String, got: String },

    /// A blob's size differs from the size its descriptor records.
    #[error("archive blob {blob} has {got} bytes, its descriptor says {expected}")]
    SizeMismatch {
        blob: String,
        expected: u64,
        got: u64,
    },

    /// A digest that is not `sha256:<64 hex>` (or sha384/sha512).
    #[error("invalid digest {digest:?} in archive member {member}")]
    InvalidDigest { digest: String, member: String },

    /// Manifest layer count and config `rootfs.diff_ids` disagree.
    #[error("image {member} has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCountMismatch {
        member: String,
        layers: usize,
        diff_ids: usize,
    },

    /// Neither `oci-layout` + `index.json` nor `manifest.json` at the archive root.
    #[error("{} is neither an OCI archive (oci-layout, index.json) nor a docker archive (manifest.json)", archive.display())]
    UnknownFormat { archive: PathBuf },

    /// The archive is compressed with something other than gzip.
    #[error("{} is compressed with {kind}, which is not supported (only gzip is)", archive.display())]
    UnsupportedCompression {
        archive: PathBuf,
        kind: &'static str,
    },

    /// An image index has no entry for the host platform.
    #[error("image index {member} has no image for platform {platform}")]
    NoMatchingPlatform { member: String, platform: String },

    /// A descriptor points at something that is neither an image manifest nor an index.
    #[error("archive blob {blob} is not an image manifest or index")]
    NotAManifest { blob: String },

    /// An image reference that does not parse.
    #[error("invalid reference {name:?}: {reason}")]
    InvalidReference { name: String, reason: String },

    /// An archive names its image with a reference the archive format does not allow.
    #[error("archive member {member} names image {name:?}: {reason}")]
    InvalidArchiveName {
        member: String,
        name: String,
        reason: String,
    },

    /// Writing an image archive or directory (`save`) failed.
    #[error("writing {what}: {err}")]
    Write { what: String, err: io::Error },

    /// A `--change` instruction that cannot be applied.
    #[error("invalid change {change:?} - {reason}")]
    InvalidChange { change: String, reason: String },

    /// Serializing an image document failed.
    #[error("serializing {what}: {err}")]
    Serialize {
        what: &'static str,
        err: serde_json::Error,
    },

    /// A containers config file (registries.conf, short-name-aliases.conf, auth.json,
    /// policy.json) that cannot be read, parsed or written. `context` names the file the
    /// way containers/image does (`loading registries configuration "/etc/..."`).
    #[error("{context}: {reason}")]
    Config { context: String, reason: String },

    /// A short name that cannot be resolved (no alias and no search registries,
    /// enforcing mode without a TTY, ...).
    #[error("{0}")]
    ShortName(String),

    /// A registry marked `blocked = true` in registries.conf.
    #[error("registry {prefix} is blocked in {sources}")]
    Blocked { prefix: String, sources: String },

    /// Credentials that cannot be looked up, stored or removed (bad key, helper failure).
    #[error("{0}")]
    Credentials(String),

    /// The key has no credentials in the auth file (`podman logout` of a registry one is
    /// not logged into).
    #[error("not logged in")]
    NotLoggedIn,

    /// policy.json rejects the image (`reject`) or requires something berth cannot check
    /// yet (`signedBy`, `sigstoreSigned`, `signedBaseLayer`). The message is complete
    /// (`Source image rejected: Running image docker://busybox:latest is rejected by policy.`).
    #[error("{0}")]
    Policy(String),
}

impl ImageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ImageError::Io {
            op,
            path: path.into(),
            err: source,
        }
    }

    pub(crate) fn reference(name: &str, reason: impl Into<String>) -> Self {
        ImageError::InvalidReference {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn config(context: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        ImageError::Config {
            context: context.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn change(change: &str, reason: impl Into<String>) -> Self {
        ImageError::InvalidChange {
            change: change.to_string(),
            reason: reason.into(),
        }
    }
}
