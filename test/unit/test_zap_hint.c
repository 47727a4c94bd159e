/*
 * test_zap_hint.c - the zap core, linked directly (no LD_PRELOAD): the
 * registry entry zs_zap_lockfree read without the lock is handed to the
 * locked zs_zap, which uses it for the first piece only while the registry
 * is still at the generation it was read at; a stale one is never used.
 * Proved on a shared memfd: translated (freed) or left as asked (kept).
 */
#define _GNU_SOURCE
#include "unit_setup.h" /* criterion, classify, registry, state */
#include "testutil.h"
#include "zap.h"
#include "zapshim.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;

static void setup(void) {
  ps = unit_setup_state();
  unit_registry_clear();
}

TestSuite(zap_hint, .init = setup);

/* register_map - enter m into the registry. */
static void register_map(const struct zs_map *m) {
  zs_registry_wrlock();
  cr_assert_eq(zs_registry_insert(m), 0);
  zs_registry_unlock();
}

/* memfd_map - npages of a fresh memfd, shared and written, with its
 * registry view (as the mmap hook makes it) in *m.  Returns the mapping. */
static char *memfd_map(size_t npages, int *fd, struct zs_map *m) {
  *fd = zt_make_memfd(npages * ps, 0);
  char *p = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 7, npages * ps);
  *m = (struct zs_map){.start = (uintptr_t)p, .end = (uintptr_t)p + npages * ps, .fdslot = -1,
                       .prot = PROT_READ | PROT_WRITE};
  cr_assert_eq(zs_classify_mmap(MAP_SHARED, *fd, m), 0);
  cr_assert_eq(m->kind, ZAPSHIM_KIND_SHMEM_SHARED);
  return p;
}

/* zap_with - zs_zap under the read lock with hint, as the preload's
 * madvise calls it after zs_zap_lockfree. */
static int zap_with(void *p, size_t len, const struct zs_zap_hint *hint) {
  zs_registry_rdlock();
  int r = zs_zap(p, len, MADV_DONTNEED, true, hint);
  zs_registry_unlock();
  return r;
}

/* The lock-free read finds the shared entry, leaves it to the locked path
 * (DONTNEED on shared memory is translated) with the entry as the hint,
 * and the locked path frees the memory. */
Test(zap_hint, lockfree_hands_its_entry_to_the_locked_zap) {
  int fd;
  struct zs_map m;
  char *p = memfd_map(4, &fd, &m);
  register_map(&m);
  int r = -1;
  struct zs_zap_hint hint;
  cr_assert_not(zs_zap_lockfree(p, 4 * ps, MADV_DONTNEED, &r, &hint),
                "a translated zap is not made without the lock");
  cr_assert(hint.valid);
  cr_assert_eq(hint.m.start, m.start);
  cr_assert_eq(hint.m.end, m.end);
  cr_assert_eq(hint.m.kind, ZAPSHIM_KIND_SHMEM_SHARED);
  cr_assert_eq(hint.gen, zs_registry_generation());
  cr_assert_eq(zap_with(p, 4 * ps, &hint), 0);
  cr_assert_eq(zt_st_blocks(fd), 0, "translated to MADV_REMOVE: the memfd is empty");
  munmap(p, 4 * ps);
  close(fd);
}

/* A hint read before the registry changed is not used: the registry's
 * current word (here: anonymous memory, the program's own DONTNEED) is.
 * The same hint made current is used (and the kernel, asked before the
 * translated call, agrees): so it is the generation that decides. */
Test(zap_hint, stale_hint_is_not_used) {
  int fd;
  struct zs_map m;
  char *p = memfd_map(4, &fd, &m);
  struct zs_zap_hint hint = {.m = m, .gen = zs_registry_generation(), .valid = true};
  struct zs_map anon = {.start = m.start, .end = m.end, .kind = ZAPSHIM_KIND_ANON_PRIVATE,
                        .flags = ZS_MAP_ANON, .page_shift = 12, .fdslot = -1,
                        .prot = PROT_READ | PROT_WRITE};
  register_map(&anon); /* the registry moves on */
  cr_assert_neq(hint.gen, zs_registry_generation());
  long long blocks = zt_st_blocks(fd);
  cr_assert_gt(blocks, 0);
  cr_assert_eq(zap_with(p, 4 * ps, &hint), 0);
  cr_assert_eq(zt_st_blocks(fd), blocks, "the stale hint was used: the memfd was punched");
  hint.gen = zs_registry_generation();
  cr_assert_eq(zap_with(p, 4 * ps, &hint), 0);
  cr_assert_eq(zt_st_blocks(fd), 0, "a current hint is the first piece");
  munmap(p, 4 * ps);
  close(fd);
}
