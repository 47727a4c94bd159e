/*
 * forkmark.c - the pid kept on a page wiped in every fork child (see
 * forkmark.h).
 */
#define _GNU_SOURCE
#include "forkmark.h"
#include "rawcall.h"
#include "state.h"
#include "sys.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* What a page of the shim's own holds: the pid, 0 in a fork child. */
struct mark {
  _Atomic uint32_t pid;
};

/* The page, NULL before the first call; NO_PAGE if none could be made
 * (every call then asks getpid).  The pointer itself is inherited by a
 * child, which then reads its own, wiped, copy of the page. */
#define NO_PAGE ((struct mark *)1)
/* In .data, not .bss: written at every load, it would cost a page of its
 * own a zero-fill fault (the loader writes the .data page anyway). */
static _Atomic(struct mark *) g_mark __attribute__((section(".data")));

/* wipe_on_fork - madvise(MADV_WIPEONFORK) on the shim's own page, made
 * with the CPU's instruction where there is one (no libc function to look
 * up at load).  Returns 0 or -1. */
static int wipe_on_fork(void *page, size_t len) {
#if ZS_HAVE_RAWCALL
  return zs_rawcall(SYS_madvise, (long)page, (long)len, MADV_WIPEONFORK, 0, 0, 0) == 0 ? 0 : -1;
#else
  return zs_sys_madvise(page, len, MADV_WIPEONFORK);
#endif
}

/* make_mark - a fresh page marked MADV_WIPEONFORK, published once: a
 * thread that loses the race gives its own page back and uses the
 * winner's.  Returns the page, or NO_PAGE if none can be had. */
static struct mark *make_mark(void) {
  size_t len = zs_state.page_size ? zs_state.page_size : (size_t)sysconf(_SC_PAGESIZE);
  struct mark *m = zs_sys_storage(len);
  if (m == NULL || m == MAP_FAILED)
    m = NO_PAGE;
  else if (wipe_on_fork(m, len) != 0) {
    zs_sys_munmap(m, len);
    m = NO_PAGE;
  }
  struct mark *expected = NULL;
  if (atomic_compare_exchange_strong(&g_mark, &expected, m))
    return m;
  if (m != NO_PAGE)
    zs_sys_munmap(m, len);
  return expected;
}

/* refresh - ask getpid and put the answer on page m (if there is one).
 * Returns the pid. */
static uint32_t refresh(struct mark *m) {
  uint32_t pid = (uint32_t)syscall(SYS_getpid);
  if (m != NULL && m != NO_PAGE)
    atomic_store_explicit(&m->pid, pid, memory_order_relaxed);
  return pid;
}

/* zs_forkmark_init - see forkmark.h. */
uint32_t zs_forkmark_init(void) {
  struct mark *m = atomic_load_explicit(&g_mark, memory_order_acquire);
  return refresh(m != NULL ? m : make_mark());
}

/* zs_forkmark_pid - see forkmark.h. */
uint32_t zs_forkmark_pid(void) {
  struct mark *m = atomic_load_explicit(&g_mark, memory_order_acquire);
  if (m != NULL && m != NO_PAGE) {
    uint32_t pid = atomic_load_explicit(&m->pid, memory_order_relaxed);
    if (pid != 0)
      return pid;
  }
  return refresh(m);
}
