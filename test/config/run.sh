#!/usr/bin/env bash
# The ZAPSHIM_* variables, end to end, on a plain program (zapdemo).
# Usage: run.sh LIBZAPSHIM ZAPDEMO
set -uo pipefail
lib=$1 demo=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

# check NAME CONDITION...: count and report one named check.
check() {
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
# run ENV...: zapdemo under the shim with extra variables; stdout+stderr in $work/out.
run() { env LD_PRELOAD="$lib" "$@" "$demo" >"$work/out" 2>&1; }
has() { grep -q -- "$1" "$work/out"; }

run
check "default: the zap frees shared memfd memory, silently" \
  eval 'has "freed" && ! has "NOT freed" && ! has "zapshim\["'

"$demo" >"$work/out" 2>&1
check "without the shim the same call frees nothing" has "NOT freed"

run ZAPSHIM_LOG=stderr
check "ZAPSHIM_LOG=stderr: one line per translated call" \
  eval 'has "MADV_DONTNEED kind=shmem-shared (registry) -> MADV_REMOVE ok"'

run ZAPSHIM_LOG="$work/log.%p"
check "ZAPSHIM_LOG=path with %p: the file is named by pid" \
  eval 'ls "$work"/log.[0-9]* >/dev/null 2>&1 && grep -q "MADV_REMOVE ok" "$work"/log.[0-9]*'

run ZAPSHIM_KERNEL=4.2
check "ZAPSHIM_KERNEL below 4.3: warned, everything passes through" \
  eval 'has "older than 4.3 are not supported" && has "NOT freed"'

run ZAPSHIM_KERNEL=banana
check "a bad ZAPSHIM_KERNEL gets one warning naming it, and the shim still works" \
  eval 'has "ZAPSHIM_KERNEL is not a version" && has "freed" && ! has "NOT freed"'

run ZAPSHIM_LGO=stderr
check "an unknown ZAPSHIM_* name gets the closest valid one" \
  has "unknown variable ZAPSHIM_LGO ignored (did you mean ZAPSHIM_LOG?)"

run ZAPSHIM_VERIFY=1 ZAPSHIM_LOG=stderr
check "ZAPSHIM_VERIFY=1: the kernel confirms the zapped range is non-present" \
  eval 'has "verify: 0x" && has "resident=0 present=0" && ! has "NOT whole"'

run ZAPSHIM_VERIFY=yes
check "a bad ZAPSHIM_VERIFY gets a warning" has "ZAPSHIM_VERIFY must be 0 or 1"

run ZAPSHIM_STATS=1
check "ZAPSHIM_STATS=1: a summary per kind at exit" \
  has "stats shmem-shared seen=1 translated=1 bytes_zapped=4194304 fallbacks=0 warnings=0"

run ZAPSHIM_RESTRICT_EXE=qemu-system-x86_64:other
check "ZAPSHIM_RESTRICT_EXE without this program: the shim stays out" has "NOT freed"

run ZAPSHIM_RESTRICT_EXE="qemu-system-x86_64:$(basename "$demo")"
check "ZAPSHIM_RESTRICT_EXE naming this program: the shim is active" \
  eval 'has "freed" && ! has "NOT freed"'

# ZAPSHIM_NAMED_FILES: a shared file still linked in /dev/shm (zapdemo PATH).
# run_named ENV...: zapdemo on a new named file, removed afterwards.
run_named() {
  local f=/dev/shm/zapdemo-config.$$
  rm -f "$f"
  env LD_PRELOAD="$lib" "$@" "$demo" "$f" >"$work/out" 2>&1
  rm -f "$f"
}
run_named
check "ZAPSHIM_NAMED_FILES unset: a named /dev/shm file keeps its data on DONTNEED, silently" \
  eval 'has "named file still holds 4194304 bytes: NOT freed" && ! has "zapshim\["'
run_named ZAPSHIM_NAMED_FILES=keep ZAPSHIM_LOG=stderr
check "ZAPSHIM_NAMED_FILES=keep: kept, and the log says how to opt in (one line)" \
  eval 'has "NOT freed" && [ "$(grep -c "ZAPSHIM_NAMED_FILES=zap" "$work/out")" = 1 ]'
run_named ZAPSHIM_NAMED_FILES=zap
check "ZAPSHIM_NAMED_FILES=zap: the named file is zapped like memfd, no warning" \
  eval 'has "named file still holds 0 bytes: freed" && ! has "zapshim\["'
run_named ZAPSHIM_NAMED_FILES=yes
check "a bad ZAPSHIM_NAMED_FILES gets one warning naming it; the default (keep) applies" \
  eval '[ "$(grep -c "ZAPSHIM_NAMED_FILES" "$work/out")" = 1 ] && has "ZAPSHIM_NAMED_FILES must be keep or zap" && has "NOT freed"'
run ZAPSHIM_NAMED_FILES=zap
check "ZAPSHIM_NAMED_FILES=zap changes nothing for memfd" eval 'has "freed" && ! has "NOT freed"'
run ZAPSHIM_NAMED_FILE=zap
check "a misspelt ZAPSHIM_NAMED_FILES gets the closest valid name" \
  has "unknown variable ZAPSHIM_NAMED_FILE ignored (did you mean ZAPSHIM_NAMED_FILES?)"

echo "config: $pass passed, $fail failed"
[ "$fail" = 0 ]
