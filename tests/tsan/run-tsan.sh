#!/bin/sh
# run-tsan.sh [--canary]: ThreadSanitizer over the element's concurrency
# tests (elements/bitttt_stress, elements/bitttt) and the engine's threads
# test, on Debian 12. A manual check, not part of `meson test` or CI: the
# first run builds GLib and GStreamer core from source (a few minutes).
#
# Why it builds GLib and GStreamer: TSan only sees synchronisation done in
# instrumented code. Debian's GMutex (GST_OBJECT_LOCK) is an atomic plus a
# futex, so with Debian's libglib every access guarded by the object lock is
# reported as a race; and GStreamer hands messages, buffers and objects
# between threads by their atomic reference count, so with Debian's
# libgstreamer every last unref in another thread is reported too. Both are
# rebuilt from the Debian source packages of the installed versions with
# -fsanitize=thread and loaded through LD_LIBRARY_PATH; gst-plugins-base
# (appsrc, appsink) stays Debian's: it locks through the rebuilt GLib.
#
# Environment:
#   TSAN_CACHE      where the sources and the instrumented libraries go
#                   (default ~/.cache/bitttt-tsan; reused across runs)
#   TSAN_BUILD      the project's TSan build directory (default build-tsan)
#   STRESS_SECONDS  length of the concurrency test (default 10)
# --canary: also build a copy of the tree whose set_property writes
# inner-lr outside GST_OBJECT_LOCK, and require TSan to report it, which
# shows that this setup does see a race on a lock-guarded field.
#
# Exit status: 0 when every test passed with no TSan report, 1 otherwise.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cache=${TSAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bitttt-tsan}
build=${TSAN_BUILD:-$src/build-tsan}
stress_seconds=${STRESS_SECONDS:-10}
canary=0
[ "${1:-}" = --canary ] && canary=1
jobs=2

