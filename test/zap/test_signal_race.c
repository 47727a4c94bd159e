/*
 * test_signal_race.c - issue 9 case 4: a zap made from a signal handler
 * races the program's own remaps of the address it zaps.
 *
 * One 2 MiB address X.  A swapper thread keeps replacing what is at X,
 * through libc mmap(MAP_FIXED) (the shim sees every swap), with a shared
 * memfd and a shared ext4 file, in turn.  A churn thread keeps making shim
 * calls (mmap, madvise, munmap of its own memory) so that signals land
 * inside the shim.  A signaller thread sends SIGUSR1 to the churn and
 * swapper threads at a high rate; the handler zaps X with
 * madvise(X, 2 MiB, MADV_DONTNEED) through libc.
 *
 * The shim would free the memfd with MADV_REMOVE; if it decides that on
 * one view of X and acts after the swapper put the ext4 file there, it
 * punches the file.  Contract: the ext4 file keeps every byte and its
 * blocks; the handler's zaps return what the kernel gives (0: X is always
 * mapped); the process neither crashes nor deadlocks (a watchdog alarm
 * kills it: Criterion reports the crash).  The number of handler zaps is
 * printed.
 *
 * Duration: ZT_RACE_SECONDS if set; else 15 s natively and 3 s when the
 * shim behaves as another kernel (ZAPSHIM_KERNEL).
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB ZT_MIB
#define XLEN ZT_HPAGE_2M
#define EXT4_MAGIC 0xEF53

static char *X;
static int memfd_x, ext4_fd;
static atomic_bool stop;
static atomic_long zaps, zap_fails, zap_first_errno, swaps, churns, signals_sent;

/* The failure a worker thread saw first (Criterion asserts stay on the
 * test thread). */
static char failure[256];
static atomic_flag failed = ATOMIC_FLAG_INIT;

#define FAIL(...)                                                                              \
  do {                                                                                         \
    if (!atomic_flag_test_and_set(&failed))                                                    \
      snprintf(failure, sizeof failure, __VA_ARGS__);                                          \
    atomic_store(&stop, true);                                                                 \
  } while (0)

/* The handler: zap X, count the result.  errno is saved: the handler may
 * interrupt code that is about to read it. */
static void on_usr1(int sig) {
  (void)sig;
  int e = errno;
  if (madvise(X, XLEN, MADV_DONTNEED) == 0) {
    atomic_fetch_add(&zaps, 1);
  } else {
    long zero = 0;
    atomic_compare_exchange_strong(&zap_first_errno, &zero, errno);
    atomic_fetch_add(&zap_fails, 1);
  }
  errno = e;
}

/* The watchdog: a deadlock or a livelock ends the test as a crash. */
static void on_alarm(int sig) {
  static const char msg[] = "test_signal_race: watchdog: no progress in time (deadlock?)\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  signal(sig, SIG_DFL);
  raise(sig);
}

/* swapper: X alternates between the memfd and the ext4 file, both shared,
 * through libc so the shim records each. */
static void *swapper(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    if (mmap(X, XLEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd_x, 0) != X)
      FAIL("swapper: mmap memfd at X: %s", strerror(errno));
    if (mmap(X, XLEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ext4_fd, 0) != X)
      FAIL("swapper: mmap ext4 at X: %s", strerror(errno));
    atomic_fetch_add(&swaps, 1);
  }
  return NULL;
}

/* churn: shim calls on its own memory (anonymous and a shared memfd), so
 * signals interrupt the shim's wrappers. */
static void *churn(void *arg) {
  int fd = *(int *)arg;
  while (!atomic_load(&stop)) {
    char *a = mmap(NULL, 64 * ZT_KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
      FAIL("churn: mmap anon: %s", strerror(errno));
      break;
    }
    a[0] = 1;
    if (madvise(a, 64 * ZT_KIB, MADV_DONTNEED) != 0)
      FAIL("churn: madvise anon: %s", strerror(errno));
    char *s = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s == MAP_FAILED) {
      FAIL("churn: mmap memfd: %s", strerror(errno));
      munmap(a, 64 * ZT_KIB);
      break;
    }
    s[0] = 1;
    if (madvise(s, MIB, MADV_DONTNEED) != 0)
      FAIL("churn: madvise memfd: %s", strerror(errno));
    if (munmap(s, MIB) != 0 || munmap(a, 64 * ZT_KIB) != 0)
      FAIL("churn: munmap: %s", strerror(errno));
    atomic_fetch_add(&churns, 1);
  }
  return NULL;
}

struct targets {
  pthread_t churn, swapper;
};

/* signaller: SIGUSR1 to the churn thread every ~10 us, and every other
 * time to the swapper too. */
