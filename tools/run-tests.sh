#!/usr/bin/env bash
# Set the host up, build zapshim with warnings as errors, run every test.
# This is the README's test command and what CI runs. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-host.sh
tools/install-real-deps.sh
cmake -S . -B build -DZAPSHIM_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure
