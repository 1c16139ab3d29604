//! The realistic Containerfiles under `tests/data/` parse into the expected
//! shape. They will also drive the build executor's tests.

use std::path::PathBuf;

use berth_build::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(name: &str) -> Containerfile {
    let text = std::fs::read_to_string(data(name)).unwrap();
    parse_named(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Each stage as `name base: KEYWORD KEYWORD ...`.
fn outline(cf: &Containerfile) -> Vec<String> {
    cf.stages
        .iter()
        .map(|s| {
            let kws: Vec<&str> = s.instructions.iter().map(|i| i.keyword()).collect();
            format!(
                "{} {}: {}",
                s.name.as_deref().unwrap_or("-"),
                s.base,
                kws.join(" ")
            )
        })
        .collect()
}

#[test]
fn samples_parse_into_the_expected_outline() {
    let cases: &[(&str, &[&str])] = &[
        (
            "multistage-go.Containerfile",
            &[
                "build golang:${GO_VERSION}-alpine: ARG WORKDIR RUN COPY RUN",
                "final alpine:${ALPINE_VERSION}: RUN COPY LABEL USER EXPOSE ENTRYPOINT CMD",
            ],
        ),
        (
            "heredocs.Containerfile",
            &["- debian:bookworm-slim: ARG RUN RUN RUN COPY COPY RUN CMD"],
        ),
        (
            "windows-escape.Dockerfile",
            &["- mcr.microsoft.com/windows/servercore:ltsc2022: SHELL ENV WORKDIR COPY RUN ENTRYPOINT"],
        ),
        (
            "node-app.Dockerfile",
            &[
                "base node:20-slim: ENV ENV WORKDIR",
                "deps base: COPY RUN",
                "- base: MAINTAINER SHELL COPY COPY ADD VOLUME EXPOSE STOPSIGNAL HEALTHCHECK ONBUILD ONBUILD USER CMD",
            ],
        ),
    ];
    for (file, want) in cases {
        assert_eq!(outline(&load(file)), *want, "{file}");
    }
}

#[test]
fn multistage_details() {
    let cf = load("multistage-go.Containerfile");
    let names: Vec<_> = cf.global_args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["GO_VERSION", "ALPINE_VERSION"]);
    assert_eq!(cf.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    let InstructionKind::Run(r) = &cf.stages[0].instructions[4].kind else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[1].id.as_deref(), Some("gobuild"));
    assert_eq!(r.mounts[1].sharing, CacheSharing::Locked);
    assert_eq!(
        r.command,
        CommandForm::Shell(
            "CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH     go build -trimpath -o /out/server ./cmd/server".into()
        )
    );
    let InstructionKind::Copy(c) = &cf.stages[1].instructions[1].kind else {
        panic!()
    };
    assert_eq!(cf.resolve_stage(c.from.as_deref().unwrap(), 1), Some(0));
    // FROM lines expand with the global args.
    let globals = |k: &str| {
        cf.global_args
            .iter()
            .find(|a| a.name == k)
            .and_then(|a| a.default.clone())
    };
    assert_eq!(
        expand(&cf.stages[1].base, cf.escape, &globals).unwrap(),
        "alpine:3.20"
    );
}

#[test]
fn heredoc_details() {
    let cf = load("heredocs.Containerfile");
    let ins = &cf.stages[0].instructions;
    let InstructionKind::Run(r) = &ins[1].kind else {
        panic!()
    };
    assert!(r
        .shell_script()
        .unwrap()
        .starts_with("set -e\napt-get update\n"));
    let InstructionKind::Run(r) = &ins[2].kind else {
        panic!()
    };
    assert_eq!(
        r.shell_script().unwrap(),
        "<<-EOT bash\nif [ -n \"$GREETING\" ]; then\necho \"$GREETING\" > /greeting\nfi\nEOT"
    );
    let InstructionKind::Run(r) = &ins[3].kind else {
        panic!()
    };
    assert!(r.shebang_script().is_some());
    let InstructionKind::Copy(c) = &ins[4].kind else {
        panic!()
    };
    let [CopySource::Heredoc(h)] = c.sources.as_slice() else {
        panic!()
    };
    let vars = |k: &str| match k {
        "GREETING" => Some("hi".to_string()),
        "PATH" => Some("/bin".to_string()),
        _ => None,
    };
    assert_eq!(
        expand_heredoc(&h.content, cf.escape, &vars).unwrap(),
        "greeting=hi\npath=\"/bin\"\n"
    );
    let InstructionKind::Copy(c) = &ins[5].kind else {
        panic!()
    };
    assert_eq!(c.sources.len(), 2);
    assert_eq!(c.dest, "/etc/app/");
    let InstructionKind::Run(r) = &ins[6].kind else {
        panic!()
    };
    assert_eq!(r.heredocs.len(), 1);
    assert_eq!(ins[7].line, 31);
}

#[test]
fn windows_escape_details() {
    let cf = load("windows-escape.Dockerfile");
    assert_eq!(cf.escape, '`');
    let ins = &cf.stages[0].instructions;
    let InstructionKind::Env(env) = &ins[1].kind else {
        panic!()
    };
    assert_eq!(
        expand(&env[0].value, cf.escape, &|_| None).unwrap(),
        r"C:\app"
    );
    let InstructionKind::Copy(c) = &ins[3].kind else {
        panic!()
    };
    assert_eq!(c.dest, r"C:\app\bin\");
    let InstructionKind::Run(r) = &ins[4].kind else {
        panic!()
    };
    assert_eq!(
        r.command,
        CommandForm::Shell(
            r#"New-Item -ItemType Directory -Path C:\data ;     Write-Host "created" ;     Write-Host "done""#.into()
        )
    );
    assert_eq!((ins[4].line, ins[4].end_line), (8, 11));
}

#[test]
fn node_app_details() {
    let cf = load("node-app.Dockerfile");
    let base = &cf.stages[0].instructions;
    let InstructionKind::Env(e) = &base[0].kind else {
        panic!()
    };
    assert_eq!(
        (e[0].key.as_str(), e[0].value.as_str()),
        ("NODE_ENV", "production")
    );
    let InstructionKind::Env(e) = &base[1].kind else {
        panic!()
    };
    assert_eq!(e.len(), 3);
    let last = &cf.stages[2].instructions;
    let InstructionKind::Healthcheck(Healthcheck::Cmd {
        retries, command, ..
    }) = &last[8].kind
    else {
        panic!()
    };
    assert_eq!(*retries, Some(3));
    assert_eq!(
        *command,
        CommandForm::Shell("curl -fsS http://localhost:${PORT}/health || exit 1".into())
    );
    let InstructionKind::Onbuild(t) = &last[9].kind else {
        panic!()
    };
    assert_eq!(t.original, "COPY . /app/extra");
    assert_eq!(cf.resolve_stage(&cf.stages[2].base, 2), Some(0));
}

#[test]
fn sample_ignore_file() {
    let text = std::fs::read_to_string(data("context.containerignore")).unwrap();
    let m = IgnoreMatcher::new(&text).unwrap();
    let cases = [
        (".git/config", true),
        ("web/node_modules/x/index.js", true),
        ("node_modules", true),
        ("debug.log", true),
        ("logs/debug.log", false),
        ("build/out.bin", true),
        ("build/keep.txt", false),
        ("secret.env", true),
        ("docs/guide/intro.md", true),
        ("docs/README.md", false),
        ("docs/img.png", false),
        ("src/main.rs", false),
    ];
    for (path, want) in cases {
        assert_eq!(m.is_excluded(path), want, "{path}");
    }
    assert!(!m.can_skip_dir("build"));
    assert!(m.can_skip_dir(".git"));
}

/// Every prefix of every sample, and every sample with one line dropped,
/// parses or fails cleanly: no panics on truncated or odd input.
#[test]
fn truncated_and_mangled_input_never_panics() {
    for name in [
        "multistage-go.Containerfile",
        "heredocs.Containerfile",
        "windows-escape.Dockerfile",
        "node-app.Dockerfile",
    ] {
        let text = std::fs::read_to_string(data(name)).unwrap();
        for (i, _) in text.char_indices() {
            let _ = parse(&text[..i]);
            let _ = IgnoreMatcher::new(&text[..i]);
        }
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..lines.len() {
            let mangled: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let _ = parse(&mangled.join("\n"));
        }
        for word in text.split_whitespace() {
            let _ = expand(word, '\\', &|_| Some("x y".into()));
            let _ = expand_words(word, '`', &|_| None);
            let _ = expand_heredoc(word, '\\', &|_| None);
            let _ = Mount::parse(word);
        }
    }
}
