//! `build`: Containerfiles run through the real binary; the resulting image's config and
//! files are checked with `image inspect` and `run`.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn inspect(env: &Env, image: &str) -> Value {
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

/// A context directory with these files (path, content).
fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.dir.join(name);
    for (p, c) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn instructions_set_config_and_files() {
    let env = Env::new();
    env.busybox();
    let cf = format!(
        "FROM {BUSYBOX}\n\
         ARG GREETING=hello\n\
         ENV APP=/app NAME=\"$GREETING world\"\n\
         LABEL version=1.0 \"with space\"=yes\n\
         WORKDIR $APP\n\
         COPY a.txt .\n\
         COPY --chmod=0755 dir/ sub/\n\
         COPY *.cfg /etc/cfgs/\n\
         RUN echo \"$GREETING\" > greeting && chown 1:1 greeting\n\
         RUN [\"sh\", \"-c\", \"echo exec >> /app/greeting\"]\n\
         RUN <<EOF\n\
         echo heredoc > /app/here\n\
         EOF\n\
         EXPOSE 8080 53/udp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGTERM\n\
         USER 1000:1000\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"echo hi\"]\n"
    );
    let ctx = context(
        &env,
        "ctx",
        &[
            ("Containerfile", &cf),
            ("a.txt", "A\n"),
            ("dir/x", "X\n"),
            ("dir/deep/y", "Y\n"),
            ("one.cfg", "1\n"),
            ("two.cfg", "2\n"),
            ("three.txt", "3\n"),
        ],
    );
    let out = env.ok(&["build", "-t", "built", "-t", "other:v1", s(&ctx)]);
    assert!(out.contains("STEP 1/17: FROM"), "{out}");
    assert!(out.contains("COMMIT localhost/built:latest"), "{out}");
    assert!(
        out.contains("Successfully tagged localhost/built:latest"),
        "{out}"
    );
    assert!(
        out.contains("Successfully tagged localhost/other:v1"),
        "{out}"
    );
    let id = out.lines().last().unwrap().to_string();
    assert_eq!(id.len(), 64, "{out}");

    let i = inspect(&env, "built");
    assert_eq!(i["Id"], id);
    let c = &i["Config"];
    let env_list: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env_list.contains(&"APP=/app"), "{c}");
    assert!(env_list.contains(&"NAME=hello world"), "{c}");
    assert_eq!(c["Labels"]["version"], "1.0");
    assert_eq!(c["Labels"]["with space"], "yes");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c}");
    assert!(c["ExposedPorts"]["53/udp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["echo hi"]));
    assert_eq!(env.ok(&["run", "--rm", "built"]), "hi\n");

    let files = env.ok(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        "built",
        "-c",
        "cat /app/a.txt /app/sub/x /app/sub/deep/y /etc/cfgs/one.cfg /etc/cfgs/two.cfg \
         /app/greeting /app/here; ls /etc/cfgs; stat -c %a /app/sub/x; stat -c %u /app/greeting",
    ]);
    assert_eq!(
        files,
        "A\nX\nY\n1\n2\nhello\nexec\nheredoc\none.cfg\ntwo.cfg\n755\n1\n"
    );

    // History: one entry per instruction, metadata ones without a layer.
    let h: Value = serde_json::from_str(&env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .History}}",
        "built",
    ]))
    .unwrap_or(Value::Null);
    if let Some(h) = h.as_array() {
        let by: Vec<String> = h
            .iter()
            .map(|e| e["created_by"].as_str().unwrap_or("").to_string())
            .collect();
        assert!(
            by.iter()
                .any(|b| b == "/bin/sh -c #(nop) ENV APP=/app NAME=hello world"),
            "{by:?}"
        );
        assert!(
            by.iter()
                .any(|b| b.starts_with("/bin/sh -c echo \"$GREETING\"")),
            "{by:?}"
        );
    }
}

