#!/usr/bin/env bash
# run_unpriv.sh suite LIBZAPSHIM SUITE
# run_unpriv.sh jail  LIBZAPSHIM JAIL_ZAP [KERNEL]
#
# The shim run by user nobody (uid 65534, no capabilities), inside fresh
# IPC and mount namespaces with a hugetlbfs of mode 1777 mounted only
# there, as a jailed VMM runs.  The binaries and the library are copied to
# a world-readable directory first (the build tree may not be).
#
#   suite: a zap suite as nobody.  It runs without CI=true so that what
#     its own measures cannot do unprivileged skips instead of failing; the
#     harness then judges every skip: only the reasons inherent to an
#     unprivileged user are accepted (the test's st_blocks through
#     /proc/self/map_files needs CAP_SYS_ADMIN; /dev/kvm not accessible);
#     any other skip (huge pages, userfaultfd, hugetlbfs) fails with CI=true.
#   jail: jail_zap (no chroot) as nobody, without and with the shim,
#     compared as in run_chroot.sh "after".  /proc/self/map_files cannot be
#     opened by nobody, so two kinds of zap cannot be made whole:
#       - MAP_HUGETLB private memory on kernels without hugetlb DONTNEED
#         (before 5.18; ZAPSHIM_KERNEL=5.10): the shim has no descriptor of
#         the kernel's hugetlbfs file to punch;
#       - private shmem or hugetlbfs whose kept descriptor the program
#         closed or replaced behind the shim's back, or that the shim could
#         not keep (test_keptfd: NS_MAP_FILES_CELLS below); run as a suite,
#         each of these must fail with "zap not whole" in the shim's log.
#     For the first, jail_zap's log must then say "zap not whole" for
#     kind=hugetlb-private rather than fail silently.
#
# userfaultfd: the suites prove zaps with a userfaultfd missing fault; an
# unprivileged user may open one only with vm.unprivileged_userfaultfd=1
# (or UFFD_USER_MODE_ONLY, which testutil does not ask for yet), so the
# sysctl is set to 1 for the run and restored at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ns_lib.sh
. "$here/ns_lib.sh"

NOBODY=65534
# Tests whose zap needs a descriptor only /proc/self/map_files can give
# once the program closed or replaced its own (private shmem with
# MADV_REMOVE): nobody cannot open map_files, so these cannot be zapped
# whole; each must then fail with the shim saying "zap not whole".
export NS_MAP_FILES_CELLS="kept_number_replaced_by_raw_dup3 raw_close_range_above_obs no_descriptor_left_for_the_shim"
uffd_sysctl=/proc/sys/vm/unprivileged_userfaultfd

# as_nobody CMD... - run CMD as uid/gid 65534, no capabilities, with
# /dev/kvm's group when it has one (as a jailer grants it).
as_nobody() {
  local groups=() kvm_gid
  kvm_gid=$(stat -c %g /dev/kvm 2>/dev/null || true)
  if [ -n "$kvm_gid" ] && [ "$kvm_gid" != 0 ]; then
    groups=(--groups "$kvm_gid")
  else
    groups=(--clear-groups)
  fi
  setpriv --reuid=$NOBODY --regid=$NOBODY "${groups[@]}" --inh-caps=-all -- "$@"
}

