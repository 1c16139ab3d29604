#!/usr/bin/env bash
# Builds berth's offline test images from the host's static busybox.
#
#   scripts/mkimages.sh OUTDIR
#
# Writes, deterministically (same bytes on every run on the same host):
#   OUTDIR/rootfs.tar           plain busybox rootfs tar (for `import`)
#   OUTDIR/busybox-oci.tar      OCI archive, one gzip layer,
#                               named localhost/berth-test/busybox:latest
#   OUTDIR/busybox-docker.tar   docker-archive (as `podman save` writes it), one plain
#                               layer, RepoTags localhost/berth-test/busybox-docker:latest
#   OUTDIR/multilayer-oci.tar   OCI archive, named localhost/berth-test/multilayer:latest:
#     layer 1 (gzip)  the busybox rootfs
#     layer 2 (tar)   /etc/layer2, /tmp/gone, /opq/old
#     layer 3 (gzip)  /tmp/.wh.gone (whiteout), /opq/.wh..wh..opq (opaque) + /opq/new,
#                     /hl/a and its hard link /hl/b, symlink /lnk -> /etc/layer2
#
# Needs only bash, coreutils, GNU tar, gzip, sha256sum and python3 (for the applet
# symlinks). BUSYBOX=/path overrides /usr/bin/busybox.
set -euo pipefail

out=${1:?usage: mkimages.sh OUTDIR}
busybox=${BUSYBOX:-/usr/bin/busybox}
[[ -x $busybox ]] || { echo "mkimages.sh: $busybox not found (install busybox-static)" >&2; exit 1; }

umask 022
export LC_ALL=C
epoch=1704067200 # 2024-01-01T00:00:00Z
created=2024-01-01T00:00:00Z
path_env=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    i?86) arch=386 ;;
    ppc64le) arch=ppc64le ;;
    *) arch=$(uname -m) ;;
