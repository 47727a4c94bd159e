/*
 * test_registry_stale.c - the program replaces a mapping the shim knows
 * with the raw mmap syscall (MAP_FIXED), which the shim cannot see.  Its
 * registry entry is then stale; a zap must still act on what is really
 * mapped and, above all, must never punch the file the registry remembers:
 * that would destroy data the program still owns.
 *
 * This goes beyond the brief's list ("unknown range": a range the shim
 * never saw); it is kept in its own binary so its result reads apart.
 * Cheap protection exists: check the entry against the kernel (PROCMAP_QUERY
 * or /proc/self/maps: dev, inode, offset) before a destructive punch.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB ZT_MIB
#define ANON_FILL 0xEE

/* MAP_FIXED through the raw syscall, over whatever is at addr. */
static void raw_fixed(void *addr, size_t len, int flags, int fd, off_t off) {
  long r = zt_syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, off);
  cr_assert(r == (long)addr, "raw MAP_FIXED at %p: %s", addr, strerror(r < 0 ? (int)-r : 0));
}

/*
 * memfd A mapped through libc (known), then anonymous private memory
 * raw-MAP_FIXED over it: the zap frees the anon memory, memfd A keeps
 * every byte.
 */
static void anon_over_known_memfd(int advice) {
  int fd = zt_make_memfd(4 * MIB, 0);
  zt_pfill(fd, 0, 4 * MIB, ZT_FILL);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  raw_fixed(p, 4 * MIB, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, 4 * MIB, ANON_FILL);

  zt_zap(p, 4 * MIB, advice, "anon raw-mapped over a known memfd mapping");
  zt_assert_pbytes(fd, 0, 4 * MIB, ZT_FILL, "memfd A no longer mapped: must keep its data");
  cr_assert_eq(zt_st_blocks(fd), (long long)(4 * MIB / 512), "memfd A keeps its pages");
  cr_assert_eq(zt_resident_pages(p, 4 * MIB), 0, "anon memory freed");
  zt_assert_bytes(p, 4 * MIB, 0, "anon memory reads zero");
}
Test(stale, anon_over_known_memfd_dontneed) { anon_over_known_memfd(MADV_DONTNEED); }
Test(stale, anon_over_known_memfd_remove) { anon_over_known_memfd(MADV_REMOVE); }

/*
 * memfd B raw-MAP_FIXED over a known mapping of memfd A: the zap punches
 * B (the memory really there), never A.
 */
static void memfd_over_known_memfd(int advice) {
  int a = zt_make_memfd(4 * MIB, 0), b = zt_make_memfd(4 * MIB, 0);
  zt_pfill(a, 0, 4 * MIB, ZT_FILL);
  zt_pfill(b, 0, 4 * MIB, ZT_FILL);
  char *p = zt_map(4 * MIB, MAP_SHARED, a, 0);
  raw_fixed(p, 4 * MIB, MAP_SHARED, b, 0);

  zt_zap(p, 4 * MIB, advice, "memfd B raw-mapped over a known memfd A mapping");
  zt_assert_pbytes(a, 0, 4 * MIB, ZT_FILL, "memfd A no longer mapped: must keep its data");
  zt_assert_pbytes(b, 0, 4 * MIB, 0, "memfd B, the memory really mapped, zapped");
  cr_assert_eq(zt_st_blocks(b), 0, "memfd B freed");
}
Test(stale, memfd_over_known_memfd_dontneed) { memfd_over_known_memfd(MADV_DONTNEED); }
Test(stale, memfd_over_known_memfd_remove) { memfd_over_known_memfd(MADV_REMOVE); }

