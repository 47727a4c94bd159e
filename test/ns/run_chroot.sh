#!/usr/bin/env bash
# run_chroot.sh MODE LIBZAPSHIM JAIL_ZAP [KERNEL] - the shim where /proc
# cannot be reached, two ways; each runs jail_zap (see jail_zap.c) once
# without the shim (the kernel's own answers: the reference) and once under
# LD_PRELOAD, and compares cell by cell.
#
#   MODE after: jail_zap maps every kind, then chroot()s into an empty
#     directory (as Firecracker's jailer does) and zaps.  The shim loaded
#     while /proc was there and keeps a descriptor of it, so it must still
#     act on the kernel's word: each call returns what the kernel returns
#     (or the policy's documented answer for MADV_REMOVE on private memory:
#     0 where the kernel says EINVAL/EACCES, ENOMEM for a hole), never an
#     invented ENOMEM, and every call that succeeded really zapped - shared
#     kinds read back zero and are freed (mincore, st_blocks, free huge
#     pages).
#   MODE afterfork: the same, but jail_zap chroot()s first and then forks;
#     the child, which never had a /proc of its own to open, maps and zaps
#     (the shim's cached /proc/self/maps descriptor is its parent's: only a
#     /proc directory descriptor kept from load time can still answer).
#   MODE noproc: jail_zap, libzapshim.so and the libraries ldd lists are
#     copied into an empty root that has no /proc at all, and run there
#     with chroot(8).  The kernel cannot be asked at all, so the shim must
#     do exactly what the program asked: every result, errno and effect
#     equals the reference, nothing crashes, and the ZAPSHIM_LOG file
#     (inside the root) has exactly one line saying why (a line matching
#     NS_CANNOT_ASK_RE below).
# KERNEL (X.Y) sets ZAPSHIM_KERNEL for the shim run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ns_lib.sh
. "$here/ns_lib.sh"

# A log line saying the kernel's view of the mappings cannot be had.
NS_CANNOT_ASK_RE="(/proc|kernel|maps).*(cannot|can't|unable|unavailable|not available|unusable|not be asked|no access)|(cannot|can't|unable to|no) (ask|read|open|query|reach)[^:]*(/proc|kernel|maps)"

mode=$1 lib=$2 jz=$3 kernel=${4:-native}
ns_need_root
ns_need_true 'command -v chroot' "chroot(8)"
ns_need_hugepages 24
ns_tmpdir work
hpfree=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
shim_env=(LD_PRELOAD=/libzapshim.so ZAPSHIM_LOG=/zapshim.log)
[ "$kernel" = native ] || shim_env+=(ZAPSHIM_KERNEL="$kernel")

# run_jz OUT [VAR=VALUE...] - one jail_zap run; its exit status.
case $mode in
after | afterfork)
  fork=
  [ "$mode" = after ] || fork=fork
  mkdir -m 755 "$work/empty"
  cp "$lib" "$work/libzapshim.so"
  shim_env=(LD_PRELOAD="$work/libzapshim.so" ZAPSHIM_LOG="$work/zapshim.log" "${shim_env[@]:2}")
  run_jz() {
    local out=$1; shift
    timeout 30 env "$@" "$jz" chroot "$work/empty" $fork >"$out" 2>&1
  }
  log=$work/zapshim.log
  ;;
noproc)
  root=$work/root
  mkdir -m 755 "$root"
  cp "$jz" "$root/jail_zap"
  cp "$lib" "$root/libzapshim.so"
  # the dynamic loader and the libraries of both, at the paths they are
  # looked up by
  for f in $( (ldd "$jz"; ldd "$lib") | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
    cp -L --parents "$f" "$root/"
  done
  chmod 1777 "$root"
  if [ -e "$root/proc" ]; then ns_fail "the root has a /proc"; fi
  run_jz() {
    local out=$1; shift
    # fd 9: the free huge page count, read through a descriptor opened
    # outside (the root has no /sys)
    timeout 30 env "$@" JZ_HPFREE_FD=9 chroot "$root" /jail_zap here >"$out" 2>&1 9<"$hpfree"
  }
  log=$root/zapshim.log
  ;;
*)
  echo "usage: run_chroot.sh after|afterfork|noproc LIBZAPSHIM JAIL_ZAP [KERNEL]"
  exit 2
  ;;
esac

echo "chroot ($mode), shim kernel $kernel"
rc=0
run_jz "$work/ref" || rc=$?
if [ "$rc" = 77 ]; then ns_need_true false "$(grep '^JAIL need' "$work/ref" | head -1)"; fi
[ "$rc" = 0 ] || { cat "$work/ref"; ns_fail "reference run (no shim) exit $rc"; ns_finish "ns_chroot_$mode"; }
rc=0
run_jz "$work/shim" "${shim_env[@]}" || rc=$?
if [ "$rc" = 77 ]; then ns_need_true false "$(grep '^JAIL need' "$work/shim" | head -1)"; fi
if [ "$rc" = 0 ]; then
  ns_ok "under the shim: exit 0, no crash"
else
  ns_fail "under the shim: exit $rc (signal $((rc > 128 ? rc - 128 : 0)); 124 = timeout)"
fi
for f in ref shim; do
  if grep -q '^JAIL proc=0' "$work/$f"; then
    ns_ok "$f run: /proc/self/maps cannot be opened at zap time"
  else
    ns_fail "$f run: /proc reachable at zap time ($(grep '^JAIL proc' "$work/$f"))"
  fi
done

# Cell by cell.  Columns: CELL kind advice ret errno zapped= freed=
verdicts=$(awk -v mode="${mode%fork}" -f "$here/compare.awk" "$work/ref" "$work/shim")
while IFS= read -r v; do
  case $v in
  ok*) ns_ok "${v#ok }" ;;
  FAIL*) ns_fail "${v#FAIL }" ;;
  esac
done <<<"$verdicts"
ncells=$(grep -c '^CELL' "$work/ref" || true)
[ "$ncells" -ge 20 ] || ns_fail "reference run gave only $ncells cells"

if [ "$mode" = noproc ]; then
  lines=$(grep -ciE "$NS_CANNOT_ASK_RE" "$log" 2>/dev/null || true)
  if [ "${lines:-0}" = 1 ]; then
    ns_ok "the shim's log says once that the kernel cannot be asked: $(grep -iE "$NS_CANNOT_ASK_RE" "$log")"
  else
    ns_fail "the shim's log has ${lines:-0} line(s) saying the kernel cannot be asked (want exactly 1)"
  fi
fi
if [ "$NS_FAILED" != 0 ]; then
  echo "  --- shim log ($log, last 20 lines)"
  tail -n 20 "$log" 2>/dev/null | sed 's/^/  /' || true
  echo "  --- jail_zap stderr/extra lines under the shim"
  grep -v '^CELL\|^JAIL' "$work/shim" | head -10 | sed 's/^/  /' || true
fi
ns_finish "ns_chroot_$mode@$kernel"