#[test]
fn multi_stage_build_args_target_and_stdin() {
    let env = Env::new();
    env.busybox();
    let cf = format!(
        "ARG BASE={BUSYBOX}\n\
         FROM $BASE AS builder\n\
         ARG WHAT=default\n\
         RUN mkdir /out && echo \"$WHAT\" > /out/result\n\
         FROM scratch AS other\n\
         COPY --from=builder /out/result /copied\n\
         FROM $BASE\n\
         COPY --from=builder /out/ /final/\n\
         CMD [\"cat\", \"/final/result\"]\n"
    );
    let ctx = context(&env, "ms", &[("Dockerfile", &cf)]);
    env.ok(&[
        "build",
        "-q",
        "--build-arg",
        "WHAT=given",
        "-t",
        "ms",
        s(&ctx),
    ]);
    assert_eq!(env.ok(&["run", "--rm", "ms"]), "given\n");
    // --target stops at a stage; -f - reads stdin.
    let out = env.ok(&["build", "--target", "builder", "-t", "b1", s(&ctx)]);
    assert!(out.contains("STEP 3/3"), "{out}");
    assert_eq!(
        env.ok(&["run", "--rm", "b1", "cat", "/out/result"]),
        "default\n"
    );
    let mut c = env.cmd();
    c.args(["build", "-q", "-t", "fromstdin", "-f", "-", s(&ctx)]);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("FROM {BUSYBOX}\nLABEL from=stdin\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(
        inspect(&env, "fromstdin")["Config"]["Labels"]["from"],
        "stdin"
    );
    let unknown = env.fails(125, &["build", "--target", "nope", s(&ctx)]);
    assert!(unknown.contains("nope"), "{unknown}");
}

#[test]
fn ignore_file_with_exception() {
    let env = Env::new();
    env.busybox();
    let ctx = context(
        &env,
        "ign",
        &[
            ("Containerfile", &format!("FROM {BUSYBOX}\nCOPY . /ctx/\n")),
            (".containerignore", "*.log\n!keep.log\nsecret/\n"),
            ("a.log", "no"),
            ("keep.log", "yes"),
            ("secret/key", "no"),
            ("ok.txt", "ok"),
        ],
    );
    env.ok(&["build", "-q", "-t", "ign", s(&ctx)]);
    let ls = env.ok(&["run", "--rm", "ign", "ls", "/ctx"]);
    assert_eq!(ls, "Containerfile\nkeep.log\nok.txt\n");
}

#[test]
fn cache_hits_and_misses() {
    let env = Env::new();
    env.busybox();
    let host = env.dir.join("runs");
    std::fs::create_dir_all(&host).unwrap();
    let ctx = context(
        &env,
        "cache",
        &[
            (
                "Containerfile",
                &format!(
                    "FROM {BUSYBOX}\nRUN echo ran >> /host/runs\nCOPY a /a\nCOPY b /b\nRUN cat /a /b > /ab\n"
                ),
            ),
            ("a", "1"),
            ("b", "2"),
        ],
    );
    let vol = format!("{}:/host", host.display());
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "-v", &vol, "-t", "cached"];
        args.extend_from_slice(extra);
        args.push(s(&ctx));
        env.ok(&args)
    };
    let first = build(&[]);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = first.lines().last().unwrap().to_string();
    let second = build(&[]);
    assert_eq!(second.matches("--> Using cache").count(), 4, "{second}");
    assert_eq!(second.lines().last().unwrap(), id1);
    // The RUN did not run again.
    assert_eq!(std::fs::read_to_string(host.join("runs")).unwrap(), "ran\n");
    // Intermediate images are hidden from `images` but not from `images -a`.
    let shown = env.ok(&["images", "-q"]);
    let all = env.ok(&["images", "-a", "-q"]);
    assert!(
        all.lines().count() > shown.lines().count(),
        "{shown} / {all}"
    );
    // A changed file invalidates its step and the ones after it only.
    std::fs::write(ctx.join("b"), "3").unwrap();
    let third = build(&[]);
    assert_eq!(third.matches("--> Using cache").count(), 2, "{third}");
    assert_eq!(env.ok(&["run", "--rm", "cached", "cat", "/ab"]), "13");
    // --no-cache runs everything again.
    let fourth = build(&["--no-cache"]);
    assert!(!fourth.contains("Using cache"), "{fourth}");
    assert_eq!(
        std::fs::read_to_string(host.join("runs")).unwrap(),
        "ran\nran\n"
    );
}

