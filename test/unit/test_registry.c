/*
 * test_registry.c - the shadow registry: lookups, carving, node budget, and
 * kept-descriptor references following splits, checked against a simple
 * sorted-array model for many random operations; what the registry
 * keeps when its pool cannot grow (a real RLIMIT_AS): never an old entry
 * in a range it could not record; and plain anonymous private memory,
 * whose neighbouring entries are joined (never across a gap, never with
 * other kinds or flags), split again by a munmap in the middle.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fdkeep.h"
#include "registry.h"
#include "zapshim.h"

#define PG 4096u

/* Empty the registry, whatever an earlier test in this process left. */
static void clear_all(void) {
  zs_registry_wrlock();
  zs_registry_remove(0, UINTPTR_MAX);
  zs_registry_unlock();
}

TestSuite(registry, .init = clear_all);

static struct zs_map mk(uintptr_t start, uintptr_t end, uint64_t offset, int slot) {
  return (struct zs_map){.start = start, .end = end, .offset = offset, .ino = 77, .dev = 5,
                         .fdslot = slot, .kind = 3, .prot = 3, .page_shift = 12,
                         .flags = ZS_MAP_SHARED};
}

static void put(uintptr_t start, uintptr_t end, uint64_t offset) {
  struct zs_map m = mk(start, end, offset, -1);
  cr_assert_eq(zs_registry_insert(&m), 0);
}

/* Assert that find(addr) returns the entry [start, end) with offset. */
static void expect(uintptr_t addr, uintptr_t start, uintptr_t end, uint64_t offset) {
  struct zs_map m;
  cr_assert_eq(zs_registry_find(addr, &m), 0, "find(%#lx) failed", (unsigned long)addr);
  cr_assert_eq(m.start, start, "find(%#lx): start %#lx, want %#lx", (unsigned long)addr,
               (unsigned long)m.start, (unsigned long)start);
  cr_assert_eq(m.end, end, "find(%#lx): end %#lx, want %#lx", (unsigned long)addr,
               (unsigned long)m.end, (unsigned long)end);
  cr_assert_eq(m.offset, offset, "find(%#lx): offset %#lx, want %#lx", (unsigned long)addr,
               (unsigned long)m.offset, (unsigned long)offset);
}

static void expect_none(uintptr_t addr) {
  struct zs_map m;
  cr_assert_eq(zs_registry_find(addr, &m), ENOENT, "find(%#lx) should be ENOENT",
               (unsigned long)addr);
}

Test(registry, insert_find_covering_and_next) {
  cr_assert_eq(zs_registry_count(), 0);
  expect_none(0);
  put(0x30000, 0x40000, 0x5000);
  put(0x10000, 0x20000, 0);
  cr_assert_eq(zs_registry_count(), 2);

  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x10000, &m), 0);
  struct zs_map w = mk(0x10000, 0x20000, 0, -1); /* every field copied back */
  cr_assert(m.start == w.start && m.end == w.end && m.offset == w.offset && m.ino == w.ino &&
            m.dev == w.dev && m.fdslot == w.fdslot && m.kind == w.kind && m.prot == w.prot &&
            m.page_shift == w.page_shift && m.flags == w.flags);

  expect(0, 0x10000, 0x20000, 0);       /* below everything: the first */
  expect(0x1ffff, 0x10000, 0x20000, 0); /* last byte covered */
  expect(0x20000, 0x30000, 0x40000, 0x5000); /* end is exclusive: the next */
  expect(0x2abcd, 0x30000, 0x40000, 0x5000); /* in a gap: the next */
  expect(0x3ffff, 0x30000, 0x40000, 0x5000);
  expect_none(0x40000);
  expect_none(UINTPTR_MAX);
  cr_assert_eq(zs_registry_find(0x10000, NULL), 0);
}

Test(registry, empty_insert_is_not_kept) {
  put(0x5000, 0x5000, 0);
  cr_assert_eq(zs_registry_count(), 0);
  expect_none(0);
}

Test(registry, remove_whole_entry_inside) {
  put(0x10000, 0x20000, 0);
  put(0x20000, 0x30000, 0);
  cr_assert_eq(zs_registry_remove(0x8000, 0x20000), 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0, 0x20000, 0x30000, 0);
}

Test(registry, remove_left_edge_advances_offset) {
  put(0x10000, 0x20000, 0x100000);
  cr_assert_eq(zs_registry_remove(0x8000, 0x13000), 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0x12fff, 0x13000, 0x20000, 0x103000);
  expect(0x13000, 0x13000, 0x20000, 0x103000);
}

Test(registry, remove_right_edge_keeps_offset) {
  put(0x10000, 0x20000, 0x100000);
  cr_assert_eq(zs_registry_remove(0x1c000, 0x40000), 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0x10000, 0x10000, 0x1c000, 0x100000);
  expect_none(0x1c000);
}

Test(registry, remove_middle_splits) {
  put(0x10000, 0x20000, 0x100000);
  cr_assert_eq(zs_registry_remove(0x14000, 0x16000), 0);
  cr_assert_eq(zs_registry_count(), 2);
  expect(0x10000, 0x10000, 0x14000, 0x100000);
  expect(0x14000, 0x16000, 0x20000, 0x106000); /* hole: next is the right half */
  expect(0x1ffff, 0x16000, 0x20000, 0x106000);
  /* both halves keep every other field */
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x17000, &m), 0);
  cr_assert_eq(m.ino, 77);
  cr_assert_eq(m.dev, 5);
  cr_assert_eq(m.kind, 3);
  cr_assert_eq(m.flags, ZS_MAP_SHARED);
  cr_assert_eq(m.page_shift, 12);
}

Test(registry, remove_nothing_and_empty_range) {
  put(0x10000, 0x20000, 0);
  cr_assert_eq(zs_registry_remove(0x20000, 0x30000), 0);
  cr_assert_eq(zs_registry_remove(0x0, 0x10000), 0);
  cr_assert_eq(zs_registry_remove(0x15000, 0x15000), 0);
  cr_assert_eq(zs_registry_remove(0x18000, 0x12000), 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0, 0x10000, 0x20000, 0);
}

