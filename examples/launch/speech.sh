#!/bin/sh
# Speech through bitttt, as a listener gets it.
#
#   examples/launch/speech.sh [BUILD_DIR]
#
# espeak-ng speaks a sentence (22050 Hz mono S16); bitttt runs it with
# frames-per-token=64 and the default mix; back to S16. Checked: as many
# samples out as in, the level kept (RMS not above the input's, within
# 3 dB), no sample louder than the input's peak, none clipped, and the
# audio changed. Exits 77 without espeak-ng.
set -eu
. "$(dirname "$0")/common.sh"
if ! command -v espeak-ng >/dev/null 2>&1; then
  echo "espeak-ng not found (Debian: espeak-ng)" >&2
  exit 77
fi

espeak-ng -w "$TMP/in.wav" "The quick brown fox jumps over the lazy dog. \
A layer that keeps learning while it runs, one gradient step on every token."

run() {   # run MIX OUT
  echo "gst-launch-1.0 filesrc location=in.wav ! wavparse ! audioconvert ! audio/x-raw,format=F32LE ! bitttt frames-per-token=64${1:+ mix=$1} ! audioconvert ! audio/x-raw,format=S16LE ! wavenc ! filesink location=$(basename "$2")"
  gst_tool gst-launch-1.0 -q filesrc location="$TMP/in.wav" ! wavparse \
    ! audioconvert ! audio/x-raw,format=F32LE \
    ! bitttt frames-per-token=64 ${1:+mix=$1} \
    ! audioconvert ! audio/x-raw,format=S16LE ! wavenc \
    ! filesink location="$2"
}
run "" "$TMP/out.wav"
run 0.5 "$TMP/out-mix05.wav"

"$PY" - "$TMP/in.wav" "$TMP/out.wav" "$TMP/out-mix05.wav" <<'PYEOF'
import array, math, sys, wave

def read(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
        if sys.byteorder == "big":
            a.byteswap()
        return w.getframerate(), a

def rms(a):
    return math.sqrt(sum(v * v for v in a) / len(a)) / 32768

rate, x = read(sys.argv[1])
ok = True
print("%-14s %8s %9s %8s %8s %8s" % ("", "samples", "rate", "RMS", "peak", "clipped"))
print("%-14s %8d %9d %8.4f %8.4f %8s" % ("espeak-ng in", len(x), rate, rms(x),
      max(map(abs, x)) / 32768, "-"))
for name, path in (("bitttt", sys.argv[2]), ("bitttt mix=0.5", sys.argv[3])):
    r, y = read(path)
    clipped = sum(1 for v in y if v >= 32767 or v <= -32768)
    print("%-14s %8d %9d %8.4f %8.4f %8d" % (name, len(y), r, rms(y),
          max(map(abs, y)) / 32768, clipped))
    # audioconvert dithers on the way back to S16: allow 2 LSB of peak
    checks = [
        (len(y) == len(x) and r == rate, "as many samples out as in"),
        (rms(y) <= rms(x) * 1.0001, "RMS not above the input's"),
        (rms(y) >= rms(x) / math.sqrt(2), "RMS within 3 dB of the input's"),
        (max(map(abs, y)) <= max(map(abs, x)) + 2, "peak not above the input's"),
        (clipped == 0, "nothing clipped"),
        (y != x, "the audio changed"),
    ]
    for good, what in checks:
        if not good:
            print("FAILED (%s): %s" % (name, what))
            ok = False
sys.exit(0 if ok else 1)
PYEOF
