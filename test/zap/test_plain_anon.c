/*
 * test_plain_anon.c - plain anonymous private memory, which the registry
 * does not keep (shim/registry.h, hooks.c): its mmap and munmap take no
 * lock where the registry has nothing in the range, and only the thread
 * that mapped it notes it for its zaps, until the registry changes.
 *
 * Proven against the kernel: what such a mapping lands on (a stale
 * registry entry) is forgotten, the note of one thread does not outlive
 * another thread's change of the range, a thread's own munmap drops its
 * note, and a zap of such memory still frees it (mincore) with a
 * userfaultfd missing fault after it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"
#include "zapshim.h"

#define LEN (4 * ZT_MIB)

/* kind_at - the kind zapshim_query reports for addr (the registry's word
 * first, else the kernel's). */
static int kind_at(const void *addr) {
  int (*query)(const void *, struct zapshim_range_info *) =
      (int (*)(const void *, struct zapshim_range_info *))dlsym(RTLD_DEFAULT, "zapshim_query");
  cr_assert_not_null(query, "zapshim_query from the preloaded shim");
  struct zapshim_range_info info;
  cr_assert_eq(query(addr, &info), 0, "zapshim_query: %s", strerror(errno));
  return info.kind;
}

/* A shared memfd the shim registered, unmapped behind its back (a raw
 * munmap): the entry is stale.  Plain anonymous memory mapped there through
 * the shim (MAP_FIXED, and MAP_FIXED_NOREPLACE which only lands in a hole)
 * carves the stale entry out: the range is then the kernel's anonymous
 * memory, its zap the program's own call, and the memfd is never touched. */
static void anon_over_stale_entry(int placement) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int fd = zt_make_memfd(LEN, 0);
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(p, LEN, 0xAB);
  long long blocks = zt_st_blocks(fd);
  cr_assert_eq(kind_at(p), ZAPSHIM_KIND_SHMEM_SHARED);
  cr_assert_eq(zt_raw_munmap(p, LEN), 0);
  char *a = mmap(p, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | placement, -1, 0);
  cr_assert_eq(a, p, "anonymous mmap at the stale range: %s", strerror(errno));
  cr_assert_eq(kind_at(a), ZAPSHIM_KIND_ANON_PRIVATE, "the stale memfd entry is gone");
  zt_fill(a, LEN, 0x11);
  cr_assert_eq(madvise(a, LEN, MADV_DONTNEED), 0);
  cr_assert_eq(zt_resident_pages(a, LEN), 0, "the anonymous pages are freed");
  zt_assert_bytes(a, LEN, 0, "anonymous memory reads zero after DONTNEED");
  cr_assert_eq(zt_st_blocks(fd), blocks, "the memfd keeps every block");
  zt_assert_pbytes(fd, 0, LEN, 0xAB, "the memfd keeps its data");
  cr_assert_eq(munmap(a, LEN), 0);
  close(fd);
}

Test(plain_anon, map_fixed_carves_stale_entry) { anon_over_stale_entry(MAP_FIXED); }
Test(plain_anon, map_fixed_noreplace_carves_stale_entry) {
  anon_over_stale_entry(MAP_FIXED_NOREPLACE);
}

/* The thread that maps plain anonymous memory notes it; another thread
 * unmaps it and maps a shared memfd there (the registry changes).  The
 * first thread's DONTNEED must then go by the registry: translated, the
 * memfd freed, not the program's own call on a stale note. */
struct two_threads {
  pthread_barrier_t step;
  char *p;
  int zap_result;
};

static void *noting_thread(void *arg) {
  struct two_threads *t = arg;
  t->p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (t->p != MAP_FAILED) {
    memset(t->p, 1, LEN);
    t->zap_result = madvise(t->p, LEN, MADV_DONTNEED); /* noted, then zapped as asked */
  }
  pthread_barrier_wait(&t->step); /* main replaces the mapping */
  pthread_barrier_wait(&t->step);
  if (t->p != MAP_FAILED && t->zap_result == 0)
    t->zap_result = madvise(t->p, LEN, MADV_DONTNEED);
  return NULL;
}

Test(plain_anon, other_threads_remap_ends_the_note) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  struct two_threads t = {.zap_result = -1};
  pthread_t th;
  cr_assert_eq(pthread_barrier_init(&t.step, NULL, 2), 0);
  cr_assert_eq(pthread_create(&th, NULL, noting_thread, &t), 0);
  pthread_barrier_wait(&t.step);
  cr_assert_neq(t.p, MAP_FAILED);
  cr_assert_eq(t.zap_result, 0, "the first DONTNEED of the anonymous mapping");
  int fd = zt_make_memfd(LEN, 0);
  cr_assert_eq(munmap(t.p, LEN), 0);
  cr_assert_eq(mmap(t.p, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0), t.p);
  zt_fill(t.p, LEN, 0xCD);
  cr_assert_gt(zt_st_blocks(fd), 0);
  pthread_barrier_wait(&t.step);
  pthread_join(th, NULL);
  cr_assert_eq(t.zap_result, 0, "the second DONTNEED, on the memfd");
  cr_assert_eq(zt_st_blocks(fd), 0, "the memfd was freed (translated), not left by a stale note");
  zt_assert_bytes(t.p, LEN, 0, "the memfd mapping reads zero");
  cr_assert_eq(munmap(t.p, LEN), 0);
  close(fd);
  pthread_barrier_destroy(&t.step);
}

/* A thread's own munmap drops its note: a shared memfd then mapped there
 * behind the shim's back (raw MAP_FIXED) is asked of the kernel and freed. */
Test(plain_anon, own_munmap_drops_the_note) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  zt_fill(p, LEN, 1);
  cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0);
  cr_assert_eq(munmap(p, LEN), 0);
  int fd = zt_make_memfd(LEN, 0);
  cr_assert_eq(zt_raw_mmap(p, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0), p);
  zt_fill(p, LEN, 0xEF);
  cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0);
  cr_assert_eq(zt_st_blocks(fd), 0, "the raw memfd mapping was asked of the kernel and freed");
  cr_assert_eq(zt_raw_munmap(p, LEN), 0);
  close(fd);
}

/* Plain anonymous memory mapped and unmapped without the lock is still
 * zapped as the kernel zaps it: freed, reads zero, and a userfaultfd
 * missing fault fires on the next touch. */
Test(plain_anon, zap_frees_and_faults) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  for (int round = 0; round < 3; round++) {
    char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    zt_fill(p, LEN, 7);
    cr_assert_eq(zt_resident_pages(p, LEN), LEN / zt_page_size());
    cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0);
    cr_assert_eq(zt_resident_pages(p, LEN), 0, "round %d: freed", round);
    zt_assert_bytes(p, LEN, 0, "anonymous memory reads zero after DONTNEED");
    zt_fill(p, LEN, 7);
    cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0);
    zt_assert_missing_fault(p, LEN, ZT_UFFD_ANON, "anonymous memory after DONTNEED");
    cr_assert_eq(munmap(p, LEN), 0);
  }
}
