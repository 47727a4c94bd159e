#!/usr/bin/env bash
# A libvirt-managed QEMU guest under zapshim (issue 13), from the documented
# packaging/libvirt/domain-memfd.xml (name, kernel, library and accelerator
# substituted): memfd guest RAM mapped shared, a virtio-mem device whose
# memory QEMU discards at start, <qemu:env> LD_PRELOAD + ZAPSHIM_LOG=stderr +
# ZAPSHIM_STATS=1.  Steps, each bounded:
#   1. libvirt-daemon-system, libvirt-clients and qemu-system-x86 installed
#      (apt-get) if missing; libvirtd/virtlogd started (-d) if
#      `virsh -c qemu:///system uri` does not answer (no systemd);
#   2. /dev/kvm given to group kvm 0660 for QEMU's user, as Debian's udev rule
#      does (put back at exit); no usable /dev/kvm or a KVM start failing: TCG;
#   3. define + start the guest (the tiny multiboot kernel of
#      test/real/qemu_postcopy.py, which loops); wait until it runs;
#   4. zapshim --explain QEMU_PID says "zapshim is loaded in it (preload)"
#      and lists the memfd guest RAM as shmem-shared;
#   5. the domain log shows QEMU's MADV_DONTNEED of the virtio-mem memfd
#      translated ("kind=shmem-shared ... -> MADV_REMOVE ok"), and after
#      destroy the exit summary "stats shmem-shared seen=N translated=N";
#   6. undefine; stop the daemons it started; remove what it wrote.
# Cleanup runs on every exit path (trap).  Exit 77: skipped (not root, no
# QEMU, apt-get cannot install) outside CI; in CI (CI=true) that fails.
#   libvirt.sh SOURCE_DIR ZAPSHIM_CMD LIBZAPSHIM
set -uo pipefail
src=$1 cmd=$2 lib=$3
t0=$(date +%s%N)
elapsed() { local d=$((($(date +%s%N) - t0) / 100000000)); echo "$((d / 10)).$((d % 10))"; }
say() { echo "deploy_libvirt: [$(elapsed) s] $*"; }
fail() { say "FAIL: $*"; exit 1; }
skip() {
  if [ "${CI:-}" = true ]; then fail "missing (required in CI): $*"; fi
  say "SKIP: $*"
  exit 77
}
V="virsh -q -c qemu:///system"

