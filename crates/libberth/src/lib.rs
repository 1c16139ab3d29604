#![recursion_limit = "512"]
//! libberth: the objects berth manages (images, containers) and their life cycles, the
//! state database, locks, and the `Engine` interface the CLI and the REST API call.

pub mod build;
pub mod commit;
pub mod config;
pub mod containers;
pub mod copy;
pub mod db;
pub mod engine;
pub mod error;
pub mod exec;
pub mod export;
pub mod human;
pub mod ids;
pub mod image_mount;
pub mod images;
pub mod local;
pub mod lock;
pub mod login;
pub mod logs;
pub mod manifest;
pub mod mounts;
pub mod netns;
pub mod network;
pub mod pod;
pub mod pull;
pub mod push;
pub mod query;
pub mod resources;
pub mod save;
pub mod search;
pub mod stats;
pub mod top;
pub mod types;
pub mod userns;
pub mod volumes;

pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Result};
pub use local::LocalEngine;