if [ "${1:-}" = --inner ]; then
  # Inside the namespaces, still root: mount, then drop to nobody.
  what=$2 work=$3 kernel=$4
  ns_mount_private_hugetlbfs
  # Older kernels count MAP_HUGETLB of a user outside vm.hugetlb_shm_group
  # against RLIMIT_MEMLOCK; raise it where we may (6.x does not count it).
  ulimit -l unlimited 2>/dev/null || true
  env=(LD_PRELOAD="$work/bin/libzapshim.so")
  [ "$kernel" = native ] || env+=(ZAPSHIM_KERNEL="$kernel")
  case $what in
  suite)
    rc=0
    as_nobody timeout 90 env -u CI "${env[@]}" ZAPSHIM_LOG="$work/rw/shim.log" \
      "$work/bin/suite" --jobs 1 --verbose >"$work/out" 2>&1 || rc=$?
    echo "$rc" >"$work/rc"
    # Each failed test that needs map_files again, alone, logging to
    # stderr (a test that closes descriptors may close a log file's).
    for t in $(sed -n 's/^\[FAIL\] [a-z_]*::\([A-Za-z0-9_]*\):.*/\1/p' "$work/out"); do
      case " $NS_MAP_FILES_CELLS " in *" $t "*) ;; *) continue ;; esac
      suite_name=$(sed -n 's/^\[FAIL\] \([a-z_]*\)::'"$t"':.*/\1/p' "$work/out" | head -1)
      as_nobody timeout 30 env -u CI "${env[@]}" ZAPSHIM_LOG=stderr \
        "$work/bin/suite" --jobs 1 --filter="$suite_name/$t" >"$work/alone.$t" 2>&1 || true
    done
    ;;
  jail)
    rc=0
    as_nobody timeout 30 "$work/bin/jail_zap" here >"$work/ref" 2>&1 || rc=$?
    echo "$rc" >"$work/rc.ref"
    rc=0
    as_nobody timeout 30 env "${env[@]}" ZAPSHIM_LOG="$work/rw/shim.log" \
      "$work/bin/jail_zap" here >"$work/shim" 2>&1 || rc=$?
    echo "$rc" >"$work/rc.shim"
    ;;
  esac
  exit 0
fi

what=$1 lib=$2 bin=$3 kernel=${4:-native}
ns_need_root
ns_need_unshare
ns_need_true 'command -v setpriv' "setpriv(1) from util-linux"
ns_need_true "getent passwd $NOBODY" "a user with uid $NOBODY (nobody)"
ns_need_hugepages 24
ns_tmpdir work
mkdir -m 755 "$work/bin"
mkdir -m 1777 "$work/rw"
cp "$lib" "$work/bin/libzapshim.so"
case $what in
suite) cp "$bin" "$work/bin/suite" ;;
jail) cp "$bin" "$work/bin/jail_zap" ;;
*) echo "usage: run_unpriv.sh suite|jail LIBZAPSHIM BINARY [KERNEL]"; exit 2 ;;
esac
chmod 755 "$work/bin"/*

if [ -w "$uffd_sysctl" ] && [ "$(cat "$uffd_sysctl")" = 0 ]; then
  echo 1 >"$uffd_sysctl"
  echo "vm.unprivileged_userfaultfd set to 1 for this run (restored at exit)"
  trap 'echo 0 > '"$uffd_sysctl"'; ns_cleanup' EXIT
fi

name=$(basename "$bin")
echo "unprivileged (uid $NOBODY): $what $name@$kernel"
timeout 140 unshare --ipc --mount --propagation private \
  bash "$here/run_unpriv.sh" --inner "$what" "$work" "$kernel" ||
  ns_fail "the namespace run itself failed or timed out (exit $?)"
if [ "$what" = suite ]; then
  rc=$(cat "$work/rc" 2>/dev/null || echo none)
  grep -E '^\[(FAIL|SKIP|====)\]|^\[----\] .*[^ ]' "$work/out" | head -80 || true
  if [ "$rc" = 0 ]; then
    ns_ok "$name passes as nobody (every test run, or skipped for a reason below)"
  fi
  # Judge every failure: only a cell that needs /proc/self/map_files may
  # fail, and only if the shim's log says the zap was not whole.
  unexplained=0
  for t in $(sed -n 's/^\[FAIL\] [a-z_]*::\([A-Za-z0-9_]*\):.*/\1/p' "$work/out"); do
    if [ -f "$work/alone.$t" ] && grep -q 'zap not whole' "$work/alone.$t"; then
      ns_ok "$t cannot be zapped whole without /proc/self/map_files, and the shim says so: $(grep -m1 'zap not whole' "$work/alone.$t" | cut -c1-200)"
    elif [ -f "$work/alone.$t" ]; then
      ns_fail "$t (needs /proc/self/map_files) failed as nobody and the shim logged no 'zap not whole'"
      grep -v '^\[----\] *$' "$work/alone.$t" | head -8 | sed 's/^/    /'
    else
      ns_fail "$t fails as nobody (not a cell that needs map_files: the same test fails or passes as root in run_fresh.sh)"
      unexplained=1
    fi
  done
  if [ "$rc" != 0 ] && [ "$unexplained" = 1 ]; then
    echo "  --- shim log (last 15 lines)"
    tail -n 15 "$work/rw/shim.log" 2>/dev/null | sed 's/^/  /' || true
  fi
  tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' "$work/out" | tail -1)
  [ "${tested:-0}" -gt 0 ] || ns_fail "no test of $name ran as nobody"
  # Judge every skip.
  while IFS= read -r line; do
    case $line in
    *"/proc/self/map_files"*CAP_SYS_ADMIN*)
      ns_ok "accepted skip (the test's own measure needs CAP_SYS_ADMIN): ${line#\[SKIP\] }" ;;
    *"/dev/kvm"*)
      ns_ok "accepted skip (no KVM for nobody): ${line#\[SKIP\] }" ;;
    *"chroot (root)"*)
      ns_ok "accepted skip (chroot needs root; run_chroot.sh covers the jail as root): ${line#\[SKIP\] }" ;;
    *)
      if ns_in_ci; then
        ns_fail "cannot run unprivileged in CI: ${line#\[SKIP\] }"
      else
        echo "  skip: ${line#\[SKIP\] }"
      fi ;;
    esac
  done < <(grep '^\[SKIP\]' "$work/out" || true)
  ns_finish "ns_unpriv $name"