/* ------------------------------------------------------------------ */
/* Issue 9 case 2: a stale entry of every action kind                   */
/* ------------------------------------------------------------------ */
/*
 * Every action that does more than, or other than, the program's own call
 * is taken only on the kernel's word at that moment.  Each registry kind
 * below is mapped through libc (the shim records it), then replaced behind
 * the shim's back by a raw MAP_FIXED of
 *   - a shared mapping of an ext4 file filled with ZT_FILE_FILL,
 *   - a hole (raw munmap),
 *   - a read-only private mapping of that file,
 * and zapped through libc with MADV_DONTNEED over 4 KiB (a range ending
 * inside a huge page), 2 MiB and the whole 4 MiB.  Each zap runs in a
 * forked child (the registry, stale, is inherited), so a crash is seen as
 * one; the same call made with the raw syscall in another child gives the
 * kernel's own answer, which the shim's must equal.  After each zap the
 * ext4 file keeps every byte (pread) and its blocks.  MADV_REMOVE on a
 * shared ext4 mapping is the program's own punch: it is tried on a
 * writable private mapping of the file instead, where the policy answers
 * 0 (a private zap) and the file stays untouched.
 *
 * On ZAPSHIM_KERNEL=5.10 private hugetlb is zapped by punching through a
 * kept descriptor and partial huge pages are zeroed by the shim; natively
 * DONTNEED of a partial range is the kernel's: every path is exercised by
 * ctest's runs on each kernel.
 */
#define LEN (4 * MIB)
#define EXT4_MAGIC 0xEF53

enum rkind { RK_HUGE_ANON, RK_HUGETLBFS_PRIV, RK_MEMFD_PRIV, RK_HUGE_SHARED, RK_ANON };
enum repl { RP_EXT4_SHARED, RP_HOLE, RP_FILE_RO, RP_EXT4_PRIVATE };

static const char *rkind_name[] = {"MAP_HUGETLB private", "hugetlbfs file private",
                                   "memfd private", "hugetlb memfd shared", "anon private"};
static const char *repl_name[] = {"a shared ext4 mapping", "a hole", "a read-only private file",
                                  "a writable private ext4 mapping"};

/* known_map - map kind k through libc at base (MAP_FIXED, so huge pages
 * are aligned), fill it; returns its descriptor (kept open) or -1. */
static int known_map(enum rkind k, char *base) {
  int fd = -1, flags = MAP_PRIVATE | MAP_FIXED;
  switch (k) {
  case RK_HUGE_ANON:
    zt_need_hugepages(ZT_HPAGE_2M, 2);
    flags |= MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB;
    break;
  case RK_HUGETLBFS_PRIV: {
    zt_need_hugepages(ZT_HPAGE_2M, 2);
    char path[512];
    fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, sizeof path);
    unlink(path); /* not a named file: on old kernels the policy would punch it */
    break;
  }
  case RK_MEMFD_PRIV:
    fd = zt_make_memfd(LEN, 0);
    zt_pfill(fd, 0, LEN, ZT_FILL);
    break;
  case RK_HUGE_SHARED:
    zt_need_hugepages(ZT_HPAGE_2M, 2);
    fd = zt_make_memfd(LEN, MFD_HUGETLB | MFD_HUGE_2MB);
    flags = MAP_SHARED | MAP_FIXED;
    break;
  case RK_ANON:
    flags |= MAP_ANONYMOUS;
    break;
  }
  void *p = mmap(base, LEN, PROT_READ | PROT_WRITE, flags, fd, 0);
  cr_assert(p == base, "libc mmap of %s at %p: %s", rkind_name[k], (void *)base,
            strerror(errno));
  zt_fill(base, LEN, ZT_FILL);
  return fd;
}

/* replace - put r at base with raw syscalls the shim does not see. */
static void replace(enum repl r, char *base, const char *ext4_path, int ext4_fd) {
  void *q = base;
  switch (r) {
  case RP_EXT4_SHARED:
    q = zt_raw_mmap(base, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ext4_fd, 0);
    break;
  case RP_HOLE:
    cr_assert(zt_raw_munmap(base, LEN) == 0, "raw munmap: %s", strerror(errno));
    break;
  case RP_FILE_RO: {
    int ro = open(ext4_path, O_RDONLY | O_CLOEXEC);
    cr_assert(ro >= 0, "open %s read-only: %s", ext4_path, strerror(errno));
    q = zt_raw_mmap(base, LEN, PROT_READ, MAP_PRIVATE | MAP_FIXED, ro, 0);
    close(ro);
    break;
  }
  case RP_EXT4_PRIVATE:
    q = zt_raw_mmap(base, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, ext4_fd, 0);
    break;
  }
  cr_assert(q == base, "raw MAP_FIXED of %s at %p: %s", repl_name[r], (void *)base,
            strerror(errno));
}

struct zcall {
  char *p;
  size_t len;
  int advice;
  bool raw; /* the kernel's own answer: zt_syscall(SYS_madvise) */
};

