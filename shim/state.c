/*
 * state.c - the one global state, and bringing the shim up.
 */
#define _GNU_SOURCE
#include "state.h"
#include "classify.h"
#include "config.h"
#include "fdguard.h"
#include "hooks.h"
#include "log.h"
#include "registry.h"
#include "stats.h"
#include "vma.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct zs_state zs_state = {
  .phase = ZS_UNINIT,
  .log_fd = -1,
};

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

/* read_default_huge_size - Hugepagesize from /proc/meminfo in bytes, 0 if
 * the kernel has no huge pages. Reads into a stack buffer, no stdio. */
static size_t read_default_huge_size(void) {
  char buf[8192];
  int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  const char *p = strstr(buf, "Hugepagesize:");
  if (!p)
    return 0;
  p += strlen("Hugepagesize:");
  while (*p == ' ')
    p++;
  size_t kb = 0;
  while (*p >= '0' && *p <= '9')
    kb = kb * 10 + (size_t)(*p++ - '0');
  return kb * 1024;
}

/* zs_default_huge_size - see state.h. Threads that race on the first use
 * each read /proc/meminfo and store the same value. */
size_t zs_default_huge_size(void) {
  static atomic_bool known;
  if (!atomic_load_explicit(&known, memory_order_acquire)) {
    if (!zs_state.default_huge_size)
      zs_state.default_huge_size = read_default_huge_size();
    atomic_store_explicit(&known, true, memory_order_release);
  }
  return zs_state.default_huge_size;
}

/* zs_shm_dev - see state.h. Until it is known, every caller tries (racing
 * first callers create one memfd each and store the same device); after a
 * failure nobody tries again. */
uint32_t zs_shm_dev(void) {
  static atomic_bool failed;
  uint32_t dev = zs_state.shm_dev;
  if (!dev && !atomic_load_explicit(&failed, memory_order_relaxed)) {
    if (zs_classify_learn_shm_dev() != 0)
      atomic_store_explicit(&failed, true, memory_order_relaxed);
    dev = zs_state.shm_dev;
  }
  return dev;
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

/* zs_init - see state.h. Exactly one caller runs the init; every call
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

/* Nonzero while this thread is inside the shim. initial-exec: no
 * allocation on first use, safe in a preloaded library. */
static __thread int inside __attribute__((tls_model("initial-exec")));

/* zs_enter - see state.h. */
bool zs_enter(void) {
  if (inside || !zs_init())
    return false;
  inside = 1;
  return true;
}

/* zs_leave - see state.h. */
void zs_leave(void) {
  inside = 0;
}

/* Bring the shim up when the library loads, before main(). */
__attribute__((constructor)) static void zs_constructor(void) {
  zs_init();
}
