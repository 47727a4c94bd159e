#!/usr/bin/env bash
# Install what the real-program tests (test/real) need from Debian:
#   qemu-system-x86   QEMU for the postcopy live-migration tests
#   libjemalloc2      jemalloc, preloaded together with the shim
#   libpython3.11-testsuite  CPython's own test_mmap, run under the shim
#   python3           the QMP driver (stdlib only)
#   gcc, libc6-dev    the real guest's workload, built static (test/real/guest)
# The real guest's kernel (linux-image-cloud-amd64) and busybox-static are
# only downloaded (apt-get download, dpkg -x) by test/real/guest/image.py at
# test time, never installed: apt-get update here makes them findable.
# Idempotent: runs apt-get update and install only if something is missing.
# Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(qemu-system-x86 libjemalloc2 python3 gcc libc6-dev)
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
# The guest image's packages must be known to apt (image.py downloads them).
if ! apt-cache show linux-image-cloud-amd64 busybox-static >/dev/null 2>&1; then
  echo "install-real-deps: apt-get update (for linux-image-cloud-amd64, busybox-static)"
  apt-get update -qq
fi
echo "install-real-deps: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}" | sed 's/, $//')"
