/*
 * init.c - bringing the shim up: the real functions, the configuration,
 * the kernel's capabilities, the log, the /proc descriptor, fork handlers.
 *
 * The top of the core: it may use every layer below; nothing but the
 * wrappers (whose constructor calls zs_init at load) and tests uses it.
 */
#define _GNU_SOURCE
#include "init.h"
#include "config.h"
#include "fdguard.h"
#include "hooks.h"
#include "log.h"
#include "registry.h"
#include "state.h"
#include "stats.h"
#include "sys.h"
#include "vma.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* resolve_real - the next definitions of the wrapped functions. A NULL
 * result leaves the raw syscall in use (see sys.c). */
static void resolve_real(void) {
  zs_state.real.mmap = dlsym(RTLD_NEXT, "mmap");
  zs_state.real.munmap = dlsym(RTLD_NEXT, "munmap");
  zs_state.real.mremap = dlsym(RTLD_NEXT, "mremap");
  zs_state.real.madvise = dlsym(RTLD_NEXT, "madvise");
  zs_state.real.shmat = dlsym(RTLD_NEXT, "shmat");
  zs_state.real.shmdt = dlsym(RTLD_NEXT, "shmdt");
  zs_state.real.close = dlsym(RTLD_NEXT, "close");
  zs_state.real.close_range = dlsym(RTLD_NEXT, "close_range");
  zs_state.real.dup2 = dlsym(RTLD_NEXT, "dup2");
  zs_state.real.dup3 = dlsym(RTLD_NEXT, "dup3");
}

/* Fork: the registry lock is held across fork so the child never inherits
 * it mid-change; the child then drops the parent's /proc/self/maps fd. */
static void fork_prepare(void) {
  atomic_store_explicit(&zs_state.has_forked, true, memory_order_relaxed);
  zs_registry_wrlock();
}
static void fork_parent(void) { zs_registry_unlock(); }
static void fork_child(void) {
  zs_fdguard_set_owner();
  zs_registry_reset_after_fork();
  zs_hooks_fork_child();
  zs_vma_forget_fd();
}

/* finish_init - the steps of zs_init after the real functions are known.
 * Returns the phase the shim ends in. */
static int finish_init(void) {
  zs_state.page_size = (size_t)sysconf(_SC_PAGESIZE);
  zs_config_load(&zs_state.cfg);
  if (zs_state.cfg.excluded)
    return ZS_DISABLED; /* ZAPSHIM_RESTRICT_EXE: not this program */
  if (zs_state.cfg.stats)
    zs_stats_enable();
  zs_kernel_detect(zs_state.cfg.kernel_override, &zs_state.caps);
  if (!zs_state.caps.supported) {
    zs_warn("kernels older than 4.3 are not supported (no hugetlbfs fallocate);"
            " zapshim passes every call through", NULL);
    return ZS_DISABLED;
  }
  zs_vma_init();
  zs_fdguard_set_owner();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  return ZS_READY;
}

/* zs_init - see init.h. Exactly one caller runs the init; every call
 * that arrives meanwhile (dlsym's calloc, another thread) returns false at
 * once and its wrapper passes through. */
bool zs_init(void) {
  int phase = atomic_load_explicit(&zs_state.phase, memory_order_acquire);
  if (phase != ZS_UNINIT)
    return phase == ZS_READY;
  int expected = ZS_UNINIT;
  if (!atomic_compare_exchange_strong(&zs_state.phase, &expected, ZS_INITIALIZING))
    return false;
  resolve_real();
  int final = finish_init();
  atomic_store_explicit(&zs_state.phase, final, memory_order_release);
  return final == ZS_READY;
}