/* step run in a child: the zap, through libc (the shim) or raw. */
static int zap_step(void *arg) {
  const struct zcall *c = arg;
  return c->raw ? zt_raw_madvise(c->p, c->len, c->advice) : madvise(c->p, c->len, c->advice);
}

static void stale_case(enum rkind k, enum repl r, int advice) {
  char *base = zt_reserve_aligned(LEN, ZT_HPAGE_2M);
  int kfd = known_map(k, base);
  char path[512];
  int efd = zt_make_ext4_file(LEN, ZT_FILE_FILL, path, sizeof path);
  cr_assert_eq(zt_fs_magic(efd), EXT4_MAGIC, "%s is on ext4 (not tmpfs)", path);
  long long blocks = zt_st_blocks(efd);
  cr_assert_geq(blocks, (long long)(LEN / 512), "the ext4 file has its blocks allocated");
  replace(r, base, path, efd);

  const size_t lens[] = {4 * ZT_KIB, ZT_HPAGE_2M, LEN};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    struct zcall c = {.p = base, .len = lens[i], .advice = advice};
    struct zt_child got, want;
    char d1[96], d2[96];
    zt_in_child(zap_step, &c, 20, &got);
    c.raw = true;
    zt_in_child(zap_step, &c, 20, &want);
    cr_assert(got.exited, "%s replaced by %s, %s of %#zx: the zap %s", rkind_name[k],
              repl_name[r], zt_advice_name(advice), lens[i], zt_child_desc(&got, d1, sizeof d1));
    cr_assert(want.exited, "the raw madvise %s", zt_child_desc(&want, d2, sizeof d2));
    if (advice == MADV_REMOVE && r == RP_EXT4_PRIVATE)
      want.ret = want.err = 0; /* the policy: REMOVE on private memory is its private zap */
    cr_assert(got.ret == want.ret && (got.ret == 0 || got.err == want.err),
              "%s replaced by %s, %s of %#zx: returned %d errno %d (%s), the kernel gives %d "
              "errno %d (%s)", rkind_name[k], repl_name[r], zt_advice_name(advice), lens[i],
              got.ret, got.err, strerror(got.err), want.ret, want.err, strerror(want.err));
    char what[200];
    snprintf(what, sizeof what, "%s replaced by %s, %s of %#zx: the ext4 file", rkind_name[k],
             repl_name[r], zt_advice_name(advice), lens[i]);
    zt_assert_pbytes(efd, 0, LEN, ZT_FILE_FILL, what);
    cr_assert_eq(zt_st_blocks(efd), blocks, "%s keeps its blocks", what);
  }
  if (kfd >= 0)
    close(kfd);
  close(efd);
}

#define STALE_TEST(name, k, r, adv)                                                            \
  Test(stale_kinds, name) { stale_case(k, r, adv); }

STALE_TEST(huge_anon_by_ext4_shared, RK_HUGE_ANON, RP_EXT4_SHARED, MADV_DONTNEED)
STALE_TEST(huge_anon_by_hole, RK_HUGE_ANON, RP_HOLE, MADV_DONTNEED)
STALE_TEST(huge_anon_by_file_ro, RK_HUGE_ANON, RP_FILE_RO, MADV_DONTNEED)
STALE_TEST(huge_anon_remove_by_ext4_private, RK_HUGE_ANON, RP_EXT4_PRIVATE, MADV_REMOVE)
STALE_TEST(huge_anon_remove_by_hole, RK_HUGE_ANON, RP_HOLE, MADV_REMOVE)

STALE_TEST(hugetlbfs_priv_by_ext4_shared, RK_HUGETLBFS_PRIV, RP_EXT4_SHARED, MADV_DONTNEED)
STALE_TEST(hugetlbfs_priv_by_hole, RK_HUGETLBFS_PRIV, RP_HOLE, MADV_DONTNEED)
STALE_TEST(hugetlbfs_priv_by_file_ro, RK_HUGETLBFS_PRIV, RP_FILE_RO, MADV_DONTNEED)
STALE_TEST(hugetlbfs_priv_remove_by_ext4_private, RK_HUGETLBFS_PRIV, RP_EXT4_PRIVATE, MADV_REMOVE)
STALE_TEST(hugetlbfs_priv_remove_by_hole, RK_HUGETLBFS_PRIV, RP_HOLE, MADV_REMOVE)

