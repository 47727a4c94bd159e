/*
 * vma.c - what the kernel says is mapped at an address, for this process
 * or any other (see vma.h).
 *
 * Two readers over the same code (mapsfile.c):
 *  - zs_maps_*: a descriptor of /proc/PID/maps owned by the caller;
 *  - zs_vma_query: this process, on a descriptor of /proc/self/maps cached
 *    for PROCMAP_QUERY (published with a compare-exchange, tagged with the
 *    owner's pid so a fork child never asks with its parent's; the pid
 *    comes from forkmark.h, a load on the common path), or a fresh
 *    read of the file where the kernel lacks the ioctl.
 * When /proc cannot be reached, queries say ZS_VMA_UNAVAILABLE, never
 * ENOENT: ENOENT means only "the kernel answered: nothing there".
 *
 * No malloc, no stdio, no locks: async-signal-safe, a few KiB of stack.
 */
#define _GNU_SOURCE
#include "vma.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "forkmark.h"
#include "mapsfile.h"
#include "procfs.h"
#include "state.h"
#include "sys.h"

/*
 * zs_vma_query_maps - zs_mapsfile_parse of a fresh descriptor of
 * /proc/self/maps.  Returns what it returns, or ZS_VMA_UNAVAILABLE if the
 * file cannot be opened.
 */
static int zs_vma_query_maps(uintptr_t addr, struct zs_vma *out) {
  int fd = zs_vma_proc_open("self/maps", O_RDONLY);
  if (fd < 0)
    return ZS_VMA_UNAVAILABLE;
  int rc = zs_mapsfile_parse(fd, addr, out);
  zs_proc_close(fd);
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
  int fd = zs_vma_proc_open("self/maps", O_RDONLY);
  int floor = zs_sys_fd_floor();
  if (fd < 0 || (floor >= 0 && fd >= floor))
    return fd;
  int hi = zs_sys_dup_high(fd);
  zs_proc_close(fd); /* never cache a number the program may want */
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
  uint32_t pid = zs_forkmark_pid();
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
      zs_proc_close(nfd);
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
    zs_proc_close(nfd);
  }
  errno = EAGAIN;
  return -1;
}

/* zs_open_failure - what a query answers when /proc/self/maps could not be
 * opened with errno e: EMFILE/ENFILE as they are (the caller may still read
 * maps once without caching), anything else ZS_VMA_UNAVAILABLE. */
static int zs_open_failure(int e) {
  return e == EMFILE || e == ENFILE ? e : ZS_VMA_UNAVAILABLE;
}

/*
 * zs_vma_query_pmq - zs_mapsfile_query (or, if !name, its bare variant) on
 * the cached /proc/self/maps descriptor.  A descriptor that fails for any
 * reason but ENOENT (closed or replaced by the program, a parent's after
 * fork) is replaced once and the query retried.  Returns 0, ENOENT (the
 * ioctl's own answer), EMFILE/ENFILE, ZS_VMA_UNAVAILABLE, or the ioctl's
 * errno.
 */
static int zs_vma_query_pmq(uintptr_t addr, struct zs_vma *out, bool name) {
  int fd = zs_maps_fd(-1);
  if (fd < 0)
    return zs_open_failure(errno);
  for (int attempt = 0;; attempt++) {
    int rc = name ? zs_mapsfile_query(fd, addr, out) : zs_mapsfile_query_bare(fd, addr, out);
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

/* vma_query - zs_vma_query, with or without the name.  PROCMAP_QUERY when
 * zs_state.caps.procmap_query allows it and the kernel answers it; the
 * first ENOTTY/EINVAL turns it off for good (checked here, on first use,
 * rather than at load: process start stays cheap). Maps otherwise. */
static int vma_query(uintptr_t addr, struct zs_vma *out, bool name) {
  if (zs_pmq_usable()) {
    int rc = zs_vma_query_pmq(addr, out, name);
    if (rc == EMFILE || rc == ENFILE)
      return zs_vma_query_maps(addr, out); /* no high number to cache: read maps once */
    if (rc != ENOTTY && rc != EINVAL)
      return rc;
    atomic_store_explicit(&g_pmq_missing, true, memory_order_relaxed);
  }
  return zs_vma_query_maps(addr, out);
}

/* See vma.h. */
int zs_vma_query(uintptr_t addr, struct zs_vma *out) {
  return vma_query(addr, out, true);
}

/* See vma.h. */
int zs_vma_query_bare(uintptr_t addr, struct zs_vma *out) {
  return vma_query(addr, out, false);
}

/* See vma.h.  One open (through the /proc kept from load), nothing read
 * yet: the process's right to be read is checked by the kernel here. */
int zs_maps_open(struct zs_maps *r, pid_t pid) {
  r->pid = pid > 0 ? pid : 0;
  r->fd = -1;
  r->pmq = 0;
  if (pid < 0)
    return ESRCH;
  int fd = zs_proc_open_of(pid, "maps", O_RDONLY);
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
    int rc = zs_mapsfile_query(r->fd, addr, out);
    if (rc != ENOTTY && rc != EINVAL)
      return rc;
    r->pmq = 0;
    atomic_store_explicit(&g_pmq_missing, true, memory_order_relaxed);
  }
  return zs_mapsfile_parse(r->fd, addr, out);
}

/* See vma.h.  Idempotent. */
void zs_maps_close(struct zs_maps *r) {
  if (r->fd >= 0)
    zs_proc_close(r->fd);
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
  if (zs_slot_pid(cur) != zs_forkmark_pid())
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
    zs_proc_close(fd);
}
