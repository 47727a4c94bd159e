/*
 * test_hugetlb_partial.c - zaps that cover only part of a huge page must
 * have the same effect whatever kernel the shim behaves as (ctest runs
 * this natively and with ZAPSHIM_KERNEL=6.10, 5.18, 5.10, where the shim
 * punches private hugetlb through a kept descriptor and, below 6.0, zeroes
 * partial huge pages itself).  The policy (README "Huge pages"):
 *
 *   whole huge pages in the range are freed; the covered part of a
 *   partial huge page reads zero and the page stays (not freed); the rest
 *   keeps its data.  For shared hugetlb that is what MADV_REMOVE does on
 *   6.0+; for private hugetlb it is a deliberate difference from the
 *   kernel alone, whose DONTNEED rounds the end down (6.1+) and leaves the
 *   partial page as it was.
 *   DONTNEED with a start inside a huge page gets the kernel's EINVAL.
 *
 * 4 MiB = huge pages H0 [0,2M) and H1 [2M,4M), filled with ZT_FILL.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB ZT_MIB
#define LEN (4 * MIB)

struct hmap {
  char *p;
  int fd;      /* the memfd, or -1 for MAP_HUGETLB anon */
  bool shared; /* MAP_SHARED: the pages live in the file */
};

enum hsrc { MEMFD_SHARED, MEMFD_PRIVATE, ANON_PRIVATE };

/*
 * Huge pages in use by this mapping, from measures only its own memory
 * moves (never the system-wide pool count): shared, the pages the file
 * holds (st_blocks); private, the private copies the mapping maps (smaps
 * Private_Hugetlb + Shared_Hugetlb) - the file (st_blocks, or for
 * MAP_HUGETLB its internal file through /proc/self/map_files) never
 * holds one.  Checked before anything reads the range.
 */
static void in_use(const struct hmap *h, long n, const char *what) {
  long long b = h->fd >= 0 ? zt_st_blocks(h->fd) : zt_map_blocks(h->p);
  long kb = zt_vma_hugetlb_kb(h->p);
  if (h->shared) {
    cr_assert(b == ZT_HPAGE_BLOCKS(n), "%s: the file holds %lld blocks (%lld huge pages), "
              "expected %ld huge pages", what, b, b / ZT_HPAGE_BLOCKS(1), n);
  } else {
    cr_assert(kb == ZT_HPAGE_KB(n), "%s: the mapping maps %ld kB of huge pages (smaps), "
              "expected %ld huge pages", what, kb, n);
    cr_assert(b == 0, "%s: a private mapping put %lld blocks in the file", what, b);
  }
}

static struct hmap hmap_filled(enum hsrc src) {
  zt_need_hugepages(ZT_HPAGE_2M, 2); /* precondition only */
  struct hmap h = {.fd = -1, .shared = src == MEMFD_SHARED};
  int flags;
  if (src == ANON_PRIVATE) {
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB;
  } else {
    h.fd = zt_make_memfd(LEN, MFD_HUGETLB | MFD_HUGE_2MB);
    flags = h.shared ? MAP_SHARED : MAP_PRIVATE;
  }
  h.p = zt_map(LEN, flags, h.fd, 0);
  zt_fill(h.p, LEN, ZT_FILL);
  in_use(&h, 2, "after the fill");
  cr_assert_eq(zt_vma_hugetlb_kb(h.p), ZT_HPAGE_KB(2), "the mapping maps both huge pages");
  return h;
}

/*
 * Shared: [0, 3M) zapped. H0 freed; H1 stays (in use) with [2M,3M) zero
 * and [3M,4M) intact.  The file shows the same.
 */
static void shared_unaligned_end(int advice) {
  struct hmap h = hmap_filled(MEMFD_SHARED);
  zt_zap(h.p, 3 * MIB, advice, NULL);
  in_use(&h, 1, "shared [0,3M)");
  cr_assert_eq(zt_st_blocks(h.fd), (long long)(2 * MIB / 512), "only H1 left in the file");
  zt_assert_missing_fault(h.p, 2 * MIB, ZT_UFFD_HUGETLB, "H0");
  zt_assert_bytes(h.p, 3 * MIB, 0, "shared [0,3M) reads zero");
  zt_assert_bytes(h.p + 3 * MIB, MIB, ZT_FILL, "shared [3M,4M) kept");
  zt_assert_pbytes(h.fd, 0, 3 * MIB, 0, "file [0,3M)");
  zt_assert_pbytes(h.fd, 3 * MIB, MIB, ZT_FILL, "file [3M,4M)");
}
Test(partial, shared_unaligned_end_remove) { shared_unaligned_end(MADV_REMOVE); }
Test(partial, shared_unaligned_end_dontneed) { shared_unaligned_end(MADV_DONTNEED); }