#[test]
fn failing_run_leaves_nothing_behind() {
    let env = Env::new();
    env.busybox();
    let before = env.ok(&["images", "-a", "-q"]);
    let ctx = context(
        &env,
        "fail",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN echo to-stdout; echo to-stderr >&2; exit 3\n"),
        )],
    );
    let r = env.run(&["build", "--layers=false", "-t", "never", s(&ctx)]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("to-stdout"), "{}", r.stdout);
    assert!(r.stderr.contains("to-stderr"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Error: building at STEP \"RUN echo to-stdout; echo to-stderr >&2; exit 3\": while running runtime: exit status 3"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["images", "-a", "-q"]), before);
}

#[test]
fn bad_input() {
    let env = Env::new();
    env.busybox();
    let cases: &[(&str, &str)] = &[
        ("FROM scratch\nFROBNICATE x\n", "Containerfile:2"),
        ("FROM scratch\nCOPY missing /x\n", "Containerfile:2"),
        (
            "FROM scratch\nCOPY ../outside /x\n",
            "outside the build context",
        ),
        (
            "FROM scratch\nCOPY --from=nostage /a /b\n",
            "Containerfile:2",
        ),
    ];
    for (i, (cf, want)) in cases.iter().enumerate() {
        let ctx = context(&env, &format!("bad{i}"), &[("Containerfile", cf)]);
        let err = env.fails(125, &["build", s(&ctx)]);
        assert!(err.contains(want), "{cf}: {err}");
    }
    let empty = env.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = env.fails(125, &["build", s(&empty)]);
    assert!(err.contains("no Containerfile or Dockerfile"), "{err}");
}

#[test]
fn run_mounts_cache_bind_secret_tmpfs() {
    let env = Env::new();
    env.busybox();
    let secret = env.dir.join("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let extra = context(&env, "extra", &[("from-extra", "E\n")]);
    let cf = format!(
        "FROM {BUSYBOX} AS first\n\
         RUN echo staged > /staged && mkdir /sd && echo seed > /sd/f\n\
         FROM {BUSYBOX}\n\
         RUN --mount=type=cache,target=/cache,id=c1 echo x >> /cache/log && wc -l < /cache/log > /count\n\
         RUN --mount=type=bind,target=/ctx cat /ctx/in.txt > /from-ctx\n\
         RUN --mount=type=bind,source=in.txt,target=/one.txt,rw echo more >> /one.txt && cat /one.txt > /rw-copy\n\
         RUN --mount=type=bind,from=first,source=/staged,target=/st cat /st > /from-stage\n\
         RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen-secret && stat -c %a /run/secrets/tok > /secret-mode\n\
         RUN --mount=type=secret,id=tok,env=TOK,target=/s/t echo \"$TOK\" > /seen-env\n\
         RUN --mount=type=tmpfs,target=/scratchpad grep -q '/scratchpad tmpfs' /proc/mounts && echo tmpfs > /tmpfs\n\
         RUN --network=none ls /sys/class/net > /nets\n\
         RUN --mount=type=cache,id=seeded,target=/seed,from=first,source=/sd cat /seed/f > /seeded\n\
         RUN --mount=type=cache,id=c1,target=/c,sharing=private cat /c/log > /private\n\
         RUN --mount=type=cache,id=c1,target=/c,sharing=locked cat /c/log > /locked\n\
         COPY --from=extra from-extra /\n"
    );
    let ctx = context(
        &env,
        "mounts",
        &[("Containerfile", &cf), ("in.txt", "context file\n")],
    );
    let sec = format!("id=tok,src={}", secret.display());
    let bc = format!("extra={}", extra.display());
    let args = [
        "build",
        "--secret",
        &sec,
        "--build-context",
        &bc,
        "-t",
        "mnt",
        s(&ctx),
    ];
    env.ok(&args);
    let show = |f: &str| env.ok(&["run", "--rm", "mnt", "cat", f]);
    assert_eq!(show("/count"), "1\n");
    assert_eq!(show("/from-ctx"), "context file\n");
    assert_eq!(show("/rw-copy"), "context file\nmore\n");
    assert_eq!(show("/from-stage"), "staged\n");
    assert_eq!(show("/seen-secret"), "s3cret");
    assert_eq!(show("/secret-mode"), "400\n");
    assert_eq!(show("/seen-env"), "s3cret\n");
    assert_eq!(show("/tmpfs"), "tmpfs\n");
    assert_eq!(show("/nets"), "lo\n");
    assert_eq!(show("/from-extra"), "E\n");
    assert_eq!(show("/seeded"), "seed\n");
    assert_eq!(show("/private"), "x\n");
    assert_eq!(show("/locked"), "x\n");
    // rw bind writes do not reach the context; the secret is not in the image.
    assert_eq!(
        std::fs::read_to_string(ctx.join("in.txt")).unwrap(),
        "context file\n"
    );
    let r = env.run(&["run", "--rm", "mnt", "cat", "/run/secrets/tok"]);
    assert_ne!(r.stdout, "s3cret");
    // Mount points made for the steps are not left in the image (as with Podman).
    let left = env.run(&[
        "run",
        "--rm",
        "mnt",
        "ls",
        "-d",
        "/cache",
        "/ctx",
        "/one.txt",
        "/st",
        "/scratchpad",
        "/s",
    ]);
    assert_eq!(left.stdout, "", "{}", left.stdout);
    // The cache mount persists between builds.
    let mut again = args.to_vec();
    again.insert(1, "--no-cache");
    env.ok(&again);
    assert_eq!(show("/count"), "2\n");
    // A required secret that was not given fails the build at its line.
    let req = context(
        &env,
        "req",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN --mount=type=secret,id=nope,required true\n"),
        )],
    );
    let err = env.fails(125, &["build", s(&req)]);
    assert!(err.contains("Containerfile:2"), "{err}");
}

