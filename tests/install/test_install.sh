#!/bin/bash
# Install into a temporary root and prove an outside user can (a) build and
# run a C program with pkg-config, and (b) find the element with gst-inspect.
set -euo pipefail
build=$1 prefix=$2 libdir=$3 consumer=$4 gst=$5 sanitize=${6:-none}
root=$(mktemp -d /tmp/bitttt-install-XXXXXX)
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --destdir "$root" --no-rebuild --quiet
case $libdir in /*) lib=$root$libdir ;; *) lib=$root$prefix/$libdir ;; esac

for f in "$root$prefix/include/bitttt/bitttt.h" "$root$prefix/include/bitttt/bitttt.hpp" "$lib/pkgconfig/bitttt.pc"; do
    [ -f "$f" ] || { echo "not installed: $f"; exit 1; }
done
soname=$(readelf -d "$lib/libbitttt.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname =~ ^libbitttt\.so\.[0-9]+$ ]] || { echo "bad SONAME '$soname'"; exit 1; }
echo "SONAME $soname"

# the .pc file names the real prefix; the sysroot variable maps it into $root
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
flags=$(pkg-config --cflags --libs bitttt)
echo "pkg-config: $flags (version $(pkg-config --modversion bitttt))"
# a sanitized library needs its runtime: the consumer is built as the build
# tree was; gst-inspect-1.0, built without, gets the ASan runtime preloaded
san=()
[ "$sanitize" = none ] || san=(-fsanitize="$sanitize")
cc -std=c99 -Wall -Werror "${san[@]}" "$consumer" $flags -o "$root/consumer"
LD_LIBRARY_PATH=$lib "$root/consumer"

if [ "$gst" = gst ]; then
    plugin=$lib/gstreamer-1.0/libgstbitttt.so
    [ -f "$plugin" ] || { echo "plugin not installed: $plugin"; exit 1; }
    out=$(LD_PRELOAD=${BITTTT_SANITIZER_PRELOAD:-${LD_PRELOAD:-}} \
          LD_LIBRARY_PATH=$lib GST_PLUGIN_SYSTEM_PATH_1_0= GST_PLUGIN_PATH_1_0=$lib/gstreamer-1.0 \
          GST_REGISTRY_1_0=$root/registry.bin gst-inspect-1.0 bitttt)
    grep -q "Factory Details" <<<"$out" && grep -q "$lib/gstreamer-1.0/libgstbitttt.so" <<<"$out" ||
        { echo "gst-inspect-1.0 bitttt did not find the installed element:"; echo "$out"; exit 1; }
    echo "gst-inspect-1.0 finds bitttt in $lib/gstreamer-1.0"
fi
echo "install test passed"