[ "$(id -u)" = 0 ] || skip "not root (libvirt's system instance)"
name=zapshim-deploy-$$
tmp= started_pids=() kvm_restore= aa_added=0 defined=0
cleanup() {
  if ((defined)); then
    timeout 30 $V destroy "$name" >/dev/null 2>&1
    timeout 30 $V undefine "$name" >/dev/null 2>&1
  fi
  rm -f "/var/log/libvirt/qemu/$name.log"
  if ((aa_added)); then
    sed -i '/# zapshim-deploy-test BEGIN/,/# zapshim-deploy-test END/d' \
      /etc/apparmor.d/local/abstractions/libvirt-qemu
  fi
  for p in "${started_pids[@]}"; do # libvirtd first, then virtlogd
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if [ -n "$kvm_restore" ]; then
    read -r own grp mode <<<"$kvm_restore"
    chown "$own:$grp" /dev/kvm && chmod "$mode" /dev/kvm
  fi
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Packages and daemons.
missing=()
for p in libvirt-daemon-system libvirt-clients qemu-system-x86; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep '^installed$' >/dev/null ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  inst() { timeout 100 apt-get install -y -qq --no-install-recommends \
             -o DPkg::Lock::Timeout=30 "${missing[@]}" >"$1" 2>&1; }
  if ! inst /tmp/zapshim-deploy-apt.$$; then
    timeout 60 apt-get update -qq >/dev/null 2>&1
    inst /tmp/zapshim-deploy-apt.$$ ||
      { tail -5 /tmp/zapshim-deploy-apt.$$; rm -f /tmp/zapshim-deploy-apt.$$;
        skip "apt-get install ${missing[*]} failed"; }
  fi
  rm -f /tmp/zapshim-deploy-apt.$$
  say "installed ${missing[*]}"
fi
[ -x /usr/bin/qemu-system-x86_64 ] || skip "no /usr/bin/qemu-system-x86_64"
pidfile() { # pidfile PATH - the pid in it once written (5 s at most)
  for _ in $(seq 50); do [ -s "$1" ] && break; sleep 0.1; done
  cat "$1"
}
# The daemon answers `virsh uri` at once; `version` (and define) wait for
# QEMU's capabilities, probed again (4-12 s here) whenever /dev/kvm changed.
if ! timeout 10 $V uri >/dev/null 2>&1; then
  # No systemd (socket activation) here: start the daemons ourselves.
  if ! [ -S /run/libvirt/virtlogd-sock ]; then
    virtlogd -d || fail "virtlogd -d"
    started_pids=("$(pidfile /run/virtlogd.pid)")
  fi
  if ! [ -S /run/libvirt/libvirt-sock ]; then
    libvirtd -d || fail "libvirtd -d"
    started_pids=("$(pidfile /run/libvirtd.pid)" "${started_pids[@]}")
  fi
  for _ in $(seq 100); do timeout 5 $V uri >/dev/null 2>&1 && break; sleep 0.1; done
  timeout 10 $V uri >/dev/null 2>&1 || fail "virsh -c qemu:///system uri does not answer"
  say "started libvirtd/virtlogd (pids ${started_pids[*]})"
fi

# 2. The accelerator.
type=qemu
if [ -c /dev/kvm ]; then
  kvm_restore=$(stat -c '%U %G %a' /dev/kvm)
  if [ "$(stat -c '%G' /dev/kvm)" != kvm ] || (( (0$(stat -c '%a' /dev/kvm) & 060) != 060 )); then
    chgrp kvm /dev/kvm && chmod g+rw /dev/kvm || fail "cannot give /dev/kvm to group kvm"
    say "/dev/kvm was '$kvm_restore': root:kvm g+rw for the run (Debian's udev rule), put back at exit"
  else
    kvm_restore=
  fi
  type=kvm
fi
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] &&
   [ -d /etc/apparmor.d/local/abstractions ]; then
  aa=1
else
  aa=0
  say "AppArmor is not enabled here: packaging/libvirt/apparmor-libvirt-qemu.local not exercised"
fi

say "$(timeout 60 $V version | grep -i 'running hypervisor')"

# 3. The guest.  A directory QEMU's user (libvirt-qemu) can read, whatever
# the build tree's permissions: the kernel and a copy of the library.
tmp=$(mktemp -d /var/lib/libvirt/images/zapshim-deploy.XXXXXX) || fail "mktemp"
chmod 755 "$tmp"
cp "$lib" "$tmp/libzapshim.so.0" && chmod 644 "$tmp/libzapshim.so.0" || fail "copy the library"
python3 -c "
import sys; sys.path.insert(0, sys.argv[1]); import qemu_postcopy as q
open(sys.argv[2], 'wb').write(q.guest_image(64 * 1024 * 1024))" \
  "$src/test/real" "$tmp/guest.elf" || fail "cannot build the guest kernel"
chmod 644 "$tmp/guest.elf"
if ((aa)); then
  { echo "# zapshim-deploy-test BEGIN"; grep -v '^#' "$src/packaging/libvirt/apparmor-libvirt-qemu.local";
    echo "  $tmp/libzapshim.so* mr,"; echo "# zapshim-deploy-test END"; } \
    >>/etc/apparmor.d/local/abstractions/libvirt-qemu
  aa_added=1
  say "AppArmor enabled: apparmor-libvirt-qemu.local appended for the run"
