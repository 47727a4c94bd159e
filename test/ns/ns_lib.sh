# ns_lib.sh - helpers shared by the namespace, chroot and unprivileged
# harness scripts (sourced, not run).
#
#   ns_need COND_STATUS REASON   a resource the test cannot run without is
#       missing: with CI=true exit 1 ("missing in CI: ..."), else exit 77
#       (ctest SKIP_RETURN_CODE) with "skipped: ...".  Call as
#       `cmd || ns_need $? "reason"` or `ns_need_true COND "reason"`.
#   ns_fail MSG / ns_ok MSG   count a failed / passed check and print it.
#   ns_finish NAME            print "NAME: N passed, N failed"; exit 1 on any failure.
#   ns_tmpdir                 a fresh directory under /tmp, mode 755, removed at exit.
#   ns_need_root, ns_need_unshare, ns_need_hugepages N
#
# Every command that runs a program under test is bounded with timeout.

NS_PASSED=0
NS_FAILED=0
NS_TMPDIRS=()

ns_in_ci() { [ "${CI:-}" = true ]; }

# ns_need_true - exit 77 (or 1 in CI) with the reason unless COND (a shell
# command) succeeds.
ns_need_true() {
  local reason=$2
  if eval "$1" >/dev/null 2>&1; then return 0; fi
  if ns_in_ci; then
    echo "missing in CI: $reason"
    exit 1
  fi
  echo "skipped: $reason"
  exit 77
}

ns_ok() { NS_PASSED=$((NS_PASSED + 1)); echo "  ok:   $*"; }
ns_fail() { NS_FAILED=$((NS_FAILED + 1)); echo "  FAIL: $*"; }

# ns_finish - the closing line; the exit status says whether all held.
ns_finish() {
  echo "$1: $NS_PASSED passed, $NS_FAILED failed"
  [ "$NS_FAILED" = 0 ] || exit 1
  exit 0
}

ns_cleanup() {
  local d
  for d in "${NS_TMPDIRS[@]}"; do
    [ -n "$d" ] && rm -rf --one-file-system "$d"
  done
}
trap ns_cleanup EXIT

# ns_tmpdir VAR - make a directory readable by everyone (the unprivileged
# runs read the copied binaries there) and store its path in VAR.
ns_tmpdir() {
  local d
  d=$(mktemp -d /tmp/zapshim-ns.XXXXXX)
  chmod 755 "$d"
  NS_TMPDIRS+=("$d")
  printf -v "$1" '%s' "$d"
}

ns_need_root() {
  ns_need_true '[ "$(id -u)" = 0 ]' "root (mount namespaces, chroot, setpriv)"
}

ns_need_unshare() {
  ns_need_true 'command -v unshare' "unshare(1) from util-linux"
  ns_need_true 'timeout 10 unshare --ipc --mount --propagation private true' \
    "unshare --ipc --mount (namespaces refused: $(unshare --ipc --mount true 2>&1 | head -1))"
}

# ns_need_hugepages N - at least N free 2 MiB huge pages.
ns_need_hugepages() {
  local f=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
  local have
  have=$(cat "$f" 2>/dev/null || echo 0)
  ns_need_true "[ $have -ge $1 ]" \
    "$1 free 2 MiB huge pages (have $have; echo 256 > /proc/sys/vm/nr_hugepages)"
}

# ns_mount_private_hugetlbfs - inside a fresh mount namespace: detach every
# hugetlbfs inherited from the host, mount one of our own (mode 1777, so an
# unprivileged user can create files) at /dev/hugepages, and a fresh tmpfs
# at /dev/shm.  Prints the namespace's hugetlbfs mounts.  The mount source
# is "zapshim-ns" so the host can check it never sees it.
ns_mount_private_hugetlbfs() {
  local m
  mount --make-rprivate /
  for m in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/self/mounts); do
    umount -l "$m"
  done
  mkdir -p /dev/hugepages /dev/shm
  mount -t hugetlbfs -o pagesize=2M,mode=1777 zapshim-ns /dev/hugepages
  mount -t tmpfs -o mode=1777,size=256M zapshim-ns /dev/shm
}
