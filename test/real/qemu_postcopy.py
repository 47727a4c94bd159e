#!/usr/bin/env python3
"""qemu_postcopy.py - postcopy live migration of a tiny guest between two
QEMU processes on 127.0.0.1, both running under libzapshim.so.

The guest needs no OS image: guest RAM from 2 MiB up gets a pattern (every
page distinct) through `-device loader`, and a multiboot payload assembled
here from raw bytes loops forever writing a generation counter into one
page in 32, so pages keep being dirtied while the migration runs.  The
destination is started paused (-S) with -incoming defer; both sides get
postcopy-ram; the source runs `migrate`, then `migrate-start-postcopy`.
While the destination is in postcopy it dumps its RAM (pmemsave), which
faults missing pages in through its userfaultfd and makes it request them
from the source.  When both sides report `completed`, the RAM of both is
dumped and must be byte-equal (and equal to the dump made during postcopy).

Accelerator: KVM when /dev/kvm is usable, else TCG (--accel to force).
The shim's log of each side (ZAPSHIM_LOG, ZAPSHIM_STATS=1) is then checked
for what QEMU's discards of guest RAM must show for the RAM's kind (see
BACKENDS below), and for failures or warnings.

Exit status: 0 pass, 1 fail, 77 skipped (a resource is missing outside CI).
Only the Python 3 standard library is used.
"""

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

from qemu_common import QMP, Fail, Skip, free_hugepages, hugetlbfs_dir, need, wait_migrate

MIB = 1024 * 1024
HPAGE = 2 * MIB
REGION_START = 2 * MIB        # the guest writes its pattern from here up
GEN_ADDR = REGION_START - 4096  # the guest's generation counter lives here
DIRTY_STRIDE = 32 * 4096     # the guest dirties one page in 32
QBOOT = "/usr/share/qemu/qboot.rom"  # minimal firmware (qemu-system-data)

# What the destination's log must show for each RAM kind.  QEMU 7.2's
# ram_block_discard_range() punches the file itself (fallocate) when the RAM
# has a descriptor, and calls madvise only when the RAM's page size is the
# base page size: MADV_REMOVE for shared RAM without a file, else
# MADV_DONTNEED (checked with strace on this machine).  So:
#   memfd share=on  fallocate, then MADV_DONTNEED: the shim turns the
#                   DONTNEED into MADV_REMOVE ("translated": a log line
#                   "madvise ... kind=shmem-shared ... -> MADV_REMOVE ok").
#   anon            MADV_DONTNEED on anon-private is already right: the shim
#                   sees it and leaves it ("seen": stats anon-private seen>0;
#                   the count also holds QEMU's other DONTNEED calls on
#                   anonymous memory, about 10 on an idle destination).
#   hugetlb         fallocate only, no madvise on guest RAM: the shim has
#                   nothing to see; the test only checks the shim was active
#                   in both QEMUs (its exit summary is in the log) and that
#                   nothing failed ("active").
BACKENDS = {
    "memfd": {
        "object": "memory-backend-memfd,id=ram0,size={size},share=on",
        "kind": "shmem-shared",
        "expect": "translated",
    },
    "anon": {
        "object": "memory-backend-ram,id=ram0,size={size}",
        "kind": "anon-private",
        "expect": "seen",
    },
    "hugetlb-shared": {
        "object": "memory-backend-file,id=ram0,size={size},mem-path={hugedir},share=on",
        "kind": "hugetlb-shared",
        "expect": "active",
        "huge": True,
    },
    "hugetlb-private": {
        "object": "memory-backend-file,id=ram0,size={size},mem-path={hugedir},share=off",
        "kind": "hugetlb-private",
        "expect": "active",
        "huge": True,
    },
}


def log(msg):
    """Progress to stdout, flushed (ctest shows it on failure)."""
    print("qemu_postcopy: " + msg, flush=True)


# ----------------------------------------------------------------------
# The guest: a multiboot kernel (a.out kludge) of raw i386 machine code.
# ----------------------------------------------------------------------

def guest_layout(ram_size):
    """The end of the region the guest and the pattern use: the top 2 MiB
    of RAM are left to the firmware's tables."""
    return ram_size - HPAGE


