# shellcheck shell=bash
# Shared helpers for berth's scripts (install.sh, test.sh, bench.sh). Source it; don't run it.
#
#   . "$(dirname "$0")/lib.sh"

# The repository root (this file lives in <root>/scripts).
# shellcheck disable=SC2034 # used by the scripts that source this file
BERTH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages berth needs to build, run and test. Later issues need the network
# and registry tools, so a machine set up once stays set up.
BERTH_PACKAGES=(
    # build: a C toolchain for build scripts, the system SQLite the state DB links
    gcc libc6-dev pkg-config libsqlite3-dev libseccomp-dev
    # run: the OCI runtime, the init for --init, id maps for rootless
    runc catatonit uidmap
    # test images are built from the static busybox by scripts/mkimages.sh
    busybox-static python3 tar gzip
    # networking, registry and image tools (networking and registry issues)
    netavark aardvark-dns iptables passt docker-registry skopeo
    # registry tests: a TLS certificate authority and htpasswd users
    openssl apache2-utils
)

# Bold only on a terminal, so CI logs stay plain text.
say() {
    if [[ -t 2 ]]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# as_root CMD...: runs CMD as root (directly, or through sudo when we aren't root).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# missing_packages PKG...: prints the packages that are not installed.
missing_packages() {
    local p
    for p in "$@"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || echo "$p"
    done
}

# shellcheck disable=SC2120 # extra packages are optional
# ensure_packages [PKG...]: installs BERTH_PACKAGES plus PKG... when any is missing.
# Does nothing (no apt-get update) when all are there, so it is cheap to call every time.
ensure_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages "${BERTH_PACKAGES[@]}" "$@")
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# find_cargo: puts cargo on PATH. rustup installs it in ~/.cargo/bin, which PATH often
# lacks (sudo, cron, CI shells); also look in root's and the sudo caller's home.
find_cargo() {
    local d home
    if [[ -n ${CARGO:-} && -x $CARGO ]]; then
        PATH=$(dirname "$CARGO"):$PATH
    fi
    if ! command -v cargo >/dev/null; then
        for d in "${CARGO_HOME:-$HOME/.cargo}/bin" /root/.cargo/bin; do
            if [[ -x $d/cargo ]]; then
                PATH=$d:$PATH
                break
            fi
        done
    fi
    if ! command -v cargo >/dev/null && [[ -n ${SUDO_USER:-} ]]; then
        home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then
            PATH=$home/.cargo/bin:$PATH
            export RUSTUP_HOME=${RUSTUP_HOME:-$home/.rustup}
        fi
    fi
    command -v cargo >/dev/null ||
        die "cargo not found: install Rust (1.89 or later) with rustup, see https://rustup.rs"
    export PATH
}
