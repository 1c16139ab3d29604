//! Parser tests: one focused case per behaviour, table-driven where the
//! shape allows.

use std::time::Duration;

use crate::*;

/// Parses `FROM scratch\n` + `body` and returns the stage's instructions.
fn body(body: &str) -> Vec<Instruction> {
    let cf = parse(&format!("FROM scratch\n{body}")).unwrap_or_else(|e| panic!("{e}"));
    cf.stages.into_iter().next().unwrap().instructions
}

fn one(text: &str) -> InstructionKind {
    let mut v = body(text);
    assert_eq!(v.len(), 1, "{text:?} gave {v:?}");
    v.remove(0).kind
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn shell(s: &str) -> CommandForm {
    CommandForm::Shell(s.into())
}

fn exec(v: &[&str]) -> CommandForm {
    CommandForm::Exec(v.iter().map(|s| s.to_string()).collect())
}

fn kv(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

fn run(text: &str) -> Run {
    match one(text) {
        InstructionKind::Run(r) => r,
        other => panic!("not RUN: {other:?}"),
    }
}

fn copy(text: &str) -> Copy {
    match one(text) {
        InstructionKind::Copy(c) | InstructionKind::Add(c) => c,
        other => panic!("not COPY/ADD: {other:?}"),
    }
}

#[test]
fn command_forms() {
    let cases: &[(&str, InstructionKind)] = &[
        (
            "RUN echo hi",
            InstructionKind::Run(Run {
                mounts: vec![],
                network: None,
                security: None,
                command: shell("echo hi"),
                heredocs: vec![],
            }),
        ),
        (
            "CMD [\"nginx\", \"-g\", \"daemon off;\"]",
            InstructionKind::Cmd(exec(&["nginx", "-g", "daemon off;"])),
        ),
        (
            "CMD nginx -g 'daemon off;'",
            InstructionKind::Cmd(shell("nginx -g 'daemon off;'")),
        ),
        ("cmd []", InstructionKind::Cmd(exec(&[]))),
        // Not valid JSON: BuildKit falls back to the shell form.
        ("CMD [nginx]", InstructionKind::Cmd(shell("[nginx]"))),
        (
            "ENTRYPOINT [\"/bin/app\"]",
            InstructionKind::Entrypoint(exec(&["/bin/app"])),
        ),
        (
            "entrypoint /bin/app --x",
            InstructionKind::Entrypoint(shell("/bin/app --x")),
        ),
        (
            "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]",
            InstructionKind::Shell(vec![
                "/bin/bash".into(),
                "-o".into(),
                "pipefail".into(),
                "-c".into(),
            ]),
        ),
        (
            "WORKDIR /app/${NAME}",
            InstructionKind::Workdir("/app/${NAME}".into()),
        ),
        ("USER 1000:1000", InstructionKind::User("1000:1000".into())),
        (
            "STOPSIGNAL SIGTERM",
            InstructionKind::StopSignal("SIGTERM".into()),
        ),
        (
            "MAINTAINER Jane <j@example.com>",
            InstructionKind::Maintainer("Jane <j@example.com>".into()),
        ),
        (
            "EXPOSE 80 443/tcp 53/udp ${P}",
            InstructionKind::Expose(vec![
                "80".into(),
                "443/tcp".into(),
                "53/udp".into(),
                "${P}".into(),
            ]),
        ),
        (
            "VOLUME /data /logs",
            InstructionKind::Volume(vec!["/data".into(), "/logs".into()]),
        ),
        (
            "VOLUME [\"/data\", \"/my logs\"]",
            InstructionKind::Volume(vec!["/data".into(), "/my logs".into()]),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&one(text), want, "{text}");
    }
}

#[test]
fn keywords_are_case_insensitive() {
    for text in ["run echo", "Run echo", "rUN echo"] {
        assert_eq!(body(text)[0].keyword(), "RUN");
    }
    let cf = parse("from alpine as Builder\n").unwrap();
    assert_eq!(cf.stages[0].name.as_deref(), Some("builder"));
}

#[test]
fn env_forms() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("ENV A=1", &[("A", "1")]),
        ("ENV A=1 B=2", &[("A", "1"), ("B", "2")]),
        (
            r#"ENV A="v 1" B='x y' C=a\ b"#,
            &[("A", "\"v 1\""), ("B", "'x y'"), ("C", r"a\ b")],
        ),
        (
            "ENV LEGACY the rest  of line",
            &[("LEGACY", "the rest  of line")],
        ),
        ("ENV PATH=/x:$PATH", &[("PATH", "/x:$PATH")]),
        ("ENV EMPTY=", &[("EMPTY", "")]),
        ("ENV Q=\"\"", &[("Q", "\"\"")]),
    ];
    for (text, want) in cases {
        assert_eq!(one(text), InstructionKind::Env(kv(want)), "{text}");
    }
    // Values are raw: the executor unquotes them with `expand`.
    assert_eq!(expand("\"v 1\"", '\\', &|_| None).unwrap(), "v 1");
}

