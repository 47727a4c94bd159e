#!/usr/bin/env python3
"""qemu_guest.py - a real Linux guest (Debian's cloud kernel, a busybox
initramfs and a workload that keeps dirtying a checkable pattern: built by
guest/image.py) under QEMU, with and without libzapshim.so, for one guest
RAM backend:

  --mode postcopy  live migration between two QEMUs on 127.0.0.1, switched
                   to postcopy while the workload runs: the destination must
                   take at least --min-requests page requests (the source's
                   query-migrate ram.postcopy-requests), and the guest's own
                   full check of its pattern, asked over the destination's
                   serial console after the migration, must pass.
  --mode balloon   virtio-balloon: the guest first touches most of its
                   memory and gives it back; the balloon is inflated by
                   --inflate-mb, the host memory given back is measured on
                   the RAM backend (memfd st_blocks, anon smaps Rss, smaps
                   Shared/Private_Hugetlb); then deflated, the guest reuses
                   the memory and its full check must pass.  Where QEMU frees
                   the memory without the shim, it must free it with the shim
                   too (BACKENDS[..]["balloon_min_mb"]), and the host must
                   keep no more than --slack-mb more with the shim.
  --mode reporting virtio-balloon free page reporting (free-page-reporting=on):
                   the guest touches --report-churn-mb and frees it; the guest
                   reports its free 2-4 MiB blocks and QEMU discards them: the
                   host memory given back must be at least --report-min-mb
                   on every backend (2 MiB blocks: hugetlbfs too); then the
                   guest reuses the memory and its full check must pass.

Each run is made under the shim and without it (--runs); figures of both
are printed as "RESULT ..." lines.  The shim's log is checked as in
qemu_postcopy.py (no failure, no warning, an exit summary, and what QEMU's
discards must show for the RAM's kind).

Accelerator: KVM if a guest boots under it within --kvm-probe seconds (the
verdict is cached in the cache directory), else TCG; printed.

Exit status: 0 pass, 1 fail, 77 skipped (a resource is missing outside CI;
with CI=true it fails).  Only the Python 3 standard library is used.
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest"))
import image  # noqa: E402  (test/real/guest/image.py)
from qemu_common import (QMP, Fail, Skip, connect_unix, free_hugepages,  # noqa: E402
                         hugetlbfs_dir, need, wait_migrate)

MIB = 1024 * 1024
QBOOT = "/usr/share/qemu/qboot.rom"  # minimal firmware (qemu-system-data)

# The guest RAM backends.  balloon_min_mb: MiB the balloon must give back to
# the host (inflating 128 MiB of a 256 MiB guest), with and without the shim.
# QEMU 7.2 discards a ballooned 4 KiB page itself (ram_block_discard_range:
# fallocate(PUNCH_HOLE) when the RAM has a descriptor, then MADV_DONTNEED when
# the RAM's page size is 4 KiB - the shim turns that DONTNEED into MADV_REMOVE
# on shared memfd RAM); on RAM of 2 MiB pages it discards only a host page
# whose 512 sub-pages all arrive in one virtqueue element, and an element
# holds at most 256: inflating frees nothing there, with or without the shim
# (measured; the test asserts the guest stays healthy and prints the figure).
# Free page reporting (--mode reporting) hands QEMU 2 MiB blocks: those are
# discarded on every backend.
BACKENDS = {
    "memfd": {
        "object": "memory-backend-memfd,id=ram0,size={size},share=on",
        "kind": "shmem-shared", "expect": "translated", "balloon_min_mb": 96,
    },
    "anon": {
        "object": "memory-backend-ram,id=ram0,size={size}",
        "kind": "anon-private", "expect": "seen", "balloon_min_mb": 96,
    },
    "hugetlb-shared": {
        "object": "memory-backend-file,id=ram0,size={size},mem-path={hugedir},share=on",
        "kind": "hugetlb-shared", "expect": "active", "huge": True, "balloon_min_mb": 0,
    },
    "hugetlb-private": {
        "object": "memory-backend-file,id=ram0,size={size},mem-path={hugedir},share=off",
        "kind": "hugetlb-private", "expect": "active", "huge": True, "balloon_min_mb": 0,
    },
}


def log(msg):
    """Progress to stdout, flushed (ctest shows it on failure)."""
    print("qemu_guest: " + msg, flush=True)


# ----------------------------------------------------------------------
# The serial console (QMP: qemu_common.py)
# ----------------------------------------------------------------------

class Console:
    """The guest's serial console (a QEMU chardev socket): lines read by a
    thread into self.lines (and a file); send() writes to the guest."""

    def __init__(self, path, out_path, timeout):
        """Connect to the chardev socket at path; copy lines to out_path."""
        self.sock = connect_unix(path, timeout, "serial console")
        self.lines = []
        self.cv = threading.Condition()
        self.out = open(out_path, "w")
        self.closed = False
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        """Read lines until the socket closes."""
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace").rstrip("\r")
                self.out.write(text + "\n")
                self.out.flush()
                with self.cv:
                    self.lines.append(text)
                    self.cv.notify_all()
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def wait(self, regex, timeout, start=0, what=None):
        """Return (index, match) of the first line at or after start that
        matches regex; Fail after timeout seconds or on a BAD line."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    if re.search(r"^zg: (BAD|verdict BAD|churn \d+ (BAD|failed))|Kernel panic|Out of memory", line):
                        raise Fail("guest reports: " + line)
                    m = rx.search(line)
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    tail = "\n  ".join(self.lines[-8:])
                    raise Fail("%s: no console line /%s/ within %ds; last lines:\n  %s"
                               % (what or "guest", regex, timeout, tail))
                self.cv.wait(min(left, 0.5))

    def send(self, text):
        """Write text to the guest's console."""
        self.sock.sendall(text.encode())

    def close(self):
        """Close the socket and the copy."""
        try:
            self.sock.close()
        except OSError:
            pass
        self.out.close()


