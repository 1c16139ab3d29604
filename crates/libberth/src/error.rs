//! libberth's error type. Messages follow Podman's wording where users know it.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no container with name or ID {0:?} found: no such container")]
    NoSuchContainer(String),
    #[error("{0}: image not known")]
    NoSuchImage(String),
    #[error("the container name {0:?} is already in use by {1}. You have to remove that container to be able to reuse that name: that name is already in use")]
    NameInUse(String, String),
    #[error("container {0} is {1}: {2}")]
    InvalidState(String, String, &'static str),
    #[error("image used by {1}: image is in use by a container: consider listing external containers and force-removing image: {0}")]
    ImageInUse(String, String),
    #[error("no volume with name {0:?} found: no such volume")]
    NoSuchVolume(String),
    #[error("volume {0} is being used by the following container(s): {1}: volume is being used")]
    VolumeInUse(String, String),
    #[error("volume with name {0} already exists: volume already exists")]
    VolumeExists(String),
    #[error("unable to find network with name or ID {0}: network not found")]
    NoSuchNetwork(String),
    #[error("{0:?} has associated containers with it. Use -f to forcibly delete containers and pods: network is being used")]
    NetworkInUse(String, String),
    #[error("no pod with name or ID {0} found: no such pod")]
    NoSuchPod(String),
    #[error("{0}")]
    InvalidArg(String),
    /// The container's command was not found (exit 127) or could not be run (exit 126).
    #[error("{msg}")]
    Exec { msg: String, code: i32 },
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] berth_oci::RuntimeError),
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code Podman uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds "what we were doing" to an io::Error.
pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io(what(), e))
    }
}
