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
#include "forkmark.h"
#include "hooks.h"
#include "log.h"
#include "rawcall.h"
#include "registry.h"
#include "state.h"
#include "stats.h"
#include "sys.h"
#include "vma.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/*
 * The memory functions' next definitions are looked up on first use, not
 * at load: most programs a VMM's environment reaches (every helper it
 * execs) never call one, and ten dlsym at every start were a good part of
 * what the preload cost an exec.  zs_state.real points at the stubs below
 * for good; each finds its definition once (one dlsym, kept in lazy_next)
 * and calls it.  None of these functions is async-signal-safe, so no
 * signal handler may make the first call; fork_prepare looks every one up
 * before a fork, so a child never needs dlsym's lock.  close, close_range,
 * dup2 and dup3 are async-signal-safe and called between fork and exec:
 * theirs are looked up at load (resolve_real).
 */
enum { LAZY_MMAP, LAZY_MUNMAP, LAZY_MREMAP, LAZY_MADVISE, LAZY_SHMAT, LAZY_SHMDT, N_LAZY };
static const char lazy_names[N_LAZY][8] = {"mmap", "munmap", "mremap", "madvise", "shmat", "shmdt"};
static _Atomic(void *) lazy_next[N_LAZY]; /* NULL: not looked up yet */
#define LAZY_NONE ((void *)lazy_names) /* looked up: no next definition */

/* Set while this thread is inside dlsym for a lookup: a wrapped call dlsym
 * makes meanwhile goes to the kernel. initial-exec: no allocation. */
static __thread bool looking_up __attribute__((tls_model("initial-exec")));

/* The slots of zs_state.real the stubs stand in: once the next definition
 * is known, the slot takes it (NULL if none: sys.c's raw syscall), and
 * calls skip the stub. */
static void **const lazy_slot[N_LAZY] = {
    (void **)&zs_state.real.mmap,    (void **)&zs_state.real.munmap,
    (void **)&zs_state.real.mremap,  (void **)&zs_state.real.madvise,
    (void **)&zs_state.real.shmat,   (void **)&zs_state.real.shmdt};

/* lazy_fn - the next definition of function i, looked up the first time
 * (and put in its zs_state.real slot); NULL if there is none or this
 * thread is looking one up (the caller then makes the raw system call).
 * Two threads may look up at once: both find the same definition. */
static void *lazy_fn(int i) {
  void *fn = atomic_load_explicit(&lazy_next[i], memory_order_acquire);
  if (fn)
    return fn == LAZY_NONE ? NULL : fn;
  if (looking_up)
    return NULL;
  looking_up = true;
  fn = dlsym(RTLD_NEXT, lazy_names[i]);
  looking_up = false;
  atomic_store_explicit(&lazy_next[i], fn ? fn : LAZY_NONE, memory_order_release);
  __atomic_store_n(lazy_slot[i], fn, __ATOMIC_RELAXED);
  return fn;
}

/* raw_ptr - a raw call's pointer result in libc's form (MAP_FAILED, or
 * (void *)-1 for shmat, with errno). */
static void *raw_ptr(long r) {
  return (void *)zs_rawcall_libc(r);
}

/* The stubs: the next definition's result and errno, or the kernel's. */
static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  void *(*fn)(void *, size_t, int, int, int, off_t) = lazy_fn(LAZY_MMAP);
  if (fn)
    return fn(addr, len, prot, flags, fd, off);
  return raw_ptr(zs_rawcall(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off));
}

static int real_munmap(void *addr, size_t len) {
  int (*fn)(void *, size_t) = lazy_fn(LAZY_MUNMAP);
  if (fn)
    return fn(addr, len);
  return (int)zs_rawcall_libc(zs_rawcall(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0));
}

/* real_mremap - the fifth argument is passed on as sys.c gives it (it
 * always passes one; mremap reads it only for MREMAP_FIXED or
 * MREMAP_DONTUNMAP). */
static void *real_mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  void *new_addr = va_arg(ap, void *);
  va_end(ap);
  void *(*fn)(void *, size_t, size_t, int, ...) = lazy_fn(LAZY_MREMAP);
  if (fn)
    return fn(old, old_len, new_len, flags, new_addr);
  return raw_ptr(zs_rawcall(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags,
                            (long)new_addr, 0));
}

static int real_madvise(void *addr, size_t len, int advice) {
  int (*fn)(void *, size_t, int) = lazy_fn(LAZY_MADVISE);
  if (fn)
    return fn(addr, len, advice);
  return (int)zs_rawcall_libc(zs_rawcall(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0));
}

static void *real_shmat(int id, const void *addr, int flags) {
  void *(*fn)(int, const void *, int) = lazy_fn(LAZY_SHMAT);
  if (fn)
    return fn(id, addr, flags);
  return raw_ptr(zs_rawcall(SYS_shmat, id, (long)addr, flags, 0, 0, 0));
}

static int real_shmdt(const void *addr) {
  int (*fn)(const void *) = lazy_fn(LAZY_SHMDT);
  if (fn)
    return fn(addr);
  return (int)zs_rawcall_libc(zs_rawcall(SYS_shmdt, (long)addr, 0, 0, 0, 0, 0));
}

/* lazy_prepare - before every fork, whatever the phase: each memory
 * function's next definition is looked up, so the child (limited to what
 * is async-signal-safe) never calls dlsym. Once all are known: 6 loads. */
static void lazy_prepare(void) {
  for (int i = 0; i < N_LAZY; i++)
    lazy_fn(i);
}

/* resolve_real - point zs_state.real at the next definitions: the
 * descriptor functions' now, the memory functions' stubs. A NULL result
 * leaves the raw syscall in use (see sys.c). */
static void resolve_real(void) {
  zs_state.real.mmap = real_mmap;
  zs_state.real.munmap = real_munmap;
  zs_state.real.mremap = real_mremap;
  zs_state.real.madvise = real_madvise;
  zs_state.real.shmat = real_shmat;
  zs_state.real.shmdt = real_shmdt;
  zs_state.real.close = dlsym(RTLD_NEXT, "close");
  zs_state.real.close_range = dlsym(RTLD_NEXT, "close_range");
  zs_state.real.dup2 = dlsym(RTLD_NEXT, "dup2");
  zs_state.real.dup3 = dlsym(RTLD_NEXT, "dup3");
  /* madvise is the call programs make from signal handlers (a balloon or
   * userfault handler zapping pages): its lookup is never left to one. */
  lazy_fn(LAZY_MADVISE);
  pthread_atfork(lazy_prepare, NULL, NULL);
}

/* Fork: the registry lock is held across
 * fork so the child never inherits it mid-change; the child then drops
 * the parent's /proc/self/maps fd. */
static void fork_prepare(void) {
  atomic_store_explicit(&zs_state.has_forked, true, memory_order_relaxed);
  zs_registry_wrlock();
}
static void fork_parent(void) { zs_registry_unlock(); }
static void fork_child(void) {
  /* forkmark: the child's page reads 0, so its first query asks getpid */
  zs_fdguard_set_owner();
  zs_registry_reset_after_fork();
  zs_hooks_fork_child();
  zs_vma_forget_fd();
}

/* finish_init - the steps of zs_init after the real functions are known.
 * Returns the phase the shim ends in. */
static int finish_init(void) {
#if defined(__x86_64__) || defined(__i386__)
  zs_state.page_size = 4096; /* the architecture's only base page size */
#else
  zs_state.page_size = (size_t)sysconf(_SC_PAGESIZE);
#endif
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
  zs_forkmark_init(); /* the wipe-on-fork page: marked at load only */
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

