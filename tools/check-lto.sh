#!/usr/bin/env bash
# check-lto.sh [BUILD_DIR] - build libzapshim.so with link-time optimisation,
# as distributions build their packages (Fedora and Ubuntu pass -flto by
# default), and run the ZAPSHIM_* end-to-end checks (test/config/run.sh)
# on it.  A symbol that only assembly refers to is invisible to the LTO
# partitioner and must be marked used: this is where such a slip shows
# (the link fails, or a wrapper misbehaves).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/lto}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DZAPSHIM_WERROR=ON \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target zapshim zapdemo >/dev/null
test/config/run.sh "$build/libzapshim.so" "$build/test/zapdemo"
echo "check-lto: the LTO build passes the config checks"
