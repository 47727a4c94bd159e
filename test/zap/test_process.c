/*
 * test_process.c - the registry stays true across fork (with MADV_DONTFORK
 * ranges), vfork and posix_spawn, and a zap from a signal handler that
 * interrupted a thread inside the shim neither deadlocks nor fails.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB ZT_MIB
#define LEN (4 * MIB)

extern char **environ;

/* child_status - wait for pid and return its exit code (or 100+signal). */
static int child_status(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid)
    return 99;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* memfd_zapped_by_dontneed - a fresh shared memfd mapping placed with a
 * raw MAP_FIXED at addr (the shim does not see it), filled, then a plain
 * DONTNEED: 0 if the memfd was really freed, else a nonzero code. */
static int memfd_zapped_by_dontneed(void *addr) {
  int fd = zt_make_memfd(LEN, 0);
  long r = zt_syscall(SYS_mmap, addr, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)0);
  if (r != (long)addr)
    return 2;
  memset(addr, 0xAB, LEN);
  if (madvise(addr, LEN, MADV_DONTNEED) != 0)
    return 3;
  return zt_st_blocks(fd) == 0 ? 0 : 4;
}

/*
 * MADV_DONTFORK: the child does not have that range. A registry that
 * still believed the parent's anonymous mapping was there would pass a
 * later DONTNEED on whatever the child maps at that address straight
 * through (anonymous: the program's own call) and free nothing.
 */
Test(process, fork_child_forgets_dontfork_ranges) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  void *b = zt_map(LEN, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(b, 1, LEN);
  cr_assert_eq(madvise(b, LEN, MADV_DONTFORK), 0);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0)
    _exit(memfd_zapped_by_dontneed(b));
  cr_assert_eq(child_status(pid), 0, "the fork child's DONTNEED at a DONTFORK address freed nothing");
  zt_assert_bytes(b, LEN, 1, "the parent keeps its DONTFORK memory");
}

/* A fork child inherits the registry: its zaps are translated too. */
Test(process, fork_child_zaps_inherited_mappings) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int fd = zt_make_memfd(LEN, 0);
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  memset(p, 0xAB, LEN);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0)
    _exit(madvise(p, LEN, MADV_DONTNEED) == 0 && zt_st_blocks(fd) == 0 ? 0 : 1);
  cr_assert_eq(child_status(pid), 0, "the fork child's DONTNEED on shared memfd freed nothing");
}

/* A vfork child shares the address space: what it maps and unmaps through
 * the shim before _exit must leave the parent's registry true. */
Test(process, vfork_child_keeps_the_registry_true) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int fd = zt_make_memfd(LEN, 0);
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  memset(p, 0xAB, LEN);
  pid_t pid = vfork();
  if (pid == 0) {
    void *q = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q != MAP_FAILED)
      munmap(q, LEN);
    _exit(q == MAP_FAILED ? 1 : 0);
  }
  cr_assert_eq(child_status(pid), 0);
  cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0);
  cr_assert_eq(zt_st_blocks(fd), 0, "zap after vfork still translated");
}

/* posix_spawn under the shim (clone(CLONE_VM|CLONE_VFORK) in glibc). */
Test(process, posix_spawn_runs) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  pid_t pid;
  char *argv[] = {"true", NULL};
  cr_assert_eq(posix_spawnp(&pid, "true", NULL, NULL, argv, environ), 0);
  cr_assert_eq(child_status(pid), 0);
}

/* ---- a zap from a signal handler that interrupted the shim ---- */

static char *sig_region;          /* shared memfd, one page per handler run */
static int sig_fd;
static atomic_int sig_runs, sig_bad;
static atomic_bool churn_stop;

/* zap_in_handler - fill a page, zap it with plain DONTNEED, check it is no
 * longer resident (async-signal-safe calls only; no read-back here: a read
 * fault on shmem would allocate the page again). */
static void zap_in_handler(int sig) {
  (void)sig;
  int saved = errno;
  int i = atomic_load(&sig_runs) % 64;
  char *page = sig_region + (size_t)i * 4096;
  unsigned char vec = 1;
  memset(page, 0xAB, 4096);
  if (madvise(page, 4096, MADV_DONTNEED) != 0 || mincore(page, 4096, &vec) != 0 || (vec & 1))
    atomic_fetch_add(&sig_bad, 1);
  atomic_fetch_add(&sig_runs, 1);
  errno = saved;
}

/* churn - map, zap and unmap as fast as possible: the thread the signals
 * interrupt, mostly inside the shim's wrappers (registry lock held). */
static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&churn_stop)) {
    char *q = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
      continue;
    q[0] = 1;
    madvise(q, 64 * 1024, MADV_DONTNEED);
    munmap(q, 64 * 1024);
  }
  return NULL;
}

Test(process, zap_from_signal_handler_inside_the_shim, .timeout = 60) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  sig_fd = zt_make_memfd(64 * 4096, 0);
  sig_region = zt_map(64 * 4096, MAP_SHARED, sig_fd, 0);
  struct sigaction sa = {.sa_handler = zap_in_handler};
  sigemptyset(&sa.sa_mask);
  cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, churn, NULL), 0);
  /* One signal at a time (standard signals do not queue), 5,000 of them
   * or 15 s, whichever comes first: a loaded machine delivers slowly, a
   * deadlock never (the test's timeout catches that). */
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 5000; i++) {
    pthread_kill(t, SIGUSR1); /* lands wherever the churn thread is */
    while (atomic_load(&sig_runs) <= i)
      sched_yield();
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec > 15)
      break;
  }
  atomic_store(&churn_stop, true);
  pthread_join(t, NULL);
  cr_assert_geq(atomic_load(&sig_runs), 500, "the handler ran %d times", atomic_load(&sig_runs));
  cr_assert_eq(atomic_load(&sig_bad), 0, "%d of %d zaps from the handler failed or left data",
               atomic_load(&sig_bad), atomic_load(&sig_runs));
  cr_assert_eq(zt_st_blocks(sig_fd), 0, "every page zapped in a handler was freed");
  zt_assert_bytes(sig_region, 64 * 4096, 0, "every page zapped in a handler reads zero");
}
