/*
 * cases_madvise.c - madvise cases: bad addresses and lengths, bogus and
 * valid advice, and MADV_DONTNEED / MADV_REMOVE on every memory kind the
 * policy names, including read-only, PROT_NONE, mlocked, sealed memory,
 * holes and huge page misalignment.
 *
 * The state afterwards is the region page by page (memory and file).
 * Where the policy table of shim/policy.h makes the shim do another call
 * than the one asked (DONTNEED on shared memory is MADV_REMOVE), .ref
 * names that call and the shim's state is compared with the kernel making
 * it (the D_REF side); the result and errno are still the kernel's answer
 * to the call asked, unless .exc names a deliberate exception.
 */
#define _GNU_SOURCE
#include "diff.h"
#include "setup.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

#define P 4096UL
#define H (2UL << 20)
#define DN MADV_DONTNEED
#define RM MADV_REMOVE

/* case_len - the length a case passes for a call starting at a. */
static size_t case_len(const struct dcase *c, uintptr_t a) {
  switch (c->lenmode) {
  case L_TOP:
    return SIZE_MAX - c->len;
  case L_WRAP:
    return (size_t)(0 - (a & ~(P - 1))) + c->len;
  case L_BYTES:
    break;
  }
  return c->len;
}

/* ref_huge_partial - the policy's effect on a hugetlb range, made with the
 * kernel alone: DONTNEED of the whole huge pages in [a, a+len), then the
 * covered part of a huge page at either edge zeroed (not freed). Returns
 * the DONTNEED's result (0 if there were no whole pages). */
static int ref_huge_partial(const struct denv *e, char *a, size_t len) {
  uintptr_t s = (uintptr_t)a, end = s + ((len + P - 1) & ~(P - 1));
  uintptr_t fa = (s + e->unit - 1) & ~(e->unit - 1), fb = end & ~(e->unit - 1);
  int r = 0;
  if (fa < fb)
    r = (int)zt_syscall(SYS_madvise, (void *)fa, fb - fa, MADV_DONTNEED);
  else
    fa = fb = end;
  if (r == 0) {
    memset(a, 0, fa - s);
    memset((void *)fb, 0, end - fb);
  }
  return r;
}

/* run_ref - the D_REF side: what the policy says the shim does, with the
 * kernel alone; its result is recorded (exception cases compare with it). */
static void run_ref(const struct dcase *c, const struct denv *e, char *a, size_t len,
                    struct dres *r) {
  int ret = 0;
  switch (c->ref) {
  case R_SAME:
    ret = (int)zt_syscall(SYS_madvise, a, len, c->advice);
    break;
  case R_REMOVE:
    ret = (int)zt_syscall(SYS_madvise, a, len, MADV_REMOVE);
    break;
  case R_DONTNEED:
    ret = (int)zt_syscall(SYS_madvise, a, len, MADV_DONTNEED);
    break;
  case R_DONTNEED_PUNCH:
    ret = (int)zt_syscall(SYS_madvise, a, len, MADV_DONTNEED);
    if (ret == 0)
      cr_assert(fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, a - e->base,
                          (off_t)((len + P - 1) & ~(P - 1))) == 0,
                "reference punch: %s", strerror(errno));
    break;
  case R_HUGE_PARTIAL:
    ret = ref_huge_partial(e, a, len);
    break;
  }
  d_result(r, ret);
}

/* run_madvise - one side of a madvise case: set up, call, describe. */
static void run_madvise(const struct dcase *c, enum dside s, struct dres *r) {
  struct denv e;
  d_setup(c->kind, &e);
  char *a = c->absolute ? (char *)c->abs : e.base + c->off;
  size_t len = case_len(c, (uintptr_t)a);
  if (s == D_REF)
    run_ref(c, &e, a, len, r);
  else
    d_result(r, d_madvise(s, a, len, c->advice));
  d_state_region(r, "region", e.base, e.len, e.fd, 0);
  d_teardown(&e);
}

/* One case: name, set-up, offset, length, advice, reference, exceptions. */
#define M(nm, k, o, l, adv, rf, x)                                                               \
  {.name = nm, .run = run_madvise, .kind = k, .off = (long)(o), .len = l, .advice = adv,         \
   .ref = rf, .exc = x}
