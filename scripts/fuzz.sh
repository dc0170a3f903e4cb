#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (cargo fuzz, on the
# nightly toolchain), one target after another, and prints per target the
# executions and the findings (crashes, hangs, out-of-memory).
#
#   scripts/fuzz.sh [SECONDS]    each target SECONDS (default 180) on its corpus
#   scripts/fuzz.sh --smoke      each target a few seconds on its seed corpus
#                                (part of scripts/test.sh)
#   FUZZ_TARGETS="hpack_diff flags" scripts/fuzz.sh 60    only these targets
#
# The seed corpora are fuzz/corpus/<target>/ (committed, read only here); what
# a run adds goes to $HOME/.cache/ascend-device-plugin/fuzz-corpus/<target>/
# (kept between runs, empty dirs in --smoke), a finding to
# .../fuzz-artifacts/<target>/. Fix it, then commit the input that showed it
# to fuzz/regressions/<target>/: tests/fuzz_corpus.rs replays both folders on
# stable in `cargo test`. Exits non-zero on any finding or failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

CARGO_FUZZ_VERSION=0.13.2
smoke=0
seconds=180
case "${1:-}" in
    --smoke) smoke=1; seconds="${FUZZ_SMOKE_SECONDS:-8}" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    '') ;;
    *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS | --smoke]" >&2; exit 2 ;;
    *) seconds=$1 ;;
esac

# libFuzzer instrumentation needs nightly rustc. Its absence is an error, never
# a silent skip: the project's machines come with it (rustup toolchain list).
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly Rust toolchain (rustup toolchain list); cargo fuzz needs one:" >&2
    echo "fuzz:   rustup toolchain install nightly --profile minimal" >&2
    exit 1
fi
ensure_cargo_tool cargo-fuzz cargo-fuzz "$CARGO_FUZZ_VERSION"

cache="$HOME/.cache/ascend-device-plugin"
# Its own target dir: nightly with instrumentation shares nothing with stable.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$cache/fuzz-target}"
mkdir -p "$cache"
# -O -a: optimised, with debug assertions and overflow checks. No sanitizer:
# every fuzzed parser is safe Rust (unsafe lives only in src/dcmi/sys.rs), so
# a memory error cannot happen there; a panic, an overflow, a hang or an
# allocation over the limits below is what a finding is.
flags=(-O -a -s none)
cargo +nightly fuzz build "${flags[@]}"

targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^adp-fuzz$')}
if [ "$smoke" = 1 ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    corpus_base="$work/corpus"
    artifacts_base="$work/artifacts"
else
    corpus_base="$cache/fuzz-corpus"
    artifacts_base="$cache/fuzz-artifacts"
fi

failed=0
summary=()
for target in $targets; do
    if [ ! -d "fuzz/corpus/$target" ]; then
        echo "fuzz: no seed corpus fuzz/corpus/$target" >&2
        exit 1
    fi
    corpus="$corpus_base/$target"
    artifacts="$artifacts_base/$target"
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    log=$(mktemp)
    printf '\n==> fuzz %s for %ss\n' "$target" "$seconds"
    # Hang: one input over 10 s. Out of memory: one allocation over 256 MB or
    # a resident set over 2 GB.
    status=0
    cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=256 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(INFO: seed corpus|#[0-9]+ *DONE|==[0-9]+==|SUMMARY|thread .* panicked|Done [0-9]+ runs)' "$log" | tail -n 5 || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    findings=$(( $(find "$artifacts" -type f | wc -l) - before ))
    if [ "$status" != 0 ] || [ "$findings" != 0 ] || [ -z "$execs" ]; then
        failed=1
        tail -n 40 "$log" >&2
        echo "fuzz: $target failed (status $status); new artifacts in $artifacts" >&2
    fi
    summary+=("$(printf '%-22s %8s %12s %10s %9s' "$target" "${seconds}s" "${execs:-?}" "${rate:-?}" "$findings")")
    rm -f "$log"
done

printf '\n%-22s %8s %12s %10s %9s\n' target time executions "execs/s" findings
printf '%s\n' "${summary[@]}"
exit "$failed"
