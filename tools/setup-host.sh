#!/usr/bin/env bash
# Prepare a Debian host to build and test zapshim: build dependencies, 2 MiB
# huge pages and a hugetlbfs mount. Idempotent; run as root.
#   ZAPSHIM_HUGEPAGES   2 MiB pages to reserve (default 512, at least 256)
set -euo pipefail

want=${ZAPSHIM_HUGEPAGES:-512}
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
# musl-tools and golang-go: the static and Go programs of test/static (issue 10);
# dpkg-dev: dpkg-shlibdeps for the Debian package of test/deploy (issue 13).
for p in cmake gcc make libc6-dev libcriterion-dev pkg-config musl-tools golang-go dpkg-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Huge pages: raise the pool if it is smaller than wanted.
have=$(cat /proc/sys/vm/nr_hugepages)
if ((have < want)); then
  echo "$want" > /proc/sys/vm/nr_hugepages
  have=$(cat /proc/sys/vm/nr_hugepages)
fi
if ((have < 256)); then
  echo "setup-host: only $have huge pages could be reserved (need 256)" >&2
  exit 1
fi

# A hugetlbfs mount for 2 MiB pages.
if ! grep -q '^[^ ]* [^ ]* hugetlbfs ' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs -o pagesize=2M none /dev/hugepages
fi
echo "setup-host: $have huge pages of 2 MiB, hugetlbfs at $(awk '$3=="hugetlbfs"{print $2; exit}' /proc/mounts)"