# ----------------------------------------------------------------------
# QEMU processes
# ----------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies (a
    timeout that kills the test leaves no QEMU behind)."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Qemu:
    """One QEMU process with its QMP, console, shim log and output file."""

    def __init__(self, a, run_dir, role, accel, shim, append, incoming=False, timeout=30,
                 wrapper=""):
        """Start QEMU (under the shim when shim is true) and connect."""
        self.role = role
        base = os.path.join(run_dir, role)
        qmp_path, con_path = base + ".qmp", base + ".con"
        self.shim_log = base + ".zapshim.log"
        for p in (qmp_path, con_path, self.shim_log):
            if os.path.exists(p):
                os.unlink(p)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if shim:
            env["LD_PRELOAD"] = a.shim
            env["ZAPSHIM_LOG"] = self.shim_log
            env["ZAPSHIM_STATS"] = "1"
        size = a.size_mb * MIB
        obj = BACKENDS[a.backend]["object"].format(size=size, hugedir=a.hugedir)
        argv = [a.qemu, "-nodefaults", "-display", "none", "-no-user-config",
                "-machine", "pc,memory-backend=ram0", "-accel", accel,
                "-m", "%dM" % a.size_mb, "-object", obj,
                "-kernel", a.kernel, "-initrd", a.initrd, "-append", append,
                "-chardev", "socket,id=con0,path=%s,server=on,wait=off" % con_path,
                "-serial", "chardev:con0", "-monitor", "none",
                "-device", "virtio-balloon-pci,id=balloon0" +
                (",free-page-reporting=on" if a.mode == "reporting" else ""),
                "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
                "-name", "zapshim-guest-" + role]
        if os.path.exists(QBOOT):
            argv += ["-bios", QBOOT]
        if incoming:
            argv += ["-incoming", "defer"]  # runs as soon as postcopy starts
        self.wrapped = bool(wrapper)
        if wrapper:
            argv = wrapper.split() + argv
        self.out_path = base + ".qemu.out"
        out = open(self.out_path, "w")
        log("%s%s: %s" % (role, " (shim)" if shim else "", " ".join(argv)))
        self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        out.close()
        self.qmp = self.con = None
        try:
            self.qmp = QMP(qmp_path, timeout, self.proc)
            self.con = Console(con_path, base + ".console", timeout)
        except Fail:
            self.kill()
            with open(self.out_path) as f:
                raise Fail("%s QEMU did not start: %s" % (role, f.read().strip()[-2000:]))

    def pid(self):
        """QEMU's pid (the wrapper's first child if a wrapper was used)."""
        if not self.wrapped:
            return self.proc.pid
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            return int(f.read().split()[0])

    def quit(self):
        """Ask QEMU to quit; wait for it (kill after 30 s)."""
        try:
            self.qmp.cmd("quit")
        except (Fail, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self):
        """Kill QEMU if it still runs; close the connections."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for c in (self.qmp, self.con):
            if c:
                c.close()


# ----------------------------------------------------------------------
# Host memory of the guest RAM
# ----------------------------------------------------------------------

def ram_vma(pid, size):
    """The smaps entry (dict of its kB fields, plus "name") of QEMU's guest
    RAM mapping: the mapping of exactly size bytes with the most memory."""
    best = None
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"len": int(m.group(2), 16) - int(m.group(1), 16),
                       "name": m.group(3), "start": m.group(1)}
                if cur["len"] == size:
                    if best is None:
                        best = cur
                    else:
                        cur["alt"] = True
                continue
            if cur is not None and cur["len"] == size:
                k = re.match(r"^(\w+):\s+(\d+) kB", line)
                if k:
                    cur[k.group(1)] = int(k.group(2))
                    if cur is not best and cur.get("Rss", 0) > best.get("Rss", 0):
                        best = cur
    if best is None:
        raise Fail("no %d MiB mapping in QEMU's maps (pid %d)" % (size // MIB, pid))
    return best


def memfd_blocks(pid, name):
    """st_blocks * 512 of QEMU's descriptor of the file named name, or None."""
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == name:
                return os.stat(os.path.join(fd_dir, fd)).st_blocks * 512
        except OSError:
            continue
    return None


