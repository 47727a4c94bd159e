/*
 * test_kinds.c - one test per memory kind x advice: a plain
 * madvise(MADV_DONTNEED) or madvise(MADV_REMOVE) over a whole 4 MiB
 * mapping must have the effect the policy gives that kind, measured
 * against the kernel itself:
 *
 *   zapped:  madvise returns 0, the memory is freed (mincore, st_blocks,
 *            or for hugetlb the object's own st_blocks and the mapping's
 *            smaps huge page count), a userfaultfd missing fault fires on
 *            the next touch, and the range then reads zero;
 *   kept:    persistent files keep their bytes and blocks; a private
 *            mapping of a file shows the file's content again.
 *
 * The binary does not link the shim; ctest runs it with LD_PRELOAD (and
 * with ZAPSHIM_KERNEL=6.10, 5.18, 5.10: the effect must not change).  Run
 * without the shim, the rows where the kernel alone does not zap fail
 * here: that is how each test proves it can see a non-zap.
 *
 * Order inside a test matters: "freed" is measured first (a read of a
 * shmem hole allocates a page), then the missing fault (it does not
 * populate anything when it fires), then the read-back.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (4 * ZT_MIB)
#define PRIVATE_FILL 0xEF /* written into a private mapping of a file */

/* Every base page of the range resident (the fill reached memory). */
static void assert_all_resident(const void *p, size_t len, const char *what) {
  size_t n = len / zt_page_size();
  size_t res = zt_resident_pages(p, len);
  cr_assert(res == n, "%s: before the zap only %zu of %zu pages resident", what, res, n);
}

static void assert_none_resident(const void *p, size_t len, const char *what) {
  size_t res = zt_resident_pages(p, len);
  cr_assert(res == 0, "%s: %zu of %zu pages still resident after the zap", what, res,
            len / zt_page_size());
}

static void assert_blocks(int fd, long long want, const char *what) {
  long long b = zt_st_blocks(fd);
  cr_assert(b == want, "%s: st_blocks %lld, expected %lld", what, b, want);
}

/* ------------------------------------------------------------------ */
/* anonymous private                                                    */
/* ------------------------------------------------------------------ */

static void anon_private(int advice) {
  char *p = zt_map(LEN, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, LEN, ZT_FILL);
  assert_all_resident(p, LEN, "anon private");
  zt_zap(p, LEN, advice, "anon private");
  assert_none_resident(p, LEN, "anon private");
  zt_assert_missing_fault(p, LEN, ZT_UFFD_ANON, "anon private");
  zt_assert_bytes(p, LEN, 0, "anon private read-back");
}

/* ------------------------------------------------------------------ */
/* shmem shared: MAP_SHARED|MAP_ANONYMOUS, memfd, tmpfs file, SysV      */
/* ------------------------------------------------------------------ */

static void anon_shared(int advice) {
  char *p = zt_map(LEN, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, LEN, ZT_FILL);
  /* mincore on shmem reports the residency of the shmem pages */
  assert_all_resident(p, LEN, "anon shared");
  zt_zap(p, LEN, advice, "anon shared");
  assert_none_resident(p, LEN, "anon shared");
  zt_assert_missing_fault(p, LEN, ZT_UFFD_SHMEM, "anon shared");
  zt_assert_bytes(p, LEN, 0, "anon shared read-back");
}

/* A shared mapping of a memfd or tmpfs file fd (sized LEN). */
static void shmem_file_shared(int fd, int advice, const char *what) {
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  assert_blocks(fd, (long long)(LEN / 512), what);
  zt_zap(p, LEN, advice, what);
  assert_blocks(fd, 0, what);
  assert_none_resident(p, LEN, what);
  zt_assert_missing_fault(p, LEN, ZT_UFFD_SHMEM, what);
  zt_assert_bytes(p, LEN, 0, what);
  zt_assert_pbytes(fd, 0, LEN, 0, what);
}

/*
 * A private mapping of a memfd or tmpfs file whose content is
 * ZT_FILE_FILL, written over with ZT_FILL (private copies).
 *   DONTNEED: the private copies go, the file's content shows again, the
 *     file keeps its pages (so no missing fault) and its bytes.
 *   REMOVE: DONTNEED then the backing file range is punched: reads zero,
 *     st_blocks 0, missing fault.
 */
