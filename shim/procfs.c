/*
 * procfs.c - the /proc directory kept from load, and opening files under
 * it (see procfs.h).
 *
 * The kept descriptor is the one piece of shared state; it is published
 * with a compare-exchange and checked by identity (device and inode) before
 * each use, since the program may close its number with a raw syscall and
 * reuse it.  Raw syscalls only: never interposed, never a cancellation
 * point.
 */
#define _GNU_SOURCE /* O_PATH */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rawcall.h"
#include "sys.h"

#define ZS_PROC_SUPER_MAGIC 0x9fa0L

/*
 * The descriptor of /proc opened by zs_vma_init (O_PATH, at a high
 * number), -1 if none, and its identity: a number that no longer names
 * that directory (closed by a raw syscall, then reused) is the program's
 * and is neither used nor closed.  Inherited by fork children, where
 * "self" still resolves to the caller.
 *
 * Whether it is procfs is asked once, on first use, not at load (a
 * program that never opens a file under /proc through the shim pays
 * nothing for it): the identity check before each use proves the number
 * still holds the very file opened at load, so that answer is the load's.
 * Until the answer is known nothing is opened relative to it.
 */
enum { PROC_UNCHECKED = 0, PROC_IS_PROCFS = 1 };
static struct {
  _Atomic int fd;
  _Atomic int checked; /* PROC_UNCHECKED or PROC_IS_PROCFS */
  _Atomic uint64_t dev;
  _Atomic uint64_t ino;
} g_proc = {.fd = -1}; /* initialized, so in .data: on the page the load
                        * writes anyway, not on a bss page of its own */

/* proc_fstat - fstat(2) of fd with the instruction itself (the same
 * newfstatat glibc makes): no libc function to bind at load, errno
 * untouched.  Returns 0 or -errno. */
static long proc_fstat(int fd, struct stat *st) {
#if ZS_HAVE_RAWCALL
  return zs_rawcall(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH, 0, 0);
#else
  int e = errno;
  long r = fstat(fd, st) == 0 ? 0 : -(long)errno;
  errno = e;
  return r;
#endif
}

/* proc_fstatfs - fstatfs(2) of fd, as proc_fstat.  Returns 0 or -errno. */
static long proc_fstatfs(int fd, struct statfs *sfs) {
#if ZS_HAVE_RAWCALL
  return zs_rawcall(SYS_fstatfs, fd, (long)sfs, 0, 0, 0, 0);
#else
  int e = errno;
  long r = fstatfs(fd, sfs) == 0 ? 0 : -(long)errno;
  errno = e;
  return r;
#endif
}

/* zs_proc_is - true if fd is open and is the /proc directory kept at load. */
static bool zs_proc_is(int fd) {
  struct stat st;
  return fd >= 0 && proc_fstat(fd, &st) == 0 &&
         (uint64_t)st.st_dev == atomic_load_explicit(&g_proc.dev, memory_order_relaxed) &&
         (uint64_t)st.st_ino == atomic_load_explicit(&g_proc.ino, memory_order_relaxed);
}

/* zs_proc_forget - stop using fd (the number kept, as loaded by the
 * caller); closed only if close_it (it is still ours) and this call is the
 * one that took it out of g_proc.fd. */
