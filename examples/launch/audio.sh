#!/bin/sh
# Audio through bitttt with gst-launch-1.0: a token is 64 consecutive mono
# frames (D = 64). A 440 Hz tone, then (concat) a 1000 Hz tone: each tone
# repeats, so the layer learns it and the surprise falls; the new tone is
# a surprise at first.
#
#   examples/launch/audio.sh [BUILD_DIR]
set -eu
. "$(dirname "$0")/common.sh"

echo "gst-launch-1.0 -m concat name=c \\"
echo "  ! audio/x-raw,format=F32LE,channels=1,rate=16000 \\"
echo "  ! bitttt frames-per-token=64 interval=256000000 ! fakesink \\"
echo "  audiotestsrc freq=440 num-buffers=24 ! c. \\"
echo "  audiotestsrc freq=1000 num-buffers=24 ! c."
echo "(each source: 24 buffers of 1024 frames = 1.536 s; one message per 256 ms of audio)"
echo
launch "$TMP/log" -m concat name=c \
  ! audio/x-raw,format=F32LE,channels=1,rate=16000 \
  ! bitttt frames-per-token=64 interval=256000000 ! fakesink \
  audiotestsrc freq=440 num-buffers=24 ! c. \
  audiotestsrc freq=1000 num-buffers=24 ! c.
MARK="7 the tone changes to 1000 Hz" bitttt_table "$TMP/log" running-time tokens mean-surprise max-surprise
