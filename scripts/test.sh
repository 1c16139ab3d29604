#!/usr/bin/env bash
# Runs berth's whole test suite: the one command for people and for CI (.ci/run).
#
#   sudo ./scripts/test.sh [-- ARGS FOR cargo test...]
#
# Steps, in this order (cheapest first, so a typo fails in seconds):
#   packages  install the Debian packages berth needs when one is missing, build
#             netavark/aardvark-dns 2.1 once, and give the user "containers" the
#             subordinate IDs --userns=auto takes (scripts/lib.sh)
#   fmt       cargo fmt --all -- --check
#   clippy    cargo clippy --workspace --all-targets -- -D warnings
#   test      cargo test --workspace --lib --bins --tests: unit and integration tests
#             (crates/*/tests, as root against real runc and overlayfs, with images built
#             from busybox); the last line of the run adds up every test binary's results
# Every step runs even when an earlier one failed, so one run reports everything; the
# script ends with a summary naming the failed steps and exits 1 if there is any.
#
# All cargo steps share one target dir and the dev profile. clippy (a metadata-only
# check) and test (a full build) can't reuse each other's artifacts, but both reuse the
# build scripts and, on a second run, everything. The target dir is $CARGO_TARGET_DIR,
# else $BERTH_CACHE/target when BERTH_CACHE is set, else ./target; none needs to exist.
#
# Environment: CI=true turns off incremental compilation (a cold build is faster without
# it); RUST_TEST_THREADS limits parallel tests; BERTH_SKIP_PACKAGES=1 skips the apt step;
# BERTH_TEST_TIMEOUT (seconds, default 1800 when stdin is not a terminal) ends a hung test
# run instead of letting it eat CI's whole time budget.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO" || exit 1

if [[ ${1:-} == -- ]]; then shift; fi

[[ $EUID -eq 0 ]] || die "the integration tests need root: sudo $0"

if [[ -z ${CARGO_TARGET_DIR:-} && -n ${BERTH_CACHE:-} ]]; then
    export CARGO_TARGET_DIR=$BERTH_CACHE/target
fi
if [[ ${CI:-} == true ]]; then
    export CARGO_INCREMENTAL=0
fi
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

failed=()
timings=()
start_all=$SECONDS

# step NAME CMD...: runs CMD, records its time and whether it failed.
step() {
    local name=$1 t0=$SECONDS rc
    shift
    say "[$name] $*"
    "$@"
    rc=$?
    timings+=("$(printf '%-9s %4ss  %s' "$name" $((SECONDS - t0)) "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
    if [[ $rc -ne 0 ]]; then
        failed+=("$name")
        printf '\n*** step "%s" FAILED (exit %s): %s\n\n' "$name" "$rc" "$*" >&2
    fi
    return 0
}

# run_tests CMD...: runs the cargo test command CMD and adds up the `test result:` lines
# of every test binary into $totals, printed as the last line of the run.
totals=""
run_tests() {
    local log rc
    log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    totals=$(awk '/^test result:/ {
            for (i = 1; i < NF; i++) {
                if ($(i + 1) ~ /^passed/) p += $i
                if ($(i + 1) ~ /^failed/) f += $i
                if ($(i + 1) ~ /^ignored/) s += $i
            }
        } END { printf "tests: %d passed, %d failed, %d skipped", p, f, s }' "$log")
    rm -f "$log"
    return "$rc"
}

if [[ ${BERTH_SKIP_PACKAGES:-} == 1 ]]; then
    say "[packages] skipped (BERTH_SKIP_PACKAGES=1)"
else
    # In a subshell: ensure_packages exits on error, and that must not end this script.
    step packages bash -c '. scripts/lib.sh && ensure_packages && ensure_netavark && ensure_subids'
fi

find_cargo
say "$(cargo --version), $(rustc --version), target dir ${CARGO_TARGET_DIR:-target}"

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
# The time limit applies off a terminal (CI) or when asked for: `timeout` runs cargo in a
# process group of its own, which Ctrl-C at a terminal would not reach.
if [[ -n ${BERTH_TEST_TIMEOUT:-} || ! -t 0 ]]; then
    test_timeout=${BERTH_TEST_TIMEOUT:-1800}
    step test run_tests timeout --kill-after=30 "$test_timeout" cargo test --workspace --lib --bins --tests "$@"
    if [[ ${timings[-1]} == *"exit 124"* || ${timings[-1]} == *"exit 137"* ]]; then
        printf '*** cargo test timed out after %ss (BERTH_TEST_TIMEOUT)\n' "$test_timeout" >&2
    fi
else
    step test run_tests cargo test --workspace --lib --bins --tests "$@"
fi

printf '\n==> summary (%ss in all)\n' $((SECONDS - start_all))
printf '    %s\n' "${timings[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    printf '==> FAILED: %s\n' "${failed[*]}"
    [[ -n $totals ]] && printf '%s\n' "$totals"
    exit 1
fi
echo "==> all steps passed"
[[ -n $totals ]] && printf '%s\n' "$totals"
exit 0
