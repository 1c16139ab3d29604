//! The parsed Containerfile: stages and typed instructions.
//!
//! Values the builder expands (see [`crate::expand()`]) are kept **raw**: quotes,
//! escape characters and `$vars` are still in them. Fields say "raw" when
//! the executor must call [`crate::expand()`] on them with the stage's ARG/ENV
//! values, and "literal" when they are final.

use std::time::Duration;

use crate::mount::Mount;

/// A whole parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerfile {
    /// The escape character from the `# escape=` directive (`\` by default).
    /// Pass it to [`crate::expand()`] / [`crate::expand_words`].
    pub escape: char,
    /// The `ARG`s before the first `FROM`, in order. They can be used in
    /// `FROM` lines, and a stage sees them only if it redeclares them.
    pub global_args: Vec<ArgDecl>,
    /// The build stages in file order; never empty.
    pub stages: Vec<Stage>,
}

impl Containerfile {
    /// Resolves a `COPY --from=` or `RUN --mount=from=` reference to a stage
    /// index: a stage name (case-insensitive) or a decimal index. `None`
    /// means it is an image reference. Only stages before `before` count
    /// (pass the index of the stage being built), since a stage can only use
    /// earlier ones.
    pub fn resolve_stage(&self, reference: &str, before: usize) -> Option<usize> {
        if let Some(i) = self.stage_by_name(reference, before) {
            return Some(i);
        }
        match reference.parse::<usize>() {
            Ok(i) if i < before.min(self.stages.len()) => Some(i),
            _ => None,
        }
    }

    /// Resolves a stage *name* (case-insensitive) among the stages before
    /// `before`. BuildKit matches only names for `FROM <stage>` and
    /// `--target` (`FROM 0` is the image `0`), so use this for those; pass
    /// `stages.len()` for `--target`.
    pub fn stage_by_name(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages[..before.min(self.stages.len())]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
    }
}

/// Predefined proxy ARGs: given with `--build-arg`, RUN sees them without
/// an `ARG` line, and they are kept out of the image history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Predefined platform ARGs, set by the builder: FROM lines can use them
/// undeclared; inside a stage they are visible after `ARG NAME`.
pub const PLATFORM_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position in the file.
    pub index: usize,
    /// The `AS name`, lowercased (BuildKit compares stage names
    /// case-insensitively).
    pub name: Option<String>,
    /// The base image or stage, raw: expand it with the global args only.
    /// `scratch` means no base.
    pub base: String,
    /// `--platform=`, raw. Accepted, not acted on by berth yet.
    pub platform: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    /// The original `FROM` line (for errors and history).
    pub original: String,
    /// The instructions after `FROM`, in order.
    pub instructions: Vec<Instruction>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// 1-based line of its last line (continuations and heredocs included).
    pub end_line: usize,
    /// The instruction as written, continuation lines joined (escape char
    /// and newline removed, as BuildKit does), followed by each heredoc body
    /// and terminator on their own lines. Use it for history `created_by`
    /// and as the textual part of the cache key.
    pub original: String,
    pub kind: InstructionKind,
}

impl Instruction {
    /// The upper-case keyword, e.g. `"RUN"`.
    pub fn keyword(&self) -> &'static str {
        self.kind.keyword()
    }
}

/// The typed instructions. `FROM` is not here: it starts a [`Stage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run(Run),
    /// `CMD`, not expanded.
    Cmd(CommandForm),
    /// `ENTRYPOINT`, not expanded.
    Entrypoint(CommandForm),
    /// `SHELL ["exe", "arg"]`, literal (JSON only).
    Shell(Vec<String>),
    Copy(Copy),
    /// `ADD`: same shape as COPY (`--from` is rejected by BuildKit for ADD
    /// only in old versions; we accept it).
    Add(Copy),
    /// `ENV`: keys and values raw (BuildKit expands both, each pair with
    /// the variables as they were before this instruction).
    Env(Vec<KeyValue>),
    /// `ARG`: one or more declarations.
    Arg(Vec<ArgDecl>),
    /// `WORKDIR`, raw.
    Workdir(String),
    /// `USER user[:group]`, raw.
    User(String),
    /// `EXPOSE`: the words, each raw (`80`, `53/udp`, `${PORT}`).
    Expose(Vec<String>),
    /// `LABEL`: keys and values raw.
    Label(Vec<KeyValue>),
    /// `VOLUME`: paths, each raw.
    Volume(Vec<String>),
    /// `STOPSIGNAL`, raw.
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// `ONBUILD <trigger>`: the trigger is parsed (so errors show now) but
    /// not expanded; store `trigger.original` in the image's `OnBuild`.
    Onbuild(Box<Instruction>),
    /// `MAINTAINER`, literal (becomes the image's `Author`).
    Maintainer(String),
}