#[test]
fn failing_run_with_layers_keeps_only_the_cache() {
    let env = Env::new();
    env.busybox();
    let ctx = context(
        &env,
        "failc",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN echo ok > /ok\nRUN exit 7\n"),
        )],
    );
    let r = env.run(&["build", "-t", "never", s(&ctx)]);
    assert_eq!(r.code, 7, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // The first RUN's image stays as cache (as Podman keeps it); nothing else does.
    let all = env.ok(&["images", "-a", "-q"]);
    assert_eq!(all.lines().count(), 2, "{all}");
    assert_eq!(env.ok(&["images", "-q", "never"]), "");
    let again = env.run(&["build", "-t", "never", s(&ctx)]);
    assert!(again.stdout.contains("--> Using cache"), "{}", again.stdout);
    assert_eq!(env.ok(&["images", "-a", "-q"]), all);
}

#[test]
fn signal_stops_the_running_step() {
    let env = Env::new();
    env.busybox();
    let ctx = context(
        &env,
        "sig",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN echo started; sleep 60\n"),
        )],
    );
    for sig in [2, 15] {
        let mut c = env.cmd();
        c.args(["build", "--no-cache", "-t", "sig", s(&ctx)]);
        c.stdout(std::process::Stdio::piped());
        c.stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let start = std::time::Instant::now();
        loop {
            line.clear();
            use std::io::BufRead;
            assert!(out.read_line(&mut line).unwrap() > 0, "build ended early");
            if line.contains("started") {
                break;
            }
        }
        std::process::Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(128 + sig), "{o:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        assert_eq!(env.ok(&["images", "-q", "sig"]), "");
    }
}