def pattern_blob(ram_size):
    """The bytes loaded (-device loader) into guest RAM at REGION_START:
    every 4 KiB page holds its own page number and a hash of it, repeated,
    so every page is distinct and none is zero."""
    pages = (guest_layout(ram_size) - REGION_START) // 4096
    mask = (1 << 64) - 1
    return b"".join(struct.pack("<QQ", i, (i * 0x9E3779B97F4A7C15) & mask) * 256
                    for i in range(REGION_START // 4096, REGION_START // 4096 + pages))


def guest_image(ram_size):
    """Return the bytes of the multiboot payload for a guest with ram_size
    bytes of RAM.  It is loaded at 1 MiB and entered in 32-bit protected
    mode with flat segments and paging off (multiboot spec).  Its code:

            cli
            xor esi, esi
     outer: inc esi
            mov edi, REGION_START
     inner: mov [edi], esi              ; dirty one word of every 32nd page
            add edi, DIRTY_STRIDE
            cmp edi, END
            jb inner
            mov [GEN_ADDR], esi         ; passes completed
            jmp outer

    Only every 32nd page is written: under nested KVM each first touch of
    a 4 KiB page by the guest costs milliseconds (an EPT fault through two
    hypervisors); the rest of RAM holds the loaded pattern.
    """
    load = 0x100000
    end = guest_layout(ram_size)
    code = bytearray()
    code += b"\xfa"                                       # cli
    code += b"\x31\xf6"                                   # xor esi, esi
    outer = len(code)
    code += b"\x46"                                       # inc esi
    code += b"\xbf" + struct.pack("<I", REGION_START)     # mov edi, imm32
    inner = len(code)
    code += b"\x89\x37"                                   # mov [edi], esi
    code += b"\x81\xc7" + struct.pack("<I", DIRTY_STRIDE)  # add edi, imm32
    code += b"\x81\xff" + struct.pack("<I", end)          # cmp edi, imm32
    code += b"\x72" + struct.pack("<b", inner - (len(code) + 2))  # jb inner
    code += b"\x89\x35" + struct.pack("<I", GEN_ADDR)     # mov [disp32], esi
    code += b"\xeb" + struct.pack("<b", outer - (len(code) + 2))  # jmp outer
    magic, flags = 0x1BADB002, 0x00010000  # bit 16: the address fields are valid
    header_len = 32
    header = struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF,
                         load, load, 0, 0, load + header_len)
    return header + bytes(code)


# ----------------------------------------------------------------------
# The test
# ----------------------------------------------------------------------

def qemu_argv(a, role, qmp_path, kernel, blob, accel):
    """The command line of one QEMU (role "src" or "dst")."""
    size = a.size_mb * MIB
    be = BACKENDS[a.backend]
    obj = be["object"].format(size=size, hugedir=a.hugedir)
    argv = [a.qemu, "-nodefaults", "-display", "none", "-no-user-config",
            "-machine", "pc,memory-backend=ram0", "-accel", accel, "-cpu", "qemu64,-kvmclock",
            "-m", "%dM" % a.size_mb, "-object", obj,
            "-kernel", kernel, "-serial", "none", "-monitor", "none",
            "-device", "loader,file=%s,addr=0x%x,force-raw=on" % (blob, REGION_START),
            "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
            "-name", "zapshim-" + role]
    if os.path.exists(QBOOT):
        argv += ["-bios", QBOOT]  # boots in 0.2 s where SeaBIOS takes 4 s under nested KVM
    if role == "dst":
        argv += ["-S", "-incoming", "defer"]
    return argv


def start_qemu(a, role, kernel, blob, accel):
    """Start one QEMU under the shim; return (process, QMP, log path)."""
    qmp_path = os.path.join(a.workdir, role + ".qmp")
    shim_log = os.path.join(a.workdir, role + ".zapshim.log")
    for p in (qmp_path, shim_log):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ)
    env["LD_PRELOAD"] = a.shim
    env["ZAPSHIM_LOG"] = shim_log
    env["ZAPSHIM_STATS"] = "1"
    out = open(os.path.join(a.workdir, role + ".qemu.out"), "w")
    argv = qemu_argv(a, role, qmp_path, kernel, blob, accel)
    if role == "dst" and a.dst_wrapper:
        argv = a.dst_wrapper.split() + argv
    log("%s: %s" % (role, " ".join(argv)))
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        qmp = QMP(qmp_path, 30, io_timeout=120)
    except Fail:
        proc.kill()
        proc.wait()
        out.close()
        with open(out.name) as f:
            raise Fail("%s QEMU did not start: %s" % (role, f.read().strip()))
    return proc, qmp, shim_log


