#!/usr/bin/env bash
# Benchmarks berth side by side with Podman 4.3.1 (runc) and the raw runc floor, and
# appends the medians and ratios to docs/PERFORMANCE.md. Not run by CI.
#
#   sudo ./scripts/bench.sh [--no-record]
#
# Every engine works in throw-away directories under a fresh /var/tmp/berth-bench.XXXXXX
# (never /var/lib/berth or the real Podman storage), removed on exit even on failure.
# Environment: RUNS (minimum hyperfine runs for quick scenarios, default 20), RM_RUNS
# (runs of the rm-100 scenario, default 5), BIG (containers for the large ps, default
# 1000), BERTH_BIN (binary to measure; default: cargo build --release, target/release/berth),
# ONLY (space-separated scenarios to run: run exec ps rm pull net build userns; default
# all).
# --no-record prints the result table without touching docs/PERFORMANCE.md.
# The engine command prefixes ($berth, $podman, $runc, $pod_ulimits) are meant to split.
# shellcheck disable=SC2086,SC2016
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO"

record=1
case ${1:-} in
    --no-record) record=0 ;;
    "") ;;
    *) die "usage: $0 [--no-record]" ;;
esac
[[ $EUID -eq 0 ]] || die "run as root: sudo $0"

runs=${RUNS:-20}
rm_runs=${RM_RUNS:-5}
big=${BIG:-1000}
img=localhost/berth-test/busybox:latest

say "checking packages (hyperfine, podman, GNU time)"
ensure_packages hyperfine podman time procps skopeo docker-registry
ensure_netavark

if [[ -z ${BERTH_BIN:-} ]]; then
    find_cargo
    say "building the release binary"
    cargo build --release --bin berth
    BERTH_BIN=$BERTH_REPO/target/release/berth
fi
[[ -x $BERTH_BIN ]] || die "$BERTH_BIN is not executable"

W=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
chmod 0755 "$W"

# Command prefixes. Paths have no spaces, so they can go into hyperfine command strings.
berth="$BERTH_BIN --root $W/berth/root --runroot $W/berth/run --storage-driver overlay --runtime runc --cgroup-manager cgroupfs"
# --events-backend file: there is no journald here. The --ulimit flags: Podman's default
# rlimits (nofile/nproc 1048576) exceed this sandbox's hard limits, and without
# CAP_SYS_RESOURCE runc then fails with "error setting rlimit type 7: operation not
# permitted"; berth clamps its defaults to the caller's hard limits by itself.
podman="podman --root $W/podman/root --runroot $W/podman/run --tmpdir $W/podman/tmp --storage-driver overlay --runtime runc --cgroup-manager cgroupfs --events-backend file"
pod_ulimits="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
runc="runc --root $W/runc/state"

