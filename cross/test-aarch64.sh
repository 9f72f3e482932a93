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
# Then the same for a 32-bit armhf build (scalar kernels only) in
# cross-build-dir-armhf.
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, gcc-arm-linux-gnueabihf,
# libc6-dev-armhf-cross, qemu-user-static.
# Only the engine suite runs (no GStreamer plugin, no python in the cross
# build); TTT_TEST_SMALL=1 shortens isa-equal's streams (every case stays),
# as qemu runs the engine 10-30x slower than the host.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-aarch64}
host=${2:-$src/build}
export TTT_TEST_SMALL=1

fail=0
say() { printf '== %s\n' "$*"; }

# setup dir cross-file: a cross build of the engine alone
cross_build() {
    [ -f "$1/build.ninja" ] ||
        meson setup "$1" "$src" --cross-file "$src/cross/$2" -Dgst=disabled --werror
    ninja -C "$1"
}

# golden label file command...: whole forwards of the emulated build, bit for
# bit against the host's scalar kernels
golden() {
    label=$1 out=$2
    shift 2
    "$@" "$out" || fail=1
    if cmp "$build/golden-x86-scalar.bin" "$out"; then
        say "golden $label == x86 scalar, bit for bit"
    else
        say "FAIL: golden $label differs from x86 scalar"
        fail=1
    fi
}

cross_build "$build" aarch64-linux-gnu.txt
[ -f "$host/build.ninja" ] || meson setup "$host" "$src" --werror
ninja -C "$host" tests/engine/golden
# the expected outputs come from the scalar path of the host build alone
TTT_FORCE_ISA=scalar "$host/tests/engine/golden" "$build/golden-x86-scalar.bin"

mtest() { meson test --print-errorlogs --timeout-multiplier 10 "$@" || fail=1; }

# cpu:level, the level being what AUTO must pick on that CPU
for pair in cortex-a53:neon cortex-a76:neon-dotprod max:neon-dotprod; do
    cpu=${pair%%:*}
    best=${pair#*:}
    export QEMU_CPU=$cpu
    if [ "$cpu" = max ]; then
        # the same table as cortex-a76: only the detection and the kernels
        say "$cpu: checkasm, isa-equal (AUTO = $best)"
        export TTT_EXPECT_ISA=$best
        mtest -C "$build" checkasm isa-equal
        continue
    fi
    say "$cpu: engine suite (AUTO = $best)"
    export TTT_EXPECT_ISA=$best
    mtest -C "$build" --suite engine
    for level in scalar neon neon-dotprod; do
        say "$cpu: TTT_FORCE_ISA=$level checkasm, isa-equal, golden"
        export TTT_FORCE_ISA=$level TTT_EXPECT_ISA=$level
        mtest -C "$build" checkasm isa-equal
        golden "$level on $cpu" "$build/golden-$level.bin" \
            qemu-aarch64-static -L /usr/aarch64-linux-gnu "$build/tests/engine/golden"
        unset TTT_FORCE_ISA
        [ "$level" = "$best" ] && break
    done
done
unset QEMU_CPU TTT_EXPECT_ISA

# armhf (32-bit): the scalar kernels alone, the engine suite and the golden
# compare, as a check that nothing assumes a 64-bit size_t
hf=$build-armhf
cross_build "$hf" arm-linux-gnueabihf.txt
say "armhf: engine suite"
mtest -C "$hf" --suite engine
golden "armhf scalar" "$hf/golden.bin" qemu-arm-static -L /usr/arm-linux-gnueabihf "$hf/tests/engine/golden"
exit $fail
