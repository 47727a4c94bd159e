#!/usr/bin/env bash
# zst_run.sh - ctest helpers of test/static (issue 10).
#
#   zst_run.sh need WHAT
#       A tool the test needs (musl-gcc, go) is missing: print why and exit
#       1 with CI=true (a failure), 77 elsewhere (ctest: skipped).
#   zst_run.sh control PATTERN... -- CMD ARGS...
#       A control: CMD run WITHOUT zapshim must fail the way a program that
#       sees a non-zap fails - exit 1 with a last line "N passed, M failed"
#       (M > 0), and a "FAIL <PATTERN>" line for every PATTERN given (e.g.
#       the shared kinds' MADV_DONTNEED).  Exits 0 when that is proven, 1
#       when the control passed or failed some other way (a crash, a
#       timeout), 77 when CMD skipped.  Stricter than ctest's WILL_FAIL,
#       which would also accept a crash or a missing tool.
set -u
case ${1:-} in
need)
  if [[ ${CI:-} == true ]]; then
    echo "needs $2, which is missing (CI=true makes this a failure; tools/setup-host.sh installs it)"
    exit 1
  fi
  echo "SKIP: needs $2, which is missing (tools/setup-host.sh installs it)"
  exit 77
  ;;
control)
  shift
  pats=()
  while (($#)) && [[ $1 != -- ]]; do pats+=("$1"); shift; done
  shift
  out=$(mktemp /tmp/zst-control.XXXXXX)
  trap 'rm -f "$out"' EXIT
  "$@" >"$out" 2>&1
  rc=$?
  cat "$out"
  echo "---- control: exit status $rc without zapshim"
  [[ $rc == 77 ]] && exit 77
  ok=1
  if [[ $rc != 1 ]]; then
    echo "control: want exit 1 (checks failed), got $rc"
    ok=0
  fi
  last=$(tail -n 1 "$out")
  if ! [[ $last =~ ^[0-9]+\ passed,\ [1-9][0-9]*\ failed ]]; then
    echo "control: the last line is not 'N passed, M failed' with M > 0: '$last'"
    ok=0
  fi
  for p in "${pats[@]}"; do
    if ! grep -qF "FAIL $p" "$out"; then
      echo "control: '$p' did not fail without zapshim"
      ok=0
    fi
  done
  if ((ok)); then
    echo "control: fails as a program that sees a non-zap must (the suite can tell)"
    exit 0
  fi
  exit 1
  ;;
*)
  echo "usage: $0 need WHAT | control PATTERN... -- CMD ARGS..." >&2
  exit 2
  ;;
esac
