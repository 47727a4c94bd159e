/*
 * fdguard.c - keeping the shim's own descriptors out of the program's way
 * (see fdguard.h).
 */
#define _GNU_SOURCE
#include "fdguard.h"
#include "fdkeep.h"
#include "log.h"
#include "state.h"
#include "sys.h"
#include "vma.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define ZS_FDGUARD_MAX 72 /* kept descriptors (at most 64 fit), the log, /proc */

/* The process whose descriptor table holds the shim's descriptors. */
static _Atomic int owner_pid;

/* zs_fdguard_set_owner - see fdguard.h.  Asked of getpid, as may_be_ours
 * asks it (not of forkmark.h, whose page is written on first use only). */
void zs_fdguard_set_owner(void) {
  atomic_store_explicit(&owner_pid, (int)syscall(SYS_getpid), memory_order_relaxed);
}

/* may_be_ours - cheap test: fd is at or above the lowest shim number and
 * this is the owning process. */
static bool may_be_ours(int fd) {
  if (fd < zs_sys_lowest_fd())
    return false;
  return zs_ready() && (int)syscall(SYS_getpid) == atomic_load_explicit(&owner_pid, memory_order_relaxed);
}

/* protected_fd - 1 if fd is a descriptor the shim must keep open: a kept
 * file, the kept /proc directory or the log, each matched by number AND
 * identity (device, inode): a number the program took over after a raw
 * close is the program's, and its close() really closes. */
static bool protected_fd(int fd) {
  return zs_log_owns(fd) || zs_fdkeep_owns(fd) || zs_vma_proc_owns(fd);
}

/* move_away - the program wants number fd: move whatever of the shim's is
 * there (number and identity) to another high number (the maps cache is
 * just forgotten). A number that is the program's is left alone: its
 * descriptor never enters the shim's tables. The number itself is left
 * for the caller's dup2 to replace. */
static void move_away(int fd) {
  zs_vma_release_fd(fd);
  if (zs_fdkeep_relocate(fd) > 0)
    return;
  if (zs_vma_proc_relocate(fd) > 0)
    return;
  if (zs_log_owns(fd)) {
    int hi = zs_sys_dup_high(fd);
    zs_state.log_fd = hi >= 0 ? hi : -1;
    if (hi >= 0)
      zs_sys_note_fd(hi);
  }
}

/* real_close - the next close(2). */
static int real_close(int fd) {
  return zs_state.real.close ? zs_state.real.close(fd) : (int)syscall(SYS_close, fd);
}

/* real_close_range - the next close_range(2). */
static int real_close_range(unsigned first, unsigned last, int flags) {
  if (zs_state.real.close_range)
    return zs_state.real.close_range(first, last, flags);
  return (int)syscall(SYS_close_range, first, last, flags);
}

/* zs_close - see fdguard.h. */
int zs_close(int fd) {
  if (!may_be_ours(fd) || !zs_enter())
    return real_close(fd);
  zs_vma_release_fd(fd);
  bool keep = protected_fd(fd);
  zs_leave();
  if (keep)
    return 0; /* the program's close loop succeeds; the descriptor stays */
  return real_close(fd);
}

/* protected_list - the shim's protected descriptors (number and
 * identity, as protected_fd), ascending, into out (cap entries). Returns
 * how many. */
static int protected_list(int *out, int cap) {
  int n = zs_fdkeep_list(out, cap - 2);
  if (zs_log_owns(zs_state.log_fd))
    out[n++] = zs_state.log_fd;
  int pfd = zs_vma_proc_fd();
  if (pfd >= 0)
    out[n++] = pfd;
  for (int i = 1; i < n; i++) /* insertion sort: a handful of entries */
    for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
      int t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

/* zs_close_range - see fdguard.h. The range is closed in the pieces
 * between the shim's protected descriptors. */
int zs_close_range(unsigned first, unsigned last, int flags) {
  unsigned probe = last > (unsigned)INT_MAX ? (unsigned)INT_MAX : last;
  if (first > last || (flags & CLOSE_RANGE_CLOEXEC) || !may_be_ours((int)probe) || !zs_enter())
    return real_close_range(first, last, flags);
  zs_vma_release_range(first, last);
  int fds[ZS_FDGUARD_MAX];
  int n = protected_list(fds, ZS_FDGUARD_MAX);
  zs_leave();
  unsigned from = first;
  for (int i = 0; i < n; i++) {
    unsigned fd = (unsigned)fds[i];
    if (fd < from || fd > last)
      continue;
    if (fd > from && real_close_range(from, fd - 1, flags) != 0)
      return -1;
    from = fd + 1;
  }
  if (from > last || from == 0)
    return 0;
  return real_close_range(from, last, flags);
}

/* zs_closefrom - see fdguard.h. */
void zs_closefrom(int lowfd) {
  if (lowfd < 0)
    lowfd = 0;
  zs_close_range((unsigned)lowfd, ~0U, 0);
}

/* guard_target - before a dup onto newfd: move the shim's descriptor away
 * if it has that number. */
static void guard_target(int oldfd, int newfd) {
  if (oldfd == newfd || !may_be_ours(newfd) || !zs_enter())
    return;
  move_away(newfd);
  zs_leave();
}

/* zs_dup2 - see fdguard.h. */
int zs_dup2(int oldfd, int newfd) {
  guard_target(oldfd, newfd);
  if (zs_state.real.dup2)
    return zs_state.real.dup2(oldfd, newfd);
  return (int)syscall(SYS_dup2, oldfd, newfd);
}

/* zs_dup3 - see fdguard.h. */
int zs_dup3(int oldfd, int newfd, int flags) {
  guard_target(oldfd, newfd);
  if (zs_state.real.dup3)
    return zs_state.real.dup3(oldfd, newfd, flags);
  return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
