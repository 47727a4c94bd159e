#!/usr/bin/env bash
# proc_control.sh MODE ZAPSHIM PROG [PROG2] - process control of a static
# program under the zapshim command's syscall path (issue 10).  PROG is
# proc_zap (musl static), PROG2 the same built with glibc static.  Every
# program proves its own zaps (proc_zap.c), so a mode passes only if the
# supervisor really served each process.
#
#   exit3       zapshim -- PROG exit 3          -> exit status 3
#   segv        zapshim -- PROG segv            -> 139 (128+SIGSEGV, like env(1))
#   chain       fork/vfork + exec chain of 4, musl and glibc static in turn,
#               each proving zaps before and after           -> 0
#   sigkill     the program is killed with SIGKILL mid-run    -> 137, nothing left
#   sigint      ^C: SIGINT to the process group mid-run      -> 130, nothing left
#   supervisor  the zapshim process is killed with SIGKILL while the program
#               (2 processes) zaps: the program must not go on losing zaps
#               silently; the expected design is fail-stop (PTRACE_O_EXITKILL):
#               every process of the program dies, none is left
# "Nothing left": no process whose command line names this run's directory
# (pgrep -f), none of the program's pids alive, and no zap that was not
# whole (DIR/lost empty).  Exit 0 pass, 1 fail.
set -u
mode=$1 zapshim=$2 prog=$3 prog2=${4:-$3}
dir=$(mktemp -d /tmp/zst-proc.XXXXXX)
log=$dir/zapshim.log
fail=0

# cleanup - leave nothing behind, whatever happened.
cleanup() {
  local p
  for p in $(pgrep -f -- "$dir" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  for f in "$dir"/pid.*; do
    [[ -e $f ]] && kill -9 "${f##*.}" 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT

bad() { echo "FAIL: $*"; fail=1; }

# expect_rc WANT CMD... - run CMD, compare its exit status.
expect_rc() {
  local want=$1; shift
  "$@"
  local rc=$?
  echo "exit status $rc (want $want)"
  [[ $rc == "$want" ]] || bad "exit status $rc, want $want"
}

# wait_ready N - wait up to 10 s for N processes to have made a first zap.
wait_ready() {
  local i
  for ((i = 0; i < 200; i++)); do
    local n
    n=$(find "$dir" -maxdepth 1 -name 'ready.*' | wc -l)
    ((n >= $1)) && return 0
    sleep 0.05
  done
  bad "the program did not start zapping within 10 s ($(find "$dir" -maxdepth 1 -name 'ready.*' | wc -l) of $1 ready)"
  return 1
}

# alive PID - the process exists and is not a zombie.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

# check_left - within 5 s no process of the run may remain; no zap lost.
check_left() {
  local i left=""
  for ((i = 0; i < 100; i++)); do
    left=""
    for f in "$dir"/pid.*; do
      [[ -e $f ]] || continue
      alive "${f##*.}" && left+=" ${f##*.}"
    done
    for p in $(pgrep -f -- "$dir" 2>/dev/null); do
      alive "$p" && [[ $left != *" $p"* ]] && left+=" $p"
    done
    [[ -z $left ]] && break
    sleep 0.05
  done
  if [[ -n $left ]]; then
    bad "processes left behind:$left"
    ps -o pid,ppid,stat,args -p "${left# }" 2>/dev/null | sed 's/^/  /'
    sleep 0.5 # do they go on zapping unserved?
  else
    echo "no process left behind"
  fi
  if [[ -s $dir/lost ]]; then
    bad "zaps not whole ($(wc -l <"$dir/lost") lines in lost), first: $(head -1 "$dir/lost")"
  fi
}

ulimit -c 0
echo "proc_control: $mode; zapshim=$zapshim prog=$prog"
case $mode in
exit3)
  expect_rc 3 "$zapshim" --log=stderr -- "$prog" exit 3
  ;;
segv)
  expect_rc 139 "$zapshim" --log=stderr -- "$prog" segv
  ;;
chain)
  expect_rc 0 "$zapshim" --log=stderr -- "$prog" chain 4 "$prog2" "$prog"
  ;;
sigkill)
  "$zapshim" --log="$log" -- "$prog" loop "$dir" &
  sup=$!
  if wait_ready 1; then
    pid=$(find "$dir" -maxdepth 1 -name 'pid.*' | head -1)
    pid=${pid##*.}
    echo "killing the program (pid $pid; zapshim pid $sup) with SIGKILL"
    kill -9 "$pid"
  fi
  wait "$sup"
  rc=$?
  echo "zapshim exit status $rc (want 137)"
  [[ $rc == 137 ]] || bad "zapshim exit status $rc, want 137"
  check_left
  ;;
sigint)
  set -m # the job gets a process group of its own, SIGINT not ignored
  "$zapshim" --log="$log" -- "$prog" loop "$dir" &
  sup=$!
  if wait_ready 1; then
    echo "^C: SIGINT to process group $sup"
    kill -INT -- "-$sup"
  fi
  wait "$sup"
  rc=$?
  set +m
  echo "zapshim exit status $rc (want 130)"
  [[ $rc == 130 ]] || bad "zapshim exit status $rc, want 130"
  check_left
  ;;
supervisor)
  "$zapshim" --log="$log" -- "$prog" loop "$dir" 2 &
  sup=$!
  if wait_ready 2; then
    echo "killing the supervisor (zapshim pid $sup) with SIGKILL"
    kill -9 "$sup"
  fi
  wait "$sup"
  echo "zapshim exit status $? (killed)"
  check_left
  ;;
*)
  echo "usage: $0 exit3|segv|chain|sigkill|sigint|supervisor ZAPSHIM PROG [PROG2]" >&2
  exit 2
  ;;
esac
if [[ -s $log ]]; then
  echo "zapshim log (first lines):"
  head -5 "$log" | sed 's/^/  /'
fi
if ((fail)); then
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
