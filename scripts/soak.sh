#!/usr/bin/env bash
# The soak (issue #15): the plugin in Volcano mode against kubelet's own
# device manager and the real kube-apiserver of the end-to-end bed, for
# MINUTES (default 60), while the driver raises and clears faults, drops
# cards, opens driver chaos windows (calls failing 10 s, hanging 30 s),
# restarts kubelet, stops kube-apiserver for 60 s, and binds and ends
# Volcano pods. Prints a SAMPLE line every 5 s and a verdict (REPORT lines:
# fitted slopes of RSS, fds and threads after the warm-up, counts, API
# requests by verb); exits non-zero on any violation.
#
#   scripts/soak.sh [MINUTES]         E2E_SOAK_SEED=N repeats a run's randomness
#
# Builds what scripts/e2e.sh builds (the Go harnesses, the debug plugin
# and simulator) with the same caches; needs root, Go and cargo. The
# scenario is TestSoakVolcanoNodeUnderChaos in tests/e2e (soak*_test.go);
# scripts/e2e.sh runs it as a 90-second smoke.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

minutes=${1:-60}
case "$minutes" in
    '' | *[!0-9]*) echo "soak.sh: MINUTES must be a whole number of minutes, got '$minutes'" >&2; exit 2 ;;
esac
[ "$minutes" -ge 1 ] || { echo "soak.sh: MINUTES must be at least 1" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
    echo "soak.sh: needs root (unshare --mount, mount --bind)" >&2
    exit 2
fi
for tool in go cargo unshare nsenter mount setsid timeout; do
    command -v "$tool" >/dev/null || { echo "soak.sh: $tool not found" >&2; exit 2; }
done

bin=${E2E_BIN_DIR:-$HOME/.cache/ascend-device-plugin/e2e-bin}
run_dir=$(mktemp -d /tmp/soak-run.XXXXXX)
pgid=""
cleanup() {
    local status=$?
    if [ -n "$pgid" ]; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> build the Go harnesses and the scenario binary (tests/e2e)"
mkdir -p "$bin"
(
    cd tests/e2e
    go build -ldflags='-s -w' -o "$bin/" ./cmd/devicemanager ./cmd/apiserver
    go test -c -ldflags='-s -w' -o "$bin/e2e.test" .
)
echo "==> build the plugin and the simulator (cargo, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --locked -p ascend-device-plugin -p dcmi-sim
debug="$CARGO_TARGET_DIR/debug"
export E2E_DEVICEMANAGER_BIN="$bin/devicemanager" E2E_APISERVER_BIN="$bin/apiserver"
export E2E_PLUGIN_BIN="$debug/ascend-device-plugin" E2E_SIM_BIN="$debug/ascend-sim" E2E_DCMI_LIB="$debug/libdcmi.so"
export E2E_SOAK_MINUTES="$minutes" TMPDIR="$run_dir"

# The scenario's own limit: the soak, its set-up and drain, and a margin.
limit=$((minutes * 60 + 300))
echo "==> soak for $minutes minutes (limit ${limit}s)"
set +e
(
    cd tests/e2e
    exec setsid timeout --kill-after=15 "$((limit + 30))" \
        "$bin/e2e.test" -test.run '^TestSoakVolcanoNodeUnderChaos$' -test.v -test.count=1 -test.timeout "${limit}s"
) &
pgid=$!
wait "$pgid"
status=$?
pgid=""
set -e
if [ "$status" = 0 ]; then
    echo "soak: PASS ($minutes minutes)"
else
    echo "soak: FAIL (exit $status)"
fi
exit "$status"