static void shmem_file_private(int fd, int advice, const char *what) {
  zt_pfill(fd, 0, LEN, ZT_FILE_FILL);
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  zt_assert_pbytes(fd, 0, LEN, ZT_FILE_FILL, "private write must not reach the file");
  assert_blocks(fd, (long long)(LEN / 512), what);
  zt_zap(p, LEN, advice, what);
  if (advice == MADV_DONTNEED) {
    assert_blocks(fd, (long long)(LEN / 512), what);
    zt_assert_no_missing_fault(p, LEN, ZT_UFFD_SHMEM, what);
    zt_assert_bytes(p, LEN, ZT_FILE_FILL, "private copy dropped: the file's content shows");
    zt_assert_pbytes(fd, 0, LEN, ZT_FILE_FILL, "file unchanged");
  } else {
    assert_blocks(fd, 0, what);
    assert_none_resident(p, LEN, what);
    zt_assert_missing_fault(p, LEN, ZT_UFFD_SHMEM, what);
    zt_assert_bytes(p, LEN, 0, what);
    zt_assert_pbytes(fd, 0, LEN, 0, "backing file range punched");
  }
}

static void memfd_shared(int advice) {
  shmem_file_shared(zt_make_memfd(LEN, 0), advice, "memfd shared");
}

static void memfd_private(int advice) {
  shmem_file_private(zt_make_memfd(LEN, 0), advice, "memfd private");
}

/* A /dev/shm file unlinked at once, as VMMs do with their RAM files: a
 * file still linked keeps its data on DONTNEED by default (see
 * test_named_files.c). */
static int dev_shm_file(void) {
  char path[512];
  int fd = zt_make_file_in("/dev/shm", LEN, path, sizeof path);
  cr_assert_eq(unlink(path), 0, "unlink %s", path);
  return fd;
}

static void tmpfs_shared(int advice) {
  shmem_file_shared(dev_shm_file(), advice, "tmpfs /dev/shm file (unlinked) shared");
}

static void tmpfs_private(int advice) {
  shmem_file_private(dev_shm_file(), advice, "tmpfs /dev/shm file (unlinked) private");
}

/*
 * SysV shm: userfaultfd refuses to register shmat'ed memory (the kernel
 * only accepts anon, shmem files and hugetlbfs vmas, and SysV segments
 * are neither to it), so the zap is proven by mincore and read-back only.
 */
static void sysv(int advice) {
  char *p = zt_sysv_attach(LEN);
  zt_fill(p, LEN, ZT_FILL);
  assert_all_resident(p, LEN, "SysV shm");
  zt_zap(p, LEN, advice, "SysV shm");
  assert_none_resident(p, LEN, "SysV shm");
  zt_assert_bytes(p, LEN, 0, "SysV shm read-back");
}

/* ------------------------------------------------------------------ */
/* hugetlb: hugetlbfs file, MFD_HUGETLB memfd, MAP_HUGETLB anon          */
/* ------------------------------------------------------------------ */

enum hsrc { HUGETLBFS_FILE, HUGETLB_MEMFD, MAP_HUGETLB_ANON };

/*
 * Huge pages this test's own objects hold, never the system-wide pool
 * count (other users of huge pages move it):
 *   file: st_blocks of the file - through fd, or for MAP_HUGETLB (no fd)
 *     the kernel's internal hugetlbfs file through /proc/self/map_files.
 *     Shared pages live there; private copies never enter it (0).
 *   mapped: Private_Hugetlb + Shared_Hugetlb of the mapping in smaps.
 */
static void hugetlb_is(char *p, int fd, long long file_pages, long mapped_pages,
                       const char *when, const char *what) {
  long long b = fd >= 0 ? zt_st_blocks(fd) : zt_map_blocks(p);
  cr_assert(b == ZT_HPAGE_BLOCKS(file_pages),
            "%s: %s: file st_blocks %lld (%lld huge pages), expected %lld huge pages", what,
            when, b, b / ZT_HPAGE_BLOCKS(1), file_pages);
  long kb = zt_vma_hugetlb_kb(p);
  cr_assert(kb == ZT_HPAGE_KB(mapped_pages),
            "%s: %s: the mapping maps %ld kB of huge pages (smaps), expected %ld kB", what,
            when, kb, ZT_HPAGE_KB(mapped_pages));
}

