/*
 * cases_map.c - mmap and munmap cases: bad descriptors, flags, offsets,
 * lengths and addresses, and their successful neighbours (the state
 * afterwards: where the mapping landed, what it reads).
 *
 * Each run function makes its own fresh set-up for the side it is given;
 * anything the call mapped is unmapped by the same side.
 */
#define _GNU_SOURCE
#include "diff.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif

#define P 4096UL
#define H (2UL << 20)
#define RW (PROT_READ | PROT_WRITE)
#define KADDR 0xffff800000000000UL

/* Descriptors a mmap case maps (field a of the case). */
enum mfd {
  F_NONE,      /* -1 */
  F_BAD,       /* a number that is not open */
  F_MEMFD,     /* a 4-page memfd, CD */
  F_RDONLY,    /* the same memfd, opened O_RDONLY */
  F_WRONLY,    /* an ext4 file opened O_WRONLY */
  F_DIR,       /* "/" */
  F_HUGEFILE,  /* a 2-huge-page hugetlbfs file */
  F_PIPE,      /* a pipe's read end */
};

/* open_fd - a descriptor of kind k (path: a file to remove, or ""). */
static int open_fd(enum mfd k, char *path, size_t pathlen) {
  char proc[64];
  int fd = -1, pfd[2];
  path[0] = 0;
  switch (k) {
  case F_NONE:
    return -1;
  case F_BAD:
    return 1 << 20; /* above any RLIMIT_NOFILE the tests run with: never open */
  case F_MEMFD:
  case F_RDONLY:
    fd = zt_make_memfd(4 * P, 0);
    zt_pfill(fd, 0, 4 * P, ZT_FILE_FILL);
    if (k == F_RDONLY) {
      snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      int ro = open(proc, O_RDONLY | O_CLOEXEC);
      cr_assert(ro >= 0, "reopen O_RDONLY: %s", strerror(errno));
      close(fd);
      fd = ro;
    }
    return fd;
  case F_WRONLY:
    fd = zt_make_ext4_file(4 * P, ZT_FILE_FILL, path, pathlen);
    close(fd);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "open O_WRONLY: %s", strerror(errno));
    return fd;
  case F_DIR:
    fd = open("/", O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    cr_assert(fd >= 0);
    return fd;
  case F_HUGEFILE:
    zt_need_hugepages(ZT_HPAGE_2M, 2);
    return zt_make_hugetlbfs_file(ZT_HPAGE_2M, 2 * H, path, pathlen);
  case F_PIPE:
    cr_assert(pipe2(pfd, O_CLOEXEC) == 0);
    close(pfd[1]);
    return pfd[0];
  }
  return -1;
}

/* Where a mmap case asks for its mapping (field b of the case). */
enum maddr {
  A_ANY,        /* NULL */
  A_HINT_ODD,   /* an unaligned hint, no MAP_FIXED */
  A_FIXED_ODD,  /* an unaligned address with MAP_FIXED */
  A_OVER,       /* the start of an existing 4-page mapping */
  A_OVER_MID,   /* page 1 of an existing 4-page mapping */
  A_KERNEL,     /* kernel space */
  A_HUGE_ODD,   /* 4 KiB past a 2 MiB boundary of a free area */
};

/* The arguments of a mmap case not in the table's a/b fields. */
struct mmap_args {
  size_t len;
  int prot, flags;
  off_t off;
};

/* mmap_args_of - a case's len/prot/flags/offset, packed in .len, .advice
 * (prot), .off (offset) and .abs (flags). */
static struct mmap_args mmap_args_of(const struct dcase *c) {
  struct mmap_args m = {.len = c->len, .prot = c->advice, .flags = (int)c->abs, .off = c->off};
  return m;
}

/* run_mmap - one side of a mmap case. State: where it landed (relative to
 * what was asked), the target area afterwards. */
