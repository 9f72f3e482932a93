"""Dynamic instruction counts from qemu's log, and a Cortex-A76 estimate.

Reads `qemu-aarch64 -d in_asm,exec,nochain` output on stdin: every
translated block (its instructions, once) and every execution of one
(nochain: each is logged). Prints one line: the executed instructions in
total and per class, and the cycles a Cortex-A76 needs at least to issue
them at its published throughput (Arm Cortex-A76 Software Optimization
Guide): 4 instructions decoded a cycle, two ASIMD/FP pipes (V0, V1) of which
only V0 does the vector integer multiplies (SMULL/SMLAL/MUL/MLA) and
SADALP runs on V1 alone at one a cycle, two loads and one store a cycle,
three integer pipes. It is a throughput bound: dependency chains, cache
misses and branch mispredictions are not in it.
"""
import re
import sys

CLASSES = ("total", "load", "store", "simd", "v0", "v1", "int")


def classify(mn, ops):
    c = {"total": 1}
    if mn.startswith("ld") or mn.startswith("prfm"):
        c["load"] = 1
    elif mn.startswith("st"):
        c["store"] = 1
    elif re.search(r"\bv\d+\.", ops) or mn[0] == "f" or mn in ("scvtf", "ucvtf", "fmov"):
        c["simd"] = 1
        if mn.rstrip("2") in ("smull", "smlal", "umull", "umlal", "mul", "mla", "mls", "sqdmulh"):
            c["v0"] = 1
        elif mn in ("sadalp", "uadalp"):
            c["v1"] = 1
    else:
        c["int"] = 1
    return c


def main():
    tbs = {}
    counts = dict.fromkeys(CLASSES, 0)
    cur = None
    insn = re.compile(r"^0x([0-9a-f]+):\s+[0-9a-f]{8}\s+(\S+)\s*(.*)$")
    trace = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    for line in sys.stdin:
        if line.startswith("IN:"):
            cur = None
            continue
        m = insn.match(line)
        if m:
            pc = int(m.group(1), 16)
            if cur is None:
                cur = dict.fromkeys(CLASSES, 0)
                tbs[pc] = cur
            for k, v in classify(m.group(2), m.group(3)).items():
                cur[k] += v
            continue
        if not line.strip():
            cur = None
            continue
        m = trace.match(line)
        if m:
            tb = tbs.get(int(m.group(1), 16))
            if tb:
                for k in CLASSES:
                    counts[k] += tb[k]
    print(" ".join("%s=%d" % (k, counts[k]) for k in CLASSES))


if __name__ == "__main__":
    main()
