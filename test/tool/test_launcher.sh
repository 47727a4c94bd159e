#!/usr/bin/env bash
# test_launcher.sh ZAPSHIM LIBZAPSHIM - the launcher: LD_PRELOAD built right
# (library first, absolute, existing entries kept once, no duplicate when
# nested), the options' variables (--named-files=keep|zap included),
# env(1) exit codes, setuid refused, --version/--help, and the library
# found from an installed-prefix layout.
set -u
Z=$1
LIB=$2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check DESCRIPTION COMMAND...: run, count a failure if it fails
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
libabs=$(cd "$(dirname "$LIB")" && pwd)/libzapshim.so

out=$(env -u LD_PRELOAD "$Z" --dry-run --log=stderr --kernel=5.10 --verify --stats \
      --restrict-exe=qemu-system-x86_64:true -- true a 'b c')
check "dry-run exits 0" test $? -eq 0
check "dry-run: LD_PRELOAD is the library's absolute path" \
  grep -qx "LD_PRELOAD=$libabs" <<<"$out"
check "dry-run: --log, --kernel, --verify, --stats, --restrict-exe set their variables" \
  bash -c 'grep -qx ZAPSHIM_LOG=stderr <<<"$1" && grep -qx ZAPSHIM_KERNEL=5.10 <<<"$1" &&
           grep -qx ZAPSHIM_VERIFY=1 <<<"$1" && grep -qx ZAPSHIM_STATS=1 <<<"$1" &&
           grep -qx ZAPSHIM_RESTRICT_EXE=qemu-system-x86_64:true <<<"$1"' _ "$out"
check "dry-run: prints the resolved command, quoted" grep -qx "$(type -P true) a 'b c'" <<<"$out"
check "dry-run: no --named-files, no ZAPSHIM_NAMED_FILES" bash -c '! grep -q ZAPSHIM_NAMED_FILES <<<"$1"' _ "$out"
for v in keep zap; do
  out=$(env -u LD_PRELOAD "$Z" --dry-run --named-files=$v -- true)
  check "dry-run: --named-files=$v sets ZAPSHIM_NAMED_FILES=$v" grep -qx "ZAPSHIM_NAMED_FILES=$v" <<<"$out"
done
out=$("$Z" --named-files=zap -- sh -c 'echo "$ZAPSHIM_NAMED_FILES"')
check "the command sees ZAPSHIM_NAMED_FILES=zap" test "$out" = zap
err=$("$Z" --named-files=yes true 2>&1)
check "bad --named-files: 125" test $? -eq 125
check "bad --named-files: says what it wants" grep -q -- "--named-files wants keep or zap" <<<"$err"
"$Z" --help | grep -q -- '--named-files=keep|zap'
check "--help documents --named-files" test "${PIPESTATUS[1]}" -eq 0
"$Z" --help | grep -q 'freed for all of'
check "--help says a zap of shared memory frees it for every process" test "${PIPESTATUS[1]}" -eq 0

other=$tmp/zt-other.so
echo "void zt_other(void);void zt_other(void){}" | gcc -shared -fPIC -x c -o "$other" - || exit 1
out=$(LD_PRELOAD="$other" "$Z" --dry-run true)
check "existing LD_PRELOAD kept after the library" grep -qx "LD_PRELOAD=$libabs:$other" <<<"$out"
out=$(LD_PRELOAD="$other" "$Z" -- "$Z" --dry-run -- true)
check "nested: no duplicate" grep -qx "LD_PRELOAD=$libabs:$other" <<<"$out"
out=$(LD_PRELOAD="$LIB $other $LIB" "$Z" --dry-run true)
check "space-separated LD_PRELOAD with the library twice: once" \
  grep -qx "LD_PRELOAD=$libabs:$other" <<<"$out"

out=$(env -u LD_PRELOAD "$Z" -- sh -c 'echo "$LD_PRELOAD"')
check "the command sees LD_PRELOAD with the library" test "$out" = "$libabs"
"$Z" sh -c 'exit 7'
check "the command's exit status is passed on" test $? -eq 7

"$Z" zt-no-such-command-here 2>/dev/null
check "127 for a missing command" test $? -eq 127
"$Z" "$tmp/none" 2>/dev/null
check "127 for a missing path" test $? -eq 127
printf 'x\n' >"$tmp/plain"
chmod 644 "$tmp/plain"
"$Z" "$tmp/plain" 2>/dev/null
check "126 for a file that is not executable" test $? -eq 126
"$Z" "$tmp" 2>/dev/null
check "126 for a directory" test $? -eq 126
printf 'echo script-ran\n' >"$tmp/noshebang"
chmod 755 "$tmp/noshebang"
check "a script without #! runs with sh" test "$("$Z" "$tmp/noshebang")" = script-ran

cp "$(type -P true)" "$tmp/suid"
chmod 4755 "$tmp/suid"
err=$("$Z" "$tmp/suid" 2>&1)
rc=$?
check "setuid binary refused with 126" test $rc -eq 126
check "setuid refusal says why" grep -q "set-user-ID" <<<"$err"
chmod 2755 "$tmp/suid"
"$Z" --dry-run "$tmp/suid" >/dev/null 2>&1
check "setgid binary refused with 126 (also in a dry run)" test $? -eq 126

"$Z" --version | grep -q '^zapshim [0-9]'
check "--version" test "${PIPESTATUS[0]}" -eq 0
"$Z" --help | grep -q 'Usage: zapshim'
check "--help" test "${PIPESTATUS[0]}" -eq 0
"$Z" -h >/dev/null
check "-h" test $? -eq 0
"$Z" --bogus true 2>/dev/null
check "unknown option: 125" test $? -eq 125
"$Z" --kernel=five true 2>/dev/null
check "bad --kernel: 125" test $? -eq 125

# An installed prefix: bin/zapshim and lib/<multiarch>/libzapshim.so.0.
arch=$(gcc -print-multiarch 2>/dev/null || true)
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/lib/$arch"
cp "$Z" "$tmp/prefix/bin/zapshim"
cp "$LIB" "$tmp/prefix/lib/$arch/libzapshim.so.0"
out=$(env -u LD_PRELOAD "$tmp/prefix/bin/zapshim" --dry-run true)
check "installed layout: finds ../lib/${arch:+$arch/}libzapshim.so.0" \
  grep -qx "LD_PRELOAD=$(cd "$tmp/prefix/lib/$arch" && pwd)/libzapshim.so.0" <<<"$out"

echo "$fails failure(s)"
test $fails -eq 0