/* The same with a length mode. */
#define ML(nm, k, o, l, lm, adv, rf, x)                                                          \
  {.name = nm, .run = run_madvise, .kind = k, .off = (long)(o), .len = l, .lenmode = lm,         \
   .advice = adv, .ref = rf, .exc = x}
/* An absolute address. */
#define MA(nm, k, addr, l, adv)                                                                  \
  {.name = nm, .run = run_madvise, .kind = k, .absolute = true, .abs = addr, .len = l,           \
   .advice = adv}

#define KADDR 0xffff800000000000UL   /* kernel space */
#define VSYSCALL 0xffffffffff600000UL /* the vsyscall page: no VMA */
#define TOPUSER 0x00007ffffffff000UL  /* the last user page (47-bit) */

/* The edge inputs, for one kind and advice; rf is the reference of a
 * successful one-page call, x its exceptions. */
#define EDGES(k, kn, adv, an, rf, x)                                                             \
  M(an " " kn " unaligned addr", k, 1, P, adv, R_SAME, 0),                                       \
  M(an " " kn " unaligned addr len 0", k, 1, 0, adv, R_SAME, 0),                                 \
  M(an " " kn " len 0", k, 0, 0, adv, R_SAME, 0),                                                \
  M(an " " kn " len 1", k, 0, 1, adv, rf, x),                                                    \
  M(an " " kn " len page+1", k, 0, P + 1, adv, rf, x),                                           \
  M(an " " kn " whole", k, 0, 4 * P, adv, rf, x),                                                \
  M(an " " kn " last page", k, 3 * P, P, adv, rf, x),                                            \
  ML(an " " kn " len rounds past end of address space", k, 0, 10, L_TOP, adv, R_SAME, 0),        \
  ML(an " " kn " len page-aligned max", k, 0, P - 1, L_TOP, adv, R_SAME, 0),                     \
  ML(an " " kn " addr+len wraps", k, 0, 2 * P, L_WRAP, adv, R_SAME, 0),                          \
  ML(an " " kn " addr+len ends at 0", k, 0, 0, L_WRAP, adv, R_SAME, 0),                          \
  MA(an " " kn " kernel address", k, KADDR, P, adv),                                             \
  MA(an " " kn " vsyscall page", k, VSYSCALL, P, adv),                                           \
  MA(an " " kn " last user page", k, TOPUSER, P, adv),                                           \
  MA(an " " kn " last user page into kernel half", k, TOPUSER, 2 * P, adv),                      \
  MA(an " " kn " NULL", k, 0, P, adv),                                                           \
  MA(an " " kn " NULL len 0", k, 0, 0, adv)