static void zs_proc_forget(int fd, bool close_it) {
  if (atomic_compare_exchange_strong_explicit(&g_proc.fd, &fd, -1, memory_order_acq_rel,
                                              memory_order_relaxed) &&
      close_it)
    zs_rawcall(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* zs_proc_check - true once fd (ours, by identity) is known to be
 * procfs; asks fstatfs the first time.  A directory that is not procfs (a
 * stand-in mounted there before load) is forgotten and closed: the path
 * is used from then on, as when nothing could be kept.  A failed fstatfs
 * answers false for this call only. */
static bool zs_proc_check(int fd) {
  if (atomic_load_explicit(&g_proc.checked, memory_order_acquire) == PROC_IS_PROCFS)
    return true;
  struct statfs sfs;
  if (proc_fstatfs(fd, &sfs) != 0)
    return false;
  if (sfs.f_type != ZS_PROC_SUPER_MAGIC) {
    zs_proc_forget(fd, true);
    return false;
  }
  atomic_store_explicit(&g_proc.checked, PROC_IS_PROCFS, memory_order_release);
  return true;
}

/* zs_proc_dirfd - the kept /proc descriptor if it still is ours and is
 * procfs; a number that is not ours is forgotten (never closed: it is the
 * program's now).  Returns the descriptor or -1. */
static int zs_proc_dirfd(void) {
  int fd = atomic_load_explicit(&g_proc.fd, memory_order_acquire);
  if (fd < 0)
    return -1;
  if (!zs_proc_is(fd)) {
    zs_proc_forget(fd, false);
    return -1;
  }
  return zs_proc_check(fd) ? fd : -1;
}

/* See procfs.h.  open, fstat, fcntl(F_DUPFD_CLOEXEC) (and prlimit64 to
 * find a high number: sys.c), close; whether it is procfs is asked on
 * first use (zs_proc_check). */
int zs_vma_init(void) {
  if (atomic_load_explicit(&g_proc.fd, memory_order_acquire) >= 0)
    return 0;
  int fd = (int)zs_rawcall(SYS_openat, AT_FDCWD, (long)"/proc", O_PATH | O_DIRECTORY | O_CLOEXEC,
                           0, 0, 0);
  if (fd < 0)
    return -fd;
  struct stat st;
  long r = proc_fstat(fd, &st);
  int hi = r ? -1 : zs_sys_dup_high(fd);
  zs_rawcall(SYS_close, fd, 0, 0, 0, 0, 0);
  if (r)
    return (int)-r;
  if (hi < 0)
    return -hi; /* no high number to spare: the path is used */
  atomic_store_explicit(&g_proc.dev, (uint64_t)st.st_dev, memory_order_relaxed);
  atomic_store_explicit(&g_proc.ino, (uint64_t)st.st_ino, memory_order_relaxed);
  zs_sys_note_fd(hi);
  int none = -1;
  if (!atomic_compare_exchange_strong_explicit(&g_proc.fd, &none, hi, memory_order_acq_rel,
                                               memory_order_relaxed))
    syscall(SYS_close, hi);
  return 0;
}

/* zs_vma_proc_fd - see procfs.h. */
int zs_vma_proc_fd(void) {
  return zs_proc_dirfd();
}

/* zs_vma_proc_owns - see procfs.h. */
int zs_vma_proc_owns(int fd) {
  return fd >= 0 && fd == atomic_load_explicit(&g_proc.fd, memory_order_acquire) &&
         zs_proc_is(fd);
}

/* zs_vma_proc_relocate - see procfs.h. */
int zs_vma_proc_relocate(int fd) {
  if (!zs_vma_proc_owns(fd))
    return 0;
  int hi = zs_sys_dup_high(fd);
  int want = fd;
  if (!atomic_compare_exchange_strong_explicit(&g_proc.fd, &want, hi >= 0 ? hi : -1,
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

/* See procfs.h.  The kept directory first; the path if that is gone or
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

/* See procfs.h.  Same order as zs_vma_proc_open. */
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

/* zs_put_pid - "self" (pid 0) or the decimal pid at buf; returns the
 * length written (at most 10). */
static size_t zs_put_pid(pid_t pid, char *buf) {
  if (pid <= 0) {
    memcpy(buf, "self", 4);
    return 4;
  }
  char digits[12];
  size_t k = 0, n = 0;
  unsigned v = (unsigned)pid;
  do
    digits[k++] = (char)('0' + v % 10);
  while ((v /= 10) && k < sizeof digits);
  while (k > 0)
    buf[n++] = digits[--k];
  return n;
}

/* zs_proc_close - see procfs.h. */
void zs_proc_close(int fd) {
  int e = errno;
  syscall(SYS_close, fd);
  errno = e;
}

/* zs_proc_open_of - see procfs.h. */
int zs_proc_open_of(pid_t pid, const char *leaf, int flags) {
  char rel[48];
  size_t n = zs_put_pid(pid, rel), l = strlen(leaf);
  if (n + 1 + l + 1 > sizeof rel) {
    errno = ENAMETOOLONG;
    return -1;
  }
  rel[n++] = '/';
  memcpy(rel + n, leaf, l + 1);
  return zs_vma_proc_open(rel, flags);
}

/* zs_proc_reachable - see procfs.h. */
int zs_proc_reachable(void) {
  if (zs_proc_dirfd() >= 0)
    return 1;
  struct statfs sfs;
  int e = errno;
  int ok = statfs("/proc", &sfs) == 0 && sfs.f_type == ZS_PROC_SUPER_MAGIC;
  errno = e;
  return ok;
}

/* zs_map_files_rel - "PID/map_files/START-END" ("self/..." for pid 0;
 * lower-case hex, as the kernel names it) into path, which has room for
 * ZS_MAP_FILES_PATH_MAX. */
static void zs_map_files_rel(pid_t pid, uintptr_t start, uintptr_t end, char *path) {
  static const char mid[] = "/map_files/";
  size_t n = zs_put_pid(pid, path);
  memcpy(path + n, mid, sizeof mid - 1);
  n += sizeof mid - 1;
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

/* zs_vma_open_map_file - see procfs.h. */
int zs_vma_open_map_file(uintptr_t start, uintptr_t end, int flags) {
  return zs_proc_open_map_file_of(0, start, end, flags);
}

/* zs_proc_open_map_file_of - see procfs.h. */
int zs_proc_open_map_file_of(pid_t pid, uintptr_t start, uintptr_t end, int flags) {
  char rel[ZS_MAP_FILES_PATH_MAX];
  zs_map_files_rel(pid, start, end, rel);
  return zs_vma_proc_open(rel, flags);
}
