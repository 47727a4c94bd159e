#!/usr/bin/env bash
# test_cpython.sh SHIM WORKDIR - CPython (Debian's python3.11 and its own
# test suite, libpython3.11-testsuite) under the shim:
#   1. `python3 -m test test_mmap` with the shim: CPython's own mmap tests
#      (anonymous and file mappings, resize through mremap, madvise) pass.
#   2. A few allocation-heavy test modules with the shim and jemalloc
#      (forced purging): they pass, and the shim saw jemalloc's madvise calls.
#   3. CPython's mmap.madvise(MADV_DONTNEED) on its default anonymous
#      mapping (MAP_SHARED): the shim turns it into MADV_REMOVE, so the
#      memory reads back zero (without the shim the data stays).
# Exit 0 pass, 1 fail, 77 skipped (a package missing outside CI).
set -uo pipefail
shim=$1 work=$2
py=${ZAPSHIM_PYTHON:-/usr/bin/python3}
je=${ZAPSHIM_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
mkdir -p "$work"
rm -f "$work"/*.zapshim.log

# need COND WHAT: skip (or fail in CI) unless COND holds.
need() {
  if ! eval "$1"; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: missing: $2"; exit 1; fi
    echo "SKIP: missing: $2"
    exit 77
  fi
}
need "[[ -x $py ]]" "$py"
need "$py -c 'import test.test_mmap' 2>/dev/null" \
  "CPython's test suite for $py (tools/install-real-deps.sh installs it)"
need "[[ -r $je ]]" "$je (libjemalloc2)"
ver=$($py -c 'import sys; print(sys.version.split()[0])')
echo "python: $py $ver"

fail=0
# 1. test_mmap under the shim
if LD_PRELOAD=$shim ZAPSHIM_STATS=1 ZAPSHIM_LOG="$work/mmap.zapshim.log" \
    "$py" -m test -v test_mmap >"$work/test_mmap.out" 2>&1; then
  echo "test_mmap: $(grep -E '^Ran |^OK|^FAILED' "$work/test_mmap.out" | tr '\n' ' ')"
else
  echo "FAIL: test_mmap under the shim:"; tail -30 "$work/test_mmap.out"; fail=1
fi
grep -q '^zapshim\[[0-9]*\]: stats' "$work/mmap.zapshim.log" 2>/dev/null ||
  { echo "FAIL: no shim summary from test_mmap: was the shim loaded?"; fail=1; }

# 2. allocation-heavy modules under the shim and jemalloc
mods=(test_dict test_list test_bytes test_re test_json test_gc test_set)
if LD_PRELOAD="$shim $je" MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0 ZAPSHIM_STATS=1 \
    ZAPSHIM_LOG="$work/je.zapshim.log" "$py" -m test "${mods[@]}" >"$work/je.out" 2>&1; then
  echo "${mods[*]} with jemalloc: $(grep -E 'tests OK|Total duration' "$work/je.out" | tr '\n' ' ')"
else
  echo "FAIL: ${mods[*]} under the shim and jemalloc:"; tail -30 "$work/je.out"; fail=1
fi
seen=$(sed -n 's/.*stats anon-private seen=\([0-9]*\).*/\1/p' "$work/je.zapshim.log" |
  sort -n | tail -1)
echo "shim saw up to ${seen:-0} anon-private zaps in one process"
[[ -n $seen && $seen -gt 0 ]] || { echo "FAIL: the shim saw no madvise from jemalloc"; fail=1; }

# 3. mmap.madvise(MADV_DONTNEED) on CPython's shared anonymous mapping
probe='import mmap
m = mmap.mmap(-1, 1 << 20)
m.write(b"\xab" * (1 << 20))
m.madvise(mmap.MADV_DONTNEED)
print("zeroed" if m[:1] == b"\0" and m[-1:] == b"\0" else "kept")'
plain=$("$py" -c "$probe")
shimmed=$(LD_PRELOAD=$shim ZAPSHIM_LOG="$work/madvise.zapshim.log" "$py" -c "$probe")
echo "mmap.madvise(MADV_DONTNEED) on mmap.mmap(-1, 1 MiB): without the shim $plain, with it $shimmed"
grep -h 'MADV_REMOVE' "$work/madvise.zapshim.log"
if [[ $shimmed != zeroed ]] || ! grep -q 'kind=shmem-shared.*-> MADV_REMOVE ok' "$work/madvise.zapshim.log"; then
  echo "FAIL: the shim did not turn CPython's MADV_DONTNEED into MADV_REMOVE"; fail=1
fi
((fail)) && exit 1
echo PASS
