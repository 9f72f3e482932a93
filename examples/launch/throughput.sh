#!/bin/sh
# Throughput of bitttt in a tensor pipeline, measured two ways:
#   - wall time of `multifilesrc ! bitttt ! fakesink` minus that of the same
#     pipeline without bitttt (best of 3 each): what the element costs;
#   - the element's own figure, tokens-per-second in its `bitttt` messages
#     (time spent inside the engine only).
#
#   examples/launch/throughput.sh [BUILD_DIR]     (env: DIM=256 BUFFERS=2000)
#
# multifilesrc rereads one prepared buffer of 256 random tokens; tensor
# caps need a framerate there (it timestamps the buffers).
set -eu
. "$(dirname "$0")/common.sh"
DIM=${DIM:-256}
BUFFERS=${BUFFERS:-2000}
N=256
TOKENS=$((N * BUFFERS))

"$PY" - "$TMP/tokens.f32" "$DIM" "$N" <<'PYEOF'
import array, random, sys
random.seed(2)
dim, n = int(sys.argv[2]), int(sys.argv[3])
array.array("f", [random.gauss(0, 1) for _ in range(dim * n)]).tofile(open(sys.argv[1], "wb"))
PYEOF

CAPS="other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)$DIM:$N,framerate=(fraction)1000/1"
SRC="multifilesrc location=$TMP/tokens.f32 num-buffers=$BUFFERS caps=$CAPS"

# best_of3 PIPELINE...: the shortest wall time of 3 runs, in seconds
best_of3() {
  best=
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    launch "$TMP/log" -q "$@"
    t=$(( $(date +%s%N) - t0 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best" | awk '{ printf "%.3f", $1 / 1e9 }'
}

echo "$BUFFERS buffers of $N tokens of $DIM floats ($TOKENS tokens), best of 3 runs:"
base=$(best_of3 $SRC ! fakesink)
with=$(best_of3 $SRC ! bitttt post-messages=false ! fakesink)
launch "$TMP/log" -m $SRC ! bitttt ! fakesink
awk -v base="$base" -v with="$with" -v tokens="$TOKENS" '
  /: bitttt, / {
    t = $0; sub(".*tokens=\\(guint64\\)", "", t); sub(",.*", "", t)
    r = $0; sub(".*tokens-per-second=\\(double\\)", "", r); sub("[,;].*", "", r)
    if (r > 0) { n += t; engine += t / r }
  }
  END {
    printf "  multifilesrc ! fakesink            %7.3f s\n", base
    printf "  multifilesrc ! bitttt ! fakesink   %7.3f s\n", with
    if (with > base)
      printf "  bitttt (the difference)            %7.3f s  = %.2f M tokens/s, %.2f us/token\n",
             with - base, tokens / (with - base) / 1e6, (with - base) * 1e6 / tokens
    if (engine > 0)
      printf "  engine time from its messages      %7.3f s  = %.2f M tokens/s\n", engine, n / engine / 1e6
  }' "$TMP/log"