fi

# jail
for f in ref shim; do
  r=$(cat "$work/rc.$f" 2>/dev/null || echo none)
  if [ "$r" = 77 ]; then ns_need_true false "$(grep '^JAIL need' "$work/$f" | head -1)"; fi
  if [ "$r" = 0 ]; then
    ns_ok "$f run as nobody: exit 0"
  else
    ns_fail "$f run as nobody: exit $r"
    head -5 "$work/$f" | sed 's/^/  /'
  fi
done
grep -q '^JAIL proc=1 uid=65534' "$work/shim" && ns_ok "ran as uid 65534 with /proc" ||
  ns_fail "not run as nobody with /proc: $(grep '^JAIL proc' "$work/shim")"
while IFS= read -r v; do
  case $v in
  ok*) ns_ok "${v#ok }" ;;
  FAIL*) ns_fail "${v#FAIL }" ;;
  esac
done < <(awk -v mode=after -f "$here/compare.awk" "$work/ref" "$work/shim")

major=${kernel%%.*} minor=${kernel#*.}
if [ "$kernel" != native ] && { [ "$major" -lt 5 ] || { [ "$major" = 5 ] && [ "$minor" -lt 18 ]; }; }; then
  # No hugetlb DONTNEED: MAP_HUGETLB private needs a descriptor from
  # /proc/self/map_files, which nobody cannot open. The log must say so.
  if grep -q 'zap not whole.*kind=hugetlb-private' "$work/rw/shim.log" 2>/dev/null; then
    ns_ok "the log says the MAP_HUGETLB private zap was not whole: $(grep -m1 'zap not whole.*kind=hugetlb-private' "$work/rw/shim.log")"
  else
    ns_fail "MAP_HUGETLB private on $kernel as nobody: no 'zap not whole' line for kind=hugetlb-private in the log"
  fi
fi
if [ "$NS_FAILED" != 0 ]; then
  echo "  --- shim log (last 20 lines)"
  tail -n 20 "$work/rw/shim.log" 2>/dev/null | sed 's/^/  /' || true
fi
ns_finish "ns_unpriv_jail@$kernel"
