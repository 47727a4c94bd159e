#!/usr/bin/env bash
# Build the Debian package of zapshim from this source tree into OUTDIR.
#   tools/build-deb.sh OUTDIR [BUILD_DIR]
# BUILD_DIR (default OUTDIR/build) is configured with CMAKE_INSTALL_PREFIX=/usr,
# so GNUInstallDirs puts the library in the multiarch libdir
# (/usr/lib/x86_64-linux-gnu) and the command looks for it there; tests are
# not built.  cpack's DEB generator writes OUTDIR/zapshim_<version>_<arch>.deb,
# whose path is the last line printed.  Needs cmake, gcc, dpkg-dev (dpkg-shlibdeps).
set -euo pipefail
if (($# < 1)); then
  echo "usage: $0 OUTDIR [BUILD_DIR]" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
build=${2:-$out/build}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DZAPSHIM_TESTS=OFF -DZAPSHIM_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target zapshim zapshim_cmd >/dev/null
rm -f "$out"/zapshim_*.deb
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
deb=$(ls "$out"/zapshim_*.deb)
echo "$deb"
