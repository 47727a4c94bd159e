#!/usr/bin/env bash
# Install what the real-program tests (test/real) need from Debian:
#   qemu-system-x86   QEMU for the postcopy live-migration tests
#   libjemalloc2      jemalloc, preloaded together with the shim
#   libpython3.11-testsuite  CPython's own test_mmap, run under the shim
#   python3           the QMP driver (stdlib only)
# Idempotent: runs apt-get update and install only if something is missing.
# Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(qemu-system-x86 libjemalloc2 python3)
# CPython's own test suite, for the interpreter that is /usr/bin/python3.
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
if [[ -n $pyver ]]; then
  pkgs+=("libpython${pyver}-testsuite")
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-real-deps: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-real-deps: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}" | sed 's/, $//')"