#[test]
fn workdir_onbuild_and_docker_format() {
    let env = Env::new();
    env.busybox();
    let base = context(
        &env,
        "onb",
        &[(
            "Containerfile",
            &format!(
                "FROM {BUSYBOX}\nWORKDIR /made/here\nONBUILD RUN echo triggered > /trig\nONBUILD LABEL from=trigger\nCMD [\"pwd\"]\n"
            ),
        )],
    );
    env.ok(&["build", "--format", "docker", "-t", "onb", s(&base)]);
    // The directory is in the image, not only made by the runtime at start.
    assert_eq!(
        env.ok(&["run", "--rm", "-w", "/", "onb", "ls", "-d", "/made/here"]),
        "/made/here\n"
    );
    let i = inspect(&env, "onb");
    assert_eq!(i["Config"]["WorkingDir"], "/made/here");
    assert!(
        i["ManifestType"]
            .as_str()
            .unwrap_or("")
            .contains("docker.distribution.manifest.v2"),
        "{}",
        i["ManifestType"]
    );
    // A build FROM it runs the triggers; they are not inherited further.
    let child = context(
        &env,
        "child",
        &[("Containerfile", "FROM localhost/onb\nRUN cat /trig\n")],
    );
    let out = env.ok(&["build", "--format", "docker", "-t", "child", s(&child)]);
    assert!(out.contains("triggered"), "{out}");
    assert_eq!(
        inspect(&env, "child")["Config"]["Labels"]["from"],
        "trigger"
    );
    let grand = context(
        &env,
        "grand",
        &[("Containerfile", "FROM localhost/child\nLABEL g=1\n")],
    );
    let out = env.ok(&["build", "--format", "docker", s(&grand)]);
    assert!(!out.contains("ONBUILD"), "{out}");
}

/// Flags that shape the final image, one build each: (flags, check on `image inspect`).
#[test]
fn final_image_flags() {
    let env = Env::new();
    env.busybox();
    let args_file = env.dir.join("args");
    std::fs::write(&args_file, "# comment\nFROMFILE=filed\n").unwrap();
    let cf = format!(
        "FROM {BUSYBOX}\nARG FROMFILE\nRUN echo one > /one\nRUN echo two > /two && rm /one\nRUN echo \"$FROMFILE $E1\" > /args\n"
    );
    let ctx = context(&env, "flags", &[("Containerfile", &cf)]);
    let af = args_file.to_str().unwrap().to_string();
    type Check = fn(&Env, &Value);
    let cases: Vec<(Vec<&str>, Check)> = vec![
        (
            vec!["--build-arg-file", &af, "--env", "E1=env1"],
            |env, i| {
                let e = i["Config"]["Env"].to_string();
                assert!(e.contains("E1=env1"), "{e}");
                assert_eq!(
                    env.ok(&["run", "--rm", "flagged", "cat", "/args"]),
                    "filed env1\n"
                );
            },
        ),
        (vec!["--annotation", "org.example.a=b"], |_, i| {
            assert_eq!(i["Annotations"]["org.example.a"], "b", "{i}");
        }),
        (vec!["--timestamp", "1700000000"], |env, i| {
            assert_eq!(
                env.ok(&["run", "--rm", "flagged", "stat", "-c", "%Y", "/two"]),
                "1700000000\n"
            );
            assert_eq!(i["Created"], "2023-11-14T22:13:20Z", "{i}");
            for h in i["History"].as_array().unwrap() {
                assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
            }
        }),
        (vec!["--squash"], |env, i| {
            assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 2, "{i}");
            let ls = env.run(&["run", "--rm", "flagged", "ls", "/one", "/two"]);
            assert!(
                ls.stdout.contains("/two") && !ls.stdout.contains("/one"),
                "{}",
                ls.stdout
            );
        }),
        (vec!["--squash-all"], |env, i| {
            assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1, "{i}");
            assert_eq!(env.ok(&["run", "--rm", "flagged", "cat", "/two"]), "two\n");
        }),
    ];
    for (flags, check) in cases {
        let mut args = vec!["build", "-q", "-t", "flagged"];
        args.extend(flags.iter().copied());
        args.push(s(&ctx));
        let id = env.ok(&args);
        let i = inspect(&env, "flagged");
        assert_eq!(i["Id"], id.trim(), "{flags:?}");
        check(&env, &i);
    }
    // A timestamped build is reproducible.
    let a = env.ok(&["build", "-q", "--no-cache", "--timestamp", "0", s(&ctx)]);
    let b = env.ok(&["build", "-q", "--no-cache", "--timestamp", "0", s(&ctx)]);
    assert_eq!(a, b);
}

