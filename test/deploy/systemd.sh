#!/usr/bin/env bash
# A VMM started by systemd, under zapshim (issue 13).  Two transient units
# (systemd-run), each running a sleeping program for at most 60 s:
#   A. the uncommented Environment= lines of
#      packaging/systemd/zapshim.conf.example (library path and
#      ZAPSHIM_RESTRICT_EXE pointed at this build and at sleep): zapshim
#      --explain MainPID must say "zapshim is loaded in it (preload)";
#   B. ExecStart through `zapshim --trace --`: MainPID is the supervisor,
#      zapshim --explain on its child must say "traced by zapshim".
# Both units are stopped on every exit path.  Where systemd is not PID 1 or
# does not answer `systemctl is-system-running`, the test skips (77) with
# the reason, in CI too (containers and some VMs boot without systemd).
#   systemd.sh SOURCE_DIR ZAPSHIM_CMD LIBZAPSHIM
set -uo pipefail
src=$1 cmd=$2 lib=$3
say() { echo "deploy_systemd: $*"; }
fail() { say "FAIL: $*"; exit 1; }

pid1=$(cat /proc/1/comm 2>/dev/null)
if [ "$pid1" != systemd ]; then
  say "SKIP: PID 1 is '$pid1', not systemd: no transient units here"
  exit 77
fi
state=$(systemctl is-system-running 2>&1)
case $state in
  running | degraded | starting) ;;
  *) say "SKIP: systemctl is-system-running answers '$state'"; exit 77 ;;
esac
command -v systemd-run >/dev/null || { say "SKIP: no systemd-run"; exit 77; }
[ "$(id -u)" = 0 ] || { say "SKIP: not root (system units)"; exit 77; }
say "systemd is PID 1, system state '$state'"

units=()
cleanup() {
  for u in "${units[@]}"; do
    systemctl stop "$u" >/dev/null 2>&1
    systemctl reset-failed "$u" >/dev/null 2>&1
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# main_pid UNIT - the unit's MainPID once it runs (5 s at most), or empty.
main_pid() {
  local p
  for _ in $(seq 50); do
    p=$(systemctl show -P MainPID "$1" 2>/dev/null)
    if [ -n "$p" ] && [ "$p" != 0 ] && [ -r "/proc/$p/maps" ]; then echo "$p"; return; fi
    sleep 0.1
  done
}

# A: the drop-in's Environment= lines.
props=()
while IFS= read -r line; do
  line=${line//\/usr\/lib\/x86_64-linux-gnu\/libzapshim.so.0/$lib}
  line=${line//ZAPSHIM_RESTRICT_EXE=qemu-system-x86_64/ZAPSHIM_RESTRICT_EXE=sleep}
  props+=(-p "$line")
done < <(grep '^Environment=' "$src/packaging/systemd/zapshim.conf.example")
((${#props[@]} >= 3)) || fail "the drop-in has no Environment= lines"
ua=zapshim-deploy-a-$$
units+=("$ua")
systemd-run --quiet --unit="$ua" "${props[@]}" /bin/sleep 60 || fail "systemd-run (A) failed"
pa=$(main_pid "$ua")
[ -n "$pa" ] || fail "unit $ua has no running main process"
ex=$("$cmd" --explain "$pa" 2>&1) || { echo "$ex"; fail "zapshim --explain $pa"; }
echo "$ex" | sed -n 1,2p | sed 's/^/  | /'
echo "$ex" | grep 'zapshim is loaded in it (preload)' >/dev/null ||
  fail "unit $ua (pid $pa): the drop-in's environment did not load zapshim"
tr '\0' '\n' < "/proc/$pa/environ" | grep '^ZAPSHIM_LOG=stderr$' >/dev/null ||
  fail "ZAPSHIM_LOG not in the unit's environment"
say "A (drop-in Environment=): pid $pa covered (preload)"

# B: ExecStart through zapshim --trace (the syscall path).
ub=zapshim-deploy-b-$$
units+=("$ub")
systemd-run --quiet --unit="$ub" "$cmd" --trace --log=stderr -- /bin/sleep 60 ||
  fail "systemd-run (B) failed"
pb=$(main_pid "$ub")
[ -n "$pb" ] || fail "unit $ub has no running main process"
child=
for _ in $(seq 50); do
  child=$(cat "/proc/$pb/task/$pb/children" 2>/dev/null | awk '{print $1}')
  [ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = sleep ] && break
  child=
  sleep 0.1
done
[ -n "$child" ] || fail "unit $ub: no sleep child under the supervisor $pb"
ex=$("$cmd" --explain "$child" 2>&1) || { echo "$ex"; fail "zapshim --explain $child"; }
echo "$ex" | sed -n 1,2p | sed 's/^/  | /'
echo "$ex" | grep "traced by zapshim (pid $pb)" >/dev/null ||
  fail "unit $ub: the child $child is not traced by zapshim"
say "B (ExecStart through zapshim --trace): child $child traced by supervisor $pb"
say "1 passed"