impl InstructionKind {
    /// Whether the builder expands ARG/ENV variables in this instruction
    /// (BuildKit's list: ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR). RUN, CMD, ENTRYPOINT, SHELL,
    /// HEALTHCHECK, MAINTAINER and ONBUILD are left to the container's shell
    /// or to the image that uses the trigger. RUN's `--mount` values are
    /// expanded even so (see [`crate::Mount::spec`]).
    pub fn expands_variables(&self) -> bool {
        matches!(
            self,
            InstructionKind::Add(_)
                | InstructionKind::Arg(_)
                | InstructionKind::Copy(_)
                | InstructionKind::Env(_)
                | InstructionKind::Expose(_)
                | InstructionKind::Label(_)
                | InstructionKind::StopSignal(_)
                | InstructionKind::User(_)
                | InstructionKind::Volume(_)
                | InstructionKind::Workdir(_)
        )
    }

    /// The upper-case keyword, e.g. `"COPY"`.
    pub fn keyword(&self) -> &'static str {
        match self {
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::User(_) => "USER",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// The two ways to write a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// `RUN echo $HOME`: run with the stage's SHELL (`/bin/sh -c` by default).
    /// The text is literal (continuations joined).
    Shell(String),
    /// `RUN ["echo", "hi"]`: run directly.
    Exec(Vec<String>),
}

/// `RUN [flags] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `--mount=` flags, in order.
    pub mounts: Vec<Mount>,
    /// `--network=default|none|host`, raw.
    pub network: Option<String>,
    /// `--security=sandbox|insecure`, raw.
    pub security: Option<String>,
    pub command: CommandForm,
    /// Heredocs opened on the command line (shell form only), in order.
    pub heredocs: Vec<Heredoc>,
}

impl Run {
    /// The shell-form script to hand to the SHELL, with heredocs resolved as
    /// BuildKit does: a line that is only `<<EOF` runs the heredoc body
    /// itself (a body starting with `#!` should instead be written to a file
    /// and executed; see [`Run::shebang_script`]); otherwise the line and the
    /// bodies with their terminators are joined so the shell handles them.
    /// `None` for the exec form.
    pub fn shell_script(&self) -> Option<String> {
        let CommandForm::Shell(line) = &self.command else {
            return None;
        };
        if self.heredocs.is_empty() {
            return Some(line.clone());
        }
        if self.heredocs.len() == 1 && is_lone_heredoc(line) {
            return Some(self.heredocs[0].content.clone());
        }
        let mut full = line.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Some(full)
    }

    /// The heredoc body when the command is a lone heredoc whose body starts
    /// with `#!`: BuildKit writes it to a file and executes that file.
    pub fn shebang_script(&self) -> Option<&Heredoc> {
        match (&self.command, self.heredocs.as_slice()) {
            (CommandForm::Shell(line), [h])
                if is_lone_heredoc(line) && h.content.starts_with("#!") =>
            {
                Some(h)
            }
            _ => None,
        }
    }
}

fn is_lone_heredoc(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() == 1 && crate::parser::parse_heredoc_word(words[0]).is_some()
}

/// A heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes (`EOF`).
    pub name: String,
    /// File descriptor before `<<` (`3<<EOF`), 0 when absent.
    pub fd: u32,
    /// `<<-`: leading tabs were stripped from the body and terminator.
    pub strip_tabs: bool,
    /// `false` when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): the body
    /// is literal. When `true`, COPY/ADD expand the body with
    /// [`crate::expand_heredoc`]; RUN leaves it to the shell.
    pub expand: bool,
    /// The body, every line ending in `\n`, terminator excluded.
    pub content: String,
}

/// `COPY`/`ADD [flags] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `--from=stage|index|image`, raw.
    pub from: Option<String>,
    /// `--chown=user[:group]`, raw.
    pub chown: Option<String>,
    /// `--chmod=0755`, raw.
    pub chmod: Option<String>,
    /// `--link`: accepted; the copy semantics do not change.
    pub link: bool,
    /// `--parents`: keep the source's parent directories.
    pub parents: bool,
    /// `--exclude=pattern`, each raw.
    pub excludes: Vec<String>,
    /// ADD only: `--checksum=`, raw.
    pub checksum: Option<String>,
    /// ADD only: `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// Sources in order (at least one).
    pub sources: Vec<CopySource>,
    /// The destination, raw; a trailing `/` means a directory.
    pub dest: String,
    /// The JSON form was used (`COPY ["a", "b"]`).
    pub json: bool,
}

/// A COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path in the context (or in `--from`), possibly with wildcards, or a
    /// URL for ADD; raw.
    Path(String),
    /// `<<EOF`: a file named `name` with the heredoc's content.
    Heredoc(Heredoc),
}

/// `key=value` in ENV and LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// Literal name.
    pub name: String,
    /// Raw default, if any.
    pub default: Option<String>,
    /// Line of the ARG instruction.
    pub line: usize,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check (`Test: ["NONE"]`).
    None,
    /// `HEALTHCHECK [opts] CMD ...`. Unset options are `None` (the runtime
    /// default applies). The command is literal.
    Cmd {
        command: CommandForm,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}
