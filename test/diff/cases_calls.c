/*
 * cases_calls.c - mremap, shmat/shmdt and descriptor cases (close,
 * close_range, dup2, dup3: the shim wraps them to protect its own
 * descriptors, and must not change their answers for the program's).
 */
#define _GNU_SOURCE
#include "diff.h"
#include "testutil.h"
#include "../../shim/sys.h" /* ZS_FD_CEILING */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

#define P 4096UL
#define H (2UL << 20)
#define KADDR 0xffff800000000000UL

/* Set-ups of the mremap cases (field a). */
enum rset {
  RS_ANON,    /* 4 pages private anonymous, AB, page 4 mapped too (no room to grow) */
  RS_MEMFD,   /* 4 pages shared memfd, AB */
  RS_HOLE,    /* 4 pages anonymous, page 1 unmapped */
  RS_HUGE,    /* 2 huge pages shared hugetlb memfd */
};

/* Target addresses of the mremap cases (field b). */
enum rnew {
  RN_NONE,     /* no new address */
  RN_FREE,     /* a free 4-page area */
  RN_FREE_ODD, /* the same + 123 */
  RN_OVERLAP,  /* old + 1 page */
  RN_KERNEL,   /* kernel space */
};

/* run_mremap - one side of an mremap case: mremap(base + off, len, new
 * len (field abs), flags (field advice), new address). State: the old
 * region and the new one. */