#[test]
fn pull_policies_stdin_tar_context_and_hosts() {
    let env = Env::new();
    env.busybox();
    let ctx = context(
        &env,
        "pp",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN cat /etc/hosts > /hosts-seen\n"),
        )],
    );
    // The test image exists only locally: `always` must pull and fails, `newer` keeps it.
    let cases: &[(&str, i32)] = &[
        ("--pull=missing", 0),
        ("--pull=never", 0),
        ("--pull=newer", 0),
        ("--pull=always", 125),
    ];
    for (flag, code) in cases {
        let r = env.run(&["build", "-q", flag, s(&ctx)]);
        assert_eq!(r.code, *code, "{flag}: {}{}", r.stdout, r.stderr);
    }
    let gone = context(
        &env,
        "pp2",
        &[("Containerfile", "FROM localhost/not/here\n")],
    );
    let err = env.fails(125, &["build", "--pull=never", s(&gone)]);
    assert!(err.contains("Containerfile:1"), "{err}");

    env.ok(&[
        "build",
        "--no-cache",
        "--add-host",
        "buildhost:10.1.2.3",
        "-t",
        "hosts",
        s(&ctx),
    ]);
    let seen = env.ok(&["run", "--rm", "hosts", "cat", "/hosts-seen"]);
    assert!(
        seen.contains("10.1.2.3") && seen.contains("buildhost"),
        "{seen}"
    );
    // --no-hosts: the RUN steps see the image's /etc/hosts (busybox's has none).
    let nh = context(
        &env,
        "nh",
        &[(
            "Containerfile",
            &format!(
                "FROM {BUSYBOX}\nRUN cat /etc/hosts > /seen 2>/dev/null || echo none > /seen\n"
            ),
        )],
    );
    env.ok(&["build", "-q", "--no-hosts", "-t", "nohosts", s(&nh)]);
    assert_eq!(
        env.ok(&["run", "--rm", "nohosts", "cat", "/seen"]),
        "none\n"
    );
    // RUN --network=host: the step has the host's interfaces.
    let hn = context(
        &env,
        "hn",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN --network=host ls /sys/class/net > /nets\n"),
        )],
    );
    env.ok(&["build", "-q", "-t", "hostnet", s(&hn)]);
    let nets = env.ok(&["run", "--rm", "hostnet", "cat", "/nets"]);
    let host_has = |n: &str| std::path::Path::new("/sys/class/net").join(n).exists();
    let listed: Vec<&str> = nets.lines().collect();
    assert!(
        listed.len() > 1
            && listed
                .iter()
                .filter(|n| !n.starts_with("bt") && !n.starts_with("veth"))
                .all(|n| host_has(n) || n.starts_with("berth")),
        "{nets}"
    );

    // `build -` with a tar of the context on stdin.
    let tarball = env.dir.join("ctx.tar");
    std::fs::write(
        ctx.join("Containerfile"),
        format!("FROM {BUSYBOX}\nCOPY Containerfile /cf\n"),
    )
    .unwrap();
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(&ctx)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = env.cmd();
    c.args(["build", "-q", "-t", "tarctx", "-"]);
    c.stdin(std::fs::File::open(&tarball).unwrap());
    let o = c.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        env.ok(&["run", "--rm", "tarctx", "head", "-1", "/cf"]),
        format!("FROM {BUSYBOX}\n")
    );
}

/// Serves `body` over HTTP on 127.0.0.1 for `n` requests; returns the port.
fn serve(body: &'static [u8], n: usize) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for s in l.incoming().take(n) {
            let Ok(mut s) = s else { continue };
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    port
}

#[test]
fn add_url_with_checksum() {
    let env = Env::new();
    env.busybox();
    const BODY: &[u8] = b"downloaded\n";
    let sum = "sha256:0d1d50b2c5a4d8a7e4b1f9c3a1ef0c4bd3d2f4a8e9a27b1f6f1ae8d7b0c2d6e9";
    let port = serve(BODY, 3);
    let good = {
        use sha2::Digest;
        format!("sha256:{:x}", sha2::Sha256::digest(BODY))
    };
    let cases: &[(String, i32)] = &[
        (
            format!("ADD --checksum={good} http://127.0.0.1:{port}/files/data.txt /dl/\n"),
            0,
        ),
        (
            format!("ADD http://127.0.0.1:{port}/files/data.txt /named\n"),
            0,
        ),
        (
            format!("ADD --checksum={sum} http://127.0.0.1:{port}/files/data.txt /bad\n"),
            125,
        ),
    ];
    for (i, (line, code)) in cases.iter().enumerate() {
        let ctx = context(
            &env,
            &format!("url{i}"),
            &[("Containerfile", &format!("FROM {BUSYBOX}\n{line}"))],
        );
        let r = env.run(&["build", "-t", &format!("url{i}"), s(&ctx)]);
        assert_eq!(r.code, *code, "{line}: {}{}", r.stdout, r.stderr);
        if *code != 0 {
            assert!(r.stderr.contains("checksum"), "{}", r.stderr);
            assert!(r.stderr.contains("Containerfile:2"), "{}", r.stderr);
        }
    }
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "url0",
            "sh",
            "-c",
            "cat /dl/data.txt; stat -c %a /dl/data.txt"
        ]),
        "downloaded\n600\n"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "url1", "cat", "/named"]),
        "downloaded\n"
    );
}

