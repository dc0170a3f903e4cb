#!/usr/bin/env bash
# The project's test command (README): installs what it needs, runs every
# check, cleans up after itself. Exit status is non-zero on any failure.
#
#   scripts/test.sh            everything
#   SKIP_AUDIT=1 scripts/test.sh   skip the dependency audit (offline DB missing)
#
# Needs root for the end-to-end suite (private mount namespaces) and Go for
# its harnesses (built from k8s.io/kubernetes; the first build takes ~15 min
# on 2 cores, later ones reuse Go's caches in $HOME). Root also installs the
# aarch64 cross toolchain and qemu-user-static with apt-get on first use
# (scripts/cross.sh) and mmdebstrap for the image (scripts/image-oci.sh).
# The fuzz smoke needs the nightly toolchain (rustup) and installs cargo-fuzz.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "toolchain components"
ensure_rust_components

step "cargo fmt --check"
cargo fmt --all -- --check

step "deployment manifests: kustomize render, schema validation, checkov"
scripts/manifests.sh

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (the simulator library and its CLI are test inputs)"
cargo build --workspace --locked

step "cargo test (unit, simulator, integration over unix sockets)"
cargo test --workspace --locked

step "fuzz smoke: every fuzz target a few seconds on its seed corpus (scripts/fuzz.sh --smoke)"
scripts/fuzz.sh --smoke

step "aarch64: DCMI layout proof and an emulated smoke (scripts/cross.sh check)"
scripts/cross.sh check

step "end to end: kubelet's own device manager and kube-apiserver (tests/e2e)"
scripts/e2e.sh

step "cluster scale smoke: 3 nodes on one kube-apiserver, requests per node within budget (scripts/scale.sh)"
scripts/scale.sh 3 --smoke

if [ "${SKIP_AUDIT:-0}" != 1 ]; then
    step "dependency audit against the offline advisory database"
    scripts/audit.sh
fi

step "done in $(( $(date +%s) - started ))s"