static void run_mremap(const struct dcase *c, enum dside s, struct dres *r) {
  size_t len = 4 * P;
  int fd = -1;
  char *base, *guard = NULL;
  if (c->a == RS_HUGE) {
    zt_need_hugepages(ZT_HPAGE_2M, 4);
    len = 2 * H;
    fd = zt_make_memfd(len, MFD_HUGETLB | (21U << 26));
    base = zt_map(len, MAP_SHARED, fd, 0);
  } else if (c->a == RS_MEMFD) {
    fd = zt_make_memfd(len, 0);
    base = zt_map(len, MAP_SHARED, fd, 0);
  } else {
    base = zt_map(len + P, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    guard = base + len; /* keeps the mapping from growing in place */
    cr_assert(mprotect(guard, P, PROT_READ) == 0);
  }
  zt_fill(base, len, ZT_FILL);
  if (c->a == RS_HOLE)
    cr_assert(munmap(base + P, P) == 0);
  char *na = NULL;
  if (c->b == RN_FREE || c->b == RN_FREE_ODD) {
    na = zt_reserve_aligned(len, c->a == RS_HUGE ? H : P);
    cr_assert(munmap(na, len) == 0);
    na += c->b == RN_FREE_ODD ? 123 : 0;
  } else if (c->b == RN_OVERLAP) {
    na = base + P;
  } else if (c->b == RN_KERNEL) {
    na = (char *)KADDR;
  }
  char *old = c->absolute ? (char *)c->abs : base + c->off;
  void *p = d_mremap(s, old, c->len, (size_t)c->len2, c->advice, na);
  d_result_ptr(r, p, MAP_FAILED);
  if (p != MAP_FAILED) {
    d_state_add(r, "at %s; ", p == old ? "old" : p == na ? "asked" : "elsewhere");
    if (p != old)
      d_state_region(r, "new", p, c->len2, fd, (off_t)c->off);
  }
  d_state_region(r, "old", base, len, fd, 0);
  if (p != MAP_FAILED && p != old)
    d_munmap(s, p, (size_t)c->len2);
  munmap(base, len);
  if (guard)
    munmap(guard, P);
  if (fd >= 0)
    close(fd);
}

/* One mremap case: set-up, offset, old len, new len, flags, new address. */
#define MR(nm, set, o, ol, nl, fl, nw)                                                           \
  {.name = "mremap " nm, .run = run_mremap, .a = set, .b = nw, .off = (long)(o), .len = ol,      \
   .len2 = nl, .advice = fl}
#define MAY MREMAP_MAYMOVE
#define FIX MREMAP_FIXED
#define DNU MREMAP_DONTUNMAP

/* shm_segment - a fresh 4-page SysV segment (removed once detached). */
static int shm_segment(void) {
  int id = shmget(IPC_PRIVATE, 4 * P, IPC_CREAT | 0600);
  cr_assert(id >= 0, "shmget: %s", strerror(errno));
  return id;
}

/* run_shmat - one side of a shmat case (field a: 0 good segment, 1 id -1,
 * 2 removed id; field b: 0 NULL, 1 unaligned, 2 over a mapping, 3 kernel
 * space; field advice: shmat flags). */
static void run_shmat(const struct dcase *c, enum dside s, struct dres *r) {
  int id = shm_segment();
  char *over = NULL, *want = NULL;
  if (c->a == 2)
    cr_assert(shmctl(id, IPC_RMID, NULL) == 0);
  if (c->b == 1 || c->b == 2) {
    over = zt_map(4 * P, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    zt_fill(over, 4 * P, ZT_FILL);
    want = over + (c->b == 1 ? 123 : 0);
    if (c->b == 1) {
      munmap(over, 4 * P);
      over = NULL;
    }
  } else if (c->b == 3) {
    want = (char *)KADDR;
  }
  void *p = d_shmat(s, c->a == 1 ? -1 : id, want, c->advice);
  d_result_ptr(r, p, (void *)-1);
  if (p != (void *)-1) {
    d_state_add(r, "at %s; ", want == NULL ? "-" : p == want ? "asked" : "elsewhere");
    d_state_region(r, "seg", p, 4 * P, -1, 0);
    d_shmdt(s, p);
  }
  if (over) {
    d_state_region(r, "old", over, 4 * P, -1, 0);
    munmap(over, 4 * P);
  }
  shmctl(id, IPC_RMID, NULL);
}

/* run_shmdt - one side of a shmdt case: a segment attached with shmat
 * (libc), then shmdt of: 0 its start, 1 its second page, 2 an unaligned
 * address in it, 3 an anonymous mapping, 4 its start twice, 5 NULL. */
static void run_shmdt(const struct dcase *c, enum dside s, struct dres *r) {
  int id = shm_segment();
  char *seg = shmat(id, NULL, 0);
  cr_assert(seg != (void *)-1, "shmat: %s", strerror(errno));
  shmctl(id, IPC_RMID, NULL);
  zt_fill(seg, 4 * P, ZT_FILL);
  char *anon = zt_map(P, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const char *targets[] = {seg, seg + P, seg + 1, anon, seg, NULL};
  if (c->a == 4)
    cr_assert(d_shmdt(s, seg) == 0);
  d_result(r, d_shmdt(s, targets[c->a]));
  d_state_region(r, "seg", seg, 4 * P, -1, 0);
  d_state_region(r, "anon", anon, P, -1, 0);
  if (d_mapped(seg))
    shmdt(seg);
  munmap(anon, P);
}

/* free_fd_near_limit - a descriptor number just under RLIMIT_NOFILE that
 * is not open: where the shim keeps its own descriptors. */
static int free_fd_near_limit(void) {
  struct rlimit rl;
  cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  int top = rl.rlim_cur > ZS_FD_CEILING ? ZS_FD_CEILING - 1 : (int)rl.rlim_cur - 1;
  for (int fd = top; fd > 3; fd--)
    if (fcntl(fd, F_GETFD) < 0)
      return fd;
  cr_assert_fail("no free descriptor number");
  return -1;
}

/* run_fd - one side of a descriptor case (field a picks it). State: is
 * the descriptor the case opened still open? */
static void run_fd(const struct dcase *c, enum dside s, struct dres *r) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cr_assert(fd >= 0);
  int hi = free_fd_near_limit();
  long ret = 0;
  switch (c->a) {
  case 0: ret = d_close(s, -1); break;
  case 1: ret = d_close(s, 1 << 20); break;
  case 2: ret = d_close(s, hi); break;
  case 3: ret = d_dup2(s, 1 << 20, hi); break;
  case 4: ret = d_dup2(s, -1, hi); break;
  case 5: ret = d_dup2(s, fd, -1); break;
  case 6: ret = d_dup2(s, fd, 1 << 20); break;
  case 7: ret = d_dup2(s, fd, fd); break;
  case 8: ret = d_dup3(s, fd, fd, 0); break;
  case 9: ret = d_dup3(s, fd, hi, 0x1234); break;
  case 10: ret = d_dup3(s, 1 << 20, hi, O_CLOEXEC); break;
  case 11: ret = d_close_range(s, 5, 3, 0); break;
  case 12: ret = d_close_range(s, (unsigned)hi, (unsigned)hi, 0x80); break;
  case 13: ret = d_close_range(s, ~0U - 1, ~0U, 0); break;
  case 14: ret = d_close_range(s, (unsigned)hi, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */); break;
  case 15: ret = d_close(s, fd); break;
  case 16: ret = d_dup2(s, fd, hi); break;
  case 17: ret = d_close_range(s, (unsigned)fd, (unsigned)fd, 0); break;
  }
  d_result(r, ret);
  if (ret >= 0 && (c->a == 7 || c->a == 16))
    d_state_add(r, "returned %s; ", ret == fd ? "fd" : ret == hi ? "hi" : "other");
  d_state_add(r, "fd %s, hi %s", fcntl(fd, F_GETFD) >= 0 ? "open" : "closed",
              fcntl(hi, F_GETFD) >= 0 ? "open" : "closed");
  if (ret >= 0)
    r->ret = ret == fd ? 1 : ret == hi ? 2 : ret; /* numbers differ only by process state */
  close(fd);
  if (fcntl(hi, F_GETFD) >= 0)
    close(hi);
}

#define FD(nm, n) {.name = nm, .run = run_fd, .a = n}

static const struct dcase call_cases[] = {
  MR("bad flags 0x80", RS_ANON, 0, P, P, 0x80, RN_NONE),
  MR("bad flags 0x80 with MAYMOVE", RS_ANON, 0, P, 2 * P, MAY | 0x80, RN_NONE),
  MR("MREMAP_FIXED without MAYMOVE", RS_ANON, 0, P, P, FIX, RN_FREE),
  MR("shrink to 0", RS_ANON, 0, 4 * P, 0, 0, RN_NONE),
  MR("old_len 0 on a private mapping", RS_ANON, 0, 0, P, MAY, RN_NONE),
  MR("old_len 0 on a shared mapping", RS_MEMFD, 0, 0, P, MAY, RN_NONE),
  MR("new range overlaps the old", RS_ANON, 0, 2 * P, 2 * P, MAY | FIX, RN_OVERLAP),
  MR("unaligned old address", RS_ANON, 1, P, P, MAY, RN_NONE),
  MR("unaligned new address", RS_ANON, 0, P, P, MAY | FIX, RN_FREE_ODD),
  MR("new address in kernel space", RS_ANON, 0, P, P, MAY | FIX, RN_KERNEL),
  MR("DONTUNMAP old_len != new_len", RS_ANON, 0, P, 2 * P, MAY | DNU, RN_NONE),
  MR("DONTUNMAP without MAYMOVE", RS_ANON, 0, P, P, DNU, RN_NONE),
  MR("DONTUNMAP anon", RS_ANON, 0, 2 * P, 2 * P, MAY | DNU, RN_NONE),
  MR("DONTUNMAP shared memfd", RS_MEMFD, 0, 2 * P, 2 * P, MAY | DNU, RN_NONE),
  MR("DONTUNMAP to a fixed address", RS_ANON, 0, 2 * P, 2 * P, MAY | DNU | FIX, RN_FREE),
  MR("grow in place blocked", RS_ANON, 0, 4 * P, 8 * P, 0, RN_NONE),
  MR("grow with MAYMOVE", RS_ANON, 0, 4 * P, 8 * P, MAY, RN_NONE),
  MR("shrink", RS_ANON, 0, 4 * P, 2 * P, 0, RN_NONE),
  MR("move to a fixed address", RS_ANON, 0, 4 * P, 4 * P, MAY | FIX, RN_FREE),
  MR("move the middle of a shared mapping", RS_MEMFD, P, 2 * P, 2 * P, MAY | FIX, RN_FREE),
  MR("old range unmapped", RS_HOLE, P, P, 2 * P, MAY, RN_NONE),
  MR("old range spans a hole", RS_HOLE, 0, 4 * P, 4 * P, MAY, RN_NONE),
  MR("old range runs past the end", RS_MEMFD, 0, 8 * P, 8 * P, MAY, RN_NONE),
  {.name = "mremap kernel address", .run = run_mremap, .a = RS_ANON, .absolute = true,
   .abs = KADDR, .len = P, .len2 = P, .advice = MAY},
  MR("old_len wraps", RS_ANON, 0, SIZE_MAX - P + 1, P, MAY, RN_NONE),
  MR("new_len huge", RS_ANON, 0, P, SIZE_MAX - P + 1, MAY, RN_NONE),
  MR("hugetlb unaligned new_len", RS_HUGE, 0, 2 * H, H + P, 0, RN_NONE),
  MR("hugetlb unaligned old address", RS_HUGE, P, H, H, MAY, RN_NONE),
  MR("hugetlb shrink", RS_HUGE, 0, 2 * H, H, 0, RN_NONE),
  MR("hugetlb move", RS_HUGE, 0, 2 * H, 2 * H, MAY | FIX, RN_FREE),

  {.name = "shmat bad id", .run = run_shmat, .a = 1},
  {.name = "shmat removed id", .run = run_shmat, .a = 2},
  {.name = "shmat unaligned address", .run = run_shmat, .b = 1},
  {.name = "shmat unaligned address SHM_RND", .run = run_shmat, .b = 1, .advice = SHM_RND},
  {.name = "shmat over a mapping", .run = run_shmat, .b = 2},
  {.name = "shmat over a mapping SHM_REMAP", .run = run_shmat, .b = 2, .advice = SHM_REMAP},
  {.name = "shmat SHM_REMAP without address", .run = run_shmat, .advice = SHM_REMAP},
  {.name = "shmat kernel address", .run = run_shmat, .b = 3},
  {.name = "shmat SHM_RDONLY", .run = run_shmat, .advice = SHM_RDONLY},
  {.name = "shmat", .run = run_shmat},
  {.name = "shmdt", .run = run_shmdt, .a = 0},
  {.name = "shmdt second page of a segment", .run = run_shmdt, .a = 1},
  {.name = "shmdt unaligned", .run = run_shmdt, .a = 2},
  {.name = "shmdt non-attached address", .run = run_shmdt, .a = 3},
  {.name = "shmdt twice", .run = run_shmdt, .a = 4},
  {.name = "shmdt NULL", .run = run_shmdt, .a = 5},

  FD("close(-1)", 0), FD("close never-open high number", 1),
  FD("close free number near the limit", 2), FD("dup2 bad oldfd", 3), FD("dup2 oldfd -1", 4),
  FD("dup2 newfd -1", 5), FD("dup2 newfd above the limit", 6), FD("dup2 onto itself", 7),
  FD("dup3 onto itself", 8), FD("dup3 bad flags", 9), FD("dup3 bad oldfd", 10),
  FD("close_range(5, 3, 0)", 11), FD("close_range bad flags", 12),
  FD("close_range top numbers", 13), FD("close_range CLOEXEC near the limit", 14),
  FD("close open descriptor", 15), FD("dup2 near the limit", 16),
  FD("close_range one open descriptor", 17),
};

/* d_call_cases - see diff.h. */
const struct dcase *d_call_cases(size_t *n) {
  *n = sizeof call_cases / sizeof call_cases[0];
  return call_cases;
}