/* expect_gap - zs_registry_gap(addr) and zs_registry_peek_gap(addr) both
 * answer the free range [lo, hi). */
static void expect_gap(uintptr_t addr, uintptr_t lo, uintptr_t hi) {
  uintptr_t l = 1, h = 1, pl = 1, ph = 1;
  uint64_t gen;
  zs_registry_rdlock();
  int rc = zs_registry_gap(addr, &l, &h);
  zs_registry_unlock();
  cr_assert_eq(rc, 0, "gap at %#lx: %d", (unsigned long)addr, rc);
  cr_assert(l == lo && h == hi, "gap at %#lx: [%#lx, %#lx), want [%#lx, %#lx)", (unsigned long)addr,
            (unsigned long)l, (unsigned long)h, (unsigned long)lo, (unsigned long)hi);
  int prc = zs_registry_peek_gap(addr, &pl, &ph, &gen);
  if (!ZS_REGISTRY_NO_PEEK) {
    cr_assert_eq(prc, 0, "peek_gap at %#lx: %d", (unsigned long)addr, prc);
    cr_assert(pl == lo && ph == hi && gen == zs_registry_generation(),
              "peek_gap at %#lx: [%#lx, %#lx)", (unsigned long)addr, (unsigned long)pl,
              (unsigned long)ph);
  }
}

Test(registry, gap_between_entries_and_covered) {
  expect_gap(0x5000, 0, UINTPTR_MAX); /* empty registry: everything is free */
  put(0x10000, 0x20000, 0);
  put(0x30000, 0x40000, 0);
  expect_gap(0x0, 0, 0x10000);
  expect_gap(0x20000, 0x20000, 0x30000);
  expect_gap(0x2ffff, 0x20000, 0x30000);
  expect_gap(0x40000, 0x40000, UINTPTR_MAX);
  uintptr_t lo, hi;
  uint64_t gen;
  zs_registry_rdlock();
  cr_assert_eq(zs_registry_gap(0x10000, &lo, &hi), EEXIST);
  cr_assert_eq(zs_registry_gap(0x3ffff, &lo, &hi), EEXIST);
  zs_registry_unlock();
  int prc = zs_registry_peek_gap(0x1ffff, &lo, &hi, &gen);
  cr_assert_eq(prc, ZS_REGISTRY_NO_PEEK ? EAGAIN : EEXIST);
}

Test(registry, remove_of_nothing_keeps_the_generation) {
  put(0x10000, 0x20000, 0);
  zs_registry_wrlock();
  uint64_t g = zs_registry_generation();
  cr_assert_eq(zs_registry_remove(0x20000, 0x30000), 0);
  cr_assert_eq(zs_registry_remove(0x0, 0x10000), 0);
  cr_assert_eq(zs_registry_generation(), g, "no entry overlapped: no change");
  cr_assert_eq(zs_registry_remove(0x1f000, 0x30000), 0);
  cr_assert_neq(zs_registry_generation(), g, "a trim is a change");
  zs_registry_unlock();
  expect(0x10000, 0x10000, 0x1f000, 0);
}

Test(registry, remove_spanning_many) {
  for (uintptr_t i = 0; i < 100; i++)
    put(0x100000 + i * 0x10000, 0x100000 + i * 0x10000 + 0x8000, i * 0x1000);
  /* from the middle of entry 10 to the middle of entry 89 */
  cr_assert_eq(zs_registry_remove(0x100000 + 10 * 0x10000 + 0x2000,
                                  0x100000 + 89 * 0x10000 + 0x3000), 0);
  cr_assert_eq(zs_registry_count(), 10 + 1 + 1 + 10);
  expect(0x100000 + 10 * 0x10000, 0x100000 + 10 * 0x10000, 0x100000 + 10 * 0x10000 + 0x2000,
         10 * 0x1000);
  expect(0x100000 + 10 * 0x10000 + 0x2000, 0x100000 + 89 * 0x10000 + 0x3000,
         0x100000 + 89 * 0x10000 + 0x8000, 89 * 0x1000 + 0x3000);
  expect(0x100000 + 90 * 0x10000, 0x100000 + 90 * 0x10000, 0x100000 + 90 * 0x10000 + 0x8000,
         90 * 0x1000);
}

Test(registry, insert_carves_overlap) {
  put(0x10000, 0x20000, 0);
  put(0x14000, 0x16000, 0x9000);
  cr_assert_eq(zs_registry_count(), 3);
  expect(0x13fff, 0x10000, 0x14000, 0);
  expect(0x14000, 0x14000, 0x16000, 0x9000);
  expect(0x16000, 0x16000, 0x20000, 0x6000);
}

/* ---- random operations against a sorted-array model ---- */

struct ent {
  uintptr_t start, end;
  uint64_t offset;
};

static struct ent *model, *scratch;
static size_t nmodel, cap;