#[test]
fn label_forms() {
    assert_eq!(
        one(r#"LABEL org.opencontainers.image.title="My App" version=1.0 "quoted key"=v"#),
        InstructionKind::Label(kv(&[
            ("org.opencontainers.image.title", "\"My App\""),
            ("version", "1.0"),
            ("\"quoted key\"", "v"),
        ]))
    );
    assert_eq!(
        one("LABEL legacy some value"),
        InstructionKind::Label(kv(&[("legacy", "some value")]))
    );
}

#[test]
fn arg_forms() {
    let decl = |n: &str, d: Option<&str>| ArgDecl {
        name: n.into(),
        default: d.map(str::to_string),
        line: 2,
    };
    assert_eq!(one("ARG A"), InstructionKind::Arg(vec![decl("A", None)]));
    assert_eq!(
        one("ARG A=1 B C=\"x y\" D="),
        InstructionKind::Arg(vec![
            decl("A", Some("1")),
            decl("B", None),
            decl("C", Some("\"x y\"")),
            decl("D", Some("")),
        ])
    );
}

#[test]
fn global_args_and_stages() {
    let cf = parse(
        "ARG BASE=alpine\nARG TAG\n# comment\nFROM ${BASE}:${TAG:-3.20} AS build\nARG TAG\nRUN make\n\
         FROM --platform=$BUILDPLATFORM scratch\nCOPY --from=build /out /\nFROM build AS final\n",
    )
    .unwrap();
    assert_eq!(
        cf.global_args
            .iter()
            .map(|a| (a.name.as_str(), a.default.as_deref(), a.line))
            .collect::<Vec<_>>(),
        vec![("BASE", Some("alpine"), 1), ("TAG", None, 2)]
    );
    assert_eq!(cf.stages.len(), 3);
    let s0 = &cf.stages[0];
    assert_eq!(
        (s0.index, s0.name.as_deref(), s0.base.as_str(), s0.line),
        (0, Some("build"), "${BASE}:${TAG:-3.20}", 4)
    );
    assert_eq!(s0.instructions.len(), 2);
    let s1 = &cf.stages[1];
    assert_eq!(
        (s1.name.as_deref(), s1.base.as_str(), s1.platform.as_deref()),
        (None, "scratch", Some("$BUILDPLATFORM"))
    );
    assert_eq!(cf.stages[2].base, "build");
    assert_eq!(cf.resolve_stage("BUILD", 2), Some(0));
    assert_eq!(cf.resolve_stage("1", 2), Some(1));
    assert_eq!(
        cf.resolve_stage("2", 2),
        None,
        "a stage can't refer to itself"
    );
    assert_eq!(cf.resolve_stage("final", 2), None, "only earlier stages");
    assert_eq!(cf.resolve_stage("final", 3), Some(2));
    assert_eq!(cf.resolve_stage("alpine", 3), None);
    assert_eq!(cf.stage_by_name("Build", 3), Some(0));
    assert_eq!(
        cf.stage_by_name("0", 3),
        None,
        "FROM 0 is an image, not stage 0"
    );
}

#[test]
fn from_errors() {
    let cases = [
        (
            "FROM a AS 1bad\n",
            "Containerfile:1: invalid name for build stage: \"1bad\"",
        ),
        (
            "FROM a b\n",
            "Containerfile:1: FROM requires either one or three arguments",
        ),
        (
            "FROM a AS x\nFROM b AS X\n",
            "Containerfile:2: duplicate stage name \"x\"",
        ),
        (
            "FROM --bogus=1 a\n",
            "Containerfile:1: unknown flag \"--bogus=1\" for FROM",
        ),
        ("ARG A\n", "Containerfile:1: no FROM instruction"),
        ("", "Containerfile:1: no FROM instruction"),
        (
            "RUN x\nFROM a\n",
            "Containerfile:1: RUN before the first FROM",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.starts_with(want), "{text:?}: {e}");
    }
}

#[test]
fn unknown_instruction_has_its_line() {
    let e = parse("FROM a\n\nFOOBAR x\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "Containerfile:3: unknown instruction \"FOOBAR\""
    );
    let e = parse_named("FROM a\nRUN a \\\n  b\nNOPE\n", "Dockerfile.dev").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile.dev:4: unknown instruction \"NOPE\""
    );
}

