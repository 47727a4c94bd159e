/*
 * test_zap_learn.c - the zap core, linked directly (no LD_PRELOAD): a zap
 * of plain anonymous memory the registry does not know is answered by the
 * kernel and kept to be learned (zs_zap_take_learned) once, with the
 * kernel's whole mapping as far as no registry entry lies in it; the
 * memory is freed as the program asked.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "registry.h"
#include "state.h"
#include "testutil.h"
#include "unit_setup.h"
#include "zap.h"
#include "zapshim.h"

static size_t ps;

static void setup(void) {
  ps = unit_setup_state();
  unit_registry_clear();
  struct zs_map m;
  uint64_t gen;
  while (zs_zap_take_learned(&m, &gen)) /* nothing left from another test */
    ;
}

TestSuite(zap_learn, .init = setup);

/* zap - zs_zap under the read lock, as the preload's madvise calls it. */
static int zap(void *p, size_t len) {
  zs_registry_rdlock();
  int r = zs_zap(p, len, MADV_DONTNEED, true, NULL);
  zs_registry_unlock();
  return r;
}

Test(zap_learn, unknown_anonymous_memory_is_learned_once) {
  size_t len = 16 * ps;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 7, len);
  cr_assert_eq(zap(p + 4 * ps, 2 * ps), 0);
  cr_assert_eq(zt_resident_pages(p + 4 * ps, 2 * ps), 0, "the zapped pages are freed");
  cr_assert_eq(zt_resident_pages(p, 4 * ps), 4, "the pages before are kept");
  struct zs_map m;
  uint64_t gen;
  cr_assert(zs_zap_take_learned(&m, &gen), "the kernel's answer is kept to be learned");
  cr_assert(m.start <= (uintptr_t)p && (uintptr_t)p + len <= m.end,
            "the whole mapping [%p, %p) is learned: [%#lx, %#lx)", (void *)p, (void *)(p + len),
            (unsigned long)m.start, (unsigned long)m.end);
  cr_assert(zs_map_plain(&m), "as plain anonymous private memory");
  cr_assert_eq(gen, zs_registry_generation());
  cr_assert(!zs_zap_take_learned(&m, &gen), "taken once");
  munmap(p, len);
}

Test(zap_learn, learned_range_stops_at_registry_entries) {
  size_t len = 16 * ps;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 7, len);
  /* a (stale) entry over the last 4 pages: the learned range ends there */
  struct zs_map e = {.start = (uintptr_t)p + 12 * ps, .end = (uintptr_t)p + len,
                     .kind = ZAPSHIM_KIND_SHMEM_SHARED, .flags = ZS_MAP_SHARED,
                     .page_shift = 12, .fdslot = -1};
  zs_registry_wrlock();
  cr_assert_eq(zs_registry_insert(&e), 0);
  zs_registry_unlock();
  cr_assert_eq(zap(p, 4 * ps), 0);
  struct zs_map m;
  uint64_t gen;
  cr_assert(zs_zap_take_learned(&m, &gen));
  cr_assert(m.start <= (uintptr_t)p && m.end == (uintptr_t)p + 12 * ps,
            "learned [%#lx, %#lx), up to the entry at %p", (unsigned long)m.start,
            (unsigned long)m.end, (void *)(p + 12 * ps));
  zs_registry_wrlock();
  zs_registry_remove(0, UINTPTR_MAX);
  zs_registry_unlock();
  munmap(p, len);
}

Test(zap_learn, a_shared_piece_is_not_learned) {
  int fd = zt_make_memfd(4 * ps, 0);
  char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 7, 4 * ps);
  cr_assert_eq(zap(p, 4 * ps), 0);
  cr_assert_eq(zt_st_blocks(fd), 0, "the kernel's view: shared memfd, translated and freed");
  struct zs_map m;
  uint64_t gen;
  cr_assert(!zs_zap_take_learned(&m, &gen), "only plain anonymous memory is learned");
  munmap(p, 4 * ps);
  close(fd);
}