/* xorshift64*: a fixed-seed generator, so a failure replays. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

static void model_remove(uintptr_t start, uintptr_t end) {
  size_t n = 0;
  for (size_t i = 0; i < nmodel; i++) {
    struct ent e = model[i];
    if (e.end <= start || e.start >= end) {
      scratch[n++] = e;
      continue;
    }
    if (e.start < start)
      scratch[n++] = (struct ent){e.start, start, e.offset};
    if (e.end > end)
      scratch[n++] = (struct ent){end, e.end, e.offset + (end - e.start)};
  }
  cr_assert_leq(n, cap);
  struct ent *t = model;
  model = scratch;
  scratch = t;
  nmodel = n;
}

/* The model's answer to find(addr): index, or nmodel for ENOENT. */
static size_t model_find(uintptr_t addr) {
  size_t lo = 0, hi = nmodel; /* first entry with end > addr */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (model[mid].end > addr)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static void check_addr(uintptr_t addr) {
  size_t i = model_find(addr);
  if (i == nmodel)
    expect_none(addr);
  else
    expect(addr, model[i].start, model[i].end, model[i].offset);
}

#define NRAND 70000u
#define SLOT 0x10000u /* entry k lives in [BASE + k*SLOT, BASE + (k+1)*SLOT) */
#define BASE 0x100000000ull

Test(registry, random_70000_against_model) {
  cap = 2 * NRAND + 16;
  model = malloc(cap * sizeof *model);
  scratch = malloc(cap * sizeof *scratch);
  uint32_t *order = malloc(NRAND * sizeof *order);
  cr_assert(model && scratch && order);

  for (uint32_t k = 0; k < NRAND; k++) {
    uintptr_t s = BASE + (uintptr_t)k * SLOT + (rnd() % 4) * PG;
    model[k] = (struct ent){s, s + (1 + rnd() % 12) * PG, (rnd() % 1000) * PG};
    order[k] = k;
  }
  nmodel = NRAND;
  for (uint32_t k = NRAND - 1; k > 0; k--) { /* Fisher-Yates */
    uint32_t j = (uint32_t)(rnd() % (k + 1)), t = order[k];
    order[k] = order[j];
    order[j] = t;
  }
  for (uint32_t k = 0; k < NRAND; k++) {
    struct ent e = model[order[k]];
    put(e.start, e.end, e.offset);
  }
  cr_assert_eq(zs_registry_count(), NRAND);

  uintptr_t span = (uintptr_t)NRAND * SLOT;
  for (int r = 0; r < 3000; r++) {
    uintptr_t a = BASE + (rnd() % (span / PG)) * PG;
    uintptr_t len = (r % 10 == 0) ? (1 + rnd() % 400) * SLOT : (1 + rnd() % 24) * PG;
    cr_assert_eq(zs_registry_remove(a, a + len), 0);
    model_remove(a, a + len);
  }
  cr_assert_eq(zs_registry_count(), nmodel, "count %zu, model %zu", zs_registry_count(), nmodel);
  cr_assert_eq(zs_registry_check(), 0, "the tree is broken after the removals");

  for (size_t i = 0; i < nmodel; i++) {
    check_addr(model[i].start);
    check_addr(model[i].end - 1);
    check_addr(model[i].end); /* a gap or the next entry */
    check_addr(model[i].start - 1);
  }
  for (int r = 0; r < 200000; r++)
    check_addr(BASE - SLOT + rnd() % (span + 2 * SLOT));
  check_addr(0);

  /* and empty it all through random-order removals of whole slots */
  for (uint32_t k = 0; k < NRAND; k++) {
    uintptr_t s = BASE + (uintptr_t)order[k] * SLOT;
    cr_assert_eq(zs_registry_remove(s, s + SLOT), 0);
  }
  cr_assert_eq(zs_registry_count(), 0);
  cr_assert_eq(zs_registry_check(), 0);
  expect_none(0);
  free(model);
  free(scratch);
  free(order);
}

Test(registry, bytes_per_entry_at_most_64) {
  cr_assert_eq(zs_registry_bytes(), 0, "no storage before the first entry");
  /* Each time bytes grows, a new chunk was mapped; the entries inserted
   * between two growths all fit the chunk mapped at the first. */
  size_t last_bytes = 0, last_count = 0, chunks_seen = 0;
  for (uintptr_t k = 0; k < 100000; k++) {
    put(BASE + k * PG, BASE + (k + 1) * PG - 1, 0);
    size_t b = zs_registry_bytes();
    if (b != last_bytes) {
      size_t held = zs_registry_count() - 1 - last_count; /* entries the previous chunk took */
      if (last_bytes != 0) {
        size_t chunk = b - last_bytes;
        cr_assert_leq(chunk, 64 * held, "chunk of %zu bytes held only %zu entries", chunk, held);
      }
      chunks_seen++;
      last_bytes = b;
      last_count = zs_registry_count() - 1;
    }
  }
  cr_assert_geq(chunks_seen, 3, "test should cross several chunks");
  cr_assert_leq(zs_registry_bytes(), 64 * zs_registry_count() + last_bytes / chunks_seen);

  /* freed nodes are reused: no growth when re-inserting after removals */
  size_t before = zs_registry_bytes();
  cr_assert_eq(zs_registry_remove(BASE, BASE + 50000 * PG), 0);
  cr_assert_eq(zs_registry_count(), 50000);
  for (uintptr_t k = 0; k < 50000; k++)
    put(BASE + k * PG, BASE + (k + 1) * PG - 1, 0);
  cr_assert_eq(zs_registry_count(), 100000);
  cr_assert_eq(zs_registry_bytes(), before);
}

/* Sorted inserts degenerate an unbalanced tree into a list (quadratic
 * time, deep recursion); the balanced tree does this in well under a second. */
Test(registry, sorted_inserts_stay_fast, .timeout = 20) {
  const uintptr_t n = 300000;
  for (uintptr_t k = 0; k < n; k++)
    put(BASE + k * PG, BASE + k * PG + PG / 2, k);
  cr_assert_eq(zs_registry_count(), n);
  cr_assert_eq(zs_registry_check(), 0, "sorted inserts left the tree broken");
  for (uintptr_t k = n; k-- > 0;) {
    uintptr_t s = BASE + k * PG;
    expect(s + 1, s, s + PG / 2, k);
    if (k + 1 < n)
      expect(s + PG / 2, s + PG, s + PG + PG / 2, k + 1); /* in the gap: the next */
  }
  expect_none(BASE + (n - 1) * PG + PG / 2);
  for (uintptr_t k = 0; k < n; k += 2) /* drop every other one, in order */
    cr_assert_eq(zs_registry_remove(BASE + k * PG, BASE + k * PG + PG), 0);
  cr_assert_eq(zs_registry_count(), n / 2);
  cr_assert_eq(zs_registry_check(), 0, "in-order removals left the tree broken");
  expect(BASE, BASE + PG, BASE + PG + PG / 2, 1);
}

/* ---- kept-descriptor references ---- */

static int fd_open(int fd) {
  errno = 0;
  return fcntl(fd, F_GETFD) != -1;
}

static int fd_closed(int fd) {
  errno = 0;
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

Test(registry, fd_refs_follow_split_and_removal) {
  int mfd = memfd_create("zs-reg", 0);
  cr_assert_geq(mfd, 0);
  cr_assert_eq(ftruncate(mfd, 1 << 20), 0);
  struct stat st;
  cr_assert_eq(fstat(mfd, &st), 0);
  uint32_t dev = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
  uint64_t ino = st.st_ino;

  int slot = zs_fdkeep_get(mfd, dev, ino);
  cr_assert_geq(slot, 0);
  int kfd = zs_fdkeep_fd(slot, dev, ino);
  cr_assert_geq(kfd, 0);

  struct zs_map m = mk(0x10000, 0x20000, 0, slot);
  m.dev = dev;
  m.ino = ino;
  cr_assert_eq(zs_registry_insert(&m), 0);
  zs_fdkeep_unref(slot); /* only the registry holds it now */
  cr_assert(fd_open(kfd));

  cr_assert_eq(zs_registry_remove(0x14000, 0x15000), 0); /* split: two refs */
  cr_assert_eq(zs_registry_count(), 2);
  struct zs_map l, r;
  cr_assert_eq(zs_registry_find(0x10000, &l), 0);
  cr_assert_eq(zs_registry_find(0x15000, &r), 0);
  cr_assert_eq(l.fdslot, slot);
  cr_assert_eq(r.fdslot, slot);
  cr_assert_eq(r.offset, 0x5000);

  cr_assert_eq(zs_registry_remove(0x1f000, 0x20000), 0); /* trim: refs unchanged */
  cr_assert_eq(zs_registry_remove(0x10000, 0x14000), 0); /* left half gone */
  cr_assert(fd_open(kfd), "the right half still holds a reference");
  cr_assert_eq(zs_fdkeep_fd(slot, dev, ino), kfd);

  cr_assert_eq(zs_registry_remove(0x15000, 0x1f000), 0); /* last user gone */
  cr_assert_eq(zs_registry_count(), 0);
  cr_assert(fd_closed(kfd), "the kept descriptor is closed with the last entry");
  cr_assert_eq(zs_fdkeep_fd(slot, dev, ino), -1);
  cr_assert(fd_open(mfd), "the program's own descriptor is untouched");
  close(mfd);
}

Test(registry, lock_round_trip_and_fork_reset) {
  zs_registry_rdlock();
  zs_registry_rdlock(); /* readers share */
  zs_registry_unlock();
  zs_registry_unlock();
  zs_registry_wrlock();
  put(0x10000, 0x20000, 0);
  /* as in a fork child whose parent held the lock: reset must free it */
  zs_registry_reset_after_fork();
  zs_registry_wrlock();
  expect(0, 0x10000, 0x20000, 0); /* entries survive the reset */
  zs_registry_unlock();
}

/* ---- out of storage: the pool cannot grow (issue 9) ---- */

#define FILL_BASE 0x200000000ull /* the filler entries, far above the test's */

/* vm_bytes - the process's address space size (VmSize), read from
 * /proc/self/statm without stdio. */
static size_t vm_bytes(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  cr_assert_gt(n, 0);
  buf[n] = 0;
  return (size_t)strtoull(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

/* fill_first_chunk - entries until the first storage chunk is full (the
 * ones already inserted count): the next node needs a new chunk. */
static void fill_first_chunk(void) {
  size_t bytes = zs_registry_bytes();
  cr_assert_gt(bytes, 0, "insert the test's own entries first");
  for (uintptr_t k = 0; zs_registry_count() < ZS_CHUNK_NODES - 1; k++)
    put(FILL_BASE + k * 2 * PG, FILL_BASE + k * 2 * PG + PG, 0);
  cr_assert_eq(zs_registry_bytes(), bytes, "the first chunk holds ZS_CHUNK_NODES - 1 entries");
}

/* pool_cannot_grow - lower RLIMIT_AS to what is mapped now plus 256 KiB,
 * less than a chunk (ZS_CHUNK_NODES nodes, 896 KiB): the registry's next
 * chunk cannot be mapped.  The old limit goes to *old.  Between this and
 * pool_can_grow the test calls only registry functions (no assertion,
 * which may need memory). */
static void pool_cannot_grow(struct rlimit *old) {
  cr_assert_eq(getrlimit(RLIMIT_AS, old), 0);
  struct rlimit tight = {vm_bytes() + 256 * 1024, old->rlim_max};
  cr_assert_eq(setrlimit(RLIMIT_AS, &tight), 0);
}

/* pool_can_grow - the limit of before pool_cannot_grow again. */
static void pool_can_grow(const struct rlimit *old) {
  cr_assert_eq(setrlimit(RLIMIT_AS, old), 0);
}

/* insert_without_growth / remove_without_growth - the registry change made
 * while the pool cannot grow (pool_cannot_grow), the limit put back after.
 * Return what the change returned. */
static int insert_without_growth(const struct zs_map *m) {
  struct rlimit old;
  pool_cannot_grow(&old);
  int rc = zs_registry_insert(m);
  pool_can_grow(&old);
  return rc;
}
static int remove_without_growth(uintptr_t start, uintptr_t end) {
  struct rlimit old;
  pool_cannot_grow(&old);
  int rc = zs_registry_remove(start, end);
  pool_can_grow(&old);
  return rc;
}

/* The limit is real: with it, a chunk's worth of memory cannot be mapped. */
Test(registry, exhaustion_limit_is_real) {
  put(0x10000, 0x20000, 0);
  struct rlimit old;
  pool_cannot_grow(&old);
  void *p = mmap(NULL, ZS_CHUNK_NODES * 56, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int e = errno;
  pool_can_grow(&old);
  cr_assert_eq(p, MAP_FAILED, "RLIMIT_AS did not stop a chunk-sized mapping");
  cr_assert_eq(e, ENOMEM);
}

/* An insert over the tail of a known entry, with no node to be had: the
 * old entry no longer covers the range (trimmed), the new one is absent,
 * ENOMEM; the range is unknown.  The new entry's descriptor takes no
 * reference. */
Test(registry, insert_under_exhaustion_old_gone_new_absent) {
  int mfd = memfd_create("zs-reg-oom", 0);
  cr_assert_geq(mfd, 0);
  struct stat st;
  cr_assert_eq(fstat(mfd, &st), 0);
  uint32_t dev = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
  int slot = zs_fdkeep_get(mfd, dev, st.st_ino);
  cr_assert_geq(slot, 0);
  int kfd = zs_fdkeep_fd(slot, dev, st.st_ino);

  put(0x10000, 0x20000, 0x100000);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct zs_map n = mk(0x18000, 0x28000, 0x9000, slot);
  n.dev = dev;
  n.ino = st.st_ino;
  n.kind = 7;

  int rc = insert_without_growth(&n);

  cr_assert_eq(rc, ENOMEM);
  expect(0x10000, 0x10000, 0x18000, 0x100000); /* the old entry's head: still known */
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x18000, &m), 0);
  cr_assert_geq(m.start, FILL_BASE, "[0x18000, 0x28000) must be unknown, found [%#lx, %#lx)",
                (unsigned long)m.start, (unsigned long)m.end);
  cr_assert_eq(zs_registry_count(), count);
  zs_fdkeep_unref(slot); /* the caller's own: the registry took none */
  cr_assert(fd_closed(kfd), "a failed insert keeps no reference on its descriptor");
  close(mfd);


  n.fdslot = -1; /* with room again, the same insert is kept */
  cr_assert_eq(zs_registry_insert(&n), 0);
  expect(0x18000, 0x18000, 0x28000, 0x9000);
}

/* An insert strictly inside a known entry, with no node to be had: the
 * split finds none, so the old entry is dropped whole (both sides become
 * unknown) and its node carries the new entry. */
Test(registry, insert_inside_under_exhaustion_drops_old_whole) {
  put(0x10000, 0x20000, 0x100000);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct zs_map n = mk(0x14000, 0x16000, 0x9000, -1);
  int rc = insert_without_growth(&n);
  cr_assert_eq(rc, 0);
  expect(0x10000, 0x14000, 0x16000, 0x9000); /* [0x10000, 0x14000) unknown */
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x16000, &m), 0);
  cr_assert_geq(m.start, FILL_BASE, "[0x16000, 0x20000) must be unknown");
  cr_assert_eq(zs_registry_count(), count);
}

/* Replacing a whole known entry needs no new storage: the carve frees its
 * node first. */
Test(registry, insert_over_whole_entry_under_exhaustion_replaces) {
  put(0x10000, 0x20000, 0x100000);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct zs_map n = mk(0x10000, 0x20000, 0x9000, -1);
  n.kind = 7;
  int rc = insert_without_growth(&n);
  cr_assert_eq(rc, 0);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x10000, &m), 0);
  cr_assert(m.start == 0x10000 && m.end == 0x20000 && m.offset == 0x9000 && m.kind == 7,
            "the new entry replaced the old one");
  cr_assert_eq(zs_registry_count(), count);
}

