#!/bin/bash
# Cross-builds libbitttt for 64-bit Windows (MinGW-w64) and runs its tests
# under wine, as CI does on a clean Debian 12 machine (root, no display).
#   cross/test-windows.sh [BUILD_DIR]      default: build-win
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-win}

[ -f "$build/build.ninja" ] || meson setup "$build" --cross-file cross/x86_64-w64-mingw32.txt --werror

# A throwaway prefix, made once here: tests starting wine in parallel on a
# missing prefix would each try to create it. No display: wine runs console
# programs without one; Mono and Gecko are not wanted (no installer prompt).
WINEPREFIX=$(mktemp -d "${TMPDIR:-/tmp}/bitttt-wine.XXXXXX")
export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' WINEARCH=win64
unset DISPLAY WAYLAND_DISPLAY
trap 'wineserver -k 2>/dev/null || true; rm -rf "$WINEPREFIX"' EXIT
# One wineserver for every test, instead of one started and stopped per
# test. Wine's background processes keep whatever stdout they inherit open:
# not this script's, or a pipe reading it would never see its end.
wineserver -p </dev/null >/dev/null 2>&1
# (on Debian 12 without wine32 it notes a missing syswow64\rundll32.exe: harmless)
wine wineboot --init >/dev/null 2>&1

meson test -C "$build" --print-errorlogs