def read_gen(qmp, path):
    """The guest's generation counter, read from guest RAM with pmemsave."""
    qmp.cmd("pmemsave", val=GEN_ADDR, size=4, filename=path)
    with open(path, "rb") as f:
        return struct.unpack("<I", f.read(4))[0]


def compare_files(a_path, b_path, size):
    """Return None if the two dumps are byte-equal, else a description of
    the first difference and how many 4 KiB pages differ."""
    bad_pages, first = 0, None
    with open(a_path, "rb") as fa, open(b_path, "rb") as fb:
        off = 0
        while off < size:
            x, y = fa.read(4096), fb.read(4096)
            if len(x) != 4096 or len(y) != 4096:
                return "short dump at 0x%x" % off
            if x != y:
                bad_pages += 1
                if first is None:
                    i = next(i for i in range(4096) if x[i] != y[i])
                    first = "0x%x: src %02x dst %02x" % (off + i, x[i], y[i])
            off += 4096
    if bad_pages:
        return "%d pages differ, first at %s" % (bad_pages, first)
    return None


def check_log(path, be, role):
    """Check the shim's log of one side for what EXPECT says; return the
    lines that matter (for the report).  Raises Fail."""
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()
    bad = [l for l in lines if re.search(r"^zapshim\[\d+\]: (warning|madvise .* failed)", l)]
    if bad:
        raise Fail("%s shim log has failures:\n  %s" % (role, "\n  ".join(bad[:10])))
    kind = be["kind"]
    translated = [l for l in lines if l.split(": ", 1)[-1].startswith("madvise ")
                  and ("kind=" + kind) in l]
    stats = [l for l in lines if re.search(r"stats %s\b.*seen=(\d+)" % re.escape(kind), l)]
    if role == "dst" and be["expect"] == "translated" and not translated:
        raise Fail("dst shim log has no translated zap of %s:\n%s" % (kind, text))
    if not any(re.match(r"zapshim\[\d+\]: stats", l) for l in lines):
        raise Fail("%s shim log has no exit summary: was the shim loaded?\n%s" % (role, text))
    if role == "dst" and be["expect"] in ("translated", "seen"):
        seen = [int(re.search(r"seen=(\d+)", l).group(1)) for l in stats]
        if not seen or seen[0] == 0:
            raise Fail("dst shim stats did not see QEMU's discards of %s:\n%s" % (kind, text))
    return translated, stats, lines


