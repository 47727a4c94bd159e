/*
 * vma.c - what the kernel says is mapped at an address.
 *
 * Two sources:
 *  - PROCMAP_QUERY (Linux 6.11+): one ioctl on a cached descriptor of
 *    /proc/self/maps answers "the VMA covering or next above addr";
 *  - /proc/self/maps parsed line by line otherwise (older kernels, or
 *    ZAPSHIM_KERNEL below 6.11).
 * And /proc/self/mountinfo, to tell which filesystem a device number is.
 *
 * Every file under /proc is opened relative to a descriptor of the /proc
 * directory taken at load (zs_vma_init), so a later chroot (a VMM jailer)
 * or a /proc of another PID namespace mounted over it does not cut the
 * shim off from the kernel's word; the plain path is the fallback.  When
 * neither reaches this process's files, queries say ZS_VMA_UNAVAILABLE,
 * never ENOENT: ENOENT means only "the kernel answered: nothing there".
 *
 * No malloc, no stdio, no locks: files are read with raw syscalls into
 * buffers on the caller's stack, and the one piece of shared state (the
 * cached descriptor) is published with a compare-exchange.  Everything here
 * is async-signal-safe except that it may take a few KiB of stack.
 */
#define _GNU_SOURCE /* O_PATH */
#include "vma.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "state.h"
#include "sys.h"

/* ---- PROCMAP_QUERY ABI (include/uapi/linux/fs.h, 6.11); 6.1 headers lack it. */

struct zs_procmap_query {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start;
  uint64_t vma_end;
  uint64_t vma_flags;
  uint64_t vma_page_size;
  uint64_t vma_offset;
  uint64_t inode;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint32_t vma_name_size;
  uint32_t build_id_size;
  uint64_t vma_name_addr;
  uint64_t build_id_addr;
};
_Static_assert(sizeof(struct zs_procmap_query) == 104, "struct procmap_query is 104 bytes");

#define ZS_PROCMAP_QUERY _IOWR('f', 17, struct zs_procmap_query)
_Static_assert(ZS_PROCMAP_QUERY == 0xC0686611u, "PROCMAP_QUERY ioctl number");

#define ZS_PMQ_VMA_READABLE 0x01
#define ZS_PMQ_VMA_WRITABLE 0x02
#define ZS_PMQ_VMA_EXECUTABLE 0x04
#define ZS_PMQ_VMA_SHARED 0x08
#define ZS_PMQ_COVERING_OR_NEXT_VMA 0x10

/* Size of the chunks files under /proc are read in. */
#define ZS_CHUNK 4096
/* Longest maps line kept: the fixed fields (< 100 bytes) and a name. */
#define ZS_MAPS_LINE (128 + ZS_VMA_NAME_MAX)
/* Longest mountinfo line kept; longer lines are used only if the mount
 * point and type fit. */
#define ZS_MOUNTINFO_LINE 1536

/* ---- raw syscalls: never interposed by another preload, never a
 * cancellation point.  Each returns what the syscall returns, errno set. */

/* ---- the /proc directory kept from load time ---- */

#define ZS_PROC_SUPER_MAGIC 0x9fa0L

/*
 * The descriptor of /proc opened by zs_vma_init (O_PATH, at a high
 * number), -1 if none, and its identity: a number that no longer names
 * that directory (closed by a raw syscall, then reused) is the program's
 * and is neither used nor closed.  Inherited by fork children, where
 * "self" still resolves to the caller.
 */
static _Atomic int g_proc_fd = -1;
static _Atomic uint64_t g_proc_dev;
static _Atomic uint64_t g_proc_ino;

/* zs_proc_is - true if fd is open and is the /proc directory kept at load. */
static bool zs_proc_is(int fd) {
  struct stat st;
  int e = errno;
  bool same = fd >= 0 && fstat(fd, &st) == 0 &&
              (uint64_t)st.st_dev == atomic_load_explicit(&g_proc_dev, memory_order_relaxed) &&
              (uint64_t)st.st_ino == atomic_load_explicit(&g_proc_ino, memory_order_relaxed);
  errno = e;
  return same;
}

/* zs_proc_dirfd - the kept /proc descriptor if it still is ours; a number
 * that is not is forgotten (never closed: it is the program's now).
 * Returns the descriptor or -1. */
static int zs_proc_dirfd(void) {
  int fd = atomic_load_explicit(&g_proc_fd, memory_order_acquire);
  if (fd < 0)
    return -1;
  if (zs_proc_is(fd))
    return fd;
  atomic_compare_exchange_strong_explicit(&g_proc_fd, &fd, -1, memory_order_acq_rel,
                                          memory_order_relaxed);
  return -1;
}

