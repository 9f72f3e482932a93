#!/bin/sh
# run_fuzz.sh FUZZER WORKDIR SEEDS [libFuzzer options...]
# New inputs go to WORKDIR/corpus (libFuzzer writes only to its first corpus
# directory), so the committed seeds are read but never modified; crashes
# land in WORKDIR/artifacts. A finding exits 1: libFuzzer's own default, 77,
# is what meson reads as SKIP.
set -e
fuzzer=$1
work=$2
seeds=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" -max_total_time=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -error_exitcode=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
