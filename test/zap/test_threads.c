/*
 * test_threads.c - the registry stays true while several threads map,
 * split, move, unmap and zap at the same time.  Each thread works on its
 * own memfd and checks every zap through pread at exact file offsets; a
 * lost or crossed registry update shows as a wrong byte (or a file of
 * another thread punched).  Threads only record failures; the test thread
 * asserts (Criterion assertions belong to the test thread).
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB ZT_MIB
#define THREADS 4
#define ROUNDS 150

struct worker {
  int id;
  int fd;
  char failure[200]; /* first failure, empty if none */
};

#define FAIL(w, ...)                                                                           \
  do {                                                                                         \
    snprintf((w)->failure, sizeof (w)->failure, __VA_ARGS__);                                  \
    return;                                                                                    \
  } while (0)

/* pwrite v over the whole 4 MiB file (no Criterion asserts off the test thread). */
static int refill(int fd, unsigned char v) {
  unsigned char buf[64 * 1024];
  memset(buf, v, sizeof buf);
  for (off_t o = 0; o < (off_t)(4 * MIB); o += (off_t)sizeof buf)
    if (pwrite(fd, buf, sizeof buf, o) != (ssize_t)sizeof buf)
      return -1;
  return 0;
}

/* One round: map file [1M,3M) shared, unmap its first 512 KiB, move the
 * rest, DONTNEED the moved mapping's last 1 MiB: exactly file [2M,3M) zero. */
static void round_once(struct worker *w, int r) {
  unsigned char v = (unsigned char)(0x10 + w->id);
  if (refill(w->fd, v))
    FAIL(w, "round %d: pwrite: %s", r, strerror(errno));
  char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, MIB);
  if (p == MAP_FAILED)
    FAIL(w, "round %d: mmap: %s", r, strerror(errno));
  if (munmap(p, MIB / 2))
    FAIL(w, "round %d: munmap: %s", r, strerror(errno));
  char *q = mremap(p + MIB / 2, 3 * MIB / 2, 3 * MIB / 2, MREMAP_MAYMOVE);
  if (q == MAP_FAILED)
    FAIL(w, "round %d: mremap: %s", r, strerror(errno));
  /* q maps file [1.5M, 3M); its last 1 MiB is file [2M, 3M) */
  if (madvise(q + MIB / 2, MIB, MADV_DONTNEED))
    FAIL(w, "round %d: madvise: %s", r, strerror(errno));
  long a = zt_pfind_not(w->fd, 0, 2 * MIB, v);
  long b = zt_pfind_not(w->fd, 2 * MIB, MIB, 0);
  long c = zt_pfind_not(w->fd, 3 * MIB, MIB, v);
  if (a != -1 || b != -1 || c != -1)
    FAIL(w, "round %d: file wrong: [0,2M) bad at %ld, [2M,3M) not zero at %ld, [3M,4M) bad at %ld",
         r, a, b, c);
  if (zt_find_not(q, MIB / 2, v) >= 0 || zt_find_not(q + MIB / 2, MIB, 0) >= 0)
    FAIL(w, "round %d: mapping content wrong", r);
  if (munmap(q, 3 * MIB / 2))
    FAIL(w, "round %d: munmap q: %s", r, strerror(errno));
  /* anonymous churn around it: another mapping kind in the same registry */
  char *anon = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (anon == MAP_FAILED)
    FAIL(w, "round %d: anon mmap: %s", r, strerror(errno));
  memset(anon, v, MIB);
  if (madvise(anon, MIB, MADV_REMOVE) || zt_find_not(anon, MIB, 0) >= 0)
    FAIL(w, "round %d: anon REMOVE did not zap: %s", r, strerror(errno));
  munmap(anon, MIB);
}

static void *work(void *arg) {
  struct worker *w = arg;
  for (int r = 0; r < ROUNDS && !w->failure[0]; r++)
    round_once(w, r);
  return NULL;
}

Test(threads, concurrent_map_split_move_zap) {
  struct worker ws[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    ws[i].id = i;
    ws[i].fd = zt_make_memfd(4 * MIB, 0);
    ws[i].failure[0] = 0;
    cr_assert(pthread_create(&th[i], NULL, work, &ws[i]) == 0, "pthread_create");
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++)
    cr_expect(!ws[i].failure[0], "thread %d: %s", i, ws[i].failure);
}