#[test]
fn instruction_errors() {
    let cases = [
        ("RUN", "RUN requires a command"),
        ("RUN --mount=type=cache", "mount target not specified"),
        ("RUN --bogus echo", "unknown flag \"--bogus\" for RUN"),
        (
            "SHELL /bin/sh -c",
            "SHELL requires the arguments to be in JSON form",
        ),
        ("COPY onlyone", "COPY requires at least two arguments"),
        ("COPY --from a b", "missing a value on flag --from"),
        (
            "COPY --link=maybe a b",
            "invalid boolean \"maybe\" for --link",
        ),
        (
            "COPY --keep-git-dir a b",
            "unknown flag \"--keep-git-dir\" for COPY",
        ),
        ("ENV", "ENV requires at least one argument"),
        ("ENV ONLYKEY", "ENV must have two arguments"),
        ("ENV A=1 B", "syntax error - can't find = in \"B\""),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL =x", "LABEL names can not be blank"),
        ("ARG =x", "ARG names can not be blank"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one port"),
        (
            "VOLUME [\"\"]",
            "VOLUME specified can not be an empty string",
        ),
        ("CMD", "CMD requires a command"),
        (
            "RUN --network=bridge x",
            "unsupported network mode \"bridge\"",
        ),
        (
            "RUN --security=weird x",
            "unsupported security mode \"weird\"",
        ),
    ];
    for (line, want) in cases {
        let e = err(&format!("FROM a\n{line}\n"));
        assert!(
            e.starts_with(&format!("Containerfile:2: {want}")),
            "{line:?}: {e}"
        );
    }
}

#[test]
fn run_flags() {
    let r = run("RUN --mount=type=cache,target=/root/.cache/pip,id=pip,sharing=private \\\n    --mount=type=secret,id=tok,required \\\n    --network=none --security=insecure pip install -r req.txt");
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[0].target, "/root/.cache/pip");
    assert_eq!(r.mounts[0].sharing, CacheSharing::Private);
    assert_eq!(
        r.mounts[0].spec,
        "type=cache,target=/root/.cache/pip,id=pip,sharing=private"
    );
    assert_eq!(r.mounts[1].kind, MountType::Secret);
    assert_eq!(r.mounts[1].target, "/run/secrets/tok");
    assert!(r.mounts[1].required);
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(r.command, shell("pip install -r req.txt"));

    let r = run(
        "RUN --mount=type=bind,from=build,source=/out,target=/mnt,readwrite [\"ls\", \"/mnt\"]",
    );
    assert_eq!(r.mounts[0].from.as_deref(), Some("build"));
    assert!(!r.mounts[0].readonly);
    assert_eq!(r.command, exec(&["ls", "/mnt"]));

    // Mount options with variables are checked once the executor expands them.
    let r = run("RUN --mount=type=cache,target=/a,sharing=$S,uid=$U x");
    assert!(r.mounts[0].needs_expansion());

    let r = run("RUN --mount=type=tmpfs,target=/tmp,size=1g -- --not-a-flag");
    assert_eq!(r.mounts[0].size, Some(1 << 30));
    assert_eq!(r.command, shell("--not-a-flag"));
}