esac

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-mkimages.XXXXXX")
trap 'rm -rf "$work"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# mktar DIR OUT: tar of DIR's content, sorted, fixed owner and mtime, no "./" prefix.
mktar() {
    (cd "$1" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list"
    tar -C "$1" --no-recursion -T "$work/list" --format=gnu \
        --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf "$2"
}

# ---- the busybox rootfs ----------------------------------------------------------
root=$work/rootfs
mkdir -p "$root"/{bin,etc,proc,sys,dev,root,tmp}
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$busybox" --list | python3 -c '
import os, sys
d = sys.argv[1]
for name in sys.stdin.read().split():
    if name != "busybox" and "/" not in name:
        os.symlink("busybox", os.path.join(d, name))
' "$root/bin"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$root/etc/group"
mktar "$root" "$work/rootfs.tar"

# ---- the multilayer layers -------------------------------------------------------
l2=$work/layer2
mkdir -p "$l2"/{etc,tmp,opq}
chmod 1777 "$l2/tmp"
echo layer2 >"$l2/etc/layer2"
echo gone >"$l2/tmp/gone"
echo old >"$l2/opq/old"
mktar "$l2" "$work/layer2.tar"

l3=$work/layer3
mkdir -p "$l3"/{tmp,opq,hl}
chmod 1777 "$l3/tmp"
: >"$l3/tmp/.wh.gone"
: >"$l3/opq/.wh..wh..opq"
echo new >"$l3/opq/new"
echo hardlinked >"$l3/hl/a"
ln "$l3/hl/a" "$l3/hl/b"
ln -s /etc/layer2 "$l3/lnk"
mktar "$l3" "$work/layer3.tar"

gzip -n -6 -c "$work/rootfs.tar" >"$work/rootfs.tar.gz"
gzip -n -6 -c "$work/layer3.tar" >"$work/layer3.tar.gz"

# config_json HISTORY_JSON DIFF_ID...: an image config running `sh` as root.
config_json() {
    local history=$1 ids="" d
    shift
    for d in "$@"; do ids+="${ids:+,}\"sha256:$d\""; done
    printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=%s"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
        "$created" "$arch" "$path_env" "$ids" "$history"
}

history_entry() { printf '{"created":"%s","created_by":"%s"}' "$created" "$1"; }

# oci_archive OUT NAME CONFIG_FILE LAYER_FILE:MEDIA_TYPE...
oci_archive() {
    local dest=$1 name=$2 config=$3 dir=$work/oci layers="" spec file mt d
    shift 3
    rm -rf "$dir"
    mkdir -p "$dir/blobs/sha256"
    printf '{"imageLayoutVersion": "1.0.0"}' >"$dir/oci-layout"
    for spec in "$@"; do
        file=${spec%%:*} mt=${spec#*:}
        d=$(sha "$file")
        cp "$file" "$dir/blobs/sha256/$d"
        layers+="${layers:+,}{\"mediaType\":\"$mt\",\"digest\":\"sha256:$d\",\"size\":$(size "$file")}"
    done
    d=$(sha "$config")
    cp "$config" "$dir/blobs/sha256/$d"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "$d" "$(size "$config")" "$layers" >"$work/manifest.json"
    d=$(sha "$work/manifest.json")
    cp "$work/manifest.json" "$dir/blobs/sha256/$d"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
        "$d" "$(size "$work/manifest.json")" "$name" >"$dir/index.json"
    mktar "$dir" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
}

# docker_archive OUT NAME CONFIG_FILE LAYER_TAR: the layout `podman save` writes,
# including the legacy <id>/layer.tar symlink.
docker_archive() {
    local dest=$1 name=$2 config=$3 layer=$4 dir=$work/docker cd ld legacy
    rm -rf "$dir"
    mkdir -p "$dir"
    cd=$(sha "$config") ld=$(sha "$layer")
    legacy=$(printf 'sha256:%s sha256:%s' "$ld" "$cd" | sha256sum | cut -d' ' -f1)
    cp "$config" "$dir/$cd.json"
    cp "$layer" "$dir/$ld.tar"
    mkdir "$dir/$legacy"
    ln -s "../$ld.tar" "$dir/$legacy/layer.tar"
    printf '1.0' >"$dir/$legacy/VERSION"
    printf '{"id":"%s","created":"%s","architecture":"%s","os":"linux"}' \
        "$legacy" "$created" "$arch" >"$dir/$legacy/json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s.tar"]}]' \
        "$cd" "$name" "$ld" >"$dir/manifest.json"
    printf '{"%s":{"%s":"%s"}}' "${name%:*}" "${name##*:}" "$legacy" >"$dir/repositories"
    mktar "$dir" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
}

rootfs_id=$(sha "$work/rootfs.tar")
l2_id=$(sha "$work/layer2.tar")
l3_id=$(sha "$work/layer3.tar")

config_json "$(history_entry "berth mkimages.sh: busybox rootfs")" "$rootfs_id" >"$work/busybox.json"
config_json "$(history_entry "berth mkimages.sh: busybox rootfs"),$(history_entry "berth mkimages.sh: layer2"),$(history_entry "berth mkimages.sh: whiteouts and links")" \
    "$rootfs_id" "$l2_id" "$l3_id" >"$work/multilayer.json"

oci_archive "$out/busybox-oci.tar" localhost/berth-test/busybox:latest "$work/busybox.json" \
    "$work/rootfs.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"
docker_archive "$out/busybox-docker.tar" localhost/berth-test/busybox-docker:latest \
    "$work/busybox.json" "$work/rootfs.tar"
oci_archive "$out/multilayer-oci.tar" localhost/berth-test/multilayer:latest "$work/multilayer.json" \
    "$work/rootfs.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip" \
    "$work/layer2.tar:application/vnd.oci.image.layer.v1.tar" \
    "$work/layer3.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"
cp "$work/rootfs.tar" "$out/rootfs.tar.tmp"
mv -f "$out/rootfs.tar.tmp" "$out/rootfs.tar"