def held(a, q):
    """Host memory (bytes) the guest RAM holds, by the measure that fits
    the backend, with the other figures for the report: (bytes, dict)."""
    size = a.size_mb * MIB
    vma = ram_vma(q.pid(), size)
    figs = {"rss_kb": vma.get("Rss", 0), "anon_huge_kb": vma.get("AnonHugePages", 0),
            "shmem_kb": vma.get("Shared_Dirty", 0) + vma.get("Shared_Clean", 0)}
    if a.backend == "memfd":
        b = memfd_blocks(q.pid(), vma["name"])
        if b is None:
            raise Fail("QEMU has no descriptor of its RAM file %s" % vma["name"])
        figs["memfd_blocks_mb"] = b / MIB
        return b, figs
    if a.backend == "anon":
        return vma.get("Rss", 0) * 1024, figs
    # The huge pages mapped by this QEMU (the pool's free count moves with
    # whatever else runs on the machine; it is kept as a figure only).
    figs["hugetlb_kb"] = vma.get("Shared_Hugetlb", 0) + vma.get("Private_Hugetlb", 0)
    figs["hugepages_free"] = free_hugepages()
    return figs["hugetlb_kb"] * 1024, figs


# ----------------------------------------------------------------------
# Accelerator
# ----------------------------------------------------------------------