#[test]
fn copy_and_add() {
    let c = copy("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.tmp --exclude=.git a b/ /dest/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, vec!["*.tmp", ".git"]);
    assert_eq!(
        c.sources,
        vec![CopySource::Path("a".into()), CopySource::Path("b/".into())]
    );
    assert_eq!(c.dest, "/dest/");
    assert!(!c.json);

    let c = copy("COPY [\"my file.txt\", \"other\", \"/dest dir/\"]");
    assert!(c.json);
    assert_eq!(
        c.sources,
        vec![
            CopySource::Path("my file.txt".into()),
            CopySource::Path("other".into())
        ]
    );
    assert_eq!(c.dest, "/dest dir/");

    let c = copy("COPY --link=false ${SRC} $DEST");
    assert!(!c.link);
    assert_eq!(c.sources, vec![CopySource::Path("${SRC}".into())]);
    assert_eq!(c.dest, "$DEST");

    let c =
        copy("ADD --checksum=sha256:abc --keep-git-dir=true https://example.com/x.tar.gz /opt/");
    assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
    assert!(c.keep_git_dir);
    assert!(matches!(one("ADD a.tar /"), InstructionKind::Add(_)));
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://localhost/ || exit 1"),
        InstructionKind::Healthcheck(Healthcheck::Cmd {
            command: shell("curl -f http://localhost/ || exit 1"),
            interval: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_secs(90)),
            start_period: Some(Duration::from_millis(500)),
            start_interval: Some(Duration::from_millis(1500)),
            retries: Some(3),
        })
    );
    assert_eq!(
        one("healthcheck cmd [\"/bin/check\"]"),
        InstructionKind::Healthcheck(Healthcheck::Cmd {
            command: exec(&["/bin/check"]),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        })
    );
    let cases = [
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        (
            "HEALTHCHECK --interval=5s NONE",
            "HEALTHCHECK NONE takes no arguments",
        ),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        (
            "HEALTHCHECK RUN x",
            "unknown type \"RUN\" in HEALTHCHECK (try CMD)",
        ),
        (
            "HEALTHCHECK --interval=5 CMD x",
            "invalid duration \"5\" for --interval",
        ),
        (
            "HEALTHCHECK --timeout=1ns CMD x",
            "--timeout cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --retries=-1 CMD x",
            "--retries cannot be negative",
        ),
        ("HEALTHCHECK --bogus=1 CMD x", "unknown flag"),
    ];
    for (line, want) in cases {
        let e = err(&format!("FROM a\n{line}\n"));
        assert!(e.contains(want), "{line:?}: {e}");
    }
}

#[test]
fn onbuild_rules() {
    let InstructionKind::Onbuild(trigger) = one("ONBUILD RUN echo $HOME") else {
        panic!()
    };
    assert_eq!(trigger.original, "RUN echo $HOME");
    assert_eq!(
        trigger.kind,
        InstructionKind::Run(Run {
            mounts: vec![],
            network: None,
            security: None,
            command: shell("echo $HOME"),
            heredocs: vec![],
        })
    );
    let InstructionKind::Onbuild(trigger) = one("onbuild copy . /app") else {
        panic!()
    };
    assert_eq!(trigger.keyword(), "COPY");
    let cases = [
        ("ONBUILD ONBUILD RUN x", "ONBUILD ONBUILD is not allowed"),
        (
            "ONBUILD FROM alpine",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "ONBUILD maintainer me",
            "MAINTAINER isn't allowed as an ONBUILD trigger",
        ),
        ("ONBUILD", "ONBUILD requires an instruction"),
        ("ONBUILD BOGUS x", "unknown instruction \"BOGUS\""),
    ];
    for (line, want) in cases {
        assert_eq!(
            err(&format!("FROM a\n{line}\n")),
            format!("Containerfile:2: {want}")
        );
    }
}

#[test]
fn continuations_and_comments() {
    let v = body("RUN apt-get update && \\\n    apt-get install -y \\\n# a comment inside\n\n    curl\nUSER app\n");
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0].original,
        "RUN apt-get update &&     apt-get install -y     curl"
    );
    assert_eq!((v[0].line, v[0].end_line), (2, 6));
    assert_eq!(v[1].line, 7);
    // Whitespace after the escape still continues the line.
    assert_eq!(body("RUN a \\   \n b")[0].original, "RUN a  b");
    // Indented instructions and comments.
    let v = body("   # indented comment\n\tRUN x\n");
    assert_eq!((v[0].original.as_str(), v[0].line), ("RUN x", 3));
    // CRLF line endings.
    let cf = parse("FROM a\r\nRUN a \\\r\n  b\r\n").unwrap();
    assert_eq!(cf.stages[0].instructions[0].original, "RUN a   b");
    // A trailing continuation at the end of the file.
    assert_eq!(body("RUN x \\")[0].original, "RUN x");
}