/* A removal strictly inside a known entry, with no node to split it:
 * ENOMEM, and the whole entry is gone (unknown), not kept across the
 * removed range. */
Test(registry, remove_inside_under_exhaustion_drops_whole) {
  put(0x10000, 0x20000, 0x100000);
  fill_first_chunk();
  size_t count = zs_registry_count();
  int rc = remove_without_growth(0x14000, 0x16000);
  cr_assert_eq(rc, ENOMEM);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x10000, &m), 0);
  cr_assert_geq(m.start, FILL_BASE, "the split entry must be gone whole");
  cr_assert_eq(zs_registry_count(), count - 1);
}

/* ---- plain anonymous private memory: neighbours joined (issue 11) ---- */

/* anon - plain anonymous private memory over [start, end) with flags
 * (ZS_MAP_ANON, maybe ZS_MAP_DONTFORK), offset, prot read-write. */
static struct zs_map anon(uintptr_t start, uintptr_t end, uint8_t flags, uint64_t offset) {
  return (struct zs_map){.start = start, .end = end, .offset = offset, .fdslot = -1,
                         .kind = ZAPSHIM_KIND_ANON_PRIVATE, .prot = PROT_READ | PROT_WRITE,
                         .page_shift = 12, .flags = flags};
}

/* put_anon - insert plain anonymous [start, end) (ZS_MAP_ANON), asserting 0. */
static void put_anon(uintptr_t start, uintptr_t end, uint64_t offset) {
  struct zs_map m = anon(start, end, ZS_MAP_ANON, offset);
  cr_assert_eq(zs_registry_insert(&m), 0);
}

