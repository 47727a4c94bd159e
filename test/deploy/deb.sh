#!/usr/bin/env bash
# The Debian package end to end (issue 13):
#   1. tools/build-deb.sh builds zapshim_<version>_<arch>.deb from this tree;
#   2. `dpkg -x` into a throw-away root: exactly the expected files, the
#      library in the multiarch libdir, pkg-config/CMake files pointing there;
#   3. `apt-get install -y ./zapshim_*.deb` for real: /usr/bin/zapshim --probe,
#      /usr/bin/zapshim -- ZAPDEMO (the packaged library frees a memfd's
#      pages), a consumer linked through the installed pkg-config file;
#   4. `apt-get remove --purge -y zapshim`: dpkg knows nothing of it and every
#      file of the package is gone.
# The package is removed on every exit path (trap).  Needs root and apt-get;
# without them it skips (77), in CI (CI=true) it fails.  A zapshim package
# installed before the test is not touched: skip (fail in CI).
#   deb.sh SOURCE_DIR WORK_DIR ZAPDEMO
set -uo pipefail
src=$1 work=$2 zapdemo=$3
t0=$(date +%s%N)

# elapsed - seconds since the start, one decimal.
elapsed() { local d=$(( ($(date +%s%N) - t0) / 100000000 )); echo "$((d / 10)).$((d % 10))"; }

say() { echo "deploy_deb: $*"; }
fail() { say "FAIL: $*"; exit 1; }
skip() {
  if [ "${CI:-}" = true ]; then fail "missing (required in CI): $*"; fi
  say "SKIP: $*"
  exit 77
}

[ "$(id -u)" = 0 ] || skip "not root (apt-get install needs it)"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || skip "no apt-get/dpkg-deb"
command -v dpkg-shlibdeps >/dev/null || skip "no dpkg-shlibdeps (package dpkg-dev)"
if dpkg-query -W -f='${db:Status-Status}' zapshim 2>/dev/null | grep -qv '^not-installed$'; then
  skip "a zapshim package is already installed; this test does not replace it"
fi
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
[ -n "$ma" ] || fail "cannot tell the multiarch triplet"