def pick_accel(a):
    """Return "kvm" or "tcg".  KVM only if the guest reaches its /init under
    it within a.kvm_probe seconds (a PVM /dev/kvm does not, in practice); the
    verdict is cached per kernel in the cache directory."""
    if a.accel != "auto":
        return a.accel
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log("accelerator: TCG (/dev/kvm is not usable)")
        return "tcg"
    key = "%s %s" % (os.uname().release, a.kernel_version)
    cache = os.path.join(a.cache, "accel")
    import fcntl
    with open(os.path.join(a.cache, ".accel.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            with open(cache) as f:
                k, v = f.read().split("\n")[:2]
            if k == key and v in ("kvm", "tcg"):
                log("accelerator: %s (cached verdict of the KVM probe, %s)" % (v.upper(), cache))
                return v
        except (OSError, ValueError):
            pass
        run_dir = os.path.join(a.workdir, "kvm-probe")
        os.makedirs(run_dir, exist_ok=True)
        saved, a.backend = a.backend, "anon"
        t0 = time.monotonic()
        verdict = "tcg"
        q = None
        try:
            q = Qemu(a, run_dir, "probe", "kvm", False, "console=ttyS0 quiet zg_work=1")
            q.con.wait(r"^zg: init up", a.kvm_probe, what="KVM probe")
            verdict = "kvm"
        except Fail as e:
            log("KVM probe: %s" % str(e).split("\n")[0])
        finally:
            a.backend = saved
            if q:
                q.kill()
        log("accelerator: %s (the guest %s under KVM within %ds; probe took %.1f s)"
            % (verdict.upper(), "booted" if verdict == "kvm" else "did not boot",
               a.kvm_probe, time.monotonic() - t0))
        with open(cache, "w") as f:
            f.write("%s\n%s\n" % (key, verdict))
        return verdict


# ----------------------------------------------------------------------
# Shim log
# ----------------------------------------------------------------------

def check_shim_log(path, be, role, want_translated):
    """Check one QEMU's shim log: no failure or warning, an exit summary,
    and (want_translated) translated zaps of the RAM's kind.  Return
    (number of translated zaps of that kind, the stats lines)."""
    with open(path) as f:
        lines = f.read().splitlines()
    bad = [l for l in lines if re.search(r"^zapshim\[\d+\]: (warning|madvise .* failed)", l)]
    if bad:
        raise Fail("%s shim log has failures:\n  %s" % (role, "\n  ".join(bad[:10])))
    if not any(re.match(r"zapshim\[\d+\]: stats", l) for l in lines):
        raise Fail("%s shim log has no exit summary: was the shim loaded?" % role)
    kind = be["kind"]
    translated = sum(1 for l in lines if ("kind=" + kind) in l and " -> " in l
                     and l.split(": ", 1)[-1].startswith("madvise "))
    stats = [l for l in lines if re.search(r"stats %s\b" % re.escape(kind), l)]
    if want_translated and not translated:
        raise Fail("%s shim log has no translated zap of %s" % (role, kind))
    return translated, stats


# ----------------------------------------------------------------------
# The runs
# ----------------------------------------------------------------------

def append_line(a, work_mb, churn_mb):
    """The guest's kernel command line."""
    return ("console=ttyS0 quiet init_on_alloc=0 panic=-1 zg_work=%d zg_churn=%d"
            % (work_mb, churn_mb))


def guest_check(q, start, timeout=60):
    """Ask the guest for its full pattern check; return the verdict line."""
    q.con.send("check\n")
    _, m = q.con.wait(r"^zg: verdict (ok|BAD).*", timeout, start, what=q.role + " guest check")
    return m.group(0)


def run_postcopy(a, shim, accel, run_dir):
    """One postcopy migration; return its figures.  Raises Fail."""
    be = BACKENDS[a.backend]
    res = {}
    qs = []
    try:
        t0 = time.monotonic()
        src = Qemu(a, run_dir, "src", accel, shim, append_line(a, a.work_mb, 0))
        qs.append(src)
        dst = Qemu(a, run_dir, "dst", accel, shim, append_line(a, a.work_mb, 0), incoming=True)
        qs.append(dst)
        src.con.wait(r"^zg: ready", a.boot_timeout, what="source guest boot")
        i, _ = src.con.wait(r"^zg: pass \d+ ok", 30, what="source workload")
        res["boot_s"] = round(time.monotonic() - t0, 1)
        caps = [{"capability": c, "state": True} for c in ["postcopy-ram"] + a.caps]
        src.qmp.cmd("migrate-set-capabilities", capabilities=caps)
        dst.qmp.cmd("migrate-set-capabilities", capabilities=caps)
        src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": a.precopy_bw * MIB,
                                                 "max-postcopy-bandwidth": a.postcopy_bw * MIB})
        dst.qmp.cmd("migrate-incoming", uri="tcp:127.0.0.1:0")
        addr = dst.qmp.cmd("query-migrate").get("socket-address", [])
        port = next((int(s["port"]) for s in addr if s.get("type") == "inet"), None)
        if not port:
            raise Fail("destination did not report its listening port: %r" % addr)
        t1 = time.monotonic()
        src.qmp.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        wait_migrate(src.qmp, ("active",), 30, "source")
        time.sleep(a.precopy_s)
        pre = src.qmp.cmd("query-migrate").get("ram", {})
        src.qmp.cmd("migrate-start-postcopy")
        wait_migrate(src.qmp, ("postcopy-active", "completed"), 60, "source")
        res["switch_s"] = round(time.monotonic() - t1, 2)
        res["precopy_sent_mb"] = round(pre.get("transferred", 0) / MIB, 1)
        sinfo = wait_migrate(src.qmp, ("completed",), a.migrate_timeout, "source")
        wait_migrate(dst.qmp, ("completed",), 60, "destination")
        res["migrate_s"] = round(time.monotonic() - t1, 2)
        ram = sinfo.get("ram", {})
        res["postcopy_requests"] = ram.get("postcopy-requests", 0)
        res["downtime_ms"] = sinfo.get("downtime")
        src_last = [int(m.group(1)) for m in (re.match(r"^zg: pass (\d+)", l)
                                              for l in src.con.lines) if m]
        # The guest goes on on the destination: new passes, then its check.
        j, m = dst.con.wait(r"^zg: pass (\d+) ok", 60, what="destination workload")
        res["dst_first_pass"] = int(m.group(1))
        res["src_last_pass"] = src_last[-1] if src_last else 0
        res["verdict"] = guest_check(dst, j)
        st = dst.qmp.cmd("query-status").get("status")
        if st != "running":
            raise Fail("destination guest is %s after the migration" % st)
        log("%s: switched to postcopy after %.2f s (%.1f MiB sent in precopy), completed in "
            "%.2f s, %d page requests, downtime %s ms; guest pass %d on the source, %d on the "
            "destination; %s" % ("shim" if shim else "no shim", res["switch_s"],
                                 res["precopy_sent_mb"], res["migrate_s"],
                                 res["postcopy_requests"], res["downtime_ms"],
                                 res["src_last_pass"], res["dst_first_pass"], res["verdict"]))
        for q in qs:
            q.quit()
        qs = []
    finally:
        for q in qs:
            q.kill()
    if res["postcopy_requests"] < a.min_requests:
        raise Fail("%s: only %d postcopy page requests (want >= %d)"
                   % ("shim" if shim else "no shim", res["postcopy_requests"], a.min_requests))
    if shim:
        for role in ("src", "dst"):
            n, stats = check_shim_log(os.path.join(run_dir, role + ".zapshim.log"), be, role,
                                      role == "dst" and be["expect"] == "translated")
            res[role + "_translated"] = n
            for l in stats:
                log("  %s %s" % (role, l))
    return res


