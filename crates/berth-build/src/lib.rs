//! Containerfile/Dockerfile parsing with BuildKit semantics, for `berth build`.
//!
//! * [`parse`] turns the text into a [`Containerfile`]: global ARGs and
//!   [`Stage`]s of typed [`Instruction`]s, each with its line and original
//!   text. Directives (`# escape=`, `# syntax=`), continuations, comments,
//!   heredocs and the JSON/shell forms are handled here; errors carry the
//!   line ([`ParseError`]).
//! * [`expand`] / [`expand_words`] apply BuildKit's variable substitution and
//!   quote removal. The parser never expands: the executor does it per
//!   instruction with the stage's ARG/ENV values (see the [`expand`] module
//!   docs for which parts).
//! * [`IgnoreMatcher`] implements `.containerignore`/`.dockerignore`
//!   patterns; [`find_containerfile`] and [`find_ignore_file`] pick the files
//!   the way Podman (Buildah) does.
//!
//! ```
//! let cf = berth_build::parse("ARG V=3\nFROM alpine:${V} AS base\nRUN echo hi\n").unwrap();
//! assert_eq!(cf.global_args[0].name, "V");
//! assert_eq!(cf.stages[0].name.as_deref(), Some("base"));
//! assert_eq!(cf.stages[0].instructions[0].original, "RUN echo hi");
//! ```
//!
//! [`expand`]: mod@crate::expand

mod ast;
pub mod expand;
mod ignore;
mod mount;
mod parser;
mod words;

pub use ast::{
    ArgDecl, CommandForm, Containerfile, Copy, CopySource, Healthcheck, Heredoc, Instruction,
    InstructionKind, KeyValue, Run, Stage, PLATFORM_ARGS, PROXY_ARGS,
};
pub use expand::{expand, expand_heredoc, expand_words, ExpandError};
pub use ignore::{find_containerfile, find_ignore_file, IgnoreMatcher};
pub use mount::{CacheSharing, Mount, MountType};
pub use parser::{parse, parse_named, ParseError};

#[cfg(test)]
mod tests;
