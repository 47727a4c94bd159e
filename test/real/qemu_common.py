"""qemu_common.py - what the QEMU tests of test/real share: the verdicts
(Fail, Skip, need), a QMP client over a unix socket, wait_migrate (polling
query-migrate), and the host's huge page facts.  Python 3 standard library only.
"""

import json
import os
import socket
import time


class Fail(Exception):
    """The test failed: the message says why."""


class Skip(Exception):
    """A resource is missing (outside CI): the message says which."""


def need(have, what):
    """Raise Fail in CI (CI=true), Skip elsewhere, when have is false."""
    if have:
        return
    if os.environ.get("CI") == "true":
        raise Fail("missing (required in CI): " + what)
    raise Skip(what)


def connect_unix(path, timeout, what, proc=None):
    """Return a socket connected to the unix socket at path, retrying until
    timeout seconds have passed or proc (a Popen) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline or (proc and proc.poll() is not None):
                raise Fail("cannot connect to %s at %s" % (what, path))
            time.sleep(0.05)


class QMP:
    """A QMP connection: commands in, replies out; asynchronous events are
    kept in self.events."""

    def __init__(self, path, timeout, proc=None, io_timeout=60):
        """Connect (retrying for timeout seconds, or until proc exits), read
        the greeting and enter command mode; each reply may take up to
        io_timeout seconds."""
        self.sock = connect_unix(path, timeout, "QMP", proc)
        self.sock.settimeout(io_timeout)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        """Return the next JSON object from the socket."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Fail("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        """Run one command; return its "return" value or raise Fail with
        QEMU's error."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise Fail("QMP %s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

    def close(self):
        """Close the socket."""
        self.sock.close()


def wait_migrate(qmp, want, timeout, what):
    """Poll query-migrate until its status is in want; return the reply.
    Fail on "failed"/"cancelled" or after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        info = qmp.cmd("query-migrate")
        st = info.get("status")
        if st in want:
            return info
        if st in ("failed", "cancelled"):
            raise Fail("%s: migration %s: %s" % (what, st, info.get("error-desc", "")))
        if time.monotonic() > deadline:
            raise Fail("%s: migration still %s after %ds" % (what, st, timeout))
        time.sleep(0.02)


def hugetlbfs_dir():
    """The mount point of a hugetlbfs for 2 MiB pages, or None."""
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "hugetlbfs" and ("pagesize=2M" in opts or "pagesize" not in opts):
                return mnt
    return None


def free_hugepages():
    """Free 2 MiB huge pages, or 0 if there is no pool."""
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())
    except OSError:
        return 0
