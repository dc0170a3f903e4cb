# Shared settings for the project's scripts (sourced, not run).
# Build caches live in $HOME, never in the repository.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ascend-device-plugin/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="$HOME/.cargo/bin:$PATH"

ensure_rust_components() {
    local missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    if [ "${#missing[@]}" -gt 0 ]; then
        rustup component add "${missing[@]}"
    fi
}

# ensure_cargo_tool BINARY CRATE VERSION: installs a pinned cargo tool once.
ensure_cargo_tool() {
    local binary=$1 crate=$2 version=$3
    if ! command -v "$binary" >/dev/null 2>&1 || ! "$binary" --version 2>/dev/null | grep -q "$version"; then
        cargo install --locked "$crate" --version "$version"
    fi
}
