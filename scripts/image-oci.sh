#!/usr/bin/env bash
# Builds the plugin's runtime image without any image registry: an OCI
# archive (OCI image layout in a tar file) with an index over amd64 and
# arm64. Each image is one layer:
#   - the C runtime the binary links, from Debian's packages libc6 and
#     libgcc-s1 (and gcc-12-base, their dependency) of the build host's own
#     Debian release, so the binary runs on the glibc it was linked against;
#     unpacked with mmdebstrap --variant=extract, nothing run, no shell, no
#     package manager; documentation dropped;
#   - /etc/passwd and /etc/group (root, and nonroot 65532 as distroless),
#     /tmp;
#   - /usr/local/bin/ascend-device-plugin, the release build for that
#     architecture (arm64: scripts/cross.sh build --release), checked to
#     start in the root filesystem (chroot, arm64 under qemu).
# Entrypoint, user (65532) and labels are the Dockerfile's. The Dockerfile
# stays for builders that reach a registry (scripts/image.sh).
#
#   scripts/image-oci.sh [--platforms amd64,arm64] [--out FILE]
#
# Default output: $HOME/.cache/ascend-device-plugin/image/ascend-device-plugin-<version>.oci.tar;
# each platform's root filesystem is left next to it in rootfs-<platform>/.
# Load it with any OCI tool, e.g. `skopeo copy oci-archive:FILE docker://<registry>/...`.
# Needs root (mmdebstrap --mode=root, chroot); installs mmdebstrap with
# apt-get when missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

platforms=amd64,arm64
cache="$HOME/.cache/ascend-device-plugin/image"
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --platforms) platforms=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) sed -n '18,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
out=${out:-$cache/ascend-device-plugin-$version.oci.tar}
# The build host's Debian release: the runtime glibc equals the one linked.
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || { echo "image-oci.sh: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
# Layer timestamps: the last commit's, so the same tree gives the same bytes.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
started=$(date +%s)
step() { printf -- '--> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

if ! command -v mmdebstrap >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "image-oci.sh: install mmdebstrap (as root)" >&2; exit 1; }
    step "installing mmdebstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi
mkdir -p "$cache" "$(dirname "$out")"

specs=()
IFS=, read -r -a wanted <<< "$platforms"
for platform in "${wanted[@]}"; do
    case $platform in
        amd64)
            step "release build for amd64"
            cargo build --release --locked -p ascend-device-plugin --bin ascend-device-plugin
            binary="$CARGO_TARGET_DIR/release/ascend-device-plugin"
            ;;
        arm64)
            step "release build for arm64 (scripts/cross.sh)"
            scripts/cross.sh build --release
            binary="$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/ascend-device-plugin"
            ;;
        *) echo "image-oci.sh: unknown platform $platform (amd64, arm64)" >&2; exit 2 ;;
    esac

    packages="$cache/debs-$suite-$platform"
    if [ ! -f "$packages/.complete" ]; then
        step "libc6 and libgcc-s1 ($suite, $platform) from Debian's packages"
        rm -rf "$packages"
        # extract: unpack only, run nothing (no qemu needed for arm64).
        mmdebstrap --quiet --variant=extract --mode=root --architectures="$platform" \
            --include=libc6,libgcc-s1 --skip=download/empty,cleanup/apt "$suite" "$packages.tree"
        mkdir -p "$packages"
        mv "$packages.tree"/var/cache/apt/archives/*.deb "$packages/"
        rm -rf "$packages.tree"
        touch "$packages/.complete"
    fi

    rootfs="$(dirname "$out")/rootfs-$platform"
    step "root filesystem for $platform"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    for deb in "$packages"/*.deb; do
        dpkg-deb --extract "$deb" "$rootfs"
    done
    rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/lintian"
    mkdir -p "$rootfs/etc" "$rootfs/usr/local/bin"
    install -d -m 1777 "$rootfs/tmp"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
    install -m 0755 "$binary" "$rootfs/usr/local/bin/ascend-device-plugin"
    # The binary carries upstream's fault-code table: its NOTICE goes with it.
    install -D -m 0644 NOTICE "$rootfs/usr/share/doc/ascend-device-plugin/NOTICE"
    # No shell, no package manager: what the image must not hold.
    for absent in bin/sh usr/bin/sh bin/bash usr/bin/dpkg usr/bin/apt; do
        if [ -e "$rootfs/$absent" ] || [ -L "$rootfs/$absent" ]; then
            echo "image-oci.sh: $absent in the $platform image" >&2
            exit 1
        fi
    done
    # The binary starts on this C library: every shared library it needs
    # resolves inside the image (arm64 through qemu's binfmt_misc entry,
    # which scripts/cross.sh registered).
    started_version=$(chroot "$rootfs" /usr/local/bin/ascend-device-plugin --version)
    if [ "$started_version" != "ascend-device-plugin $version" ]; then
        echo "image-oci.sh: the $platform image's binary says '$started_version'" >&2
        exit 1
    fi
    echo "$platform root filesystem: $(du -sh --apparent-size "$rootfs" | cut -f1) ($(find "$rootfs" -type f | wc -l) files); $started_version starts in it"
    specs+=("$platform=$rootfs")
done

step "OCI archive with an index over ${platforms}"
python3 scripts/oci.py "$out" "$version" "$epoch" "${specs[@]}"
echo "$out: $(du -h --apparent-size "$out" | cut -f1)"
