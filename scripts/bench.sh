#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): builds the plugin, the simulator and
# adp-bench in release mode, then runs adp-bench, which prints the machine,
# each measurement, and a summary table of every number against its target.
# Extra arguments go to adp-bench:
#
#   scripts/bench.sh                                  # the full run (~4 min)
#   scripts/bench.sh --idle-seconds 10                # shorter idle sample
#   scripts/bench.sh --only allocate,start            # some sections only
#   scripts/bench.sh --help
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

echo "==> building (release) the plugin, the simulator and adp-bench" >&2
cargo build --release --locked -p ascend-device-plugin -p dcmi-sim -p adp-bench
bin="$CARGO_TARGET_DIR/release"

# adp-bench finds ascend-device-plugin and libdcmi.so beside itself, and runs
# everything in a private (0700) temp dir it deletes on exit.
exec "$bin/adp-bench" \
    --plugin-bin "$bin/ascend-device-plugin" \
    --sim-lib "$bin/libdcmi.so" \
    "$@"
