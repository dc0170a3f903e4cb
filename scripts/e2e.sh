#!/usr/bin/env bash
# End-to-end suite: the plugin against kubelet's own device manager and a real
# kube-apiserver, both built from k8s.io/kubernetes (tests/e2e, a Go module).
#
#   scripts/e2e.sh                 build everything, run every scenario
#   E2E_RUN='Registers|Health' scripts/e2e.sh    only scenarios matching a regexp
#   E2E_SKIP_CARGO=1 scripts/e2e.sh              do not build the Rust plugin
#                                                (its scenarios skip)
#   E2E_KEEP=1 scripts/e2e.sh      keep a failed scenario's temp dir
#
# When the image scenario (TestImage*) is selected, the amd64 image is built
# first (scripts/image-oci.sh: a release build and Debian's glibc packages,
# cached in $HOME/.cache/ascend-device-plugin/image) and run from its OCI
# archive by cmd/imagerun.
#
# Needs root (each scenario runs kubelet's device manager in a private mount
# namespace: unshare --mount, then a temp dir is bind-mounted over
# /var/lib/kubelet), Go and cargo. Caches stay in $HOME: Go's defaults
# ($HOME/go, $HOME/.cache/go-build), CARGO_TARGET_DIR
# ($HOME/.cache/ascend-device-plugin/target) and the harness binaries
# ($HOME/.cache/ascend-device-plugin/e2e-bin). Every process, mount namespace
# and temp dir is gone when it exits. Exit status is non-zero on any failure;
# the last line is "N passed, N failed, N skipped".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

bin=${E2E_BIN_DIR:-$HOME/.cache/ascend-device-plugin/e2e-bin}
run_dir=$(mktemp -d /tmp/e2e-run.XXXXXX)
current_pgid=""

cleanup() {
    local status=$?
    if [ -n "$current_pgid" ]; then
        kill -TERM -- "-$current_pgid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$current_pgid" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
    echo "e2e.sh: needs root (unshare --mount, mount --bind)" >&2
    exit 2
fi
for tool in go unshare nsenter mount setsid timeout; do
    command -v "$tool" >/dev/null || { echo "e2e.sh: $tool not found" >&2; exit 2; }
done

passed=0 failed=0 skipped=0
failures=()

step "build the Go harnesses and the scenario binary (tests/e2e)"
mkdir -p "$bin"
(
    cd tests/e2e
    # No DWARF/symbols: the kube-apiserver binary links much faster.
    go build -ldflags='-s -w' -o "$bin/" ./cmd/devicemanager ./cmd/apiserver ./cmd/imagerun \
        ./cmd/dramanager ./cmd/scheduler
    unformatted=$(gofmt -l .)
    [ -z "$unformatted" ] || { echo "gofmt needed: $unformatted" >&2; exit 1; }
    go vet ./...
    go test -count=1 ./internal/...   # the harness's own unit tests (no root, seconds)
    go test -c -ldflags='-s -w' -o "$bin/e2e.test" .
)
export E2E_DEVICEMANAGER_BIN="$bin/devicemanager" E2E_APISERVER_BIN="$bin/apiserver" E2E_IMAGERUN_BIN="$bin/imagerun" \
    E2E_DRAMANAGER_BIN="$bin/dramanager" E2E_SCHEDULER_BIN="$bin/scheduler"

if [ "${E2E_SKIP_CARGO:-0}" = 1 ]; then
    step "Rust plugin build skipped (E2E_SKIP_CARGO=1): its scenarios skip"
    export E2E_NO_PLUGIN=1
else
    step "build the plugin and the simulator (cargo, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    if cargo build --locked -p ascend-device-plugin -p dcmi-sim; then
        debug="$CARGO_TARGET_DIR/debug"
        export E2E_PLUGIN_BIN="$debug/ascend-device-plugin" E2E_SIM_BIN="$debug/ascend-sim" E2E_DCMI_LIB="$debug/libdcmi.so"
    else
        echo "--- FAIL: cargo build (the plugin scenarios skip instead of running a stale binary)"
        failed=$((failed + 1)); failures+=("cargo build")
        export E2E_NO_PLUGIN=1
    fi
fi

# The image scenario runs the amd64 image of the OCI archive, built here
# from Debian's packages and the release binary (scripts/image-oci.sh).
# (The list is read whole first: `grep -q` in the pipe would exit at the
# first match and, under pipefail, the listing's SIGPIPE would make the
# whole test false.)
listed=$(cd tests/e2e && "$bin/e2e.test" -test.list "${E2E_RUN:-.*}")
if [ "${E2E_NO_PLUGIN:-0}" != 1 ] && grep -q '^TestImage' <<< "$listed"; then
    step "build the amd64 image for the image scenario (scripts/image-oci.sh)"
    if scripts/image-oci.sh --platforms amd64 --out "$run_dir/image.oci.tar"; then
        export E2E_IMAGE_ARCHIVE="$run_dir/image.oci.tar"
    else
        echo "--- FAIL: scripts/image-oci.sh (the image scenario fails without it)"
        failed=$((failed + 1)); failures+=("scripts/image-oci.sh")
    fi
fi

# Per-scenario time limits in seconds (default 300).
limit_for() {
    case "$1" in
        TestPluginSurvivesTwentyKubeletRestarts*) echo 420 ;;
        TestAPIServer*) echo 360 ;;
        TestClusterVolcanoNode*) echo 360 ;;
        TestClusterPluginRidesOut*) echo 300 ;;
        TestDRANodeWithTheShippedOverlay) echo 480 ;;
        *) echo 300 ;;
    esac
}

mapfile -t scenarios < <(cd tests/e2e && "$bin/e2e.test" -test.list "${E2E_RUN:-.*}" | grep '^Test')
step "run ${#scenarios[@]} scenarios"
export TMPDIR="$run_dir"
for name in "${scenarios[@]}"; do
    limit=$(limit_for "$name")
    log="$run_dir/$name.log"
    t0=$(date +%s)
    # Own process group (setsid), so a hung scenario and everything it
    # started can be killed as one; the harness children also die with it
    # (Pdeathsig).
    set +e
    (
        cd tests/e2e
        exec setsid timeout --kill-after=15 "$((limit + 30))" \
            "$bin/e2e.test" -test.run "^${name}\$" -test.v -test.count=1 -test.timeout "${limit}s"
    ) >"$log" 2>&1 &
    pid=$!
    current_pgid=$pid
    wait "$pid"
    status=$?
    current_pgid=""
    set -e
    took=$(( $(date +%s) - t0 ))
    if [ "$status" = 0 ] && grep -q "^--- SKIP: ${name} " "$log"; then
        skipped=$((skipped + 1))
        echo "--- SKIP: $name (${took}s): $(grep -B1 "^--- SKIP: ${name} " "$log" | head -1 | sed 's/^ *//')"
    elif [ "$status" = 0 ]; then
        passed=$((passed + 1))
        # Subtests, and the numbers a scenario reports (t.Logf("REPORT ...")).
        grep -E "^\s+--- (PASS|SKIP)|REPORT " "$log" || true
        echo "--- PASS: $name (${took}s)"
    else
        failed=$((failed + 1)); failures+=("$name")
        cat "$log"
        echo "--- FAIL: $name (${took}s, exit $status, limit ${limit}s)"
    fi
done

step "done"
if [ "${#failures[@]}" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