rm -rf "$work"
mkdir -p "$work"
installed=0
cleanup() {
  if [ "$installed" = 1 ] && dpkg-query -W zapshim >/dev/null 2>&1; then
    say "cleanup: removing the package"
    apt-get remove --purge -y -qq -o DPkg::Lock::Timeout=60 zapshim >/dev/null 2>&1 ||
      dpkg --purge zapshim >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Build.
deb=$("$src/tools/build-deb.sh" "$work/out" "$work/build" | tail -1) || fail "build-deb.sh failed"
[ -f "$deb" ] || fail "no package at '$deb'"
say "built $(basename "$deb") ($(stat -c %s "$deb") bytes) in $(elapsed) s"
[ "$(dpkg-deb -f "$deb" Package)" = zapshim ] || fail "package name is not zapshim"
dpkg-deb -f "$deb" Depends | grep libc6 >/dev/null || fail "Depends has no libc6 (dpkg-shlibdeps not run?)"

# 2. The file list, unpacked into a throw-away root.
root=$work/root
dpkg -x "$deb" "$root" || fail "dpkg -x failed"
lib=usr/lib/$ma
expect=(
  usr/bin/zapshim
  "$lib/libzapshim.so.0.1.0" "$lib/libzapshim.so.0" "$lib/libzapshim.so"
  usr/include/zapshim.h
  "$lib/pkgconfig/zapshim.pc"
  "$lib/cmake/zapshim/zapshimConfig.cmake" "$lib/cmake/zapshim/zapshimConfigVersion.cmake"
  "$lib/cmake/zapshim/zapshimTargets.cmake"
  usr/share/man/man1/zapshim.1 usr/share/man/man7/zapshim.7
  usr/share/doc/zapshim/examples/zapshim.conf.example
  usr/share/doc/zapshim/examples/domain-memfd.xml
  usr/share/doc/zapshim/examples/apparmor-libvirt-qemu.local
  usr/share/doc/zapshim/examples/README.md
)
for f in "${expect[@]}"; do
  [ -e "$root/$f" ] || [ -L "$root/$f" ] || fail "package lacks /$f"
done
# Nothing outside /usr, nothing under /usr/local, no test programs.
stray=$(cd "$root" && find . \( -type f -o -type l \) | sed 's|^\./||' |
        grep -v -e '^usr/bin/zapshim$' -e "^$lib/" -e '^usr/include/zapshim\.h$' \
                -e '^usr/share/man/man[17]/zapshim\.[17]$' -e '^usr/share/doc/zapshim/')
[ -z "$stray" ] || fail "unexpected files in the package: $stray"
[ "$(readlink "$root/$lib/libzapshim.so.0")" = libzapshim.so.0.1.0 ] || fail "SONAME link wrong"
grep -qx "libdir=\${prefix}/lib/$ma" "$root/$lib/pkgconfig/zapshim.pc" || fail "zapshim.pc libdir"
grep -qx 'prefix=/usr' "$root/$lib/pkgconfig/zapshim.pc" || fail "zapshim.pc prefix"
readelf -d "$root/$lib/libzapshim.so.0.1.0" | grep 'SONAME.*libzapshim\.so\.0' >/dev/null || fail "SONAME"
strings "$root/usr/bin/zapshim" | grep -x "/usr/lib/$ma" >/dev/null || fail "zapshim does not know /usr/lib/$ma"
say "dpkg -x: ${#expect[@]} expected files present, nothing else; library in /usr/lib/$ma"

# 3. Install for real.
installed=1
out=$(apt-get install -y -o DPkg::Lock::Timeout=60 "$(realpath "$deb")" 2>&1) ||
  { echo "$out"; fail "apt-get install failed"; }
dpkg-query -W -f='${Status} ${Version}\n' zapshim | grep 'install ok installed' >/dev/null ||
  fail "dpkg does not list zapshim as installed"
say "apt-get install: $(dpkg-query -W -f='${Package} ${Version}' zapshim), $(dpkg -L zapshim | wc -l) paths"

/usr/bin/zapshim --probe > "$work/probe.txt" 2>&1 || { cat "$work/probe.txt"; fail "zapshim --probe"; }
grep -q 'zaps' "$work/probe.txt" || { cat "$work/probe.txt"; fail "--probe printed no verdicts"; }
say "/usr/bin/zapshim --probe: exit 0, $(wc -l < "$work/probe.txt") lines"

dry=$(/usr/bin/zapshim -n -- /bin/true 2>&1) || fail "zapshim -n: $dry"
echo "$dry" | grep "LD_PRELOAD=/usr/lib/$ma/libzapshim.so" >/dev/null ||
  { echo "$dry"; fail "zapshim -n does not preload the packaged library"; }
run=$(/usr/bin/zapshim --log=stderr --stats -- "$zapdemo" 2>&1) ||
  { echo "$run"; fail "zapshim -- zapdemo failed"; }
echo "$run" | sed 's/^/  | /'
echo "$run" | grep 'MADV_DONTNEED kind=shmem-shared .*-> MADV_REMOVE ok' >/dev/null ||
  fail "the packaged shim did not translate zapdemo's DONTNEED"
echo "$run" | grep ': freed' >/dev/null || fail "zapdemo's memfd was not freed"
maps=$(/usr/bin/zapshim -- grep libzapshim /proc/self/maps) || fail "no libzapshim in a child's maps"
echo "$maps" | grep "/usr/lib/$ma/libzapshim.so.0.1.0" >/dev/null || fail "child maps another libzapshim: $maps"

cc -std=gnu11 -Wall -Werror "$src/test/install/consumer.c" \
  $(PKG_CONFIG_PATH=/usr/lib/$ma/pkgconfig pkg-config --cflags --libs zapshim) \
  -o "$work/consumer" || fail "consumer does not build against the package"
"$work/consumer" || fail "consumer linked against the package failed"
say "zapshim -- zapdemo: translated and freed; consumer through pkg-config: ok ($(ldd "$work/consumer" | awk '/libzapshim/{print $3}'))"

# 4. Remove, purge, nothing left.
files=$(dpkg -L zapshim | while read -r p; do [ -d "$p" ] || echo "$p"; done)
apt-get remove --purge -y -o DPkg::Lock::Timeout=60 zapshim >/dev/null 2>&1 || fail "apt-get remove --purge"
installed=0
left=$(dpkg -L zapshim 2>/dev/null)
[ -z "$left" ] || fail "dpkg -L still lists: $left"
if dpkg-query -W -f='${db:Status-Status}' zapshim 2>/dev/null | grep -qv '^not-installed$'; then
  fail "dpkg still knows zapshim: $(dpkg-query -W -f='${Status}' zapshim)"
fi
n=0
for f in $files; do
  n=$((n + 1))
  if [ -e "$f" ] || [ -L "$f" ]; then fail "left behind: $f"; fi
done
[ ! -e /usr/share/doc/zapshim ] && [ ! -e "/usr/lib/$ma/cmake/zapshim" ] || fail "directories left behind"
ldconfig -p | grep "/usr/lib/$ma/libzapshim" >/dev/null && fail "ld.so cache still names the library"
say "apt-get remove --purge: dpkg -L empty, $n files gone"
say "1 passed in $(elapsed) s"
