/*
 * zapstress.c - many threads map, trim, move, grow and zap at the same time
 * through the core's hooks (zs_mmap, zs_munmap, zs_mremap, zs_madvise),
 * linked directly with zapshim_core: no LD_PRELOAD, so the same program
 * runs under ThreadSanitizer.
 *
 * Each thread works on regions of four kinds in turn: memfd shared, memfd
 * private (both on the thread's own memfd, at varying file offsets), anon
 * private and anon shared.  It keeps a model of its region (address, pages,
 * expected byte of every page, object offset) and of its memfd (expected
 * byte of every file page).  After every operation it checks the registry's
 * entry for the region (start, end, offset, kind); after every zap it
 * checks that the zapped pages have no backing any more (mincore; for a
 * memfd also SEEK_DATA and the exact drop of st_blocks), that they read
 * zero, that every other page of the region keeps its data and that the
 * whole memfd holds what the model says (a punch at a wrong offset shows).
 *
 * Usage: zapstress [-t THREADS] [-r ROUNDS] [-s SEED]
 * Prints threads x operations and exits 0, or names the first failure of
 * every failing thread and exits 1.
 */
#define _GNU_SOURCE
#include "init.h"
#include "hooks.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PG 4096u
#define FILE_PAGES 128u /* each thread's memfd: 512 KiB */
#define MAX_PAGES 64u   /* largest region */
#define STEPS 8         /* operations on a region between its mmap and munmap */

enum kind { K_MEMFD_SHARED, K_MEMFD_PRIVATE, K_ANON_PRIVATE, K_ANON_SHARED, K_COUNT };
static const char *const kind_name[K_COUNT] = {"memfd-shared", "memfd-private", "anon-private",
                                               "anon-shared"};

enum op { OP_MMAP, OP_MUNMAP, OP_MREMAP, OP_ZAP, OP_COUNT };

struct worker {
  int id;
  int fd;                            /* this thread's memfd */
  unsigned rounds;
  uint64_t rng;                      /* xorshift state */
  unsigned char fexp[FILE_PAGES];    /* expected byte of every memfd page */
  unsigned char *fbuf;               /* FILE_PAGES pages for reading the memfd back */
  unsigned long ops[OP_COUNT];       /* calls made, by operation */
  unsigned long zapped_pages;        /* pages checked zapped */
  char failure[320];                 /* first failure, empty if none */
};

/* The thread's current region and what it must hold. */
struct region {
  enum kind kind;
  unsigned char *base;
  size_t npages;
  size_t obj_page;                   /* page offset of base in its object (file / shmem) */
  int reg_kind;                      /* the registry's kind, as seen at mmap time */
  unsigned char exp[MAX_PAGES];      /* expected byte of every page */
};

