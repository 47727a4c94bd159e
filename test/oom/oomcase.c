/*
 * oomcase.c - see oomcase.h.
 */
#define _GNU_SOURCE
#include "oomcase.h"
#include "testutil.h"
#include "zapshim.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*query_fn)(const void *, struct zapshim_range_info *);

/* query - the preloaded shim's zapshim_query; asserts it is there. */
static query_fn query(void) {
  static query_fn q;
  if (!q)
    q = (query_fn)dlsym(RTLD_DEFAULT, "zapshim_query");
  cr_assert_not_null(q, "zapshim_query not found: run under LD_PRELOAD=libzapshim");
  return q;
}

/* oom_query_kind - see oomcase.h. */
int oom_query_kind(const void *p) {
  struct zapshim_range_info i;
  return query()(p, &i) == 0 ? i.kind : -1;
}

/* oom_query_bounds - see oomcase.h. */
int oom_query_bounds(const void *p, unsigned long *start, unsigned long *end) {
  struct zapshim_range_info i;
  if (query()(p, &i) != 0)
    return 0;
  *start = i.start;
  *end = i.end;
  return 1;
}

/* kind_name - a kind's name for messages (from the shim, looked up now). */
static const char *kind_name(int kind) {
  const char *(*f)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "zapshim_kind_name");
  return kind < 0 ? "(query failed)" : f ? f(kind) : "?";
}

/* oom_ext4_over_hugetlb - see oomcase.h. */
void oom_ext4_over_hugetlb(const struct oom_env *env, size_t huge_len, size_t fixed_off) {
  const size_t len = ZT_HPAGE_2M, pg = zt_page_size();
  cr_assert(huge_len % ZT_HPAGE_2M == 0 && fixed_off % ZT_HPAGE_2M == 0 &&
            fixed_off + len <= huge_len);
  query();
  zt_need_hugepages(ZT_HPAGE_2M, (long)(huge_len / ZT_HPAGE_2M));
  char path[256];
  int fd = zt_make_ext4_file(len, ZT_FILE_FILL, path, sizeof path);
  long long blocks = zt_st_blocks(fd);

  char *h = zt_map(huge_len, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  zt_fill(h, huge_len, ZT_FILL);
  cr_assert_eq(oom_query_kind(h), ZAPSHIM_KIND_HUGETLB_PRIVATE);
  char *f = h + fixed_off;

  env->exhaust();
  void *p = mmap(f, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  int map_errno = errno;
  int kind = oom_query_kind(f), kind_mid = oom_query_kind(f + len / 2);
  int r4k = madvise(f, pg, MADV_DONTNEED);
  int e4k = errno;
  int r2m = madvise(f, len, MADV_DONTNEED);
  int e2m = errno;
  int rrest = 0, erest = 0;
  char *rest = fixed_off ? h : h + len; /* the part of the huge mapping left */
  if (huge_len > len) {
    rrest = madvise(rest, ZT_HPAGE_2M, MADV_DONTNEED);
    erest = errno;
  }
  env->restore();

  cr_assert_eq(p, (void *)f, "MAP_FIXED of the ext4 file failed: %s", strerror(map_errno));
  cr_assert_eq(r4k, 0, "DONTNEED 4 KiB: %s", strerror(e4k));
  cr_assert_eq(r2m, 0, "DONTNEED 2 MiB: %s", strerror(e2m));
  cr_assert_eq(munmap(f, len), 0);
  zt_assert_pbytes(fd, 0, len, ZT_FILE_FILL, "the ext4 file (pread)");
  cr_assert_eq(zt_st_blocks(fd), blocks, "the ext4 file's st_blocks changed");
  /* the data held; and not by luck: the shim no longer believes hugetlb */
  cr_assert_eq(kind, ZAPSHIM_KIND_FILE_SHARED,
               "the shim describes the ext4 file mapping as %s: the hugetlb entry was kept",
               kind_name(kind));
  cr_assert_eq(kind_mid, ZAPSHIM_KIND_FILE_SHARED, "mid-mapping: %s", kind_name(kind_mid));
  if (huge_len > len) {
    cr_assert_eq(rrest, 0, "DONTNEED of the rest of the huge mapping: %s", strerror(erest));
    cr_assert_eq(zt_vma_hugetlb_kb(rest), 0, "the rest of the huge mapping was not zapped");
  }
  close(fd);
  if (fixed_off)
    munmap(h, fixed_off);
  if (fixed_off + len < huge_len)
    munmap(f + len, huge_len - fixed_off - len);
}

/* oom_memfd_over_anon - see oomcase.h. */
void oom_memfd_over_anon(const struct oom_env *env) {
  const size_t len = ZT_HPAGE_2M;
  query();
  int fd = zt_make_memfd(len, 0);
  zt_pfill(fd, 0, len, ZT_FILL);
  cr_assert_gt(zt_st_blocks(fd), 0);

  char *a = zt_map(len, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(a, len, ZT_FILE_FILL);
  cr_assert_eq(oom_query_kind(a), ZAPSHIM_KIND_ANON_PRIVATE);

  env->exhaust();
  void *p = mmap(a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  int map_errno = errno;
  int kind = oom_query_kind(a);
  int r = madvise(a, len, MADV_DONTNEED);
  int e = errno;
  env->restore();

  cr_assert_eq(p, (void *)a, "MAP_FIXED of the memfd failed: %s", strerror(map_errno));
  cr_assert_eq(r, 0, "DONTNEED: %s", strerror(e));
  cr_assert_eq(zt_st_blocks(fd), 0, "the memfd was not freed (st_blocks %lld)",
               zt_st_blocks(fd));
  zt_assert_pbytes(fd, 0, len, 0, "the memfd (pread)");
  zt_assert_bytes(a, len, 0, "the memfd through the mapping");
  cr_assert_eq(kind, ZAPSHIM_KIND_SHMEM_SHARED,
               "the shim describes the memfd mapping as %s: the anonymous entry was kept",
               kind_name(kind));
  cr_assert_eq(munmap(a, len), 0);
  close(fd);
}