def wait_balloon(q, target, timeout, what):
    """Wait until the balloon's actual size is within 1 MiB of target bytes;
    return the seconds it took."""
    t0 = time.monotonic()
    while True:
        actual = q.qmp.cmd("query-balloon").get("actual", 0)
        if abs(actual - target) <= MIB:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise Fail("%s: balloon at %d MiB, not %d MiB after %ds"
                       % (what, actual // MIB, target // MIB, timeout))
        time.sleep(0.1)


def settle(a, q, secs=0.6):
    """Measure held memory until two readings 0.2 s apart agree (QEMU
    discards in its main loop); return the last (bytes, figures)."""
    last = held(a, q)
    deadline = time.monotonic() + secs * 5
    while time.monotonic() < deadline:
        time.sleep(0.2)
        cur = held(a, q)
        if cur[0] == last[0]:
            return cur
        last = cur
    return last


def boot_guest(a, run_dir, accel, shim, work_mb, churn_mb, res):
    """Start the one guest of a balloon or reporting run and wait until its
    workload has passed once; res["boot_s"] gets the time.  Returns the
    Qemu.  Raises Fail."""
    t0 = time.monotonic()
    q = Qemu(a, run_dir, "guest", accel, shim, append_line(a, work_mb, churn_mb),
             wrapper=a.wrapper)
    q.con.wait(r"^zg: ready", a.boot_timeout, what="guest boot")
    q.con.wait(r"^zg: pass \d+ ok", 30, what="workload")
    res["boot_s"] = round(time.monotonic() - t0, 1)
    return q


def reuse_and_check(a, q, res, after):
    """The guest takes the memory back: touch a.reuse_mb MiB again, then its
    full check; the guest must still be running.  Sets res["held_reused_mb"]
    and res["verdict"]; returns the host figures.  Raises Fail."""
    start = len(q.con.lines)
    q.con.send("churn %d\n" % a.reuse_mb)
    q.con.wait(r"^zg: churn %d ok" % a.reuse_mb, 60, start, what="reuse after " + after)
    b, f = settle(a, q)
    res["held_reused_mb"] = round(b / MIB, 1)
    res["verdict"] = guest_check(q, start)
    st = q.qmp.cmd("query-status").get("status")
    if st != "running":
        raise Fail("guest is %s after %s" % (st, after))
    return f


def guest_shim_log(run_dir, be, res):
    """Check the one guest's shim log (check_shim_log); res["translated"]
    gets the count, its statistics lines are logged.  Raises Fail."""
    n, stats = check_shim_log(os.path.join(run_dir, "guest.zapshim.log"), be, "guest",
                              be["expect"] == "translated")
    res["translated"] = n
    for l in stats:
        log("  " + l)


def run_balloon(a, shim, accel, run_dir):
    """Inflate, measure, deflate, reuse; return the figures.  Raises Fail."""
    be = BACKENDS[a.backend]
    size = a.size_mb * MIB
    res = {}
    q = None
    try:
        q = boot_guest(a, run_dir, accel, shim, a.balloon_work_mb, a.churn_mb, res)
        b0, f0 = settle(a, q)
        target = size - a.inflate_mb * MIB
        q.qmp.cmd("balloon", value=target)
        res["inflate_s"] = round(wait_balloon(q, target, 60, "inflate"), 2)
        b1, f1 = settle(a, q)
        i, _ = q.con.wait(r"^zg: pass \d+ ok", 30, len(q.con.lines), what="workload (inflated)")
        res["held_before_mb"] = round(b0 / MIB, 1)
        res["held_inflated_mb"] = round(b1 / MIB, 1)
        res["freed_mb"] = round((b0 - b1) / MIB, 1)
        res["figures_before"], res["figures_inflated"] = f0, f1
        q.qmp.cmd("balloon", value=size)
        res["deflate_s"] = round(wait_balloon(q, size, 60, "deflate"), 2)
        f2 = reuse_and_check(a, q, res, "deflate")
        log("%s: inflated by %d MiB in %.2f s: host memory of the RAM %.1f -> %.1f MiB "
            "(freed %.1f MiB); deflated in %.2f s, reused %d MiB: %.1f MiB; %s"
            % ("shim" if shim else "no shim", a.inflate_mb, res["inflate_s"],
               res["held_before_mb"], res["held_inflated_mb"], res["freed_mb"],
               res["deflate_s"], a.reuse_mb, res["held_reused_mb"], res["verdict"]))
        log("  figures before %s, inflated %s, reused %s" % (f0, f1, f2))
        q.quit()
        q = None
    finally:
        if q:
            q.kill()
    if res["freed_mb"] < be["balloon_min_mb"]:
        raise Fail("%s: the balloon gave back %.1f MiB of host memory (want >= %d)"
                   % ("shim" if shim else "no shim", res["freed_mb"], be["balloon_min_mb"]))
    if shim:
        guest_shim_log(run_dir, be, res)
    return res


def run_reporting(a, shim, accel, run_dir):
    """Touch and free memory in the guest, wait for free page reporting to
    give it back, reuse it; return the figures.  Raises Fail."""
    be = BACKENDS[a.backend]
    res = {}
    q = None
    try:
        q = boot_guest(a, run_dir, accel, shim, a.balloon_work_mb, 0, res)
        b0, f0 = settle(a, q, 1.0)
        start = len(q.con.lines)
        q.con.send("churn %d\n" % a.report_churn_mb)
        q.con.wait(r"^zg: churn %d ok" % a.report_churn_mb, 60, start, what="churn")
        b1, f1 = held(a, q)
        # The guest reports after 2 s; wait until the figure stops falling.
        t1 = time.monotonic()
        low, low_t = b1, t1
        while time.monotonic() - t1 < a.report_wait:
            time.sleep(0.25)
            cur, f2 = held(a, q)
            if cur < low:
                low, low_t = cur, time.monotonic()
            elif low < b1 and time.monotonic() - low_t > 3:
                break
        b2, f2 = held(a, q)
        res["held_idle_mb"] = round(b0 / MIB, 1)
        res["held_after_churn_mb"] = round(b1 / MIB, 1)
        res["held_reported_mb"] = round(b2 / MIB, 1)
        res["freed_mb"] = round((b1 - b2) / MIB, 1)
        res["report_s"] = round(low_t - t1, 1)
        f3 = reuse_and_check(a, q, res, "free page reporting")
        log("%s: host memory of the RAM %.1f MiB idle, %.1f MiB after the guest touched and "
            "freed %d MiB, %.1f MiB once reported (freed %.1f MiB in %.1f s); reused %d MiB: "
            "%.1f MiB; %s" % ("shim" if shim else "no shim", res["held_idle_mb"],
                              res["held_after_churn_mb"], a.report_churn_mb, res["held_reported_mb"],
                              res["freed_mb"], res["report_s"], a.reuse_mb,
                              res["held_reused_mb"], res["verdict"]))
        log("  figures idle %s, churned %s, reported %s, reused %s" % (f0, f1, f2, f3))
        q.quit()
        q = None
    finally:
        if q:
            q.kill()
    if res["freed_mb"] < a.report_min_mb:
        raise Fail("%s: free page reporting gave back %.1f MiB of host memory (want >= %d)"
                   % ("shim" if shim else "no shim", res["freed_mb"], a.report_min_mb))
    if shim:
        guest_shim_log(run_dir, be, res)
    return res


def run(a):
    """The whole test; raises Fail or Skip."""
    be = BACKENDS[a.backend]
    a.hugedir = None
    need(os.access(a.qemu, os.X_OK), "QEMU (%s): run tools/install-real-deps.sh" % a.qemu)
    need(os.access(a.shim, os.R_OK), "the shim " + a.shim)
    os.makedirs(a.workdir, exist_ok=True)
    try:
        a.kernel, a.initrd, a.kernel_version = image.build(a.cache, log)
    except image.Missing as e:
        need(False, "the guest image: %s" % e)
    if be.get("huge"):
        a.hugedir = hugetlbfs_dir()
        need(a.hugedir is not None, "a hugetlbfs mount for 2 MiB pages")
        pages = (2 if a.mode == "postcopy" else 1) * a.size_mb // 2
        need(free_hugepages() >= pages,
             "%d free 2 MiB huge pages (have %d)" % (pages, free_hugepages()))
    accel = pick_accel(a)
    log("guest: kernel %s, %d MiB RAM (%s), accelerator %s" %
        (a.kernel_version, a.size_mb, a.backend, accel.upper()))
    results = {}
    for name in a.runs.split(","):
        shim = name == "shim"
        run_dir = os.path.join(a.workdir, "%s-%s" % (a.mode, name))
        os.makedirs(run_dir, exist_ok=True)
        t0 = time.monotonic()
        if a.mode == "postcopy":
            r = run_postcopy(a, shim, accel, run_dir)
        elif a.mode == "balloon":
            r = run_balloon(a, shim, accel, run_dir)
        else:
            r = run_reporting(a, shim, accel, run_dir)
        r["wall_s"] = round(time.monotonic() - t0, 1)
        r["accel"] = accel
        results[name] = r
        print("RESULT %s %s %s %s" % (a.mode, a.backend, name, json.dumps(r, sort_keys=True)),
              flush=True)
    if a.mode != "postcopy" and "shim" in results and "noshim" in results:
        # No regression: the host keeps no more of the guest's RAM with the
        # shim than without it (the end state; how much was populated
        # before varies by a few 2 MiB THP or huge pages between boots).
        key = "held_inflated_mb" if a.mode == "balloon" else "held_reported_mb"
        s, n = results["shim"], results["noshim"]
        log("%s on %s: QEMU alone gives back %.1f MiB (keeps %.1f), with the shim %.1f MiB "
            "(keeps %.1f)" % (a.mode, a.backend, n["freed_mb"], n[key], s["freed_mb"], s[key]))
        if s[key] > n[key] + a.slack_mb:
            raise Fail("the host keeps more of the guest's RAM with the shim than without it "
                       "(%.1f > %.1f MiB)" % (s[key], n[key]))


def main():
    """Parse arguments, run under a deadline, map the outcome to a status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or
                   "/usr/bin/qemu-system-x86_64")
    p.add_argument("--shim", required=True, help="path of libzapshim.so")
    p.add_argument("--mode", required=True, choices=("postcopy", "balloon", "reporting"))
    p.add_argument("--backend", required=True, choices=sorted(BACKENDS))
    p.add_argument("--workdir", required=True)
    p.add_argument("--cache", required=True, help="where the guest image is built and kept")
    p.add_argument("--runs", default="shim,noshim", help="shim,noshim | shim | noshim")
    p.add_argument("--size-mb", type=int, default=256, help="guest RAM")
    p.add_argument("--work-mb", type=int, default=96, help="postcopy: memory the guest dirties")
    p.add_argument("--balloon-work-mb", type=int, default=32, help="balloon: the same")
    p.add_argument("--churn-mb", type=int, default=160,
                   help="balloon: memory the guest touches and frees at boot")
    p.add_argument("--inflate-mb", type=int, default=128)
    p.add_argument("--report-churn-mb", type=int, default=128,
                   help="reporting: memory the guest touches and frees")
    p.add_argument("--report-min-mb", type=int, default=64,
                   help="reporting: MiB the host must get back")
    p.add_argument("--report-wait", type=int, default=20,
                   help="reporting: seconds to wait for the memory to come back")
    p.add_argument("--reuse-mb", type=int, default=128, help="touched again after deflating")
    p.add_argument("--min-requests", type=int, default=None,
                   help="postcopy page requests the destination must make")
    p.add_argument("--caps", default="", help="more migration capabilities (a,b)")
    p.add_argument("--precopy-bw", type=int, default=32, help="MiB/s before postcopy")
    p.add_argument("--postcopy-bw", type=int, default=64, help="MiB/s in postcopy")
    p.add_argument("--precopy-s", type=float, default=0.5, help="precopy time before the switch")
    p.add_argument("--slack-mb", type=float, default=16,
                   help="no-regression margin between the shim and no-shim runs")
    p.add_argument("--wrapper", default="",
                   help="balloon, reporting: command prefix for QEMU (e.g. strace -f -o FILE)")
    p.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    p.add_argument("--kvm-probe", type=int, default=15, help="seconds the KVM probe may take")
    p.add_argument("--boot-timeout", type=int, default=60)
    p.add_argument("--migrate-timeout", type=int, default=90)
    p.add_argument("--deadline", type=int, default=170, help="seconds for the whole test")
    a = p.parse_args()
    if a.min_requests is None:
        a.min_requests = 10 if BACKENDS[a.backend].get("huge") else 20
    a.caps = [c for c in a.caps.split(",") if c]
    a.workdir = os.path.abspath(a.workdir)
    a.cache = os.path.abspath(a.cache)

    def expire(*_):
        raise Fail("the test took more than %d s" % a.deadline)
    signal.signal(signal.SIGALRM, expire)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.alarm(a.deadline)
    t0 = time.monotonic()
    try:
        run(a)
    except Skip as e:
        print("SKIP: " + str(e), flush=True)
        return 77
    except Fail as e:
        print("FAIL: " + str(e), flush=True)
        return 1
    finally:
        signal.alarm(0)
    print("PASS (%.1f s)" % (time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