/* expect_bounds - find(addr) is an entry [start, end) (offset not asked). */
static void expect_bounds(uintptr_t addr, uintptr_t start, uintptr_t end) {
  struct zs_map m;
  cr_assert_eq(zs_registry_find(addr, &m), 0, "find(%#lx) failed", (unsigned long)addr);
  cr_assert(m.start == start && m.end == end, "find(%#lx): [%#lx, %#lx), want [%#lx, %#lx)",
            (unsigned long)addr, (unsigned long)m.start, (unsigned long)m.end,
            (unsigned long)start, (unsigned long)end);
}

/* A plain insert just above a plain entry extends it: one entry, the left
 * one's offset, prot not kept, every other field as inserted. */
Test(registry, anon_joins_left) {
  put_anon(0x10000, 0x11000, 0x7000);
  put_anon(0x11000, 0x13000, 0x9000);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0x12fff, 0x10000, 0x13000, 0x7000);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x10000, &m), 0);
  cr_assert(m.kind == ZAPSHIM_KIND_ANON_PRIVATE && m.flags == ZS_MAP_ANON && m.fdslot == -1 &&
            m.ino == 0 && m.dev == 0 && m.page_shift == 12);
  cr_assert_eq(m.prot, 0, "plain anonymous entries keep no protection");
  expect_none(0x13000);
}

/* Just below a plain entry: the right one is lowered and takes the new
 * start and offset. */
Test(registry, anon_joins_right) {
  put_anon(0x11000, 0x13000, 0x9000);
  put_anon(0x10000, 0x11000, 0x7000);
  cr_assert_eq(zs_registry_count(), 1);
  expect(0x12000, 0x10000, 0x13000, 0x7000);
  expect(0, 0x10000, 0x13000, 0x7000);
}

