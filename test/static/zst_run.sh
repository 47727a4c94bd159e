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
#   zst_run.sh asked CASE LOGPAT -- CMD ARGS...
#       CMD (run under the preload, whose translated calls the program's own
#       seccomp filter forbids) must live and have only CASE fail (its
#       memory left as asked: exit 1, a "FAIL CASE" line and no other FAIL
#       line), and its output must contain LOGPAT (the shim saying why).
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
asked)
  want=$2 logpat=$3
  shift 4
  out=$(mktemp /tmp/zst-asked.XXXXXX)
  trap 'rm -f "$out"' EXIT
  "$@" >"$out" 2>&1
  rc=$?
  cat "$out"
  echo "---- left as asked: exit status $rc"
  ok=1
  [[ $rc == 1 ]] || { echo "asked: want exit 1 (only '$want' failing), got $rc"; ok=0; }
  grep -qF "FAIL $want" "$out" || { echo "asked: '$want' did not fail"; ok=0; }
  others=$(grep '^FAIL ' "$out" | grep -vF "FAIL $want" || true)
  [[ -z $others ]] || { echo "asked: other checks failed too: $others"; ok=0; }
  grep -qE "$logpat" "$out" || { echo "asked: no log line matching '$logpat'"; ok=0; }
  ((ok)) && echo "asked: the program lives, its memory left as asked, and the log says why"
  ((ok)) && exit 0
  exit 1
  ;;
*)
  echo "usage: $0 need WHAT | control PATTERN... -- CMD ARGS... | asked CASE LOGPAT -- CMD ARGS..." >&2
  exit 2
  ;;
esac