/*
 * 4 MiB = two 2 MiB huge pages, filled; the zap must free both.  Shared:
 * after the fill the file holds both pages and the mapping maps them;
 * after the zap the file holds none (the kernel's own DONTNEED only
 * unmaps a shared page: the file keeps it, which fails here) and the
 * mapping maps none.  Private: the file never holds a page; the mapping
 * maps both private copies after the fill and none after the zap.
 */
static void hugetlb(enum hsrc src, bool shared, int advice) {
  static const char *names[] = {"hugetlbfs file", "hugetlb memfd", "MAP_HUGETLB anon"};
  char what[80];
  snprintf(what, sizeof what, "%s %s", names[src], shared ? "shared" : "private");
  zt_need_hugepages(ZT_HPAGE_2M, 2); /* precondition only */
  int fd = -1;
  int flags = shared ? MAP_SHARED : MAP_PRIVATE;
  if (src == HUGETLBFS_FILE) { /* unlinked, as VMMs' RAM files are */
    char path[512];
    fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, sizeof path);
    cr_assert_eq(unlink(path), 0, "unlink %s", path);
  }
  else if (src == HUGETLB_MEMFD)
    fd = zt_make_memfd(LEN, MFD_HUGETLB | MFD_HUGE_2MB);
  else
    flags |= MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB;

  char *p = zt_map(LEN, flags, fd, 0);
  hugetlb_is(p, fd, 0, 0, "before the fill", what);
  zt_fill(p, LEN, ZT_FILL);
  hugetlb_is(p, fd, shared ? 2 : 0, 2, "after the fill", what);

  zt_zap(p, LEN, advice, what);

  hugetlb_is(p, fd, 0, 0, "after the zap", what);
  zt_assert_missing_fault(p, LEN, ZT_UFFD_HUGETLB, what);
  zt_assert_bytes(p, LEN, 0, what);
  if (fd >= 0 && shared)
    zt_assert_pbytes(fd, 0, LEN, 0, what);
}

/* ------------------------------------------------------------------ */
/* KVM guest_memfd                                                      */
/* ------------------------------------------------------------------ */

/*
 * guest_memfd mapped with mmap (GUEST_MEMFD_FLAG_MMAP | INIT_SHARED).
 * On 6.18 its fstat st_blocks stays 0 whatever is allocated, so "freed"
 * is proven with mincore (page cache residency of the gmem inode).
 * userfaultfd cannot register guest_memfd vmas on 6.18 (EINVAL): the
 * missing-fault check runs only if the kernel accepts the registration.
 */
static void guest_memfd(int advice) {
  char why[256];
  int vm = -1;
  int fd = zt_guest_memfd(LEN, &vm, why, sizeof why);
  if (fd < 0 && access("/dev/kvm", F_OK) != 0)
    cr_skip_test("guest_memfd unavailable (also in CI): %s", why);
  zt_need(fd >= 0, why); /* /dev/kvm is there: a failure to create it fails in CI */
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  assert_all_resident(p, LEN, "guest_memfd");
  zt_zap(p, LEN, advice, "guest_memfd");
  assert_none_resident(p, LEN, "guest_memfd");

  int uffd = zt_uffd_open(ZT_UFFD_SHMEM);
  if (uffd >= 0 && zt_uffd_register_missing(uffd, p, LEN) == 0) {
    zt_uffd_unregister(uffd, p, LEN);
    close(uffd);
    zt_assert_missing_fault(p, LEN, ZT_UFFD_SHMEM, "guest_memfd");
  } else {
    cr_log_info("guest_memfd: userfaultfd cannot watch it (%s); proven by mincore + read-back",
                strerror(errno));
    if (uffd >= 0)
      close(uffd);
  }
  zt_assert_bytes(p, LEN, 0, "guest_memfd read-back");
  close(vm);
}

/* ------------------------------------------------------------------ */
/* persistent file (ext4)                                               */
/* ------------------------------------------------------------------ */

/*
 * Shared: the program's bytes are written through the mapping and synced.
 *   DONTNEED: only the page table entries go; data and blocks stay.
 *   REMOVE: passed to the kernel, which punches the file (asked for).
 */
