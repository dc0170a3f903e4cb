#!/usr/bin/env bash
# aarch64 (Kunpeng: Atlas 800 training servers) from an x86_64 machine:
# cross-compiles with rustup's aarch64 standard library and Debian's cross
# linker, and runs what it built under qemu-user emulation.
#
#   scripts/cross.sh check            the test command's step: the DCMI layout
#                                     proof for aarch64 next to x86_64, and an
#                                     emulated smoke (inspect, one registration)
#   scripts/cross.sh test             every unit and integration test of the
#                                     plugin, the simulator and the ABI, emulated
#   scripts/cross.sh build [--release]  the plugin and the simulator for aarch64
#
# Installs what it needs, once: the rust-std component for
# aarch64-unknown-linux-gnu (rustup), and with apt-get (root) the cross
# compiler gcc-aarch64-linux-gnu, the aarch64 C library libc6-dev-arm64-cross
# and qemu-user-static. The tests start aarch64 programs themselves (the
# plugin binary, the C layout probe), so the kernel must hand aarch64 ELF
# files to qemu: as root, this registers Debian's qemu-aarch64 binfmt_misc
# entry when it is missing (what the package's systemd hook does on a normal
# host) and leaves it registered. Emulated aarch64 C libraries come from
# /usr/aarch64-linux-gnu (QEMU_LD_PREFIX).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
started=$(date +%s)
step() { printf -- '--> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

usage() { sed -n '5,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ensure_cross_toolchain() {
    if ! rustup target list --installed | grep -qx "$target"; then
        step "rustup target add $target"
        rustup target add "$target"
    fi
    if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null ||
        [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
            echo "cross.sh: install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static (as root)" >&2
            exit 1
        fi
        step "apt-get install the aarch64 cross compiler, C library and qemu-user-static"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static >/dev/null
    fi
    local binfmt=/proc/sys/fs/binfmt_misc
    if [ ! -e "$binfmt/qemu-aarch64" ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "cross.sh: aarch64 programs cannot start: register qemu-aarch64 with binfmt_misc (as root)" >&2
            exit 1
        fi
        step "registering qemu-aarch64 with binfmt_misc"
        [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
        cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
    fi
    grep -qx enabled "$binfmt/qemu-aarch64" || {
        echo "cross.sh: the qemu-aarch64 binfmt_misc entry is disabled" >&2
        exit 1
    }

    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # cargo runs each test binary under qemu; the programs a test starts
    # (the plugin, the probe) go through binfmt_misc, and both find the
    # aarch64 loader and C library through QEMU_LD_PREFIX.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L $sysroot"
    export QEMU_LD_PREFIX=$sysroot
    # The layout proof compiles its C probe for the same target.
    export DCMI_PROBE_CC=aarch64-linux-gnu-gcc
    # The integration tests' private dirs: under target/<triple>/tmp their
    # socket paths would pass the 108 bytes of a unix socket address.
    mkdir -p "$HOME/.cache"
    test_tmp=$(mktemp -d "$HOME/.cache/adp-aarch64.XXXXXX")
    trap 'rm -rf "$test_tmp"' EXIT
    export ADP_TEST_TMPDIR=$test_tmp
    # Emulation runs 5-20x slower than native: the integration tests' waits
    # for the plugin (registration, a fault reaching ListAndWatch) stretch by
    # this factor (tests/support/node.rs). What they assert is unchanged.
    export ADP_TEST_PATIENCE_FACTOR=${ADP_TEST_PATIENCE_FACTOR:-6}
}

# The C probe built by both compilers, one line per struct: size and
# alignment on x86_64 and on aarch64, and how many fields (offset, size,
# alignment) agree. Fails on any difference: the driver ships one header for
# both architectures.
compare_layouts() {
    local work
    work=$(mktemp -d)
    cc -std=gnu11 -Wall -Wextra -Werror -o "$work/x86_64" ffi/probe/layout.c
    aarch64-linux-gnu-gcc -std=gnu11 -Wall -Wextra -Werror -o "$work/aarch64" ffi/probe/layout.c
    "$work/x86_64" > "$work/x86_64.txt"
    "$work/aarch64" > "$work/aarch64.txt"
    python3 - "$work/x86_64.txt" "$work/aarch64.txt" <<'EOF'
import sys
def read(path):
    abi, rows = None, {}
    for line in open(path):
        words = line.split()
        if words[0] == "abi":
            abi = words[1:]
        else:
            rows[" ".join(words[:3] if words[0] == "field" else words[:2])] = words[3:] if words[0] == "field" else words[2:]
    return abi, rows
(xabi, x), (aabi, a) = read(sys.argv[1]), read(sys.argv[2])
print(f"C probe: x86_64 abi {xabi} (arch, char signed, long, pointer); aarch64 abi {aabi}")
assert xabi[0] == "x86_64" and aabi[0] == "aarch64", "a probe was built for the wrong architecture"
print(f"{'struct/union':34} {'x86_64 size/align':>18} {'aarch64 size/align':>19}  fields equal")
differ = sorted(k for k in x.keys() | a.keys() if x.get(k) != a.get(k))
for key in sorted(k for k in x if k.startswith("struct ")):
    name = key.split()[1]
    fields = [k for k in x if k.startswith(f"field {name} ")]
    same = sum(1 for k in fields if x[k] == a.get(k))
    print(f"{name:34} {'/'.join(x[key]):>18} {'/'.join(a.get(key, ['-'])):>19}  {same}/{len(fields)}")
enums = [k for k in x if k.startswith("enum ")]
print(f"enums: {len(enums)}, each {sorted({x[k][0] for k in enums})} bytes on x86_64, "
      f"{sorted({a[k][0] for k in enums if k in a})} on aarch64")
if differ:
    print("DIFFERENT on aarch64:", *differ, sep="\n  ")
    sys.exit(1)
print(f"aarch64 layout identical to x86_64: {len(x)} lines (structs, fields, enums)")
EOF
    rm -rf "$work"
}

# cargo_aarch64 SUBCOMMAND ARGS...: cargo for the aarch64 target.
cargo_aarch64() {
    local subcommand=$1
    shift
    cargo "$subcommand" --locked --target "$target" "$@"
}

mode=${1:-}
[ -n "$mode" ] || usage
shift
case "$mode" in
    check)
        ensure_cross_toolchain
        # The tests start the simulator's CLI and load its library.
        step "build the simulator for aarch64"
        cargo_aarch64 build -p dcmi-sim
        step "DCMI layout: the C probe for x86_64 and for aarch64 (emulated)"
        compare_layouts
        step "DCMI layout proof for aarch64: C probe vs the #[repr(C)] types, emulated"
        cargo_aarch64 test -p dcmi-abi --test layout
        step "emulated smoke: inspect on the simulator (aarch64 plugin and libdcmi.so)"
        cargo_aarch64 test -p ascend-device-plugin --test inspect
        step "emulated smoke: one registration with a kubelet stand-in"
        cargo_aarch64 test -p ascend-device-plugin --test plugin -- --exact \
            it_registers_with_the_options_it_serves_and_a_0600_socket
        step "aarch64 check passed"
        ;;
    test)
        ensure_cross_toolchain
        cargo_aarch64 build -p dcmi-sim
        step "every test of the plugin, the simulator and the ABI for aarch64, emulated"
        cargo_aarch64 test -p ascend-device-plugin -p dcmi-sim -p dcmi-abi "$@"
        step "aarch64 tests passed"
        ;;
    build)
        ensure_cross_toolchain
        profile=()
        [ "${1:-}" = --release ] && profile=(--release)
        cargo_aarch64 build "${profile[@]}" -p ascend-device-plugin -p dcmi-sim
        dir="$CARGO_TARGET_DIR/$target/$([ "${#profile[@]}" = 1 ] && echo release || echo debug)"
        file "$dir/ascend-device-plugin" "$dir/libdcmi.so" "$dir/ascend-sim" 2>/dev/null ||
            ls -l "$dir/ascend-device-plugin" "$dir/libdcmi.so" "$dir/ascend-sim"
        ;;
    *) usage ;;
esac
