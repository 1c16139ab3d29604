//! OCI runtime side of berth: runtime spec generation, the seccomp profile, the
//! runtime CLI driver (runc/crun) and the per-container monitor process.

pub mod monitor;
pub mod runtime;
pub mod seccomp;
pub mod spec;

pub use runtime::{Runtime, RuntimeError};
pub use spec::{NetMode, SpecInput};