fi
xml() { # xml TYPE - the documented domain, substituted
  sed -e "s|<domain type='kvm'|<domain type='$1'|" \
      -e "s|<name>zapshim-demo</name>|<name>$name</name>|" \
      -e "s|/var/lib/libvirt/images/zapshim-guest.elf|$tmp/guest.elf|" \
      -e "s|/usr/lib/x86_64-linux-gnu/libzapshim.so.0|$tmp/libzapshim.so.0|" \
      "$src/packaging/libvirt/domain-memfd.xml" |
    if [ -f /usr/share/qemu/qboot.rom ]; then cat; else grep -v qboot.rom; fi >"$tmp/domain.xml"
}
start() { # start TYPE - define and start; 0 if it runs
  xml "$1"
  timeout 30 $V define "$tmp/domain.xml" >/dev/null || fail "virsh define failed"
  defined=1
  timeout 60 $V start "$name" >"$tmp/start.out" 2>&1
}
if ! start "$type"; then
  [ "$type" = kvm ] || { cat "$tmp/start.out"; fail "virsh start failed"; }
  say "KVM start failed ($(head -2 "$tmp/start.out" | tr '\n' ' ')): TCG"
  timeout 30 $V undefine "$name" >/dev/null 2>&1
  type=qemu
  start qemu || { cat "$tmp/start.out"; fail "virsh start failed (TCG)"; }
fi
qpid=
for _ in $(seq 100); do
  if [ "$($V domstate "$name" 2>/dev/null)" = running ] && [ -s "/run/libvirt/qemu/$name.pid" ]; then
    qpid=$(cat "/run/libvirt/qemu/$name.pid")
    [ -r "/proc/$qpid/maps" ] && break
  fi
  qpid=
  sleep 0.1
done
[ -n "$qpid" ] || fail "the guest does not run"
say "guest $name running (domain type $type), QEMU pid $qpid, user $(ps -o user= -p "$qpid")"

# 4. Covered?
ex=$("$cmd" --explain "$qpid" 2>&1) || { echo "$ex"; fail "zapshim --explain $qpid"; }
echo "$ex" | sed -n 1,2p | sed 's/^/  | /'
echo "$ex" | grep 'memfd:memory-backend-memfd' | sed 's/^/  | /'
echo "$ex" | grep 'zapshim is loaded in it (preload)' >/dev/null ||
  fail "zapshim --explain: the preload is not loaded in QEMU"
n=$(echo "$ex" | grep -c 'rw-s shmem-shared .*memfd:memory-backend-memfd')
((n >= 2)) || fail "expected 2 shared memfd mappings (guest RAM, virtio-mem), saw $n"

# 5. The log: QEMU's discards seen and translated.
glog=/var/log/libvirt/qemu/$name.log
re='zapshim\[[0-9]+\]: madvise 0x[0-9a-f]+-0x[0-9a-f]+ MADV_DONTNEED kind=shmem-shared \(registry\) -> MADV_REMOVE ok'
for _ in $(seq 100); do grep -E "$re" "$glog" >/dev/null 2>&1 && break; sleep 0.1; done
grep -E "$re" "$glog" | head -2 | sed 's/^/  | /'
grep -E "$re" "$glog" >/dev/null || { grep zapshim "$glog"; fail "no translated discard in $glog"; }
grep -E 'zapshim\[[0-9]+\]: (warning|error)' "$glog" && fail "zapshim warned in QEMU"
cpu=$($V domstats "$name" --cpu-total 2>/dev/null | awk -F= '/cpu.time/{print $2}')
say "guest cpu.time ${cpu:-?} ns"
timeout 30 $V destroy "$name" >/dev/null || fail "virsh destroy failed"
for _ in $(seq 50); do grep 'zapshim\[[0-9]*\]: stats shmem-shared' "$glog" >/dev/null && break; sleep 0.1; done
st=$(grep "zapshim\[$qpid\]: stats shmem-shared" "$glog")
echo "$st" | sed 's/^/  | /'
echo "$st" | grep -E 'seen=[1-9][0-9]* translated=[1-9][0-9]* bytes_zapped=[1-9][0-9]* fallbacks=0 warnings=0' \
  >/dev/null || fail "no exit summary with translated shmem-shared discards"
timeout 30 $V undefine "$name" >/dev/null || fail "virsh undefine failed"
defined=0
say "1 passed"
