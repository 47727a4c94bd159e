#!/usr/bin/env bash
# expect_exit.sh WANT COMMAND... - for tests registered WILL_FAIL TRUE that
# must fail for one reason only.  Runs COMMAND; if it exits with WANT (the
# failure the test is about), exits WANT, which WILL_FAIL turns into a pass.
# 77 (skipped) is passed through.  Any other status (an unexpected pass, a
# setup error, a crash) exits 0, which WILL_FAIL reports as a failure.
want=$1
shift
"$@"
rc=$?
if [[ $rc == "$want" || $rc == 77 ]]; then
  exit "$rc"
fi
echo "expect_exit: expected exit status $want from $1, got $rc: not the failure this test checks" >&2
exit 0
