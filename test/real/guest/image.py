#!/usr/bin/env python3
"""image.py - build the real guest of test/real/qemu_guest.py from Debian
packages, at test time, into a cache directory (reused by later runs).

  kernel     vmlinuz of the package linux-image-cloud-amd64 depends on
             (apt-get download + dpkg -x; nothing is installed)
  initramfs  a gzip'd cpio (newc, written here) holding busybox from
             busybox-static, the virtio balloon modules of that same kernel
             with what they depend on (read from each module's .modinfo:
             the package has no modules.dep, depmod makes it at install),
             the workload (workload.c, built static with the host's gcc)
             and an /init that loads the modules and runs the workload.

Usage as a command: image.py CACHE_DIR  (prints the kernel and initramfs).
Only the Python 3 standard library is used.
"""

import fcntl
import glob
import gzip
import os
import re
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
META = "linux-image-cloud-amd64"
# The modules the guest loads (with what they depend on): the balloon on PCI.
WANT_MODULES = ["virtio_pci", "virtio_balloon"]


class Missing(Exception):
    """The image cannot be built here: the message says why."""


def _run(argv, cwd=None):
    """Run argv; return (status, combined output)."""
    try:
        p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return p.returncode, p.stdout.decode(errors="replace")


def _kernel_package():
    """The name of the kernel image package META depends on, or None."""
    st, out = _run(["apt-cache", "depends", META])
    if st != 0:
        return None
    m = re.search(r"Depends:\s*(linux-image-\S+)", out)
    return m.group(1) if m else None


def fetch_debs(debs, log):
    """Make sure debs/ holds the kernel image and busybox-static packages
    (apt-get download; apt-get update once if apt does not know them).
    Return the paths (kernel deb, busybox deb).  Raises Missing."""
    os.makedirs(debs, exist_ok=True)
    kernel = glob.glob(os.path.join(debs, "linux-image-*-cloud-amd64_*.deb"))
    busybox = glob.glob(os.path.join(debs, "busybox-static_*.deb"))
    if kernel and busybox:
        return sorted(kernel)[-1], sorted(busybox)[-1]
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise Missing("apt-get and dpkg are needed to fetch the guest's Debian packages")
    pkg = _kernel_package()
    if pkg is None:
        log("apt does not know %s: apt-get update" % META)
        st, out = _run(["apt-get", "update", "-qq"])
        if st != 0:
            raise Missing("apt-get update failed: " + out.strip()[-300:])
        pkg = _kernel_package()
        if pkg is None:
            raise Missing("no package %s in the apt sources" % META)
    log("downloading %s busybox-static into %s" % (pkg, debs))
    st, out = _run(["apt-get", "download", pkg, "busybox-static"], cwd=debs)
    kernel = glob.glob(os.path.join(debs, "linux-image-*-cloud-amd64_*.deb"))
    busybox = glob.glob(os.path.join(debs, "busybox-static_*.deb"))
    if st != 0 or not kernel or not busybox:
        raise Missing("apt-get download %s busybox-static failed: %s" % (pkg, out.strip()[-300:]))
    return sorted(kernel)[-1], sorted(busybox)[-1]


def _modinfo_depends(path):
    """The module names a .ko depends on (its .modinfo "depends=")."""
    with open(path, "rb") as f:
        data = f.read()
    m = re.search(rb"\x00depends=([^\x00]*)\x00", data)
    if not m or not m.group(1):
        return []
    return m.group(1).decode().split(",")


def module_order(root, names):
    """Return [(name, path)] of names and everything they depend on, each
    after its dependencies (the order to insmod them).  Raises Missing."""
    kos = {}
    for p in glob.glob(os.path.join(root, "lib/modules/*/kernel/**/*.ko"), recursive=True):
        kos[os.path.basename(p)[:-3].replace("-", "_")] = p
    order, seen = [], set()

    def visit(n):
        n = n.replace("-", "_")
        if n in seen:
            return
        seen.add(n)
        if n not in kos:
            raise Missing("module %s is not in the kernel package" % n)
        for d in _modinfo_depends(kos[n]):
            visit(d)
        order.append((n, kos[n]))

    for n in names:
        visit(n)
    return order