/// The config of a metadata + COPY build is the one `podman build` gives (when Podman is
/// installed; its RUN may fail here on rlimits, so the file has none), in both formats.
#[test]
fn config_matches_podman_build() {
    let env = Env::new();
    env.busybox();
    let cf = format!(
        "FROM {BUSYBOX}\n\
         ARG V=1.0\n\
         ENV A=1 B=\"two words\" PATH=/opt/bin:$PATH\n\
         LABEL version=$V \"with space\"=yes\n\
         WORKDIR /app\n\
         WORKDIR sub\n\
         COPY a.txt ./\n\
         EXPOSE 80 53/udp\n\
         VOLUME [\"/data\", \"/logs\"]\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q localhost || exit 1\n\
         USER 1000:1000\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         ENTRYPOINT [\"/bin/sh\"]\n\
         CMD echo shell form\n"
    );
    let ctx = context(&env, "cmp", &[("Containerfile", &cf), ("a.txt", "A\n")]);
    let Some(pm) = Podman::new(&env) else {
        eprintln!("skipped: podman is not installed");
        return;
    };
    let podman = |args: &[&str]| pm.ok(args);
    podman(&[
        "load",
        "-q",
        "-i",
        images().join("busybox-oci.tar").to_str().unwrap(),
    ]);
    let fields = [
        "Cmd",
        "Entrypoint",
        "Env",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
    ];
    for format in ["oci", "docker"] {
        podman(&[
            "build",
            "-q",
            "--pull=never",
            "--format",
            format,
            "-t",
            "cmp",
            s(&ctx),
        ]);
        env.ok(&["build", "-q", "--format", format, "-t", "cmp", s(&ctx)]);
        let theirs: Value = serde_json::from_str(&podman(&["image", "inspect", "cmp"])).unwrap();
        let ours = inspect(&env, "cmp");
        let mut config = theirs[0]["Config"].clone();
        if let Some(l) = config["Labels"].as_object_mut() {
            l.remove("io.buildah.version");
        }
        assert_eq!(ours["Healthcheck"], theirs[0]["Healthcheck"], "{format}");
        let differ: Vec<String> = fields
            .iter()
            .filter(|f| ours["Config"][**f] != config[**f])
            .map(|f| format!("{f}: berth {} podman {}", ours["Config"][*f], config[*f]))
            .collect();
        assert!(differ.is_empty(), "{format}: {differ:#?}");
        let file = env.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            "cmp",
            "/app/sub/a.txt",
        ]);
        assert_eq!(file, "A\n");
    }
    // An image berth built (a RUN layer included) loads and runs under Podman.
    let ran = context(
        &env,
        "ran",
        &[(
            "Containerfile",
            &format!("FROM {BUSYBOX}\nRUN echo built by berth > /made\nCMD [\"cat\", \"/made\"]\n"),
        )],
    );
    env.ok(&["build", "-q", "-t", "localhost/ran:1", s(&ran)]);
    let archive = env.dir.join("ran.tar");
    env.ok(&["save", "-o", s(&archive), "localhost/ran:1"]);
    podman(&["load", "-q", "-i", s(&archive)]);
    let mut args = vec!["run", "--rm"];
    args.extend(Podman::RUN_FLAGS);
    args.push("localhost/ran:1");
    let out = podman(&args);
    assert_eq!(out, "built by berth\n");
}
