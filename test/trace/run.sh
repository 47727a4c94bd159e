#!/bin/bash
# run.sh ZAPSHIM STATIC_ZAP DYNAMIC_ZAP STATIC_FILTER - the syscall path's mechanics.
# Each check runs bounded (timeout) and prints PASS/FAIL; exit 1 if any failed.
set -u
zs=$1 st=$2 dyn=$3 filt=$4
fails=0 log=$(mktemp) out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
t() { timeout -k 5 30 "$@"; }
check() { # check NAME COND-RESULT(0/1) [detail]
  if [ "$2" = 0 ]; then echo "PASS $1"; else echo "FAIL $1 ${3:-}"; fails=$((fails + 1)); fi
}

# Control: without zapshim the static program's DONTNEED keeps the memfd.
t "$st" >/dev/null; check "control: static DONTNEED frees nothing alone" $([ $? = 1 ]; echo $?)

# A static ELF gets the syscall path; the memfd is freed; the log says so.
t "$zs" --log="$log" -- "$st" >"$out"; rc=$?
check "static: syscall path chosen" $(grep -q "syscall path (static ELF" "$log"; echo $?)
check "static: shared memfd DONTNEED freed (rc=$rc)" $([ $rc = 0 ]; echo $?) "$(cat "$out")"
check "static: log line MADV_DONTNEED -> MADV_REMOVE ok" \
  $(grep -q "MADV_DONTNEED kind=shmem-shared (kernel) -> MADV_REMOVE ok" "$log"; echo $?)

# MADV_REMOVE on private anonymous memory: the policy's DONTNEED (0, zeroed).
: >"$log"
t "$zs" --log="$log" -- "$st" remove >"$out"; rc=$?
check "static: private REMOVE answered as DONTNEED (rc=$rc)" $([ $rc = 0 ]; echo $?) "$(cat "$out" "$log")"

# The program's own filter kills on DONTNEED: the policy's rewrite of its
# private REMOVE is refused, the call left as asked (EINVAL), logged.
: >"$log"
t "$zs" --log="$log" -- "$filt" >"$out"; rc=$?
check "own filter forbids the rewrite: not killed, kernel's EINVAL (rc=$rc)" \
  $([ $rc = 0 ] && grep -q "seccomp filter forbids the translated call" "$log"; echo $?) "$(cat "$out" "$log")"

# --preload forces the preload path (which cannot reach a static program).
: >"$log"
t "$zs" --preload --log="$log" -- "$st" >/dev/null; rc=$?
check "--preload on static: preload path, nothing freed" \
  $([ $rc = 1 ] && grep -q "preload path (--preload)" "$log"; echo $?)

# A dynamic raw-syscall caller: preload by default (not reached: raw
# syscall), --trace gives it the syscall path.
: >"$log"
t "$zs" --trace --log="$log" -- "$dyn" >/dev/null; rc=$?
check "--trace on dynamic raw syscall: freed" \
  $([ $rc = 0 ] && grep -q "syscall path (--trace)" "$log"; echo $?)

# --verify on the syscall path: the kernel is asked after each translated
# zap (pagemap of the tracee, SEEK_DATA of the punched file).
: >"$log"
t "$zs" --verify --log="$log" -- "$st" >/dev/null; rc=$?
check "--verify: the shared memfd is checked non-present, its file range a hole (rc=$rc)" \
  $([ $rc = 0 ] && grep -q "verify: .* kind=shmem-shared present=0 file=hole: non-present" "$log" &&
    ! grep -q "zap NOT whole" "$log"; echo $?) "$(cat "$log")"

# Dry run names the path.
check "dry run names the path" $(t "$zs" -n -- "$st" | grep -q "^# syscall path"; echo $?)

# Exit status and fatal signals passed on like env(1).
t "$zs" --trace -- sh -c 'exit 7'; rc=$?
check "exit 7 -> 7" $([ $rc = 7 ]; echo $?) "rc=$rc"
t "$zs" --trace -- sh -c 'kill -TERM $$'; rc=$?
check "killed by SIGTERM -> 143" $([ $rc = 143 ]; echo $?) "rc=$rc"
t "$zs" --trace -- /nonexistent/x; rc=$?
check "not found -> 127" $([ $rc = 127 ]; echo $?) "rc=$rc"

# A fork + exec chain: the grandchild's zap is translated too.
t "$zs" --trace -- sh -c "\"$st\" & wait \$!"; rc=$?
check "fork/exec chain: child's zap freed" $([ $rc = 0 ]; echo $?) "rc=$rc"

# bounded NAME CMD...: run CMD in the background (killed after 30 s);
# its pid in $bpid.
bounded() { "$@" & bpid=$!; ( sleep 30; kill -KILL $bpid 2>/dev/null ) & wd=$!; }
unbound() { kill $wd 2>/dev/null; wait $wd 2>/dev/null; }

# Stop/continue of a traced program (group stop kept, then resumed).
bounded "$zs" --trace -- sh -c 'kill -STOP $$; exit 3'
sleep 0.3; kid=$(pgrep -P $bpid)
state=$(awk '{print $3}' /proc/$kid/stat 2>/dev/null)
kill -CONT "$kid"; wait $bpid; rc=$?; unbound
check "SIGSTOP keeps the program stopped (state $state), SIGCONT resumes: exits 3" \
  $([ $rc = 3 ] && [ "$state" = T -o "$state" = t ]; echo $?) "rc=$rc"

# SIGTERM to the supervisor reaches the program.
bounded "$zs" --trace -- sleep 20
sleep 0.3; kill -TERM $bpid; wait $bpid; rc=$?; unbound
check "SIGTERM to zapshim passed on -> 143" $([ $rc = 143 ]; echo $?) "rc=$rc"

# ^C: SIGINT to the foreground group reaches the program; zapshim exits 130.
bounded "$zs" --trace -- sleep 20
sleep 0.3; kid=$(pgrep -P $bpid); kill -INT $bpid "$kid"; wait $bpid; rc=$?; unbound
check "SIGINT to the group: zapshim ignores it, program dies -> 130" $([ $rc = 130 ]; echo $?) "rc=$rc"

# --explain on a traced program says it is covered by the syscall path.
bounded "$zs" --trace -- sleep 20
sleep 0.3; kid=$(pgrep -P $bpid)
t "$zs" --explain "$kid" >"$out" 2>&1
kill -TERM $bpid; wait $bpid 2>/dev/null; unbound
check "--explain on the traced program: traced by zapshim (pid $bpid)" \
  $(grep -q "traced by zapshim (pid $bpid)" "$out"; echo $?) "$(head -5 "$out")"

# The supervisor killed: fail-stop (EXITKILL), nothing left running.
bounded "$zs" --trace -- sleep 20
sleep 0.3; kid=$(pgrep -P $bpid); kill -KILL $bpid; wait $bpid 2>/dev/null; unbound; sleep 0.2
state=$(awk '{print $3}' /proc/$kid/stat 2>/dev/null) # gone, or a zombie init has not reaped
check "supervisor killed: program killed too (fail-stop)" \
  $([ -n "$kid" ] && [ -z "$state" -o "$state" = Z ]; echo $?) "state=$state"

echo "trace mechanics: $fails failed"
[ $fails = 0 ]
