#!/bin/sh
# Instructions per token of each kernel, per aarch64 table, at D = 128 and
# 1024 (d = D / 4), counted under qemu (-d in_asm,exec: every executed
# block), and the Cortex-A76 cycles they need at least at its published
# throughput (cross/count_insns.py says which): an estimate, no ARM hardware
# here. One call of a kernel is the difference between runs of 2 and 1 calls
# (setup cancels out), over the 32 tokens of a call. Prints a markdown table
# (docs/PERFORMANCE.md, "aarch64").
#
#   sh cross/count-aarch64.sh [cross-build-dir]     (after cross/test-aarch64.sh)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-aarch64}
bench=$build/tests/bench/bench_kernels
export QEMU_CPU=max

count() { # isa D kernel reps
    qemu-aarch64-static -L /usr/aarch64-linux-gnu -d in_asm,exec,nochain "$bench" --once "$@" 2>&1 >/dev/null |
        python3 "$src/cross/count_insns.py"
}

echo "| kernel | D | scalar insns | neon insns | neon-dotprod insns | scalar A76 cycles | neon A76 cycles | neon-dotprod A76 cycles |"
echo "|---|---|---|---|---|---|---|---|"
for k in 0 1 2 3 4 5 6 7 8; do
    for D in 128 1024; do
        name=$(QEMU_CPU=max qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bench" --once 1 "$D" "$k" 0 | cut -d' ' -f2-)
        row="| $name | $D"
        cyc=""
        for isa in 1 4 5; do # TTT_ISA_SCALAR, NEON, NEON_DOTPROD
            r=$(python3 - "$(count "$isa" "$D" "$k" 1)" "$(count "$isa" "$D" "$k" 2)" <<'PY'
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
