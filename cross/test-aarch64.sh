#!/bin/sh
# The aarch64 cross build and its engine tests under qemu's user mode, on an
# emulated CPU without the dot product (cortex-a53: the neon table) and on
# ones with it (cortex-a76, max: neon-dotprod), so that both tables run and
# AUTO is checked to pick each (TTT_EXPECT_ISA makes test_isa_equal fail on a
# wrong detection). Then checkasm and isa-equal with every aarch64 level
# forced, and whole forwards of each level compared bit for bit with the x86
# build's scalar kernels (tests/engine/golden.c): numpy's reference cannot
# load the emulated library, and the x86 scalar kernels are the ones
# tests/reference checks against it.
#
#   sh cross/test-aarch64.sh [cross-build-dir [host-build-dir]]
#       defaults build-aarch64 and build (the README's plain build)
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static.
# Only the engine suite runs (no GStreamer plugin, no python in the cross
# build); TTT_TEST_SMALL=1 shortens isa-equal's streams (every case stays),
# as qemu runs the engine 10-30x slower than the host.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-aarch64}
host=${2:-$src/build}
export TTT_TEST_SMALL=1

[ -f "$build/build.ninja" ] ||
    meson setup "$build" "$src" --cross-file "$src/cross/aarch64-linux-gnu.txt" -Dgst=disabled --werror
ninja -C "$build"
[ -f "$host/build.ninja" ] || meson setup "$host" "$src" --werror
ninja -C "$host" tests/engine/golden

# the expected outputs come from the scalar path of the host build alone
TTT_FORCE_ISA=scalar "$host/tests/engine/golden" "$build/golden-x86-scalar.bin"

fail=0
say() { printf '== %s\n' "$*"; }

# cpu:level, the level being what AUTO must pick on that CPU
for pair in cortex-a53:neon cortex-a76:neon-dotprod max:neon-dotprod; do
    cpu=${pair%%:*}
    best=${pair#*:}
    export QEMU_CPU=$cpu
    if [ "$cpu" = max ]; then
        # the same table as cortex-a76: only the detection and the kernels
        say "$cpu: checkasm, isa-equal (AUTO = $best)"
        TTT_EXPECT_ISA=$best meson test -C "$build" --print-errorlogs --timeout-multiplier 4 checkasm isa-equal ||
            fail=1
        continue
    fi
    say "$cpu: engine suite (AUTO = $best)"
    TTT_EXPECT_ISA=$best meson test -C "$build" --suite engine --print-errorlogs --timeout-multiplier 4 || fail=1
    for level in scalar neon neon-dotprod; do
        say "$cpu: TTT_FORCE_ISA=$level checkasm, isa-equal, golden"
        TTT_FORCE_ISA=$level TTT_EXPECT_ISA=$level meson test -C "$build" --print-errorlogs \
            --timeout-multiplier 4 checkasm isa-equal || fail=1
        TTT_FORCE_ISA=$level qemu-aarch64-static -L /usr/aarch64-linux-gnu \
            "$build/tests/engine/golden" "$build/golden-$level.bin" || fail=1
        if cmp "$build/golden-x86-scalar.bin" "$build/golden-$level.bin"; then
            say "golden $level on $cpu == x86 scalar, bit for bit"
        else
            say "FAIL: golden $level on $cpu differs from x86 scalar"
            fail=1
        fi
        [ "$level" = "$best" ] && break
    done
done
exit $fail
