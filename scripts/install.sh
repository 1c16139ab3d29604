#!/usr/bin/env bash
# Installs berth on a Debian 12 machine and runs a demo container, all offline except for
# the Debian and crates.io package registries.
#
#   sudo ./scripts/install.sh        (or, as root, ./scripts/install.sh)
#
# 1. installs the Debian packages berth needs (apt-get only when one is missing) and
#    builds netavark/aardvark-dns 2.1 into /usr/local/libexec/berth (once);
# 2. builds the release binary (target/release/berth) and installs it as
#    /usr/local/bin/berth (PREFIX=/opt/berth puts it in /opt/berth/bin);
# 3. builds a busybox root filesystem (scripts/mkimages.sh), imports it as
#    localhost/demo into the default storage (/var/lib/berth) and runs
#    `berth run --rm localhost/demo echo "hello from berth"`.
#
# Safe to run again: each step only does what is not done yet (cargo rebuilds only what
# changed, the demo image is re-imported under the same name).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO"

[[ $EUID -eq 0 ]] || die "run as root: sudo $0"

prefix=${PREFIX:-/usr/local}

say "checking Debian packages"
ensure_packages
ensure_netavark
ensure_subids

say "building berth (cargo build --release)"
find_cargo
cargo build --release --bin berth

say "installing $prefix/bin/berth"
install -d "$prefix/bin"
# Copy then rename, so running berth monitors (re-execs of the old binary) never see a
# half-written file and the copy never fails with "text file busy".
install -m 0755 target/release/berth "$prefix/bin/.berth.new"
mv -f "$prefix/bin/.berth.new" "$prefix/bin/berth"
berth=$prefix/bin/berth
"$berth" version

say "demo: importing a busybox root filesystem as localhost/demo"
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
bash scripts/mkimages.sh "$work" >/dev/null
"$berth" import "$work/rootfs.tar" localhost/demo >/dev/null

say "demo: berth run --rm localhost/demo echo \"hello from berth\""
"$berth" run --rm localhost/demo echo "hello from berth"

say "berth is installed: try 'berth run --rm -it localhost/demo sh'"