/*
 * Shared, MADV_REMOVE of [1M, 4M): H0 keeps [0,1M) and zeroes [1M,2M);
 * H1 is freed.  (DONTNEED is not tried here: the kernel refuses an
 * unaligned start on hugetlb for it.)
 */
Test(partial, shared_unaligned_start_remove) {
  struct hmap h = hmap_filled(MEMFD_SHARED);
  zt_zap(h.p + MIB, 3 * MIB, MADV_REMOVE, NULL);
  in_use(&h, 1, "shared [1M,4M)");
  zt_assert_missing_fault(h.p + 2 * MIB, 2 * MIB, ZT_UFFD_HUGETLB, "H1");
  zt_assert_bytes(h.p, MIB, ZT_FILL, "shared [0,1M) kept");
  zt_assert_bytes(h.p + MIB, 3 * MIB, 0, "shared [1M,4M) reads zero");
  zt_assert_pbytes(h.fd, 0, MIB, ZT_FILL, "file [0,1M)");
  zt_assert_pbytes(h.fd, MIB, 3 * MIB, 0, "file [1M,4M)");
}

/* Shared, [1M,3M): no whole page, both partial parts zeroed, none freed. */
Test(partial, shared_inside_remove) {
  struct hmap h = hmap_filled(MEMFD_SHARED);
  zt_zap(h.p + MIB, 2 * MIB, MADV_REMOVE, NULL);
  in_use(&h, 2, "shared [1M,3M)");
  zt_assert_bytes(h.p, MIB, ZT_FILL, "[0,1M) kept");
  zt_assert_bytes(h.p + MIB, 2 * MIB, 0, "[1M,3M) zero");
  zt_assert_bytes(h.p + 3 * MIB, MIB, ZT_FILL, "[3M,4M) kept");
}

/*
 * Private: [0,3M) zapped: H0 freed and missing; H1 stays in use, its
 * covered half [2M,3M) zeroed, [3M,4M) untouched.
 */
static void private_unaligned_end(enum hsrc src, int advice) {
  struct hmap h = hmap_filled(src);
  zt_zap(h.p, 3 * MIB, advice, NULL);
  in_use(&h, 1, "private [0,3M)");
  zt_assert_missing_fault(h.p, 2 * MIB, ZT_UFFD_HUGETLB, "H0");
  zt_assert_bytes(h.p, 3 * MIB, 0, "[0,3M) reads zero (H1's covered half zeroed)");
  zt_assert_bytes(h.p + 3 * MIB, MIB, ZT_FILL, "[3M,4M) untouched");
}
Test(partial, memfd_private_unaligned_end_dontneed) {
  private_unaligned_end(MEMFD_PRIVATE, MADV_DONTNEED);
}
Test(partial, memfd_private_unaligned_end_remove) {
  private_unaligned_end(MEMFD_PRIVATE, MADV_REMOVE);
}
Test(partial, anon_private_unaligned_end_dontneed) {
  private_unaligned_end(ANON_PRIVATE, MADV_DONTNEED);
}
Test(partial, anon_private_unaligned_end_remove) {
  private_unaligned_end(ANON_PRIVATE, MADV_REMOVE);
}

/* Private, less than one huge page: returns 0, nothing freed, [0,1M) zero. */
static void private_below_one_page(enum hsrc src, int advice) {
  struct hmap h = hmap_filled(src);
  zt_zap(h.p, MIB, advice, NULL);
  in_use(&h, 2, "private [0,1M)");
  zt_assert_bytes(h.p, MIB, 0, "[0,1M) zeroed");
  zt_assert_bytes(h.p + MIB, 3 * MIB, ZT_FILL, "[1M,4M) untouched");
}
Test(partial, memfd_private_below_one_page_dontneed) {
  private_below_one_page(MEMFD_PRIVATE, MADV_DONTNEED);
}
Test(partial, memfd_private_below_one_page_remove) {
  private_below_one_page(MEMFD_PRIVATE, MADV_REMOVE);
}
Test(partial, anon_private_below_one_page_dontneed) {
  private_below_one_page(ANON_PRIVATE, MADV_DONTNEED);
}

/* DONTNEED starting inside a huge page: the kernel's EINVAL, nothing changed. */
static void dontneed_unaligned_start(enum hsrc src) {
  struct hmap h = hmap_filled(src);
  errno = 0;
  int r = madvise(h.p + MIB, 3 * MIB, MADV_DONTNEED);
  int e = errno;
  cr_assert(r == -1 && e == EINVAL, "DONTNEED from inside a huge page returned %d errno %d (%s), "
            "expected -1 EINVAL", r, e, strerror(e));
  in_use(&h, 2, "after the refused DONTNEED");
  zt_assert_bytes(h.p, LEN, ZT_FILL, "nothing changed");
}
Test(partial, shared_unaligned_start_dontneed) { dontneed_unaligned_start(MEMFD_SHARED); }
Test(partial, private_unaligned_start_dontneed) { dontneed_unaligned_start(MEMFD_PRIVATE); }
