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
//! # Using it in the build executor
//!
//! 1. Files: `-f` or [`find_containerfile`] (`Containerfile`, then
//!    `Dockerfile`); `--ignorefile` or [`find_ignore_file`]; then
//!    [`IgnoreMatcher::new`] and, while walking the context,
//!    [`IgnoreMatcher::can_skip_dir`] / [`IgnoreMatcher::is_excluded`].
//! 2. [`parse_named`] with the file's name, so errors read
//!    `Dockerfile:7: ...`. Carry [`Instruction::line`] into execution
//!    errors too (a failing RUN, a missing COPY source).
//! 3. Target: `--target` via [`Containerfile::stage_by_name`], else the
//!    last stage. Build only the stages it needs: a stage's `base` that
//!    names an earlier stage ([`Containerfile::stage_by_name`]), and
//!    `COPY --from` / `--mount from=` ([`Containerfile::resolve_stage`],
//!    names or indexes).
//! 4. Global scope: each [`Containerfile::global_args`] gets its
//!    `--build-arg` value, else its default expanded with the globals
//!    before it. `FROM` lines ([`Stage::base`], [`Stage::platform`]) expand
//!    with these globals (plus [`PLATFORM_ARGS`]) only.
//! 5. In a stage, variables are the base image's ENV, plus each `ARG`
//!    declared so far (value: `--build-arg`, else the default expanded,
//!    else the global value of the same name when it is redeclared bare),
//!    with ENV winning over ARG of the same name. Each instruction expands
//!    with the variables as they were *before* it (`ENV A=1 B=$A` uses the
//!    old `A`). [`InstructionKind::expands_variables`] says which
//!    instructions expand; their raw fields go through [`expand`] (one
//!    word each); `--from`, `--chown`, `--chmod` too. `--mount` specs with
//!    `$` are expanded and re-parsed ([`Mount::needs_expansion`]).
//! 6. RUN: ARG values join the process environment (not the image's). The
//!    command is [`Run::shell_script`] under the stage's SHELL (default
//!    `["/bin/sh", "-c"]`), or [`Run::shebang_script`] written to a file and
//!    executed, or the exec form as is. The builder never expands RUN, CMD
//!    or ENTRYPOINT text.
//! 7. COPY/ADD heredoc sources are files named [`Heredoc::name`]; when
//!    [`Heredoc::expand`], pass the body through [`expand_heredoc`].
//! 8. History and cache: [`Instruction::original`] (heredoc bodies
//!    included) is the instruction text; ONBUILD stores
//!    `trigger.original` in the image config, and a base image's `OnBuild`
//!    entries are parsed with [`parse`] (as `FROM scratch` + trigger lines)
//!    and run before the stage's first instruction.
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