/* Advice other than DONTNEED and REMOVE: must pass through untouched. */
#define OTHER(k, kn, adv)                                                                        \
  M(#adv " " kn, k, 0, 4 * P, adv, R_SAME, 0), M(#adv " " kn " unaligned", k, 1, P, adv, R_SAME, 0)

#define BOGUS(v) M("bogus advice " #v, K_ANON, 0, 4 * P, v, R_SAME, 0)

#define X1 EXC_REMOVE_PRIVATE
#define X2 EXC_HUGE_PARTIAL

static const struct dcase madvise_cases[] = {
  EDGES(K_ANON, "anon", DN, "DONTNEED", R_SAME, 0),
  EDGES(K_ANON, "anon", RM, "REMOVE", R_DONTNEED, X1),
  EDGES(K_MEMFD, "memfd", DN, "DONTNEED", R_REMOVE, 0),
  EDGES(K_MEMFD, "memfd", RM, "REMOVE", R_SAME, 0),

  BOGUS(26), BOGUS(27), BOGUS(50), BOGUS(99), BOGUS(104), BOGUS(150), BOGUS(200),
  BOGUS(999), BOGUS(-1), BOGUS(INT_MAX), BOGUS(INT_MIN), BOGUS(5), BOGUS(6), BOGUS(7),
  M("bogus advice 999 unaligned", K_ANON, 1, P, 999, R_SAME, 0),
  M("bogus advice 999 len 0", K_ANON, 0, 0, 999, R_SAME, 0),
  M("bogus advice 999 unmapped", K_UNMAPPED, 0, 4 * P, 999, R_SAME, 0),

#define OTHERS(k, kn)                                                                            \
  OTHER(k, kn, MADV_NORMAL), OTHER(k, kn, MADV_RANDOM), OTHER(k, kn, MADV_SEQUENTIAL),           \
  OTHER(k, kn, MADV_WILLNEED), OTHER(k, kn, MADV_FREE), OTHER(k, kn, MADV_DONTFORK),             \
  OTHER(k, kn, MADV_DOFORK), OTHER(k, kn, MADV_MERGEABLE), OTHER(k, kn, MADV_UNMERGEABLE),       \
  OTHER(k, kn, MADV_HUGEPAGE), OTHER(k, kn, MADV_NOHUGEPAGE), OTHER(k, kn, MADV_DONTDUMP),       \
  OTHER(k, kn, MADV_DODUMP), OTHER(k, kn, MADV_WIPEONFORK), OTHER(k, kn, MADV_KEEPONFORK),       \
  OTHER(k, kn, MADV_COLD), OTHER(k, kn, MADV_PAGEOUT), OTHER(k, kn, MADV_POPULATE_READ),         \
  OTHER(k, kn, MADV_POPULATE_WRITE), OTHER(k, kn, MADV_DONTNEED_LOCKED),                         \
  OTHER(k, kn, MADV_COLLAPSE), OTHER(k, kn, MADV_GUARD_INSTALL), OTHER(k, kn, MADV_GUARD_REMOVE)
  OTHERS(K_ANON, "anon"),
  OTHERS(K_MEMFD, "memfd"),
  M("DONTNEED_LOCKED mlocked", K_LOCKED, 0, 4 * P, MADV_DONTNEED_LOCKED, R_SAME, 0),
  M("WILLNEED unmapped", K_UNMAPPED, 0, 4 * P, MADV_WILLNEED, R_SAME, 0),
  M("NORMAL hole", K_HOLE_ANON, 0, 4 * P, MADV_NORMAL, R_SAME, 0),

  /* DONTNEED and REMOVE on every kind. */
  M("DONTNEED memfd private", K_MEMFD_PRIV, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd private", K_MEMFD_PRIV, 0, 4 * P, RM, R_DONTNEED_PUNCH, X1),
  M("REMOVE memfd private page 1", K_MEMFD_PRIV, P, P, RM, R_DONTNEED_PUNCH, X1),
  /* PROT_READ over a read-write memfd: the kernel's REMOVE would work
   * (VM_MAYWRITE), but the policy leaves a read-only view of shared memory
   * as asked (shim/policy.h: freeing memory the program cannot write could
   * lose another process's data). Through an O_RDONLY descriptor REMOVE is
   * EACCES anyway. */
  M("DONTNEED memfd PROT_READ", K_MEMFD_RO, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd PROT_READ", K_MEMFD_RO, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED memfd read-only descriptor", K_MEMFD_ROFD, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd read-only descriptor", K_MEMFD_ROFD, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED anon PROT_NONE", K_NONE_ANON, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE anon PROT_NONE", K_NONE_ANON, 0, 4 * P, RM, R_DONTNEED, X1),
  M("DONTNEED memfd PROT_NONE", K_NONE_MEMFD, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd PROT_NONE", K_NONE_MEMFD, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED anon mlocked", K_LOCKED, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE anon mlocked", K_LOCKED, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED memfd mlocked", K_LOCKED_MEMFD, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd mlocked", K_LOCKED_MEMFD, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED memfd F_SEAL_WRITE", K_SEALED, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd F_SEAL_WRITE", K_SEALED, 0, 4 * P, RM, R_SAME, 0),
  /* issue 9 case 8: a REMOVE the shim cannot make whole (no descriptor the
   * program could write the file with, a sealed file) is the kernel's own
   * answer, EACCES, with nothing done: never 0 for a zap that did not happen. */
  M("REMOVE private view, O_RDONLY descriptor", K_PRIV_ROFD, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED private view, O_RDONLY descriptor", K_PRIV_ROFD, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE private view of a F_SEAL_WRITE memfd", K_PRIV_SEALED, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED memfd F_SEAL_FUTURE_WRITE", K_FSEALED, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE memfd F_SEAL_FUTURE_WRITE", K_FSEALED, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED anon hole in the middle", K_HOLE_ANON, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE anon hole in the middle", K_HOLE_ANON, 0, 4 * P, RM, R_DONTNEED, X1),
  M("DONTNEED anon starts in the hole", K_HOLE_ANON, P, 3 * P, DN, R_SAME, 0),
  M("REMOVE anon starts in the hole", K_HOLE_ANON, P, 3 * P, RM, R_DONTNEED, X1),
  M("DONTNEED anon only the hole", K_HOLE_ANON, P, P, DN, R_SAME, 0),
  M("DONTNEED memfd hole in the middle", K_HOLE_MEMFD, 0, 4 * P, DN, R_REMOVE, 0),
  M("REMOVE memfd hole in the middle", K_HOLE_MEMFD, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED memfd starts in the hole", K_HOLE_MEMFD, P, 3 * P, DN, R_REMOVE, 0),
  M("REMOVE memfd starts in the hole", K_HOLE_MEMFD, P, 3 * P, RM, R_SAME, 0),
  M("DONTNEED memfd only the hole", K_HOLE_MEMFD, P, P, DN, R_SAME, 0),
  M("DONTNEED anon runs past the end", K_TAIL_ANON, 0, 8 * P, DN, R_SAME, 0),
  M("REMOVE anon runs past the end", K_TAIL_ANON, 0, 8 * P, RM, R_DONTNEED, X1),
  M("DONTNEED unmapped", K_UNMAPPED, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE unmapped", K_UNMAPPED, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED unmapped unaligned", K_UNMAPPED, 1, 4 * P, DN, R_SAME, 0),
  M("DONTNEED SysV", K_SYSV, 0, 4 * P, DN, R_REMOVE, 0),
  M("REMOVE SysV", K_SYSV, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED SysV SHM_RDONLY", K_SYSV_RO, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE SysV SHM_RDONLY", K_SYSV_RO, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED ext4 shared", K_EXT4_SHARED, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE ext4 shared", K_EXT4_SHARED, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED ext4 private", K_EXT4_PRIV, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE ext4 private", K_EXT4_PRIV, 0, 4 * P, RM, R_DONTNEED, X1),

  /* Huge pages: H0 = [0, 2M), H1 = [2M, 4M). */
  M("DONTNEED hugetlb shared", K_HUGE_SHARED, 0, 2 * H, DN, R_REMOVE, 0),
  M("REMOVE hugetlb shared", K_HUGE_SHARED, 0, 2 * H, RM, R_SAME, 0),
  M("DONTNEED hugetlb shared unaligned addr", K_HUGE_SHARED, 1, H, DN, R_SAME, 0),
  M("DONTNEED hugetlb shared starts inside a huge page", K_HUGE_SHARED, P, H, DN, R_SAME, 0),
  M("REMOVE hugetlb shared starts inside a huge page", K_HUGE_SHARED, P, H, RM, R_SAME, 0),
  M("DONTNEED hugetlb shared ends inside a huge page", K_HUGE_SHARED, 0, H + P, DN, R_REMOVE, 0),
  M("REMOVE hugetlb shared ends inside a huge page", K_HUGE_SHARED, 0, H + P, RM, R_SAME, 0),
  M("REMOVE hugetlb shared length not a huge page", K_HUGE_SHARED, H, P, RM, R_SAME, 0),
  M("DONTNEED hugetlb shared length not a huge page", K_HUGE_SHARED, H, P, DN, R_REMOVE, 0),
  M("DONTNEED hugetlb private", K_HUGE_PRIV, 0, 2 * H, DN, R_SAME, 0),
  M("REMOVE hugetlb private", K_HUGE_PRIV, 0, 2 * H, RM, R_DONTNEED, X1),
  M("DONTNEED hugetlb private unaligned addr", K_HUGE_PRIV, 1, H, DN, R_SAME, 0),
  M("DONTNEED hugetlb private starts inside a huge page", K_HUGE_PRIV, P, H, DN, R_SAME, 0),
  M("REMOVE hugetlb private starts inside a huge page", K_HUGE_PRIV, P, H, RM, R_HUGE_PARTIAL,
    X1 | X2),
  M("DONTNEED hugetlb private ends inside a huge page", K_HUGE_PRIV, 0, H + P, DN,
    R_HUGE_PARTIAL, X2),
  M("REMOVE hugetlb private ends inside a huge page", K_HUGE_PRIV, 0, H + P, RM, R_HUGE_PARTIAL,
    X1 | X2),
  M("DONTNEED hugetlb private length not a huge page", K_HUGE_PRIV, H, P, DN, R_HUGE_PARTIAL, X2),
  M("DONTNEED MAP_HUGETLB", K_HUGE_ANON, 0, 2 * H, DN, R_SAME, 0),
  M("REMOVE MAP_HUGETLB", K_HUGE_ANON, 0, 2 * H, RM, R_DONTNEED, X1),
  M("DONTNEED MAP_HUGETLB starts inside a huge page", K_HUGE_ANON, P, H, DN, R_SAME, 0),
  M("DONTNEED MAP_HUGETLB ends inside a huge page", K_HUGE_ANON, 0, H + P, DN, R_HUGE_PARTIAL,
    X2),
  M("WILLNEED hugetlb shared starts inside a huge page", K_HUGE_SHARED, P, H, MADV_WILLNEED,
    R_SAME, 0),
  M("DONTNEED_LOCKED hugetlb private ends inside", K_HUGE_PRIV, 0, H + P, MADV_DONTNEED_LOCKED,
    R_SAME, 0),

  /* Issue 14: a tmpfs or hugetlbfs file still linked in a directory is data
   * anyone may open by name: the shim gives it the kernel's own answer and
   * state (no exception), except REMOVE through a private hugetlb view on
   * 5.18+, which is the kernel's DONTNEED of the private pages (X1: the file
   * is untouched; before 5.18 only a punch of the named file would free
   * them, so the call is left as asked).  Unlinked after mmap, the same
   * files are zapped as memfd is. */
  M("DONTNEED /dev/shm named shared", K_SHMFILE_NAMED, 0, 4 * P, DN, R_SAME, 0),
  M("DONTNEED /dev/shm named shared page 1", K_SHMFILE_NAMED, P, P, DN, R_SAME, 0),
  M("REMOVE /dev/shm named shared", K_SHMFILE_NAMED, 0, 4 * P, RM, R_SAME, 0),
  M("REMOVE /dev/shm named shared page 1", K_SHMFILE_NAMED, P, P, RM, R_SAME, 0),
  M("DONTNEED /dev/shm named private", K_SHMFILE_NAMED_PRIV, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE /dev/shm named private", K_SHMFILE_NAMED_PRIV, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED /dev/shm unlinked shared", K_SHMFILE_GONE, 0, 4 * P, DN, R_REMOVE, 0),
  M("REMOVE /dev/shm unlinked shared", K_SHMFILE_GONE, 0, 4 * P, RM, R_SAME, 0),
  M("DONTNEED /dev/shm unlinked private", K_SHMFILE_GONE_PRIV, 0, 4 * P, DN, R_SAME, 0),
  M("REMOVE /dev/shm unlinked private", K_SHMFILE_GONE_PRIV, 0, 4 * P, RM, R_DONTNEED_PUNCH, X1),
  M("DONTNEED hugetlbfs named shared", K_HUGEFILE_NAMED, 0, 2 * H, DN, R_SAME, 0),
  M("DONTNEED hugetlbfs named shared ends inside a huge page", K_HUGEFILE_NAMED, 0, H + P, DN,
    R_SAME, 0),
  M("REMOVE hugetlbfs named shared", K_HUGEFILE_NAMED, 0, 2 * H, RM, R_SAME, 0),
  M("DONTNEED hugetlbfs named private", K_HUGEFILE_NAMED_PRIV, 0, 2 * H, DN, R_SAME, 0),
  {.name = "REMOVE hugetlbfs named private (5.18+: DONTNEED)", .run = run_madvise,
   .kind = K_HUGEFILE_NAMED_PRIV, .len = 2 * H, .advice = RM, .ref = R_DONTNEED, .exc = X1,
   .kmin = ZT_KVER(5, 18)},
  {.name = "REMOVE hugetlbfs named private (before 5.18: as asked)", .run = run_madvise,
   .kind = K_HUGEFILE_NAMED_PRIV, .len = 2 * H, .advice = RM, .ref = R_SAME,
   .kmax = ZT_KVER(5, 18)},
  M("DONTNEED hugetlbfs unlinked shared", K_HUGEFILE_GONE, 0, 2 * H, DN, R_REMOVE, 0),
  M("REMOVE hugetlbfs unlinked shared", K_HUGEFILE_GONE, 0, 2 * H, RM, R_SAME, 0),
};

/* d_madvise_cases - see diff.h. */
const struct dcase *d_madvise_cases(size_t *n) {
  *n = sizeof madvise_cases / sizeof madvise_cases[0];
  return madvise_cases;
}
