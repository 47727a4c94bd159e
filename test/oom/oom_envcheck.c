/*
 * oom_envcheck.c - ZAPSHIM_FAULT_REGISTRY=N as libzapshim_fi.so reads it:
 * the first N node allocations succeed, every later one fails.  A plain
 * program (no test framework), so the only mappings the shim records are
 * the two below: with N = 1 the first is recorded and the second is not.
 *
 *   oom_envcheck fail   expects the second mapping unknown (N = 1)
 *   oom_envcheck keep   expects both recorded (unset, or not a number)
 *
 * Layout: four pages of a memfd mapped MAP_PRIVATE read-only with the raw
 * syscall (the shim does not see them), then through libc the same file
 * at the same offsets: A = page 1 MAP_FIXED, B = page 2 MAP_FIXED.  The
 * kernel merges both back into one VMA of four pages (same file,
 * contiguous offsets, never written); the registry keeps [page 1, page 2)
 * and [page 2, page 3) (a private file mapping is never joined to its
 * neighbours, unlike plain anonymous memory), so zapshim_query of each
 * tells a recorded mapping (the page) from an unknown one (the kernel's
 * merged VMA, from page 0).  Exits 0 if as expected, else 1.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "zapshim.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*query_fn)(const void *, struct zapshim_range_info *);

/* bounds - what zapshim_query says of p; false if it failed. */
static int bounds(query_fn q, const char *p, uintptr_t *s, uintptr_t *e) {
  struct zapshim_range_info i;
  if (q(p, &i) != 0)
    return 0;
  *s = i.start;
  *e = i.end;
  return 1;
}

/* main - see the top of the file. */
int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "fail") && strcmp(argv[1], "keep"))) {
    fprintf(stderr, "usage: %s fail|keep\n", argv[0]);
    return 2;
  }
  int want_fail = !strcmp(argv[1], "fail");
  query_fn q = (query_fn)dlsym(RTLD_DEFAULT, "zapshim_query");
  if (!q || !dlsym(RTLD_DEFAULT, "zs_registry_fault_set")) {
    fprintf(stderr, "oom_envcheck: not under LD_PRELOAD=libzapshim_fi.so\n");
    return 1;
  }
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  int fd = memfd_create("oom_envcheck", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)(4 * pg)) != 0) {
    perror("oom_envcheck: memfd");
    return 1;
  }
  long g = zt_syscall(SYS_mmap, NULL, 4 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
  if (g == -1) {
    perror("oom_envcheck: raw mapping");
    return 1;
  }
  char *a = (char *)g + pg, *b = (char *)g + 2 * pg;
  int fl = MAP_PRIVATE | MAP_FIXED;
  if (mmap(a, pg, PROT_READ, fl, fd, (off_t)pg) != a ||
      mmap(b, pg, PROT_READ, fl, fd, (off_t)(2 * pg)) != b) {
    perror("oom_envcheck: mmap");
    return 1;
  }
  uintptr_t as, ae, bs, be;
  if (!bounds(q, a, &as, &ae) || !bounds(q, b, &bs, &be)) {
    fprintf(stderr, "oom_envcheck: zapshim_query failed\n");
    return 1;
  }
  int a_known = as == (uintptr_t)a && ae == (uintptr_t)b; /* the registry's */
  int b_known = bs == (uintptr_t)b && be == (uintptr_t)b + pg;
  int b_unknown = bs == (uintptr_t)g && be == (uintptr_t)g + 4 * pg; /* the merged VMA */
  int ok = a_known && (want_fail ? b_unknown : b_known);
  printf("oom_envcheck %s: A [%#lx, %#lx) %s, B [%#lx, %#lx) %s: %s\n", argv[1],
         (unsigned long)as, (unsigned long)ae, a_known ? "recorded" : "not recorded",
         (unsigned long)bs, (unsigned long)be,
         b_known ? "recorded" : b_unknown ? "unknown (the kernel's merged VMA)" : "?",
         ok ? "as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