cleanup() {
    set +e
    trap - EXIT INT TERM
    say "cleaning up $W"
    $berth rm -a -f -t 0 >/dev/null 2>&1
    $podman rm -a -f -t 0 >/dev/null 2>&1
    [[ -n ${registry_pid:-} ]] && kill "$registry_pid" 2>/dev/null
    $runc delete -f bench-exec >/dev/null 2>&1
    $runc delete -f bench-exec-same >/dev/null 2>&1
    $runc delete -f bench-run >/dev/null 2>&1
    # Whatever is still mounted below $W (Podman makes its overlay dir a mount point),
    # deepest first.
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m"; done
    rmdir /sys/fs/cgroup/*/berth-bench /sys/fs/cgroup/berth-bench 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- set-up --------------------------------------------------------------------------
say "building the busybox images and loading them into berth and podman"
bash scripts/mkimages.sh "$W/images" >/dev/null
$berth load -i "$W/images/busybox-oci.tar" >/dev/null
$podman load -i "$W/images/busybox-oci.tar" >/dev/null 2>&1

# runc bundles: the same busybox rootfs, config.json from `runc spec`, no terminal.
mkdir -p "$W/runc/rootfs" "$W/runc/run" "$W/runc/exec" "$W/runc/state"
tar -C "$W/runc/rootfs" -xf "$W/images/rootfs.tar"
(cd "$W/runc/run" && runc spec)
python3 - "$W/runc" <<'EOF'
import json, sys
d = sys.argv[1]
with open(f"{d}/run/config.json") as f:
    spec = json.load(f)
spec["root"]["path"] = f"{d}/rootfs"
spec["process"]["terminal"] = False
for name, args in (("run", ["true"]), ("exec", ["sleep", "1000000"])):
    spec["process"]["args"] = args
    with open(f"{d}/{name}/config.json", "w") as f:
        json.dump(spec, f, indent=1)
EOF

# The fair floor: raw runc running the very spec berth generates (Podman's seccomp
# profile, masked paths, rlimits, capabilities), so that the ratio measures berth's own
# overhead and not the cost of the security settings (the seccomp filter alone adds
# ~17 ms to every runc start and exec here). Only the bind mounts of berth's
# /etc/hosts-style files are dropped, which makes this floor slightly cheaper still.
cid=$($berth create --network none "$img" true)
$berth init "$cid" >/dev/null
mkdir -p "$W/runc/run-same" "$W/runc/exec-same"
python3 - "$W/runc" "$W/berth/root/containers/$cid/config.json" <<'EOF2'
import json, sys
d, src = sys.argv[1:]
with open(src) as f:
    spec = json.load(f)
spec["root"] = {"path": f"{d}/rootfs", "readonly": False}
spec["mounts"] = [m for m in spec["mounts"] if m.get("type") != "bind"]
for name, args in (("run-same", ["true"]), ("exec-same", ["sleep", "1000000"])):
    spec["process"]["args"] = args
    spec["linux"]["cgroupsPath"] = f"/berth-bench/{name}"
    with open(f"{d}/{name}/config.json", "w") as f:
        json.dump(spec, f, indent=1)
EOF2
$berth rm -f "$cid" >/dev/null

# want SCENARIO: whether ONLY (if set) asks for it.
want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }

# hf NAME HYPERFINE-ARGS...: one hyperfine run, results in $W/NAME.json.
hf() {
    local name=$1
    shift
    say "scenario: $name"
    hyperfine --style basic -N --export-json "$W/$name.json" "$@"
}

# rss_kib PID: resident set of PID plus its children running the same program (a
# monitor's helpers), in KiB; the container's own processes are not counted.
rss_kib() {
    local pid=$1 comm total
    comm=$(ps -o comm= -p "$pid")
    total=$(ps -o rss= -p "$pid")
    while read -r rss c; do
        [[ $c == "$comm" ]] && total=$((total + rss))
    done < <(ps -o rss=,comm= --ppid "$pid")
    echo "$total"
}

: >"$W/values.tsv" # NAME<TAB>ENGINE<TAB>KiB, for the memory scenarios

# ---- 1. run --rm --network none IMG true ---------------------------------------------
want run && hf run --warmup 3 --min-runs "$runs" \
    -n berth "$berth run --rm --network none $img true" \
    -n podman "$podman run --rm --network none $pod_ulimits $img true" \
    -n runc "$runc run -b $W/runc/run bench-run" \
    -n runc-same "$runc run -b $W/runc/run-same bench-run-same"

# ---- 2. exec CTR true, and 5. the monitor's memory -----------------------------------
if want exec; then
$berth run -d --name bench-exec --network none "$img" sleep 1000000 >/dev/null
$podman run -d --name bench-exec --network none $pod_ulimits "$img" sleep 1000000 >/dev/null
$runc run -d -b "$W/runc/exec" bench-exec </dev/null >/dev/null 2>&1
$runc run -d -b "$W/runc/exec-same" bench-exec-same </dev/null >/dev/null 2>&1
hf exec --warmup 3 --min-runs "$runs" \
    -n berth "$berth exec bench-exec true" \
    -n podman "$podman exec bench-exec true" \
    -n runc "$runc exec bench-exec true" \
    -n runc-same "$runc exec bench-exec-same true"

say "scenario: monitor RSS (3 running containers each)"
for i in 1 2 3; do
    $berth run -d --name "bench-mon$i" --network none "$img" sleep 1000000 >/dev/null
    $podman run -d --name "bench-mon$i" --network none $pod_ulimits "$img" sleep 1000000 >/dev/null
done
sleep 1
for i in 1 2 3; do
    pid=$($berth inspect --format '{{.State.ConmonPid}}' "bench-mon$i")
    printf 'monitor\tberth\t%s\n' "$(rss_kib "$pid")" >>"$W/values.tsv"
    pid=$($podman inspect --format '{{.State.ConmonPid}}' "bench-mon$i")
    printf 'monitor\tpodman\t%s\n' "$(rss_kib "$pid")" >>"$W/values.tsv"
done
$berth rm -f -t 0 bench-exec bench-mon1 bench-mon2 bench-mon3 >/dev/null
$podman rm -f -t 0 bench-exec bench-mon1 bench-mon2 bench-mon3 >/dev/null
$runc delete -f bench-exec
$runc delete -f bench-exec-same
fi

# ---- 3. ps -a with 100 containers, and 6. the CLI's peak memory -----------------------
if want ps; then
say "creating 100 containers in berth and in podman"
for i in $(seq 100); do
    $berth create --network none "$img" true >/dev/null
    $podman create --network none $pod_ulimits "$img" true >/dev/null
done
hf ps100 --warmup 3 --min-runs "$runs" \
    -n berth "$berth ps -a" \
    -n podman "$podman ps -a"

say "scenario: peak RSS of ps -a (100 containers)"
for i in 1 2 3 4 5; do
    for e in berth podman; do
        kib=$(/usr/bin/time -f %M ${!e} ps -a 2>&1 >/dev/null | tail -1)
        printf 'cli\t%s\t%s\n' "$e" "$kib" >>"$W/values.tsv"
    done
done

say "creating $((big - 100)) more berth containers"
for i in $(seq $((big - 100))); do $berth create --network none "$img" true >/dev/null; done
hf psbig --warmup 3 --min-runs "$runs" -n berth "$berth ps -a"

$berth rm -a >/dev/null
$podman rm -a >/dev/null
fi

# ---- 4. rm of 100 created containers in one command -----------------------------------
if want rm; then
for e in berth podman; do
    extra="--network none"
    [[ $e == podman ]] && extra="--network none $pod_ulimits"
    true
    printf '#!/bin/sh\nfor i in $(seq 100); do %s create %s %s true >/dev/null || exit 1; done\n' \
        "${!e}" "$extra" "$img" >"$W/create100-$e.sh"
done
hf rm100 --runs "$rm_runs" \
    --prepare "sh $W/create100-berth.sh" -n berth "$berth rm -a" \
    --prepare "sh $W/create100-podman.sh" -n podman "$podman rm -a"
fi

# ---- 8. the bridge network's cost: run --rm with a bridge network and with none --------
# Each engine on its default bridge network (berth: berth0, 10.90.0.0/16; Podman:
# podman0, 10.88.0.0/16); the added cost is bridge minus none, in the same run.
if want net; then
hf net --warmup 3 --min-runs "$runs" \
    -n berth-none "$berth run --rm --network none $img true" \
    -n berth-bridge "$berth run --rm --network bridge $img true" \
    -n podman-none "$podman run --rm --network none $pod_ulimits $img true" \
    -n podman-bridge "$podman run --rm --network bridge $pod_ulimits $img true"
fi

# ---- 9. a user namespace's cost: run --rm --userns=auto and without ---------------------
# Both engines take ranges of the "containers" subordinate IDs (lib.sh ensure_subids) and
# show the image's files as the namespace's through idmapped mounts.
if want userns; then
ensure_subids
hf userns --warmup 3 --min-runs "$runs" \
    -n berth-host "$berth run --rm --network none $img true" \
    -n berth-auto "$berth run --rm --network none --userns auto $img true" \
    -n podman-host "$podman run --rm --network none $pod_ulimits $img true" \
    -n podman-auto "$podman run --rm --network none --userns auto $pod_ulimits $img true"
fi

# ---- 7. pull of a 5-layer ~150 MB image from a local registry ---------------------------
if want pull; then
# Layer 1 is the busybox rootfs; layers 2-5 each hold 36 MB of random bytes (which gzip
# cannot shrink), so the pull moves ~145 MB. A second image shares layers 1-4 and adds a
# new fifth: re-pulling it must move only that one.
say "building the 5-layer pull image"
python3 - "$W/big" "$W/images/rootfs.tar" <<'EOF2'
import gzip, hashlib, io, json, os, sys, tarfile
out, rootfs = sys.argv[1:]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
def random_layer(name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(f"data/{name}")
        info.size = 36 << 20
        t.addfile(info, io.BytesIO(os.urandom(info.size)))
    return buf.getvalue()
raw = [open(rootfs, "rb").read()] + [random_layer(f"l{i}") for i in range(2, 6)] + [random_layer("other5")]
layers = [(blob(gzip.compress(r, 1)), "sha256:" + hashlib.sha256(r).hexdigest()) for r in raw]
index = {"schemaVersion": 2, "manifests": []}
for tag, picks in (("big", [0, 1, 2, 3, 4]), ("big2", [0, 1, 2, 3, 5])):
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [layers[i][1] for i in picks]}}
    cd, cs = blob(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layers[i][0][0], "size": layers[i][0][1]} for i in picks]}
    md, ms = blob(json.dumps(manifest).encode())
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                               "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}})
json.dump(index, open(f"{out}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{out}/oci-layout", "w"))
EOF2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry/data" "$port" >"$W/registry/config.yml"
docker-registry serve "$W/registry/config.yml" >"$W/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
reg="127.0.0.1:$port/bench"
skopeo copy -q --dest-tls-verify=false "oci:$W/big:big" "docker://$reg/big:1"
skopeo copy -q --dest-tls-verify=false "oci:$W/big:big2" "docker://$reg/big2:1"
hf pull --runs "$rm_runs" \
    --prepare "$berth rmi -a -f" -n berth "$berth pull -q --tls-verify=false $reg/big:1" \
    --prepare "$podman rmi -a -f" -n podman "$podman pull -q --tls-verify=false $reg/big:1"
# Re-pull: the first image is present, the second shares 4 of its 5 layers.
hf repull --runs "$rm_runs" \
    --prepare "sh -c '$berth rmi -f $reg/big2:1 >/dev/null 2>&1; $berth pull -q --tls-verify=false $reg/big:1 >/dev/null'" \
    -n berth "$berth pull -q --tls-verify=false $reg/big2:1" \
    --prepare "sh -c '$podman rmi -f $reg/big2:1 >/dev/null 2>&1; $podman pull -q --tls-verify=false $reg/big:1 >/dev/null'" \
    -n podman "$podman pull -q --tls-verify=false $reg/big2:1"
kill "$registry_pid"
fi

# ---- 9. build of a 10-step Containerfile: cold (--no-cache) and warm (all cached) ------
# Same context and file for both engines; RUN steps without a network. The warm runs
# follow a first build (hyperfine's warm-up), so every step is a cache hit.
if want build; then
mkdir -p "$W/build-ctx/dir"
echo a >"$W/build-ctx/a.txt"
for i in 1 2 3; do echo "$i" >"$W/build-ctx/dir/f$i"; done
cat >"$W/build-ctx/Containerfile" <<EOF2
FROM $img
ENV A=1
WORKDIR /app
COPY a.txt /app/
COPY dir/ /app/dir/
RUN echo one > /one
RUN for i in \$(seq 100); do echo \$i; done > /seq
LABEL bench=build
RUN cat /app/a.txt > /copy
CMD ["sh"]
EOF2
bb="build -q --network none -t bench-build $W/build-ctx"
pb="build -q --network none $pod_ulimits -t bench-build $W/build-ctx"
hf build_cold --runs "$rm_runs" \
    -n berth "$berth $bb --no-cache" \
    -n podman "$podman $pb --no-cache"
hf build_warm --warmup 1 --min-runs "$runs" \
    -n berth "$berth $bb" \
    -n podman "$podman $pb"
fi

# ---- the report ------------------------------------------------------------------------
say "writing the report"
notes="$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r), cgroups $(if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo v2; elif [[ -d /sys/fs/cgroup/unified ]]; then echo hybrid; else echo v1; fi), $(. /etc/os-release && echo "$PRETTY_NAME")"
versions="berth $($BERTH_BIN version --format '{{.Client.Version}}' 2>/dev/null || $BERTH_BIN --version | awk '{print $2}') ($(git -C "$BERTH_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$BERTH_REPO" diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes')), $(podman --version), $(runc --version | head -1), $(hyperfine --version)"
python3 - "$W" "$notes" "$versions" "$runs" "$rm_runs" "$big" >"$W/report.md" <<'EOF'
import json, statistics, sys, time
w, notes, versions, runs, rm_runs, big = sys.argv[1:]

import os

def medians(name):
    if not os.path.exists(f"{w}/{name}.json"):
        return None
    with open(f"{w}/{name}.json") as f:
        return {r["command"]: r["median"] for r in json.load(f)["results"]}

values = {}
with open(f"{w}/values.tsv") as f:  # may be empty (ONLY)
    for line in f:
        kind, engine, kib = line.split()
        values.setdefault((kind, engine), []).append(int(kib))

def ms(s): return f"{s * 1000:.1f} ms" if s is not None else "–"
def sec(s): return f"{s:.3f} s" if s is not None else "–"
def mib(k): return f"{k / 1024:.2f} MiB" if k is not None else "–"
def ratio(a, b): return f"{a / b:.2f}x" if a is not None and b else "–"
def mem(kind, engine):
    v = values.get((kind, engine))
    return statistics.median(v) if v else None

rows = []
def row(scenario, unit, b, p, rs, rd, target, ok):
    rows.append(f"| {scenario} | {unit(b)} | {unit(p)} | {unit(rs)} | {unit(rd)} | {ratio(b, p)} | {ratio(b, rs)} | {ratio(b, rd)} | {target} | {'–' if ok is None else 'yes' if ok else 'no'} |")

m = medians("run")
if m: row("`run --rm --network none IMG true`", ms, m["berth"], m["podman"], m["runc-same"], m["runc"],
    "≤ 1.5x runc (same spec)", m["berth"] <= 1.5 * m["runc-same"])
m = medians("exec")
if m: row("`exec CTR true` (runc: `runc exec`)", ms, m["berth"], m["podman"], m["runc-same"], m["runc"],
    "≤ 1.5x runc (same spec)", m["berth"] <= 1.5 * m["runc-same"])
m = medians("ps100")
if m: row("`ps -a`, 100 containers", ms, m["berth"], m["podman"], None, None, "–", None)
m = medians("psbig")
if m: row(f"`ps -a`, {big} containers (berth only)", ms, m["berth"], None, None, None, "< 50 ms", m["berth"] < 0.050)
m = medians("rm100")
if m: row("`rm -a` of 100 created containers", sec, m["berth"], m["podman"], None, None, "< 0.3 s", m["berth"] < 0.3)
m = medians("pull")
if m: row("`pull` of a 5-layer ~145 MB image, cold (local registry)", sec, m["berth"], m["podman"], None, None, "≥ 1.5x faster than podman", m["berth"] * 1.5 <= m["podman"])
m = medians("repull")
if m: row("`pull` of an image sharing 4 of its 5 layers", sec, m["berth"], m["podman"], None, None, "moves only the new layer", None)
m = medians("build_cold")
if m: row("`build` of a 10-step Containerfile, cold (`--no-cache`)", sec, m.get("berth"), m.get("podman"), None, None, "no slower than podman", None if m.get("berth") is None or m.get("podman") is None else m["berth"] <= m["podman"])
m = medians("build_warm")
if m: row("`build` of the same file again, every step cached", sec, m.get("berth"), m.get("podman"), None, None, "≥ 3x faster than podman", None if m.get("berth") is None or m.get("podman") is None else m["berth"] * 3 <= m["podman"])
b, p = mem("monitor", "berth"), mem("monitor", "podman")
if b: row("monitor RSS per running container (podman: conmon)", mib, b, p, None, None, "≤ 1.9 MiB (aim 1)", b <= 1.9 * 1024)
b, p = mem("cli", "berth"), mem("cli", "podman")
if b: row("CLI peak RSS, `ps -a` with 100 containers", mib, b, p, None, None, "< 10 MiB", b < 10 * 1024)

m = medians("net")
if m:
    bo, po = m["berth-bridge"] - m["berth-none"], m["podman-bridge"] - m["podman-none"]
    row(f"`run --rm --network bridge IMG true` (same run: berth none {ms(m['berth-none'])}, podman none {ms(m['podman-none'])})", ms, m["berth-bridge"], m["podman-bridge"], None, None, "–", None)
    row("bridge network's added cost (bridge − none)", ms, bo, po, None, None, "≤ 0.5x podman's", bo <= 0.5 * po)

m = medians("userns")
if m:
    bo, po = m["berth-auto"] - m["berth-host"], m["podman-auto"] - m["podman-host"]
    row(f"`run --rm --userns auto IMG true` (same run: berth without {ms(m['berth-host'])}, podman without {ms(m['podman-host'])})", ms, m["berth-auto"], m["podman-auto"], None, None, "–", None)
    row("a user namespace's added cost (auto − host)", ms, bo, po, None, None, "–", None)

print(f"### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
print()
print(f"Machine: {notes}.  ")
print(f"Versions: {versions}.  ")
print(f"Runs: hyperfine medians, at least {runs} runs (rm: {rm_runs} runs, each after creating 100 containers); memory: median of 3 monitors / 5 CLI runs.")
print()
print("runc (same spec) runs berth's own config.json; runc (default) runs `runc spec`'s, without seccomp.")
print()
print("| scenario | berth | podman | runc (same spec) | runc (default) | berth/podman | berth/runc same | berth/runc default | target | met |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
print("\n".join(rows))
EOF
echo
cat "$W/report.md"
if [[ $record == 1 ]]; then
    { echo; cat "$W/report.md"; } >>docs/PERFORMANCE.md
    say "appended to docs/PERFORMANCE.md"
fi