#[test]
fn escape_directive() {
    let cf = parse("# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir C:\\ `\n  && echo done\nCOPY . C:\\app\\\n").unwrap();
    assert_eq!(cf.escape, '`');
    let v = &cf.stages[0].instructions;
    assert_eq!(v[0].original, r"RUN dir C:\   && echo done");
    assert_eq!(
        v.len(),
        2,
        "a trailing backslash is not a continuation with escape=`"
    );
    assert_eq!(copy_dest(&v[1]), r"C:\app\");

    let cf = parse("# escape=\\\nFROM a\n").unwrap();
    assert_eq!(cf.escape, '\\');
}

fn copy_dest(i: &Instruction) -> &str {
    match &i.kind {
        InstructionKind::Copy(c) => &c.dest,
        _ => panic!(),
    }
}

#[test]
fn directives() {
    // syntax is accepted and ignored; keys are case-insensitive; spaces allowed.
    let cf = parse("# syntax=docker/dockerfile:1.7\n#  ESCAPE = `\nFROM a\n").unwrap();
    assert_eq!(cf.escape, '`');
    // Directives only count before the first other line.
    let cf = parse("FROM a\n# escape=`\nRUN a \\\n b\n").unwrap();
    assert_eq!(cf.escape, '\\');
    assert_eq!(cf.stages[0].instructions[0].original, "RUN a  b");
    let cf = parse("# a comment\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(cf.escape, '\\', "a plain comment ends the directives");
    let cf = parse("\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(cf.escape, '\\', "a blank line ends the directives");
    let cf = parse(" # escape=`\nFROM a\n").unwrap();
    assert_eq!(cf.escape, '\\', "a directive starts in the first column");
    // Unknown directives are ignored.
    assert!(parse("# check=skip=all\nFROM a\n").is_ok());
    assert_eq!(
        err("# escape=x\nFROM a\n"),
        "Containerfile:1: invalid escape token \"x\": it must be ` or \\"
    );
    assert_eq!(
        err("# escape=`\n# escape=\\\nFROM a\n"),
        "Containerfile:2: only one escape parser directive can be used"
    );
}

#[test]
fn heredoc_run() {
    let v = body("RUN <<EOF\necho hello\necho $HOME\nEOF\nUSER x\n");
    assert_eq!(v.len(), 2);
    let InstructionKind::Run(r) = &v[0].kind else {
        panic!()
    };
    assert_eq!(r.heredocs.len(), 1);
    let h = &r.heredocs[0];
    assert_eq!(
        (h.name.as_str(), h.expand, h.strip_tabs, h.fd),
        ("EOF", true, false, 0)
    );
    assert_eq!(h.content, "echo hello\necho $HOME\n");
    assert_eq!(r.shell_script().unwrap(), "echo hello\necho $HOME\n");
    assert!(r.shebang_script().is_none());
    assert_eq!(v[0].original, "RUN <<EOF\necho hello\necho $HOME\nEOF");
    assert_eq!((v[0].line, v[0].end_line, v[1].line), (2, 5, 6));
}

#[test]
fn heredoc_variants() {
    // <<- strips leading tabs from the body and the terminator.
    let r = run("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT");
    assert_eq!(r.heredocs[0].content, "echo a\necho b\n");
    assert!(r.heredocs[0].strip_tabs);
    // Quoted delimiters turn expansion off.
    for text in ["RUN <<\"EOF\"\n$X\nEOF", "RUN <<'EOF'\n$X\nEOF"] {
        let r = run(text);
        assert_eq!(
            (r.heredocs[0].name.as_str(), r.heredocs[0].expand),
            ("EOF", false),
            "{text}"
        );
    }
    // The body is literal text: continuation chars and comments stay.
    let r = run("RUN <<EOF\n# not a comment \\\nline\nEOF");
    assert_eq!(r.heredocs[0].content, "# not a comment \\\nline\n");
    // Several heredocs, a shell that handles them: the line and bodies are joined.
    let r = run("RUN python3 - <<PY 3<<DATA\nprint(1)\nPY\nsome data\nDATA");
    assert_eq!(r.heredocs.len(), 2);
    assert_eq!(r.heredocs[1].fd, 3);
    assert_eq!(
        r.shell_script().unwrap(),
        "python3 - <<PY 3<<DATA\nprint(1)\nPY\nsome data\nDATA"
    );
    // A shebang body is run as a file.
    let r = run("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF");
    assert_eq!(
        r.shebang_script().unwrap().content,
        "#!/usr/bin/env python3\nprint(1)\n"
    );
    // With flags before the heredoc.
    let r = run("RUN --network=none <<EOF\ntrue\nEOF");
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.heredocs[0].content, "true\n");
    // `<<<` is a here-string, `<< EOF` with a space is not a heredoc word.
    assert!(run("RUN cat <<<hello").heredocs.is_empty());
    // The exec form has no heredocs.
    assert!(run("RUN [\"cat\", \"<<EOF\"]").heredocs.is_empty());
    // An empty body.
    assert_eq!(run("RUN <<EOF\nEOF").heredocs[0].content, "");
}

#[test]
fn heredoc_copy() {
    let c = copy("COPY <<EOF /etc/app.conf\nkey=$VALUE\nEOF");
    assert_eq!(c.dest, "/etc/app.conf");
    let [CopySource::Heredoc(h)] = c.sources.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(
        (h.name.as_str(), h.content.as_str(), h.expand),
        ("EOF", "key=$VALUE\n", true)
    );

    let c = copy("COPY --chmod=0755 <<a <<'b' /dir/\nfile a\na\nfile $b\nb");
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert_eq!(c.dest, "/dir/");
    let names: Vec<_> = c
        .sources
        .iter()
        .map(|s| match s {
            CopySource::Heredoc(h) => (h.name.clone(), h.content.clone(), h.expand),
            CopySource::Path(p) => panic!("path {p}"),
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("a".to_string(), "file a\n".to_string(), true),
            ("b".to_string(), "file $b\n".to_string(), false),
        ]
    );
}

#[test]
fn heredoc_copy_in_order() {
    let c = copy("COPY <<one <<two /dir/\n1\none\n2\ntwo\n");
    let contents: Vec<_> = c
        .sources
        .iter()
        .map(|s| match s {
            CopySource::Heredoc(h) => h.content.as_str(),
            CopySource::Path(_) => panic!(),
        })
        .collect();
    assert_eq!(contents, vec!["1\n", "2\n"]);
    let c = copy("ADD <<EOF local.txt /d/\nx\nEOF");
    assert!(matches!(c.sources[0], CopySource::Heredoc(_)));
    assert_eq!(c.sources[1], CopySource::Path("local.txt".into()));
}

#[test]
fn heredoc_unterminated() {
    assert_eq!(
        err("FROM a\nRUN <<EOF\necho\n"),
        "Containerfile:2: unterminated heredoc: no line \"EOF\" ends it"
    );
    // Without <<-, an indented terminator does not end the body.
    assert!(parse("FROM a\nRUN <<EOF\n\tEOF\n").is_err());
}

#[test]
fn instructions_not_taking_heredocs_keep_text() {
    // CMD does not read heredocs: the next lines are instructions.
    let e = err("FROM a\nCMD cat <<EOF\nhello\nEOF\n");
    assert_eq!(e, "Containerfile:3: unknown instruction \"hello\"");
}

#[test]
fn original_text_for_history() {
    let v = body("COPY --chown=1:1 a /b\nENV A=1 \\\n    B=2\n");
    assert_eq!(v[0].original, "COPY --chown=1:1 a /b");
    assert_eq!(v[1].original, "ENV A=1     B=2");
    let cf = parse("FROM  alpine:3.20   AS   base\n").unwrap();
    assert_eq!(cf.stages[0].original, "FROM  alpine:3.20   AS   base");
}

#[test]
fn expansion_of_parsed_values() {
    // The executor's use: expand raw values with the stage's variables.
    let vars = |k: &str| match k {
        "BASE" => Some("alpine".to_string()),
        "VER" => Some("1.2".to_string()),
        _ => None,
    };
    let cf = parse("ARG BASE\nFROM ${BASE}:${TAG:-latest}\nENV APP=\"my app\" V=v$VER\nCOPY app-${VER}.tar /opt/\n").unwrap();
    assert_eq!(
        expand(&cf.stages[0].base, cf.escape, &vars).unwrap(),
        "alpine:latest"
    );
    let InstructionKind::Env(pairs) = &cf.stages[0].instructions[0].kind else {
        panic!()
    };
    let values: Vec<String> = pairs
        .iter()
        .map(|p| expand(&p.value, cf.escape, &vars).unwrap())
        .collect();
    assert_eq!(values, vec!["my app", "v1.2"]);
    let InstructionKind::Copy(c) = &cf.stages[0].instructions[1].kind else {
        panic!()
    };
    let CopySource::Path(src) = &c.sources[0] else {
        panic!()
    };
    assert_eq!(expand(src, cf.escape, &vars).unwrap(), "app-1.2.tar");
}
