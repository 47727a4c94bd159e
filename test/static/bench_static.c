/*
 * bench_static.c - what the zapshim command's syscall path costs a static
 * (musl) program, issue 10.  Prints figures; no pass/fail threshold.  Run
 * it with and without the supervisor (bench_static.sh does both).
 *
 *   alloc N   allocator-heavy loop: N malloc/free of mixed sizes (musl
 *             mallocng: small from its groups, >= 128 KiB through
 *             mmap/munmap), each allocation touched, and every 64 frees a
 *             purge of 64 KiB of a private pool with madvise(MADV_DONTNEED)
 *             - what jemalloc's or glibc's trimming does; musl's own
 *             mallocng makes no madvise call.  Prints ops/s and ns per op.
 *   trap N    N madvise(MADV_DONTNEED) of one 4 KiB anonymous page, each
 *             after a touch (the allocators' call), then N of an untouched
 *             page: the per-call cost of a trapped madvise.
 *   mmap N    N mmap/munmap pairs of 4 KiB anonymous memory: untrapped
 *             calls, which must cost the same with the filter installed.
 *   all       the three with default counts.
 * Output lines: "bench NAME: X ns/op, Y ops/s (N ops)".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zst.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* next_rand - xorshift64. */
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* report - one figure line. */
static void report(const char *name, uint64_t ns, unsigned long n) {
  double per = (double)ns / (double)n;
  printf("bench %s: %.1f ns/op, %.0f ops/s (%lu ops)\n", name, per, 1e9 / per, n);
}

/* pick_size - 70% 16 B-1 KiB, 25% 4-64 KiB, 5% 128-512 KiB. */
static size_t pick_size(void) {
  uint64_t r = next_rand();
  unsigned c = (unsigned)(r % 100);
  if (c < 70)
    return 16 + (size_t)(r >> 8) % 1008;
  if (c < 95)
    return 4096 + (size_t)(r >> 8) % (60 * 1024);
  return 128 * 1024 + (size_t)(r >> 8) % (384 * 1024);
}

/* bench_alloc - see the header. */
static void bench_alloc(unsigned long n) {
  enum { SLOTS = 1024, POOL = 16 * 1024 * 1024, PURGE = 64 * 1024 };
  void **slot = calloc(SLOTS, sizeof *slot);
  char *pool = mmap(NULL, POOL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!slot || pool == MAP_FAILED) {
    printf("bench alloc: out of memory\n");
    return;
  }
  unsigned long purges = 0, frees = 0;
  size_t pool_off = 0;
  uint64_t t0 = zst_now_ns();
  for (unsigned long i = 0; i < n; i++) {
    size_t k = (size_t)(next_rand() % SLOTS);
    if (slot[k]) {
      free(slot[k]);
      slot[k] = NULL;
      if (++frees % 64 == 0) {
        /* A purge: the pool span was in use (touched), now given back. */
        char *span = pool + pool_off;
        for (size_t o = 0; o < PURGE; o += ZST_PAGE)
          span[o] = 1;
        madvise(span, PURGE, MADV_DONTNEED);
        pool_off = (pool_off + PURGE) % POOL;
        purges++;
      }
    }
    size_t sz = pick_size();
    char *p = malloc(sz);
    if (!p)
      continue;
    for (size_t o = 0; o < sz; o += ZST_PAGE)
      p[o] = (char)i;
    p[sz - 1] = 1;
    slot[k] = p;
  }
  uint64_t ns = zst_now_ns() - t0;
  for (size_t k = 0; k < SLOTS; k++)
    free(slot[k]);
  free(slot);
  munmap(pool, POOL);
  report("alloc (malloc/free + purge)", ns, n);
  printf("bench alloc: %lu purges with madvise(MADV_DONTNEED), one per %.0f ops\n", purges,
         purges ? (double)n / (double)purges : 0.0);
}

/* bench_trap - see the header. */
static void bench_trap(unsigned long n) {
  char *p = mmap(NULL, ZST_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return;
  /* Warm up (faults, first trap). */
  for (int i = 0; i < 100; i++) {
    p[0] = 1;
    madvise(p, ZST_PAGE, MADV_DONTNEED);
  }
  uint64_t t0 = zst_now_ns();
  for (unsigned long i = 0; i < n; i++) {
    p[0] = (char)i;
    madvise(p, ZST_PAGE, MADV_DONTNEED);
  }
  report("trap (touch + madvise DONTNEED 4 KiB anon)", zst_now_ns() - t0, n);
  t0 = zst_now_ns();
  for (unsigned long i = 0; i < n; i++)
    madvise(p, ZST_PAGE, MADV_DONTNEED);
  report("trap (madvise DONTNEED, untouched 4 KiB anon)", zst_now_ns() - t0, n);
  munmap(p, ZST_PAGE);
}

/* bench_mmap - see the header. */
static void bench_mmap(unsigned long n) {
  uint64_t t0 = zst_now_ns();
  for (unsigned long i = 0; i < n; i++) {
    void *p = mmap(NULL, ZST_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
      munmap(p, ZST_PAGE);
  }
  report("mmap+munmap 4 KiB anon (untrapped)", zst_now_ns() - t0, n);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mode = argc > 1 ? argv[1] : "all";
  unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
  alarm(120);
  if (strcmp(mode, "alloc") == 0)
    bench_alloc(n ? n : 400000);
  else if (strcmp(mode, "trap") == 0)
    bench_trap(n ? n : 20000);
  else if (strcmp(mode, "mmap") == 0)
    bench_mmap(n ? n : 100000);
  else if (strcmp(mode, "all") == 0) {
    bench_mmap(n ? n : 100000);
    bench_trap(n ? n / 5 : 20000);
    bench_alloc(n ? n * 4 : 400000);
  } else {
    fprintf(stderr, "usage: %s alloc|trap|mmap|all [N]\n", argv[0]);
    return 2;
  }
  return 0;
}