class Cpio:
    """A cpio archive in the "newc" format the kernel unpacks."""

    def __init__(self):
        """An empty archive."""
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        """Append one entry (header, name, data, each 4-aligned)."""
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
        self.ino += 1
        self.out += hdr.encode() + name.encode() + b"\x00"
        self.out += b"\x00" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\x00" * (-len(self.out) % 4)

    def dir(self, name):
        """Add a directory."""
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        """Add a regular file with these bytes."""
        self._entry(name, stat.S_IFREG | mode, data)

    def chardev(self, name, major, minor):
        """Add a character device node."""
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self):
        """Return the archive's bytes (with its trailer)."""
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


INIT = """#!/bin/busybox sh
export PATH=/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
for m in {modules}; do
  /bin/busybox insmod /lib/modules/$m.ko || echo "zg: insmod $m failed"
done
echo "zg: init up $(/bin/busybox cut -d' ' -f1 /proc/uptime)s kernel $(/bin/busybox uname -r)"
if [ -e /sys/bus/virtio/drivers/virtio_balloon ]; then echo "zg: balloon driver loaded"; fi
exec /zg-work ${{zg_work:-64}} ${{zg_churn:-0}}
"""


def build_workload(cache, log):
    """Build workload.c (static) into cache/zg-work if it is missing or
    older than its source; return its path.  Raises Missing."""
    src = os.path.join(HERE, "workload.c")
    out = os.path.join(cache, "zg-work")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise Missing("a C compiler (gcc) for the guest's workload")
    st, text = _run([cc, "-static", "-O2", "-Wall", "-o", out + ".tmp", src])
    if st != 0:
        raise Missing("cannot build the guest's static workload (libc.a?): " + text.strip()[-300:])
    os.replace(out + ".tmp", out)
    log("built the guest workload " + out)
    return out


def build(cache, log=lambda m: None):
    """Build (or reuse) the guest in cache; return (kernel path, initramfs
    path, kernel version).  Serialised between processes with a lock file.
    Raises Missing where it cannot be built."""
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        kdeb, bdeb = fetch_debs(os.path.join(cache, "debs"), log)
        root = os.path.join(cache, "root")
        done = os.path.join(cache, "root.done")
        want = os.path.basename(kdeb) + " " + os.path.basename(bdeb)
        if not os.path.exists(done) or open(done).read() != want:
            shutil.rmtree(root, ignore_errors=True)
            for deb in (kdeb, bdeb):
                st, out = _run(["dpkg", "-x", deb, root])
                if st != 0:
                    raise Missing("dpkg -x %s failed: %s" % (deb, out.strip()[-300:]))
            with open(done, "w") as f:
                f.write(want)
            log("extracted %s" % want)
        kernels = glob.glob(os.path.join(root, "boot/vmlinuz-*"))
        busybox = os.path.join(root, "bin/busybox")
        if not kernels or not os.path.exists(busybox):
            raise Missing("the packages hold no vmlinuz or no bin/busybox")
        kernel = kernels[0]
        version = os.path.basename(kernel)[len("vmlinuz-"):]
        work = build_workload(cache, log)
        initrd = os.path.join(cache, "initrd.gz")
        inputs = [kernel, busybox, work, os.path.abspath(__file__)]
        if (os.path.exists(initrd) and
                os.path.getmtime(initrd) >= max(os.path.getmtime(p) for p in inputs)):
            return kernel, initrd, version
        mods = module_order(root, WANT_MODULES)
        c = Cpio()
        for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
            c.dir(d)
        c.chardev("dev/console", 5, 1)
        c.chardev("dev/null", 1, 3)
        with open(busybox, "rb") as f:
            c.file("bin/busybox", f.read())
        with open(work, "rb") as f:
            c.file("zg-work", f.read())
        for n, p in mods:
            with open(p, "rb") as f:
                c.file("lib/modules/%s.ko" % n, f.read(), 0o644)
        c.file("init", INIT.format(modules=" ".join(n for n, _ in mods)).encode())
        with open(initrd + ".tmp", "wb") as f:
            f.write(gzip.compress(c.finish(), 6))
        os.replace(initrd + ".tmp", initrd)
        log("initramfs %s (%d KiB; modules %s)" % (initrd, os.path.getsize(initrd) // 1024,
                                                  " ".join(n for n, _ in mods)))
        return kernel, initrd, version


if __name__ == "__main__":
    try:
        print(*build(sys.argv[1], lambda m: print("image: " + m, flush=True)))
    except Missing as e:
        print("cannot build the guest: %s" % e)
        sys.exit(77)
