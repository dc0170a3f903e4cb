#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): builds the plugin, the simulator and
# adp-bench in release mode, then runs adp-bench, which prints the machine,
# each measurement, and a summary table of every number against its target.
# Extra arguments go to adp-bench:
#
#   scripts/bench.sh                                  # the full run (~4 min)
#   scripts/bench.sh --idle-seconds 10                # shorter idle sample
#   scripts/bench.sh --only allocate,start            # some sections only
#   scripts/bench.sh --only idle-api                  # idle with a real kube-apiserver
#   scripts/bench.sh --help
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

echo "==> building (release) the plugin, the simulator and adp-bench" >&2
cargo build --release --locked -p ascend-device-plugin -p dcmi-sim -p adp-bench
bin="$CARGO_TARGET_DIR/release"

# Section idle-api runs the plugin against the end-to-end suite's control
# plane (etcd + kube-apiserver from k8s.io/kubernetes, Go), with the shipped
# RBAC of the plain 910 overlay. Built into the same cache scripts/e2e.sh
# uses (the first build takes ~15 min on 2 cores); without Go the section
# says it was not measured.
api=()
if command -v go >/dev/null 2>&1; then
    echo "==> building the control-plane harness (tests/e2e/cmd/apiserver)" >&2
    e2e_bin=${E2E_BIN_DIR:-$HOME/.cache/ascend-device-plugin/e2e-bin}
    mkdir -p "$e2e_bin"
    (cd tests/e2e && go build -ldflags='-s -w' -o "$e2e_bin/" ./cmd/apiserver)
    api=(--apiserver-bin "$e2e_bin/apiserver" --rbac "$root/deploy/rendered/910.yaml")
fi

# adp-bench finds ascend-device-plugin and libdcmi.so beside itself, and runs
# everything in a private (0700) temp dir it deletes on exit.
exec "$bin/adp-bench" \
    --plugin-bin "$bin/ascend-device-plugin" \
    --sim-lib "$bin/libdcmi.so" \
    "${api[@]}" \
    "$@"
