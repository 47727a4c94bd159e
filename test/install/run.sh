#!/usr/bin/env bash
# Install zapshim from BUILD into a staging prefix, then build the consumer
# program twice - through pkg-config and through find_package(zapshim) -
# and run both without LD_PRELOAD. Usage: run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cmake --install "$build" --prefix "$stage/usr" >/dev/null
libdir=$(dirname "$(find "$stage/usr" -name 'libzapshim.so' | head -1)")
for f in "$stage/usr/include/zapshim.h" "$libdir/pkgconfig/zapshim.pc" \
         "$libdir/cmake/zapshim/zapshimConfig.cmake" "$stage/usr/bin/zapshim" \
         "$stage/usr/share/man/man1/zapshim.1" "$stage/usr/share/man/man7/zapshim.7"; do
  [ -e "$f" ] || { echo "install: missing $f" >&2; exit 1; }
done

# pkg-config: the .pc file names the configured prefix; point it at the stage.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --define-prefix --cflags --libs zapshim)
cc -std=gnu11 -Wall -Wextra -Werror "$src/test/install/consumer.c" $flags -o "$stage/consumer-pc"
LD_LIBRARY_PATH="$libdir" "$stage/consumer-pc"

# find_package
cmake -S "$src/test/install" -B "$stage/consumer-build" -DCMAKE_PREFIX_PATH="$stage/usr" >/dev/null
cmake --build "$stage/consumer-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$stage/consumer-build/consumer"
echo "install: 1 passed, 0 failed"