static void run_mmap(const struct dcase *c, enum dside s, struct dres *r) {
  struct mmap_args m = mmap_args_of(c);
  char path[256];
  int fd = open_fd((enum mfd)c->a, path, sizeof path);
  char *old = NULL, *want = NULL;
  switch ((enum maddr)c->b) {
  case A_ANY:
    break;
  case A_HINT_ODD:
  case A_FIXED_ODD:
  case A_OVER:
  case A_OVER_MID:
    old = zt_map(4 * P, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    zt_fill(old, 4 * P, ZT_FILL);
    want = c->b == A_OVER_MID ? old + P : old;
    if (c->b == A_HINT_ODD || c->b == A_FIXED_ODD) {
      cr_assert(munmap(old, 4 * P) == 0);
      old = NULL;
      want += 123;
    }
    break;
  case A_KERNEL:
    want = (char *)KADDR;
    break;
  case A_HUGE_ODD:
    want = (char *)zt_reserve_aligned(4 * H, H) + H + P;
    cr_assert(munmap(want - H - P, 4 * H) == 0);
    break;
  }
  void *p = d_mmap(s, want, m.len, m.prot, m.flags, fd, m.off);
  d_result_ptr(r, p, MAP_FAILED);
  if (p != MAP_FAILED) {
    d_state_add(r, "at %s; ", want == NULL ? "-" : p == want ? "asked" : "elsewhere");
    d_state_region(r, "new", p, m.len < 4 * P ? m.len : 4 * P, -1, 0);
    d_munmap(s, p, m.len);
  }
  if (old) {
    d_state_region(r, "old", old, 4 * P, -1, 0);
    munmap(old, 4 * P);
  }
  if (fd >= 0 && c->a != F_BAD)
    close(fd);
  if (path[0])
    unlink(path);
}

/* One mmap case: descriptor, address, length, prot, flags, offset. */
#define MM(nm, fdk, ad, l, pr, fl, of)                                                           \
  {.name = "mmap " nm, .run = run_mmap, .a = fdk, .b = ad, .len = l, .advice = pr,               \
   .abs = (uintptr_t)(fl), .off = (long)(of)}

#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

/* run_munmap - one side of a munmap case over a 4-page anonymous mapping
 * (page 1 unmapped when .a is 1; a 2-huge-page MAP_HUGETLB mapping when .a
 * is 2; all 4 pages unmapped again when .a is 3); .off/.len the range,
 * .absolute for an absolute address. */
static void run_munmap(const struct dcase *c, enum dside s, struct dres *r) {
  size_t len = 4 * P;
  char *base;
  if (c->a == 2) {
    zt_need_hugepages(ZT_HPAGE_2M, 2);
    len = 2 * H;
    base = mmap(NULL, len, RW, PA | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    cr_assert(base != MAP_FAILED, "MAP_HUGETLB: %s", strerror(errno));
  } else {
    base = zt_map(len, PA, -1, 0);
  }
  zt_fill(base, len, ZT_FILL);
  if (c->a == 1)
    cr_assert(munmap(base + P, P) == 0);
  if (c->a == 3)
    cr_assert(munmap(base, len) == 0);
  char *a = c->absolute ? (char *)c->abs : base + c->off;
  size_t l = c->lenmode == L_WRAP ? (size_t)(0 - (uintptr_t)a) + c->len : c->len;
  d_result(r, d_munmap(s, a, l));
  d_state_region(r, "region", base, len, -1, 0);
  munmap(base, len);
}

/* One munmap case. */
#define MU(nm, set, o, l)                                                                        \
  {.name = "munmap " nm, .run = run_munmap, .a = set, .off = (long)(o), .len = l}

static const struct dcase map_cases[] = {
  MM("bad fd", F_BAD, A_ANY, P, RW, MAP_SHARED, 0),
  MM("bad fd private", F_BAD, A_ANY, P, RW, MAP_PRIVATE, 0),
  MM("fd -1 without MAP_ANONYMOUS", F_NONE, A_ANY, P, RW, MAP_SHARED, 0),
  MM("bad fd ignored with MAP_ANONYMOUS", F_BAD, A_ANY, P, RW, PA, 0),
  MM("no MAP_SHARED or MAP_PRIVATE", F_NONE, A_ANY, P, RW, MAP_ANONYMOUS, 0),
  MM("memfd no MAP_SHARED or MAP_PRIVATE", F_MEMFD, A_ANY, P, RW, 0, 0),
  MM("MAP_SHARED_VALIDATE unknown flag", F_MEMFD, A_ANY, P, RW, MAP_SHARED_VALIDATE | 0x40000000,
     0),
  MM("MAP_SHARED_VALIDATE", F_MEMFD, A_ANY, P, RW, MAP_SHARED_VALIDATE, 0),
  MM("unknown flag on MAP_SHARED", F_MEMFD, A_ANY, P, RW, MAP_SHARED | 0x40000000, 0),
  MM("bogus prot", F_NONE, A_ANY, P, 0x100, PA, 0),
  MM("unaligned offset", F_MEMFD, A_ANY, P, RW, MAP_SHARED, 1),
  MM("negative offset", F_MEMFD, A_ANY, P, RW, MAP_SHARED, -P),
  MM("offset past the end of the file", F_MEMFD, A_ANY, P, RW, MAP_SHARED, 64 * P),
  MM("offset page", F_MEMFD, A_ANY, P, RW, MAP_SHARED, P),
  MM("len 0", F_NONE, A_ANY, 0, RW, PA, 0),
  MM("len 0 memfd", F_MEMFD, A_ANY, 0, RW, MAP_SHARED, 0),
  MM("len too large", F_NONE, A_ANY, SIZE_MAX - P, RW, PA, 0),
  MM("len rounds past the end", F_NONE, A_ANY, SIZE_MAX, RW, PA, 0),
  MM("len unaligned", F_NONE, A_ANY, P + 1, RW, PA, 0),
  MM("unaligned hint", F_NONE, A_HINT_ODD, P, RW, PA, 0),
  MM("MAP_FIXED unaligned address", F_NONE, A_FIXED_ODD, P, RW, PA | MAP_FIXED, 0),
  MM("MAP_FIXED_NOREPLACE unaligned address", F_NONE, A_FIXED_ODD, P, RW,
     PA | MAP_FIXED_NOREPLACE, 0),
  MM("MAP_FIXED_NOREPLACE over a mapping", F_NONE, A_OVER, P, RW, PA | MAP_FIXED_NOREPLACE, 0),
  MM("MAP_FIXED_NOREPLACE into a mapping", F_NONE, A_OVER_MID, P, RW, PA | MAP_FIXED_NOREPLACE,
     0),
  MM("MAP_FIXED over a mapping", F_NONE, A_OVER_MID, P, RW, PA | MAP_FIXED, 0),
  MM("MAP_FIXED memfd over a mapping", F_MEMFD, A_OVER_MID, P, RW, MAP_SHARED | MAP_FIXED, 0),
  MM("MAP_FIXED in kernel space", F_NONE, A_KERNEL, P, RW, PA | MAP_FIXED, 0),
  MM("hint in kernel space", F_NONE, A_KERNEL, P, RW, PA, 0),
  MM("read-only fd PROT_WRITE MAP_SHARED", F_RDONLY, A_ANY, P, RW, MAP_SHARED, 0),
  MM("read-only fd PROT_WRITE MAP_PRIVATE", F_RDONLY, A_ANY, P, RW, MAP_PRIVATE, 0),
  MM("read-only fd PROT_READ MAP_SHARED", F_RDONLY, A_ANY, P, PROT_READ, MAP_SHARED, 0),
  MM("write-only fd", F_WRONLY, A_ANY, P, PROT_READ, MAP_SHARED, 0),
  MM("directory", F_DIR, A_ANY, P, PROT_READ, MAP_PRIVATE, 0),
  MM("pipe", F_PIPE, A_ANY, P, PROT_READ, MAP_PRIVATE, 0),
  MM("hugetlbfs file unaligned length", F_HUGEFILE, A_ANY, P, RW, MAP_SHARED, 0),
  MM("hugetlbfs file length 1.5 huge pages", F_HUGEFILE, A_ANY, H + H / 2, RW, MAP_SHARED, 0),
  MM("hugetlbfs file unaligned offset", F_HUGEFILE, A_ANY, H, RW, MAP_SHARED, P),
  MM("hugetlbfs file private unaligned length", F_HUGEFILE, A_ANY, P, RW, MAP_PRIVATE, 0),
  MM("hugetlbfs file MAP_FIXED inside a huge page", F_HUGEFILE, A_HUGE_ODD, H, RW,
     MAP_SHARED | MAP_FIXED, 0),
  MM("MAP_HUGETLB unaligned length", F_NONE, A_ANY, P, RW, PA | MAP_HUGETLB | MAP_HUGE_2MB, 0),
  MM("MAP_HUGETLB MAP_FIXED inside a huge page", F_NONE, A_HUGE_ODD, H, RW,
     PA | MAP_HUGETLB | MAP_HUGE_2MB | MAP_FIXED, 0),
  MM("MAP_HUGETLB bogus size", F_NONE, A_ANY, H, RW, PA | MAP_HUGETLB | (13 << 26), 0),

  MU("unaligned", 0, 1, P),
  MU("len 0", 0, 0, 0),
  MU("len 1", 0, 0, 1),
  MU("unmapped range", 3, 0, 4 * P),
  MU("range with a hole", 1, 0, 4 * P),
  MU("only the hole", 1, P, P),
  MU("middle page", 0, P, P),
  {.name = "munmap kernel address", .run = run_munmap, .absolute = true, .abs = KADDR, .len = P},
  {.name = "munmap NULL", .run = run_munmap, .absolute = true, .abs = 0, .len = P},
  {.name = "munmap addr+len wraps", .run = run_munmap, .len = 2 * P, .lenmode = L_WRAP},
  {.name = "munmap len max", .run = run_munmap, .len = SIZE_MAX},
  MU("hugetlb unaligned start", 2, P, H),
  MU("hugetlb length not a huge page", 2, 0, P),
  MU("hugetlb length 1.5 huge pages", 2, 0, H + H / 2),
  MU("hugetlb second huge page", 2, H, H),
};

/* d_map_cases - the mmap and munmap cases. */
const struct dcase *d_map_cases(size_t *n) {
  *n = sizeof map_cases / sizeof map_cases[0];
  return map_cases;
}
