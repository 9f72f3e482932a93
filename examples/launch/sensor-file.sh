#!/bin/sh
# A raw float32 sensor recording through bitttt with gst-launch-1.0.
#
#   examples/launch/sensor-file.sh [BUILD_DIR]
#
# 16 sensors sampled together make one token (D = 16); a buffer of 50
# samples is one 16:50 tensor. The signal repeats (a travelling wave) and,
# in samples 1500-1549, two sensors get stuck: the anomaly. filesrc gives no
# timestamps, so the element posts one `bitttt` message per buffer.
set -eu
. "$(dirname "$0")/common.sh"

"$PY" - "$TMP/sensors.f32" <<'PYEOF'
import array, math, random, sys
random.seed(1)
x = array.array("f")                     # float32, host byte order
for t in range(2000):                    # 40 buffers of 50 samples
    for c in range(16):
        v = math.sin(2 * math.pi * t / 25 + 0.4 * c) + random.gauss(0, 0.02)
        if 1500 <= t < 1550 and c in (3, 7):
            v = 2.0                      # stuck sensors
        x.append(v)
with open(sys.argv[1], "wb") as f:
    x.tofile(f)
PYEOF

echo "gst-launch-1.0 -m filesrc location=sensors.f32 blocksize=3200 \\"
echo "  ! 'other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)16:50,framerate=(fraction)0/1' \\"
echo "  ! bitttt inner-lr=0.2 ! fakesink"
echo "(40 buffers of 50 samples; two sensors are stuck in samples 1500-1549: buffer 31)"
echo
launch "$TMP/log" -m filesrc location="$TMP/sensors.f32" blocksize=3200 \
  ! 'other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)16:50,framerate=(fraction)0/1' \
  ! bitttt inner-lr=0.2 ! fakesink
MARK="31 two sensors stuck" bitttt_table "$TMP/log" tokens mean-surprise max-surprise