/* See vma.h.  open, fstat, fstatfs, fcntl(F_DUPFD_CLOEXEC), close. */
int zs_vma_init(void) {
  if (atomic_load_explicit(&g_proc_fd, memory_order_acquire) >= 0)
    return 0;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  struct stat st;
  struct statfs sfs;
  int rc = 0;
  if (fstat(fd, &st) != 0 || fstatfs(fd, &sfs) != 0)
    rc = errno;
  else if (sfs.f_type != ZS_PROC_SUPER_MAGIC)
    rc = ENOTDIR; /* a stand-in directory, not procfs: keep nothing */
  int hi = rc ? -1 : zs_sys_dup_high(fd);
  syscall(SYS_close, fd);
  if (rc)
    return rc;
  if (hi < 0)
    return -hi; /* no high number to spare: the path is used */
  atomic_store_explicit(&g_proc_dev, (uint64_t)st.st_dev, memory_order_relaxed);
  atomic_store_explicit(&g_proc_ino, (uint64_t)st.st_ino, memory_order_relaxed);
  zs_sys_note_fd(hi);
  int none = -1;
  if (!atomic_compare_exchange_strong_explicit(&g_proc_fd, &none, hi, memory_order_acq_rel,
                                               memory_order_relaxed))
    syscall(SYS_close, hi);
  return 0;
}

/* zs_vma_proc_fd - see vma.h. */
int zs_vma_proc_fd(void) {
  return zs_proc_dirfd();
}

/* zs_vma_proc_owns - see vma.h. */
int zs_vma_proc_owns(int fd) {
  return fd >= 0 && fd == atomic_load_explicit(&g_proc_fd, memory_order_acquire) &&
         zs_proc_is(fd);
}

/* zs_vma_proc_relocate - see vma.h. */
int zs_vma_proc_relocate(int fd) {
  if (!zs_vma_proc_owns(fd))
    return 0;
  int hi = zs_sys_dup_high(fd);
  int want = fd;
  if (!atomic_compare_exchange_strong_explicit(&g_proc_fd, &want, hi >= 0 ? hi : -1,
                                               memory_order_acq_rel, memory_order_relaxed)) {
    if (hi >= 0)
      syscall(SYS_close, hi); /* someone else moved or forgot it meanwhile */
    return 0;
  }
  if (hi < 0)
    return hi;
  zs_sys_note_fd(hi);
  return 1;
}

/* zs_proc_path - "/proc/" + rel into buf[cap]; false if it does not fit. */
static bool zs_proc_path(const char *rel, char *buf, size_t cap) {
  size_t n = strlen(rel);
  if (6 + n + 1 > cap)
    return false;
  memcpy(buf, "/proc/", 6);
  memcpy(buf + 6, rel, n + 1);
  return true;
}

/* See vma.h.  The kept directory first; the path if that is gone or
 * fails (a fork child whose /proc differs cannot be told apart). */
