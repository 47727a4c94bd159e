#!/usr/bin/env bash
# test_jemalloc.sh SHIM CHURN WORKDIR - jemalloc (Debian's libjemalloc2)
# preloaded together with the shim under an allocation-heavy workload
# (alloc_churn).  Purging is forced (dirty and muzzy decay 0), so jemalloc
# calls madvise(MADV_DONTNEED) all the time.  Passes when:
#   - the output is the same with glibc malloc, with jemalloc alone, and
#     with the shim and jemalloc;
#   - jemalloc really served the run (alloc_churn says so);
#   - the shim's exit summary (ZAPSHIM_STATS=1) shows it saw jemalloc's
#     madvise calls.
# Prints the wall time of each run (one run each: a figure, not a check).
# Exit 0 pass, 1 fail, 77 skipped (jemalloc missing outside CI).
set -uo pipefail
shim=$1 churn=$2 work=$3
je=${ZAPSHIM_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
mkdir -p "$work"
if [[ ! -r $je ]]; then
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $je missing (tools/install-real-deps.sh installs libjemalloc2)"
    exit 1
  fi
  echo "SKIP: $je missing (tools/install-real-deps.sh installs libjemalloc2)"
  exit 77
fi
echo "jemalloc: $je ($(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo '?'))"
export MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0

# run NAME PRELOAD: run the workload, output to $work/NAME.out/.err.
run() {
  local name=$1 preload=$2 t0 t1
  t0=$EPOCHREALTIME
  env ${preload:+LD_PRELOAD="$preload"} ZAPSHIM_STATS=1 ZAPSHIM_LOG="$work/$name.zapshim.log" \
    "$churn" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  t1=$EPOCHREALTIME
  printf '%-12s exit %d, %.2f s: %s %s\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
    "$(cat "$work/$name.out")" "$(grep -o 'allocator.*' "$work/$name.err")"
  return $rc
}
rm -f "$work"/*.zapshim.log
fail=0
run glibc "" || fail=1
run jemalloc "$je" || fail=1
run shim+je "$shim $je" || fail=1
for n in jemalloc shim+je; do
  if ! cmp -s "$work/glibc.out" "$work/$n.out"; then
    echo "FAIL: output with $n differs from glibc malloc's"
    fail=1
  fi
  if ! grep -q 'allocator jemalloc' "$work/$n.err"; then
    echo "FAIL: jemalloc did not serve the $n run"
    fail=1
  fi
done
stats=$(grep -h 'stats anon-private' "$work/shim+je.zapshim.log" 2>/dev/null)
echo "shim: ${stats:-no stats line}"
seen=$(sed -n 's/.*stats anon-private seen=\([0-9]*\).*/\1/p' <<<"$stats" | head -1)
if [[ -z $seen || $seen -lt 100 ]]; then
  echo "FAIL: the shim did not see jemalloc's madvise calls (seen=${seen:-none})"
  cat "$work/shim+je.zapshim.log" 2>/dev/null
  fail=1
fi
if grep -hE '^zapshim\[[0-9]+\]: (warning|madvise .* failed)' "$work/shim+je.zapshim.log"; then
  echo "FAIL: the shim logged failures"
  fail=1
fi
((fail)) && exit 1
echo PASS
