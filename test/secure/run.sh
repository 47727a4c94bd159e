#!/usr/bin/env bash
# In a secure-execution (setuid) process, ZAPSHIM_* file paths are ignored:
# ZAPSHIM_LOG must not make a setuid program write where the caller says.
# The shim itself still works there. Usage: run.sh LIBZAPSHIM HELPER
# Needs root (to make a setuid binary and put a setuid library copy where
# glibc preloads from in secure mode); elsewhere it skips with the reason.
set -euo pipefail
lib=$1 helper=$2
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
  echo "skipped: needs root and setpriv to build a setuid test"; exit 77
fi
# glibc preloads in secure mode only from its standard directories, and
# only libraries with the set-user-ID bit.
sysdir=$(dirname "$(gcc -print-file-name=libc.so.6)")
[ -d "$sysdir" ] && [ "$sysdir" != . ] || sysdir=/lib/x86_64-linux-gnu
name=libzapshim-securetest-$$.so
work=$(mktemp -d /var/tmp/zapshim-secure.XXXXXX)
trap 'rm -f "$sysdir/$name"; rm -rf "$work"' EXIT
chmod 755 "$work"
install -m 4755 "$lib" "$sysdir/$name"
install -m 4755 -o root "$helper" "$work/helper"
log=$work/log

# 1. setuid, run by nobody: secure execution. The shim loads and zaps; the log path is ignored.
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env LD_PRELOAD="$name" ZAPSHIM_LOG="$log" "$work/helper" || rc=$?
[ "$rc" = 0 ] || { echo "secure helper exited $rc (2 not secure, 3 shim not loaded, 4 no zap)"; exit 1; }
[ ! -e "$log" ] || { echo "ZAPSHIM_LOG was honoured in a setuid process: $(cat "$log")"; exit 1; }

# 2. The same library and variable in a normal process write the log (the check above can fail).
LD_PRELOAD="$lib" ZAPSHIM_LOG="$log" sh -c 'exit 0'
[ -e "$log" ] || { echo "control: ZAPSHIM_LOG not honoured in a normal process"; exit 1; }
echo "secure: 2 passed, 0 failed"