STALE_TEST(memfd_priv_by_ext4_shared, RK_MEMFD_PRIV, RP_EXT4_SHARED, MADV_DONTNEED)
STALE_TEST(memfd_priv_by_hole, RK_MEMFD_PRIV, RP_HOLE, MADV_DONTNEED)
STALE_TEST(memfd_priv_by_file_ro, RK_MEMFD_PRIV, RP_FILE_RO, MADV_DONTNEED)
STALE_TEST(memfd_priv_remove_by_ext4_private, RK_MEMFD_PRIV, RP_EXT4_PRIVATE, MADV_REMOVE)
STALE_TEST(memfd_priv_remove_by_hole, RK_MEMFD_PRIV, RP_HOLE, MADV_REMOVE)

STALE_TEST(huge_shared_by_ext4_shared, RK_HUGE_SHARED, RP_EXT4_SHARED, MADV_DONTNEED)
STALE_TEST(huge_shared_by_hole, RK_HUGE_SHARED, RP_HOLE, MADV_DONTNEED)
STALE_TEST(huge_shared_by_file_ro, RK_HUGE_SHARED, RP_FILE_RO, MADV_DONTNEED)
STALE_TEST(huge_shared_remove_by_ext4_private, RK_HUGE_SHARED, RP_EXT4_PRIVATE, MADV_REMOVE)
STALE_TEST(huge_shared_remove_by_hole, RK_HUGE_SHARED, RP_HOLE, MADV_REMOVE)

STALE_TEST(anon_by_ext4_shared, RK_ANON, RP_EXT4_SHARED, MADV_DONTNEED)
STALE_TEST(anon_by_hole, RK_ANON, RP_HOLE, MADV_DONTNEED)
STALE_TEST(anon_by_file_ro, RK_ANON, RP_FILE_RO, MADV_DONTNEED)
STALE_TEST(anon_remove_by_ext4_private, RK_ANON, RP_EXT4_PRIVATE, MADV_REMOVE)
STALE_TEST(anon_remove_by_hole, RK_ANON, RP_HOLE, MADV_REMOVE)

/*
 * An anonymous mapping replaced by a raw MAP_FIXED shared memfd (a call
 * the preload cannot see), then DONTNEED.  The registry keeps no plain
 * anonymous memory; only the thread that mapped it notes it (until the
 * registry changes), and a fork child drops the notes.  So a zap from the
 * child is made on the kernel's view: the memfd is freed.  The mapping
 * thread's own zap goes by its note, "anonymous private: the program's own
 * call", which needs no confirmation (it never does more than the program
 * asked): the kernel's answer (0), nothing lost, but the memfd is not
 * freed.  Confirming every anonymous zap with the kernel would cost one
 * PROCMAP_QUERY, ~0.5-1 us on a 3-6 us touch+DONTNEED here (measured);
 * raw-syscall programs are the syscall path's (zapshim --trace) to serve.
 */
Test(stale_kinds, memfd_shared_over_known_anon) {
  char *p = zt_map(LEN, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, LEN, ANON_FILL);
  int fd = zt_make_memfd(LEN, 0);
  zt_pfill(fd, 0, LEN, ZT_FILE_FILL);
  cr_assert(zt_raw_mmap(p, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == p,
            "raw MAP_FIXED memfd: %s", strerror(errno));
  zt_fill(p, LEN, ZT_FILL);
  struct zcall c = {.p = p, .len = LEN, .advice = MADV_DONTNEED};
  struct zt_child got;
  char d[96];
  zt_in_child(zap_step, &c, 20, &got);
  cr_assert(got.exited, "the zap %s", zt_child_desc(&got, d, sizeof d));
  cr_assert(got.ret == 0, "DONTNEED returned %d errno %d (%s), the kernel gives 0", got.ret,
            got.err, strerror(got.err));
  cr_assert_eq(zt_st_blocks(fd), 0, "the fork child's zap, on the kernel's view, frees the memfd");
  zt_fill(p, LEN, ZT_FILL);
  cr_assert_eq(madvise(p, LEN, MADV_DONTNEED), 0, "the mapping thread's DONTNEED");
  zt_assert_pbytes(fd, 0, LEN, ZT_FILL, "the memfd keeps its data (the program's own call)");
}