/* fail - record the thread's first failure; returns -1 for the caller to pass on. */
static int fail(struct worker *w, const char *fmt, ...) {
  if (!w->failure[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->failure, sizeof w->failure, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* rnd - next pseudo-random number of the thread (xorshift64). */
static uint64_t rnd(struct worker *w) {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

/* below - a pseudo-random number in [0, n), n > 0. */
static size_t below(struct worker *w, size_t n) {
  return (size_t)(rnd(w) % n);
}

/* is_memfd - true for the kinds backed by the thread's memfd. */
static int is_memfd(enum kind k) {
  return k == K_MEMFD_SHARED || k == K_MEMFD_PRIVATE;
}

/* page_differs - true if some byte of the page at p is not v. */
static int page_differs(const unsigned char *p, unsigned char v) {
  uint64_t word = 0x0101010101010101ull * v;
  const uint64_t *q = (const uint64_t *)(const void *)p;
  for (size_t i = 0; i < PG / sizeof *q; i++)
    if (q[i] != word)
      return 1;
  return 0;
}

/* check_pages - every page of the region holds what the model says. */
static int check_pages(struct worker *w, const struct region *r, const char *after) {
  for (size_t i = 0; i < r->npages; i++)
    if (page_differs(r->base + i * PG, r->exp[i]))
      return fail(w, "%s after %s: page %zu of %zu does not hold %#x (first byte %#x)",
                  kind_name[r->kind], after, i, r->npages, r->exp[i], r->base[i * PG]);
  return 0;
}

/* check_file - every page of the thread's memfd holds what the model says
 * (pread does not populate holes, so this changes no backing). */
static int check_file(struct worker *w, const char *after) {
  size_t size = (size_t)FILE_PAGES * PG;
  if (pread(w->fd, w->fbuf, size, 0) != (ssize_t)size)
    return fail(w, "pread memfd: %s", strerror(errno));
  for (size_t i = 0; i < FILE_PAGES; i++)
    if (page_differs(w->fbuf + i * PG, w->fexp[i]))
      return fail(w, "memfd after %s: file page %zu does not hold %#x (first byte %#x)", after,
                  i, w->fexp[i], w->fbuf[i * PG]);
  return 0;
}

/* check_registry - the registry's entry at the region's start is exactly
 * the region: same bounds, object offset and kind as at mmap time.  Plain
 * anonymous private memory is not registered by mmap (registry.h), only
 * learned from the kernel by a zap: every entry overlapping such a region
 * must be plain anonymous memory (any other would be stale: a mapping the
 * region replaced). */
static int check_registry(struct worker *w, const struct region *r, const char *after) {
  struct zs_map m;
  uintptr_t start = (uintptr_t)r->base, end = start + r->npages * PG;
  if (r->kind == K_ANON_PRIVATE) {
    zs_registry_rdlock();
    int bad = 0;
    for (uintptr_t x = start; x < end && zs_registry_find(x, &m) == 0 && m.start < end; x = m.end)
      if (!zs_map_plain(&m)) {
        bad = 1;
        break;
      }
    zs_registry_unlock();
    if (bad)
      return fail(w, "anon-private after %s: registry has [%#lx, %#lx) kind %d in [%#lx, %#lx)",
                  after, (unsigned long)m.start, (unsigned long)m.end, (int)m.kind,
                  (unsigned long)start, (unsigned long)end);
    return 0;
  }
  zs_registry_rdlock();
  int rc = zs_registry_find((uintptr_t)r->base, &m);
  zs_registry_unlock();
  if (rc != 0 || m.kind != r->reg_kind || m.start != start || m.end != end ||
      m.offset != r->obj_page * PG)
    return fail(w, "%s after %s: registry has %s [%#lx, %#lx) offset %#lx kind %d, "
                "want [%#lx, %#lx) offset %#lx kind %d",
                kind_name[r->kind], after, rc ? "nothing" : "", (unsigned long)m.start,
                (unsigned long)m.end, (unsigned long)m.offset, (int)m.kind,
                (unsigned long)start, (unsigned long)end, (unsigned long)(r->obj_page * PG),
                r->reg_kind);
  return 0;
}

/* fill - give pages [a, b) of the region new nonzero contents: through the
 * mapping, or with pwrite for a private file mapping (a write through it
 * would only make private copies). Every page is then backed. */
static int fill(struct worker *w, struct region *r, size_t a, size_t b) {
  for (size_t i = a; i < b; i++) {
    unsigned char v = (unsigned char)(1 + below(w, 255));
    r->exp[i] = v;
    if (is_memfd(r->kind))
      w->fexp[r->obj_page + i] = v;
    if (r->kind == K_MEMFD_PRIVATE) {
      static __thread unsigned char page[PG];
      memset(page, v, PG);
      if (pwrite(w->fd, page, PG, (off_t)((r->obj_page + i) * PG)) != (ssize_t)PG)
        return fail(w, "pwrite memfd: %s", strerror(errno));
    } else {
      memset(r->base + i * PG, v, PG);
    }
  }
  return 0;
}

/* region_map - map a new region of a random kind and size, fill it, and
 * note the registry's kind for it. */
static int region_map(struct worker *w, struct region *r, enum kind k) {
  r->kind = k;
  r->npages = 8 + below(w, MAX_PAGES - 8 + 1);
  r->obj_page = is_memfd(k) ? below(w, FILE_PAGES - r->npages + 1) : 0;
  int prot = PROT_READ | PROT_WRITE;
  static const int flags[K_COUNT] = {MAP_SHARED, MAP_PRIVATE, MAP_PRIVATE | MAP_ANONYMOUS,
                                     MAP_SHARED | MAP_ANONYMOUS};
  int fd = is_memfd(k) ? w->fd : -1;
  w->ops[OP_MMAP]++;
  void *p = zs_mmap(NULL, r->npages * PG, prot, flags[k], fd, (off_t)(r->obj_page * PG));
  if (p == MAP_FAILED)
    return fail(w, "mmap %s: %s", kind_name[k], strerror(errno));
  r->base = p;
  for (size_t i = 0; i < r->npages; i++)
    r->exp[i] = is_memfd(k) ? w->fexp[r->obj_page + i] : 0;
  struct zs_map m;
  zs_registry_rdlock();
  int rc = zs_registry_find((uintptr_t)p, &m);
  zs_registry_unlock();
  if (k == K_ANON_PRIVATE) {
    m.kind = ZAPSHIM_KIND_ANON_PRIVATE; /* not kept: check_registry sees none there */
  } else if (rc != 0 || m.start != (uintptr_t)p) {
    return fail(w, "mmap %s: no registry entry at %p", kind_name[k], p);
  }
  r->reg_kind = m.kind;
  if (check_registry(w, r, "mmap") || check_pages(w, r, "mmap"))
    return -1;
  return fill(w, r, 0, r->npages);
}

/* zap_check - refill the region, zap a random part of it, and prove it:
 * no backing (mincore; memfd: SEEK_DATA and st_blocks down by exactly the
 * zapped pages), reads zero, the rest and the whole memfd as modelled. */
static int zap_check(struct worker *w, struct region *r) {
  if (fill(w, r, 0, r->npages))
    return -1;
  size_t a = below(w, r->npages), b = a + 1 + below(w, r->npages - a);
  /* a private memfd is freed only by MADV_REMOVE (DONTNEED leaves the file as asked) */
  int advice = r->kind == K_MEMFD_PRIVATE || (rnd(w) & 1) ? MADV_REMOVE : MADV_DONTNEED;
  struct stat before, after;
  if (is_memfd(r->kind) && fstat(w->fd, &before))
    return fail(w, "fstat: %s", strerror(errno));
  w->ops[OP_ZAP]++;
  if (zs_madvise(r->base + a * PG, (b - a) * PG, advice))
    return fail(w, "%s: madvise(%s) pages [%zu, %zu): %s", kind_name[r->kind],
                advice == MADV_REMOVE ? "MADV_REMOVE" : "MADV_DONTNEED", a, b, strerror(errno));
  unsigned char vec[MAX_PAGES];
  if (mincore(r->base + a * PG, (b - a) * PG, vec))
    return fail(w, "mincore: %s", strerror(errno));
  for (size_t i = 0; i < b - a; i++)
    if (vec[i] & 1)
      return fail(w, "%s: page %zu of zap [%zu, %zu) still resident", kind_name[r->kind],
                  a + i, a, b);
  if (is_memfd(r->kind)) {
    off_t from = (off_t)((r->obj_page + a) * PG), to = (off_t)((r->obj_page + b) * PG);
    off_t d = lseek(w->fd, from, SEEK_DATA);
    if (d >= 0 && d < to)
      return fail(w, "%s: memfd has data at %#lx inside zapped [%#lx, %#lx)",
                  kind_name[r->kind], (long)d, (long)from, (long)to);
    if (fstat(w->fd, &after))
      return fail(w, "fstat: %s", strerror(errno));
    long freed = (long)(before.st_blocks - after.st_blocks) * 512;
    if (freed != (long)((b - a) * PG))
      return fail(w, "%s: zap of %zu pages freed %ld bytes of memfd", kind_name[r->kind],
                  b - a, freed);
    for (size_t i = a; i < b; i++)
      w->fexp[r->obj_page + i] = 0;
  }
  for (size_t i = a; i < b; i++)
    r->exp[i] = 0;
  w->zapped_pages += b - a;
  if (check_pages(w, r, "zap"))
    return -1;
  return is_memfd(r->kind) ? check_file(w, "zap") : 0;
}

/* trim - unmap k pages off the head or the tail (a registry trim). */
static int trim(struct worker *w, struct region *r, int head) {
  if (r->npages < 2)
    return 0;
  size_t k = 1 + below(w, r->npages - 1);
  unsigned char *at = head ? r->base : r->base + (r->npages - k) * PG;
  w->ops[OP_MUNMAP]++;
  if (zs_munmap(at, k * PG))
    return fail(w, "%s: munmap %s %zu pages: %s", kind_name[r->kind], head ? "head" : "tail",
                k, strerror(errno));
  if (head) {
    memmove(r->exp, r->exp + k, r->npages - k);
    r->base += k * PG;
    r->obj_page += k;
  }
  r->npages -= k;
  return 0;
}

/* move - mremap the region onto a fresh reservation of this thread
 * (MREMAP_FIXED replaces the reservation's registry entry). */
static int move(struct worker *w, struct region *r) {
  size_t len = r->npages * PG;
  w->ops[OP_MMAP]++;
  void *to = zs_mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (to == MAP_FAILED)
    return fail(w, "mmap reservation: %s", strerror(errno));
  w->ops[OP_MREMAP]++;
  void *p = zs_mremap(r->base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if (p != to)
    return fail(w, "%s: mremap to %p gave %p: %s", kind_name[r->kind], to, p, strerror(errno));
  r->base = p;
  return 0;
}

/* resize - mremap to a new length, MREMAP_MAYMOVE: shrink, or grow (never
 * an anon shared region, whose object ends where it was mapped; never a
 * memfd region past the file). New pages hold what their object holds. */
static int resize(struct worker *w, struct region *r) {
  size_t max = MAX_PAGES;
  if (r->kind == K_ANON_SHARED)
    max = r->npages;
  if (is_memfd(r->kind) && FILE_PAGES - r->obj_page < max)
    max = FILE_PAGES - r->obj_page;
  size_t n = 1 + below(w, max);
  w->ops[OP_MREMAP]++;
  void *p = zs_mremap(r->base, r->npages * PG, n * PG, MREMAP_MAYMOVE, NULL);
  if (p == MAP_FAILED)
    return fail(w, "%s: mremap %zu -> %zu pages: %s", kind_name[r->kind], r->npages, n,
                strerror(errno));
  for (size_t i = r->npages; i < n; i++)
    r->exp[i] = is_memfd(r->kind) ? w->fexp[r->obj_page + i] : 0;
  r->base = p;
  r->npages = n;
  return 0;
}

/* round_once - one region: map, STEPS random operations each checked, unmap. */
static int round_once(struct worker *w, enum kind k) {
  struct region r;
  if (region_map(w, &r, k) || check_registry(w, &r, "mmap"))
    return -1;
  for (int s = 0; s < STEPS; s++) {
    static const char *const names[] = {"zap", "zap", "zap", "trim head", "trim tail", "move",
                                        "resize"};
    size_t op = below(w, sizeof names / sizeof names[0]);
    int rc;
    switch (op) {
    case 3: rc = trim(w, &r, 1); break;
    case 4: rc = trim(w, &r, 0); break;
    case 5: rc = move(w, &r); break;
    case 6: rc = resize(w, &r); break;
    default: rc = zap_check(w, &r); break;
    }
    if (rc || check_registry(w, &r, names[op]) || check_pages(w, &r, names[op]))
      return -1;
  }
  w->ops[OP_MUNMAP]++;
  if (zs_munmap(r.base, r.npages * PG))
    return fail(w, "munmap: %s", strerror(errno));
  return 0;
}

/* work - a thread: its own memfd, then rounds over the four kinds in turn. */
static void *work(void *arg) {
  struct worker *w = arg;
  w->fd = memfd_create("zapstress", MFD_CLOEXEC);
  w->fbuf = malloc((size_t)FILE_PAGES * PG);
  if (w->fd < 0 || !w->fbuf || ftruncate(w->fd, (off_t)FILE_PAGES * PG)) {
    fail(w, "memfd: %s", strerror(errno));
    return NULL;
  }
  for (unsigned i = 0; i < w->rounds; i++)
    if (round_once(w, (enum kind)((i + (unsigned)w->id) % K_COUNT)))
      break;
  close(w->fd);
  free(w->fbuf);
  return NULL;
}

/* main - parse -t/-r/-s, run the threads, print the figures and failures. */
int main(int argc, char **argv) {
  unsigned threads = 8, rounds = 300;
  unsigned long seed = (unsigned long)time(NULL);
  int c;
  while ((c = getopt(argc, argv, "t:r:s:")) != -1) {
    switch (c) {
    case 't': threads = (unsigned)strtoul(optarg, NULL, 0); break;
    case 'r': rounds = (unsigned)strtoul(optarg, NULL, 0); break;
    case 's': seed = strtoul(optarg, NULL, 0); break;
    default:
      fprintf(stderr, "usage: %s [-t THREADS] [-r ROUNDS] [-s SEED]\n", argv[0]);
      return 2;
    }
  }
  if (!zs_init()) {
    fprintf(stderr, "zapstress: the core did not come up\n");
    return 1;
  }
  if (threads == 0 || threads > 256 || rounds == 0) {
    fprintf(stderr, "zapstress: 1..256 threads and at least one round\n");
    return 2;
  }
  struct worker *ws = calloc(threads, sizeof *ws);
  pthread_t *th = calloc(threads, sizeof *th);
  if (!ws || !th)
    return 2;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned i = 0; i < threads; i++) {
    ws[i].id = (int)i;
    ws[i].rounds = rounds;
    ws[i].rng = (seed + 1) * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 1;
    if (pthread_create(&th[i], NULL, work, &ws[i])) {
      fprintf(stderr, "zapstress: pthread_create failed\n");
      return 2;
    }
  }
  for (unsigned i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  unsigned long tot[OP_COUNT] = {0}, pages = 0;
  int failed = 0;
  for (unsigned i = 0; i < threads; i++) {
    for (int o = 0; o < OP_COUNT; o++)
      tot[o] += ws[i].ops[o];
    pages += ws[i].zapped_pages;
    if (ws[i].failure[0]) {
      fprintf(stderr, "zapstress: thread %u: %s\n", i, ws[i].failure);
      failed = 1;
    }
  }
  unsigned long all = tot[OP_MMAP] + tot[OP_MUNMAP] + tot[OP_MREMAP] + tot[OP_ZAP];
  printf("zapstress: %u threads x %lu operations = %lu (mmap %lu, munmap %lu, mremap %lu, "
         "zap %lu checked, %lu pages zapped) in %.2f s, seed %lu: %s\n",
         threads, all / threads, all, tot[OP_MMAP], tot[OP_MUNMAP], tot[OP_MREMAP], tot[OP_ZAP],
         pages, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, seed,
         failed ? "FAILED" : "ok");
  free(th);
  free(ws);
  return failed;
}