/* Between two plain entries: all three become one, one node freed. */
Test(registry, anon_joins_both) {
  put_anon(0x10000, 0x11000, 0);
  put_anon(0x12000, 0x14000, 0);
  cr_assert_eq(zs_registry_count(), 2);
  put_anon(0x11000, 0x12000, 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect_bounds(0x10000, 0x10000, 0x14000);
  expect_bounds(0x13fff, 0x10000, 0x14000);
  expect_none(0x14000);
  /* a page-sized run of many inserts, top-down as mmap hands them out */
  for (uintptr_t k = 64; k-- > 0;)
    put_anon(0x100000 + k * PG, 0x100000 + (k + 1) * PG, 0);
  cr_assert_eq(zs_registry_count(), 2);
  expect_bounds(0x100000 + 17 * PG, 0x100000, 0x100000 + 64 * PG);
}

/* A plain insert over an entry replaced in the middle by something else
 * joins what is around it: the other entry was carved out first. */
Test(registry, anon_replacing_other_kind_joins) {
  put_anon(0x10000, 0x11000, 0);
  put(0x11000, 0x12000, 0);
  put_anon(0x12000, 0x13000, 0);
  cr_assert_eq(zs_registry_count(), 3);
  put_anon(0x11000, 0x12000, 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect_bounds(0x11000, 0x10000, 0x13000);
}

/* Never across a gap, however small. */
Test(registry, anon_no_join_across_gap) {
  put_anon(0x10000, 0x11000, 0);
  put_anon(0x11001, 0x12000, 0);
  put_anon(0x13000, 0x14000, 0);
  cr_assert_eq(zs_registry_count(), 3);
  expect_bounds(0x10000, 0x10000, 0x11000);
  expect_bounds(0x11000, 0x11001, 0x12000);
  expect_bounds(0x12000, 0x13000, 0x14000);
}

/* Different flags (MADV_DONTFORK) are not joined; the same are. */
Test(registry, anon_no_join_different_flags) {
  struct zs_map d = anon(0x11000, 0x12000, ZS_MAP_ANON | ZS_MAP_DONTFORK, 0);
  put_anon(0x10000, 0x11000, 0);
  cr_assert_eq(zs_registry_insert(&d), 0);
  put_anon(0x12000, 0x13000, 0);
  cr_assert_eq(zs_registry_count(), 3);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x11000, &m), 0);
  cr_assert(m.start == 0x11000 && m.end == 0x12000 && m.flags == (ZS_MAP_ANON | ZS_MAP_DONTFORK));
  d.start = 0x14000; /* DONTFORK with DONTFORK, across a gap: no */
  d.end = 0x15000;
  cr_assert_eq(zs_registry_insert(&d), 0);
  d.start = 0x13000; /* then the gap filled: the two DONTFORK ones join, */
  d.end = 0x14000;   /* not with the plain one below */
  cr_assert_eq(zs_registry_insert(&d), 0);
  cr_assert_eq(zs_registry_count(), 4);
  cr_assert_eq(zs_registry_find(0x13000, &m), 0);
  cr_assert(m.start == 0x13000 && m.end == 0x15000 && m.flags == (ZS_MAP_ANON | ZS_MAP_DONTFORK));
  expect_bounds(0x12000, 0x12000, 0x13000);
}

/* Anonymous memory that is not plain is never joined, with plain memory
 * nor with its own kind: MAP_HUGETLB, shared anonymous, private /dev/zero,
 * one with a kept descriptor or a file identity.  Their prot is kept. */
Test(registry, anon_not_plain_never_joined) {
  struct zs_map v[6];
  v[0] = anon(0, 0, ZS_MAP_ANON | ZS_MAP_HUGETLB, 0);
  v[0].kind = ZAPSHIM_KIND_HUGETLB_PRIVATE;
  v[0].page_shift = 21;
  v[1] = anon(0, 0, ZS_MAP_ANON | ZS_MAP_SHARED, 0);
  v[1].kind = ZAPSHIM_KIND_SHMEM_SHARED;
  v[2] = anon(0, 0, ZS_MAP_ANON | ZS_MAP_DEVZERO, 0);
  v[3] = anon(0, 0, ZS_MAP_ANON, 0);
  v[3].ino = 5;
  v[4] = anon(0, 0, ZS_MAP_ANON, 0);
  v[4].dev = 5;
  v[5] = anon(0, 0, ZS_MAP_ANON | ZS_MAP_HUGETLB, 0); /* plain but for the flag */
  for (int k = 0; k < 6; k++) {
    clear_all();
    uintptr_t b = 0x40000000;
    put_anon(b, b + 0x200000, 0);
    for (int j = 0; j < 2; j++) { /* two of the kind, back to back, above it */
      struct zs_map m = v[k];
      m.start = b + 0x200000 * (uintptr_t)(j + 1);
      m.end = m.start + 0x200000;
      cr_assert_eq(zs_registry_insert(&m), 0);
    }
    put_anon(b + 0x600000, b + 0x800000, 0);
    cr_assert_eq(zs_registry_count(), 4, "case %d: %zu entries", k, zs_registry_count());
    struct zs_map m;
    cr_assert_eq(zs_registry_find(b + 0x200000, &m), 0);
    cr_assert(m.start == b + 0x200000 && m.end == b + 0x400000, "case %d", k);
    cr_assert_eq(m.prot, PROT_READ | PROT_WRITE, "case %d: the prot of what is not plain stays", k);
  }
}

/* An insert of plain memory wholly inside a plain entry of the same flags
 * changes nothing and needs no node (even with none to be had). */
Test(registry, anon_insert_inside_joinable_is_a_no_op) {
  put_anon(0x10000, 0x20000, 0x3000);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct rlimit old;
  pool_cannot_grow(&old);
  struct zs_map m = anon(0x14000, 0x16000, ZS_MAP_ANON, 0x99000);
  int rc = zs_registry_insert(&m);
  m = anon(0x10000, 0x20000, ZS_MAP_ANON, 0x99000); /* exactly over it */
  int rc2 = zs_registry_insert(&m);
  pool_can_grow(&old);
  cr_assert_eq(rc, 0);
  cr_assert_eq(rc2, 0);
  cr_assert_eq(zs_registry_count(), count);
  expect(0x15000, 0x10000, 0x20000, 0x3000);
}

