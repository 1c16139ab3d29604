//! berth-image: image documents (OCI/Docker configs, manifests, indexes), image
//! references, reading image archives (`podman save`, `docker save`, `skopeo copy`
//! output) and the config side of `import` (`--change`).
//!
//! Layer content is not touched here: archive layers are handed to the layer store,
//! which applies them and checks their diff IDs.

mod archive;
pub mod auth;
mod changes;
pub mod containers_conf;
mod digest;
mod error;
pub mod policy;
mod reference;
pub mod registries;
mod types;
mod writer;

pub use archive::{open_archive, ArchiveImage, ArchiveLayer};
pub use changes::{apply_changes, new_import_config};
pub use digest::sha256_digest;
pub use error::{ImageError, Result};
pub use reference::{normalize_docker_name, normalize_name, strip_docker_transport, Reference};
pub use types::{
    annotations, format_go_time, go_architecture, host_architecture, media_types, parse_go_time,
    to_go_json, ContainerConfig, Descriptor, DockerArchiveManifest, Empty, HealthConfig, History,
    ImageConfig, OciIndex, OciManifest, Platform, RootFs,
};
pub use writer::{
    write_docker_archive, write_docker_dir, write_oci_archive, write_oci_dir, LayerSource,
    SaveEvent, SaveEvents, SaveFormat, SaveImage,
};
