/*
 * test_registry_ops.c - the shim's registry of mappings stays true through
 * munmap, MAP_FIXED, mremap, failed calls and ranges it never saw, proven
 * with real zaps: each test ends with a plain madvise and then reads the
 * FILE behind the mapping with pread, so a zap at a wrong file offset, a
 * zap of memory that is no longer mapped there, or a missed part shows as
 * a wrong byte at a precise file offset.
 *
 * Ranges the shim must not know any more are re-filled with anonymous
 * memory through the raw mmap syscall (the shim does not see that): a
 * stale registry entry would then make the shim punch the old file range,
 * which pread shows.
 *
 * Every test runs for both advices (each is a zap for these kinds) and,
 * through ctest, under every ZAPSHIM_KERNEL fallback.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ZT_MIB
#define ANON_FILL 0xEE /* anonymous memory placed over part of a file mapping */

/* mmap through the raw syscall: the shim does not see this mapping. */
static void *raw_mmap(void *addr, size_t len, int flags, int fd, off_t off) {
  long r = zt_syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE, flags, fd, off);
  cr_assert(r < -4095 || r >= 0, "raw mmap(%p, %#zx, flags %#x): %s", addr, len, flags,
            strerror((int)-r));
  return (void *)r;
}

/* Anonymous private memory at addr, behind the shim's back (addr must be free). */
static void *raw_anon_at(void *addr, size_t len) {
  void *p = raw_mmap(addr, len, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  cr_assert(p == addr, "raw anon at %p landed at %p", addr, p);
  return p;
}

/* A 4 MiB memfd whose every byte is ZT_FILL. */
static int filled_memfd(size_t len) {
  int fd = zt_make_memfd(len, 0);
  zt_pfill(fd, 0, len, ZT_FILL);
  return fd;
}

/* The file range [from, to) (in MiB) reads v. */
static void file_is(int fd, double from_mib, double to_mib, unsigned char v, const char *what) {
  off_t a = (off_t)(from_mib * (double)MIB), b = (off_t)(to_mib * (double)MIB);
  char msg[160];
  snprintf(msg, sizeof msg, "%s: file [%gM,%gM) must be %#x", what, from_mib, to_mib, v);
  zt_assert_pbytes(fd, a, (size_t)(b - a), v, msg);
}

#define REG_TESTS(name)                                                                        \
  Test(registry, name##_dontneed) { name(MADV_DONTNEED); }                                     \
  Test(registry, name##_remove) { name(MADV_REMOVE); }

/* ------------------------------------------------------------------ */
/* munmap                                                               */
/* ------------------------------------------------------------------ */

/*
 * 4 MiB memfd shared; munmap the middle 1 MiB [1.5M, 2.5M); zap the last
 * 1 MiB: exactly file [3M, 4M) is freed.  Then the first 512 KiB: the left
 * piece kept its offsets.  The hole, re-filled with anonymous memory the
 * shim does not see, is zapped as anon: file [1.5M, 2.5M) keeps its data.
 */
static void munmap_split(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  cr_assert(munmap(p + 3 * MIB / 2, MIB) == 0, "munmap middle: %s", strerror(errno));

  zt_zap(p + 3 * MIB, MIB, advice, "right piece, last 1 MiB");
  file_is(fd, 0, 3, ZT_FILL, "after zapping the last 1 MiB");
  file_is(fd, 3, 4, 0, "after zapping the last 1 MiB");
  cr_assert_eq(zt_st_blocks(fd), (long long)(3 * MIB / 512), "only 1 MiB of the file freed");
  zt_assert_bytes(p + 3 * MIB, MIB, 0, "zapped part reads zero");
  zt_assert_bytes(p + 5 * MIB / 2, MIB / 2, ZT_FILL, "rest of the right piece");

  zt_zap(p, MIB / 2, advice, "left piece, first 512 KiB");
  file_is(fd, 0, 0.5, 0, "after zapping the first 512 KiB");
  file_is(fd, 0.5, 3, ZT_FILL, "after zapping the first 512 KiB");

  char *hole = raw_anon_at(p + 3 * MIB / 2, MIB);
  zt_fill(hole, MIB, ANON_FILL);
  zt_zap(p, 4 * MIB, advice, "whole range, hole re-filled with unseen anon memory");
  file_is(fd, 0, 1.5, 0, "whole range zapped");
  file_is(fd, 1.5, 2.5, ZT_FILL, "file under the unmapped middle untouched");
  file_is(fd, 2.5, 4, 0, "whole range zapped");
  cr_assert_eq(zt_resident_pages(hole, MIB), 0, "anon memory in the hole zapped");
  zt_assert_bytes(hole, MIB, 0, "anon memory in the hole reads zero");
}
REG_TESTS(munmap_split)

/* ------------------------------------------------------------------ */
/* MAP_FIXED                                                            */
/* ------------------------------------------------------------------ */

/*
 * Anonymous memory MAP_FIXED over [1M, 2M) of a 4 MiB memfd mapping: a
 * zap of the whole range frees the anon part and file [0,1M) + [2M,4M);
 * file [1M,2M), no longer mapped, keeps its data.
 */
static void map_fixed_anon(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  char *a = mmap(p + MIB, MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  cr_assert(a == p + MIB, "MAP_FIXED anon: %s", strerror(errno));
  zt_fill(a, MIB, ANON_FILL);

  zt_zap(p, 4 * MIB, advice, "memfd | anon | memfd");
  cr_assert_eq(zt_resident_pages(a, MIB), 0, "anon part freed");
  file_is(fd, 0, 1, 0, "memfd part before the anon part");
  file_is(fd, 1, 2, ZT_FILL, "file range under the anon part untouched");
  file_is(fd, 2, 4, 0, "memfd part after the anon part");
  cr_assert_eq(zt_st_blocks(fd), (long long)(MIB / 512), "only file [1M,2M) still allocated");
  zt_assert_bytes(p, 4 * MIB, 0, "whole range reads zero");
}
REG_TESTS(map_fixed_anon)

/*
 * MAP_FIXED of the same memfd at another offset: address [1M,2M) now maps
 * file [3M,4M).  Zapping it must punch file [3M,4M), not [1M,2M).  Then a
 * second memfd MAP_FIXED over [2M,4M): a zap of everything punches
 * memfd A [0,1M) and [3M,4M) and memfd B [0,2M), and nothing else.
 */
static void map_fixed_file(int advice) {
  int fd = filled_memfd(4 * MIB);
  int fd2 = filled_memfd(2 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  char *m = mmap(p + MIB, MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, fd, 3 * MIB);
  cr_assert(m == p + MIB, "MAP_FIXED memfd at offset 3M: %s", strerror(errno));

  zt_zap(p + MIB, MIB, advice, "address 1M..2M = file 3M..4M");
  file_is(fd, 0, 3, ZT_FILL, "file offsets must follow the MAP_FIXED mapping");
  file_is(fd, 3, 4, 0, "file offsets must follow the MAP_FIXED mapping");

  zt_pfill(fd, 0, 4 * MIB, ZT_FILL);
  m = mmap(p + 2 * MIB, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, fd2, 0);
  cr_assert(m == p + 2 * MIB, "MAP_FIXED second memfd: %s", strerror(errno));
  zt_zap(p, 4 * MIB, advice, "A@0 | A@3M | B@0");
  file_is(fd, 0, 1, 0, "memfd A");
  file_is(fd, 1, 3, ZT_FILL, "memfd A, no longer mapped");
  file_is(fd, 3, 4, 0, "memfd A");
  file_is(fd2, 0, 2, 0, "memfd B");
  cr_assert_eq(zt_st_blocks(fd2), 0, "memfd B freed");
}
REG_TESTS(map_fixed_file)

/* ------------------------------------------------------------------ */
/* mremap                                                               */
/* ------------------------------------------------------------------ */

/*
 * Move (MAYMOVE|FIXED) a 2 MiB mapping of file offset 1M: a zap at the new
 * address punches file [1M,3M) exactly.  Before that, unseen anonymous
 * memory at the old address is zapped: the file must not change (a stale
 * registry entry would punch file [1M,3M)).
 */
static void mremap_move(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(2 * MIB, MAP_SHARED, fd, MIB);
  char *dst = zt_reserve_aligned(2 * MIB, 2 * MIB);
  char *q = mremap(p, 2 * MIB, 2 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
  cr_assert(q == dst, "mremap move: %s", strerror(errno));
  zt_assert_bytes(q, 2 * MIB, ZT_FILL, "moved mapping keeps its content");

  char *old = raw_anon_at(p, 2 * MIB);
  zt_fill(old, 2 * MIB, ANON_FILL);
  zt_zap(old, 2 * MIB, advice, "unseen anon at the old address");
  file_is(fd, 0, 4, ZT_FILL, "the old address no longer maps the file");
  zt_assert_bytes(old, 2 * MIB, 0, "anon at the old address zapped");

  zt_zap(q, 2 * MIB, advice, "moved mapping");
  file_is(fd, 0, 1, ZT_FILL, "before the moved range");
  file_is(fd, 1, 3, 0, "the moved range's file offsets");
  file_is(fd, 3, 4, ZT_FILL, "after the moved range");
}
REG_TESTS(mremap_move)

/*
 * Shrink 4 MiB to 2 MiB in place; unseen anon memory takes the freed tail.
 * A zap of all 4 MiB punches file [0,2M) only.
 */
static void mremap_shrink(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  char *q = mremap(p, 4 * MIB, 2 * MIB, 0);
  cr_assert(q == p, "mremap shrink: %s", strerror(errno));
  char *tail = raw_anon_at(p + 2 * MIB, 2 * MIB);
  zt_fill(tail, 2 * MIB, ANON_FILL);

  zt_zap(p, 4 * MIB, advice, "shrunk memfd | unseen anon");
  file_is(fd, 0, 2, 0, "shrunk mapping");
  file_is(fd, 2, 4, ZT_FILL, "file under the cut tail untouched");
  zt_assert_bytes(tail, 2 * MIB, 0, "anon tail zapped");
}
REG_TESTS(mremap_shrink)

/*
 * Grow 2 MiB to 4 MiB in place (no MAYMOVE): zapping the grown half
 * punches file [2M,4M); then zapping all of it punches the rest.
 */
static void mremap_grow(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  cr_assert(munmap(p + 2 * MIB, 2 * MIB) == 0, "munmap tail: %s", strerror(errno));
  char *q = mremap(p, 2 * MIB, 4 * MIB, 0);
  cr_assert(q == p, "mremap grow in place: %s", strerror(errno));

  zt_zap(p + 2 * MIB, 2 * MIB, advice, "grown half");
  file_is(fd, 0, 2, ZT_FILL, "original half untouched");
  file_is(fd, 2, 4, 0, "grown half");
  zt_assert_bytes(p, 2 * MIB, ZT_FILL, "original half content");

  zt_zap(p, 4 * MIB, advice, "whole grown mapping");
  file_is(fd, 0, 4, 0, "whole grown mapping");
  cr_assert_eq(zt_st_blocks(fd), 0, "whole file freed");
}
REG_TESTS(mremap_grow)

/*
 * MREMAP_DONTUNMAP on anon private: the data moves, the old range stays
 * mapped (empty).  Both ranges zap as anon private; the old one must not
 * be taken for unmapped (ENOMEM).
 */
static void mremap_dontunmap(int advice) {
  char *p = zt_map(2 * MIB, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, 2 * MIB, ZT_FILL);
  char *q = mremap(p, 2 * MIB, 2 * MIB, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
  cr_assert(q != MAP_FAILED, "mremap DONTUNMAP: %s", strerror(errno));
  zt_assert_bytes(q, 2 * MIB, ZT_FILL, "moved data");

  zt_fill(p, MIB, ANON_FILL); /* the old range is still mapped and writable */
  zt_zap(p, 2 * MIB, advice, "old range after DONTUNMAP");
  cr_assert_eq(zt_resident_pages(p, 2 * MIB), 0, "old range freed");
  zt_assert_missing_fault(p, 2 * MIB, ZT_UFFD_ANON, "old range");

  cr_assert_eq(zt_resident_pages(q, 2 * MIB), 2 * MIB / zt_page_size(), "new range populated");
  zt_zap(q, 2 * MIB, advice, "new range after DONTUNMAP");
  cr_assert_eq(zt_resident_pages(q, 2 * MIB), 0, "new range freed");
  zt_assert_missing_fault(q, 2 * MIB, ZT_UFFD_ANON, "new range");
  zt_assert_bytes(q, 2 * MIB, 0, "new range reads zero");
  zt_assert_bytes(p, 2 * MIB, 0, "old range reads zero");
}
REG_TESTS(mremap_dontunmap)

/* ------------------------------------------------------------------ */
/* one madvise over several kinds, and over a hole                      */
/* ------------------------------------------------------------------ */

/*
 * [0,2M) anon private | [2M,4M) memfd shared | [4M,6M) hugetlb memfd
 * shared | [6M,8M) MAP_HUGETLB anon private, adjacent, one madvise: each
 * part freed by its own kind.  The hugetlb parts only when huge pages are
 * there (required in CI).
 */
static void cross_kinds(int advice) {
  long hfree = zt_hugepages_free(ZT_HPAGE_2M); /* precondition only */
  bool huge = hfree >= 2;
  if (!huge && zt_in_ci())
    cr_assert_fail("missing in CI: 2 free 2 MiB huge pages");
  size_t len = huge ? 8 * MIB : 4 * MIB;
  char *b = zt_reserve_aligned(len, ZT_HPAGE_2M);

  char *a = mmap(b, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  cr_assert(a == b, "anon part: %s", strerror(errno));
  int fd = filled_memfd(2 * MIB);
  char *m = mmap(b + 2 * MIB, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, fd, 0);
  cr_assert(m == b + 2 * MIB, "memfd part: %s", strerror(errno));
  int hfd = -1;
  if (huge) {
    hfd = zt_make_memfd(2 * MIB, MFD_HUGETLB | MFD_HUGE_2MB);
    char *h = mmap(b + 4 * MIB, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, hfd, 0);
    cr_assert(h == b + 4 * MIB, "hugetlb memfd part: %s", strerror(errno));
    char *hp = mmap(b + 6 * MIB, 2 * MIB, PROT_READ | PROT_WRITE,
                    MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    cr_assert(hp == b + 6 * MIB, "MAP_HUGETLB private part: %s", strerror(errno));
  } else {
    cr_log_warn("no free huge pages: cross-kind test without its hugetlb parts");
  }
  zt_fill(b, len, ZT_FILL);
  if (huge) { /* this memory's own counts, not the system-wide pool */
    cr_assert_eq(zt_st_blocks(hfd), ZT_HPAGE_BLOCKS(1), "hugetlb memfd holds its page");
    cr_assert_eq(zt_vma_hugetlb_kb(b + 6 * MIB), ZT_HPAGE_KB(1),
                 "MAP_HUGETLB private part maps its page");
  }

  zt_zap(b, len, advice, "anon | memfd | hugetlb shared | hugetlb private");
  cr_assert_eq(zt_resident_pages(b, 2 * MIB), 0, "anon part freed");
  cr_assert_eq(zt_st_blocks(fd), 0, "memfd part freed");
  if (huge) {
    cr_assert_eq(zt_st_blocks(hfd), 0, "hugetlb memfd freed");
    cr_assert_eq(zt_vma_hugetlb_kb(b + 4 * MIB), 0, "hugetlb memfd part unmapped");
    cr_assert_eq(zt_vma_hugetlb_kb(b + 6 * MIB), 0, "MAP_HUGETLB private part freed");
  }
  zt_assert_missing_fault(b, 2 * MIB, ZT_UFFD_ANON, "anon part");
  zt_assert_missing_fault(b + 2 * MIB, 2 * MIB, ZT_UFFD_SHMEM, "memfd part");
  if (huge)
    zt_assert_missing_fault(b + 4 * MIB, 4 * MIB, ZT_UFFD_HUGETLB, "hugetlb parts");
  zt_assert_bytes(b, len, 0, "whole range reads zero");
}
REG_TESTS(cross_kinds)

/*
 * memfd (file offset 1M) [0,1M) | hole [1M,2M) | anon [2M,3M): madvise
 * over the three returns -1 ENOMEM, like the kernel, and still zaps both
 * mapped parts.
 */
static void hole(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *b = zt_reserve_aligned(3 * MIB, zt_page_size());
  char *m = mmap(b, MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, fd, MIB);
  cr_assert(m == b, "memfd part: %s", strerror(errno));
  cr_assert(munmap(b + MIB, MIB) == 0, "hole: %s", strerror(errno));
  char *a = mmap(b + 2 * MIB, MIB, PROT_READ | PROT_WRITE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(a == b + 2 * MIB, "anon part: %s", strerror(errno));
  zt_fill(a, MIB, ANON_FILL);

  errno = 0;
  int r = madvise(b, 3 * MIB, advice);
  int e = errno;
  cr_assert(r == -1 && e == ENOMEM, "madvise(%s) over a hole: returned %d errno %d (%s), "
            "expected -1 ENOMEM", zt_advice_name(advice), r, e, strerror(e));
  file_is(fd, 0, 1, ZT_FILL, "memfd outside the mapped part");
  file_is(fd, 1, 2, 0, "mapped memfd part zapped despite the hole");
  file_is(fd, 2, 4, ZT_FILL, "memfd outside the mapped part");
  cr_assert_eq(zt_resident_pages(a, MIB), 0, "anon part zapped despite the hole");
  zt_assert_bytes(a, MIB, 0, "anon part reads zero");
}
REG_TESTS(hole)

/* ------------------------------------------------------------------ */
/* ranges the shim never saw                                            */
/* ------------------------------------------------------------------ */

/*
 * memfd MAP_SHARED at file offset 1M through the raw mmap syscall: the
 * shim must ask the kernel what it is and punch file [1M,3M).
 */
static void unknown_memfd(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = raw_mmap(NULL, 2 * MIB, MAP_SHARED, fd, MIB);
  zt_assert_bytes(p, 2 * MIB, ZT_FILL, "raw mapping content");
  zt_zap(p, 2 * MIB, advice, "memfd mapped behind the shim's back");
  file_is(fd, 0, 1, ZT_FILL, "unknown memfd mapping");
  file_is(fd, 1, 3, 0, "unknown memfd mapping");
  file_is(fd, 3, 4, ZT_FILL, "unknown memfd mapping");
  cr_assert_eq(zt_st_blocks(fd), (long long)(2 * MIB / 512), "2 MiB of the file freed");
  zt_assert_missing_fault(p, 2 * MIB, ZT_UFFD_SHMEM, "unknown memfd mapping");
  zt_assert_bytes(p, 2 * MIB, 0, "unknown memfd mapping reads zero");
}
REG_TESTS(unknown_memfd)

/* MAP_SHARED|MAP_ANONYMOUS through the raw syscall: still zapped. */
static void unknown_anon_shared(int advice) {
  char *p = raw_mmap(NULL, 4 * MIB, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, 4 * MIB, ZT_FILL);
  zt_zap(p, 4 * MIB, advice, "shared anon mapped behind the shim's back");
  cr_assert_eq(zt_resident_pages(p, 4 * MIB), 0, "unknown shared anon freed");
  zt_assert_missing_fault(p, 4 * MIB, ZT_UFFD_SHMEM, "unknown shared anon");
  zt_assert_bytes(p, 4 * MIB, 0, "unknown shared anon reads zero");
}
REG_TESTS(unknown_anon_shared)

/* hugetlb memfd MAP_SHARED at offset 2M through the raw syscall. */
static void unknown_hugetlb_shared(int advice) {
  zt_need_hugepages(ZT_HPAGE_2M, 2);
  int fd = zt_make_memfd(4 * MIB, MFD_HUGETLB | MFD_HUGE_2MB);
  char *p = raw_mmap(NULL, 2 * MIB, MAP_SHARED, fd, 2 * MIB);
  zt_fill(p, 2 * MIB, ZT_FILL);
  char *w = zt_map(2 * MIB, MAP_SHARED, fd, 0); /* the first huge page, seen by the shim */
  zt_fill(w, 2 * MIB, ZT_FILL);
  /* the file's own count, not the system-wide pool */
  cr_assert_eq(zt_st_blocks(fd), ZT_HPAGE_BLOCKS(2), "the file holds two huge pages");
  zt_zap(p, 2 * MIB, advice, "hugetlb memfd mapped behind the shim's back");
  cr_assert_eq(zt_st_blocks(fd), ZT_HPAGE_BLOCKS(1), "exactly one huge page freed");
  uintptr_t ps, pe, ws, we;
  cr_assert(zt_vma_bounds(p, &ps, &pe) && zt_vma_bounds(w, &ws, &we), "both mappings present");
  if (ps == ws) { /* the kernel merged the two (w right below p, offsets contiguous) */
    cr_assert_eq(zt_vma_hugetlb_kb(p), ZT_HPAGE_KB(1), "only w's huge page still mapped");
  } else {
    cr_assert_eq(zt_vma_hugetlb_kb(p), 0, "the zapped mapping maps no huge page");
    cr_assert_eq(zt_vma_hugetlb_kb(w), ZT_HPAGE_KB(1), "the other mapping keeps its page");
  }
  file_is(fd, 0, 2, ZT_FILL, "huge page not in the range");
  file_is(fd, 2, 4, 0, "unknown hugetlb mapping");
  zt_assert_missing_fault(p, 2 * MIB, ZT_UFFD_HUGETLB, "unknown hugetlb mapping");
}
REG_TESTS(unknown_hugetlb_shared)

/* ------------------------------------------------------------------ */
/* SysV shm attach / detach                                             */
/* ------------------------------------------------------------------ */

/*
 * shmdt forgets the segment: unseen anonymous private memory put at the
 * detached address must zap as anon private (a stale SysV entry would
 * make the shim send MADV_REMOVE, which the kernel refuses with EINVAL
 * on anon private memory).
 */
static void shmdt_forgets(int advice) {
  int id = shmget(IPC_PRIVATE, 2 * MIB, IPC_CREAT | 0600);
  cr_assert(id >= 0, "shmget: %s", strerror(errno));
  char *p = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  cr_assert(p != (void *)-1, "shmat: %s", strerror(errno));
  zt_fill(p, 2 * MIB, ZT_FILL);
  cr_assert(shmdt(p) == 0, "shmdt: %s", strerror(errno));
  char *a = raw_anon_at(p, 2 * MIB);
  zt_fill(a, 2 * MIB, ANON_FILL);
  zt_zap(a, 2 * MIB, advice, "unseen anon where a SysV segment was");
  cr_assert_eq(zt_resident_pages(a, 2 * MIB), 0, "anon freed");
  zt_assert_missing_fault(a, 2 * MIB, ZT_UFFD_ANON, "anon after shmdt");
  zt_assert_bytes(a, 2 * MIB, 0, "anon reads zero");
}
REG_TESTS(shmdt_forgets)

/*
 * shmat(SHM_REMAP) over [0,2M) of a 4 MiB memfd mapping (file offset 0):
 * a zap of all 4 MiB frees the segment and file [2M,4M); file [0,2M),
 * no longer mapped, keeps its data.  SysV shm cannot be registered with
 * userfaultfd: mincore and read-back prove its part.
 */
static void shmat_remap_over_memfd(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  int id = shmget(IPC_PRIVATE, 2 * MIB, IPC_CREAT | 0600);
  cr_assert(id >= 0, "shmget: %s", strerror(errno));
  char *s = shmat(id, p, SHM_REMAP);
  shmctl(id, IPC_RMID, NULL);
  cr_assert(s == p, "shmat(SHM_REMAP) at %p: %s", (void *)p, strerror(errno));
  zt_fill(s, 2 * MIB, ANON_FILL);

  zt_zap(p, 4 * MIB, advice, "SysV | memfd");
  file_is(fd, 0, 2, ZT_FILL, "file under the SysV segment untouched");
  file_is(fd, 2, 4, 0, "memfd part zapped");
  cr_assert_eq(zt_resident_pages(s, 2 * MIB), 0, "SysV part freed");
  zt_assert_bytes(p, 4 * MIB, 0, "both read zero");
}
REG_TESTS(shmat_remap_over_memfd)

/* ------------------------------------------------------------------ */
/* failed calls change nothing                                          */
/* ------------------------------------------------------------------ */

/*
 * munmap(unaligned) and munmap(len 0) fail with EINVAL; a MAP_FIXED mmap
 * with a bad descriptor fails (EBADF) before touching the old mapping:
 * after all of them the whole memfd mapping still zaps, at the right
 * offsets.
 */
static void failed_munmap_mmap(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *p = zt_map(2 * MIB, MAP_SHARED, fd, MIB);
  errno = 0;
  cr_assert(munmap(p + 1, 4096) == -1 && errno == EINVAL, "munmap(unaligned) must fail EINVAL");
  errno = 0;
  cr_assert(munmap(p, 0) == -1 && errno == EINVAL, "munmap(len 0) must fail EINVAL");
  errno = 0;
  void *r = mmap(p + MIB, MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, 12345, 0);
  cr_assert(r == MAP_FAILED && errno == EBADF, "MAP_FIXED with a bad fd must fail EBADF");
  zt_assert_bytes(p, 2 * MIB, ZT_FILL, "mapping intact after the failed calls");

  zt_zap(p, 2 * MIB, advice, "memfd mapping after failed munmap/mmap");
  file_is(fd, 0, 1, ZT_FILL, "after failed calls");
  file_is(fd, 1, 3, 0, "after failed calls");
  file_is(fd, 3, 4, ZT_FILL, "after failed calls");
}
REG_TESTS(failed_munmap_mmap)

/*
 * mremap with bad flags (FIXED without MAYMOVE, unknown bits), with an
 * unaligned address, and a grow in place blocked by a neighbour (ENOMEM):
 * the mapping (file offset 1M) and the neighbour still zap right.
 */
static void failed_mremap(int advice) {
  int fd = filled_memfd(4 * MIB);
  char *b = zt_reserve_aligned(5 * MIB, zt_page_size());
  char *p = mmap(b, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, fd, MIB);
  cr_assert(p == b, "memfd mapping: %s", strerror(errno));
  char *n = mmap(b + 2 * MIB, MIB, PROT_READ | PROT_WRITE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(n == b + 2 * MIB, "neighbour: %s", strerror(errno));
  zt_fill(n, MIB, ANON_FILL);

  errno = 0;
  void *r = mremap(p, 2 * MIB, 2 * MIB, MREMAP_FIXED, b + 3 * MIB);
  cr_assert(r == MAP_FAILED && errno == EINVAL, "mremap(FIXED without MAYMOVE) must fail");
  errno = 0;
  r = mremap(p, 2 * MIB, 4 * MIB, 0x100 | MREMAP_MAYMOVE);
  cr_assert(r == MAP_FAILED && errno == EINVAL, "mremap(unknown flag) must fail");
  errno = 0;
  r = mremap(p + 1, 2 * MIB - 4096, MIB, 0);
  cr_assert(r == MAP_FAILED && errno == EINVAL, "mremap(unaligned) must fail");
  errno = 0;
  r = mremap(p, 2 * MIB, 3 * MIB, 0);
  cr_assert(r == MAP_FAILED && errno == ENOMEM, "grow in place over a neighbour must fail");

  zt_zap(p, 3 * MIB, advice, "memfd + neighbour after failed mremaps");
  file_is(fd, 0, 1, ZT_FILL, "after failed mremaps");
  file_is(fd, 1, 3, 0, "after failed mremaps");
  file_is(fd, 3, 4, ZT_FILL, "after failed mremaps");
  cr_assert_eq(zt_resident_pages(n, MIB), 0, "neighbour freed");
  zt_assert_bytes(b, 3 * MIB, 0, "both read zero");
}
REG_TESTS(failed_mremap)

/* ------------------------------------------------------------------ */
/* the log                                                              */
/* ------------------------------------------------------------------ */

/*
 * The shim reads ZAPSHIM_LOG when it starts, so the check runs in a fresh
 * process: this binary re-executed with ZT_LOG_CHILD=1, whose constructor
 * (below) zaps a memfd shared mapping and exits before Criterion starts.
 * Only stable words of the line are checked: "REMOVE" or "PUNCH".
 */
__attribute__((constructor)) static void log_child(void) {
  if (!getenv("ZT_LOG_CHILD"))
    return;
  int fd = memfd_create("zt-log", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 2 * MIB) != 0)
    _exit(2);
  char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    _exit(3);
  memset(p, ZT_FILL, 2 * MIB);
  if (madvise(p, 2 * MIB, MADV_DONTNEED) != 0)
    _exit(4);
  struct stat st;
  _exit(fstat(fd, &st) == 0 && st.st_blocks == 0 ? 0 : 5);
}

Test(registry, log_names_the_translation) {
  const char *pre = getenv("LD_PRELOAD");
  if (!pre || !strstr(pre, "zapshim"))
    cr_skip_test("not run under LD_PRELOAD=libzapshim.so");
  char dir[] = "/tmp/zt-log-XXXXXX";
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  char pattern[64], path[96];
  snprintf(pattern, sizeof pattern, "%s/log.%%p", dir);
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    setenv("ZAPSHIM_LOG", pattern, 1);
    setenv("ZT_LOG_CHILD", "1", 1);
    execl("/proc/self/exe", "zt-log-child", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  snprintf(path, sizeof path, "%s/log.%d", dir, (int)pid);
  bool remove = zt_file_contains(path, "REMOVE"), punch = zt_file_contains(path, "PUNCH");
  unlink(path);
  rmdir(dir);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child zap of a memfd shared mapping failed (status %#x)", status);
  cr_assert(remove || punch, "%s has no line with REMOVE or PUNCH", path);
}
