/*
 * state.h - the one global state of zapshim.
 *
 * Everything the shim remembers between calls lives in zs_state, except
 * the registry's tree and the kept-descriptor table, which their own files
 * own.  zs_state is written only by zs_init() (once, before phase becomes
 * ZS_READY) and by the fork child handler; after that it is read-only, so
 * the wrappers read it without a lock -- but for the memory functions of
 * real, whose stubs (init.c) put the next definition in their own slot
 * once they have looked it up (one atomic pointer store each).
 */
#ifndef ZS_STATE_H
#define ZS_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "kernel.h"

enum zs_phase {
  ZS_UNINIT = 0,   /* nothing done yet */
  ZS_INITIALIZING, /* zs_init() is running: every call passes straight through */
  ZS_READY,        /* registry and policy active */
  ZS_DISABLED      /* passing everything through (unsupported kernel, scoping) */
};

/* The libc functions the shim stands in front of. */
struct zs_real {
  void *(*mmap)(void *, size_t, int, int, int, off_t);
  int (*munmap)(void *, size_t);
  void *(*mremap)(void *, size_t, size_t, int, ...);
  int (*madvise)(void *, size_t, int);
  void *(*shmat)(int, const void *, int);
  int (*shmdt)(const void *);
  int (*close)(int);
  int (*close_range)(unsigned, unsigned, int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
};

struct zs_config {
  unsigned kernel_override; /* ZAPSHIM_KERNEL as ZS_KVER, 0 if unset */
  bool verify;              /* ZAPSHIM_VERIFY=1 */
  bool stats;               /* ZAPSHIM_STATS=1 */
  bool excluded;            /* ZAPSHIM_RESTRICT_EXE does not name this program */
  bool named_files_zap;     /* ZAPSHIM_NAMED_FILES=zap: linked tmpfs/hugetlbfs files are zapped too */
};

struct zs_state {
  _Atomic int phase;        /* enum zs_phase */
  struct zs_real real;      /* NULL entries: use the raw syscall */
  struct zs_config cfg;
  struct zs_caps caps;
  size_t page_size;         /* base page size (sysconf) */
  /* Learned on first use, by whichever thread needs them first (atomic: two
   * threads may learn at once; both find the same value). */
  _Atomic size_t default_huge_size; /* Hugepagesize of /proc/meminfo, 0 if none; see zs_default_huge_size() */
  _Atomic uint32_t shm_dev;         /* internal shmem device (zs_dev_pack), 0 unknown; see zs_shm_dev() */
  int log_fd;               /* ZAPSHIM_LOG destination, -1 when silent */
  /* Set when fork() first runs (in parent and child alike): from then on a
   * private mapping not marked MADV_DONTFORK may be shared with another
   * process, so its file is never punched for it. */
  _Atomic bool has_forked;
  /* The lowest descriptor number the shim ever held (INT_MAX: none): the
   * wrappers' cheap filter, numbers below it are never the shim's. See
   * zs_sys_note_fd(). */
  _Atomic int lowest_fd;
};

extern struct zs_state zs_state;

/* zs_ready - true once zs_init() (init.h) finished and the shim is active. */
static inline bool zs_ready(void) {
  return atomic_load_explicit(&zs_state.phase, memory_order_acquire) == ZS_READY;
}

/*
 * zs_enter - true if this call may use the shim's locks and tables: the
 * shim is ready and this thread is not already inside it (a signal handler
 * that interrupted a wrapper, or the shim's own calls). Pair with
 * zs_leave(). A false answer means: pass straight through (or, for a zap,
 * use the kernel's view alone), so nothing can deadlock on a lock this
 * thread already holds.
 */
/* Nonzero while this thread is inside the shim (state.c). */
extern __thread int zs_inside __attribute__((tls_model("initial-exec")));

static inline bool zs_enter(void) {
  if (zs_inside || !zs_ready())
    return false;
  zs_inside = 1;
  return true;
}
static inline void zs_leave(void) { zs_inside = 0; }

#endif