/* A join needs no node: with none to be had, a plain insert next to a
 * plain entry is still recorded. */
Test(registry, anon_join_under_exhaustion_needs_no_node) {
  put_anon(0x10000, 0x11000, 0);
  put_anon(0x12000, 0x13000, 0);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct rlimit old;
  pool_cannot_grow(&old);
  struct zs_map m = anon(0x13000, 0x14000, ZS_MAP_ANON, 0);
  int rc = zs_registry_insert(&m);
  m = anon(0x11000, 0x12000, ZS_MAP_ANON, 0);
  int rc2 = zs_registry_insert(&m);
  pool_can_grow(&old);
  cr_assert_eq(rc, 0);
  cr_assert_eq(rc2, 0);
  cr_assert_eq(zs_registry_count(), count - 1);
  expect_bounds(0x10000, 0x10000, 0x14000);
}

/* A munmap in the middle of a joined entry splits it like any entry: both
 * sides keep every field; mapped again, the page joins them back. */
Test(registry, anon_joined_split_by_remove) {
  for (uintptr_t k = 0; k < 4; k++)
    put_anon(0x10000 + k * PG, 0x10000 + (k + 1) * PG, 0);
  cr_assert_eq(zs_registry_count(), 1);
  cr_assert_eq(zs_registry_remove(0x11000, 0x12000), 0);
  cr_assert_eq(zs_registry_count(), 2);
  expect_bounds(0x10000, 0x10000, 0x11000);
  expect_bounds(0x11000, 0x12000, 0x14000);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x13000, &m), 0);
  cr_assert(m.kind == ZAPSHIM_KIND_ANON_PRIVATE && m.flags == ZS_MAP_ANON && m.fdslot == -1 &&
            m.prot == 0 && m.page_shift == 12);
  put_anon(0x11000, 0x12000, 0);
  cr_assert_eq(zs_registry_count(), 1);
  expect_bounds(0x13000, 0x10000, 0x14000);
  /* and a MADV_DONTFORK of the middle page (hooks.c mark_range) */
  m = anon(0x11000, 0x12000, ZS_MAP_ANON | ZS_MAP_DONTFORK, 0);
  cr_assert_eq(zs_registry_insert(&m), 0);
  cr_assert_eq(zs_registry_count(), 3);
  m.flags = ZS_MAP_ANON; /* MADV_DOFORK: one again */
  cr_assert_eq(zs_registry_insert(&m), 0);
  cr_assert_eq(zs_registry_count(), 1);
}

/* The split of a joined entry finds no node: the whole joined entry is
 * dropped (every page of it unknown), ENOMEM. */
Test(registry, anon_joined_split_under_exhaustion_drops_whole) {
  for (uintptr_t k = 0; k < 4; k++)
    put_anon(0x10000 + k * PG, 0x10000 + (k + 1) * PG, 0);
  fill_first_chunk();
  size_t count = zs_registry_count();
  int rc = remove_without_growth(0x11000, 0x12000);
  cr_assert_eq(rc, ENOMEM);
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x10000, &m), 0);
  cr_assert_geq(m.start, FILL_BASE, "the joined entry must be gone whole, found [%#lx, %#lx)",
                (unsigned long)m.start, (unsigned long)m.end);
  cr_assert_eq(zs_registry_count(), count - 1);
}

/* Another kind mapped over the middle of a joined entry with no node to
 * be had: the split fails, the joined entry goes whole, and its node
 * carries the new entry. */
Test(registry, other_kind_inside_joined_under_exhaustion) {
  for (uintptr_t k = 0; k < 4; k++)
    put_anon(0x10000 + k * PG, 0x10000 + (k + 1) * PG, 0);
  fill_first_chunk();
  size_t count = zs_registry_count();
  struct zs_map n = mk(0x11000, 0x12000, 0x5000, -1);
  int rc = insert_without_growth(&n);
  cr_assert_eq(rc, 0);
  expect(0x10000, 0x11000, 0x12000, 0x5000); /* [0x10000, 0x11000) unknown */
  struct zs_map m;
  cr_assert_eq(zs_registry_find(0x12000, &m), 0);
  cr_assert_geq(m.start, FILL_BASE, "[0x12000, 0x14000) must be unknown");
  cr_assert_eq(zs_registry_count(), count);
}

/* Churn at scale, checked whole: the tree stays balanced, with the right
 * subtree heights in every node, through inserts and removals in random
 * and in descending order (mmap hands out addresses top-down), joins and
 * splits of plain anonymous entries included. */
Test(registry, tree_whole_through_churn, .timeout = 60) {
  const uintptr_t n = 20000;
  for (uintptr_t k = n; k-- > 0;) { /* descending, every other one plain */
    uintptr_t s = BASE + k * 2 * PG;
    if (k & 1)
      put_anon(s, s + PG, 0);
    else
      put(s, s + PG, k);
  }
  cr_assert_eq(zs_registry_check(), 0);
  for (int r = 0; r < 200000; r++) {
    uintptr_t s = BASE + (rnd() % (2 * n)) * PG;
    switch (rnd() % 4) {
    case 0: put(s, s + PG * (1 + rnd() % 3), 0); break;
    case 1: put_anon(s, s + PG * (1 + rnd() % 3), 0); break;
    default: cr_assert_eq(zs_registry_remove(s, s + PG * (1 + rnd() % 2)), 0); break;
    }
    if (r % 10000 == 0)
      cr_assert_eq(zs_registry_check(), 0, "broken after %d changes", r);
  }
  cr_assert_eq(zs_registry_check(), 0);
  cr_assert_eq(zs_registry_remove(0, UINTPTR_MAX), 0);
  cr_assert_eq(zs_registry_count(), 0);
  cr_assert_eq(zs_registry_check(), 0);
}

/* ---- zs_registry_peek: the lock-free read ---- */

