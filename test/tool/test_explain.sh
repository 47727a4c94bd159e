#!/usr/bin/env bash
# test_explain.sh ZAPSHIM TARGET - start TARGET (maps a shared memfd, a
# private anonymous region, a named /dev/shm file and, if hugetlbfs is
# mounted, an unlinked shared hugetlbfs file) and check `zapshim --explain
# PID` names their kinds and warns for the memfd and the hugetlbfs file,
# marks the named file as kept (or, with --named-files=zap, zapped) and
# says what a translated DONTNEED does to shared memory, through
# PROCMAP_QUERY and (with --kernel=6.10) through the parsed maps; also with
# the shim loaded in the target.  Coverage: "loaded in it (preload)" with
# the shim, neither without it, and who traces the target (a tracer whose
# command name is zapshim, and one that is not; the real supervisor is
# tested with it).
set -u
Z=$1
T=$2
fails=0
tmp=$(mktemp -d)
pid=
cleanup() {
  exec 9>&- 2>/dev/null
  [ -n "$pid" ] && wait "$pid" 2>/dev/null
  [ -n "$pid" ] && rm -f "/dev/shm/zt-explain-named.$pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

huge=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
if [ -z "$huge" ] || [ "${free:-0}" -lt 2 ]; then
  if [ "${CI:-}" = true ]; then echo "FAIL: no hugetlbfs mount or free huge pages"; exit 1; fi
  echo "note: no hugetlbfs mount or free huge pages: hugetlb part skipped"
  huge=
fi

# start LABEL [LAUNCHER...]: run the target with stdin on a fifo we hold.
start() {
  mkfifo "$tmp/in.$1"
  "${@:2}" "$T" $huge <"$tmp/in.$1" >"$tmp/out.$1" 2>"$tmp/err.$1" &
  pid=$!
  exec 9>"$tmp/in.$1"
  for _ in $(seq 100); do grep -q '^ready' "$tmp/out.$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL: target did not start"; cat "$tmp/out.$1" "$tmp/err.$1"; exit 1
}
stop() { exec 9>&-; wait "$pid"; pid=; }

# line_of ADDR: the explain line of the mapping starting at ADDR (hex).
line_of() { grep -E "^0*$1-" "$tmp/explain"; }
# warned ADDR: the line after that mapping's is a WARNING.
warned() { grep -A1 -E "^0*$1-" "$tmp/explain" | sed -n 2p | grep -q WARNING; }

verify() { # verify LABEL: check the explain output in $tmp/explain
  local memfd anon hfile named
  memfd=$(awk '$1 == "memfd" { print $2 }' "$tmp/out.$1")
  anon=$(awk '$1 == "anon" { print $2 }' "$tmp/out.$1")
  named=$(awk '$1 == "named" { print $2 }' "$tmp/out.$1")
  check "$1: named /dev/shm file is shmem-shared, left as asked" \
    bash -c "grep -E '^0*$named-' '$tmp/explain' | grep -q 'shmem-shared *as asked (named file) *.*/dev/shm/zt-explain-named'"
  check "$1: named file is marked, with how to opt in, and not warned" \
    bash -c "grep -A1 -E '^0*$named-' '$tmp/explain' | sed -n 2p |
             grep -q 'named: .*keeps its data .*ZAPSHIM_NAMED_FILES=zap'"
  check "$1: the statement on shared memory and how to scope the shim" \
    bash -c "grep -q 'frees shared memory for every process that maps it' '$tmp/explain' &&
             grep -q 'ZAPSHIM_RESTRICT_EXE' '$tmp/explain'"
  check "$1: memfd is shmem-shared, zapped with MADV_REMOVE" \
    bash -c "grep -E '^0*$memfd-' '$tmp/explain' | grep -q 'shmem-shared *MADV_REMOVE .*/memfd:zt-explain'"
  check "$1: memfd has the warning" warned "$memfd"
  check "$1: anon private is anon-private, MADV_DONTNEED, no warning" \
    bash -c "grep -E '^0*$anon-' '$tmp/explain' | grep -q 'anon-private *MADV_DONTNEED' &&
             ! grep -A1 -E '^0*$anon-' '$tmp/explain' | sed -n 2p | grep -q WARNING"
  if [ -n "$huge" ]; then
    hfile=$(awk '$1 == "hugetlbfs" { print $2 }' "$tmp/out.$1")
    check "$1: hugetlbfs file is hugetlb-shared, MADV_REMOVE" \
      bash -c "grep -E '^0*$hfile-' '$tmp/explain' | grep -q 'hugetlb-shared *MADV_REMOVE'"
    check "$1: hugetlbfs file has the warning" warned "$hfile"
  fi
}

start plain env
"$Z" --explain "$pid" >"$tmp/explain"
check "explain exits 0" test $? -eq 0
check "says the shim is not loaded" grep -q "NOT loaded" "$tmp/explain"
check "neither preloaded nor traced: no coverage claimed" \
  bash -c "! grep -q 'traced by\\|loaded in it (preload)' '$tmp/explain'"
check "neither: the summary says to run it under zapshim" \
  grep -q "would not zap: run the program under zapshim" "$tmp/explain"
check "read via PROCMAP_QUERY on this kernel" grep -q "via PROCMAP_QUERY" "$tmp/explain"
verify plain
"$Z" --explain "$pid" --kernel=6.10 >"$tmp/explain"
check "--kernel=6.10 parses maps" grep -q "via maps" "$tmp/explain"
verify plain
"$Z" --explain "$pid" --named-files=zap >"$tmp/explain"
named=$(awk '$1 == "named" { print $2 }' "$tmp/out.plain")
check "--named-files=zap: the named file gets MADV_REMOVE and the warning" \
  bash -c "grep -E '^0*$named-' '$tmp/explain' | grep -q 'shmem-shared *MADV_REMOVE' &&
           grep -A2 -E '^0*$named-' '$tmp/explain' | grep -q WARNING"
stop

start shim "$Z" --
"$Z" --explain "$pid" >"$tmp/explain"
check "says the shim is loaded" grep -q "zapshim is loaded" "$tmp/explain"
check "preload: covered, said so" \
  bash -c "grep -q '^zapshim is loaded in it (preload): .*libzapshim' '$tmp/explain' &&
           ! grep -q 'NOT loaded\\|traced by' '$tmp/explain' &&
           ! grep -q 'run the program under zapshim' '$tmp/explain'"
verify shim
stop

# A tracer named zapshim (the supervisor's command name) covers it; any
# other tracer does not.
# (A sanitizer build's LeakSanitizer cannot run in a traced process: off there.)
lsan_off="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
start traced env "$lsan_off" ZT_TRACER_COMM=zapshim
tracer=$(awk '$1 == "tracer" { print $2 }' "$tmp/out.traced")
"$Z" --explain "$pid" >"$tmp/explain"
check "traced by zapshim: covered, with the tracer's pid" \
  bash -c "grep -q 'traced by zapshim (pid $tracer)' '$tmp/explain' &&
           ! grep -q 'NOT loaded' '$tmp/explain' &&
           ! grep -q 'run the program under zapshim' '$tmp/explain'"
stop
start other env "$lsan_off" ZT_TRACER_COMM=zt-other
tracer=$(awk '$1 == "tracer" { print $2 }' "$tmp/out.other")
"$Z" --explain "$pid" >"$tmp/explain"
check "traced by something else: not covered, the tracer named" \
  bash -c "grep -q 'NOT loaded' '$tmp/explain' &&
           grep -q 'traced by pid $tracer (zt-other), which is not zapshim' '$tmp/explain' &&
           ! grep -q 'traced by zapshim' '$tmp/explain'"
stop

"$Z" --explain 999999999 2>/dev/null
check "explain of a missing process exits 1" test $? -eq 1

echo "$fails failure(s)"
test $fails -eq 0
