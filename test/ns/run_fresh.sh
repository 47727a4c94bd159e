#!/usr/bin/env bash
# run_fresh.sh LIBZAPSHIM SUITE [KERNEL] - run one zap suite (a Criterion
# binary of test/zap) under LD_PRELOAD inside fresh namespaces, as a
# container or a freshly booted machine would give them:
#   unshare --ipc --mount --propagation private
#   - a fresh IPC namespace: no SysV segment exists, so the first one the
#     suite makes has shmid 0 (and inode 0 in /proc/self/maps);
#   - every hugetlbfs inherited from the host is detached and one of our
#     own is mounted at /dev/hugepages (the only one the suite can find
#     through /proc/mounts, testutil's zt_hugetlbfs_mount), and /dev/shm
#     is a fresh tmpfs; neither is visible outside.
# KERNEL (X.Y) sets ZAPSHIM_KERNEL.  Needs root, unshare and huge pages:
# with CI=true a missing one fails the test, else it skips (exit 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ns_lib.sh
. "$here/ns_lib.sh"

if [ "${1:-}" = --inner ]; then
  # Inside the namespaces (still root).
  lib=$2 suite=$3 kernel=$4 work=$5
  ns_mount_private_hugetlbfs
  mounts=$(awk '$3 == "hugetlbfs" { print $1 " " $2 }' /proc/self/mounts)
  if [ "$mounts" = "zapshim-ns /dev/hugepages" ]; then
    ns_ok "the namespace's only hugetlbfs is its own: $mounts"
  else
    ns_fail "hugetlbfs mounts in the namespace: ${mounts:-none}"
  fi
  segs=$(tail -n +2 /proc/sysvipc/shm | wc -l)
  if [ "$segs" = 0 ]; then
    ns_ok "fresh IPC namespace: no SysV segment, the first one gets shmid 0"
  else
    ns_fail "IPC namespace not fresh: $segs SysV segment(s)"
  fi
  env=(LD_PRELOAD="$lib" ZAPSHIM_LOG="$work/shim.log")
  [ "$kernel" = native ] || env+=(ZAPSHIM_KERNEL="$kernel")
  rc=0
  timeout 90 env "${env[@]}" "$suite" --jobs 1 --verbose >"$work/out" 2>&1 || rc=$?
  grep -v '^\[----\] *$' "$work/out" | grep -E '^\[(FAIL|SKIP|====)\]|^\[----\]' | head -60
  if [ "$rc" = 0 ]; then
    ns_ok "$(basename "$suite")@$kernel passes in fresh namespaces"
  else
    ns_fail "$(basename "$suite")@$kernel exit $rc in fresh namespaces (failed tests above; shim log: $work/shim.log)"
    echo "  --- shim log (last 15 lines)"
    tail -n 15 "$work/shim.log" 2>/dev/null | sed 's/^/  /'
  fi
  echo "$NS_PASSED $NS_FAILED" >"$work/counts"
  exit 0
fi

lib=$1 suite=$2 kernel=${3:-native}
ns_need_root
ns_need_unshare
ns_need_hugepages 16
ns_tmpdir work
echo "fresh namespaces: $(basename "$suite")@$kernel"
timeout 120 unshare --ipc --mount --propagation private \
  bash "$here/run_fresh.sh" --inner "$lib" "$suite" "$kernel" "$work" || {
  ns_fail "the namespace run itself failed or timed out (exit $?)"
}
if [ -f "$work/counts" ]; then
  read -r p f <"$work/counts"
  NS_PASSED=$((NS_PASSED + p)) NS_FAILED=$((NS_FAILED + f))
fi
if grep -q '^zapshim-ns ' /proc/self/mounts; then
  ns_fail "the namespace's mounts leaked to the host"
else
  ns_ok "the namespace's hugetlbfs and /dev/shm are not visible outside"
fi
ns_finish "ns_fresh $(basename "$suite")@$kernel"
