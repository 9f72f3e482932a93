#!/bin/sh
# Anomalies in a scalar sensor series, with gst-launch-1.0 and bitttt's
# analyser mode.
#
#   examples/launch/scalar-series.sh [BUILD_DIR]
#
# One value per timestamp (100 Hz, 60 s): a noisy sine with two injected
# anomalies, a spike at t = 30.00 s and a level shift of +1 from t = 45 s.
# The series is mono float32 audio to GStreamer. With frames-per-token=32
# hop=1 a token is the window of the last 32 values, one per sample, and
# anomaly=true turns each window's surprise into a score in [0, 1].
# objective=multiview keeps the memory from going inert on a long periodic
# stream and keeps the level in its target (docs/MEMORY.md); inner-lr=0.2
# learns the period within a second. filesrc gives no timestamps, so each
# 400-byte buffer (1 s of series) closes one message interval.
#
# The script prints, per second, the message's max-surprise and anomaly
# (the max score over that second), marks the injected anomalies, and fails
# unless exactly those seconds score >= 0.9.
set -eu
. "$(dirname "$0")/common.sh"

# the series, raw float32 little-endian: numpy, else stdlib python, else awk
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$TMP/series.f32" <<'PYEOF'
import sys
import numpy as np
rng = np.random.default_rng(1)
t = np.arange(6000)
x = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, t.size)
x[3000] += 3.0                            # spike at 30.00 s
x[4500:] += 1.0                           # level shift from 45 s
x.astype("<f4").tofile(sys.argv[1])
PYEOF
elif command -v "$PY" >/dev/null 2>&1; then
  "$PY" - "$TMP/series.f32" <<'PYEOF'
import array, math, random, sys
random.seed(1)
x = array.array("f")
for t in range(6000):
    v = math.sin(2 * math.pi * t / 50) + random.gauss(0, 0.05)
    v += 3.0 if t == 3000 else 0.0
    v += 1.0 if t >= 4500 else 0.0
    x.append(v)
if sys.byteorder != "little":
    x.byteswap()
with open(sys.argv[1], "wb") as f:
    x.tofile(f)
PYEOF
else
  # awk: Box-Muller noise, float32 bits written byte by byte
  LC_ALL=C awk 'function f32(v,   s, e, m, mant, ex) {
      if (v == 0) { printf "%c%c%c%c", 0, 0, 0, 0; return }
      s = v < 0; if (s) v = -v
      e = int(log(v) / log(2)); if (2 ^ e > v) e--; if (2 ^ (e + 1) <= v) e++
      mant = int((v / 2 ^ e - 1) * 8388608 + 0.5); ex = e + 127
      if (mant == 8388608) { mant = 0; ex++ }
      printf "%c%c%c%c", mant % 256, int(mant / 256) % 256,
        int(mant / 65536) + (ex % 2) * 128, int(ex / 2) + s * 128 }
    BEGIN { srand(1); pi = atan2(0, -1)
      for (t = 0; t < 6000; t++) {
        n = sqrt(-2 * log(1 - rand())) * cos(2 * pi * rand())
        v = sin(2 * pi * t / 50) + 0.05 * n
        if (t == 3000) v += 3; if (t >= 4500) v += 1
        f32(v) } }' > "$TMP/series.f32"
fi

echo "gst-launch-1.0 -m filesrc location=series.f32 blocksize=400 \\"
echo "  ! audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate=100 \\"
echo "  ! bitttt frames-per-token=32 hop=1 anomaly=true objective=multiview inner-lr=0.2 ! fakesink"
echo "(60 s at 100 Hz; one message per second; spike at 30.00 s, level +1 from 45 s)"
echo
launch "$TMP/log" -m filesrc location="$TMP/series.f32" blocksize=400 \
  ! audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate=100 \
  ! bitttt frames-per-token=32 hop=1 anomaly=true objective=multiview \
    inner-lr=0.2 ! fakesink

awk '
  function field(name,   v) {
    v = $0; sub(".*[ ,]" name "=\\([a-z0-9]+\\)", "", v); sub("[,;].*", "", v)
    return v }
  BEGIN { printf "  %4s %7s %12s %7s\n", "sec", "windows", "max-surprise", "anomaly" }
  /: bitttt, / {
    a = field("anomaly") + 0; note = ""
    if (sec == 30) note = "   <- spike"
    if (sec == 45) note = "   <- level shift"
    bar = ""; for (i = 0; i < int(a * 20 + 0.5); i++) bar = bar "#"
    printf "  %4d %7d %12.4g %7.2f %-20s%s\n", sec, field("tokens"),
      field("max-surprise"), a, bar, note
    if (a >= 0.9 && sec != 30 && sec != 45) false_alarm = false_alarm " " sec
    if (sec == 30 || sec == 45) { if (a >= 0.9) found++ }
    sec++ }
  END {
    if (sec != 60) { print "expected 60 messages, got " sec; exit 1 }
    if (found != 2) { print "an injected anomaly scored below 0.9"; exit 1 }
    if (false_alarm != "") { print "scores >= 0.9 at seconds" false_alarm; exit 1 }
    print "\n  both injected anomalies score >= 0.9; no other second does" }' \
  "$TMP/log"