def run(a):
    """The whole test; raises Fail or Skip."""
    be = BACKENDS[a.backend]
    a.hugedir = None
    need(os.access(a.qemu, os.X_OK), "QEMU (%s): run tools/install-real-deps.sh" % a.qemu)
    need(os.access(a.shim, os.R_OK), "the shim " + a.shim)
    if be.get("huge"):
        a.hugedir = hugetlbfs_dir()
        need(a.hugedir is not None, "a hugetlbfs mount for 2 MiB pages")
        pages = 2 * a.size_mb * MIB // HPAGE
        need(free_hugepages() >= pages,
             "%d free 2 MiB huge pages (have %d)" % (pages, free_hugepages()))
    accel = a.accel
    if accel == "auto":
        accel = "kvm"
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            log("/dev/kvm is not usable: using TCG")
            accel = "tcg"

    os.makedirs(a.workdir, exist_ok=True)
    size = a.size_mb * MIB
    kernel = os.path.join(a.workdir, "guest.mb")
    with open(kernel, "wb") as f:
        f.write(guest_image(size))
    blob = os.path.join(a.workdir, "pattern.bin")
    with open(blob, "wb") as f:
        f.write(pattern_blob(size))

    procs = []
    try:
        src, sq, src_log = start_qemu(a, "src", kernel, blob, accel)
        procs.append(src)
        dst, dq, dst_log = start_qemu(a, "dst", kernel, blob, accel)
        procs.append(dst)

        # The guest fills RAM and starts dirtying pages.
        deadline = time.monotonic() + 60
        gen_path = os.path.join(a.workdir, "gen.bin")
        while read_gen(sq, gen_path) < 3:
            if time.monotonic() > deadline:
                raise Fail("the guest did not run (generation counter stays 0)")
            time.sleep(0.05)
        log("guest running on the source (generation %d)" % read_gen(sq, gen_path))

        caps = [{"capability": "postcopy-ram", "state": True}]
        sq.cmd("migrate-set-capabilities", capabilities=caps)
        dq.cmd("migrate-set-capabilities", capabilities=caps)
        # Slow postcopy down so the destination's faults have pages to ask for.
        sq.cmd("migrate-set-parameters", **{"max-postcopy-bandwidth": a.postcopy_bw * MIB,
                                          "max-bandwidth": a.precopy_bw * MIB})
        dq.cmd("migrate-incoming", uri="tcp:127.0.0.1:0")
        addr = dq.cmd("query-migrate").get("socket-address", [])
        port = next((int(s["port"]) for s in addr if s.get("type") == "inet"), None)
        if not port:
            raise Fail("destination did not report its listening port: %r" % addr)
        log("destination listens on 127.0.0.1:%d" % port)

        t0 = time.monotonic()
        sq.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        wait_migrate(sq, ("active",), 30, "source")
        sq.cmd("migrate-start-postcopy")
        wait_migrate(sq, ("postcopy-active", "completed"), 60, "source")
        t_switch = time.monotonic() - t0
        # On the destination, read all of RAM while pages are still arriving:
        # every missing page faults and is requested from the source.
        early = os.path.join(a.workdir, "dst-early.bin")
        dinfo = wait_migrate(dq, ("postcopy-active", "completed"), 60, "destination")
        dq.cmd("pmemsave", val=0, size=size, filename=early)
        early_status = dinfo.get("status")
        sinfo = wait_migrate(sq, ("completed",), 120, "source")
        t_total = time.monotonic() - t0
        wait_migrate(dq, ("completed",), 60, "destination")
        ram = sinfo.get("ram", {})
        log("migration completed in %.2f s (postcopy started after %.2f s); "
            "source sent %d pages, postcopy requests %s, destination dump during %s"
            % (t_total, t_switch, ram.get("normal", 0) + ram.get("duplicate", 0),
               ram.get("postcopy-requests", "?"), early_status))
        dst_state = dq.cmd("query-status").get("status")
        src_state = sq.cmd("query-status").get("status")
        log("run states: source %s, destination %s" % (src_state, dst_state))

        src_dump = os.path.join(a.workdir, "src.bin")
        dst_dump = os.path.join(a.workdir, "dst.bin")
        sq.cmd("pmemsave", val=0, size=size, filename=src_dump)
        dq.cmd("pmemsave", val=0, size=size, filename=dst_dump)
        diff = compare_files(src_dump, dst_dump, size)
        if diff:
            raise Fail("destination RAM differs from the source's: " + diff)
        diff = compare_files(src_dump, early, size)
        if diff:
            raise Fail("destination RAM read during postcopy differs from the source's: " + diff)
        log("destination RAM equals the source's (%d MiB), also when read while %s"
            % (a.size_mb, early_status))

        for q in (sq, dq):
            q.cmd("quit")
            q.close()
        for p in procs:
            p.wait(timeout=30)
        procs = []
    finally:
        for p in procs:
            p.kill()
            p.wait()

    results = {}
    for role, path in (("src", src_log), ("dst", dst_log)):
        translated, stats, lines = check_log(path, be, role)
        results[role] = lines
        log("%s shim log: %d lines, %d translated zaps of %s" %
            (role, len(lines), len(translated), be["kind"]))
        for l in translated[:3] + stats:
            log("  " + l)
    if be["expect"] == "active":
        log("QEMU punches %s RAM itself (fallocate) and calls no madvise on it: "
            "the shim had nothing to translate" % be["kind"])
    if not a.keep:
        for n in ("src.bin", "dst.bin", "dst-early.bin", "pattern.bin"):
            try:
                os.unlink(os.path.join(a.workdir, n))
            except OSError:
                pass


def main():
    """Parse arguments, run, map the outcome to an exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or
                   "/usr/bin/qemu-system-x86_64")
    p.add_argument("--shim", required=True, help="path of libzapshim.so")
    p.add_argument("--backend", required=True, choices=sorted(BACKENDS))
    p.add_argument("--workdir", required=True)
    p.add_argument("--size-mb", type=int, default=64)
    p.add_argument("--postcopy-bw", type=int, default=64, help="MiB/s in postcopy")
    p.add_argument("--precopy-bw", type=int, default=16, help="MiB/s before postcopy")
    p.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"),
                   help="auto: KVM if /dev/kvm is usable, else TCG")
    p.add_argument("--keep", action="store_true", help="keep the RAM dumps")
    p.add_argument("--dst-wrapper", default="",
                   help="command prefix for the destination QEMU (e.g. strace -f -o FILE)")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run(a)
    except Skip as e:
        print("SKIP: " + str(e), flush=True)
        return 77
    except Fail as e:
        print("FAIL: " + str(e), flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
