#!/usr/bin/env bash
# Cluster scale (docs/benchmarks.md, "Scale"): N simulated NPU nodes, each a
# release-built plugin in Volcano mode with its own simulator state, kubelet
# stand-in and token, against one real kube-apiserver + etcd (the end-to-end
# suite's control plane, built from k8s.io/kubernetes), with a Node object
# per node. Prints requests per node by verb and resource (start burst,
# steady state, fault storm, Allocates) from the API server's audit log,
# watches held, the control plane's CPU and memory, and Volcano Allocate
# latency. Extra arguments go to `adp-bench scale`:
#
#   scripts/scale.sh 100                         # ~15 min: start, 600 s steady, storm, Allocates
#   scripts/scale.sh 100 --start-jitter 30       # plugins spread their start over 30 s
#   scripts/scale.sh 3 --smoke                   # the test command's smoke (~2 min): asserts
#   scripts/scale.sh 10 --help
#
# Needs Go for the control plane (the first build takes ~15 min on 2 cores)
# and about 25 MB of memory per node.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/scale.sh N [--smoke] [adp-bench scale options]" >&2
    exit 2
fi
nodes=$1
shift
extra=()
for arg in "$@"; do
    if [ "$arg" = --smoke ]; then
        # Short windows, few Allocates, and the budget asserted (exit 1).
        extra+=(--steady-seconds 20 --storm-seconds 5 --allocate-reps 6 --late-reps 3 --check)
    else
        extra+=("$arg")
    fi
done
command -v go >/dev/null 2>&1 || { echo "scale.sh: Go is needed for the control plane" >&2; exit 2; }

echo "==> building (release) the plugin, the simulator and adp-bench" >&2
cargo build --release --locked -p ascend-device-plugin -p dcmi-sim -p adp-bench
bin="$CARGO_TARGET_DIR/release"
echo "==> building the control-plane harness (tests/e2e/cmd/apiserver)" >&2
e2e_bin=${E2E_BIN_DIR:-$HOME/.cache/ascend-device-plugin/e2e-bin}
mkdir -p "$e2e_bin"
(cd tests/e2e && go build -ldflags='-s -w' -o "$e2e_bin/" ./cmd/apiserver)

# Each plugin holds a few files and sockets, the stand-ins two sockets per
# node; the default 1024 descriptors run out near N = 100.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec "$bin/adp-bench" \
    --plugin-bin "$bin/ascend-device-plugin" \
    --sim-lib "$bin/libdcmi.so" \
    --apiserver-bin "$e2e_bin/apiserver" \
    --rbac "$root/deploy/rendered/910-volcano.yaml" \
    scale --nodes "$nodes" "${extra[@]}"
