#!/usr/bin/env bash
# Builds the plugin's container image from the Dockerfile without a daemon:
# buildah, chroot isolation, vfs storage (no overlay mounts, no user
# namespaces, so it also runs inside an unprivileged container or a CI job).
#
#   scripts/image.sh                       ascend-device-plugin:<workspace version>
#   scripts/image.sh -t my/tag:1 --build-arg RUNTIME_IMAGE=<mirror>/distroless/cc-debian12:nonroot
#
# Extra arguments go to `buildah bud`. Installs buildah with apt-get when it is
# missing and we are root. Before building, both base images are pulled; when
# no registry serving them is reachable the script stops with exit status 3
# and says which image failed and how to point the build at a mirror.
# Not part of scripts/test.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
storage="$HOME/.cache/ascend-device-plugin/buildah"
export BUILDAH_ISOLATION=chroot
buildah_opts=(--root "$storage/root" --runroot "$storage/run" --storage-driver vfs)

if ! command -v buildah >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing buildah"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
    else
        echo "buildah is needed (or build the Dockerfile with any OCI builder)" >&2
        exit 1
    fi
fi
mkdir -p "$storage"

# The base images the Dockerfile names, unless overridden with --build-arg.
builder_image=$(sed -n 's/^ARG BUILDER_IMAGE=//p' Dockerfile)
runtime_image=$(sed -n 's/^ARG RUNTIME_IMAGE=//p' Dockerfile)
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --build-arg) value=${args[i + 1]:-} ;;
        --build-arg=*) value=${args[i]#--build-arg=} ;;
        *) continue ;;
    esac
    case $value in
        BUILDER_IMAGE=*) builder_image=${value#BUILDER_IMAGE=} ;;
        RUNTIME_IMAGE=*) runtime_image=${value#RUNTIME_IMAGE=} ;;
    esac
done

for image in "$builder_image" "$runtime_image"; do
    echo "==> pulling $image"
    if ! buildah "${buildah_opts[@]}" pull --quiet "$image" > /dev/null 2> "$storage/pull.err"; then
        cat "$storage/pull.err" >&2
        cat >&2 <<EOF

image.sh: cannot pull the base image $image: no registry serving it is
reachable from this machine. Nothing was built. Point the build at a mirror
you can reach, e.g.
  scripts/image.sh --build-arg BUILDER_IMAGE=<mirror>/rust:1.95-slim-bookworm \\
                   --build-arg RUNTIME_IMAGE=<mirror>/distroless/cc-debian12:nonroot
EOF
        exit 3
    fi
done

tag_given=0
for arg in "$@"; do
    case $arg in -t | --tag | -t=* | --tag=*) tag_given=1 ;; esac
done
tag_args=()
[ "$tag_given" = 1 ] || tag_args=(-t "ascend-device-plugin:$version")

echo "==> buildah bud (isolation chroot, storage vfs in $storage)"
buildah "${buildah_opts[@]}" bud --isolation chroot --layers=false \
    --build-arg "VERSION=$version" "${tag_args[@]}" "$@" -f Dockerfile .
buildah "${buildah_opts[@]}" images