/* same_map - every field of a and b equal (not the padding). */
static bool same_map(const struct zs_map *a, const struct zs_map *b) {
  return a->start == b->start && a->end == b->end && a->offset == b->offset && a->ino == b->ino &&
         a->dev == b->dev && a->fdslot == b->fdslot && a->kind == b->kind && a->prot == b->prot &&
         a->page_shift == b->page_shift && a->flags == b->flags;
}

/* peek agrees with find when no writer runs: every field, ENOENT above
 * everything, and the generation it reports is the registry's. */
Test(registry, peek_agrees_with_find) {
  put(0x10000, 0x20000, 0);
  put(0x30000, 0x40000, 0x5000);
  uintptr_t probes[] = {0, 0x10000, 0x1ffff, 0x20000, 0x30000, 0x3ffff};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    struct zs_map f, p;
    uint64_t gen = 1;
    cr_assert_eq(zs_registry_find(probes[i], &f), 0);
    int rc = zs_registry_peek(probes[i], &p, &gen);
#if ZS_REGISTRY_NO_PEEK
    cr_assert_eq(rc, EAGAIN); /* never peeks under TSan */
    continue;
#endif
    cr_assert_eq(rc, 0, "peek(%#lx) = %d", (unsigned long)probes[i], rc);
    cr_assert(same_map(&f, &p), "peek(%#lx) differs from find", (unsigned long)probes[i]);
    cr_assert_eq(gen, zs_registry_generation());
    cr_assert_eq(gen & 1, 0);
  }
#if !ZS_REGISTRY_NO_PEEK
  struct zs_map p;
  uint64_t gen;
  cr_assert_eq(zs_registry_peek(0x40000, &p, &gen), ENOENT);
#endif
}

/* A writer holding the lock without changing the tree (inside the
 * kernel's mmap, say) does not stop a peek; the count is even then, and
 * every change moves it by 2. */
Test(registry, peek_answers_while_a_writer_holds_the_lock) {
  put(0x10000, 0x20000, 0);
  uint64_t g0 = zs_registry_generation();
  zs_registry_wrlock();
  cr_assert_eq(zs_registry_generation() & 1, 0);
#if !ZS_REGISTRY_NO_PEEK
  struct zs_map p;
  uint64_t gen;
  cr_assert_eq(zs_registry_peek(0x10000, &p, &gen), 0);
  cr_assert_eq(p.start, 0x10000);
  cr_assert_eq(gen, g0);
#endif
  put(0x30000, 0x40000, 0);
  cr_assert_eq(zs_registry_generation(), g0 + 2);
  zs_registry_remove(0x30000, 0x40000);
  cr_assert_eq(zs_registry_generation(), g0 + 4);
  zs_registry_unlock();
  cr_assert_eq(zs_registry_generation(), g0 + 4);
}

/* Readers peeking while a writer churns the tree (inserts, removes,
 * rotations, node reuse): no crash, and every answer peek gives is one
 * the registry really held: the entry at a slot k is always
 * [base + 2k pages, base + 2k+1 pages) with offset k and kind 1 + k % 5,
 * so any torn read would show as a wrong offset, kind or range. */
#define PEEK_SLOTS 4096
static _Atomic int peek_stop;
static _Atomic long peek_good, peek_bad;

static struct zs_map peek_slot(int k) {
  uintptr_t base = 0x100000000ul;
  return (struct zs_map){.start = base + (uintptr_t)(2 * k) * PG,
                         .end = base + (uintptr_t)(2 * k + 1) * PG,
                         .offset = (uint64_t)k, .ino = 9, .dev = 3, .fdslot = -1,
                         .kind = (uint8_t)(1 + k % 5), .prot = 3, .page_shift = 12,
                         .flags = ZS_MAP_SHARED};
}

static void *peek_reader(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  while (!atomic_load(&peek_stop)) {
    int k = rand_r(&seed) % PEEK_SLOTS;
    struct zs_map want = peek_slot(k), got;
    uint64_t gen;
    if (zs_registry_peek(want.start, &got, &gen) != 0)
      continue;
    /* the entry at or above slot k's start: some slot j >= k, whole */
    int j = (int)got.offset;
    struct zs_map exp = peek_slot(j < 0 || j >= PEEK_SLOTS ? 0 : j);
    if (j < k || j >= PEEK_SLOTS || !same_map(&exp, &got) || (gen & 1))
      atomic_fetch_add(&peek_bad, 1);
    else
      atomic_fetch_add(&peek_good, 1);
  }
  return NULL;
}

Test(registry, peek_under_a_churning_writer, .timeout = 60) {
#if ZS_REGISTRY_NO_PEEK
  cr_skip("zs_registry_peek is off in thread-sanitizer builds");
#endif
  atomic_store(&peek_stop, 0);
  atomic_store(&peek_good, 0);
  atomic_store(&peek_bad, 0);
  pthread_t r[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&r[i], NULL, peek_reader, (void *)(uintptr_t)(i + 1));
  /* at least 300,000 changes, and on until the readers have had 2,000
   * answers (a loaded machine gives them few even windows), at most 3 M;
   * a yield now and then lets the readers run on a single free CPU */
  unsigned seed = 7;
  for (int round = 0; round < 3000000; round++) {
    if (round >= 300000 && atomic_load(&peek_good) >= 2000)
      break;
    if ((round & 255) == 0)
      sched_yield();
    int k = rand_r(&seed) % PEEK_SLOTS;
    struct zs_map m = peek_slot(k);
    zs_registry_wrlock();
    if (rand_r(&seed) & 1)
      zs_registry_insert(&m);
    else
      zs_registry_remove(m.start, m.end);
    zs_registry_unlock();
  }
  atomic_store(&peek_stop, 1);
  for (int i = 0; i < 2; i++)
    pthread_join(r[i], NULL);
  cr_assert_eq(atomic_load(&peek_bad), 0, "%ld torn answers", atomic_load(&peek_bad));
  cr_assert_geq(atomic_load(&peek_good), 2000, "peek almost never answered (%ld)",
               atomic_load(&peek_good));
  zs_registry_wrlock();
  cr_assert_eq(zs_registry_check(), 0);
  zs_registry_unlock();
}