say() { printf '== %s\n' "$*"; }
die() { printf 'run-tsan.sh: %s\n' "$*" >&2; exit 1; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=/dev/null
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
  say "warning: written for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"

# ---- packages ---------------------------------------------------------------
# dpkg-dev for apt-get source; flex and bison for GStreamer's parser (kept so
# the rebuilt libgstreamer exports the same symbols as Debian's)
need="clang meson ninja-build pkg-config dpkg-dev flex bison libffi-dev
  libpcre2-dev zlib1g-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base"
missing=
for p in $need; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing$missing"
  # shellcheck disable=SC2086 # one word per package
  as_root apt-get install -y --no-install-recommends $missing
fi

# ---- deb-src ----------------------------------------------------------------
if ! grep -Eqs '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
  [ -f /etc/apt/sources.list.d/debian.sources ] ||
    die "no deb-src entry and no /etc/apt/sources.list.d/debian.sources to copy it from"
  say "adding /etc/apt/sources.list.d/debian-src.sources"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    as_root tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
  as_root apt-get update
fi

# ---- instrumented GLib and GStreamer core -----------------------------------
glib_ver=$(dpkg-query -W -f='${source:Version}' libglib2.0-0)
gst_ver=$(dpkg-query -W -f='${source:Version}' libgstreamer1.0-0)
prefix=$cache/glib-$glib_ver-gst-$gst_ver
stamp=$prefix/.complete

# fetch SOURCE-PACKAGE VERSION DIR: unpack the installed version's source
# (the same version keeps the ABI the Debian plugins were built against)
fetch() {
  rm -rf "$3" && mkdir -p "$3"
  if ! (cd "$3" && apt-get source "$1=$2"); then
    say "warning: $1 $2 not in the deb-src index, taking the newest $1"
    rm -rf "$3" && mkdir -p "$3"
    (cd "$3" && apt-get source "$1") || die "cannot fetch the source of $1"
  fi
}

if [ ! -f "$stamp" ]; then
  say "building GLib $glib_ver and GStreamer $gst_ver with -fsanitize=thread into $prefix"
  rm -rf "$prefix"
  fetch glib2.0 "$glib_ver" "$cache/src/glib"
  fetch gstreamer1.0 "$gst_ver" "$cache/src/gst"
  glib_src=$(find "$cache/src/glib" -mindepth 1 -maxdepth 1 -type d -name 'glib2.0-*')
  gst_src=$(find "$cache/src/gst" -mindepth 1 -maxdepth 1 -type d -name 'gstreamer1.0-*')

  # only the libraries: the features left out touch nothing the tests use
  rm -rf "$cache/build/glib"
  CC=clang meson setup "$cache/build/glib" "$glib_src" --prefix="$prefix" \
    --libdir=lib --buildtype=debugoptimized --wrap-mode=nofallback \
    -Db_sanitize=thread -Db_lundef=false -Dtests=false -Dman=false \
    -Dgtk_doc=false -Dnls=disabled -Dselinux=disabled -Dlibmount=disabled \
    -Dxattr=false -Dsysprof=disabled -Dlibelf=disabled -Ddtrace=false \
    -Dsystemtap=false -Dglib_debug=disabled
  ninja -C "$cache/build/glib" -j$jobs
  meson install -C "$cache/build/glib" --quiet

  # glib-checks=disabled: gst_object_unref's precondition
  # g_return_if_fail (ref_count > 0) reads the reference count without an
  # atomic load, a race inside GStreamer against every concurrent ref/unref
  # (TSan reported it from 14 places per run); the check only guards
  # against API misuse, which the tests do not exercise
  rm -rf "$cache/build/gst"
  PKG_CONFIG_PATH=$prefix/lib/pkgconfig CC=clang meson setup \
    "$cache/build/gst" "$gst_src" --prefix="$prefix" --libdir=lib \
    --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false \
    -Dglib-checks=disabled -Dcheck=enabled -Dtests=disabled \
    -Dexamples=disabled -Dbenchmarks=disabled -Dtools=disabled \
    -Dintrospection=disabled -Dnls=disabled -Ddoc=disabled \
    -Dlibunwind=disabled -Dlibdw=disabled -Ddbghelp=disabled \
    -Dbash-completion=disabled -Dptp-helper-permissions=none \
    -Dcoretracers=disabled
  ninja -C "$cache/build/gst" -j$jobs
  meson install -C "$cache/build/gst" --quiet
  touch "$stamp"
fi

# ---- the project ------------------------------------------------------------
# setup_tsan DIR SOURCE: a clang build with TSan (a directory configured
# otherwise, e.g. with gcc, is wiped)
setup_tsan() {
  wipe=
  if [ -f "$1/build.ninja" ]; then
    if /usr/bin/python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
cc = json.load(open(d + '/compile_commands.json'))[0]['command'].split()[0]
opts = {o['name']: o['value']
        for o in json.load(open(d + '/meson-info/intro-buildoptions.json'))}
sys.exit(0 if 'clang' in cc and opts.get('b_sanitize') == 'thread' else 1)
EOF
    then
      return 0
    fi
    wipe=--wipe
  fi
  CC=clang meson setup $wipe "$1" "$2" --buildtype=debugoptimized \
    -Db_sanitize=thread -Db_lundef=false
}

logs=$build/tsan-logs
# run_tsan DIR TESTS...: the tests with the instrumented libraries, one TSan
# log per process in DIR/tsan-logs; sets $reports to the number of reports
run_tsan() {
  dir=$1
  shift
  rm -rf "$dir/tsan-logs" && mkdir -p "$dir/tsan-logs"
  # GST_REGISTRY_FORK=no: plugins are scanned in the test process (the
  # scanner helper is Debian's, uninstrumented); CK_FORK=no: one process per
  # test program, so a report is not lost in a forked child.
  # G_SLICE=always-malloc: GSlice's magazines read their contention counters
  # without the lock (a heuristic, racy by design inside GLib); with malloc
  # every allocation and free is also seen by TSan one by one.
  # exitcode=66: a report fails the test even when the checks pass.
  status=0
  LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
  GST_REGISTRY_FORK=no CK_FORK=no G_SLICE=always-malloc \
  STRESS_SECONDS=$stress_seconds \
  TSAN_OPTIONS="log_path=$dir/tsan-logs/tsan exitcode=66 history_size=4 second_deadlock_stack=1" \
    meson test -C "$dir" --no-rebuild --num-processes 1 -v "$@" >"$dir/tsan-logs/meson-test.txt" 2>&1 ||
    status=$?
  grep -E '^# stress|^ok |^not ok |Checks:|^ *[0-9]+/[0-9]+ .* [0-9.]+s' \
    "$dir/tsan-logs/meson-test.txt" || true
  reports=$(cat "$dir"/tsan-logs/tsan.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)
  return $status
}

say "building the project with TSan in $build"
setup_tsan "$build" "$src"
ninja -C "$build" -j$jobs

say "running under TSan (STRESS_SECONDS=$stress_seconds)"
failed=0
run_tsan "$build" elements/bitttt_stress elements/bitttt threads || failed=1
say "TSan reports: $reports (logs: $logs)"
if [ "$reports" != 0 ]; then
  grep -h '^SUMMARY' "$logs"/tsan.* | sort | uniq -c
  failed=1
fi
[ $failed = 0 ] || say "FAILED: see $logs/meson-test.txt and $logs/tsan.*"

if [ $canary = 1 ]; then
  say "canary: inner-lr written outside GST_OBJECT_LOCK"
  tree=$cache/canary
  rm -rf "$tree" && mkdir -p "$tree"
  git -C "$src" archive HEAD | tar -x -C "$tree"
  /usr/bin/python3 - "$tree/gst/gstbitttt.c" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
old = """    case PROP_INNER_LR:
      self->inner_lr = g_value_get_float (value);
      break;"""
new = """    case PROP_INNER_LR:
      GST_OBJECT_UNLOCK (self);
      self->inner_lr = g_value_get_float (value);
      GST_OBJECT_LOCK (self);
      break;"""
if text.count(old) != 1:
    sys.exit("canary: the inner-lr case of set_property has changed, update run-tsan.sh")
open(path, 'w').write(text.replace(old, new))
EOF
  setup_tsan "$tree/build" "$tree"
  ninja -C "$tree/build" -j$jobs
  run_tsan "$tree/build" elements/bitttt_stress || true
  if [ "$reports" != 0 ] &&
      grep -q 'gst_bitttt_set_property' "$tree"/build/tsan-logs/tsan.*; then
    say "canary: caught ($reports reports, gst_bitttt_set_property among them)"
  else
    say "canary: NOT caught: this setup does not see races on lock-guarded fields"
    failed=1
  fi
fi

exit $failed
