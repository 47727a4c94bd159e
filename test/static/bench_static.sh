#!/usr/bin/env bash
# bench_static.sh ZAPSHIM BENCH [N] - the cost of the zapshim command's
# syscall path for a static program (issue 10): bench_static (musl static)
# run without and with `zapshim --`, alternating, unpinned and with both
# pinned to one CPU (taskset -c 0: tracer and tracee share it).  Prints a
# table per figure: without, with, ratio, added time per op.  No pass/fail
# threshold: exits 0 when both runs completed.
set -u
zapshim=$1 bench=$2 n=${3:-}
out=$(mktemp -d /tmp/zst-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

# run TAG PREFIX... - one run of "bench all N", figures into $out/TAG.
run() {
  local tag=$1; shift
  if ! "$@" "$bench" all $n >"$out/$tag" 2>"$out/$tag.err"; then
    echo "bench_static: run '$tag' failed:"; cat "$out/$tag" "$out/$tag.err"
    exit 1
  fi
}

run plain
run traced "$zapshim" --
pin=()
if command -v taskset >/dev/null && (($(nproc) > 1)); then
  pin=(taskset -c 0)
  run plain-pinned "${pin[@]}"
  run traced-pinned "${pin[@]}" "$zapshim" --
fi

# table A B TITLE - compare the figures of runs A and B.
table() {
  echo "$3"
  printf '  %-48s %12s %12s %7s %12s\n' figure without with ratio added
  paste -d'\t' <(grep '^bench .*ns/op' "$out/$1") <(grep '^bench .*ns/op' "$out/$2") |
    awk -F'\t' '{
      split($1, a, ": "); split(a[2], x, " "); split($2, b, ": "); split(b[2], y, " ");
      name = substr(a[1], 7);
      printf "  %-48s %9.1f ns %9.1f ns %7.3f %9.2f us\n", name, x[1], y[1], y[1] / x[1], (y[1] - x[1]) / 1000
    }'
}
echo "bench_static: $(uname -r), $(nproc) CPUs, N=${n:-default}"
table plain traced "unpinned (tracer and tracee may run on different CPUs):"
if ((${#pin[@]})); then
  table plain-pinned traced-pinned "pinned to CPU 0 (tracer and tracee share it):"
fi
grep -h 'purges' "$out/plain" | sed 's/^/  /'
