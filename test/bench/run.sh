#!/usr/bin/env bash
# run.sh - build and run zapbench, the zapshim performance benchmark.
#
#   test/bench/run.sh [BUILD_DIR] [zapbench drive options...]
#
# BUILD_DIR (default: build-bench, relative to the repository root) gets a
# Release build of libzapshim.so and zapbench.  Options after it go to
# `zapbench drive` (--reps N (default 5), --quick, --lives 0,1000,20000,60000).
# The default run takes about 5 minutes on a 2-vCPU VM (--reps 3: 3); --quick
# a second.
# Results: BUILD_DIR/bench-results/{table.txt,results.json,results.dat,plot.png}
# (or $ZAPBENCH_OUT).
#
# As root it prepares the host for the run and puts it back afterwards:
# vm.max_map_count is raised to 262144 (60,000 live mappings plus the
# program's own are too close to the default 65530), and the 2 MiB huge
# page pool is grown until 520 pages are free and not reserved by another
# process (the 1 GiB hugetlbfs zap takes 512).  gnuplot-nox is installed if gnuplot is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build-bench}
[[ $# -gt 0 ]] && shift
[[ $build = /* ]] || build="$root/$build"
out=${ZAPBENCH_OUT:-$build/bench-results}

echo "run.sh: building in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZAPSHIM_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target zapshim zapbench zapbench_empty >/dev/null

# Host preparation, undone on exit.
restore_mmc=""
restore_hp=""
set_hp=""
cleanup() {
  if [[ -n $restore_mmc ]]; then
    echo "$restore_mmc" > /proc/sys/vm/max_map_count
  fi
  # Give the huge pages back only if nobody changed the pool meanwhile.
  if [[ -n $restore_hp && $(cat /proc/sys/vm/nr_hugepages) == "$set_hp" ]]; then
    echo "$restore_hp" > /proc/sys/vm/nr_hugepages
  fi
}
trap cleanup EXIT

if [[ $(id -u) == 0 ]]; then
  mmc=$(cat /proc/sys/vm/max_map_count)
  if (( mmc < 262144 )); then
    echo 262144 > /proc/sys/vm/max_map_count
    restore_mmc=$mmc
  fi
  hp_total=$(cat /proc/sys/vm/nr_hugepages)
  # Free pages that another process has reserved (Rsvd) are not ours to map.
  hp_avail=$(awk '/^HugePages_Free:/{f=$2} /^HugePages_Rsvd:/{r=$2} END{print f-r}' /proc/meminfo)
  want=$(( hp_total + 520 - hp_avail ))
  (( want < 600 )) && want=600
  if (( want > hp_total )); then
    echo "$want" > /proc/sys/vm/nr_hugepages
    restore_hp=$hp_total
    set_hp=$(cat /proc/sys/vm/nr_hugepages)
  fi
  if ! command -v gnuplot >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq gnuplot-nox >/dev/null; } || true
  fi
else
  echo "run.sh: not root: vm.max_map_count and the huge page pool are left as they are" >&2
fi
echo "run.sh: vm.max_map_count=$(cat /proc/sys/vm/max_map_count)," \
  "huge pages free and not reserved $(awk '/^HugePages_Free:/{f=$2} /^HugePages_Rsvd:/{r=$2} END{print f-r}' /proc/meminfo)" >&2

# What was built: the commit, and "-dirty" if the work tree had changes.
source=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
started=$SECONDS
"$build/test/bench/zapbench" drive --lib "$build/libzapshim.so" \
  --empty "$build/test/bench/libzapbench_empty.so" --out "$out" --source "$source" "$@"
"$build/test/bench/zapbench" check-json "$out/results.json" >/dev/null

if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$out/results.dat'; outfile='$out/plot.png'" "$here/plot.gp"
  echo "run.sh: plot in $out/plot.png" >&2
else
  echo "run.sh: gnuplot not available: no plot" >&2
fi
echo "run.sh: table in $out/table.txt, JSON in $out/results.json" \
  "($((SECONDS - started)) s)" >&2
