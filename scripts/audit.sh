#!/usr/bin/env bash
# Offline dependency audit: every crate in Cargo.lock and fuzz/Cargo.lock
# against the RustSec advisory database snapshot in ../shared/advisory-db. No
# network access to the advisory repository is attempted.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

db="${ADVISORY_DB:-$root/../shared/advisory-db}"
if [ ! -d "$db/crates" ]; then
    echo "advisory database not found at $db (set ADVISORY_DB)" >&2
    exit 1
fi
ensure_cargo_tool cargo-audit cargo-audit 0.22.2
# cargo-audit wants a git checkout; give it a private copy so the shared one
# stays untouched and read-only.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$db" "$work/advisory-db"
if [ ! -d "$work/advisory-db/.git" ]; then
    git -C "$work/advisory-db" init -q
    git -C "$work/advisory-db" add -A
    git -C "$work/advisory-db" -c user.name=audit -c user.email=audit@localhost commit -qm snapshot
fi
# The fuzz crate (fuzz/, its own workspace) adds libFuzzer and loona-hpack.
for lock in Cargo.lock fuzz/Cargo.lock; do
    echo "audit: $lock"
    cargo audit --no-fetch --db "$work/advisory-db" --deny warnings --file "$lock"
done