static void ext4_shared(int advice) {
  int fd = zt_make_ext4_file(LEN, 0, NULL, 0);
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  cr_assert(msync(p, LEN, MS_SYNC) == 0, "msync: %s", strerror(errno));
  long long b0 = zt_st_blocks(fd);
  cr_assert(b0 >= (long long)(LEN / 512), "ext4 file has %lld blocks", b0);
  zt_zap(p, LEN, advice, "ext4 shared");
  if (advice == MADV_DONTNEED) {
    assert_blocks(fd, b0, "ext4 shared DONTNEED keeps the blocks");
    zt_assert_pbytes(fd, 0, LEN, ZT_FILL, "ext4 shared DONTNEED keeps the data");
    zt_assert_bytes(p, LEN, ZT_FILL, "ext4 shared DONTNEED read-back");
  } else {
    long long b1 = zt_st_blocks(fd);
    cr_assert(b1 == 0, "ext4 shared REMOVE: st_blocks %lld (was %lld), expected punched", b1, b0);
    zt_assert_pbytes(fd, 0, LEN, 0, "ext4 shared REMOVE punches the file");
    zt_assert_bytes(p, LEN, 0, "ext4 shared REMOVE read-back");
  }
}

/*
 * Private: the file holds ZT_FILL, the mapping is written with
 * PRIVATE_FILL.  Both advices drop the private copies (REMOVE would be
 * EACCES from the kernel alone) and leave the file untouched.
 */
static void ext4_private(int advice) {
  int fd = zt_make_ext4_file(LEN, ZT_FILL, NULL, 0);
  long long b0 = zt_st_blocks(fd);
  cr_assert(b0 >= (long long)(LEN / 512), "ext4 file has %lld blocks", b0);
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, PRIVATE_FILL);
  zt_zap(p, LEN, advice, "ext4 private");
  assert_blocks(fd, b0, "ext4 private keeps the file's blocks");
  zt_assert_pbytes(fd, 0, LEN, ZT_FILL, "ext4 private keeps the file's data");
  zt_assert_bytes(p, LEN, ZT_FILL, "ext4 private: private copy dropped, file content shows");
}

/* ------------------------------------------------------------------ */

#define KIND_TESTS(name, call)                                                                 \
  Test(kinds, name##_dontneed) {                                                               \
    int advice = MADV_DONTNEED;                                                                \
    call;                                                                                      \
  }                                                                                            \
  Test(kinds, name##_remove) {                                                                 \
    int advice = MADV_REMOVE;                                                                  \
    call;                                                                                      \
  }

KIND_TESTS(anon_private, anon_private(advice))
KIND_TESTS(anon_shared, anon_shared(advice))
KIND_TESTS(memfd_shared, memfd_shared(advice))
KIND_TESTS(memfd_private, memfd_private(advice))
KIND_TESTS(tmpfs_shared, tmpfs_shared(advice))
KIND_TESTS(tmpfs_private, tmpfs_private(advice))
KIND_TESTS(sysv_shm, sysv(advice))
KIND_TESTS(hugetlbfs_shared, hugetlb(HUGETLBFS_FILE, true, advice))
KIND_TESTS(hugetlbfs_private, hugetlb(HUGETLBFS_FILE, false, advice))
KIND_TESTS(hugetlb_memfd_shared, hugetlb(HUGETLB_MEMFD, true, advice))
KIND_TESTS(hugetlb_memfd_private, hugetlb(HUGETLB_MEMFD, false, advice))
KIND_TESTS(map_hugetlb_shared, hugetlb(MAP_HUGETLB_ANON, true, advice))
KIND_TESTS(map_hugetlb_private, hugetlb(MAP_HUGETLB_ANON, false, advice))
KIND_TESTS(guest_memfd, guest_memfd(advice))
KIND_TESTS(ext4_shared, ext4_shared(advice))
KIND_TESTS(ext4_private, ext4_private(advice))

/* Under ctest LD_PRELOAD names the shim: it must really be in the process. */
Test(kinds, shim_is_preloaded) {
  const char *pre = getenv("LD_PRELOAD");
  if (!pre || !strstr(pre, "zapshim"))
    cr_skip_test("not run under LD_PRELOAD=libzapshim.so");
  cr_assert(zt_shim_loaded(), "LD_PRELOAD=%s but zapshim_madvise does not resolve", pre);
}
