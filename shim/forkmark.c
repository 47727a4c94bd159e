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
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* What a page of the shim's own holds: the pid, 0 in a fork child (and
 * before the first zs_forkmark_pid: nothing is written at load). */
struct mark {
  _Atomic uint32_t pid;
};

/* The page, NULL before zs_forkmark_init; NO_PAGE if none could be marked
 * (every call then asks getpid).  The pointer itself is inherited by a
 * child, which then reads its own, wiped, copy of the page. */
#define NO_PAGE ((struct mark *)1)
/* In .data, not .bss: written at every load, it would cost a page of its
 * own a zero-fill fault (the loader writes the .data page anyway). */
static _Atomic(struct mark *) g_mark __attribute__((section(".data")));

/* The page itself, where the base page is 4 KiB: a page of the image's
 * .bss, which the loader maps anonymous and private (what MADV_WIPEONFORK
 * needs) and nothing else shares.  Marking it costs one madvise at load
 * and no fault until the first pid is written; elsewhere a page is mapped. */
#define STATIC_PAGE 4096
static union {
  struct mark m;
  char page[STATIC_PAGE];
} static_page __attribute__((aligned(STATIC_PAGE)));

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

/* page_to_mark - the static page where the base page is STATIC_PAGE,
 * else a page mapped for it.  Returns the page and its length in *len, or
 * NULL. */
static struct mark *page_to_mark(size_t *len) {
  *len = zs_state.page_size ? zs_state.page_size : (size_t)sysconf(_SC_PAGESIZE);
  if (*len == STATIC_PAGE)
    return &static_page.m;
  void *m = zs_sys_storage(*len);
  return m == MAP_FAILED ? NULL : m;
}

/* zs_forkmark_init - see forkmark.h.  Once: a second call finds the page
 * published.  Two threads racing at load (never: the constructor runs
 * first) would both mark the static page, which is harmless. */
void zs_forkmark_init(void) {
  if (atomic_load_explicit(&g_mark, memory_order_acquire) != NULL)
    return;
  size_t len;
  struct mark *m = page_to_mark(&len);
  if (m == NULL)
    m = NO_PAGE;
  else if (wipe_on_fork(m, len) != 0) {
    if (m != &static_page.m)
      zs_sys_munmap(m, len);
    m = NO_PAGE;
  }
  struct mark *expected = NULL;
  if (!atomic_compare_exchange_strong(&g_mark, &expected, m) && m != NO_PAGE &&
      m != &static_page.m)
    zs_sys_munmap(m, len);
}

/* zs_forkmark_pid - see forkmark.h. */
uint32_t zs_forkmark_pid(void) {
  struct mark *m = atomic_load_explicit(&g_mark, memory_order_acquire);
  bool marked = m != NULL && m != NO_PAGE;
  if (marked) {
    uint32_t pid = atomic_load_explicit(&m->pid, memory_order_relaxed);
    if (pid != 0)
      return pid;
  }
  uint32_t pid = (uint32_t)syscall(SYS_getpid);
  if (marked)
    atomic_store_explicit(&m->pid, pid, memory_order_relaxed);
  return pid;
}
