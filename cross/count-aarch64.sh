#!/bin/sh
# Instructions per token of each kernel, per aarch64 table, at D = 128 and
# 1024 (d = D / 4), counted under qemu (-d in_asm,exec: every executed
# block of the kernel and forward-pass code, -dfilter keeping the log to
# their functions), and the Cortex-A76 cycles they need at least at its
# published throughput (cross/count_insns.py says which): an estimate, no
# ARM hardware here. One call of a kernel (32 tokens) is the difference
# between runs of 1 and 0 calls, so the setup cancels out. Prints a
# markdown table (docs/PERFORMANCE.md, "aarch64").
#
#   sh cross/count-aarch64.sh [cross-build-dir]     (after cross/test-aarch64.sh)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-aarch64}
bench=$build/tests/bench/bench_kernels
export QEMU_CPU=max

# the functions of the kernel files and forward.c, at qemu's load address
# of a PIE executable (start_code in -d page), and the shared libraries qemu
# maps above it (libm's lrintf and sqrt are part of the kernels' cost; what
# libc does for the setup is the same in both runs), and the PLT stubs
filter=$(python3 - "$bench" "$build"/engine/libbitttt_internal.a.p/src_kernels_scalar.c.o \
    "$build"/engine/libbitttt_internal.a.p/src_forward.c.o \
    "$build"/engine/libbitttt_neon.a.p/*.o "$build"/engine/libbitttt_neon_dotprod.a.p/*.o <<'PY'
import subprocess, sys
def syms(path):
    out = subprocess.run(["aarch64-linux-gnu-nm", "-S", "--defined-only", path], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tT":
            yield f[3], int(f[0], 16), int(f[1], 16)
names = {(n, s) for p in sys.argv[2:] for n, _, s in syms(p)}
base = 0x5500000000
r = ["0x%x+0x%x" % (base + a, s) for n, a, s in syms(sys.argv[1]) if (n, s) in names]
# the PLT stubs through which the kernels call libm
sec = subprocess.run(["aarch64-linux-gnu-readelf", "-SW", sys.argv[1]], capture_output=True, text=True).stdout
for line in sec.splitlines():
    f = line.replace("[ ", "[").split()
    if len(f) > 5 and f[1] == ".plt":
        r.append("0x%x+0x%x" % (base + int(f[3], 16), int(f[5], 16)))
print(",".join(r + ["0x%x..0xffffffffffff" % (base + 0x1000000)]))
PY
)

count() { # isa D kernel reps
    qemu-aarch64-static -L /usr/aarch64-linux-gnu -d in_asm,exec,nochain -dfilter "$filter" \
        "$bench" --once "$@" 2>&1 >/dev/null | python3 "$src/cross/count_insns.py"
}

echo "| kernel | D | scalar insns | neon insns | neon-dotprod insns | scalar A76 cycles | neon A76 cycles | neon-dotprod A76 cycles |"
echo "|---|---|---|---|---|---|---|---|"
for k in 0 1 2 3 4 5 6 7 11; do # bench_kernels' per-token kernels (0-7) and the forward (11, K_COUNT)
    for D in 128 1024; do
        name=$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bench" --once 1 "$D" "$k" 0 | cut -d' ' -f2-)
        row="| $name | $D"
        cyc=""
        for isa in 1 4 5; do # TTT_ISA_SCALAR, NEON, NEON_DOTPROD
            r=$(python3 - "$(count "$isa" "$D" "$k" 0)" "$(count "$isa" "$D" "$k" 1)" <<'PY'
import sys
a, b = (dict(kv.split("=") for kv in s.split()) for s in sys.argv[1:3])
c = {k: (int(b[k]) - int(a[k])) / 32.0 for k in a}
cyc = max(c["total"] / 4, c["simd"] / 2, c["v0"], c["v1"], c["load"] / 2, c["store"],
          (c["load"] + c["store"]) / 2, c["int"] / 3)
print("%.0f %.0f" % (c["total"], cyc))
PY
)
            row="$row | ${r% *}"
            cyc="$cyc | ${r#* }"
        done
        echo "$row$cyc |"
    done
done