int zs_vma_proc_open(const char *rel, int flags) {
  int dfd = zs_proc_dirfd();
  if (dfd >= 0) {
    int fd = (int)syscall(SYS_openat, dfd, rel, flags | O_CLOEXEC);
    if (fd >= 0)
      return fd;
  }
  char path[96];
  if (!zs_proc_path(rel, path, sizeof path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC);
}

/* See vma.h.  Same order as zs_vma_proc_open. */
ssize_t zs_vma_proc_readlink(const char *rel, char *buf, size_t cap) {
  int dfd = zs_proc_dirfd();
  if (dfd >= 0) {
    ssize_t n = (ssize_t)syscall(SYS_readlinkat, dfd, rel, buf, cap);
    if (n >= 0)
      return n;
  }
  char path[96];
  if (!zs_proc_path(rel, path, sizeof path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return (ssize_t)syscall(SYS_readlinkat, AT_FDCWD, path, buf, cap);
}

/* zs_open_ro - open "/proc/" + rel read-only, close-on-exec; fd or -1. */
static int zs_open_ro(const char *rel) {
  return zs_vma_proc_open(rel, O_RDONLY);
}

/* zs_pread - pread(2) at off, retried on EINTR; bytes, 0 at end, or -1.
 * Reading at an explicit offset lets one descriptor of a maps file be read
 * again from the start without lseek (the seq_file restarts at 0). */
static ssize_t zs_pread(int fd, char *buf, size_t len, uint64_t off) {
  ssize_t n;
  do
    n = (ssize_t)syscall(SYS_pread64, fd, buf, len, (off_t)off);
  while (n < 0 && errno == EINTR);
  return n;
}

/* zs_close_keep_errno - close fd without disturbing errno. */
static void zs_close_keep_errno(int fd) {
  int e = errno;
  syscall(SYS_close, fd);
  errno = e;
}

/* ---- a line reader over a descriptor, all on the caller's stack ---- */

struct zs_lines {
  int fd;
  uint64_t off; /* file offset of the next read */
  size_t pos, len;
  char buf[ZS_CHUNK];
};

/*
 * zs_lines_next - the next line of r (without its newline) in line[cap],
 * NUL-terminated, truncated to cap - 1 bytes (*trunc says so); a line split
 * across two reads is joined.  Returns 1 for a line, 0 at end of file, or
 * -1 with errno from read.
 */
static int zs_lines_next(struct zs_lines *r, char *line, size_t cap, size_t *len, bool *trunc) {
  size_t n = 0;
  bool any = false;
  *trunc = false;
  for (;;) {
    if (r->pos == r->len) {
      ssize_t k = zs_pread(r->fd, r->buf, sizeof r->buf, r->off);
      if (k < 0)
        return -1;
      r->off += (uint64_t)k;
      if (k == 0) {
        if (!any)
          return 0;
        break; /* last line without a newline */
      }
      r->pos = 0;
      r->len = (size_t)k;
    }
    const char *s = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    const char *nl = memchr(s, '\n', avail);
    size_t take = nl ? (size_t)(nl - s) : avail;
    any = true;
    if (n + 1 < cap) {
      size_t c = take < cap - 1 - n ? take : cap - 1 - n;
      memcpy(line + n, s, c);
      n += c;
      if (c < take)
        *trunc = true;
    } else if (take) {
      *trunc = true;
    }
    r->pos += take + (nl ? 1 : 0);
    if (nl)
      break;
  }
  line[n] = '\0';
  *len = n;
  return 1;
}

/* ---- small parsers: advance *p, return false if nothing matched ---- */

/* zs_parse_hex - one or more hex digits at *p into *v. */
static bool zs_parse_hex(const char **p, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  for (;; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = (unsigned)(*s - '0');
    else if (*s >= 'a' && *s <= 'f')
      d = (unsigned)(*s - 'a' + 10);
    else if (*s >= 'A' && *s <= 'F')
      d = (unsigned)(*s - 'A' + 10);
    else
      break;
    x = x << 4 | d;
  }
  if (s == *p)
    return false;
  *p = s;
  *v = x;
  return true;
}

/* zs_parse_dec - one or more decimal digits at *p into *v. */
static bool zs_parse_dec(const char **p, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    x = x * 10 + (uint64_t)(*s - '0');
  if (s == *p)
    return false;
  *p = s;
  *v = x;
  return true;
}

/* zs_expect - consume character c at *p. */
static bool zs_expect(const char **p, char c) {
  if (**p != c)
    return false;
  (*p)++;
  return true;
}

/* zs_copy_name - copy a NUL-terminated name into out->name, truncated. */
static void zs_copy_name(struct zs_vma *out, const char *name) {
  size_t n = strlen(name);
  if (n > ZS_VMA_NAME_MAX - 1)
    n = ZS_VMA_NAME_MAX - 1;
  memcpy(out->name, name, n);
  out->name[n] = '\0';
}

/*
 * zs_parse_maps_line - one /proc/<pid>/maps line,
 * "start-end perms offset maj:min inode   name", into *out (page_size 0:
 * maps does not say).  Returns false if the line is malformed.
 */
static bool zs_parse_maps_line(const char *line, struct zs_vma *out) {
  const char *p = line;
  uint64_t start, end, off, maj, min, ino;
  if (!zs_parse_hex(&p, &start) || !zs_expect(&p, '-') || !zs_parse_hex(&p, &end) ||
      !zs_expect(&p, ' '))
    return false;
  uint32_t flags = 0;
  for (int i = 0; i < 4; i++, p++) {
    switch (*p) {
    case 'r': flags |= ZS_VMA_READ; break;
    case 'w': flags |= ZS_VMA_WRITE; break;
    case 'x': flags |= ZS_VMA_EXEC; break;
    case 's': flags |= ZS_VMA_SHARED; break;
    case '-': case 'p': break;
    default: return false;
    }
  }
  if (!zs_expect(&p, ' ') || !zs_parse_hex(&p, &off) || !zs_expect(&p, ' ') ||
      !zs_parse_hex(&p, &maj) || !zs_expect(&p, ':') || !zs_parse_hex(&p, &min) ||
      !zs_expect(&p, ' ') || !zs_parse_dec(&p, &ino))
    return false;
  if (*p != ' ' && *p != '\0')
    return false;
  while (*p == ' ')
    p++;
  out->start = (uintptr_t)start;
  out->end = (uintptr_t)end;
  out->offset = off;
  out->ino = ino;
  out->dev_major = (uint32_t)maj;
  out->dev_minor = (uint32_t)min;
  out->page_size = 0;
  out->flags = flags;
  zs_copy_name(out, p);
  return true;
}

/*
 * zs_maps_parse - the VMA covering or next above addr, from a read of the
 * maps file fd from its start (pread: fd may be kept and read again).
 * [vsyscall] is skipped: it is not a VMA of the process (PROCMAP_QUERY
 * does not see it either).  Returns 0, ENOENT (the whole file was read and
 * it had lines), ESRCH (an empty file: the process has no memory any more
 * - it exited, or it ran execve and fd still names its old memory), the
 * errno of read (never ENOENT), or EIO for a line that does not parse.
 */
static int zs_maps_parse(int fd, uintptr_t addr, struct zs_vma *out) {
  struct zs_lines r;
  char line[ZS_MAPS_LINE];
  size_t len;
  bool trunc, any = false;
  int rc = ENOENT;

  r.fd = fd;
  r.off = 0;
  r.pos = r.len = 0;
  for (;;) {
    int k = zs_lines_next(&r, line, sizeof line, &len, &trunc);
    if (k < 0) {
      rc = errno == ENOENT || errno == 0 ? EIO : errno;
      break;
    }
    if (k == 0) {
      if (!any)
        rc = ESRCH;
      break;
    }
    any = true;
    /* Cheap skip: lines are sorted, only the end address matters here. */
    const char *p = line;
    uint64_t start, end;
    if (!zs_parse_hex(&p, &start) || !zs_expect(&p, '-') || !zs_parse_hex(&p, &end)) {
      rc = EIO;
      break;
    }
    if (end <= addr)
      continue;
    if (!zs_parse_maps_line(line, out)) {
      rc = EIO;
      break;
    }
    if (strcmp(out->name, "[vsyscall]") == 0)
      continue;
    rc = 0;
    break;
  }
  return rc;
}

/*
 * zs_vma_query_maps - zs_maps_parse of a fresh descriptor of
 * /proc/self/maps.  Returns what it returns, or ZS_VMA_UNAVAILABLE if the
 * file cannot be opened.
 */
static int zs_vma_query_maps(uintptr_t addr, struct zs_vma *out) {
  int fd = zs_open_ro("self/maps");
  if (fd < 0)
    return ZS_VMA_UNAVAILABLE;
  int rc = zs_maps_parse(fd, addr, out);
  zs_close_keep_errno(fd);
  return rc;
}

/* ---- the cached /proc/self/maps descriptor for PROCMAP_QUERY ---- */

/*
 * g_maps packs the owner's pid (high 32 bits) and the descriptor (low 32
 * bits, 0xffffffff = none), so a fork child sees at once that the value is
 * its parent's.  g_maps_dev/g_maps_ino identify the open file, so a stale
 * number is closed only if it still is ours (the program may have closed it
 * and reused the number).
 */
#define ZS_NOFD 0xffffffffu
static _Atomic uint64_t g_maps = ZS_NOFD;
static _Atomic uint64_t g_maps_dev;
static _Atomic uint64_t g_maps_ino;

static inline int zs_slot_fd(uint64_t v) {
  return (uint32_t)v == ZS_NOFD ? -1 : (int)(uint32_t)v;
}
static inline uint32_t zs_slot_pid(uint64_t v) {
  return (uint32_t)(v >> 32);
}
static inline uint64_t zs_slot(uint32_t pid, int fd) {
  return (uint64_t)pid << 32 | (uint32_t)fd;
}

/*
 * zs_maps_open_high - open /proc/self/maps and move it to a high number
 * (zs_sys_dup_high), out of the way of programs
 * that dup2 over low numbers.  Returns the descriptor, or -1 with errno.
 */
static int zs_maps_open_high(void) {
  int fd = zs_open_ro("self/maps");
  int floor = zs_sys_fd_floor();
  if (fd < 0 || (floor >= 0 && fd >= floor))
    return fd;
  int hi = zs_sys_dup_high(fd);
  zs_close_keep_errno(fd); /* never cache a number the program may want */
  if (hi < 0)
    errno = -hi;
  return hi < 0 ? -1 : hi;
}

/*
 * zs_maps_drop - close fd, a value that was in g_maps, but only if it is
 * still the file we opened (same device and inode).
 */
static void zs_maps_drop(int fd, uint64_t dev, uint64_t ino) {
  struct stat st;
  int e = errno;
  if (fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
    syscall(SYS_close, fd);
  errno = e;
}

/*
 * zs_maps_fd - the cached descriptor of this process's /proc/self/maps,
 * opening it if there is none, the cached one is a parent's (fork), or it
 * is bad_fd (a descriptor that just failed).  Race-free: concurrent openers
 * compare-exchange, the loser closes its own and uses the winner's.
 * Returns the descriptor or -1 with errno.
 */
static int zs_maps_fd(int bad_fd) {
  uint32_t pid = (uint32_t)getpid();
  uint64_t cur = atomic_load_explicit(&g_maps, memory_order_acquire);
  for (int tries = 0; tries < 4; tries++) {
    int cfd = zs_slot_fd(cur);
    if (cfd >= 0 && cfd != bad_fd && zs_slot_pid(cur) == pid)
      return cfd;
    int nfd = zs_maps_open_high();
    if (nfd < 0)
      return -1;
    struct stat st;
    if (fstat(nfd, &st) != 0) {
      zs_close_keep_errno(nfd);
      return -1;
    }
    uint64_t odev = atomic_load_explicit(&g_maps_dev, memory_order_relaxed);
    uint64_t oino = atomic_load_explicit(&g_maps_ino, memory_order_relaxed);
    zs_sys_note_fd(nfd);
    if (atomic_compare_exchange_strong_explicit(&g_maps, &cur, zs_slot(pid, nfd),
                                                memory_order_acq_rel, memory_order_acquire)) {
      atomic_store_explicit(&g_maps_dev, (uint64_t)st.st_dev, memory_order_relaxed);
      atomic_store_explicit(&g_maps_ino, (uint64_t)st.st_ino, memory_order_relaxed);
      if (cfd >= 0 && cfd != nfd)
        zs_maps_drop(cfd, odev, oino);
      return nfd;
    }
    /* Lost the race: cur now holds the winner's value; look at it again. */
    zs_close_keep_errno(nfd);
  }
  errno = EAGAIN;
  return -1;
}

/* zs_pmq_fill - copy a PROCMAP_QUERY answer into *out (name set by caller). */
static void zs_pmq_fill(const struct zs_procmap_query *q, struct zs_vma *out) {
  out->start = (uintptr_t)q->vma_start;
  out->end = (uintptr_t)q->vma_end;
  out->offset = q->vma_offset;
  out->ino = q->inode;
  out->dev_major = q->dev_major;
  out->dev_minor = q->dev_minor;
  out->page_size = q->vma_page_size;
  out->flags = (q->vma_flags & ZS_PMQ_VMA_READABLE ? ZS_VMA_READ : 0) |
               (q->vma_flags & ZS_PMQ_VMA_WRITABLE ? ZS_VMA_WRITE : 0) |
               (q->vma_flags & ZS_PMQ_VMA_EXECUTABLE ? ZS_VMA_EXEC : 0) |
               (q->vma_flags & ZS_PMQ_VMA_SHARED ? ZS_VMA_SHARED : 0);
}

/*
 * zs_pmq - one PROCMAP_QUERY on fd with the name written to name[size]
 * (size 0: no name).  Returns 0 with *q filled, or the errno.
 */
static int zs_pmq(int fd, uintptr_t addr, char *name, uint32_t size,
                  struct zs_procmap_query *q) {
  memset(q, 0, sizeof *q);
  q->size = sizeof *q;
  q->query_flags = ZS_PMQ_COVERING_OR_NEXT_VMA;
  q->query_addr = addr;
  q->vma_name_addr = (uintptr_t)name;
  q->vma_name_size = size;
  if (syscall(SYS_ioctl, fd, (unsigned long)ZS_PROCMAP_QUERY, q) == 0)
    return 0;
  return errno;
}

/*
 * zs_pmq_long_name - the query again for a name longer than out->name:
 * read it into a PATH_MAX buffer and keep its head (as the maps path does).
 * A path longer than PATH_MAX (possible through relative paths) is more
 * than the ioctl gives; the facts then come from the ioctl without a name
 * and the name's head from a read of the same maps file, so both paths
 * still agree.
 * Kept out of line so the common path does not reserve the 4 KiB.
 * Returns 0 or the errno.
 */
static __attribute__((noinline)) int zs_pmq_long_name(int fd, uintptr_t addr,
                                                      struct zs_procmap_query *q,
                                                      struct zs_vma *out) {
  union {
    char big[4096];
    struct zs_vma v; /* the same stack, for the maps fallback */
  } u;
  int rc = zs_pmq(fd, addr, u.big, sizeof u.big, q);
  if (rc == 0) {
    u.big[sizeof u.big - 1] = '\0';
    if (q->vma_name_size == 0)
      u.big[0] = '\0';
    zs_copy_name(out, u.big);
    return 0;
  }
  if (rc != ENAMETOOLONG)
    return rc;
  out->name[0] = '\0';
  rc = zs_pmq(fd, addr, NULL, 0, q);
  if (rc == 0 && zs_maps_parse(fd, (uintptr_t)q->vma_start, &u.v) == 0 &&
      u.v.start == q->vma_start)
    memcpy(out->name, u.v.name, sizeof out->name);
  return rc;
}

/* zs_open_failure - what a query answers when /proc/self/maps could not be
 * opened with errno e: EMFILE/ENFILE as they are (the caller may still read
 * maps once without caching), anything else ZS_VMA_UNAVAILABLE. */
static int zs_open_failure(int e) {
  return e == EMFILE || e == ENFILE ? e : ZS_VMA_UNAVAILABLE;
}

/*
 * zs_pmq_query - the VMA covering or next above addr by one PROCMAP_QUERY
 * on the maps descriptor fd (again with a larger buffer for a long name).
 * Returns 0 with *out filled, or the ioctl's errno (ENOENT: nothing at or
 * above addr; ENOTTY/EINVAL: no PROCMAP_QUERY here; ESRCH: the process's
 * memory is gone).
 */
static int zs_pmq_query(int fd, uintptr_t addr, struct zs_vma *out) {
  struct zs_procmap_query q;
  out->name[0] = '\0';
  int rc = zs_pmq(fd, addr, out->name, ZS_VMA_NAME_MAX, &q);
  if (rc == 0 && q.vma_name_size == 0)
    out->name[0] = '\0';
  if (rc == ENAMETOOLONG)
    rc = zs_pmq_long_name(fd, addr, &q, out);
  if (rc != 0)
    return rc;
  out->name[ZS_VMA_NAME_MAX - 1] = '\0';
  zs_pmq_fill(&q, out);
  return 0;
}

/*
 * zs_vma_query_pmq - zs_pmq_query on the cached /proc/self/maps
 * descriptor.  A descriptor that fails for any reason but ENOENT (closed or
 * replaced by the program, a parent's after fork) is replaced once and the
 * query retried.  Returns 0, ENOENT (the ioctl's own answer), EMFILE/ENFILE,
 * ZS_VMA_UNAVAILABLE, or the ioctl's errno.
 */
static int zs_vma_query_pmq(uintptr_t addr, struct zs_vma *out) {
  int fd = zs_maps_fd(-1);
  if (fd < 0)
    return zs_open_failure(errno);
  for (int attempt = 0;; attempt++) {
    int rc = zs_pmq_query(fd, addr, out);
    if (rc == 0 || rc == ENOENT || attempt == 1)
      return rc;
    fd = zs_maps_fd(fd);
    if (fd < 0)
      return zs_open_failure(errno);
  }
}

/* Set once PROCMAP_QUERY turned out not to exist here (a kernel that
 * reports 6.11+ without it, e.g. a backport-free vendor kernel). */
static atomic_bool g_pmq_missing;

/* zs_pmq_usable - true if PROCMAP_QUERY may be tried: the kernel the shim
 * behaves as has it (zs_state.caps) and no descriptor has refused it. */
static bool zs_pmq_usable(void) {
  return zs_state.caps.procmap_query && !atomic_load_explicit(&g_pmq_missing, memory_order_relaxed);
}

/* See vma.h.  PROCMAP_QUERY when zs_state.caps.procmap_query allows it and
 * the kernel answers it; the first ENOTTY/EINVAL turns it off for good
 * (checked here, on first use, rather than at load: process start stays
 * cheap). Maps otherwise. */
int zs_vma_query(uintptr_t addr, struct zs_vma *out) {
  if (zs_pmq_usable()) {
    int rc = zs_vma_query_pmq(addr, out);
    if (rc == EMFILE || rc == ENFILE)
      return zs_vma_query_maps(addr, out); /* no high number to cache: read maps once */
    if (rc != ENOTTY && rc != EINVAL)
      return rc;
    atomic_store_explicit(&g_pmq_missing, true, memory_order_relaxed);
  }
  return zs_vma_query_maps(addr, out);
}

/* zs_pid_rel - "PID/" + leaf (pid > 0) or "self/" + leaf into buf (room for
 * 48 bytes; leaf at most 24 bytes), without stdio. */
static void zs_pid_rel(pid_t pid, const char *leaf, char *buf) {
  size_t n = 0;
  if (pid <= 0) {
    memcpy(buf, "self", 4);
    n = 4;
  } else {
    char digits[12];
    int k = 0;
    unsigned v = (unsigned)pid;
    do
      digits[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < (int)sizeof digits);
    while (k > 0)
      buf[n++] = digits[--k];
  }
  buf[n++] = '/';
  size_t l = strlen(leaf);
  memcpy(buf + n, leaf, l + 1);
}

/* zs_proc_reachable - true if files under /proc can be opened at all: the
 * kept /proc descriptor is ours, or the path /proc is procfs.  Tells "no
 * such process" from "no /proc here" when PID/maps does not exist. */
static bool zs_proc_reachable(void) {
  if (zs_proc_dirfd() >= 0)
    return true;
  struct statfs sfs;
  int e = errno;
  bool ok = statfs("/proc", &sfs) == 0 && sfs.f_type == ZS_PROC_SUPER_MAGIC;
  errno = e;
  return ok;
}

/* See vma.h.  One open (through the /proc kept from load), nothing read
 * yet: the process's right to be read is checked by the kernel here. */
int zs_maps_open(struct zs_maps *r, pid_t pid) {
  char rel[48];
  r->pid = pid > 0 ? pid : 0;
  r->fd = -1;
  r->pmq = 0;
  if (pid < 0)
    return ESRCH;
  zs_pid_rel(pid, "maps", rel);
  int fd = zs_vma_proc_open(rel, O_RDONLY);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH)
      return pid > 0 && zs_proc_reachable() ? ESRCH : ZS_VMA_UNAVAILABLE;
    if (e == EACCES || e == EPERM)
      return EACCES;
    if (e == EMFILE || e == ENFILE || e == ENOMEM)
      return e;
    return ZS_VMA_UNAVAILABLE;
  }
  r->fd = fd;
  r->pmq = zs_pmq_usable() ? 1 : 0;
  return 0;
}

/* See vma.h.  PROCMAP_QUERY while r->pmq; its first ENOTTY/EINVAL turns it
 * off for r and for every later reader, and the file is parsed instead. */
int zs_maps_query(struct zs_maps *r, uintptr_t addr, struct zs_vma *out) {
  if (r->fd < 0)
    return EBADF;
  if (r->pmq) {
    int rc = zs_pmq_query(r->fd, addr, out);
    if (rc != ENOTTY && rc != EINVAL)
      return rc;
    r->pmq = 0;
    atomic_store_explicit(&g_pmq_missing, true, memory_order_relaxed);
  }
  return zs_maps_parse(r->fd, addr, out);
}

/* See vma.h.  Idempotent. */
void zs_maps_close(struct zs_maps *r) {
  if (r->fd >= 0)
    zs_close_keep_errno(r->fd);
  r->fd = -1;
}

/* zs_vma_release_range - see vma.h. Only this process's own cache entry is
 * released: another process's (a fork child's stale value) is not in this
 * descriptor table. */
void zs_vma_release_range(unsigned first, unsigned last) {
  uint64_t cur = atomic_load_explicit(&g_maps, memory_order_acquire);
  int fd = zs_slot_fd(cur);
  if (fd < 0 || (unsigned)fd < first || (unsigned)fd > last)
    return;
  if (zs_slot_pid(cur) != (uint32_t)getpid())
    return;
  atomic_compare_exchange_strong_explicit(&g_maps, &cur, ZS_NOFD, memory_order_acq_rel,
                                          memory_order_acquire);
}

/* zs_vma_release_fd - see vma.h. */
void zs_vma_release_fd(int fd) {
  if (fd >= 0)
    zs_vma_release_range((unsigned)fd, (unsigned)fd);
}

/* See vma.h.  Closes the cached descriptor if there is one; idempotent. */
void zs_vma_forget_fd(void) {
  uint64_t old = atomic_exchange_explicit(&g_maps, ZS_NOFD, memory_order_acq_rel);
  int fd = zs_slot_fd(old);
  if (fd >= 0)
    zs_close_keep_errno(fd);
}

/* zs_map_files_rel - "self/map_files/START-END" (lower-case hex, as the
 * kernel names it) into path, which has room for ZS_MAP_FILES_PATH_MAX. */
static void zs_map_files_rel(uintptr_t start, uintptr_t end, char *path) {
  static const char prefix[] = "self/map_files/";
  size_t n = sizeof prefix - 1;
  memcpy(path, prefix, n);
  uintptr_t bounds[2] = {start, end};
  for (int i = 0; i < 2; i++) {
    char digits[16];
    int k = 0;
    uintptr_t x = bounds[i];
    do {
      digits[k++] = "0123456789abcdef"[x & 15];
      x >>= 4;
    } while (x);
    while (k > 0)
      path[n++] = digits[--k];
    path[n++] = i == 0 ? '-' : 0;
  }
}

/* zs_vma_map_files_path - see vma.h. */
void zs_vma_map_files_path(uintptr_t start, uintptr_t end, char *path) {
  memcpy(path, "/proc/", 6);
  zs_map_files_rel(start, end, path + 6);
}

/* zs_vma_open_map_file - see vma.h. */
int zs_vma_open_map_file(uintptr_t start, uintptr_t end, int flags) {
  char rel[ZS_MAP_FILES_PATH_MAX];
  zs_map_files_rel(start, end, rel);
  return zs_vma_proc_open(rel, flags);
}

/* ---- /proc/self/mountinfo ---- */

/*
 * zs_unescape_path - undo the octal escapes (\040 space, \011 tab, \012
 * newline, \134 backslash) mountinfo uses in paths, in place.
 */
static void zs_unescape_path(char *s) {
  char *w = s;
  for (const char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
        r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/*
 * zs_next_field - the next space-separated field of a line: NUL-terminates
 * it in place and advances *p past it.  Returns NULL at end of line.
 */
static char *zs_next_field(char **p) {
  char *s = *p;
  while (*s == ' ')
    s++;
  if (!*s)
    return NULL;
  char *f = s;
  while (*s && *s != ' ')
    s++;
  if (*s)
    *s++ = '\0';
  *p = s;
  return f;
}

/*
 * zs_fs_magic_by_name - the magic for a mountinfo fs type when statfs
 * could not be used on the mount point (overmounted, no access, a root
 * that is not the one the mount points are relative to).  Only names that
 * make the shim do less are believed: pseudo filesystems (their mappings
 * are left alone) and persistent ones.  tmpfs, hugetlbfs and every unknown
 * name are ZS_FS_UNVERIFIED (treated as persistent): a memory filesystem
 * is never concluded from a name the shim could not check.  *bsize 0.
 */
static unsigned long zs_fs_magic_by_name(const char *type, uint64_t *bsize) {
  static const struct {
    const char *name;
    unsigned long magic;
  } tab[] = {
      {"devtmpfs", ZS_FS_DEVTMPFS}, {"proc", 0x9fa0UL},        {"sysfs", 0x62656572UL},
      {"debugfs", 0x64626720UL},  {"tracefs", 0x74726163UL},   {"devpts", 0x1cd1UL},
      {"ext4", 0xEF53UL},         {"ext3", 0xEF53UL},          {"ext2", 0xEF53UL},
      {"xfs", 0x58465342UL},      {"btrfs", 0x9123683EUL},
  };
  *bsize = 0;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(type, tab[i].name) == 0)
      return tab[i].magic;
  return ZS_FS_UNVERIFIED;
}

/*
 * See vma.h.  For each mountinfo line with that device: if stat() of its
 * mount point shows the same device, statfs() of it gives the answer (f_type,
 * f_bsize), except that devtmpfs (which statfs reports as tmpfs) is
 * ZS_FS_DEVTMPFS.  A mount that cannot be checked so (overmounted, no
 * access, btrfs subvolume devices, a mount point path that does not lead
 * to it from this root) is answered from its type name by
 * zs_fs_magic_by_name (never tmpfs or hugetlbfs), after the other mounts
 * of the device were tried.  0 if none has the device (internal mounts,
 * and in a chroot, mounts outside it, which mountinfo does not list);
 * ZS_FS_UNVERIFIED if mountinfo cannot be read at all.
 */
unsigned long zs_vma_fs_type(uint32_t dev_major, uint32_t dev_minor, uint64_t *bsize) {
  struct zs_lines r;
  char line[ZS_MOUNTINFO_LINE];
  size_t len;
  bool trunc;
  unsigned long fallback = 0;
  uint64_t fallback_bsize = 0;
  dev_t want = makedev(dev_major, dev_minor);

  if (bsize)
    *bsize = 0;
  r.fd = zs_open_ro("self/mountinfo");
  if (r.fd < 0)
    return ZS_FS_UNVERIFIED; /* cannot ask: not "internal", just unknown */
  r.off = 0;
  r.pos = r.len = 0;
  for (;;) {
    int k = zs_lines_next(&r, line, sizeof line, &len, &trunc);
    if (k <= 0)
      break;
    /* 36 35 98:0 /root /mnt opts [optional...] - type source superopts */
    char *p = line;
    char *f_id = zs_next_field(&p), *f_parent = zs_next_field(&p);
    char *f_dev = zs_next_field(&p), *f_root = zs_next_field(&p);
    char *f_mnt = zs_next_field(&p);
    (void)f_id, (void)f_parent, (void)f_root;
    if (!f_dev || !f_mnt)
      continue;
    const char *d = f_dev;
    uint64_t maj, min;
    if (!zs_parse_dec(&d, &maj) || !zs_expect(&d, ':') || !zs_parse_dec(&d, &min) || *d ||
        maj != dev_major || min != dev_minor)
      continue;
    char *type = NULL, *f;
    while ((f = zs_next_field(&p)) != NULL) {
      if (strcmp(f, "-") == 0) {
        type = zs_next_field(&p);
        break;
      }
    }
    bool is_devtmpfs = type && strcmp(type, "devtmpfs") == 0;
    /* A truncated line is usable only if its type (and so the whole mount
     * point before it) was kept. */
    if (!type)
      continue;
    zs_unescape_path(f_mnt);
    struct stat st;
    struct statfs sfs;
    if (stat(f_mnt, &st) == 0 && st.st_dev == want && statfs(f_mnt, &sfs) == 0) {
      unsigned long magic = (unsigned long)(uint32_t)sfs.f_type;
      if (is_devtmpfs)
        magic = ZS_FS_DEVTMPFS;
      if (bsize)
        *bsize = (uint64_t)sfs.f_bsize;
      zs_close_keep_errno(r.fd);
      return magic;
    }
    if (!fallback)
      fallback = zs_fs_magic_by_name(type, &fallback_bsize);
  }
  zs_close_keep_errno(r.fd);
  if (bsize)
    *bsize = fallback_bsize;
  return fallback;
}
