#!/usr/bin/env bash
# The README's main job on the built-in default: the plugin on the simulated
# node (8 x Ascend 910 unless ASCEND_SIM_TOPOLOGY says otherwise), served to a
# small kubelet stand-in that registers it, lists its devices, asks for a
# preferred allocation, allocates, injects a fault and watches the chip go
# Unhealthy and recover, then stops the plugin with SIGTERM.
#
#   scripts/demo.sh                          # 910-8
#   ASCEND_SIM_TOPOLOGY=310p-duo-vnpu scripts/demo.sh
#   scripts/demo.sh --plugin-arg -shareDevCount=2   # extra plugin flags
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

echo "==> building the plugin, the simulator and the kubelet stand-in"
cargo build --locked -p ascend-device-plugin -p dcmi-sim -p kubelet-standin
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0700 "$work"

echo "==> the node as the plugin sees it"
ASCEND_SIM_TOPOLOGY="${ASCEND_SIM_TOPOLOGY:-910-8}" \
    "$bin/ascend-device-plugin" inspect --dcmi-lib="$bin/libdcmi.so"

echo "==> serving kubelet"
"$bin/kubelet-standin" demo \
    --kubelet-dir "$work/kubelet" \
    --plugin-bin "$bin/ascend-device-plugin" \
    --sim-lib "$bin/libdcmi.so" \
    --sim-state "$work/sim/state.json" \
    --ascend-sim "$bin/ascend-sim" \
    --topology "${ASCEND_SIM_TOPOLOGY:-910-8}" \
    "$@"