static void *signaller(void *arg) {
  const struct targets *t = arg;
  struct timespec gap = {0, 10 * 1000};
  for (unsigned long i = 0; !atomic_load(&stop); i++) {
    pthread_kill(t->churn, SIGUSR1);
    if (i & 1)
      pthread_kill(t->swapper, SIGUSR1);
    atomic_fetch_add(&signals_sent, (i & 1) ? 2 : 1);
    nanosleep(&gap, NULL);
  }
  return NULL;
}

/* race_seconds - ZT_RACE_SECONDS, else 15 natively, 3 under ZAPSHIM_KERNEL. */
static unsigned race_seconds(void) {
  const char *s = getenv("ZT_RACE_SECONDS");
  if (s && *s) {
    unsigned long v = strtoul(s, NULL, 10);
    if (v > 0 && v < 3600)
      return (unsigned)v;
  }
  return zt_kernel_emulated() ? 3 : 15;
}

/* check_file - the ext4 file still holds every byte and its blocks;
 * returns false (with the failure noted) if not. */
static bool check_file(long long blocks, double at) {
  long bad = zt_pfind_not(ext4_fd, 0, XLEN, ZT_FILE_FILL);
  long long b = zt_st_blocks(ext4_fd);
  if (bad == -1 && b == blocks)
    return true;
  FAIL("after %.1f s the ext4 file changed: first byte not the pattern at offset %ld "
       "(-1 none, -2 unreadable), st_blocks %lld (was %lld)", at, bad, b, blocks);
  return false;
}

Test(signal_race, handler_zaps_while_memfd_and_ext4_swap) {
  unsigned secs = race_seconds();
  char path[512];
  ext4_fd = zt_make_ext4_file(XLEN, ZT_FILE_FILL, path, sizeof path);
  cr_assert_eq(zt_fs_magic(ext4_fd), EXT4_MAGIC, "%s is on ext4", path);
  long long blocks = zt_st_blocks(ext4_fd);
  cr_assert_geq(blocks, (long long)(XLEN / 512), "the ext4 file has its blocks");
  memfd_x = zt_make_memfd(XLEN, 0);
  zt_pfill(memfd_x, 0, XLEN, ZT_FILL);
  int churn_fd = zt_make_memfd(MIB, 0);

  X = zt_reserve_aligned(XLEN, XLEN);
  cr_assert(mmap(X, XLEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ext4_fd, 0) == X,
            "mmap ext4 at X: %s", strerror(errno));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  cr_assert(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
  sa.sa_handler = on_alarm;
  sa.sa_flags = 0;
  cr_assert(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction SIGALRM");
  alarm(secs + 30); /* the watchdog */

  /* Only the targeted threads take SIGUSR1: the workers start with it
   * open; then the test thread (and the signaller it starts) block it. */
  struct targets t;
  pthread_t sig_th;
  cr_assert(pthread_create(&t.swapper, NULL, swapper, NULL) == 0, "pthread_create swapper");
  cr_assert(pthread_create(&t.churn, NULL, churn, &churn_fd) == 0, "pthread_create churn");
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  cr_assert(pthread_create(&sig_th, NULL, signaller, &t) == 0, "pthread_create signaller");

  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double el = 0;
  while (!atomic_load(&stop)) {
    struct timespec q = {0, 250 * 1000 * 1000};
    nanosleep(&q, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
    if (!check_file(blocks, el) || el >= secs)
      break;
  }
  atomic_store(&stop, true);
  pthread_join(sig_th, NULL);
  pthread_join(t.churn, NULL);
  pthread_join(t.swapper, NULL);
  check_file(blocks, el);
  alarm(0);

  fprintf(stderr,
          "signal_race: %.1f s: %ld handler zaps (%ld failed, first errno %ld), %ld signals "
          "sent, %ld swaps, %ld churn rounds\n",
          el, atomic_load(&zaps), atomic_load(&zap_fails), atomic_load(&zap_first_errno),
          atomic_load(&signals_sent), atomic_load(&swaps), atomic_load(&churns));
  cr_assert(!failure[0], "%s", failure);
  cr_assert_gt(atomic_load(&zaps), 0, "the handler zapped at least once");
  cr_assert_eq(atomic_load(&zap_fails), 0,
               "handler zaps of a mapped X failed %ld times (first errno %ld): the kernel "
               "gives 0", atomic_load(&zap_fails), atomic_load(&zap_first_errno));
  zt_assert_pbytes(ext4_fd, 0, XLEN, ZT_FILE_FILL, "the ext4 file");
  cr_assert_eq(zt_st_blocks(ext4_fd), blocks, "the ext4 file keeps its blocks");
}
