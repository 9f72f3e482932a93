# Sourced by the scripts in examples/launch: finds the bitttt plugin.
# The build tree is the script's first argument, else $BUILD, else
# <checkout>/build; its plugin (gst/libgstbitttt.so) is used when it exists,
# otherwise the installed one. Sets REPO, BUILD, PY, and a temp dir TMP
# removed on exit.
# In a sanitizer build, meson test sets BITTTT_SANITIZER_PRELOAD to the ASan
# runtime: the uninstrumented GStreamer tools must load it before the plugin.
# Only they get it: coreutils such as mktemp fail with it preloaded.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${BUILD:-$REPO/build}}
if [ -f "$BUILD/gst/libgstbitttt.so" ]; then
  GST_PLUGIN_PATH="$BUILD/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export GST_PLUGIN_PATH
fi
gst_tool() {
  if [ -n "${BITTTT_SANITIZER_PRELOAD:-}" ]; then
    LD_PRELOAD=$BITTTT_SANITIZER_PRELOAD "$@"
  else
    "$@"
  fi
}
if ! command -v gst-launch-1.0 >/dev/null 2>&1; then
  echo "gst-launch-1.0 not found (Debian: gstreamer1.0-tools)" >&2
  exit 77
fi
if ! gst_tool gst-inspect-1.0 bitttt >/dev/null 2>&1; then
  echo "The bitttt element is not available: build it (meson compile -C $BUILD)," >&2
  echo "pass the build dir as the first argument, or install the plugin." >&2
  exit 1
fi
# stdlib only: Debian's python3 if there, else any
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bitttt-launch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# bitttt_table LOG [FIELD...]: one line per `bitttt` message in the
# `gst-launch-1.0 -m` output LOG (the fields given, or the usual ones); with
# MARK="N text", message N gets a note. Then the first message as posted.
bitttt_table() {
  log=$1; shift
  awk -v fields="${*:-tokens mean-surprise max-surprise tokens-per-second}" \
      -v mark="${MARK:-}" '
    BEGIN { n = split(fields, f, " "); mark_at = mark + 0; sub("^[0-9]+ *", "", mark)
            printf "  %5s", "msg"; for (i = 1; i <= n; i++) printf "  %17s", f[i]; print "" }
    /: bitttt, / {
      m++
      if (m == 1) { first = $0; sub(".*: bitttt, ", "bitttt, ", first) }
      printf "  %5d", m
      for (i = 1; i <= n; i++) {
        v = $0; sub(".*[ ,]" f[i] "=\\([a-z0-9]+\\)", "", v); sub("[,;].*", "", v)
        printf (v ~ /[.e]/ && v ~ /^[0-9.e+-]+$/) ? "  %17.6g" : "  %17s", v
      }
      print (m == mark_at ? "   <- " mark : "")
    }
    END { if (m) print "\n  the first message, as posted on the bus:\n  " first
          else { print "  no bitttt message"; exit 1 } }' "$log"
}

# launch LOG ARGS...: gst-launch-1.0 ARGS > LOG; shows the log if it fails
launch() {
  log=$1; shift
  gst_tool gst-launch-1.0 "$@" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
}
