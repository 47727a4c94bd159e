/*
 * alloc_churn.c - an allocation-heavy workload for running jemalloc (or any
 * malloc) under the shim: several threads allocate, fill, resize, check
 * and free blocks of many sizes, from 16 bytes to 4 MiB, in a fixed
 * pseudo-random order.
 *
 * Prints one line to stdout that depends only on the arguments (never on
 * the allocator, the shim or the thread schedule):
 *   checksum=<hex> blocks=<n> bytes=<n>
 * and, to stderr, which allocator served it (jemalloc if its mallctl
 * symbol is in the process).  Exits 1 if a block did not hold what was
 * written into it (memory lost under the program's feet), 2 on bad
 * arguments or a failed allocation.
 *
 * Usage: alloc_churn [threads [rounds]]   (default 4 threads, 20 rounds)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 16
#define BLOCKS 256 /* live blocks per round and thread */

struct worker {
  int id;
  int rounds;
  uint64_t checksum;
  uint64_t blocks;
  uint64_t bytes;
  int bad;
};

/* next - xorshift64*: the next number of the thread's own sequence. */
static uint64_t next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

/* pick_size - a block size: mostly small, some medium, a few large
 * (large ones are mmap'ed or carved from big extents, and purged). */
static size_t pick_size(uint64_t *s) {
  uint64_t r = next(s);
  switch (r % 16) {
  case 0: return 256 * 1024 + (size_t)(r >> 8) % (4 * 1024 * 1024);
  case 1: case 2: case 3: return 4096 + (size_t)(r >> 8) % (256 * 1024);
  default: return 16 + (size_t)(r >> 8) % 4096;
  }
}

/* fold - mix v into the checksum h (order-dependent). */
static uint64_t fold(uint64_t h, uint64_t v) {
  return (h ^ v) * 1099511628211ULL + 0x9E3779B97F4A7C15ULL;
}

/* check_block - true if the block of len bytes holds byte v everywhere we
 * sample (both ends and every 4 KiB in between). */
static int check_block(const unsigned char *p, size_t len, unsigned char v) {
  if (p[0] != v || p[len - 1] != v)
    return 0;
  for (size_t o = 4096; o < len; o += 4096)
    if (p[o] != v)
      return 0;
  return 1;
}

/* work - one thread's rounds: allocate BLOCKS blocks, fill each, grow a
 * third of them with realloc, then check and free them in a shuffled
 * order.  Fills w's counters; returns NULL. */
static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = 0x1234567ULL + (uint64_t)w->id * 0x51ED27ULL;
  unsigned char *blk[BLOCKS];
  size_t len[BLOCKS];
  unsigned char val[BLOCKS];
  int order[BLOCKS];
  for (int round = 0; round < w->rounds; round++) {
    for (int i = 0; i < BLOCKS; i++) {
      len[i] = pick_size(&s);
      val[i] = (unsigned char)(next(&s) | 1);
      blk[i] = malloc(len[i]);
      if (!blk[i]) {
        fprintf(stderr, "alloc_churn: malloc(%zu) failed\n", len[i]);
        exit(2);
      }
      memset(blk[i], val[i], len[i]);
      w->blocks++;
      w->bytes += len[i];
    }
    for (int i = 0; i < BLOCKS; i += 3) {
      size_t grown = len[i] + pick_size(&s);
      unsigned char *q = realloc(blk[i], grown);
      if (!q) {
        fprintf(stderr, "alloc_churn: realloc(%zu) failed\n", grown);
        exit(2);
      }
      memset(q + len[i], val[i], grown - len[i]);
      blk[i] = q;
      len[i] = grown;
      w->bytes += grown;
    }
    for (int i = 0; i < BLOCKS; i++)
      order[i] = i;
    for (int i = BLOCKS - 1; i > 0; i--) {
      int j = (int)(next(&s) % (uint64_t)(i + 1));
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (int k = 0; k < BLOCKS; k++) {
      int i = order[k];
      if (!check_block(blk[i], len[i], val[i]))
        w->bad++;
      w->checksum = fold(w->checksum, len[i] * 257 + val[i]);
      free(blk[i]);
    }
  }
  return NULL;
}

/* main - parse [threads [rounds]], run the workers, print the summary.
 * Returns 0, 1 (a block lost its contents) or 2 (usage, allocation). */
int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  int rounds = argc > 2 ? atoi(argv[2]) : 20;
  if (threads < 1 || threads > MAX_THREADS || rounds < 1) {
    fprintf(stderr, "usage: alloc_churn [threads(1-%d) [rounds]]\n", MAX_THREADS);
    return 2;
  }
  struct worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  for (int t = 0; t < threads; t++) {
    w[t] = (struct worker){.id = t, .rounds = rounds};
    if (pthread_create(&th[t], NULL, work, &w[t]) != 0) {
      fprintf(stderr, "alloc_churn: pthread_create failed\n");
      return 2;
    }
  }
  uint64_t h = 0, blocks = 0, bytes = 0;
  int bad = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    h = fold(h, w[t].checksum);
    blocks += w[t].blocks;
    bytes += w[t].bytes;
    bad += w[t].bad;
  }
  fprintf(stderr, "alloc_churn: allocator %s\n",
          dlsym(RTLD_DEFAULT, "mallctl") ? "jemalloc" : "not jemalloc");
  printf("checksum=%016llx blocks=%llu bytes=%llu\n", (unsigned long long)h,
         (unsigned long long)blocks, (unsigned long long)bytes);
  if (bad) {
    fprintf(stderr, "alloc_churn: %d blocks did not hold their contents\n", bad);
    return 1;
  }
  return 0;
}
